//! The exchange task's connection to Redis: connected on demand under a timeout, dropped on
//! the first error, and every change between reachable and unreachable logged and counted.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use super::{Fleet, FleetError};

/// Connecting and each command give up after this long: the exchange must not stall.
const TIMEOUT: Duration = Duration::from_secs(1);
/// While Redis is unreachable, a reconnection is tried this often ...
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// ... and the outage is logged again this often.
const REMIND_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(crate) struct Link {
    client: redis::Client,
    /// `redis://host:port/db` without credentials, for logs.
    pub(crate) shown: String,
    conn: Option<MultiplexedConnection>,
    pub(crate) fleet: Arc<Fleet>,
    down: Option<Outage>,
}

#[derive(Debug)]
struct Outage {
    since: Instant,
    last_try: Instant,
    last_log: Instant,
}

/// `redis://host:port/db`, without credentials (for logs and `check-config`).
pub(crate) fn shown(client: &redis::Client) -> String {
    let info = client.get_connection_info();
    format!("redis://{}/{}", info.addr(), info.redis_settings().db())
}

fn unix_s() -> u64 {
    crate::inbound::throttling::now_s()
}

impl Link {
    pub(crate) fn new(url: &str, fleet: Arc<Fleet>) -> Result<Link, FleetError> {
        let client = redis::Client::open(url).map_err(|e| FleetError::Url(e.to_string()))?;
        let shown = shown(&client);
        Ok(Link { client, shown, conn: None, fleet, down: None })
    }

    /// The connection, connecting first if need be (not more than once a second while
    /// Redis is unreachable); None while it is.
    pub(crate) async fn conn(&mut self) -> Option<&mut MultiplexedConnection> {
        if self.conn.is_none() {
            if self.down.as_ref().is_some_and(|d| d.last_try.elapsed() < RETRY_EVERY) {
                return None;
            }
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(TIMEOUT))
                .set_response_timeout(Some(TIMEOUT));
            match self.client.get_multiplexed_async_connection_with_config(&config).await {
                Ok(conn) => self.up(conn),
                Err(e) => {
                    self.failed(&e);
                    return None;
                }
            }
        }
        self.conn.as_mut()
    }

    fn up(&mut self, conn: MultiplexedConnection) {
        if let Some(outage) = self.down.take() {
            tracing::info!(redis = %self.shown, outage_s = outage.since.elapsed().as_secs(), "Redis reachable again: publishing the counts kept meanwhile and catching up with the other nodes");
        }
        self.fleet.set_connection(Some(conn.clone()));
        self.conn = Some(conn);
        let stats = &self.fleet.stats;
        stats.connected.store(true, Ordering::Relaxed);
        stats.down_since_unix_s.store(0, Ordering::Relaxed);
    }

    /// A command or a connection failed: the connection is dropped and the outage noted.
    pub(crate) fn failed(&mut self, error: &redis::RedisError) {
        let stats = &self.fleet.stats;
        stats.errors.fetch_add(1, Ordering::Relaxed);
        self.conn = None;
        self.fleet.set_connection(None);
        let now = Instant::now();
        match &mut self.down {
            None => {
                stats.outages.fetch_add(1, Ordering::Relaxed);
                stats.connected.store(false, Ordering::Relaxed);
                stats.down_since_unix_s.store(unix_s(), Ordering::Relaxed);
                tracing::warn!(redis = %self.shown, error = %error, "Redis unreachable: deciding on this node's own view; its counts are kept and sent when Redis returns");
                self.down = Some(Outage { since: now, last_try: now, last_log: now });
            }
            Some(outage) => {
                outage.last_try = now;
                if outage.last_log.elapsed() >= REMIND_EVERY {
                    outage.last_log = now;
                    tracing::warn!(redis = %self.shown, outage_s = outage.since.elapsed().as_secs(), error = %error, "Redis still unreachable: deciding locally");
                }
            }
        }
    }
}
