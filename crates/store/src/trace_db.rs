//! The message trace in its own SQLite file (`<data_dir>/trace.db`): written in batches off
//! the SMTP path ([`TraceWriter`]), searched by the admin plane, pruned by age and size.
//!
//! Its own file because its write rate and retention have nothing in common with the
//! directory's: a busy trace never makes a directory edit wait, and pruning it never
//! touches the directory. `synchronous = NORMAL`: a power cut may lose the last batches of
//! trace (never a message: the spool is the record of those), and each batch costs no
//! fsync. `auto_vacuum = INCREMENTAL` hands pruned pages back to the file system.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sql::{BackendError, Doing, to_i64 as i, to_u64 as u};
use directory::TenantId;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use trace::{
    Cursor, Direction, MessageStatus, MessageSummary, MessageTrace, Outcome, PAGE_MAX, Page, PruneReport,
    Received, RecipientEvent, RecipientStatus, Refusal, RefusalQuery, RefusalRow, Retention, TimelineEntry,
    TraceError, TraceEvent, TraceQuery, TraceStore,
};

const MIGRATIONS: &[&str] = &[r"
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        spool_id TEXT NOT NULL UNIQUE,
        received_at INTEGER NOT NULL,
        client_ip TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
        sender TEXT NOT NULL COLLATE NOCASE,
        message_id TEXT COLLATE NOCASE,
        status TEXT NOT NULL,
        received TEXT NOT NULL
    ) STRICT;
    CREATE INDEX messages_by_time ON messages (received_at, id);
    CREATE INDEX messages_by_sender ON messages (sender);
    CREATE INDEX messages_by_message_id ON messages (message_id);
    CREATE INDEX messages_by_ip ON messages (client_ip, received_at);

    CREATE TABLE message_tenants (
        message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        tenant_id TEXT NOT NULL,
        PRIMARY KEY (tenant_id, message)
    ) STRICT;
    CREATE INDEX message_tenants_by_message ON message_tenants (message);

    CREATE TABLE message_recipients (
        message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        address TEXT NOT NULL COLLATE NOCASE,
        status TEXT NOT NULL,
        PRIMARY KEY (message, position)
    ) STRICT;
    CREATE INDEX recipients_by_address ON message_recipients (address);

    CREATE TABLE steps (
        id INTEGER PRIMARY KEY,
        message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        at INTEGER NOT NULL,
        recipient TEXT NOT NULL,
        outcome TEXT NOT NULL
    ) STRICT;
    CREATE INDEX steps_by_message ON steps (message, at, id);

    CREATE TABLE refusals (
        id INTEGER PRIMARY KEY,
        minute INTEGER NOT NULL,
        client_ip TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipient_domain TEXT NOT NULL,
        reply TEXT NOT NULL,
        tenant_id TEXT,
        direction TEXT NOT NULL,
        count INTEGER NOT NULL,
        first_at INTEGER NOT NULL,
        last_at INTEGER NOT NULL,
        UNIQUE (minute, client_ip, sender, recipient_domain, reply)
    ) STRICT;
    CREATE INDEX refusals_by_time ON refusals (minute, id);
    CREATE INDEX refusals_by_tenant ON refusals (tenant_id, minute);
    CREATE INDEX refusals_by_ip ON refusals (client_ip, minute);
"];

/// The trace database.
#[derive(Debug)]
pub struct SqliteTraceStore {
    conn: Connection,
}

