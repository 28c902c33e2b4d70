//! Fault injection: write, sync, truncate, create and remove failures through the
//! `Storage` trait, as a full disk or a failing device would produce them.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use smtp_wire::Envelope;

use crate::common::{self, wait};
use crate::segment::{FsStorage, SegmentFile, Storage};
use crate::{MessageId, Schedule, Spool, SpoolConfig, SpoolError, SpooledMessage};

#[derive(Debug, Default)]
struct Faults {
    /// Writes store half the buffer, then fail with ENOSPC.
    write: AtomicBool,
    sync: AtomicBool,
    set_len: AtomicBool,
    create: AtomicBool,
    remove: AtomicBool,
}

fn fail(flag: &AtomicBool) -> io::Result<()> {
    match flag.load(Ordering::SeqCst) {
        true => Err(io::Error::from_raw_os_error(28)),
        false => Ok(()),
    }
}

struct FaultyFile {
    file: Box<dyn SegmentFile>,
    faults: Arc<Faults>,
}

impl SegmentFile for FaultyFile {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        if self.faults.write.load(Ordering::SeqCst) {
            self.file.write_all_at(&buf[..buf.len() / 2], offset)?;
            return fail(&self.faults.write);
        }
        self.file.write_all_at(buf, offset)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        fail(&self.faults.sync)?;
        self.file.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        fail(&self.faults.set_len)?;
        self.file.set_len(len)
    }
}

struct FaultyStorage(Arc<Faults>);

impl Storage for FaultyStorage {
    fn create(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        fail(&self.0.create)?;
        let file = FsStorage.create(path)?;
        Ok(Box::new(FaultyFile { file, faults: Arc::clone(&self.0) }))
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        let file = FsStorage.open(path)?;
        Ok(Box::new(FaultyFile { file, faults: Arc::clone(&self.0) }))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        FsStorage.sync_dir(dir)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fail(&self.0.remove)?;
        FsStorage.remove(path)
    }
}

fn envelope() -> Envelope {
    common::envelope(1)
}

fn enqueue(spool: &Spool, data: &[u8]) -> Result<MessageId, SpoolError> {
    wait(|cb| spool.enqueue(envelope(), 0, data.to_vec(), cb))
}

fn complete(spool: &Spool, id: MessageId) -> Result<(), SpoolError> {
    wait(|cb| spool.complete(id, &[0], cb))
}

fn schedule(spool: &Spool, id: MessageId, attempts: u32) -> Result<(), SpoolError> {
    let schedule =
        Schedule { attempts, next_attempt_unix_ms: u64::from(attempts) * 1000, delay_notified: true };
    wait(|cb| spool.schedule(id, schedule, cb))
}

fn open_faulty(config: SpoolConfig) -> (Spool, Arc<Faults>) {
    let faults = Arc::new(Faults::default());
    let storage = Arc::new(FaultyStorage(Arc::clone(&faults)));
    (Spool::open_with_storage(config, storage).unwrap().spool, faults)
}

fn reopen(dir: &Path) -> Vec<SpooledMessage> {
    Spool::open(SpoolConfig::new(dir)).unwrap().messages
}

fn head_file_len(dir: &Path) -> u64 {
    let mut files: Vec<_> =
        std::fs::read_dir(dir.join("segments")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    std::fs::metadata(files.last().unwrap()).unwrap().len()
}

#[test]
fn disk_full_fails_the_batch_then_the_spool_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, faults) = open_faulty(SpoolConfig::new(dir.path()));
    let a = enqueue(&spool, b"first").unwrap();
    let good_len = head_file_len(dir.path());
    faults.write.store(true, Ordering::SeqCst);
    assert!(matches!(enqueue(&spool, b"lost"), Err(SpoolError::Io(_))));
    assert!(matches!(complete(&spool, a), Err(SpoolError::Io(_))));
    // The half-written record was cut off again.
    assert_eq!(head_file_len(dir.path()), good_len);
    faults.write.store(false, Ordering::SeqCst);
    let c = enqueue(&spool, b"third").unwrap();
    let stats = spool.stats();
    assert_eq!((stats.write_errors, stats.live_messages, stats.segments), (2, 2, 1));
    spool.close();
    let found: Vec<_> = reopen(dir.path()).iter().map(|m| m.id).collect();
    assert_eq!(found, vec![a, c]);
}

