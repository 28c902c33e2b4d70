//! The exchange task: publish this node's counts, merge the other nodes', every interval;
//! and the shared history a node loads at start.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use directory::{SharedSnapshot, TenantId};
use protection::exchange::CountEvent;
use redis::Value;
use redis::streams::StreamReadReply;
use throttle::Engine;
use throttle::exchange::{KEY_BYTES, KeyDelta, SharedRecord, decode_deltas, encode_deltas};
use tokio::sync::{mpsc, watch};

use super::{FleetConfig, FleetStats, Link, PROTECTION_STREAM, RECORD_PREFIX, THROTTLE_STREAM};
use crate::guard::OutboundGuard;

/// Deltas per stream entry (41 bytes each: under a megabyte).
const DELTAS_PER_ENTRY: usize = 20_000;
/// Entries read per stream and round, and rounds per interval (catching up after an outage).
const READ_COUNT: usize = 200;
const READ_ROUNDS_MAX: usize = 25;
/// A protection entry larger than this is not parsed (other nodes write far less).
const EVENTS_ENTRY_BYTES_MAX: usize = 32 << 20;
/// Shared records asked for per round trip at start.
const BOOTSTRAP_BATCH: usize = 1_000;
/// A DNSBL verdict's lifetime in Redis, as in each node's own cache.
const DNSBL_TTL_S: u64 = 300;

/// What the exchange feeds and is fed by.
#[derive(Debug)]
pub(crate) struct Parts {
    pub engine: Option<Arc<Engine>>,
    pub guard: Option<Arc<OutboundGuard>>,
    pub directory: Option<Arc<SharedSnapshot>>,
    pub verdicts: mpsc::Receiver<(String, String)>,
}

/// Where this node's reading of the two streams stands (stream entry ids).
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    throttle: String,
    protection: String,
}

