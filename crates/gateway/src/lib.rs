//! The gateway: the only crate with sockets, grouped by flow. `inbound` is the SMTP server
//! side: listeners, the connection driver, the session's envelope checks, throttling, and
//! the enqueue step that alone writes new messages to the spool. `delivery` is everything
//! after the spool: the queue manager that alone decides about delivery, retries and
//! bounces (a sans-IO state machine with an async shell), routing, retry timing,
//! notifications, and attempts that only report outcomes (local Maildir, remote SMTP/LMTP).
//! At the top, what both share: settings, whose a domain is (`domains`), outbound
//! protection (`guard`), the directory follower, throttle history and allow list, the
//! control socket, DNS and server TLS.
//!
//! Invariants: a `250` after DATA is sent only once the spool reports the message durable;
//! every task is owned (a `JoinSet` or a handle kept by [`Gateway`]); a panic in a session or
//! a delivery attempt never takes the process down; shutdown drains with a deadline.

pub mod allow_list;
pub mod control;
pub mod deferrals;
pub mod delivery;
pub mod dns;
pub mod domains;
pub mod explain;
mod fault;
#[cfg(test)]
mod fixtures;
pub mod fleet;
pub mod follower;
pub mod guard;
pub mod history;
pub mod inbound;
pub mod metrics;
pub mod quarantine;
pub mod queue_transfer;
pub mod record;
pub mod settings;
pub mod tls;
pub mod watermark;

use delivery::{maildir, notify, outbound, queue_manager, remote, routing};
use inbound::{enqueue, throttling};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use spool::{Spool, SpoolConfig};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use follower::{DirectoryAccess, DirectoryHealth, OpenStore};
pub use settings::{
    ConnectionLimits, DataMemory, DeliveryConfig, GatewayConfig, RetryTiming, ScreeningConfig, Settings,
    ThrottleConfig, ThrottleMode, Timeouts,
};

/// Why the gateway could not start. Each text names what failed (a path, an address) and,
/// where it is known, what to do; the cause is part of the text, never also a `source()`.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot open the spool in {path}: {error}{remedy}", remedy = spool_remedy(.error))]
    Spool { path: PathBuf, error: spool::SpoolError },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen on {addr}: {error}{remedy}", remedy = bind_remedy(.error))]
    Bind { addr: SocketAddr, error: std::io::Error },
    #[error(transparent)]
    History(#[from] history::HistoryError),
    #[error(transparent)]
    AllowList(#[from] allow_list::AllowListError),
    #[error(transparent)]
    Directory(#[from] directory::StoreError),
    #[error(
        "{why}; restore the directory from a backup (`sluice restore FILE`), or start once with \
         `sluice serve --accept-directory` to use it as it is{recorded}",
        recorded = .watermark.as_ref().map(|p| format!(" (then recorded in {})", p.display())).unwrap_or_default()
    )]
    DirectoryYounger { why: String, watermark: Option<PathBuf> },
    #[error("cannot listen on the control socket {path}: {error}")]
    Control { path: PathBuf, error: std::io::Error },
    #[error(transparent)]
    Dns(#[from] dns::DnsError),
    #[error(transparent)]
    Fleet(#[from] fleet::FleetError),
    #[error(transparent)]
    Quarantine(#[from] quarantine::QuarantineError),
}

fn spool_remedy(error: &spool::SpoolError) -> &'static str {
    match error {
        spool::SpoolError::Io(_) => {
            "; data_dir must be a writable directory (`sluice check-config` checks it)"
        }
        spool::SpoolError::Locked(_) => {
            "; another `sluice serve` uses this data_dir: stop it, or give each server its own data_dir"
        }
        _ => "",
    }
}

fn bind_remedy(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need root or CAP_NET_BIND_SERVICE (e.g. AmbientCapabilities in the systemd unit)"
        }
        std::io::ErrorKind::AddrInUse => {
            "; another program listens there (`ss -ltnp` shows which): stop it or change smtp.listen"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "; no interface of this machine has that address: change smtp.listen"
        }
        _ => "",
    }
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    shared: Arc<inbound::Shared>,
    stop: watch::Sender<bool>,
    /// Sent once the sessions have ended, for the work that must come after them.
    sessions_done: watch::Sender<bool>,
    listeners: JoinSet<()>,
    queue_manager: tokio::task::JoinHandle<()>,
    background: JoinSet<()>,
    spool: Spool,
    local_addrs: Vec<SocketAddr>,
    fleet: Option<Arc<fleet::Fleet>>,
}