impl SqliteTraceStore {
    /// Opens (creating if needed) the trace database at `path`.
    pub fn open(path: &Path) -> Result<SqliteTraceStore, TraceError> {
        let op = format!("opening {}", path.display());
        let conn = Connection::open(path).doing(&op)?;
        conn.busy_timeout(Duration::from_secs(5)).doing(&op)?;
        // Takes effect only before the first table exists, which is when it matters.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").doing(&op)?;
        conn.pragma_update(None, "journal_mode", "WAL").doing(&op)?;
        conn.pragma_update(None, "synchronous", "NORMAL").doing(&op)?;
        conn.pragma_update(None, "foreign_keys", true).doing(&op)?;
        let mut store = SqliteTraceStore { conn };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), TraceError> {
        const OP: &str = "migrating the trace schema";
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).doing(OP)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT")
            .doing(OP)?;
        let found: Option<i64> =
            tx.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0)).doing(OP)?;
        let applied = usize::try_from(found.unwrap_or(0)).unwrap_or(usize::MAX);
        if applied > MIGRATIONS.len() {
            let source = crate::SchemaTooNew { found: found.unwrap_or(0), known: MIGRATIONS.len() };
            return Err(TraceError::backend(OP.into(), Box::new(source)));
        }
        for migration in &MIGRATIONS[applied..] {
            tx.execute_batch(migration).doing(OP)?;
        }
        tx.execute("DELETE FROM schema_version", []).doing(OP)?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [MIGRATIONS.len() as i64])
            .doing(OP)?;
        tx.commit().doing(OP)
    }

    /// Bytes the live rows take (the file less its free pages).
    pub fn used_bytes(&self) -> Result<u64, TraceError> {
        const OP: &str = "measuring the trace";
        let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0)).doing(OP)?;
        let free: i64 = self.conn.query_row("PRAGMA freelist_count", [], |r| r.get(0)).doing(OP)?;
        let size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0)).doing(OP)?;
        Ok(u((pages - free) * size))
    }
}

fn insert_received(tx: &Transaction<'_>, r: &Received) -> Result<(), TraceError> {
    const OP: &str = "recording a received message";
    let json = serde_json::to_string(r).doing(OP)?;
    let status = MessageStatus::of(&vec![RecipientStatus::Pending; r.recipients.len()]);
    let added = tx
        .execute(
            "INSERT OR IGNORE INTO messages (spool_id, received_at, client_ip, direction, sender, message_id, status, received)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                r.message,
                i(r.at_unix_ms),
                r.client_ip.to_string(),
                r.direction.as_str(),
                r.sender,
                r.message_id.as_deref().map(bare_message_id),
                status.as_str(),
                json
            ],
        )
        .doing(OP)?;
    if added == 0 {
        return Ok(()); // recorded before (a retried batch)
    }
    let id = tx.last_insert_rowid();
    for tenant in &r.tenants {
        tx.execute(
            "INSERT OR IGNORE INTO message_tenants (message, tenant_id) VALUES (?1, ?2)",
            params![id, tenant.as_str()],
        )
        .doing(OP)?;
    }
    for (position, address) in (0_i64..).zip(&r.recipients) {
        tx.execute(
            "INSERT INTO message_recipients (message, position, address, status) VALUES (?1, ?2, ?3, 'pending')",
            params![id, position, address],
        )
        .doing(OP)?;
    }
    Ok(())
}

/// A Message-ID as stored and searched: without surrounding space and angle brackets.
fn bare_message_id(text: &str) -> String {
    text.trim().trim_start_matches('<').trim_end_matches('>').to_string()
}

fn insert_step(tx: &Transaction<'_>, e: &RecipientEvent) -> Result<(), TraceError> {
    const OP: &str = "recording a recipient step";
    let Some(id) = tx
        .query_row("SELECT id FROM messages WHERE spool_id = ?1", [&e.message], |r| r.get::<_, i64>(0))
        .optional()
        .doing(OP)?
    else {
        return Ok(());
    };
    let outcome = serde_json::to_string(&e.outcome).doing(OP)?;
    tx.execute(
        "INSERT INTO steps (message, at, recipient, outcome) VALUES (?1, ?2, ?3, ?4)",
        params![id, i(e.at_unix_ms), e.recipient, outcome],
    )
    .doing(OP)?;
    let current: Option<(i64, String)> = tx
        .query_row(
            "SELECT position, status FROM message_recipients WHERE message = ?1 AND address = ?2 ORDER BY position LIMIT 1",
            params![id, e.recipient],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .doing(OP)?;
    if let Some((position, status)) = current {
        let status = RecipientStatus::parse(&status)
            .ok_or_else(|| TraceError::corrupt("message_recipients.status", &status))?;
        tx.execute(
            "UPDATE message_recipients SET status = ?3 WHERE message = ?1 AND position = ?2",
            params![id, position, status.after(&e.outcome).as_str()],
        )
        .doing(OP)?;
    }
    let statuses = recipient_statuses(tx, id)?;
    let summary = MessageStatus::of(&statuses.iter().map(|(_, s)| *s).collect::<Vec<_>>());
    tx.execute("UPDATE messages SET status = ?2 WHERE id = ?1", params![id, summary.as_str()]).doing(OP)?;
    Ok(())
}

fn recipient_statuses(conn: &Connection, id: i64) -> Result<Vec<(String, RecipientStatus)>, TraceError> {
    const OP: &str = "reading recipients";
    let mut stmt = conn
        .prepare("SELECT address, status FROM message_recipients WHERE message = ?1 ORDER BY position")
        .doing(OP)?;
    let rows = stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).doing(OP)?;
    let rows = rows.collect::<rusqlite::Result<Vec<_>>>().doing(OP)?;
    rows.into_iter()
        .map(|(a, s)| {
            RecipientStatus::parse(&s)
                .map(|s| (a, s))
                .ok_or_else(|| TraceError::corrupt("message_recipients.status", &s))
        })
        .collect()
}

