//! The admin plane from the command line: the operations layer (`admin::Admin`) opened on
//! the data directory of the config `discover` finds, for a local operator, and `sluice
//! token|audit|request|trace`. The directory commands (`directory_cli.rs`) call the same
//! operations. Reading commands never create a database: a missing one is named with the
//! config used and how to point at the right one.

use std::path::Path;
use std::sync::Arc;

use access::Principal;
use admin::views::{AuditParams, DecisionInput, RequestParams, TokenInput, TraceParams};
use admin::{Admin, Context, Parts};
use anyhow::Context as _;
use clap::Subcommand;

use crate::config::Config;
use crate::discover::{self, Loaded};
use crate::live::{AllowFile, ControlLive, NetChecks};

/// Unix seconds now.
pub fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Whether a command may create the directory database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    /// Reads and edits need the database of the server they are about: a missing one is
    /// an error naming the path and the config used, never a new empty database.
    Existing,
    /// `serve`, and commands that create a deployment's first objects (`tenant add`,
    /// `token create`, `reputation block|except`).
    CreateIfMissing,
}

/// Opens `config`'s `[store]`: the data directory's files (created on first use when `db`
/// allows it) or the fleet's PostgreSQL, boxed as the caller needs it. Not from an async
/// worker thread (the PostgreSQL client runs its own runtime).
fn open_with<T: ?Sized>(
    config: &Config,
    db: Db,
    sqlite: impl FnOnce(store::SqliteStore) -> Box<T>,
    postgres: impl FnOnce(store::PgStore) -> Box<T>,
) -> anyhow::Result<Box<T>> {
    let remedy = |e: directory::StoreError| match &config.store.location {
        store::Location::Embedded { data_dir } => {
            let db = store::StoreConfig::directory_file(data_dir);
            anyhow::anyhow!(
                "{e}; check data_dir in the config, or restore {} from a backup (`sluice restore FILE`)",
                db.display()
            )
        }
        store::Location::Postgres(_) => anyhow::anyhow!("{e}; check [store] url in the config"),
    };
    Ok(match &config.store.location {
        store::Location::Embedded { data_dir } => {
            let file = store::StoreConfig::directory_file(data_dir);
            if db == Db::Existing && !file.exists() {
                anyhow::bail!("no directory database at {}", file.display());
            }
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
            sqlite(store::SqliteStore::open_with(&file, config.store.migrate).map_err(remedy)?.0)
        }
        store::Location::Postgres(target) => {
            postgres(store::PgStore::connect(target, config.store.migrate).map_err(remedy)?.0)
        }
    })
}

/// The embedded directory database, `<data_dir>/sluice.db`; `None` with PostgreSQL.
pub fn database_path(config: &Config) -> Option<std::path::PathBuf> {
    match &config.store.location {
        store::Location::Embedded { data_dir } => Some(store::StoreConfig::directory_file(data_dir)),
        store::Location::Postgres(_) => None,
    }
}

/// What this node last saw of its directory (`gateway::watermark`), in its data directory
/// whichever store holds the directory.
pub fn watermark_path(config: &Config) -> std::path::PathBuf {
    config.data_dir.join(gateway::watermark::FILE_NAME)
}

/// The directory storage the gateway works on (created on first use).
pub fn open_database(config: &Config) -> anyhow::Result<Box<dyn directory::DirectoryStore + Send>> {
    type Boxed = Box<dyn directory::DirectoryStore + Send>;
    open_with(config, Db::CreateIfMissing, |s| Box::new(s) as Boxed, |s| Box::new(s) as Boxed)
}

/// The directory as this node last saw it, or an error naming the remedy: a directory that
/// is emptied or older than the watermark would make every command look at nothing (or at
/// an old copy) without a word.
fn check_watermark(config: &Config) -> anyhow::Result<()> {
    let Some(seen) = gateway::watermark::Watermark::read(&watermark_path(config))? else { return Ok(()) };
    let data = open_database(config)?.load()?;
    let found =
        gateway::watermark::Watermark { generation: data.generation, tenants: data.tenants.len() as u64 };
    match found.younger_than(&seen) {
        None => Ok(()),
        Some(why) => anyhow::bail!(
            "{} cannot be this node's directory: {why}; restore it from a backup (`sluice restore FILE`), or accept it as it is by starting `sluice serve --accept-directory` once",
            config.store.describe()
        ),
    }
}

