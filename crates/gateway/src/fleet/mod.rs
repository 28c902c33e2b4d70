//! Fleet mode over Redis (`[throttle] redis_url`): the nodes of a fleet exchange the counts
//! behind their decisions so that each decides on the fleet's traffic, while every decision
//! stays local (no Redis round trip on the RCPT path).
//!
//! One task per node ([`exchange::run`]) does all of it, every `exchange_interval` (250 ms):
//! it takes the throttle engine's pending counts (and a copy of each changed record) and
//! outbound protection's count events, publishes them (two Redis streams, records as keys
//! with a TTL), and merges what the other nodes published since its last read. What a node
//! decides on is thus at most about two intervals behind the fleet (the publisher's tick,
//! then the reader's), plus Redis' latency: under a second with the default.
//!
//! At start ([`bootstrap`]) a node loads the shared records (the newer of its own saved
//! history and the fleet's wins) before its listeners open, within `bootstrap_wait`.
//!
//! Redis unreachable: nothing waits. Decisions go on with the local view, the engine keeps
//! summing its pending counts (bounded; overflow dropped and counted), the outage is logged
//! when it starts, every minute while it lasts, and when it ends, and counted in
//! [`FleetStats`] (`sluice throttle stats`); on reconnection the counts kept meanwhile are
//! published and the streams read from where this node stopped, so the fleet converges.
//!
//! DNSBL verdicts are shared too ([`SharedVerdicts`]): a node asks Redis (at most 50 ms)
//! before asking the zones, and publishes its verdicts with the same five-minute TTL.
//!
//! Redis memory, per tracked key: one string of 24 + 17 key bytes and 60 value bytes with a
//! TTL (`history_ttl`), about 150 bytes with Redis' own overhead (measured by a test); the
//! two streams are capped at `stream_entries_max` entries each (approximate trimming), an
//! entry holding one node's counts of one interval (41 bytes per key); DNSBL verdicts are a
//! short string per client IP for five minutes.

mod exchange;
mod link;

pub(crate) use exchange::bootstrap;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

pub(crate) use link::Link;

/// Keys and streams, all under one prefix.
pub(crate) const THROTTLE_STREAM: &str = "sluice:throttle:deltas";
pub(crate) const PROTECTION_STREAM: &str = "sluice:protection:events";
pub(crate) const RECORD_PREFIX: &[u8] = b"sluice:throttle:record:";
const DNSBL_PREFIX: &str = "sluice:dnsbl:";
/// How long a session may wait for a shared DNSBL verdict before asking the zones itself.
const DNSBL_SHARED_WAIT: Duration = Duration::from_millis(50);
/// Verdicts waiting to be published, at most.
const DNSBL_QUEUE_MAX: usize = 10_000;

/// The resolved fleet settings.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS).
    pub redis_url: String,
    /// This process's name in the streams (its own entries are skipped when read); see
    /// [`node_name`].
    pub node: String,
    /// How often counts are published and read.
    pub exchange_interval: Duration,
    /// How long a key's shared record lives in Redis after its last update.
    pub history_ttl: Duration,
    /// Entries kept per stream (approximately).
    pub stream_entries_max: u64,
    /// Keys whose throttle counts may wait for the next publication (also through an outage).
    pub pending_keys_max: usize,
    /// Outbound protection events that may wait likewise.
    pub pending_events_max: usize,
    /// How long the start may wait for the shared history before listening.
    pub bootstrap_wait: Duration,
}

impl FleetConfig {
    /// The defaults for `redis_url`, with `node` naming this node.
    pub fn new(redis_url: String, node: String) -> FleetConfig {
        FleetConfig {
            redis_url,
            node,
            exchange_interval: Duration::from_millis(250),
            history_ttl: Duration::from_secs(30 * 86_400),
            stream_entries_max: 10_000,
            pending_keys_max: 1_000_000,
            pending_events_max: 200_000,
            bootstrap_wait: Duration::from_secs(10),
        }
    }
}

impl FleetConfig {
    /// The Redis URL without credentials, or why it is not one.
    pub fn shown_url(&self) -> Result<String, FleetError> {
        let client =
            redis::Client::open(self.redis_url.as_str()).map_err(|e| FleetError::Url(e.to_string()))?;
        Ok(link::shown(&client))
    }
}

/// What the exchange did, for `sluice throttle stats` (and metrics).
#[derive(Debug, Default)]
pub struct FleetStats {
    pub connected: AtomicBool,
    /// Times Redis became unreachable.
    pub outages: AtomicU64,
    /// Unix seconds when the current outage began (0: none).
    pub down_since_unix_s: AtomicU64,
    /// Redis commands that failed or timed out.
    pub errors: AtomicU64,
    pub batches_published: AtomicU64,
    pub batches_merged: AtomicU64,
    pub throttle_deltas_merged: AtomicU64,
    pub protection_events_merged: AtomicU64,
    /// Of those, queued messages judged for the threshold (one per message, where a message
    /// also brings an event per recipient).
    pub protection_messages_merged: AtomicU64,
    /// Counts dropped because the pending tables were full (a long outage).
    pub counts_dropped: AtomicU64,
    /// Age of the newest entry read from another node when it was read, in ms.
    pub lag_ms: AtomicU64,
    pub shared_records_loaded: AtomicU64,
    /// Entries another node wrote that could not be read (logged).
    pub entries_unreadable: AtomicU64,
    pub dnsbl_shared_hits: AtomicU64,
}