impl Gateway {
    /// Recovers the spool, starts delivery and listens. Must run inside a tokio runtime.
    /// `directory` is how to reach the tenant directory's storage (the embedded SQLite store
    /// on one node); `None`: the config's static accepted domains only, and no outbound
    /// protection. A directory that cannot be opened or read does not stop the start (the
    /// static accepted domains are served, tenants' mail gets `451 4.3.0`); one that is
    /// emptied or older than the node's watermark does, unless accepted. `trace` is where every
    /// message's journey and the SMTP-time refusals are recorded (`None`: the trace is off).
    pub async fn start(
        config: GatewayConfig,
        directory: Option<DirectoryAccess>,
        trace: Option<Arc<dyn trace::TraceSink>>,
    ) -> Result<Gateway, GatewayError> {
        let spool_config = SpoolConfig::new(config.spool_dir.clone());
        let spool::Opened { spool, messages: recovered, report } = Spool::open(spool_config)
            .map_err(|error| GatewayError::Spool { path: config.spool_dir.clone(), error })?;
        report.log();
        metrics::global().watch_spool(spool.sync_latency());
        let recorder = record::Recorder::new(trace);
        let tls = match &config.tls {
            Some(source) => Some(tokio_rustls::TlsAcceptor::from(tls::server_config(
                source,
                config.tls_client_ca_file.as_deref(),
            )?)),
            None => None,
        };
        let mut settings = config.settings.clone();
        let mut session = (*settings.session).clone();
        session.starttls = tls.is_some();
        settings.session = Arc::new(session);
        let (stop, stop_rx) = watch::channel(false);
        let (sessions_done, sessions_done_rx) = watch::channel(false);
        let mut background = JoinSet::new();
        let (directory, guard, health) = match directory {
            Some(access) => {
                let (directory, guard, health) =
                    start_directory(access, config.protection.clone(), &mut background, &stop_rx).await?;
                (Some(directory), guard, health)
            }
            None => (None, None, Arc::new(DirectoryHealth::without_directory())),
        };
        let screeners = start_screening(&config, &recovered, &mut background, &stop_rx)?;
        let (queue, inbox) = queue_manager::channel();
        let enqueue = enqueue::Enqueue {
            spool: spool.clone(),
            hostname: config.hostname.clone(),
            queue: queue.clone(),
            directory: directory.clone(),
        };
        let delivery = delivery(
            &config,
            &settings,
            &enqueue,
            directory.clone(),
            Arc::clone(&health),
            guard.clone(),
            recorder.clone(),
        )?;
        let manager = queue_manager::QueueManager::new(delivery, config.delivery.clone(), recovered, inbox);
        let queue_manager = tokio::spawn(manager.run(stop_rx.clone()));
        let throttling = match &config.throttle {
            Some(tc) => Some(start_throttling(tc, &mut background, &sessions_done_rx).await?),
            None => None,
        };
        let fleet = match config.fleet.clone() {
            Some(fc) => {
                let engine = throttling.as_ref().map(|t| Arc::clone(t.engine()));
                let parts = fleet::Joined { engine, guard: guard.clone(), directory: directory.clone() };
                Some(fleet::start(fc, parts, &mut background, &sessions_done_rx).await?)
            }
            None => None,
        };
        if let (Some(fleet), Some(dnsbl)) = (&fleet, &settings.client_checks.dnsbl) {
            dnsbl.share(fleet);
        }
        if let Some(path) = &config.control_socket {
            let listener =
                control::bind(path).map_err(|error| GatewayError::Control { path: path.clone(), error })?;
            let subjects = control::Subjects {
                throttling: throttling.clone(),
                directory: directory.clone(),
                queue: queue.clone(),
                spool: spool.clone(),
                fleet: fleet.as_ref().map(|f| Arc::clone(&f.stats)),
                enqueue: enqueue.clone(),
                screeners: screeners.clone(),
            };
            background.spawn(control::serve(listener, path.clone(), subjects, stop_rx.clone()));
        }
        let shared = Arc::new(inbound::Shared {
            settings: RwLock::new(Arc::new(settings)),
            tls: RwLock::new(tls),
            help_url: config.delivery.admin_url.clone(),
            throttling,
            directory,
            directory_health: health,
            guard,
            screeners,
            enqueue,
            connections: Arc::default(),
            data_memory: Arc::default(),
            recorder,
            shutdown: stop_rx,
        });
        let mut listeners = JoinSet::new();
        let mut local_addrs = Vec::new();
        for addr in &config.listen {
            let listener = inbound::bind(*addr).map_err(|error| GatewayError::Bind { addr: *addr, error })?;
            let local = listener.local_addr().map_err(|error| GatewayError::Bind { addr: *addr, error })?;
            tracing::info!(listen = %local, "SMTP listener started");
            local_addrs.push(local);
            listeners.spawn(inbound::accept_loop(Arc::clone(&shared), listener, config.drain));
        }
        Ok(Gateway {
            shared,
            stop,
            sessions_done,
            listeners,
            queue_manager,
            background,
            spool,
            local_addrs,
            fleet,
        })
    }

