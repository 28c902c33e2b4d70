//! The spool through its public API: reopen, torn writes, concurrency, rotation,
//! reclamation, ids, schedules.

// Helpers outside #[test] fns are test code too.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use common::*;
use smtp_wire::{Attribution, Notify, OriginalRecipient, Ret, ReversePath};
use spool::{MessageId, Schedule, Spool, SpoolConfig, SpoolError};

#[test]
fn reopen_recovers_exactly_the_live_messages() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, found) = open(dir.path());
    assert!(found.is_empty());
    let mut expected = Vec::new();
    for i in 0..20 {
        let mut env = envelope(1 + i % 3);
        if i % 4 == 0 {
            env.sender = ReversePath::Null;
        }
        env.ret = Some(Ret::Full);
        env.envid = Some(format!("env-{i}"));
        env.recipients[0].notify = Some(Notify::Never);
        env.recipients[0].orcpt =
            Some(OriginalRecipient { addr_type: "rfc822".into(), address: format!("ö{i}@example.org") });
        let body = data(i, [0, 1, 4096, 200_000][i % 4]);
        let id = enqueue(&spool, env.clone(), 1_000 + i as u64, body.clone()).unwrap();
        assert_eq!(spool.read_data(id).unwrap(), body);
        expected.push((id, env, body));
    }
    // Fully complete every fifth message; partly complete the multi-recipient ones.
    for (i, (id, env, _)) in expected.iter().enumerate() {
        if i % 5 == 0 {
            let all: Vec<u32> = (0..env.recipients.len() as u32).collect();
            complete(&spool, *id, &all).unwrap();
        } else if env.recipients.len() > 1 {
            complete(&spool, *id, &[1]).unwrap();
        }
    }
    assert_eq!(spool.stats().live_messages, 16);
    spool.close();

    let (spool, found) = open(dir.path());
    let live: Vec<_> = expected.iter().enumerate().filter(|(i, _)| i % 5 != 0).map(|(_, m)| m).collect();
    assert_eq!(found.len(), live.len());
    for (msg, (id, env, body)) in found.iter().zip(live) {
        assert_eq!(msg.id, *id);
        assert_eq!(&msg.envelope, env);
        assert_eq!(msg.size, body.len() as u64);
        let done = if env.recipients.len() > 1 { vec![1] } else { vec![] };
        assert_eq!(msg.done, done);
        assert_eq!(&spool.read_data(*id).unwrap(), body);
    }
    let first = &found[0];
    assert_eq!(first.received_at_unix_ms, 1_001);
}

/// Writes `n` small messages into a fresh spool and returns their ids and the segment length
/// after each one, plus the segment's bytes.
fn write_messages(dir: &std::path::Path, n: usize) -> (Vec<MessageId>, Vec<u64>, Vec<u8>) {
    let (spool, _) = open(dir);
    let mut ids = Vec::new();
    let mut ends = Vec::new();
    for i in 0..n {
        ids.push(enqueue(&spool, envelope(1 + i % 2), i as u64, data(i, 10 + i * 7)).unwrap());
        ends.push(spool.stats().bytes);
    }
    spool.close();
    let files = segment_files(dir);
    assert_eq!(files.len(), 1);
    let bytes = std::fs::read(&files[0]).unwrap();
    assert_eq!(bytes.len() as u64, *ends.last().unwrap());
    (ids, ends, bytes)
}

