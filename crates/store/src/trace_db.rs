//! The message trace: in its own SQLite file (`<data_dir>/trace.db`) or in its own tables
//! of the fleet's PostgreSQL database; written in batches off the SMTP path
//! ([`TraceWriter`]), searched by the admin plane, pruned by age and size.
//!
//! SQLite: its own file because its write rate and retention have nothing in common with
//! the directory's: a busy trace never makes a directory edit wait, and pruning it never
//! touches the directory. `synchronous = NORMAL`: a power cut may lose the last batches of
//! trace (never a message: the spool is the record of those), and each batch costs no
//! fsync. `auto_vacuum = INCREMENTAL` hands pruned pages back to the file system.
//!
//! The size cap counts the bytes of live rows: SQLite's pages less its free list;
//! PostgreSQL's rows as stored (`pg_column_size`), measured only when the tables' size on
//! disk is over the cap (PostgreSQL reuses the space of deleted rows after autovacuum
//! rather than returning it, so the size on disk alone would never come down). Every node
//! of a fleet prunes; one prune runs at a time ([`Lock::Trace`]).

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use directory::TenantId;
use trace::{
    ClientActivity, ClientQuery, Cursor, Direction, FlowBucket, FlowQuery, MessageStatus, MessageSummary,
    MessageTrace, Outcome, PAGE_MAX, Page, PruneReport, Received, RecipientEvent, RecipientStatus, Refusal,
    RefusalQuery, RefusalRow, Retention, TimelineEntry, TraceError, TraceEvent, TraceQuery, TraceStore,
};

use crate::pg::{PgTarget, Postgres};
use crate::schema::{self, Migrate, Migrated};
use crate::sql::{
    Backend, BackendError, Doing, Failed, Lock, Sql, Tx, scalar, select, select_one, to_i64 as i,
    to_u64 as u, vals,
};
use crate::sqlite::{Pragmas, Sqlite};

/// The message trace on a backend `B`.
#[derive(Debug)]
pub struct TraceDb<B> {
    db: B,
}

/// The embedded trace: `<data_dir>/trace.db`.
pub type SqliteTraceStore = TraceDb<Sqlite>;
/// The fleet's trace, in the shared database.
pub type PgTraceStore = TraceDb<Postgres>;

impl TraceDb<Sqlite> {
    /// Opens (creating if needed) the trace database at `path`.
    pub fn open(path: &Path) -> Result<SqliteTraceStore, TraceError> {
        Self::open_with(path, Migrate::Apply).map(|(store, _)| store)
    }

    /// Opens the trace database at `path`, migrating or checking its schema.
    pub fn open_with(path: &Path, mode: Migrate) -> Result<(SqliteTraceStore, Migrated), TraceError> {
        let db = Sqlite::open(path, Pragmas { synchronous: "NORMAL", incremental_vacuum: true })?;
        let migrated = schema::migrate(&db, Sqlite::TRACE, mode)?;
        Ok((TraceDb { db }, migrated))
    }
}

impl TraceDb<Postgres> {
    /// Connects to the fleet's database and migrates (or checks) the trace schema.
    pub fn connect(target: &PgTarget, mode: Migrate) -> Result<(PgTraceStore, Migrated), TraceError> {
        let db = Postgres::connect(target)?;
        let migrated = schema::migrate(&db, Postgres::TRACE, mode)?;
        Ok((TraceDb { db }, migrated))
    }
}

/// How a backend measures and gives back the trace's space.
pub trait TraceSpace {
    /// Bytes the live rows take, exactly when over `cap`; at most `cap` otherwise.
    fn live_bytes(&self, cap: u64) -> Result<u64, TraceError>;
    /// Hands freed space back after a prune.
    fn reclaim(&self) -> Result<(), TraceError>;
}

impl TraceSpace for Sqlite {
    fn live_bytes(&self, _cap: u64) -> Result<u64, TraceError> {
        Ok(self.used_bytes()?)
    }

    fn reclaim(&self) -> Result<(), TraceError> {
        Ok(Sqlite::reclaim(self)?)
    }
}