/// The operations on `config`'s store, for the CLI: the directory must be the one this node
/// last saw (and, for `Db::Existing`, exist). Not from an async worker thread.
pub fn open_admin(config: &Config, db: Db) -> anyhow::Result<Admin> {
    if let (Db::Existing, Some(file)) = (db, database_path(config))
        && !file.exists()
    {
        anyhow::bail!("no directory database at {}", file.display());
    }
    check_watermark(config)?;
    open_admin_as_is(config, db)
}

/// The operations on `config`'s store whatever its directory holds (the server's admin
/// listener: its gateway judges the directory itself). Not from an async worker thread.
pub fn open_admin_as_is(config: &Config, db: Db) -> anyhow::Result<Admin> {
    type Boxed = Box<dyn admin::AdminStore>;
    let store = open_with(config, db, |s| Box::new(s) as Boxed, |s| Box::new(s) as Boxed)?;
    let trace = match (&config.trace, &config.store.location) {
        // Reading commands never create the trace database either.
        (Some(t), store::Location::Embedded { .. }) if db == Db::Existing && !t.db.exists() => None,
        (Some(_), _) => Some(config.store.open_trace()?.0),
        (None, _) => None,
    };
    Ok(Admin::new(Parts {
        store,
        trace,
        live: Arc::new(ControlLive { socket: config.gateway.control_socket.clone() }),
        network: Arc::new(NetChecks {
            resolver: config.resolver,
            hostname: config.gateway.hostname.clone(),
            mx_port: config.gateway.delivery.mx_port,
            tls_ca_file: config.gateway.delivery.tls_ca_file.clone(),
            client_ca_file: config.gateway.tls_client_ca_file.clone(),
        }),
        allow_list: config
            .gateway
            .throttle
            .as_ref()
            .map(|t| Arc::new(AllowFile { path: t.allow_file.clone() }) as Arc<dyn admin::AllowList>),
        quarantine: Arc::new(crate::quarantine_cli::QuarantineFiles {
            quarantine: gateway::quarantine::Quarantine::open(
                config.gateway.screening.quarantine_dir.clone(),
                config.gateway.screening.quarantine_retention.as_secs(),
            )?,
            server: ControlLive { socket: config.gateway.control_socket.clone() },
        }),
        clock: now_s,
        service_domain: config.service_domain.clone(),
    }))
}

/// The local user running the CLI: an operator (they can read the data directory).
pub fn local_context() -> Context {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    Context { principal: Principal::local(&user), source: "cli".into() }
}

/// A command's admin plane: the operations, the local caller, and the config with where it
/// came from (for messages and printed next steps).
pub struct Cli {
    pub admin: Admin,
    pub cx: Context,
    pub loaded: Loaded,
}

impl std::fmt::Debug for Cli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cli").field("source", &self.loaded.source).finish_non_exhaustive()
    }
}

impl Cli {
    /// ` --config FILE` when the operator gave one: for the next steps a command prints.
    pub fn flag(&self) -> String {
        self.loaded.source.flag()
    }
}

/// Opens the admin plane for a command, on the config found by `discover`; a missing
/// database names itself, the config used and how to point at the right one.
pub fn open(flag: Option<&Path>, db: Db) -> anyhow::Result<Cli> {
    let loaded = discover::load(flag)?;
    open_loaded(loaded, db)
}

pub fn open_loaded(loaded: Loaded, db: Db) -> anyhow::Result<Cli> {
    let admin = open_admin(&loaded.config, db).map_err(|e| {
        let missing = match &loaded.config.store.location {
            store::Location::Embedded { data_dir } => !store::StoreConfig::directory_file(data_dir).exists(),
            store::Location::Postgres(_) => false,
        };
        if db == Db::Existing && missing {
            anyhow::anyhow!(
                "{e}: the config used is {} (data_dir {}); point at your server's config with --config FILE or {}=FILE, \
                 or create a deployment here with `sluice tenant add ID{}`",
                loaded.source.describe(),
                loaded.config.data_dir.display(),
                discover::ENV,
                loaded.source.flag()
            )
        } else {
            e
        }
    })?;
    Ok(Cli { admin, cx: local_context(), loaded })
}