impl Cursor {
    /// From now on: entry ids start with their Unix time in milliseconds.
    fn now() -> Cursor {
        let id = format!("{}-0", now_ms());
        Cursor { throttle: id.clone(), protection: id }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// One interval's counts, kept until Redis has them.
#[derive(Debug, Default)]
struct Batch {
    deltas: Vec<KeyDelta>,
    records: Vec<SharedRecord>,
    events: Vec<CountEvent>,
    verdicts: Vec<(String, String)>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.deltas.is_empty() && self.events.is_empty() && self.verdicts.is_empty()
    }
}

/// Loads the fleet's shared throttle history into `engine` (the newer record wins), within
/// `bootstrap_wait`, and says where to start reading the streams: after their last entries
/// at the time (what the loaded records already hold), or from now when Redis is down.
pub(crate) async fn bootstrap(link: &mut Link, engine: Option<&Engine>, config: &FleetConfig) -> Cursor {
    let shown = link.shown.clone();
    match tokio::time::timeout(config.bootstrap_wait, load_shared(link, engine)).await {
        Ok(Ok((cursor, loaded))) => {
            tracing::info!(redis = %shown, records = loaded, "shared throttle history loaded");
            cursor
        }
        Ok(Err(e)) => {
            link.failed(&e);
            tracing::warn!(redis = %shown, error = %e, "shared throttle history not loaded: starting on this node's own history");
            Cursor::now()
        }
        Err(_) => {
            let loaded = link.fleet.stats.shared_records_loaded.load(Ordering::Relaxed);
            tracing::warn!(redis = %shown, records = loaded, wait_s = config.bootstrap_wait.as_secs(), "shared throttle history not fully loaded in time: starting with what was loaded");
            Cursor::now()
        }
    }
}

async fn load_shared(link: &mut Link, engine: Option<&Engine>) -> redis::RedisResult<(Cursor, usize)> {
    let stats = Arc::clone(&link.fleet.stats);
    let Some(conn) = link.conn().await else {
        return Err(redis::RedisError::from((redis::ErrorKind::Io, "cannot connect")));
    };
    let mut cursor = Cursor::now();
    for (stream, id) in [(THROTTLE_STREAM, &mut cursor.throttle), (PROTECTION_STREAM, &mut cursor.protection)]
    {
        let last: Value = redis::cmd("XREVRANGE")
            .arg(stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(conn)
            .await?;
        *id = last_id(&last).unwrap_or_else(|| "0-0".into());
    }
    let Some(engine) = engine else { return Ok((cursor, 0)) };
    let mut pattern = RECORD_PREFIX.to_vec();
    pattern.push(b'*');
    let (mut scan, mut loaded) = (0u64, 0usize);
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(scan)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(BOOTSTRAP_BATCH)
            .query_async(conn)
            .await?;
        if !keys.is_empty() {
            let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET").arg(&keys).query_async(conn).await?;
            let records: Vec<SharedRecord> =
                keys.iter().zip(values).filter_map(|(k, v)| shared_record(k, v?)).collect();
            match engine.import_shared(&records) {
                Ok(n) => loaded += n,
                Err(e) => tracing::warn!(error = %e, "skipping a damaged batch of shared throttle records"),
            }
            stats.shared_records_loaded.store(loaded as u64, Ordering::Relaxed);
        }
        if next == 0 {
            return Ok((cursor, loaded));
        }
        scan = next;
    }
}

fn shared_record(key: &[u8], value: Vec<u8>) -> Option<SharedRecord> {
    let k: [u8; KEY_BYTES] = key.strip_prefix(RECORD_PREFIX)?.try_into().ok()?;
    Some(SharedRecord { key: k, bytes: value.try_into().ok()? })
}

/// The id of the single entry of an XREVRANGE ... COUNT 1 reply.
fn last_id(reply: &Value) -> Option<String> {
    let Value::Array(entries) = reply else { return None };
    let Value::Array(entry) = entries.first()? else { return None };
    match entry.first()? {
        Value::BulkString(id) => String::from_utf8(id.clone()).ok(),
        Value::SimpleString(id) => Some(id.clone()),
        _ => None,
    }
}

/// Every `exchange_interval` until shutdown (then one last publication).
pub(crate) async fn run(
    mut link: Link,
    mut parts: Parts,
    mut cursor: Cursor,
    config: FleetConfig,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(config.exchange_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut unsent: Option<Batch> = None;
    loop {
        let stopping = tokio::select! {
            _ = ticker.tick() => false,
            _ = stop.changed() => true,
        };
        exchange_once(&mut link, &mut parts, &mut cursor, &mut unsent, &config).await;
        if stopping {
            break;
        }
    }
}

async fn exchange_once(
    link: &mut Link,
    parts: &mut Parts,
    cursor: &mut Cursor,
    unsent: &mut Option<Batch>,
    config: &FleetConfig,
) {
    if link.conn().await.is_none() {
        // Down: counts go on summing in the engine and the outbox until Redis returns.
        return;
    }
    let batch = unsent.take().unwrap_or_else(|| collect(parts, link));
    if !batch.is_empty() {
        if let Err(e) = publish(link, &batch, config).await {
            link.failed(&e);
            *unsent = Some(batch);
            return;
        }
        link.fleet.stats.batches_published.fetch_add(1, Ordering::Relaxed);
    }
    if let Err(e) = read(link, parts, cursor, &config.node).await {
        link.failed(&e);
    }
}

fn collect(parts: &mut Parts, link: &Link) -> Batch {
    let mut batch = Batch::default();
    let mut dropped = 0;
    if let Some(engine) = &parts.engine {
        dropped += engine.export(&mut batch.deltas, Some(&mut batch.records)).dropped;
    }
    if let Some(guard) = &parts.guard {
        dropped += guard.protection.take_events(&mut batch.events);
    }
    while let Ok(v) = parts.verdicts.try_recv() {
        batch.verdicts.push(v);
    }
    if dropped > 0 {
        link.fleet.stats.counts_dropped.fetch_add(dropped, Ordering::Relaxed);
        tracing::warn!(
            dropped,
            "fleet exchange: counts dropped while waiting for Redis (pending tables full)"
        );
    }
    batch
}

async fn publish(link: &mut Link, batch: &Batch, config: &FleetConfig) -> redis::RedisResult<()> {
    // All or nothing: a batch retried after a failure is not counted twice.
    let mut pipe = redis::pipe();
    pipe.atomic();
    let xadd = |pipe: &mut redis::Pipeline, stream: &str, field: &str, payload: Vec<u8>| {
        pipe.cmd("XADD")
            .arg(stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(config.stream_entries_max)
            .arg("*")
            .arg("node")
            .arg(&config.node)
            .arg(field)
            .arg(payload)
            .ignore();
    };
    for chunk in batch.deltas.chunks(DELTAS_PER_ENTRY) {
        let mut bytes = Vec::new();
        encode_deltas(chunk, &mut bytes);
        xadd(&mut pipe, THROTTLE_STREAM, "d", bytes);
    }
    let ttl = config.history_ttl.as_secs().max(1);
    for r in &batch.records {
        let key = [RECORD_PREFIX, &r.key[..]].concat();
        pipe.cmd("SET").arg(key).arg(&r.bytes[..]).arg("EX").arg(ttl).ignore();
    }
    if !batch.events.is_empty() {
        let json = serde_json::to_vec(&batch.events).unwrap_or_default();
        xadd(&mut pipe, PROTECTION_STREAM, "e", json);
    }
    for (key, verdict) in &batch.verdicts {
        pipe.cmd("SET").arg(key).arg(verdict).arg("EX").arg(DNSBL_TTL_S).ignore();
    }
    let Some(conn) = link.conn().await else {
        return Err(redis::RedisError::from((redis::ErrorKind::Io, "connection lost")));
    };
    pipe.query_async::<()>(conn).await
}

/// Reads what the other nodes published since the cursor, in rounds until caught up.
async fn read(link: &mut Link, parts: &Parts, cursor: &mut Cursor, node: &str) -> redis::RedisResult<()> {
    for _ in 0..READ_ROUNDS_MAX {
        let Some(conn) = link.conn().await else { return Ok(()) };
        let reply: Option<StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(READ_COUNT)
            .arg("STREAMS")
            .arg(THROTTLE_STREAM)
            .arg(PROTECTION_STREAM)
            .arg(&cursor.throttle)
            .arg(&cursor.protection)
            .query_async(conn)
            .await?;
        let Some(reply) = reply else { return Ok(()) };
        let mut full = false;
        for key in reply.keys {
            full |= key.ids.len() >= READ_COUNT;
            let throttle = key.key == THROTTLE_STREAM;
            for entry in key.ids {
                let from_self =
                    matches!(entry.map.get("node"), Some(Value::BulkString(n)) if n == node.as_bytes());
                if !from_self {
                    merge_entry(link, parts, throttle, &entry);
                }
                if throttle {
                    cursor.throttle = entry.id
                } else {
                    cursor.protection = entry.id
                };
            }
        }
        if !full {
            return Ok(());
        }
    }
    Ok(())
}

fn merge_entry(link: &Link, parts: &Parts, throttle: bool, entry: &redis::streams::StreamId) {
    let stats = &link.fleet.stats;
    let field = if throttle { "d" } else { "e" };
    let Some(Value::BulkString(payload)) = entry.map.get(field) else {
        stats.entries_unreadable.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if let Some(ms) = entry.id.split('-').next().and_then(|ms| ms.parse::<u64>().ok()) {
        stats.lag_ms.store(now_ms().saturating_sub(ms), Ordering::Relaxed);
    }
    let now = crate::inbound::throttling::now_s();
    let merged = if throttle {
        merge_deltas(parts.engine.as_deref(), payload, now)
    } else {
        merge_events(parts, payload, now, stats)
    };
    match merged {
        Ok(n) => {
            stats.batches_merged.fetch_add(1, Ordering::Relaxed);
            let counter =
                if throttle { &stats.throttle_deltas_merged } else { &stats.protection_events_merged };
            counter.fetch_add(n as u64, Ordering::Relaxed);
        }
        Err(problem) => {
            stats.entries_unreadable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(entry = %entry.id, %problem, "fleet exchange: skipping an entry another node wrote");
        }
    }
}

fn merge_deltas(engine: Option<&Engine>, payload: &[u8], now: u64) -> Result<usize, String> {
    let Some(engine) = engine else { return Ok(0) };
    let deltas = decode_deltas(payload).map_err(|e| e.to_string())?;
    Ok(engine.merge_remote(&deltas, now))
}

fn merge_events(parts: &Parts, payload: &[u8], now: u64, stats: &FleetStats) -> Result<usize, String> {
    let Some(guard) = &parts.guard else { return Ok(0) };
    if payload.len() > EVENTS_ENTRY_BYTES_MAX {
        return Err(format!("{} bytes of protection events", payload.len()));
    }
    let mut events: Vec<CountEvent> = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    // Tenants come from the directory, never from the wire: counts for a tenant this node
    // does not know are left out (the protection tables are keyed by tenants).
    let snapshot = parts.directory.as_ref().map(|d| d.current());
    events.retain(|e| {
        TenantId::parse(e.tenant())
            .ok()
            .is_some_and(|t| snapshot.as_ref().is_some_and(|s| s.tenant(&t).is_some()))
    });
    guard.merge_remote(&events, now);
    let messages = events.iter().filter(|e| matches!(e, CountEvent::Message { .. })).count();
    stats.protection_messages_merged.fetch_add(messages as u64, Ordering::Relaxed);
    Ok(events.len())
}
