//! `sluice`: the one binary. Parses the command line and the config file, wires the
//! gateway, and handles signals (SIGTERM/SIGINT drain and stop, SIGHUP reloads; a changed
//! config file is reloaded too).

mod admin_cli;
mod backup_cli;
mod config;
mod connector_cli;
mod directory_cli;
mod discover;
mod live;
mod paths;
mod quarantine_cli;
mod queue_cli;
mod screening_config;
mod simulate;
mod store_cli;
mod throttle_cli;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::signal::unix::{SignalKind, signal};

use config::{Config, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "Sluice: a multi-tenant SMTP protection gateway",
    after_help = "The config file: --config FILE, else the file SLUICE_CONFIG names, else ./sluice.toml, \
                  else /etc/sluice/sluice.toml, else the built-in defaults.\n\nExample:\n  sluice serve --config /etc/sluice/sluice.toml"
)]
struct Cli {
    /// The TOML config file (else SLUICE_CONFIG, ./sluice.toml, /etc/sluice/sluice.toml).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (the built-in defaults when no config file is found).
    #[command(after_help = "Example:\n  sluice serve --config /etc/sluice/sluice.toml")]
    Serve {
        /// Start on a directory database that holds no tenant or is older than this node
        /// last saw (restored or started afresh on purpose), and record it as the new normal.
        #[arg(long)]
        accept_directory: bool,
    },
    /// Copy the directory database (sluice.db) to FILE, consistently, while the server runs.
    #[command(
        after_help = "Example:\n  sluice backup /var/backups/sluice.db --config /etc/sluice/sluice.toml"
    )]
    Backup {
        /// Where to write the copy (replaced if it exists).
        file: PathBuf,
    },
    /// Replace the directory database with a copy written by `sluice backup` (stop the
    /// server first).
    #[command(
        after_help = "Example:\n  sluice restore /var/backups/sluice.db --config /etc/sluice/sluice.toml"
    )]
    Restore {
        /// The backup to restore.
        file: PathBuf,
    },
    /// Check a config file and report the first problem, naming the field.
    #[command(after_help = "Example:\n  sluice check-config /etc/sluice/sluice.toml")]
    CheckConfig {
        /// The TOML config file (default: the one `serve` would use).
        file: Option<PathBuf>,
    },
    /// Inspect the throttle and manage the operator allow list.
    #[command(after_help = "Example:\n  sluice throttle show 203.0.113.7")]
    Throttle {
        #[command(subcommand)]
        command: ThrottleCommand,
    },
    /// The running server's delivery queue: list it, make waiting messages due now, or move
    /// a lost node's queue to this one (export, import).
    #[command(after_help = "Example:\n  sluice queue list --limit 20")]
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// The running server's content scanner (rspamd): its counters.
    #[command(after_help = "Example:\n  sluice scanner stats")]
    Scanner {
        #[command(subcommand)]
        command: ScannerCommand,
    },
    /// Tenants: add, list, show, suspend, resume, release (an outbound block).
    #[command(after_help = "Example:\n  sluice tenant add acme --name \"Acme Corp\"")]
    Tenant {
        #[command(subcommand)]
        command: directory_cli::TenantCommand,
    },
    /// A tenant's accepted domains: add, verify (DNS TXT), list, remove.
    #[command(after_help = "Example:\n  sluice domain add acme.example --tenant acme")]
    Domain {
        #[command(subcommand)]
        command: directory_cli::DomainCommand,
    },
    /// A tenant's recipients: add, list, remove.
    #[command(after_help = "Example:\n  sluice recipient add bob@acme.example --tenant acme")]
    Recipient {
        #[command(subcommand)]
        command: directory_cli::RecipientCommand,
    },
    /// A tenant's connectors (inbound and outbound): add, edit, list, show, enable, disable,
    /// remove, validate, audit.
    #[command(after_help = "Example:\n  sluice connector list --tenant acme")]
    Connector {
        #[command(subcommand)]
        command: Box<directory_cli::ConnectorCommand>,
    },
    /// The operator's low-reputation list: block, except, remove, list.
    #[command(after_help = "Example:\n  sluice reputation block 198.51.100.0/24 --note \"spam source\"")]
    Reputation {
        #[command(subcommand)]
        command: directory_cli::ReputationCommand,
    },
    /// Bearer tokens of the admin API: create (shown once), list, revoke.
    #[command(after_help = "Example:\n  sluice token create --role operator --note \"ops laptop\"")]
    Token {
        #[command(subcommand)]
        command: admin_cli::TokenCommand,
    },
    /// The audit log of every change made through the CLI or the API, newest first.
    #[command(after_help = "Example:\n  sluice audit --tenant acme --action connector --since 7d")]
    Audit {
        #[command(flatten)]
        args: admin_cli::AuditArgs,
    },
    /// Tenants' requests (5.7.708 exceptions, 5.7.705 releases): list, approve, deny.
    #[command(after_help = "Example:\n  sluice request list --status pending")]
    Request {
        #[command(subcommand)]
        command: admin_cli::RequestCommand,
    },
    /// Messages held by the tenants' policy (DMARC, spoofing, spam): list, show, release,
    /// delete.
    #[command(after_help = "Example:\n  sluice quarantine list --tenant acme")]
    Quarantine {
        #[command(subcommand)]
        command: quarantine_cli::QuarantineCommand,
    },
    /// Search the message trace (default: the last 48 hours).
    #[command(after_help = "Example:\n  sluice trace --recipient bob@acme.example --since 2h")]
    Trace {
        #[command(flatten)]
        args: admin_cli::TraceArgs,
    },
    /// Replay traffic (a CSV trace, a Postfix or Sluice log, a built-in scenario) through the
    /// real throttle engine with the traffic's own clock; compare policies side by side.
    #[command(after_help = "Example:\n  sluice simulate --trace traffic.csv --policy a.toml --policy b.toml")]
    Simulate(simulate::SimulateArgs),
    /// Apply the store's schema migrations (directory, admin records, trace), or only check
    /// them; `serve` applies them at start unless `[store] migrate_at_start = false`.
    #[command(after_help = "Example:\n  sluice migrate --config /etc/sluice/sluice.toml --check")]
    Migrate {
        /// Only report: exit 1 naming the schema that is behind or ahead.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// Messages not yet delivered, oldest first: state, age, attempts, next attempt, sender
    /// and recipients.
    #[command(after_help = "Example:\n  sluice queue list --limit 20")]
    List {
        /// Show at most this many messages (the totals count them all).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Try every waiting message now instead of at its scheduled time.
    #[command(after_help = "Example:\n  sluice queue flush")]
    Flush,
    /// Write the queue of this (stopped) node to a file, to move it to another node: every
    /// message not yet delivered, with its recipients still pending.
    #[command(
        after_help = "Example:\n  sluice queue export --out queue-node1.export --config /etc/sluice/sluice.toml"
    )]
    Export {
        /// A new file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Spool the messages of a `queue export` file on this running node, which then
    /// delivers them as its own.
    #[command(after_help = "Example:\n  sluice queue import queue-node1.export")]
    Import {
        /// The file `sluice queue export` wrote.
        file: PathBuf,
    },
    /// Remove a queued message (or some of its recipients) and send its sender a bounce
    /// saying an administrator removed it (5.3.0); audited. A message being delivered at
    /// this moment is refused: try again in a few seconds.
    #[command(after_help = "Example:\n  sluice queue delete 0000000000000001 --recipient bob@example.net")]
    Delete {
        /// The queue id, as `sluice queue list` shows it.
        id: String,
        /// Remove it silently: the sender is not told.
        #[arg(long)]
        no_bounce: bool,
        /// Remove only this recipient (repeat for several); default every recipient not yet
        /// delivered or bounced.
        #[arg(long = "recipient", value_name = "ADDRESS")]
        recipients: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ScannerCommand {
    /// The running server's content scanner counters since it started: messages scanned,
    /// judged spam, not scanned because the scanner was unavailable, and too large to scan.
    #[command(after_help = "Example:\n  sluice scanner stats --config /etc/sluice/sluice.toml")]
    Stats,
}

#[derive(Debug, Subcommand)]
enum ThrottleCommand {
    /// What the next message from IP would get, and why.
    #[command(after_help = "Example:\n  sluice throttle show 203.0.113.7")]
    Show { ip: String },
    /// Never throttle a network (operator allow list).
    #[command(after_help = "Example:\n  sluice throttle allow 203.0.113.0/24 --note \"partner relay\"")]
    Allow {
        cidr: String,
        /// Why, for the next admin.
        #[arg(long)]
        note: Option<String>,
    },
    /// Take a network off the allow list.
    #[command(after_help = "Example:\n  sluice throttle remove 203.0.113.0/24")]
    Remove { cidr: String },
    /// Print the allow list; with --throttled, the IPs and prefixes being deferred.
    #[command(after_help = "Example:\n  sluice throttle list --throttled --since 1h")]
    List {
        /// The IPs and prefixes the running server deferred recently (observe mode: would
        /// have deferred), with counts per AS token, most first.
        #[arg(long)]
        throttled: bool,
        /// With --throttled: deferrals within this age, such as 30m or 2h (default 1h, at
        /// most 24h).
        #[arg(long, value_name = "AGE")]
        since: Option<String>,
        /// JSON: the allow list's entries, or with --throttled as the admin API's
        /// /api/v1/throttle/throttled answers.
        #[arg(long)]
        json: bool,
    },
    /// Decision counters of the running server (per verdict and AS token).
    #[command(after_help = "Example:\n  sluice throttle stats")]
    Stats,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. }) {
        quiet_on_closed_stdout();
    }
    let flag = cli.config.as_deref();
    let result = match cli.command {
        Command::Serve { accept_directory } => serve(flag, accept_directory),
        Command::Backup { file } => backup_cli::backup(flag, &file),
        Command::Restore { file } => backup_cli::restore(flag, &file),
        Command::CheckConfig { file } => check_config(file.as_deref().or(flag)),
        Command::Throttle { command } => throttle_command(flag, command),
        Command::Queue { command } => queue_command(flag, command),
        Command::Scanner { command: ScannerCommand::Stats } => control_command(flag, "scanner-stats"),
        Command::Tenant { command } => directory_cli::tenant(flag, command),
        Command::Domain { command } => directory_cli::domain(flag, command),
        Command::Recipient { command } => directory_cli::recipient(flag, command),
        Command::Connector { command } => directory_cli::connector(flag, *command),
        Command::Reputation { command } => directory_cli::reputation(flag, command),
        Command::Token { command } => admin_cli::token(flag, command),
        Command::Audit { args } => admin_cli::audit(flag, args),
        Command::Request { command } => admin_cli::request(flag, command),
        Command::Trace { args } => admin_cli::trace(flag, args),
        Command::Quarantine { command } => quarantine_cli::quarantine(flag, command),
        Command::Simulate(args) => simulate::run(args),
        Command::Migrate { check } => store_cli::migrate(flag, check),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Silent>() => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("sluice: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

/// A failure the command has already printed in full (a failed validation step, a
/// high-risk audit flag): exit status 1 without another line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Silent(pub String);

/// The error and its causes on one line, `a: b: c`, each said once: a cause whose text is
/// already part of the line (a library that shows its source and returns it too) is left out.
fn report(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// A command whose reader goes away (`sluice tenant list | head -1`) ends the way Unix tools
/// do, stopped quietly by SIGPIPE, instead of panicking in `println!`. Rust starts programs
/// with SIGPIPE ignored; `serve` keeps it so (a client closing its socket must never stop the
/// server). For the CLI's own sockets nothing changes in practice: TCP writes use
/// `MSG_NOSIGNAL`, and a control socket closed mid-request ends the command either way.
#[allow(unsafe_code)]
fn quiet_on_closed_stdout() {
    // SAFETY: called once in `main` before any other thread exists; `SIG_DFL` is a valid
    // disposition for SIGPIPE and no Rust state depends on the previous one.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn throttle_command(flag: Option<&Path>, command: ThrottleCommand) -> anyhow::Result<()> {
    let loaded = discover::load(flag)?;
    match command {
        ThrottleCommand::Show { ip } => throttle_cli::show(&loaded.config, &ip),
        ThrottleCommand::Allow { cidr, note } => throttle_cli::allow(&loaded.config, &cidr, note.as_deref()),
        ThrottleCommand::Remove { cidr } => throttle_cli::remove(&loaded.config, &cidr),
        ThrottleCommand::List { throttled, since, json } => {
            throttle_cli::list(&loaded.config, throttled, since.as_deref(), json)
        }
        ThrottleCommand::Stats => throttle_cli::stats(&loaded.config),
    }
}

/// Asks the running server over its control socket.
fn queue_command(flag: Option<&Path>, command: QueueCommand) -> anyhow::Result<()> {
    let request = match command {
        QueueCommand::List { limit } => format!("queue-list {limit}"),
        QueueCommand::Flush => "queue-flush".to_string(),
        QueueCommand::Export { out } => return queue_cli::export(&discover::load(flag)?.config, &out),
        QueueCommand::Import { file } => queue_cli::import_request(&file)?,
        QueueCommand::Delete { id, no_bounce, recipients } => {
            return admin_cli::queue_delete(flag, &id, !no_bounce, &recipients);
        }
    };
    control_command(flag, &request)
}

/// Sends `request` to the running server's control socket and prints its answer.
fn control_command(flag: Option<&Path>, request: &str) -> anyhow::Result<()> {
    let loaded = discover::load(flag)?;
    let Some(socket) = &loaded.config.gateway.control_socket else {
        anyhow::bail!("no control socket configured")
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match runtime.block_on(gateway::control::request(socket, request)) {
        Some(answer) if answer.starts_with("error:") => anyhow::bail!("{}", answer.trim()),
        Some(answer) => {
            print!("{answer}");
            Ok(())
        }
        None => anyhow::bail!(
            "no server answers on {} (the config used is {}: is `sluice serve` running with it?)",
            socket.display(),
            loaded.source.describe()
        ),
    }
}

fn check_config(file: Option<&Path>) -> anyhow::Result<()> {
    let loaded = discover::load(file)?;
    let config = &loaded.config;
    // Every path now: a bad one would otherwise surface at start, or only at the first
    // verified delivery (the CA bundle).
    paths::check(config)?;
    let g = &config.gateway;
    let roots = gateway::delivery::outbound::trust_roots(g.delivery.tls_ca_file.as_deref())?;
    let shown = loaded.source.path().map_or_else(|| loaded.source.describe(), |p| p.display().to_string());
    println!("{shown}: ok");
    println!("  hostname: {}", g.hostname);
    let listen: Vec<String> = g.listen.iter().map(ToString::to_string).collect();
    println!("  listen: {}", listen.join(", "));
    println!("  data_dir: {}", config.data_dir.display());
    println!("  spool: {}", g.spool_dir.display());
    println!("  maildir root: {}", g.delivery.maildir_root.display());
    println!("  service domain: {}", config.service_domain);
    match &g.settings.client_checks.dnsbl {
        Some(dnsbl) => println!("  dnsbl zones: {}", dnsbl.zones().join(", ")),
        None => println!("  dnsbl zones: none"),
    }
    println!("  outbound trust roots: {}", roots.len());
    if let Some(fleet) = &g.fleet {
        let interval = fleet.exchange_interval.as_millis();
        println!("  fleet exchange: {} every {interval} ms", fleet.shown_url()?);
    }
    match &g.delivery.admin_url {
        Some(url) => println!("  bounces link help pages at: {url}/help/<code>"),
        None => println!(
            "  bounces link no help pages (the admin listener is not reachable from outside; set delivery.admin_url)"
        ),
    }
    Ok(())
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log_level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn serve(flag: Option<&Path>, accept_directory: bool) -> anyhow::Result<()> {
    let loaded = discover::load(flag)?;
    let config = loaded.config;
    let config_path = loaded.source.path().map(Path::to_path_buf);
    paths::check(&config)?;
    init_logging(&config);
    // One crypto provider for the whole process, installed before any TLS use.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The stores open before the runtime: the PostgreSQL client must not be called from an
    // async worker thread, and a wrong [store] fails the start before anything listens.
    tracing::info!(store = %config.store.describe(), "opening the store");
    let trace_writer = start_trace_writer(&config)?;
    let admin = server_admin(&config);
    let stores = Stores { directory: directory_access(&config, accept_directory), trace_writer, admin };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(run(config, config_path, stores))
}

/// What `serve` opened before the runtime started.
struct Stores {
    /// How the gateway reaches its directory storage (its own connection).
    directory: gateway::DirectoryAccess,
    trace_writer: Option<store::TraceWriter>,
    /// The operations of the admin listener, when it is on.
    admin: Option<std::sync::Arc<admin::Admin>>,
}

/// The gateway's directory storage, opened now (before the runtime) or, when it cannot be,
/// the reason and how to open it again later (on a blocking thread): a directory that cannot
/// be opened must not stop mail for the static domains.
fn directory_access(config: &Config, accept_younger: bool) -> gateway::DirectoryAccess {
    let store = admin_cli::open_database(config).map_err(|e| format!("{e:#}"));
    let reopen = config.clone();
    let open: gateway::OpenStore = Box::new(move || {
        admin_cli::open_database(&reopen).map_err(|e| directory::StoreError::Backend {
            operation: "opening the directory".into(),
            cause: format!("{e:#}").into(),
        })
    });
    gateway::DirectoryAccess {
        store,
        open,
        name: config.store.describe(),
        watermark: Some(admin_cli::watermark_path(config)),
        accept_younger,
    }
}

/// The admin listener's operations; none when the directory cannot be opened (the admin
/// plane needs it: it waits for the next start).
fn server_admin(config: &Config) -> Option<std::sync::Arc<admin::Admin>> {
    config.admin.as_ref()?;
    match admin_cli::open_admin_as_is(config, admin_cli::Db::CreateIfMissing) {
        Ok(admin) => Some(std::sync::Arc::new(admin)),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "admin API not started: its store cannot be opened");
            None
        }
    }
}

async fn run(config: Config, config_path: Option<PathBuf>, stores: Stores) -> anyhow::Result<()> {
    let Stores { directory, trace_writer, admin } = stores;
    // Before anything listens: a SIGTERM as soon as a port answers must drain, not kill.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    // The totals of the last run, before anything counts.
    let totals = config.data_dir.join(paths::METRICS_FILE);
    restore_metrics(&totals);
    // The admin listener first: a port taken fails the start before SMTP opens.
    let trace_writer = trace_writer.map(std::sync::Arc::new);
    let (admin_stop, admin_stop_rx) = tokio::sync::watch::channel(false);
    let metrics = std::sync::Arc::new(live::ServerMetrics { trace: trace_writer.clone() });
    let admin_listener = match admin {
        Some(admin) => start_admin(&config, admin, admin_stop_rx, metrics).await?,
        None => None,
    };
    let trace_sink = trace_writer.clone().map(|w| w as std::sync::Arc<dyn trace::TraceSink>);
    let gateway = gateway::Gateway::start(config.gateway.clone(), Some(directory), trace_sink).await?;
    let mut save_totals = tokio::time::interval(METRICS_SAVE_INTERVAL);
    save_totals.tick().await;
    let mut watch = tokio::time::interval(Duration::from_secs(2));
    let mut seen = config_path.as_deref().and_then(modified);
    let allow_file = config.gateway.throttle.as_ref().map(|t| t.allow_file.clone());
    let mut allow_seen = allow_file.as_deref().and_then(modified);
    tracing::info!(hostname = %config.gateway.hostname, "sluice is running");
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => reload(&gateway, &config, config_path.as_deref()),
            _ = save_totals.tick() => save_metrics(totals.clone()).await,
            _ = watch.tick() => {
                let now = config_path.as_deref().and_then(modified);
                if now != seen {
                    seen = now;
                    reload(&gateway, &config, config_path.as_deref());
                }
                let allow_now = allow_file.as_deref().and_then(modified);
                if let (Some(path), true) = (&allow_file, allow_now != allow_seen) {
                    allow_seen = allow_now;
                    match gateway.reload_allow_list(path) {
                        Ok(n) => tracing::info!(entries = n, "throttle allow list reloaded"),
                        Err(e) => tracing::error!(error = %e, "throttle allow list not reloaded"),
                    }
                }
            }
        }
    }
    tracing::info!("stopping: draining sessions");
    let _ = admin_stop.send(true);
    if let Some(listener) = admin_listener {
        let _ = listener.await;
    }
    gateway.shutdown().await;
    save_metrics(totals).await;
    if let Some(writer) = trace_writer {
        tokio::task::spawn_blocking(move || writer.close()).await?;
    }
    Ok(())
}

/// How often the metrics' totals are saved (and at shutdown): a crash loses at most this
/// much of the counts.
const METRICS_SAVE_INTERVAL: Duration = Duration::from_secs(60);

/// Adds the totals an earlier run saved to this process's metrics; an unreadable file is
/// logged and the counts start from zero.
fn restore_metrics(path: &Path) {
    match gateway::metrics::load(path) {
        Ok(0) => {}
        Ok(series) => tracing::info!(series, file = %path.display(), "metric totals restored"),
        Err(e) => {
            tracing::warn!(error = %e, file = %path.display(), "metric totals not restored; counting from zero")
        }
    }
}

/// Saves the metrics' totals off the runtime's threads.
async fn save_metrics(path: PathBuf) {
    let saved = tokio::task::spawn_blocking(move || {
        let result = gateway::metrics::save(&path);
        (path, result)
    })
    .await;
    if let Ok((path, Err(e))) = saved {
        tracing::warn!(error = %e, file = %path.display(), "saving the metric totals failed; will retry");
    }
}

/// The trace writer: batches trace events into the trace store (`<data_dir>/trace.db` or
/// the fleet's PostgreSQL) and prunes it to the retention and size cap.
fn start_trace_writer(config: &Config) -> anyhow::Result<Option<store::TraceWriter>> {
    let Some(trace) = &config.trace else { return Ok(None) };
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let (db, _) = config.store.open_trace()?;
    let writer_config =
        store::TraceWriterConfig { retention: trace.retention, ..store::TraceWriterConfig::default() };
    let clock = || admin_cli::now_s() * 1000;
    Ok(Some(store::TraceWriter::start(db, writer_config, clock)?))
}

/// The admin API and help pages on `[admin] listen`, until `stop`.
async fn start_admin(
    config: &Config,
    admin: std::sync::Arc<admin::Admin>,
    stop: tokio::sync::watch::Receiver<bool>,
    metrics: std::sync::Arc<dyn admin::MetricsSource>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(settings) = &config.admin else { return Ok(None) };
    let tls = match &settings.tls {
        Some(source) => Some(tokio_rustls::TlsAcceptor::from(
            gateway::tls::server_config(source, None).context("admin.cert_file")?,
        )),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("admin.listen: cannot listen on {}", settings.listen))?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(listen = %local, "admin API listening: {scheme}://{local}/api/docs, help at {scheme}://{local}/help");
    let state = admin::http::AppState::new(admin, settings.trace_limit).with_metrics(metrics);
    let app = admin::http::router(state);
    Ok(Some(tokio::spawn(admin::http::serve(listener, tls, app, stop))))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Applies what can change without a restart; a bad file keeps the running settings.
fn reload(gateway: &gateway::Gateway, running: &Config, path: Option<&Path>) {
    let Some(path) = path else {
        tracing::info!("no config file to reload");
        return;
    };
    match config::load(Some(path)) {
        Ok(new) => {
            let (old, new_gw) = (&running.gateway, &new.gateway);
            if old.listen != new_gw.listen || old.spool_dir != new_gw.spool_dir {
                tracing::warn!("listen and data_dir changes take effect at the next restart");
            }
            // The certificate, the key and [tls] client_ca_file: built again for new sessions
            // (a renewed certificate or a changed bundle applies without a restart).
            match gateway.reload_tls(new_gw.tls.as_ref(), new_gw.tls_client_ca_file.as_deref()) {
                Ok(()) => tracing::info!(
                    client_ca_file = %new_gw.tls_client_ca_file.as_deref().map_or("none".into(), |p| p.display().to_string()),
                    "TLS reloaded: new sessions use the certificate and client CA bundle of the config"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "TLS not reloaded; new sessions keep the running certificate and client CA bundle")
                }
            }
            if old.delivery != new_gw.delivery {
                tracing::warn!("[delivery] and [dns] changes take effect at the next restart");
            }
            if let Some(policy) = &new_gw.protection {
                gateway.reload_protection(policy.clone());
            }
            reload_throttle(gateway, old.throttle.as_ref(), new_gw.throttle.as_ref());
            gateway.reload(new.gateway.settings);
        }
        Err(e) => tracing::error!(error = %e, "config reload failed; keeping the running settings"),
    }
}

/// The throttle's mode changes at once; turning it on or off and its policy at the next start.
fn reload_throttle(
    gateway: &gateway::Gateway,
    old: Option<&gateway::ThrottleConfig>,
    new: Option<&gateway::ThrottleConfig>,
) {
    match (old, new) {
        (Some(old), Some(new)) => {
            gateway.reload_throttle_mode(new.mode);
            if old.policy != new.policy {
                tracing::warn!("[throttle.policy] changes take effect at the next restart");
            }
        }
        (None, None) => {}
        _ => tracing::warn!("throttle.enabled changes take effect at the next restart"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command and subcommand says what it does and shows an example in `--help`.
    #[test]
    fn every_subcommand_has_a_description_and_an_example() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
                let name = format!("{path} {}", sub.get_name());
                let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
                let example = sub.get_after_help().map(ToString::to_string).unwrap_or_default();
                if about.trim().is_empty() || !example.contains("Example") || !example.contains("sluice ") {
                    missing.push(name.clone());
                }
                walk(sub, &name, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&<Cli as clap::CommandFactory>::command(), "sluice", &mut missing);
        assert!(missing.is_empty(), "without a description or an example: {missing:?}");
    }

    /// Like rusqlite's failures: the text of the cause it also returns from `source()`.
    #[derive(Debug, thiserror::Error)]
    #[error("database disk image is malformed")]
    struct ShowsItsSource(#[source] std::io::Error);

    #[test]
    fn the_chain_is_printed_once() {
        let leaf = std::io::Error::other("database disk image is malformed");
        let error = anyhow::Error::new(ShowsItsSource(leaf)).context("opening the directory");
        assert_eq!(report(&error), "opening the directory: database disk image is malformed");
        let distinct = anyhow::anyhow!("not a directory").context("cannot open the spool");
        assert_eq!(report(&distinct), "cannot open the spool: not a directory");
    }
}