/// A time as RFC 3339 in UTC: `2026-11-23T14:35:09Z`.
pub fn when(unix_s: u64) -> String {
    let (year, month, day) = smtp_wire::date::civil_from_days(unix_s / 86_400);
    let secs = unix_s % 86_400;
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3_600, secs % 3_600 / 60, secs % 60)
}

/// How long ago or ahead: `3 h ago`, `in 29 d`.
pub fn relative(unix_s: u64, now: u64) -> String {
    let span = |s: u64| match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{} min", s / 60),
        3_600..172_800 => format!("{} h", s / 3_600),
        _ => format!("{} d", s / 86_400),
    };
    if unix_s <= now { format!("{} ago", span(now - unix_s)) } else { format!("in {}", span(unix_s - now)) }
}

/// A time as people read it in a listing: `2026-11-23T14:35:09Z (3 h ago)`.
pub fn when_ago(unix_s: u64) -> String {
    format!("{} ({})", when(unix_s), relative(unix_s, now_s()))
}

/// Prints a listing's items as one JSON array (`--json`).
pub fn print_json<T: serde::Serialize>(items: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(items)?);
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bearer token for the admin API; it is printed once and never again.
    #[command(
        after_help = "Example:\n  sluice token create --role tenant-admin --tenant acme --expires 30d --note \"acme portal\""
    )]
    Create {
        /// operator, support, tenant-admin or tenant-reader.
        #[arg(long)]
        role: String,
        /// The tenant of a tenant-admin or tenant-reader token.
        #[arg(long)]
        tenant: Option<String>,
        /// Lifetime: 90d (default), 12h, ... or `never`.
        #[arg(long)]
        expires: Option<String>,
        /// What it is for (shown in `token list`).
        #[arg(long)]
        note: Option<String>,
    },
    /// Every token: id, role, tenant, expiry, revocation.
    #[command(after_help = "Example:\n  sluice token list --json")]
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (the 16 hex digits after `sluice_`).
    #[command(after_help = "Example:\n  sluice token revoke 3f9c0a1b2c3d4e5f")]
    Revoke { id: String },
}