/// Opens a spool whose only segment holds `bytes`; checks that exactly `expected` is found,
/// that nothing was reported as damage (a torn tail is not), and that appending and
/// reopening work afterwards.
fn check_torn_recovery(bytes: &[u8], expected: &[MessageId], what: &str) {
    let dir = scratch_dir();
    std::fs::create_dir_all(dir.path().join("segments")).unwrap();
    std::fs::write(dir.path().join("segments/0000000000000001.log"), bytes).unwrap();
    let opened = Spool::open(config(dir.path())).unwrap();
    let (spool, found) = (opened.spool, opened.messages);
    assert!(opened.report.is_clean(), "{what}: {:?}", opened.report);
    assert!(!dir.path().join("quarantine").exists(), "{what}");
    let ids: Vec<MessageId> = found.iter().map(|m| m.id).collect();
    assert_eq!(ids, expected, "{what}");
    for id in &ids {
        spool.read_data(*id).unwrap();
    }
    let new = enqueue(&spool, envelope(1), 0, b"after".to_vec()).unwrap();
    assert!(expected.iter().all(|id| *id < new), "{what}");
    spool.close();
    let (spool, found) = open(dir.path());
    assert_eq!(found.len(), expected.len() + 1, "{what}");
    assert_eq!(spool.read_data(new).unwrap(), b"after", "{what}");
}

#[test]
fn torn_tail_at_every_offset_recovers_the_intact_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, ends, bytes) = write_messages(dir.path(), 5);
    for cut in 0..=bytes.len() {
        let intact = ends.iter().filter(|end| **end <= cut as u64).count();
        check_torn_recovery(&bytes[..cut], &ids[..intact], &format!("cut at {cut}"));
    }
}

/// Messages of `len` bytes each; returns their ids, where each record ends, and the segment.
fn write_large_messages(dir: &std::path::Path, n: usize, len: usize) -> (Vec<MessageId>, Vec<u64>, Vec<u8>) {
    let (spool, _) = open(dir);
    let mut ids = Vec::new();
    let mut ends = Vec::new();
    for i in 0..n {
        ids.push(enqueue(&spool, envelope(1), i as u64, data(i, len)).unwrap());
        ends.push(spool.stats().bytes);
    }
    spool.close();
    (ids, ends, std::fs::read(&segment_files(dir)[0]).unwrap())
}

/// A crash after the file grew but before all of its new data was written leaves the last
/// record written up to a sector boundary and zeros after it: torn, not damage.
#[test]
fn a_tail_zeroed_from_a_sector_boundary_is_torn_not_damage() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, ends, bytes) = write_large_messages(dir.path(), 3, 2000);
    for from in [ends[1], ends[1] + 1, ends[1] + 30, ends[2] - 520] {
        let sector = from.next_multiple_of(512) as usize;
        let mut torn = bytes.clone();
        torn[sector..].fill(0);
        torn.extend_from_slice(&[0; 700]);
        check_torn_recovery(&torn, &ids[..2], &format!("zeros from {sector}"));
    }
}

/// The last record fully written, then damaged: that is no torn append but damage, and it
/// is reported and moved into quarantine.
#[test]
fn a_damaged_last_record_is_damage_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, ends, bytes) = write_large_messages(dir.path(), 3, 2000);
    for at in [ends[1] + 1, ends[1] + 30, ends[1] + 500, ends[2] - 2] {
        let mut bad = bytes.clone();
        bad[at as usize] ^= 0x20;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("segments")).unwrap();
        std::fs::write(path_in(dir.path()), &bad).unwrap();
        let opened = Spool::open(config(dir.path())).unwrap();
        assert_eq!(opened.messages.iter().map(|m| m.id).collect::<Vec<_>>(), ids[..2], "byte {at}");
        let report = &opened.report;
        assert_eq!((report.records_lost, report.torn_bytes), (1, 0), "byte {at}: {report:?}");
        assert_eq!(report.quarantined.len(), 1, "byte {at}");
        let q = &report.quarantined[0];
        assert_eq!((q.offset, q.len), (ends[1], ends[2] - ends[1]), "byte {at}");
        assert_eq!(std::fs::read(&q.file).unwrap(), &bad[ends[1] as usize..], "byte {at}");
        // With its frame intact, the record still names its message.
        let named = at >= ends[1] + 25;
        assert_eq!(report.lost_messages, if named { vec![ids[2]] } else { vec![] }, "byte {at}");
        assert_eq!(report.unnamed_losses_possible, !named, "byte {at}");
    }
}