fn add_refusal(tx: &Transaction<'_>, r: &Refusal) -> Result<(), TraceError> {
    let key = r.key();
    tx.execute(
        "INSERT INTO refusals (minute, client_ip, sender, recipient_domain, reply, tenant_id, direction, count, first_at, last_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8)
         ON CONFLICT (minute, client_ip, sender, recipient_domain, reply) DO UPDATE SET
            count = count + 1, first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at)",
        params![
            i(key.minute_unix_s),
            key.client_ip.to_string(),
            key.sender,
            key.recipient_domain,
            key.reply,
            r.tenant.as_ref().map(TenantId::as_str),
            r.direction.as_str(),
            i(r.at_unix_ms)
        ],
    )
    .doing("recording a refusal")?;
    Ok(())
}

/// A page of at most `limit` from `rows` (fetched with one more, which says a next page
/// exists); the cursor is the last row's.
fn page<R, T>(
    rows: Vec<R>,
    limit: usize,
    cursor: impl Fn(&R) -> Cursor,
    item: impl Fn(R) -> Result<T, TraceError>,
) -> Result<Page<T>, TraceError> {
    let more = rows.len() > limit;
    let mut items = Vec::with_capacity(limit);
    let mut last = None;
    for row in rows.into_iter().take(limit) {
        last = Some(cursor(&row));
        items.push(item(row)?);
    }
    Ok(Page { items, next: last.filter(|_| more).map(Cursor::encode) })
}

fn page_limit(limit: usize) -> usize {
    limit.clamp(1, PAGE_MAX)
}

fn received_of(json: &str) -> Result<Received, TraceError> {
    serde_json::from_str(json).map_err(|_| TraceError::corrupt("messages.received", json))
}

fn summary(received: Received, status: &str) -> Result<MessageSummary, TraceError> {
    let status =
        MessageStatus::parse(status).ok_or_else(|| TraceError::corrupt("messages.status", status))?;
    Ok(MessageSummary { received, status })
}

fn refusal_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, RefusalParts)> {
    let (id, minute, ip, sender, domain, reply, tenant, direction, count, first, last) = r.try_into()?;
    Ok((id, (minute, ip, sender, domain, reply, tenant, direction, count, first, last)))
}

type RefusalParts = (i64, String, String, String, String, Option<String>, String, i64, i64, i64);

fn refusal_of(parts: RefusalParts) -> Result<RefusalRow, TraceError> {
    let (minute, ip, sender, domain, reply, tenant, direction, count, first, last) = parts;
    Ok(RefusalRow {
        minute_unix_s: u(minute),
        client_ip: ip.parse::<IpAddr>().map_err(|_| TraceError::corrupt("refusals.client_ip", &ip))?,
        sender,
        recipient_domain: domain,
        reply,
        tenant: tenant
            .map(|t| TenantId::parse(&t).map_err(|_| TraceError::corrupt("refusals.tenant_id", &t)))
            .transpose()?,
        direction: Direction::parse(&direction)
            .ok_or_else(|| TraceError::corrupt("refusals.direction", &direction))?,
        count: u(count),
        first_at_unix_ms: u(first),
        last_at_unix_ms: u(last),
    })
}

