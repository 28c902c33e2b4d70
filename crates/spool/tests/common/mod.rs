//! Helpers of the spool's tests: the integration tests' `mod common`, and the crate's own
//! tests' too (`lib.rs` includes this file, naming the crate `spool` for it).

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use smtp_wire::{Address, BodyType, ClientInfo, Envelope, Recipient, ReversePath};
use spool::{MessageId, Schedule, Spool, SpoolConfig, SpoolError, SpooledMessage};

pub fn config(dir: &Path) -> SpoolConfig {
    SpoolConfig::new(dir)
}

pub fn envelope(recipients: usize) -> Envelope {
    let sender = ReversePath::Mailbox(Address::new("sender", "example.com"));
    let recipients = (0..recipients).map(|i| Recipient::new(Address::new(format!("rcpt{i}"), "example.org")));
    let client = ClientInfo::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), "client.example.com");
    Envelope { body: BodyType::EightBitMime, ..Envelope::new(sender, recipients.collect(), client) }
}

pub fn data(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + seed * 7) as u8).collect()
}

/// Calls `submit` with a callback and waits for its outcome.
pub fn wait<T: Send + 'static>(submit: impl FnOnce(spool::Callback<T>)) -> Result<T, SpoolError> {
    let (tx, rx) = mpsc::channel();
    submit(Box::new(move |r| tx.send(r).unwrap()));
    rx.recv().unwrap()
}

pub fn enqueue(
    spool: &Spool,
    envelope: Envelope,
    received_at: u64,
    data: Vec<u8>,
) -> Result<MessageId, SpoolError> {
    wait(|cb| spool.enqueue(envelope, received_at, data, cb))
}

pub fn complete(spool: &Spool, id: MessageId, recipients: &[u32]) -> Result<(), SpoolError> {
    wait(|cb| spool.complete(id, recipients, cb))
}

pub fn schedule(spool: &Spool, id: MessageId, schedule: Schedule) -> Result<(), SpoolError> {
    wait(|cb| spool.schedule(id, schedule, cb))
}

/// Returns once the writer has finished the reclamation (segment deletion, compaction round)
/// that follows every request answered so far. Callbacks run before it, so a test looking at
/// segment files right after a callback races with it. The writer takes requests in order
/// and reclaims after each batch before taking the next; a schedule for an id that is never
/// live is answered there without writing anything.
pub fn settle(spool: &Spool) {
    let result = schedule(spool, MessageId(0), Schedule::default());
    assert!(matches!(result, Err(SpoolError::UnknownMessage(_))), "{result:?}");
}

pub fn open(dir: &Path) -> (Spool, Vec<SpooledMessage>) {
    open_config(config(dir))
}

pub fn open_config(config: SpoolConfig) -> (Spool, Vec<SpooledMessage>) {
    let opened = Spool::open(config).unwrap();
    (opened.spool, opened.messages)
}

/// A directory for recovering many damaged copies of a spool: in `/dev/shm` when it exists,
/// where syncs cost nothing, so that checking every offset stays fast.
pub fn scratch_dir() -> tempfile::TempDir {
    match Path::new("/dev/shm").is_dir() {
        true => tempfile::tempdir_in("/dev/shm").unwrap(),
        false => tempfile::tempdir().unwrap(),
    }
}

/// Segment files on disk, oldest first.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir.join("segments")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}