#[test]
fn garbage_files_never_panic_and_never_keep_the_spool_down() {
    let mut state = 0x1234_5678_9abc_def1_u64;
    let (_, _, good) = write_messages(tempfile::tempdir().unwrap().path(), 1);
    for len in [0usize, 5, 31, 32, 33, 39, 40, 100, 1000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        // Not a header: too short to hold a record (torn, removed), or damaged (moved
        // into quarantine whole). Either way the spool opens.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("segments")).unwrap();
        let path = dir.path().join("segments/0000000000000001.log");
        std::fs::write(&path, &bytes).unwrap();
        let opened = Spool::open(config(dir.path())).unwrap();
        assert!(opened.messages.is_empty());
        let quarantined: Vec<_> = opened.report.quarantined.iter().map(|q| q.file.clone()).collect();
        let expected = dir.path().join("quarantine/0000000000000001.log");
        assert_eq!(quarantined, if len >= 40 { vec![expected.clone()] } else { vec![] }, "len {len}");
        if len >= 40 {
            assert_eq!(std::fs::read(&expected).unwrap(), bytes);
            assert!(opened.report.unnamed_losses_possible);
        }
        opened.spool.close();
        // A valid header followed by garbage: the garbage is moved into quarantine (or, too
        // short to be a record, cut off as torn).
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("segments")).unwrap();
        std::fs::write(path_in(dir.path()), [&good[..40], &bytes].concat()).unwrap();
        let opened = Spool::open(config(dir.path())).unwrap();
        assert!(opened.messages.is_empty());
        assert_eq!(opened.report.quarantined.len(), usize::from(len >= 25), "len {len}");
        assert_eq!(std::fs::metadata(path_in(dir.path())).unwrap().len(), 40);
    }
}

fn path_in(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("segments/0000000000000001.log")
}

/// Requests waiting together share one group commit. The first request's callback holds the
/// writer thread (callbacks run on it) until 32 threads have put 128 more requests in: those
/// are then all pending at once, so the writer must take them in one batch with one sync,
/// however fast or loaded the machine is.
#[test]
fn concurrent_enqueues_share_syncs_and_all_callbacks_fire_once() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open(dir.path());
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let hold = move |r: Result<MessageId, SpoolError>| {
        r.unwrap();
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
    };
    spool.enqueue(envelope(1), 0, data(0, 512), Box::new(hold));
    started_rx.recv().unwrap();
    let before = spool.stats();

    let threads = 32;
    let per_thread = 4;
    let calls = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (spool, calls, done_tx) = (spool.clone(), Arc::clone(&calls), done_tx.clone());
            s.spawn(move || {
                for i in 0..per_thread {
                    let (calls, done_tx) = (Arc::clone(&calls), done_tx.clone());
                    let callback = move |r: Result<MessageId, SpoolError>| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        done_tx.send(r).unwrap();
                    };
                    spool.enqueue(envelope(1), 0, data(t * per_thread + i + 1, 512), Box::new(callback));
                }
            });
        }
    });
    release_tx.send(()).unwrap();
    let total = threads * per_thread;
    let mut ids = HashSet::new();
    for _ in 0..total {
        let id = done_rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap().unwrap();
        assert!(ids.insert(id), "two requests got one id");
    }
    assert_eq!(calls.load(Ordering::SeqCst), total, "every callback once");
    let after = spool.stats();
    assert_eq!(after.live_messages, total as u64 + 1);
    assert_eq!(after.batches - before.batches, 1, "{total} waiting requests in one group commit");
    assert_eq!(after.syncs - before.syncs, 1, "one sync for the batch");
    // One latency per group commit: as many as the batches that wrote.
    assert_eq!(spool.sync_latency().count(), after.batches, "{after:?}");
    spool.close();
    let (_, found) = open(dir.path());
    assert_eq!(found.len(), total + 1);
}

