//! The storage behaviour suites of the admin plane's records, run on SQLite. A PostgreSQL
//! backend runs the same suite functions.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use store::{SqliteStore, SqliteTraceStore, TraceWriter, TraceWriterConfig};
use trace::TraceStore;

fn directory_db() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("sluice.db")).unwrap();
    (dir, store)
}

fn trace_db() -> (tempfile::TempDir, SqliteTraceStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteTraceStore::open(&dir.path().join("trace.db")).unwrap();
    (dir, store)
}

#[test]
fn tokens() {
    access::suite::tokens(&mut directory_db().1);
}

#[test]
fn audit() {
    access::suite::audit(&mut directory_db().1);
}

#[test]
fn requests() {
    access::suite::requests(&mut directory_db().1);
}

#[test]
fn admin_records_leave_the_directory_generation_alone() {
    use directory::DirectoryStore;
    let (_dir, mut store) = directory_db();
    let before = store.generation().unwrap();
    access::suite::audit(&mut store);
    access::suite::tokens(&mut store);
    assert_eq!(store.generation().unwrap(), before, "servers do not rebuild their snapshot for these");
}

#[test]
fn trace_timeline() {
    trace::suite::timeline(&mut trace_db().1);
}

#[test]
fn trace_search() {
    trace::suite::search(&mut trace_db().1);
}

#[test]
fn trace_refusals() {
    trace::suite::refusals(&mut trace_db().1);
}

#[test]
fn trace_pruning() {
    trace::suite::pruning(&mut trace_db().1);
}

#[test]
fn the_writer_batches_events_and_writes_what_is_queued_when_closed() {
    let (dir, store) = trace_db();
    let config =
        TraceWriterConfig { batch_interval: Duration::from_millis(20), ..TraceWriterConfig::default() };
    let writer = TraceWriter::start(store, config, || 0).unwrap();
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