impl TraceStore for SqliteTraceStore {
    fn record(&mut self, events: &[TraceEvent]) -> Result<(), TraceError> {
        const OP: &str = "recording trace events";
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).doing(OP)?;
        for event in events {
            match event {
                TraceEvent::Received(r) => insert_received(&tx, r)?,
                TraceEvent::Recipient(e) => insert_step(&tx, e)?,
                TraceEvent::Refused(r) => add_refusal(&tx, r)?,
            }
        }
        tx.commit().doing(OP)
    }

    fn search(&self, q: &TraceQuery) -> Result<Page<MessageSummary>, TraceError> {
        const OP: &str = "searching the trace";
        let limit = page_limit(q.limit);
        // Every filter is a parameter; an absent one is NULL and matches everything.
        let mut stmt = self
            .conn
            .prepare(
                "SELECT m.id, m.received_at, m.received, m.status FROM messages m
                 WHERE (?1 IS NULL OR EXISTS (SELECT 1 FROM message_tenants t WHERE t.message = m.id AND t.tenant_id = ?1))
                   AND (?2 IS NULL OR m.sender = ?2)
                   AND (?3 IS NULL OR EXISTS (SELECT 1 FROM message_recipients r WHERE r.message = m.id AND r.address = ?3))
                   AND (?4 IS NULL OR m.message_id = ?4 OR m.spool_id = ?4)
                   AND (?5 IS NULL OR m.client_ip = ?5)
                   AND (?6 IS NULL OR m.status = ?6)
                   AND (?7 IS NULL OR m.direction = ?7)
                   AND (?8 IS NULL OR m.received_at >= ?8)
                   AND (?9 IS NULL OR m.received_at <= ?9)
                   AND (?10 IS NULL OR m.received_at < ?10 OR (m.received_at = ?10 AND m.id < ?11))
                 ORDER BY m.received_at DESC, m.id DESC LIMIT ?12",
            )
            .doing(OP)?;
        let rows = stmt
            .query_map(
                params![
                    q.tenant.as_ref().map(TenantId::as_str),
                    q.sender.as_deref().map(str::trim),
                    q.recipient.as_deref().map(str::trim),
                    q.message_id.as_deref().map(bare_message_id),
                    q.client_ip.map(|ip| ip.to_string()),
                    q.status.map(MessageStatus::as_str),
                    q.direction.map(Direction::as_str),
                    q.since_unix_ms.map(i),
                    q.until_unix_ms.map(i),
                    q.cursor.map(|c| i(c.at)),
                    q.cursor.map(|c| i(c.id)),
                    (limit + 1) as i64
                ],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .doing(OP)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .doing(OP)?;
        page(
            rows,
            limit,
            |(id, at, _, _)| Cursor { at: u(*at), id: u(*id) },
            |(_, _, json, status)| summary(received_of(&json)?, &status),
        )
    }

    fn message(&self, id: &str, tenant: Option<&TenantId>) -> Result<Option<MessageTrace>, TraceError> {
        const OP: &str = "reading a message's trace";
        let row: Option<(i64, String, String)> = self
            .conn
            .query_row(
                "SELECT m.id, m.received, m.status FROM messages m WHERE m.spool_id = ?1
                 AND (?2 IS NULL OR EXISTS (SELECT 1 FROM message_tenants t WHERE t.message = m.id AND t.tenant_id = ?2))",
                params![id, tenant.map(TenantId::as_str)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .doing(OP)?;
        let Some((row_id, json, status)) = row else { return Ok(None) };
        let mut stmt = self
            .conn
            .prepare("SELECT at, recipient, outcome FROM steps WHERE message = ?1 ORDER BY at, id")
            .doing(OP)?;
        let steps = stmt
            .query_map([row_id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })
            .doing(OP)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .doing(OP)?;
        let timeline = steps
            .into_iter()
            .map(|(at, recipient, outcome)| {
                let outcome: Outcome = serde_json::from_str(&outcome)
                    .map_err(|_| TraceError::corrupt("steps.outcome", &outcome))?;
                Ok(TimelineEntry { at_unix_ms: u(at), recipient, outcome })
            })
            .collect::<Result<Vec<_>, TraceError>>()?;
        Ok(Some(MessageTrace {
            received: received_of(&json)?,
            status: MessageStatus::parse(&status)
                .ok_or_else(|| TraceError::corrupt("messages.status", &status))?,
            recipients: recipient_statuses(&self.conn, row_id)?,
            timeline,
        }))
    }

    fn refusals(&self, q: &RefusalQuery) -> Result<Page<RefusalRow>, TraceError> {
        const OP: &str = "searching refusals";
        let limit = page_limit(q.limit);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, minute, client_ip, sender, recipient_domain, reply, tenant_id, direction, count, first_at, last_at
                 FROM refusals
                 WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR client_ip = ?2)
                   AND (?3 IS NULL OR sender = lower(?3)) AND (?4 IS NULL OR recipient_domain = lower(?4))
                   AND (?5 IS NULL OR last_at >= ?5) AND (?6 IS NULL OR first_at <= ?6)
                   AND (?7 IS NULL OR minute < ?7 OR (minute = ?7 AND id < ?8))
                 ORDER BY minute DESC, id DESC LIMIT ?9",
            )
            .doing(OP)?;
        let rows = stmt
            .query_map(
                params![
                    q.tenant.as_ref().map(TenantId::as_str),
                    q.client_ip.map(|ip| ip.to_string()),
                    q.sender.as_deref().map(str::trim),
                    q.recipient_domain.as_deref().map(str::trim),
                    q.since_unix_ms.map(i),
                    q.until_unix_ms.map(i),
                    q.cursor.map(|c| i(c.at)),
                    q.cursor.map(|c| i(c.id)),
                    (limit + 1) as i64
                ],
                refusal_row,
            )
            .doing(OP)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .doing(OP)?;
        page(rows, limit, |(id, parts)| Cursor { at: u(parts.0), id: u(*id) }, |(_, parts)| refusal_of(parts))
    }

    fn ip_seen_by(&self, ip: IpAddr, tenant: &TenantId, since_unix_ms: u64) -> Result<bool, TraceError> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM messages m JOIN message_tenants t ON t.message = m.id
                                WHERE m.client_ip = ?1 AND t.tenant_id = ?2 AND m.received_at >= ?3)
                     OR EXISTS (SELECT 1 FROM refusals WHERE client_ip = ?1 AND tenant_id = ?2 AND last_at >= ?3)",
                params![ip.to_string(), tenant.as_str(), i(since_unix_ms)],
                |r| r.get(0),
            )
            .doing("looking up a client in the trace")
    }

    fn prune(&mut self, retention: Retention, now_unix_ms: u64) -> Result<PruneReport, TraceError> {
        const OP: &str = "pruning the trace";
        let cutoff = i(now_unix_ms.saturating_sub(retention.max_age_s.saturating_mul(1000)));
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).doing(OP)?;
        let mut report = PruneReport {
            messages: tx.execute("DELETE FROM messages WHERE received_at < ?1", [cutoff]).doing(OP)? as u64,
            refusals: tx.execute("DELETE FROM refusals WHERE minute * 1000 < ?1", [cutoff]).doing(OP)? as u64,
        };
        tx.commit().doing(OP)?;
        while self.used_bytes()? > retention.max_bytes {
            let dropped = self.drop_oldest()?;
            if dropped == PruneReport::default() {
                break;
            }
            report.messages += dropped.messages;
            report.refusals += dropped.refusals;
        }
        self.conn.execute_batch("PRAGMA incremental_vacuum").doing(OP)?;
        Ok(report)
    }
}