fn small_segments(dir: &std::path::Path) -> SpoolConfig {
    SpoolConfig { segment_bytes_max: 16 * 1024, ..SpoolConfig::new(dir) }
}

/// Enqueues `n` messages of 2 KiB one at a time; returns each id with the segment file that
/// was the head when it was acknowledged.
fn fill(spool: &Spool, dir: &std::path::Path, n: usize) -> Vec<(MessageId, std::path::PathBuf)> {
    (0..n)
        .map(|i| {
            let id = enqueue(spool, envelope(1), 0, data(i, 2048)).unwrap();
            (id, segment_files(dir).pop().unwrap())
        })
        .collect()
}

#[test]
fn rotation_and_oldest_first_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open_config(small_segments(dir.path()));
    let msgs = fill(&spool, dir.path(), 40);
    let files = segment_files(dir.path());
    assert!(files.len() >= 5, "{} segments", files.len());
    for f in &files[..files.len() - 1] {
        assert!(std::fs::metadata(f).unwrap().len() <= 16 * 1024);
    }
    // Finishing everything in the second segment must not delete it while the first lives.
    let second: Vec<_> = msgs.iter().filter(|(_, f)| *f == files[1]).collect();
    for (id, _) in &second {
        complete(&spool, *id, &[0]).unwrap();
    }
    assert!(files[1].exists());
    assert_eq!(spool.stats().segments, files.len() as u64);
    for (id, f) in &msgs {
        if *f == files[0] {
            complete(&spool, *id, &[0]).unwrap();
        }
    }
    settle(&spool);
    assert!(!files[0].exists() && !files[1].exists());
    for (id, _) in &msgs {
        if spool.read_data(*id).is_ok() {
            complete(&spool, *id, &[0]).unwrap();
        }
    }
    settle(&spool);
    assert_eq!(segment_files(dir.path()).len(), 1);
    let stats = spool.stats();
    assert_eq!((stats.live_messages, stats.segments), (0, 1));
    spool.close();
    let (_, found) = open_config(small_segments(dir.path()));
    assert!(found.is_empty());
}

#[test]
fn a_pinned_oldest_segment_is_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open_config(small_segments(dir.path()));
    let pinned_data = data(99, 1500);
    let pinned = enqueue(&spool, envelope(3), 7, pinned_data.clone()).unwrap();
    complete(&spool, pinned, &[1]).unwrap();
    let first = segment_files(dir.path());
    for (id, _) in fill(&spool, dir.path(), 40) {
        complete(&spool, id, &[0]).unwrap();
    }
    settle(&spool);
    let stats = spool.stats();
    assert!(stats.compactions >= 1, "{stats:?}");
    assert!(!first[0].exists());
    assert!(segment_files(dir.path()).len() <= 2, "{stats:?}");
    assert_eq!(stats.live_messages, 1);
    assert_eq!(spool.read_data(pinned).unwrap(), pinned_data);
    complete(&spool, pinned, &[2]).unwrap();
    spool.close();

    let (spool, found) = open_config(small_segments(dir.path()));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, pinned);
    assert_eq!(found[0].done, vec![1, 2]);
    assert_eq!(found[0].received_at_unix_ms, 7);
    assert_eq!(spool.read_data(pinned).unwrap(), pinned_data);
}

#[test]
fn ids_increase_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open(dir.path());
    let mut last = MessageId(0);
    for _ in 0..3 {
        let id = enqueue(&spool, envelope(1), 0, vec![1]).unwrap();
        assert!(id > last);
        last = id;
        complete(&spool, id, &[0]).unwrap();
    }
    spool.close();
    for _ in 0..3 {
        let (spool, found) = open(dir.path());
        assert!(found.is_empty());
        let id = enqueue(&spool, envelope(1), 0, vec![1]).unwrap();
        assert!(id > last, "{id} after {last}");
        assert_eq!(id.to_string().parse::<MessageId>().unwrap(), id);
        last = id;
        complete(&spool, id, &[0]).unwrap();
    }
}

