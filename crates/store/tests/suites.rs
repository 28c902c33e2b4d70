//! The storage behaviour suites of the admin plane's records and the message trace, run on
//! SQLite and on a private PostgreSQL cluster (a fresh database per test): the same suite
//! functions, so the backends cannot drift apart.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use store::test_cluster::PgCluster;
use store::{Migrate, PgStore, PgTraceStore, SqliteStore, SqliteTraceStore, TraceWriter, TraceWriterConfig};
use trace::TraceStore;

fn sqlite_directory() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("sluice.db")).unwrap();
    (dir, store)
}

fn sqlite_trace() -> (tempfile::TempDir, SqliteTraceStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteTraceStore::open(&dir.path().join("trace.db")).unwrap();
    (dir, store)
}

fn pg_directory() -> ((), PgStore) {
    ((), PgStore::connect(&PgCluster::shared().fresh_target(), Migrate::Apply).unwrap().0)
}

fn pg_trace() -> ((), PgTraceStore) {
    ((), PgTraceStore::connect(&PgCluster::shared().fresh_target(), Migrate::Apply).unwrap().0)
}

/// `suite` on a fresh store of each backend, as `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both_backends {
    ($name:ident, $suite:path, $sqlite:ident, $pg:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                let (_keep, mut store) = super::$sqlite();
                $suite(&mut store);
            }

            #[test]
            fn postgres() {
                let (_keep, mut store) = super::$pg();
                $suite(&mut store);
            }
        }
    };
}

on_both_backends!(tokens, access::suite::tokens, sqlite_directory, pg_directory);
on_both_backends!(audit, access::suite::audit, sqlite_directory, pg_directory);
on_both_backends!(requests, access::suite::requests, sqlite_directory, pg_directory);
on_both_backends!(trace_timeline, trace::suite::timeline, sqlite_trace, pg_trace);
on_both_backends!(trace_search, trace::suite::search, sqlite_trace, pg_trace);
on_both_backends!(trace_refusals, trace::suite::refusals, sqlite_trace, pg_trace);
on_both_backends!(trace_pruning, trace::suite::pruning, sqlite_trace, pg_trace);
on_both_backends!(trace_flow, trace::suite::flow, sqlite_trace, pg_trace);
on_both_backends!(trace_clients, trace::suite::clients, sqlite_trace, pg_trace);
on_both_backends!(
    generation,
    super::admin_records_leave_the_generation_alone,
    sqlite_directory,
    pg_directory
);

fn admin_records_leave_the_generation_alone<S>(store: &mut S)
where
    S: directory::DirectoryStore + access::AuditStore + access::TokenStore,
{
    let before = store.generation().unwrap();
    access::suite::audit(store);
    access::suite::tokens(store);
    assert_eq!(store.generation().unwrap(), before, "servers do not rebuild their snapshot for these");
}

/// What the flow and client counts make of a trace written before its migration 2: one
/// message over TLS delivered, one in plain text bounced.
fn counts_across_migration_2<S: TraceStore>(
    store: S,
    downgrade: impl FnOnce(S),
    reopen: impl FnOnce() -> S,
    version: impl Fn(&S) -> i64,
) {
    use trace::{ClientQuery, FlowQuery, Outcome, RecipientEvent, TraceEvent};
    let mut store = store;
    let mut plain = trace::suite::received("p", 1_000, "192.0.2.2", "acme", &["b@acme.example"]);
    plain.tls = None;
    let step = |message: &str, recipient: &str, outcome| {
        TraceEvent::Recipient(RecipientEvent {
            message: message.into(),
            at_unix_ms: 2_000,
            recipient: recipient.into(),
            outcome,
        })
    };
    store
        .record(&[
            TraceEvent::Received(trace::suite::received(
                "t",
                1_000,
                "192.0.2.1",
                "acme",
                &["a@acme.example"],
            )),
            TraceEvent::Received(plain),
            step("t", "a@acme.example", Outcome::Delivered { host: "mx".into(), reply: "250 ok".into() }),
            step("p", "b@acme.example", Outcome::Bounced { reply: "550 5.1.1 no".into() }),
        ])
        .unwrap();
    let flow =
        FlowQuery { tenant: None, network: None, since_unix_ms: 0, until_unix_ms: 10_000, bucket_ms: 10_000 };
    let network = Some(directory::Cidr::parse("test", "192.0.2.0/24").unwrap());
    let clients = ClientQuery { tenant: None, network, since_unix_ms: 0, limit: 10 };
    let counts = |s: &S| {
        let f = s.flow(&flow).unwrap()[0];
        let c = s.clients(&clients).unwrap();
        (
            (f.accepted, f.delivered, f.bounced),
            c.iter().map(|c| (c.client_ip.to_string(), c.accepted_tls)).collect::<Vec<_>>(),
        )
    };
    let expected = ((2, 1, 1), vec![("192.0.2.1".to_string(), 1), ("192.0.2.2".to_string(), 0)]);
    assert_eq!(counts(&store), expected, "as written at version 2");
    downgrade(store);
    let migrated = reopen();
    assert_eq!(version(&migrated), 2);
    assert_eq!(counts(&migrated), expected, "filled in by the migration");
}