impl TraceSpace for Postgres {
    fn live_bytes(&self, cap: u64) -> Result<u64, TraceError> {
        const OP: &str = "measuring the trace";
        let tables = crate::pg_schema::TRACE_TABLES;
        let on_disk = tables.iter().map(|t| format!("pg_total_relation_size('{t}')")).collect::<Vec<_>>();
        let on_disk = format!("SELECT CAST({} AS BIGINT)", on_disk.join(" + "));
        let size: i64 = self.run(OP, Tx::None, |db| scalar(db, OP, &on_disk, vals![]))?;
        if u(size) <= cap {
            return Ok(u(size));
        }
        let live = tables
            .iter()
            .map(|t| format!("(SELECT coalesce(sum(pg_column_size(r.*)), 0) FROM {t} r)"))
            .collect::<Vec<_>>();
        let live = format!("SELECT CAST({} AS BIGINT)", live.join(" + "));
        let bytes: i64 = self.run(OP, Tx::None, |db| scalar(db, OP, &live, vals![]))?;
        Ok(u(bytes))
    }

    fn reclaim(&self) -> Result<(), TraceError> {
        Ok(()) // autovacuum makes the space reusable
    }
}

impl<B: Backend + TraceSpace> TraceDb<B> {
    /// Bytes the live rows take (exactly when over `cap`).
    pub fn used_bytes(&self, cap: u64) -> Result<u64, TraceError> {
        self.db.live_bytes(cap)
    }

    /// The schema version of the trace.
    pub fn schema_version(&self) -> Result<i64, TraceError> {
        Ok(schema::version(&self.db, B::TRACE)?)
    }

    /// Drops the oldest `share` of the messages (at least one) and the refusals up to the
    /// newest of them; without messages, the oldest refusals.
    fn drop_oldest(&mut self, share: f64) -> Result<PruneReport, TraceError> {
        const OP: &str = "pruning the trace to its size cap";
        self.db.run(OP, Tx::Write(Lock::Trace), |db| {
            let count: i64 = scalar(db, OP, "SELECT count(*) FROM messages", vals![])?;
            let batch = ((count as f64 * share).ceil() as i64).max(1);
            let upto: Option<i64> = scalar(
                db,
                OP,
                "SELECT max(received_at) FROM (SELECT received_at FROM messages ORDER BY received_at, id LIMIT ?1) AS oldest",
                vals![batch],
            )?;
            Ok(match upto {
                Some(at) => PruneReport {
                    messages: db
                        .execute(
                            "DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY received_at, id LIMIT ?1)",
                            vals![batch],
                        )
                        .doing(OP)?,
                    refusals: db.execute("DELETE FROM refusals WHERE minute * 1000 <= ?1", vals![at]).doing(OP)?,
                },
                None => PruneReport {
                    messages: 0,
                    refusals: db
                        .execute(
                            "DELETE FROM refusals WHERE id IN (SELECT id FROM refusals ORDER BY minute, id LIMIT 1000)",
                            vals![],
                        )
                        .doing(OP)?,
                },
            })
        })
    }
}

fn insert_received(db: &mut dyn Sql, r: &Received) -> Result<(), TraceError> {
    const OP: &str = "recording a received message";
    let json = serde_json::to_string(r).doing(OP)?;
    let status = MessageStatus::of(&vec![RecipientStatus::Pending; r.recipients.len()]);
    let added: Option<(i64,)> = select_one(
        db,
        OP,
        "INSERT INTO messages (spool_id, received_at, client_ip, direction, sender, message_id, status, received, tls)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (spool_id) DO NOTHING RETURNING id",
        vals![
            &r.message,
            i(r.at_unix_ms),
            r.client_ip.to_string(),
            r.direction.as_str(),
            &r.sender,
            r.message_id.as_deref().map(bare_message_id),
            status.as_str(),
            json,
            r.tls.is_some()
        ],
    )?;
    let Some((id,)) = added else {
        return Ok(()); // recorded before (a retried batch)
    };
    for tenant in &r.tenants {
        db.execute(
            "INSERT INTO message_tenants (message, tenant_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            vals![id, tenant.as_str()],
        )
        .doing(OP)?;
    }
    for (position, address) in (0_i64..).zip(&r.recipients) {
        db.execute(
            "INSERT INTO message_recipients (message, position, address, status) VALUES (?1, ?2, ?3, 'pending')",
            vals![id, position, address],
        )
        .doing(OP)?;
    }
    Ok(())
}

/// A Message-ID as stored and searched: without surrounding space and angle brackets.
fn bare_message_id(text: &str) -> String {
    text.trim().trim_start_matches('<').trim_end_matches('>').to_string()
}