impl SqliteTraceStore {
    /// Drops the oldest tenth of the messages (at least one) and the refusals up to the
    /// newest of them.
    fn drop_oldest(&mut self) -> Result<PruneReport, TraceError> {
        const OP: &str = "pruning the trace to its size cap";
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).doing(OP)?;
        let count: i64 = tx.query_row("SELECT count(*) FROM messages", [], |r| r.get(0)).doing(OP)?;
        let batch = (count / 10).max(1);
        let upto: Option<i64> = tx
            .query_row(
                "SELECT max(received_at) FROM (SELECT received_at FROM messages ORDER BY received_at, id LIMIT ?1)",
                [batch],
                |r| r.get(0),
            )
            .doing(OP)?;
        let report = match upto {
            Some(at) => PruneReport {
                messages: tx
                    .execute(
                        "DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY received_at, id LIMIT ?1)",
                        [batch],
                    )
                    .doing(OP)? as u64,
                refusals: tx.execute("DELETE FROM refusals WHERE minute * 1000 <= ?1", [at]).doing(OP)? as u64,
            },
            None => PruneReport {
                messages: 0,
                refusals: tx.execute("DELETE FROM refusals WHERE id IN (SELECT id FROM refusals ORDER BY minute, id LIMIT 1000)", []).doing(OP)? as u64,
            },
        };
        tx.commit().doing(OP)?;
        // Deleted pages count as free only once released.
        self.conn.execute_batch("PRAGMA incremental_vacuum").doing(OP)?;
        Ok(report)
    }
}