#[test]
fn bad_requests_get_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open(dir.path());
    assert!(matches!(enqueue(&spool, envelope(0), 0, vec![]), Err(SpoolError::NoRecipients)));
    let id = enqueue(&spool, envelope(2), 0, vec![]).unwrap();
    assert!(matches!(
        complete(&spool, id, &[2]),
        Err(SpoolError::RecipientOutOfRange { index: 2, count: 2, .. })
    ));
    assert!(matches!(complete(&spool, MessageId(id.0 + 1), &[0]), Err(SpoolError::UnknownMessage(_))));
    assert!(matches!(spool.read_data(MessageId(1)), Err(SpoolError::UnknownMessage(_))));
    assert_eq!(spool.read_data(id).unwrap(), b"");
}

#[test]
fn requests_after_close_report_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open(dir.path());
    let other = spool.clone();
    let id = enqueue(&spool, envelope(1), 0, vec![1]).unwrap();
    spool.close();
    assert!(matches!(enqueue(&other, envelope(1), 0, vec![1]), Err(SpoolError::Closed)));
    assert!(matches!(complete(&other, id, &[0]), Err(SpoolError::Closed)));
    drop(other);
    let (_, found) = open(dir.path());
    assert_eq!(found.len(), 1);
}

#[test]
fn spool_is_send_sync_and_cheap_to_clone() {
    fn is_send_sync<T: Send + Sync + Clone>() {}
    is_send_sync::<Spool>();
}

#[test]
fn the_last_handle_may_be_dropped_inside_a_callback() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open(dir.path());
    let holder = spool.clone();
    let (tx, rx) = mpsc::channel();
    let callback = move |r: Result<MessageId, SpoolError>| {
        drop(holder);
        tx.send(r).unwrap();
    };
    spool.enqueue(envelope(1), 0, vec![1], Box::new(callback));
    drop(spool);
    let id = rx.recv().unwrap().unwrap();
    // The writer finishes on its own and then releases the directory.
    let mut found = None;
    for _ in 0..500 {
        match Spool::open(config(dir.path())) {
            Ok(opened) => found = Some(opened.messages),
            Err(SpoolError::Locked(_)) => {}
            Err(e) => panic!("{e}"),
        }
        if found.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let found = found.expect("the writer released the spool");
    assert_eq!(found.iter().map(|m| m.id).collect::<Vec<_>>(), vec![id]);
}

#[test]
fn a_directory_has_one_spool_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open(dir.path());
    assert!(matches!(Spool::open(config(dir.path())), Err(SpoolError::Locked(_))));
    spool.close();
    open(dir.path());
}

#[test]
fn compaction_moves_a_segment_in_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open_config(small_segments(dir.path()));
    // Two 1.5 KiB survivors: 19% of a 16 KiB segment, one per 2 KiB compaction round.
    let pinned: Vec<(MessageId, Vec<u8>)> = (0..2)
        .map(|i| {
            let body = data(50 + i, 1500);
            let id = enqueue(&spool, envelope(2), 0, body.clone()).unwrap();
            complete(&spool, id, &[i as u32]).unwrap();
            (id, body)
        })
        .collect();
    let first = segment_files(dir.path());
    for (id, _) in fill(&spool, dir.path(), 40) {
        complete(&spool, id, &[0]).unwrap();
    }
    settle(&spool);
    assert!(spool.stats().compactions >= 2, "{:?}", spool.stats());
    assert!(!first[0].exists());
    spool.close();
    let (spool, found) = open_config(small_segments(dir.path()));
    assert_eq!(found.len(), 2);
    for (i, (msg, (id, body))) in found.iter().zip(&pinned).enumerate() {
        assert_eq!((msg.id, msg.done.clone()), (*id, vec![i as u32]));
        assert_eq!(&spool.read_data(*id).unwrap(), body);
    }
}