/// Undoes trace migration 2, as a trace written by the previous release looks.
const TRACE_VERSION_1: &str = "DROP INDEX steps_by_time; ALTER TABLE steps DROP COLUMN kind;
    ALTER TABLE messages DROP COLUMN tls;";

mod trace_migration_2 {
    use store::test_cluster::PgCluster;
    use store::{Migrate, PgTarget, PgTraceStore, SqliteTraceStore};

    #[test]
    fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.db");
        super::counts_across_migration_2(
            SqliteTraceStore::open(&path).unwrap(),
            |store| {
                drop(store);
                let undo = format!("{} UPDATE schema_version SET version = 1;", super::TRACE_VERSION_1);
                rusqlite::Connection::open(&path).unwrap().execute_batch(&undo).unwrap();
            },
            || SqliteTraceStore::open(&path).unwrap(),
            |store| store.schema_version().unwrap(),
        );
    }

    #[test]
    fn postgres() {
        let url = PgCluster::shared().fresh_database();
        let target = PgTarget::parse(&url, None).unwrap();
        super::counts_across_migration_2(
            PgTraceStore::connect(&target, Migrate::Apply).unwrap().0,
            |store| {
                drop(store);
                let undo = format!(
                    "{} DROP FUNCTION sluice_in_network(TEXT, TEXT); UPDATE trace_schema_version SET version = 1;",
                    super::TRACE_VERSION_1
                );
                ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap().batch_execute(&undo).unwrap();
            },
            || PgTraceStore::connect(&target, Migrate::Apply).unwrap().0,
            |store| store.schema_version().unwrap(),
        );
    }
}

#[test]
fn the_writer_batches_events_and_writes_what_is_queued_when_closed() {
    let (dir, store) = sqlite_trace();
    let config =
        TraceWriterConfig { batch_interval: Duration::from_millis(20), ..TraceWriterConfig::default() };
    let writer = TraceWriter::start(Box::new(store), config, || 0).unwrap();
    for n in 0..300_u64 {
        let m = trace::suite::received(&format!("w{n}"), n, "192.0.2.1", "acme", &["a@acme.example"]);
        writer.record(trace::TraceEvent::Received(m));
    }
    writer.close();
    assert_eq!(writer.stats().recorded.load(std::sync::atomic::Ordering::Relaxed), 300);
    let reader = SqliteTraceStore::open(&dir.path().join("trace.db")).unwrap();
    let all = reader.search(&trace::TraceQuery { limit: 1000, ..Default::default() }).unwrap();
    assert_eq!(all.items.len(), trace::PAGE_MAX, "a page is capped");
    assert!(all.next.is_some());
    writer.record(trace::TraceEvent::Received(trace::suite::received("late", 1, "192.0.2.1", "acme", &[])));
    assert_eq!(
        writer.stats().dropped.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "after close, counted as dropped"
    );
}

/// A writer that cannot write (another process holds the database's write lock) fills its
/// queue; what does not fit is dropped and counted at once, the caller never waits, and the
/// lag shows how long the queued events waited once the lock is gone.
#[test]
fn a_full_writer_queue_drops_and_counts_without_blocking_and_shows_its_lag() {
    use std::sync::atomic::Ordering::Relaxed;
    let (dir, store) = sqlite_trace();
    let blocker = rusqlite::Connection::open(dir.path().join("trace.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let config = TraceWriterConfig {
        queue_events_max: 2,
        batch_events_max: 1,
        batch_interval: Duration::from_millis(1),
        ..TraceWriterConfig::default()
    };
    let writer = TraceWriter::start(Box::new(store), config, || 0).unwrap();
    let event = |n: u64| {
        trace::TraceEvent::Received(trace::suite::received(&format!("q{n}"), n, "192.0.2.1", "acme", &[]))
    };
    writer.record(event(0));
    // The writer has taken the first event and waits for the lock.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while writer.stats().queued.load(Relaxed) > 0 {
        assert!(std::time::Instant::now() < deadline, "the writer never took the first event");
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = std::time::Instant::now();
    for n in 1..=5 {
        writer.record(event(n));
    }
    assert!(started.elapsed() < Duration::from_secs(1), "record waited for the writer");
    assert_eq!(writer.stats().queued.load(Relaxed), 2, "the queue holds two");
    assert_eq!(writer.stats().dropped.load(Relaxed), 3, "the rest are dropped and counted");
    std::thread::sleep(Duration::from_millis(300));
    blocker.execute_batch("COMMIT").unwrap();
    writer.close();
    let stats = writer.stats();
    assert_eq!((stats.recorded.load(Relaxed), stats.queued.load(Relaxed)), (3, 0));
    assert!(stats.lag_ms.load(Relaxed) >= 300, "lag {} ms", stats.lag_ms.load(Relaxed));
}