impl FleetStats {
    /// `name value` lines, as the control socket's `stats` answers.
    pub fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let lines = [
            ("fleet_redis_connected", u64::from(self.connected.load(Ordering::Relaxed))),
            ("fleet_redis_outages", g(&self.outages)),
            ("fleet_redis_down_since_unix_s", g(&self.down_since_unix_s)),
            ("fleet_redis_errors", g(&self.errors)),
            ("fleet_batches_published", g(&self.batches_published)),
            ("fleet_batches_merged", g(&self.batches_merged)),
            ("fleet_throttle_deltas_merged", g(&self.throttle_deltas_merged)),
            ("fleet_protection_events_merged", g(&self.protection_events_merged)),
            ("fleet_protection_messages_merged", g(&self.protection_messages_merged)),
            ("fleet_counts_dropped", g(&self.counts_dropped)),
            ("fleet_exchange_lag_ms", g(&self.lag_ms)),
            ("fleet_shared_records_loaded", g(&self.shared_records_loaded)),
            ("fleet_entries_unreadable", g(&self.entries_unreadable)),
            ("fleet_dnsbl_shared_hits", g(&self.dnsbl_shared_hits)),
        ];
        lines.iter().map(|(name, v)| format!("{name} {v}\n")).collect()
    }
}

/// The running fleet link's shared parts: its statistics, the connection the exchange task
/// keeps open (others borrow a clone, never wait for one), and DNSBL verdicts to publish.
#[derive(Debug)]
pub struct Fleet {
    pub stats: Arc<FleetStats>,
    conn: Mutex<Option<redis::aio::MultiplexedConnection>>,
    verdicts: mpsc::Sender<(String, String)>,
}

impl Fleet {
    fn connection(&self) -> Option<redis::aio::MultiplexedConnection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn set_connection(&self, conn: Option<redis::aio::MultiplexedConnection>) {
        *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = conn;
    }
}

/// DNSBL verdicts shared between nodes; a handle the DNSBL checker holds.
#[derive(Clone, Debug)]
pub struct SharedVerdicts {
    fleet: Arc<Fleet>,
    /// Distinguishes configurations: nodes asking other zones do not share verdicts.
    zones_tag: String,
}

impl SharedVerdicts {
    pub fn new(fleet: Arc<Fleet>, zones: &[String]) -> SharedVerdicts {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in zones.join(",").bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        SharedVerdicts { fleet, zones_tag: format!("{h:016x}") }
    }

    fn key(&self, ip: IpAddr) -> String {
        format!("{DNSBL_PREFIX}{}:{ip}", self.zones_tag)
    }

    /// Another node's verdict for `ip` (`Some("")`: not listed; `Some("zone\tanswer")`), if
    /// Redis has one and answers within 50 ms; never waits while Redis is down.
    pub async fn get(&self, ip: IpAddr) -> Option<String> {
        let mut conn = self.fleet.connection()?;
        let key = self.key(ip);
        let mut cmd = redis::cmd("GET");
        cmd.arg(&key);
        let ask = cmd.query_async::<Option<String>>(&mut conn);
        let found = tokio::time::timeout(DNSBL_SHARED_WAIT, ask).await.ok()?.ok()??;
        self.fleet.stats.dnsbl_shared_hits.fetch_add(1, Ordering::Relaxed);
        Some(found)
    }

    /// Queues this node's verdict for publication (dropped when the queue is full).
    pub fn put(&self, ip: IpAddr, verdict: String) {
        let _ = self.fleet.verdicts.try_send((self.key(ip), verdict));
    }
}

/// What the exchange joins to the fleet: the throttle engine (when throttling is on), outbound
/// protection and the directory (when the directory store is configured).
#[derive(Debug)]
pub struct Joined {
    pub engine: Option<Arc<throttle::Engine>>,
    pub guard: Option<Arc<crate::guard::OutboundGuard>>,
    pub directory: Option<Arc<directory::SharedSnapshot>>,
}

/// Connects (briefly: an unreachable Redis only delays the start by `bootstrap_wait`), loads
/// the shared history into the engine, and starts the exchange task.
pub async fn start(
    config: FleetConfig,
    joined: Joined,
    background: &mut JoinSet<()>,
    stop: &watch::Receiver<bool>,
) -> Result<Arc<Fleet>, FleetError> {
    let (verdicts, verdict_rx) = mpsc::channel(DNSBL_QUEUE_MAX);
    let fleet = Arc::new(Fleet { stats: Arc::default(), conn: Mutex::new(None), verdicts });
    let mut link = Link::new(&config.redis_url, Arc::clone(&fleet))?;
    let Joined { engine, guard, directory } = joined;
    if let Some(engine) = &engine {
        engine.enable_exchange(config.pending_keys_max);
    }
    if let Some(guard) = &guard {
        guard.protection.enable_exchange(config.pending_events_max);
    }
    tracing::info!(redis = %link.shown, node = %config.node, interval_ms = config.exchange_interval.as_millis() as u64, "fleet mode: sharing throttle history and outbound counters through Redis");
    let cursor = bootstrap(&mut link, engine.as_deref(), &config).await;
    let parts = exchange::Parts { engine, guard, directory, verdicts: verdict_rx };
    background.spawn(exchange::run(link, parts, cursor, config, stop.clone()));
    Ok(fleet)
}

/// A name for this process in the streams, unique across restarts and nodes sharing a host
/// name: the host name, the process id and the start time.
pub fn node_name(hostname: &str) -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    format!("{hostname}:{}:{ms}", std::process::id())
}

/// Why fleet mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("throttle.redis_url: {0}; expected redis://host:port[/db] or rediss://...")]
    Url(String),
}