fn insert_step(db: &mut dyn Sql, e: &RecipientEvent) -> Result<(), TraceError> {
    const OP: &str = "recording a recipient step";
    let found: Option<(i64,)> =
        select_one(db, OP, "SELECT id FROM messages WHERE spool_id = ?1", vals![&e.message])?;
    let Some((id,)) = found else {
        return Ok(());
    };
    let outcome = serde_json::to_string(&e.outcome).doing(OP)?;
    db.execute(
        "INSERT INTO steps (message, at, recipient, outcome, kind) VALUES (?1, ?2, ?3, ?4, ?5)",
        vals![id, i(e.at_unix_ms), &e.recipient, outcome, e.outcome.kind()],
    )
    .doing(OP)?;
    let current: Option<(i64, String)> = select_one(
        db,
        OP,
        "SELECT position, status FROM message_recipients WHERE message = ?1 AND address = ?2 ORDER BY position LIMIT 1",
        vals![id, &e.recipient],
    )?;
    if let Some((position, status)) = current {
        let status = RecipientStatus::parse(&status)
            .ok_or_else(|| TraceError::corrupt("message_recipients.status", &status))?;
        db.execute(
            "UPDATE message_recipients SET status = ?3 WHERE message = ?1 AND position = ?2",
            vals![id, position, status.after(&e.outcome).as_str()],
        )
        .doing(OP)?;
    }
    let statuses = recipient_statuses(db, id)?;
    let summary = MessageStatus::of(&statuses.iter().map(|(_, s)| *s).collect::<Vec<_>>());
    db.execute("UPDATE messages SET status = ?2 WHERE id = ?1", vals![id, summary.as_str()]).doing(OP)?;
    Ok(())
}

fn recipient_statuses(db: &mut dyn Sql, id: i64) -> Result<Vec<(String, RecipientStatus)>, TraceError> {
    let rows: Vec<(String, String)> = select(
        db,
        "reading recipients",
        "SELECT address, status FROM message_recipients WHERE message = ?1 ORDER BY position",
        vals![id],
    )?;
    rows.into_iter()
        .map(|(a, s)| {
            RecipientStatus::parse(&s)
                .map(|s| (a, s))
                .ok_or_else(|| TraceError::corrupt("message_recipients.status", &s))
        })
        .collect()
}