    /// The addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Replaces the reloadable settings; sessions already running keep theirs.
    pub fn reload(&self, mut settings: Settings) {
        let mut session = (*settings.session).clone();
        session.starttls = self.shared.tls().is_some();
        settings.session = Arc::new(session);
        if let (Some(fleet), Some(dnsbl)) = (&self.fleet, &settings.client_checks.dnsbl) {
            dnsbl.share(fleet);
        }
        *self.shared.settings.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(settings);
        tracing::info!("settings reloaded");
    }

    /// Builds STARTTLS again from `source` (the certificate and key, `None`: no STARTTLS)
    /// and `client_ca_file` (asking clients for certificates, or not), for the sessions that
    /// start from now on; call [`Gateway::reload`] after it so new sessions advertise
    /// STARTTLS accordingly. On an error nothing changes.
    pub fn reload_tls(
        &self,
        source: Option<&tls::TlsSource>,
        client_ca_file: Option<&std::path::Path>,
    ) -> Result<(), tls::TlsError> {
        let acceptor = match source {
            Some(source) => {
                Some(tokio_rustls::TlsAcceptor::from(tls::server_config(source, client_ca_file)?))
            }
            None => None,
        };
        *self.shared.tls.write().unwrap_or_else(PoisonError::into_inner) = acceptor;
        Ok(())
    }

    /// Replaces outbound protection's limits and thresholds (when it runs: turning it on or
    /// off needs a restart).
    pub fn reload_protection(&self, policy: protection::Policy) {
        if let Some(guard) = &self.shared.guard {
            guard.protection.replace_policy(policy);
            tracing::info!("outbound protection policy reloaded");
        }
    }

    /// Re-reads the operator allow list after the CLI changed it.
    pub fn reload_allow_list(&self, path: &std::path::Path) -> Result<usize, allow_list::AllowListError> {
        let entries = allow_list::read(path)?;
        let count = entries.len();
        if let Some(t) = &self.shared.throttling {
            t.set_allow_list(entries);
        }
        Ok(count)
    }

    /// Switches throttling between enforcing and observing (when it runs: turning it on or
    /// off, and its policy, need a restart).
    pub fn reload_throttle_mode(&self, mode: ThrottleMode) {
        if let Some(t) = self.shared.throttling.as_ref().filter(|t| t.mode() != mode) {
            t.set_mode(mode);
            tracing::info!(%mode, "throttle mode reloaded");
        }
    }

    /// Stops accepting, lets sessions finish within the drain deadline, lets delivery
    /// attempts in flight finish, and closes the spool.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.listeners.join_next().await.is_some() {}
        // Sessions are done: the throttle's last save and log lines see all they did.
        let _ = self.sessions_done.send(true);
        let _ = (&mut self.queue_manager).await;
        while self.background.join_next().await.is_some() {}
        drop(self.shared);
        self.spool.close();
        tracing::info!("gateway stopped");
    }
}

/// Opens the quarantine (finishing releases a crash interrupted, before the queue manager
/// sees the recovered messages), starts its retention task, and builds the screeners.
fn start_screening(
    config: &GatewayConfig,
    recovered: &[spool::SpooledMessage],
    background: &mut JoinSet<()>,
    stop: &watch::Receiver<bool>,
) -> Result<Option<Arc<inbound::screen::Screeners>>, GatewayError> {
    let screening = &config.screening;
    let quarantine = Arc::new(quarantine::Quarantine::open(
        screening.quarantine_dir.clone(),
        screening.quarantine_retention.as_secs(),
    )?);
    let spooled = |at: u64, envelope: &smtp_wire::Envelope| {
        recovered
            .iter()
            .find(|m| {
                m.received_at_unix_ms == at
                    && m.envelope.sender == envelope.sender
                    && m.envelope
                        .recipients
                        .iter()
                        .map(|r| &r.address)
                        .eq(envelope.recipients.iter().map(|r| &r.address))
            })
            .map(|m| m.id.to_string())
    };
    quarantine.reconcile(spooled)?;
    background.spawn(expire_quarantine(Arc::clone(&quarantine), stop.clone()));
    let auth = match &screening.auth {
        Some(auth) => Some(inbound::authenticate::Authenticator::new(
            auth,
            config.delivery.dns_resolver,
            &config.hostname,
        )?),
        None => None,
    };
    let scanner = screening.scanner.clone().map(inbound::scanner::Scanner::new);
    if auth.is_none() && scanner.is_none() {
        return Ok(None);
    }
    Ok(Some(Arc::new(inbound::screen::Screeners {
        hostname: config.hostname.clone(),
        auth,
        scanner,
        policy: screening.policy.clone(),
        quarantine,
    })))
}