/// How the writer batches and prunes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceWriterConfig {
    /// Events waiting for the writer at most; more are dropped (and counted) rather than
    /// slowing SMTP down.
    pub queue_events_max: usize,
    /// Events written in one transaction at most.
    pub batch_events_max: usize,
    /// How long an event waits for its batch at most.
    pub batch_interval: Duration,
    pub retention: Retention,
    pub prune_interval: Duration,
}

impl Default for TraceWriterConfig {
    fn default() -> TraceWriterConfig {
        TraceWriterConfig {
            queue_events_max: 100_000,
            batch_events_max: 1_000,
            batch_interval: Duration::from_millis(200),
            retention: Retention::default(),
            prune_interval: Duration::from_secs(600),
        }
    }
}

/// Counters of the writer, for logs and metrics.
#[derive(Debug, Default)]
pub struct TraceWriterStats {
    pub recorded: AtomicU64,
    /// Dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Lost because a batch failed to write.
    pub failed: AtomicU64,
}

/// Records trace events off the caller's path: [`TraceWriter::record`] never blocks; a
/// thread writes them in batches (one transaction each) and prunes now and then.
#[derive(Debug)]
pub struct TraceWriter {
    sender: Mutex<Option<SyncSender<TraceEvent>>>,
    stats: Arc<TraceWriterStats>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl TraceWriter {
    /// Starts the writer thread on `store`; `clock` gives the Unix time in milliseconds for
    /// pruning.
    pub fn start(
        store: SqliteTraceStore,
        config: TraceWriterConfig,
        clock: fn() -> u64,
    ) -> std::io::Result<TraceWriter> {
        let (sender, receiver) = sync_channel(config.queue_events_max.max(1));
        let stats = Arc::new(TraceWriterStats::default());
        let thread_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("trace-writer".into())
            .spawn(move || write_loop(store, receiver, config, clock, &thread_stats))?;
        Ok(TraceWriter { sender: Mutex::new(Some(sender)), stats, thread: Mutex::new(Some(thread)) })
    }

    /// Queues one event (bounded first); dropped and counted when the queue is full.
    pub fn record(&self, event: TraceEvent) {
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        let sent = match sender.as_ref() {
            Some(sender) => sender.try_send(event.bounded()),
            None => Err(TrySendError::Disconnected(event)),
        };
        if sent.is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn stats(&self) -> &TraceWriterStats {
        &self.stats
    }

    /// Writes what is queued and stops the thread.
    pub fn close(&self) {
        self.sender.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TraceWriter {
    fn drop(&mut self) {
        self.close();
    }
}

fn write_loop(
    mut store: SqliteTraceStore,
    receiver: Receiver<TraceEvent>,
    config: TraceWriterConfig,
    clock: fn() -> u64,
    stats: &TraceWriterStats,
) {
    let mut last_prune = Instant::now();
    let mut open = true;
    while open {
        let mut batch = Vec::new();
        match receiver.recv_timeout(config.prune_interval.min(Duration::from_secs(1))) {
            Ok(event) => batch.push(event),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open = false,
        }
        if !batch.is_empty() {
            let deadline = Instant::now() + config.batch_interval;
            while batch.len() < config.batch_events_max {
                match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(event) => batch.push(event),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            write_batch(&mut store, &batch, stats);
        }
        if last_prune.elapsed() >= config.prune_interval {
            last_prune = Instant::now();
            match store.prune(config.retention, clock()) {
                Ok(r) => tracing::debug!(messages = r.messages, refusals = r.refusals, "trace pruned"),
                Err(e) => tracing::error!(error = %e, "pruning the trace failed"),
            }
        }
    }
}

fn write_batch(store: &mut SqliteTraceStore, batch: &[TraceEvent], stats: &TraceWriterStats) {
    match store.record(batch) {
        Ok(()) => {
            stats.recorded.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        Err(e) => {
            stats.failed.fetch_add(batch.len() as u64, Ordering::Relaxed);
            tracing::error!(error = %e, events = batch.len(), "writing trace events failed; they are lost");
        }
    }
}