fn sched(attempts: u32, next_attempt_unix_ms: u64, delay_notified: bool) -> Schedule {
    Schedule { attempts, next_attempt_unix_ms, delay_notified }
}

#[test]
fn schedules_survive_reopen_and_the_latest_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open(dir.path());
    let [a, b, c] = [0, 1, 2].map(|i| enqueue(&spool, envelope(2), i, data(i as usize, 100)).unwrap());
    schedule(&spool, a, sched(1, 1_000, false)).unwrap();
    schedule(&spool, a, sched(2, 5_000, true)).unwrap();
    // Two in one batch: the channel keeps their order.
    let (tx, rx) = mpsc::channel();
    for s in [sched(3, 10, false), sched(4, 20, true)] {
        let tx = tx.clone();
        spool.schedule(c, s, Box::new(move |r| tx.send(r).unwrap()));
    }
    for _ in 0..2 {
        rx.recv().unwrap().unwrap();
    }
    spool.close();

    let (spool, found) = open(dir.path());
    let schedules: Vec<_> = found.iter().map(|m| (m.id, m.schedule)).collect();
    assert_eq!(
        schedules,
        vec![(a, sched(2, 5_000, true)), (b, Schedule::default()), (c, sched(4, 20, true))]
    );
    schedule(&spool, b, sched(1, 7, false)).unwrap();
    schedule(&spool, a, Schedule::default()).unwrap();
    spool.close();
    let (_, found) = open(dir.path());
    let schedules: Vec<_> = found.iter().map(|m| m.schedule).collect();
    assert_eq!(schedules, vec![Schedule::default(), sched(1, 7, false), sched(4, 20, true)]);
}

#[test]
fn schedule_of_a_message_that_is_not_live_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open(dir.path());
    let id = enqueue(&spool, envelope(1), 0, vec![1]).unwrap();
    let unknown = MessageId(id.0 + 1);
    assert!(
        matches!(schedule(&spool, unknown, sched(1, 1, false)), Err(SpoolError::UnknownMessage(u)) if u == unknown)
    );
    complete(&spool, id, &[0]).unwrap();
    assert!(matches!(schedule(&spool, id, sched(1, 1, false)), Err(SpoolError::UnknownMessage(_))));
    let before = spool.stats().bytes;
    spool.close();
    // Nothing was written for either.
    assert_eq!(
        segment_files(dir.path()).iter().map(|f| std::fs::metadata(f).unwrap().len()).sum::<u64>(),
        before
    );
    let (spool, found) = open(dir.path());
    assert!(found.is_empty());
    let other = spool.clone();
    spool.close();
    assert!(matches!(schedule(&other, id, sched(1, 1, false)), Err(SpoolError::Closed)));
}

#[test]
fn the_schedule_survives_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open_config(small_segments(dir.path()));
    let pinned = enqueue(&spool, envelope(2), 7, data(99, 1500)).unwrap();
    // Its only Schedule record goes into the segment that compaction deletes.
    schedule(&spool, pinned, sched(3, 123_456, true)).unwrap();
    let first = segment_files(dir.path());
    for (id, _) in fill(&spool, dir.path(), 40) {
        complete(&spool, id, &[0]).unwrap();
    }
    settle(&spool);
    assert!(spool.stats().compactions >= 1, "{:?}", spool.stats());
    assert!(!first[0].exists());
    spool.close();
    let (spool, found) = open_config(small_segments(dir.path()));
    assert_eq!((found.len(), found[0].id, found[0].schedule), (1, pinned, sched(3, 123_456, true)));
    schedule(&spool, pinned, sched(4, 200_000, true)).unwrap();
    spool.close();
    let (_, found) = open_config(small_segments(dir.path()));
    assert_eq!(found[0].schedule, sched(4, 200_000, true));
}