/// Removes quarantine entries past their retention, once an hour (and at start).
async fn expire_quarantine(quarantine: Arc<quarantine::Quarantine>, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        let q = Arc::clone(&quarantine);
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        match tokio::task::spawn_blocking(move || q.expire(now)).await {
            Ok(Ok(n)) if n > 0 => {
                tracing::info!(removed = n, "quarantine retention: expired entries removed")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "quarantine retention failed; will retry"),
            Err(e) => tracing::error!(error = %e, "quarantine retention task failed"),
        }
    }
}

/// What the queue manager's delivery tasks share.
fn delivery(
    config: &GatewayConfig,
    settings: &Settings,
    enqueue: &enqueue::Enqueue,
    directory: Option<Arc<directory::SharedSnapshot>>,
    health: Arc<DirectoryHealth>,
    guard: Option<Arc<guard::OutboundGuard>>,
    recorder: record::Recorder,
) -> Result<queue_manager::Delivery, GatewayError> {
    let postmaster = settings.static_domains.postmaster_domain().map(str::to_string);
    let maildir = Arc::new(maildir::MaildirDelivery::new(
        config.delivery.maildir_root.clone(),
        &config.hostname,
        postmaster,
    ));
    let dns = dns::Dns::new(config.delivery.dns_resolver)?;
    // RFC 5321 4.5.3.2 timeouts; the trust roots are built once for every attempt.
    let client = outbound::ClientConfig::new(
        config.hostname.clone(),
        outbound::trust_roots(config.delivery.tls_ca_file.as_deref())?,
    );
    Ok(queue_manager::Delivery {
        spool: enqueue.spool.clone(),
        router: routing::Router {
            directory: directory.clone(),
            health,
            // Static accepted domains are read once: a reload that changes them applies
            // to new sessions at once and to routing at the next start.
            static_domains: Arc::clone(&settings.static_domains),
            maildir: Arc::clone(&maildir),
        },
        maildir,
        remote: remote::RemoteContext { dns, client, mx_port: config.delivery.mx_port },
        notifier: notify::Notifier {
            reporting_mta: config.hostname.clone(),
            admin_base_url: config.delivery.admin_url.clone(),
            directory,
        },
        enqueue: enqueue.clone(),
        guard,
        recorder,
    })
}

/// How often closed windows of the deferral log are written out.
const DEFERRAL_LOG_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

/// Loads the history and the counters, reads the allow list and starts the saver task and
/// the deferral log's flusher, which finish once `sessions_done` says so.
async fn start_throttling(
    config: &ThrottleConfig,
    background: &mut JoinSet<()>,
    sessions_done: &watch::Receiver<bool>,
) -> Result<Arc<throttling::Throttling>, GatewayError> {
    let store: Arc<dyn history::HistoryStore> =
        Arc::new(history::FileHistoryStore::new(config.history_dir.clone()));
    let loader = Arc::clone(&store);
    let policy = config.policy.clone();
    let engine = tokio::task::spawn_blocking(move || loader.load(policy)).await.map_err(|e| {
        history::HistoryError::Corrupt { path: config.history_dir.clone(), reason: e.to_string() }
    })??;
    tracing::info!(keys = engine.tracked_keys(), mode = %config.mode, "throttle history loaded");
    metrics::global().throttle_tracked_keys.set(engine.tracked_keys() as i64);
    let allow = allow_list::read(&config.allow_file)?;
    let throttling = Arc::new(throttling::Throttling::new(Arc::new(engine), allow, config.mode));
    restore_counters(&throttling, store.as_ref());
    metrics::global().watch_throttling(Arc::clone(&throttling));
    background.spawn(save_history(
        Arc::clone(&throttling),
        store,
        config.save_interval,
        config.full_save_every.max(1),
        sessions_done.clone(),
    ));
    background.spawn(flush_deferral_log(Arc::clone(&throttling), sessions_done.clone()));
    Ok(throttling)
}