pub fn token(flag: Option<&Path>, command: TokenCommand) -> anyhow::Result<()> {
    let db = if matches!(command, TokenCommand::Create { .. }) { Db::CreateIfMissing } else { Db::Existing };
    let Cli { admin, cx, .. } = open(flag, db)?;
    match command {
        TokenCommand::Create { role, tenant, expires, note } => {
            let created = admin.create_token(&cx, &TokenInput { role, tenant, expires, note })?;
            let r = &created.record;
            let tenant = r.tenant.as_deref().map(|t| format!(" of tenant {t}")).unwrap_or_default();
            let expiry = r
                .expires_at_unix_s
                .map_or("never expires".to_string(), |at| format!("expires {}", when_ago(at)));
            println!("token {} ({}{tenant}) created; it {expiry}", r.id, r.role);
            println!("{}", created.token);
            eprintln!("keep it now: only its hash is stored, it cannot be shown again");
        }
        TokenCommand::List { json } => {
            let tokens = admin.list_tokens(&cx)?;
            if json {
                return print_json(&tokens);
            }
            if tokens.is_empty() {
                println!("no tokens");
            }
            let now = now_s();
            for t in tokens {
                let state = match (t.revoked_at_unix_s, t.expires_at_unix_s) {
                    (Some(at), _) => format!("revoked {}", when_ago(at)),
                    (None, Some(at)) if at <= now => format!("expired {}", when_ago(at)),
                    (None, Some(at)) => format!("expires {}", when_ago(at)),
                    (None, None) => "no expiry".into(),
                };
                let line = format!(
                    "{}  {:<13} {:<20} {:<42} {}",
                    t.id,
                    t.role,
                    t.tenant.as_deref().unwrap_or("-"),
                    state,
                    t.note
                );
                println!("{}", line.trim_end());
            }
        }
        TokenCommand::Revoke { id } => {
            let t = admin.revoke_token(&cx, &id)?;
            println!("token {} revoked: requests with it are refused from now on", t.id);
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only entries about this tenant's objects.
    #[arg(long)]
    tenant: Option<String>,
    /// `token:<id>` or `os:<user>`.
    #[arg(long)]
    actor: Option<String>,
    /// An action or its prefix: domain, connector.disable, ...
    #[arg(long)]
    action: Option<String>,
    /// Unix seconds or an age such as 2h, 7d.
    #[arg(long)]
    since: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Print JSON (one array) with the before and after of each change.
    #[arg(long)]
    json: bool,
}

pub fn audit(flag: Option<&Path>, a: AuditArgs) -> anyhow::Result<()> {
    let Cli { admin, cx, .. } = open(flag, Db::Existing)?;
    let params = AuditParams {
        tenant: a.tenant,
        actor: a.actor,
        action: a.action,
        since: a.since,
        until: None,
        before: None,
        limit: Some(a.limit),
    };
    let entries = admin.list_audit(&cx, &params)?;
    if a.json {
        return print_json(&entries);
    }
    if entries.is_empty() {
        println!("no audit entries");
    }
    for e in entries {
        let tenant = e.tenant.as_deref().unwrap_or("-");
        println!(
            "{}  {:<20} {:<22} {:<12} {}  (from {})",
            when_ago(e.at_unix_s),
            e.actor,
            e.action,
            tenant,
            e.object,
            e.source
        );
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// Requests (pending ones with --status pending).
    #[command(after_help = "Example:\n  sluice request list --status pending --json")]
    List {
        #[arg(long)]
        tenant: Option<String>,
        /// pending, approved or denied.
        #[arg(long)]
        status: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a request and carry it out (the exception is added, the block released).
    #[command(after_help = "Example:\n  sluice request approve 12 --note \"checked the sender's listing\"")]
    Approve {
        id: u64,
        /// For the requester: what was checked.
        #[arg(long)]
        note: String,
    },
    /// Deny a request, saying why.
    #[command(after_help = "Example:\n  sluice request deny 12 --note \"the range is an open proxy\"")]
    Deny {
        id: u64,
        #[arg(long)]
        note: String,
    },
}

pub fn request(flag: Option<&Path>, command: RequestCommand) -> anyhow::Result<()> {
    let Cli { admin, cx, .. } = open(flag, Db::Existing)?;
    match command {
        RequestCommand::List { tenant, status, json } => {
            let requests = admin.list_requests(&cx, tenant.as_deref(), &RequestParams { status })?;
            if json {
                return print_json(&requests);
            }
            if requests.is_empty() {
                println!("no requests");
            }
            for r in requests {
                let what = r.cidr.as_deref().map_or(r.kind.clone(), |c| format!("{} {c}", r.kind));
                println!(
                    "#{:<5} {:<9} {:<16} {:<36} by {} at {}",
                    r.id,
                    r.status,
                    r.tenant,
                    what,
                    r.requested_by,
                    when_ago(r.requested_at_unix_s)
                );
                println!("       justification: {}", r.justification);
                if let (Some(by), Some(note)) = (&r.decided_by, &r.note) {
                    println!("       {} by {by}: {note}", r.status);
                }
            }
        }
        RequestCommand::Approve { id, note } => {
            let r = admin.decide_request(&cx, id, true, &DecisionInput { note })?;
            let done = match r.cidr {
                Some(cidr) => format!("{cidr} excepted from every block"),
                None => format!("tenant {}'s outbound mail released", r.tenant),
            };
            println!("request #{} approved: {done}", r.id);
        }
        RequestCommand::Deny { id, note } => {
            let r = admin.decide_request(&cx, id, false, &DecisionInput { note })?;
            println!("request #{} denied", r.id);
        }
    }
    Ok(())
}

/// `sluice queue delete`: through the operations, so it is audited like the API's.
pub fn queue_delete(
    flag: Option<&Path>,
    id: &str,
    bounce: bool,
    recipients: &[String],
) -> anyhow::Result<()> {
    let Cli { admin, cx, .. } = open(flag, Db::Existing)?;
    let params = admin::views::QueueDeleteParams {
        bounce: Some(bounce),
        recipients: (!recipients.is_empty()).then(|| recipients.join(",")),
    };
    let deleted = admin.queue_delete(&cx, id, &params)?;
    println!("{}", deleted.message);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    #[arg(long)]
    sender: Option<String>,
    #[arg(long)]
    recipient: Option<String>,
    /// The Message-ID header or the queue id; each message found is shown with its timeline.
    #[arg(long)]
    message_id: Option<String>,
    /// The client IP.
    #[arg(long)]
    ip: Option<String>,
    /// received, deferred, delivered or failed.
    #[arg(long)]
    status: Option<String>,
    /// inbound or outbound.
    #[arg(long)]
    direction: Option<String>,
    /// How far back: 2h, 7d, or Unix seconds (default 48h).
    #[arg(long)]
    since: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Refusals at SMTP time (per IP, sender, domain, reply and minute) instead of messages.
    #[arg(long)]
    refusals: bool,
    /// Print JSON; with --message-id naming one queue id, its whole timeline.
    #[arg(long)]
    json: bool,
}

pub fn trace(flag: Option<&Path>, a: TraceArgs) -> anyhow::Result<()> {
    let Cli { admin, cx, loaded } = open(flag, Db::Existing)?;
    let embedded = matches!(loaded.config.store.location, store::Location::Embedded { .. });
    if let Some(t) = loaded.config.trace.as_ref().filter(|t| embedded && !t.db.exists()) {
        anyhow::bail!(
            "no message trace database at {}: the config used is {}; point at your server's config with --config FILE or {}=FILE",
            t.db.display(),
            loaded.source.describe(),
            discover::ENV
        );
    }
    let with_timeline = a.message_id.is_some();
    let params = TraceParams {
        sender: a.sender,
        recipient: a.recipient,
        message_id: a.message_id,
        ip: a.ip,
        status: a.status,
        direction: a.direction,
        since: a.since,
        until: None,
        cursor: None,
        limit: Some(a.limit),
        tenant: None,
    };
    if a.refusals {
        let page = admin.trace_refusals(&cx, &params)?;
        if a.json {
            return print_json(&page.items);
        }
        if page.items.is_empty() {
            println!("no refusals");
        }
        for r in page.items {
            println!(
                "{}  {:<15} x{:<5} {} -> @{}: {}",
                when_ago(r.minute_unix_s),
                r.client_ip,
                r.count,
                r.sender,
                r.recipient_domain,
                r.reply
            );
        }
        return Ok(());
    }
    let page = admin.search_trace(&cx, &params)?;
    if a.json {
        let mut out = Vec::new();
        for m in &page.items {
            out.push(admin.trace_message(&cx, &m.message)?);
        }
        return print_json(&out);
    }
    if page.items.is_empty() {
        println!("no messages");
    }
    for m in page.items {
        let first = m.recipients.first().cloned().unwrap_or_default();
        let more = m.recipients.len().saturating_sub(1);
        let more = if more > 0 { format!(" (+{more})") } else { String::new() };
        println!(
            "{}  {}  {:<9} {:<8} {:<15} <{}> -> {first}{more}  {}",
            when_ago(m.received_at_unix_ms / 1000),
            m.message,
            m.status,
            m.direction,
            m.client_ip,
            m.sender,
            m.subject.clone().unwrap_or_default()
        );
        if with_timeline {
            print_timeline(&admin.trace_message(&cx, &m.message)?);
        }
    }
    if page.next.is_some() {
        println!("(more: narrow the search or raise --limit)");
    }
    Ok(())
}

/// One message's steps, indented under its summary line, oldest first.
fn print_timeline(detail: &admin::views::TraceDetailView) {
    let connector = detail.connector.as_deref().map_or(String::new(), |c| format!(", connector {c}"));
    let tls = detail.tls.as_deref().map_or("no TLS".to_string(), |t| t.to_string());
    println!("    from {} (HELO {}, {tls}{connector})", detail.summary.client_ip, detail.helo);
    for step in &detail.timeline {
        let next = step
            .next_attempt_unix_ms
            .map_or(String::new(), |at| format!(" (next attempt {})", when(at / 1000)));
        println!(
            "    {}  {:<9} {}  {}{next}",
            when(step.at_unix_ms / 1000),
            step.step,
            step.recipient,
            step.detail
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::when(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::when(1_795_444_509), "2026-11-23T14:35:09Z");
        assert_eq!(super::when(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::relative(100, 10_900), "3 h ago");
        assert_eq!(super::relative(30 * 86_400, 0), "in 30 d");
        assert_eq!(super::relative(5, 5), "0 s ago");
    }
}