fn add_refusal(db: &mut dyn Sql, r: &Refusal) -> Result<(), TraceError> {
    let key = r.key();
    db.execute(
        "INSERT INTO refusals (minute, client_ip, sender, recipient_domain, reply, tenant_id, direction, count, first_at, last_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8)
         ON CONFLICT (minute, client_ip, sender, recipient_domain, reply) DO UPDATE SET
            count = refusals.count + 1,
            first_at = CASE WHEN excluded.first_at < refusals.first_at THEN excluded.first_at ELSE refusals.first_at END,
            last_at = CASE WHEN excluded.last_at > refusals.last_at THEN excluded.last_at ELSE refusals.last_at END",
        vals![
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

type RefusalParts = (i64, i64, String, String, String, String, Option<String>, String, i64, i64, i64);

fn refusal_of(parts: RefusalParts) -> Result<RefusalRow, TraceError> {
    let (_, minute, ip, sender, domain, reply, tenant, direction, count, first, last) = parts;
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

const SEARCH: &str = "SELECT m.id, m.received_at, m.received, m.status FROM messages m
     WHERE (CAST(?1 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM message_tenants t WHERE t.message = m.id AND t.tenant_id = ?1))
       AND (CAST(?2 AS TEXT) IS NULL OR m.sender = ?2)
       AND (CAST(?3 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM message_recipients r WHERE r.message = m.id AND r.address = ?3))
       AND (CAST(?4 AS TEXT) IS NULL OR m.message_id = ?4 OR m.spool_id = ?4)
       AND (CAST(?5 AS TEXT) IS NULL OR m.client_ip = ?5)
       AND (CAST(?6 AS TEXT) IS NULL OR m.status = ?6)
       AND (CAST(?7 AS TEXT) IS NULL OR m.direction = ?7)
       AND (CAST(?8 AS BIGINT) IS NULL OR m.received_at >= ?8)
       AND (CAST(?9 AS BIGINT) IS NULL OR m.received_at <= ?9)
       AND (CAST(?10 AS BIGINT) IS NULL OR m.received_at < ?10 OR (m.received_at = ?10 AND m.id < ?11))
     ORDER BY m.received_at DESC, m.id DESC LIMIT ?12";

const REFUSALS: &str = "SELECT id, minute, client_ip, sender, recipient_domain, reply, tenant_id, direction, count, first_at, last_at
     FROM refusals
     WHERE (CAST(?1 AS TEXT) IS NULL OR tenant_id = ?1) AND (CAST(?2 AS TEXT) IS NULL OR client_ip = ?2)
       AND (CAST(?3 AS TEXT) IS NULL OR sender = lower(?3)) AND (CAST(?4 AS TEXT) IS NULL OR recipient_domain = lower(?4))
       AND (CAST(?5 AS BIGINT) IS NULL OR last_at >= ?5) AND (CAST(?6 AS BIGINT) IS NULL OR first_at <= ?6)
       AND (CAST(?7 AS BIGINT) IS NULL OR minute < ?7 OR (minute = ?7 AND id < ?8))
     ORDER BY minute DESC, id DESC LIMIT ?9";

impl<B: Backend + TraceSpace> TraceStore for TraceDb<B> {
    fn record(&mut self, events: &[TraceEvent]) -> Result<(), TraceError> {
        self.db.run("recording trace events", Tx::Write(Lock::Trace), |db| {
            for event in events {
                match event {
                    TraceEvent::Received(r) => insert_received(db, r)?,
                    TraceEvent::Recipient(e) => insert_step(db, e)?,
                    TraceEvent::Refused(r) => add_refusal(db, r)?,
                }
            }
            Ok(())
        })
    }

    fn search(&self, q: &TraceQuery) -> Result<Page<MessageSummary>, TraceError> {
        const OP: &str = "searching the trace";
        let limit = page_limit(q.limit);
        // Every filter is a parameter; an absent one is NULL and matches everything.
        let params = vals![
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
        ];
        let rows: Vec<(i64, i64, String, String)> =
            self.db.run(OP, Tx::None, |db| select(db, OP, SEARCH, params))?;
        page(
            rows,
            limit,
            |(id, at, _, _)| Cursor { at: u(*at), id: u(*id) },
            |(_, _, json, status)| summary(received_of(&json)?, &status),
        )
    }

    fn message(&self, id: &str, tenant: Option<&TenantId>) -> Result<Option<MessageTrace>, TraceError> {
        self.db.run("reading a message's trace", Tx::Read, |db| message_trace(db, id, tenant))
    }

    fn refusals(&self, q: &RefusalQuery) -> Result<Page<RefusalRow>, TraceError> {
        const OP: &str = "searching refusals";
        let limit = page_limit(q.limit);
        let params = vals![
            q.tenant.as_ref().map(TenantId::as_str),
            q.client_ip.map(|ip| ip.to_string()),
            q.sender.as_deref().map(str::trim),
            q.recipient_domain.as_deref().map(str::trim),
            q.since_unix_ms.map(i),
            q.until_unix_ms.map(i),
            q.cursor.map(|c| i(c.at)),
            q.cursor.map(|c| i(c.id)),
            (limit + 1) as i64
        ];
        let rows: Vec<RefusalParts> = self.db.run(OP, Tx::None, |db| select(db, OP, REFUSALS, params))?;
        page(rows, limit, |parts| Cursor { at: u(parts.1), id: u(parts.0) }, refusal_of)
    }

    fn ip_seen_by(&self, ip: IpAddr, tenant: &TenantId, since_unix_ms: u64) -> Result<bool, TraceError> {
        const OP: &str = "looking up a client in the trace";
        self.db.run(OP, Tx::None, |db| {
            Ok(scalar(
                db,
                OP,
                "SELECT EXISTS (SELECT 1 FROM messages m JOIN message_tenants t ON t.message = m.id
                                WHERE m.client_ip = ?1 AND t.tenant_id = ?2 AND m.received_at >= ?3)
                     OR EXISTS (SELECT 1 FROM refusals WHERE client_ip = ?1 AND tenant_id = ?2 AND last_at >= ?3)",
                vals![ip.to_string(), tenant.as_str(), i(since_unix_ms)],
            )?)
        })
    }

    fn flow(&self, query: &FlowQuery) -> Result<Vec<FlowBucket>, TraceError> {
        crate::trace_counts::flow(&self.db, query)
    }

    fn clients(&self, query: &ClientQuery) -> Result<Vec<ClientActivity>, TraceError> {
        crate::trace_counts::clients(&self.db, query)
    }

    fn prune(&mut self, retention: Retention, now_unix_ms: u64) -> Result<PruneReport, TraceError> {
        const OP: &str = "pruning the trace";
        let cutoff = i(now_unix_ms.saturating_sub(retention.max_age_s.saturating_mul(1000)));
        let mut report = self.db.run(OP, Tx::Write(Lock::Trace), |db| {
            Ok::<_, Failed>(PruneReport {
                messages: db
                    .execute("DELETE FROM messages WHERE received_at < ?1", vals![cutoff])
                    .doing(OP)?,
                refusals: db
                    .execute("DELETE FROM refusals WHERE minute * 1000 < ?1", vals![cutoff])
                    .doing(OP)?,
            })
        })?;
        self.db.reclaim()?;
        // Each round drops the share that would bring the live rows under the cap (at least
        // a tenth); the bound keeps a backend that measures coarsely from looping long.
        for _ in 0..20 {
            let used = self.db.live_bytes(retention.max_bytes)?;
            if used <= retention.max_bytes {
                break;
            }
            let share = (1.0 - retention.max_bytes as f64 / used as f64).max(0.1);
            let dropped = self.drop_oldest(share)?;
            self.db.reclaim()?;
            if dropped == PruneReport::default() {
                break;
            }
            report.messages += dropped.messages;
            report.refusals += dropped.refusals;
        }
        Ok(report)
    }
}

fn message_trace(
    db: &mut dyn Sql,
    id: &str,
    tenant: Option<&TenantId>,
) -> Result<Option<MessageTrace>, TraceError> {
    const OP: &str = "reading a message's trace";
    let row: Option<(i64, String, String)> = select_one(
        db,
        OP,
        "SELECT m.id, m.received, m.status FROM messages m WHERE m.spool_id = ?1
         AND (CAST(?2 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM message_tenants t WHERE t.message = m.id AND t.tenant_id = ?2))",
        vals![id, tenant.map(TenantId::as_str)],
    )?;
    let Some((row_id, json, status)) = row else { return Ok(None) };
    let steps: Vec<(i64, String, String)> = select(
        db,
        OP,
        "SELECT at, recipient, outcome FROM steps WHERE message = ?1 ORDER BY at, id",
        vals![row_id],
    )?;
    let timeline = steps
        .into_iter()
        .map(|(at, recipient, outcome)| {
            let outcome: Outcome =
                serde_json::from_str(&outcome).map_err(|_| TraceError::corrupt("steps.outcome", &outcome))?;
            Ok(TimelineEntry { at_unix_ms: u(at), recipient, outcome })
        })
        .collect::<Result<Vec<_>, TraceError>>()?;
    Ok(Some(MessageTrace {
        received: received_of(&json)?,
        status: MessageStatus::parse(&status)
            .ok_or_else(|| TraceError::corrupt("messages.status", &status))?,
        recipients: recipient_statuses(db, row_id)?,
        timeline,
    }))
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
    /// Dropped because the queue was full (or the writer closed).
    pub dropped: AtomicU64,
    /// Lost because a batch failed to write.
    pub failed: AtomicU64,
    /// Events waiting for the writer now.
    pub queued: AtomicU64,
    /// How long the oldest event of the latest batch waited before it was written, in
    /// milliseconds: how far the trace lags behind the mail.
    pub lag_ms: AtomicU64,
}

/// What travels to the writer thread: an event with the moment it was queued, or the
/// order to finish. Boxed: the channel's slots are allocated up front, and a full queue of
/// small slots costs megabytes, not tens of them.
#[derive(Debug)]
enum Item {
    Event(Instant, Box<TraceEvent>),
    Close,
}

/// Records trace events off the caller's path: [`TraceWriter::record`] never blocks nor
/// locks (a bounded channel; when it is full the event is dropped and counted); a thread
/// writes them in batches (one transaction each) and prunes now and then.
#[derive(Debug)]
pub struct TraceWriter {
    sender: SyncSender<Item>,
    closed: AtomicBool,
    stats: Arc<TraceWriterStats>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl TraceWriter {
    /// Starts the writer thread on `store`; `clock` gives the Unix time in milliseconds for
    /// pruning.
    pub fn start(
        store: Box<dyn TraceStore + Send>,
        config: TraceWriterConfig,
        clock: fn() -> u64,
    ) -> std::io::Result<TraceWriter> {
        let (sender, receiver) = sync_channel(config.queue_events_max.max(1));
        let stats = Arc::new(TraceWriterStats::default());
        let thread_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("trace-writer".into())
            .spawn(move || write_loop(store, receiver, config, clock, &thread_stats))?;
        Ok(TraceWriter { sender, closed: AtomicBool::new(false), stats, thread: Mutex::new(Some(thread)) })
    }

    /// Queues one event (bounded first); dropped and counted when the queue is full or the
    /// writer closed.
    pub fn record(&self, event: TraceEvent) {
        if self.closed.load(Ordering::Acquire) {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Counted before the send, so the writer never takes more than was counted.
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        if self.sender.try_send(Item::Event(Instant::now(), Box::new(event.bounded()))).is_err() {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn stats(&self) -> &TraceWriterStats {
        &self.stats
    }

    /// Writes what is queued and stops the thread; later events are dropped and counted.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            // Waits for room: everything queued before it is written first.
            let _ = self.sender.send(Item::Close);
        }
        if let Some(thread) = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take() {
            let _ = thread.join();
        }
    }
}

impl trace::TraceSink for TraceWriter {
    fn record(&self, event: TraceEvent) {
        TraceWriter::record(self, event);
    }
}

impl Drop for TraceWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// How often the writer says that events were dropped, at most.
const DROP_WARNING_INTERVAL: Duration = Duration::from_secs(60);

fn write_loop(
    mut store: Box<dyn TraceStore + Send>,
    receiver: Receiver<Item>,
    config: TraceWriterConfig,
    clock: fn() -> u64,
    stats: &TraceWriterStats,
) {
    let mut last_prune = Instant::now();
    let mut drops = DropWarning::default();
    let mut open = true;
    while open {
        let mut batch = Vec::new();
        let mut oldest = None;
        let mut take = |item: Item, batch: &mut Vec<TraceEvent>| match item {
            Item::Event(queued_at, event) => {
                oldest.get_or_insert(queued_at);
                batch.push(*event);
                true
            }
            Item::Close => false,
        };
        match receiver.recv_timeout(config.prune_interval.min(Duration::from_secs(1))) {
            Ok(item) => open = take(item, &mut batch),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open = false,
        }
        if !batch.is_empty() {
            let deadline = Instant::now() + config.batch_interval;
            while open && batch.len() < config.batch_events_max {
                match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(item) => open = take(item, &mut batch),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => open = false,
                }
            }
            stats.queued.fetch_sub(batch.len() as u64, Ordering::Relaxed);
            write_batch(store.as_mut(), &batch, stats);
            let waited = oldest.map_or(Duration::ZERO, |at| at.elapsed());
            stats.lag_ms.store(u64::try_from(waited.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        drops.check(stats);
        if last_prune.elapsed() >= config.prune_interval {
            last_prune = Instant::now();
            match store.prune(config.retention, clock()) {
                Ok(r) => tracing::debug!(messages = r.messages, refusals = r.refusals, "trace pruned"),
                Err(e) => tracing::error!(error = %e, "pruning the trace failed"),
            }
        }
    }
    // Events a racing caller queued behind the order to close: dropped, but counted.
    let late = receiver.try_iter().filter(|item| matches!(item, Item::Event(..))).count() as u64;
    stats.queued.fetch_sub(late, Ordering::Relaxed);
    stats.dropped.fetch_add(late, Ordering::Relaxed);
}

/// Says (at most once a minute) that the queue overflowed: mail went on, its trace did not.
#[derive(Debug, Default)]
struct DropWarning {
    reported: u64,
    last: Option<Instant>,
}

impl DropWarning {
    fn check(&mut self, stats: &TraceWriterStats) {
        let dropped = stats.dropped.load(Ordering::Relaxed);
        let due = self.last.is_none_or(|at| at.elapsed() >= DROP_WARNING_INTERVAL);
        if dropped > self.reported && due {
            tracing::warn!(
                dropped = dropped - self.reported,
                queued = stats.queued.load(Ordering::Relaxed),
                "the trace writer cannot keep up: trace events were dropped (mail is not affected); \
                 sluice_trace_events_total{{result=\"dropped\"}} counts them"
            );
            self.reported = dropped;
            self.last = Some(Instant::now());
        }
    }
}

fn write_batch(store: &mut dyn TraceStore, batch: &[TraceEvent], stats: &TraceWriterStats) {
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