#[test]
fn failed_sync_and_failed_truncate_seal_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, faults) = open_faulty(SpoolConfig::new(dir.path()));
    let a = enqueue(&spool, b"first").unwrap();
    faults.sync.store(true, Ordering::SeqCst);
    faults.set_len.store(true, Ordering::SeqCst);
    assert!(matches!(enqueue(&spool, b"in doubt"), Err(SpoolError::Io(_))));
    faults.sync.store(false, Ordering::SeqCst);
    faults.set_len.store(false, Ordering::SeqCst);
    let c = enqueue(&spool, b"third").unwrap();
    assert_eq!(spool.stats().segments, 2);
    assert_eq!(spool.read_data(a).unwrap(), b"first");
    assert_eq!(spool.read_data(c).unwrap(), b"third");
    spool.close();
    // The unacknowledged record may survive (at least once), the acknowledged ones must.
    let found: Vec<_> = reopen(dir.path()).iter().map(|m| m.id).collect();
    assert!(found.contains(&a) && found.contains(&c), "{found:?}");
}

#[test]
fn failed_rotation_fails_batches_until_the_disk_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let config = SpoolConfig { segment_bytes_max: 4096, ..SpoolConfig::new(dir.path()) };
    let (spool, faults) = open_faulty(config);
    let a = enqueue(&spool, &[7; 3000]).unwrap();
    faults.create.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        assert!(matches!(enqueue(&spool, &[8; 3000]), Err(SpoolError::Io(_))));
    }
    faults.create.store(false, Ordering::SeqCst);
    let b = enqueue(&spool, &[9; 3000]).unwrap();
    assert_eq!(spool.stats().segments, 2);
    spool.close();
    let found: Vec<_> = reopen(dir.path()).iter().map(|m| m.id).collect();
    assert_eq!(found, vec![a, b]);
}

#[test]
fn interrupted_compaction_leaves_copies_that_recovery_merges() {
    let dir = tempfile::tempdir().unwrap();
    let config = SpoolConfig { segment_bytes_max: 8192, ..SpoolConfig::new(dir.path()) };
    let (spool, faults) = open_faulty(config.clone());
    faults.remove.store(true, Ordering::SeqCst);
    let pinned = wait(|cb| spool.enqueue(common::envelope(2), 5, b"pinned".to_vec(), cb)).unwrap();
    complete(&spool, pinned).unwrap();
    schedule(&spool, pinned, 1).unwrap();
    for _ in 0..8 {
        let id = enqueue(&spool, &[1; 2000]).unwrap();
        complete(&spool, id).unwrap();
    }
    // The copy was written but the old segment could not be removed.
    assert!(spool.stats().compactions >= 1);
    assert_eq!(spool.stats().live_messages, 1);
    assert_eq!(spool.read_data(pinned).unwrap(), b"pinned");
    spool.close();
    let found = reopen(dir.path());
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].id, found[0].done.clone(), found[0].schedule.attempts), (pinned, vec![0], 1));
    // A schedule recorded after the copy is later in the log than both copies: it wins.
    let spool = Spool::open(config.clone()).unwrap().spool;
    schedule(&spool, pinned, 2).unwrap();
    spool.close();
    let found = reopen(dir.path());
    assert_eq!((found.len(), found[0].schedule.attempts), (1, 2));
}

#[test]
fn a_failed_schedule_fails_its_callback_and_keeps_the_last_durable_one() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, faults) = open_faulty(SpoolConfig::new(dir.path()));
    let a = enqueue(&spool, b"first").unwrap();
    schedule(&spool, a, 1).unwrap();
    let good_len = head_file_len(dir.path());
    for flag in [&faults.write, &faults.sync] {
        flag.store(true, Ordering::SeqCst);
        assert!(matches!(schedule(&spool, a, 9), Err(SpoolError::Io(_))));
        flag.store(false, Ordering::SeqCst);
        assert_eq!(head_file_len(dir.path()), good_len);
    }
    let b = enqueue(&spool, b"second").unwrap();
    schedule(&spool, b, 2).unwrap();
    assert_eq!(spool.stats().write_errors, 2);
    spool.close();
    let found: Vec<_> = reopen(dir.path()).iter().map(|m| (m.id, m.schedule.attempts)).collect();
    assert_eq!(found, vec![(a, 1), (b, 2)]);
}
