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