/// The counters saved with the history. Damaged counters cost the counts, never the start.
fn restore_counters(throttling: &throttling::Throttling, store: &dyn history::HistoryStore) {
    match store.load_counters() {
        Ok(saved) => {
            let unknown = throttling.counters().restore(&saved);
            if !unknown.is_empty() {
                tracing::warn!(?unknown, "saved throttle counters this version does not know were dropped");
            }
        }
        Err(e) => tracing::warn!(error = %e, "throttle counters start from zero"),
    }
}

/// Writes the deferral log's closed windows every few seconds, and every open one once the
/// sessions are done.
async fn flush_deferral_log(
    throttling: Arc<throttling::Throttling>,
    mut sessions_done: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(DEFERRAL_LOG_FLUSH);
    loop {
        tokio::select! {
            _ = ticker.tick() => throttling.flush_log(),
            _ = sessions_done.changed() => break,
        }
    }
    throttling.drain_log();
}

/// Saves changed history and the counters every `interval` (a full snapshot every
/// `full_every` saves) on a blocking thread, and a full snapshot once the sessions are done
/// (shutdown). Sessions keep deciding meanwhile: the engine copies one shard at a time under
/// its lock.
async fn save_history(
    throttling: Arc<throttling::Throttling>,
    store: Arc<dyn history::HistoryStore>,
    interval: std::time::Duration,
    full_every: u32,
    mut sessions_done: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    let mut saves: u32 = 0;
    loop {
        let stopping = tokio::select! {
            _ = ticker.tick() => false,
            _ = sessions_done.changed() => true,
        };
        saves = saves.wrapping_add(1);
        metrics::global().throttle_tracked_keys.set(throttling.engine().tracked_keys() as i64);
        let full = stopping || saves.is_multiple_of(full_every);
        let (throttling, store) = (Arc::clone(&throttling), Arc::clone(&store));
        let saved = tokio::task::spawn_blocking(move || {
            let engine = throttling.engine();
            if full { store.save_full(engine) } else { store.save_delta(engine) }?;
            store.save_counters(&throttling.counters().values())
        })
        .await;
        match saved {
            Ok(Ok(())) => tracing::debug!(full, "throttle history saved"),
            Ok(Err(e)) => tracing::error!(error = %e, "saving throttle history failed; will retry"),
            Err(e) => tracing::error!(error = %e, "throttle history saver panicked"),
        }
        if stopping {
            break;
        }
    }
}

/// The directory, the outbound guard that follows it, and whether it can be trusted.
type DirectoryParts =
    (Arc<directory::SharedSnapshot>, Option<Arc<guard::OutboundGuard>>, Arc<DirectoryHealth>);

/// Loads the first snapshot (refusing a directory emptied or older than the watermark
/// unless it is accepted; starting without one when it cannot be read) and starts the
/// follower that rebuilds it when the CLI (or another process or node) changes the store;
/// outbound protection (when configured) follows each snapshot's blocks. Like the follower,
/// it reads the store on a blocking thread: the PostgreSQL client must not run on an async
/// worker.
async fn start_directory(
    access: DirectoryAccess,
    protection: Option<protection::Policy>,
    background: &mut JoinSet<()>,
    stop: &watch::Receiver<bool>,
) -> Result<DirectoryParts, GatewayError> {
    let (accept, watermark) = (access.accept_younger, access.watermark.clone());
    let shared = Arc::new(directory::SharedSnapshot::new(Arc::new(directory::Snapshot::default())));
    let mut follower = follower::Follower::new(access);
    let loader = Arc::clone(&shared);
    let first = tokio::task::spawn_blocking(move || {
        let round = follower.first_round(&loader, accept);
        (follower, round)
    })
    .await;
    let (follower, round) = first.map_err(|e| directory::StoreError::Backend {
        operation: "loading the directory".into(),
        cause: Box::new(e),
    })?;
    let round = round.map_err(|why| GatewayError::DirectoryYounger { why, watermark })?;
    let health = Arc::new(DirectoryHealth::unloaded());
    let first = shared.current();
    health.record(&round, &first);
    if health.loaded() {
        tracing::info!(generation = first.generation(), "directory loaded");
    }
    let guard = protection.map(|policy| {
        let protection = protection::Protection::new(policy, Box::new(protection::HeuristicScorer));
        let guard = guard::OutboundGuard::new(protection);
        guard.follow(&first);
        Arc::new(guard)
    });
    let follower = Arc::new(std::sync::Mutex::new(follower));
    background.spawn(follower::run(
        follower,
        Arc::clone(&shared),
        guard.clone(),
        Arc::clone(&health),
        stop.clone(),
    ));
    Ok((shared, guard, health))
}