#[test]
fn read_envelope_reads_back_just_the_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open_config(small_segments(dir.path()));
    let mut env = envelope(3);
    env.envid = Some("read-back".into());
    env.client.attribution =
        Some(Attribution { tenant: "t".into(), connector: "on-prem".into(), outbound_relay: true });
    let pinned = enqueue(&spool, env.clone(), 0, data(1, 1500)).unwrap();
    let empty = enqueue(&spool, envelope(1), 0, Vec::new()).unwrap();
    assert_eq!(spool.read_envelope(pinned).unwrap(), env);
    assert_eq!(spool.read_envelope(empty).unwrap(), envelope(1));
    complete(&spool, empty, &[0]).unwrap();
    assert!(matches!(spool.read_envelope(empty), Err(SpoolError::UnknownMessage(_))));
    assert!(matches!(spool.read_envelope(MessageId(1)), Err(SpoolError::UnknownMessage(_))));
    // Moved by compaction, and after a reopen.
    for (id, _) in fill(&spool, dir.path(), 40) {
        complete(&spool, id, &[0]).unwrap();
    }
    settle(&spool);
    assert!(spool.stats().compactions >= 1);
    assert_eq!(spool.read_envelope(pinned).unwrap(), env);
    spool.close();
    let (spool, _) = open_config(small_segments(dir.path()));
    assert_eq!(spool.read_envelope(pinned).unwrap(), env);
}

#[test]
fn read_envelope_refuses_a_record_damaged_after_open() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open(dir.path());
    let id = enqueue(&spool, envelope(1), 0, b"data".to_vec()).unwrap();
    let file =
        std::fs::OpenOptions::new().read(true).write(true).open(&segment_files(dir.path())[0]).unwrap();
    // The first record starts after the 40-byte header: its frame's type byte at 44, id at
    // 49; the payload's envelope length at 73 and envelope (sender tag) at 77.
    for (at, byte) in [(44, 2u8), (49, 0xff), (73, 0xff), (77, 7)] {
        let mut old = [0u8];
        file.read_exact_at(&mut old, at).unwrap();
        file.write_all_at(&[byte], at).unwrap();
        let err = spool.read_envelope(id).unwrap_err();
        assert!(matches!(err, SpoolError::Corrupt { offset: 40, .. }), "byte {at}: {err}");
        assert!(matches!(spool.read_data(id), Err(SpoolError::Corrupt { .. })), "byte {at}");
        file.write_all_at(&old, at).unwrap();
        assert_eq!(spool.read_envelope(id).unwrap(), envelope(1));
    }
    // Damaged data: the envelope still reads, the data does not (its CRC fails).
    let end = std::fs::metadata(&segment_files(dir.path())[0]).unwrap().len();
    file.write_all_at(b"x", end - 1).unwrap();
    assert_eq!(spool.read_envelope(id).unwrap(), envelope(1));
    let err = spool.read_data(id).unwrap_err();
    assert!(
        matches!(err, SpoolError::Corrupt { offset: 40, reason: "message data fails its CRC", .. }),
        "{err}"
    );
    file.set_len(44).unwrap();
    assert!(matches!(spool.read_envelope(id), Err(SpoolError::Io(_))));
}

/// A segment of a newer format (a downgrade) is not damage: the spool refuses to open and
/// says why, rather than move a newer release's mail into quarantine.
#[test]
fn a_segment_of_a_newer_format_refuses_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, good) = write_messages(dir.path(), 1);
    let mut header = good[..40].to_vec();
    header[8..12].copy_from_slice(&4u32.to_le_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[8..12]);
    hasher.update(&header[16..40]);
    header[12..16].copy_from_slice(&hasher.finalize().to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("segments")).unwrap();
    std::fs::write(path_in(dir.path()), [&header[..], &good[40..]].concat()).unwrap();
    let err = Spool::open(config(dir.path())).unwrap_err();
    assert!(matches!(err, SpoolError::NewerFormat { version: 4, .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "spool segment {} is in format 4, written by a newer release of Sluice; run a release that reads it",
            path_in(dir.path()).display()
        )
    );
    assert!(path_in(dir.path()).exists());
}
