//! The spool: Sluice's durable queue store. The enqueue step writes a message here and
//! answers `250` only once `enqueue`'s callback reports it durable; the queue manager reads
//! it back, records finished recipients with `complete` and where it is with each message
//! (attempts, next attempt, delay notice sent) with `schedule`.
//!
//! # Layout and format
//! `<dir>/lock` (held by the writer thread: one spool per directory) and
//! `<dir>/segments/<seq as 16 hex digits>.log`, each an append-only log: a 32-byte header
//! (magic `SLUICESP`, format version, CRC, seq, id floor) then records
//! `[u32 len][u32 crc32 of type+payload][u8 type][payload]` (the `record` module has the
//! payloads). `Message` records hold id, reception time, envelope and data; `Done` records
//! list recipient indices that are finished (delivered or bounced); `Schedule` records hold
//! a message's retry state, the latest in log order winning. A message is dead when all its
//! recipients are done; its later `Schedule` and `Done` records are then ignored.
//!
//! # Invariants
//! - Only the writer thread writes, rotates or deletes segments; callers talk to it over a
//!   channel. It appends the records of all waiting requests, calls `sync_data` once for the
//!   batch (group commit), and only then updates the index and runs the callbacks. So a
//!   callback's `Ok` means the record is on disk, and the index never points at unsynced
//!   bytes.
//! - A new segment's header is synced and its directory entry synced before any record goes
//!   into it.
//! - A failed write or sync fails every request of the batch; the head is cut back to its
//!   last synced length (or sealed and a new segment started if that fails too). Nothing
//!   unacknowledged is ever reported durable; an unacknowledged record may survive a crash
//!   and be delivered (at least once, never lost).
//! - Recovery stops each segment at its first short, CRC-failing or undecodable record and
//!   truncates the file there. Read errors abort `open` rather than cut anything.
//! - A segment holds records of the format its header names. New segments are written in
//!   format 2; format 1 segments (the previous release: no attribution in the envelope) are
//!   still read so that an upgrade loses no accepted mail, but never appended to, and
//!   compaction re-encodes their live messages in format 2. An unknown version refuses `open`.
//! - A `Done` or `Schedule` record may refer to a message in an earlier segment, so segments
//!   are deleted oldest first only, and each deletion is made durable (directory sync)
//!   before the next. The head segment is never deleted, so its header's id floor survives.
//! - Compaction keeps one long-deferred message from pinning the log: when the oldest sealed
//!   segment's live bytes fall under a quarter of its size, its live messages are re-appended
//!   to the head with their done state and schedule (a `Done` and a `Schedule` record right
//!   after the copy), synced, and the old segment deleted. Recovery merges two copies of one
//!   id (a crash mid-compaction): the later location wins, done sets unite, and the schedule
//!   is the latest `Schedule` record in log order, which is the copy's own or a later one
//!   (a copy whose `Schedule` record was torn off keeps the earlier copy's).
//! - Ids are unique and increasing across restarts: `max(last + 1, unix_ms << 16)`, floored
//!   by the highest id found in any header or record.
//! - Memory per live message is its location, sizes, schedule and a done bitset (72 bytes in
//!   the index, plus 8 per 64 recipients once one is done; the `index` module checks it);
//!   envelopes (`read_envelope`) and data (`read_data`) are read back on demand.

mod id;
mod index;
mod record;
mod recovery;
mod segment;
mod writer;

#[cfg(test)]
mod fault_tests;

use std::fmt;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use smtp_wire::Envelope;

use id::IdGenerator;
pub use id::{MessageId, ParseMessageIdError};
use segment::{FsStorage, Storage};
use writer::{Reply, Request, Shared, Writer, WriterConfig};

/// Default size at which the head segment is sealed and a new one started.
pub const SEGMENT_BYTES_MAX_DEFAULT: u64 = 64 << 20;
/// Default number of requests committed with one sync.
pub const BATCH_MESSAGES_MAX_DEFAULT: usize = 256;

/// A callback of `enqueue`, `complete` or `schedule`: runs exactly once, with the outcome.
pub type Callback<T> = Box<dyn FnOnce(Result<T, SpoolError>) + Send>;

/// Where the spool lives and how it batches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    /// A segment is sealed before an append would take it past this size (a single batch
    /// larger than this still goes into one segment).
    pub segment_bytes_max: u64,
    /// Requests per group commit at most (at least 1).
    pub batch_messages_max: usize,
}

impl SpoolConfig {
    /// The defaults for a spool in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SpoolConfig {
            dir: dir.into(),
            segment_bytes_max: SEGMENT_BYTES_MAX_DEFAULT,
            batch_messages_max: BATCH_MESSAGES_MAX_DEFAULT,
        }
    }
}

/// Why a spool operation failed. The gateway answers all of these with a temporary
/// `451 4.3.0`: nothing acknowledged is lost.
#[derive(Clone, Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool I/O error: {0}")]
    Io(Arc<io::Error>),
    #[error("spool file {path} is damaged at offset {offset}: {reason}")]
    Corrupt { path: PathBuf, offset: u64, reason: &'static str },
    #[error("message {0} is not in the spool")]
    UnknownMessage(MessageId),
    #[error("message {id} has {count} recipients, no recipient {index}")]
    RecipientOutOfRange { id: MessageId, index: u32, count: u32 },
    #[error("a message needs at least one recipient")]
    NoRecipients,
    #[error("message of {bytes} bytes is too large for the spool")]
    MessageTooLarge { bytes: usize },
    #[error("the spool is closed")]
    Closed,
    #[error("spool directory {0} is in use by another spool")]
    Locked(PathBuf),
}

impl From<io::Error> for SpoolError {
    fn from(e: io::Error) -> Self {
        SpoolError::Io(Arc::new(e))
    }
}

impl From<record::DecodeError> for SpoolError {
    fn from(_: record::DecodeError) -> Self {
        SpoolError::Corrupt { path: PathBuf::new(), offset: 0, reason: "record does not decode" }
    }
}

/// Where the queue manager is with a message; persisted so a restart neither retries
/// everything at once nor sends a second delay notice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due; 0 (the default) means now.
    pub next_attempt_unix_ms: u64,
    /// Whether the sender has been told that delivery is delayed.
    pub delay_notified: bool,
}

/// A live message found at `open`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpooledMessage {
    pub id: MessageId,
    pub received_at_unix_ms: u64,
    pub envelope: Envelope,
    /// Recipient indices already finished, ascending.
    pub done: Vec<u32>,
    /// Size of the message data in bytes.
    pub size: u64,
    /// The latest schedule recorded with `Spool::schedule`, or the default if none was.
    pub schedule: Schedule,
}

/// Counts for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolStats {
    pub live_messages: u64,
    /// Bytes of the records of live messages.
    pub live_bytes: u64,
    pub segments: u64,
    /// Bytes of all segment files.
    pub bytes: u64,
    /// `sync_data`/`sync_all` calls made by the writer (batches, new segments).
    pub syncs: u64,
    /// Group commits attempted.
    pub batches: u64,
    pub compactions: u64,
    /// Batches that failed to write or sync.
    pub write_errors: u64,
}

/// A handle on the spool: cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    tx: Sender<Request>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Spool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spool").field("dir", &self.inner.shared.segments_dir).finish_non_exhaustive()
    }
}

impl Spool {
    /// Opens (creating if needed) and recovers; returns the live messages.
    pub fn open(config: SpoolConfig) -> Result<(Spool, Vec<SpooledMessage>), SpoolError> {
        Self::open_with_storage(config, Box::new(FsStorage))
    }

    pub(crate) fn open_with_storage(
        config: SpoolConfig,
        storage: Box<dyn Storage>,
    ) -> Result<(Spool, Vec<SpooledMessage>), SpoolError> {
        let segments_dir = config.dir.join("segments");
        std::fs::create_dir_all(&segments_dir)?;
        let lock = lock_dir(&config.dir)?;
        let mut recovered = recovery::recover(&segments_dir)?;
        let messages = recovered.messages();
        let shared = Arc::new(Shared {
            index: Mutex::new(std::mem::take(&mut recovered.index)),
            ids: IdGenerator::new(recovered.id_floor),
            counters: Default::default(),
            segments_dir,
        });
        let writer_config = WriterConfig {
            segment_bytes_max: config.segment_bytes_max,
            batch_messages_max: config.batch_messages_max.max(1),
        };
        let writer = Writer::new(Arc::clone(&shared), storage, recovered.last, writer_config)?;
        let run = move |rx| {
            writer.run(rx);
            drop(lock);
        };
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new().name("spool-writer".into()).spawn(move || run(rx))?;
        let inner = Inner { shared, tx, writer: Mutex::new(Some(handle)) };
        let spool = Spool { inner: Arc::new(inner) };
        Ok((spool, messages))
    }

    /// Appends a message; `done` is called from the writer thread once it is durable (after
    /// fdatasync) or failed. A request refused up front (no recipients, too large, spool
    /// closed) gets its error on the calling thread.
    pub fn enqueue(
        &self,
        envelope: Envelope,
        received_at_unix_ms: u64,
        data: Vec<u8>,
        done: Callback<MessageId>,
    ) {
        let reply = Reply::new(done);
        if envelope.recipients.is_empty() {
            return reply.send(Err(SpoolError::NoRecipients));
        }
        let Ok(recipients) = u32::try_from(envelope.recipients.len()) else {
            return reply.send(Err(SpoolError::MessageTooLarge { bytes: data.len() }));
        };
        if data.len() > record::DATA_BYTES_MAX {
            return reply.send(Err(SpoolError::MessageTooLarge { bytes: data.len() }));
        }
        let id = self.inner.shared.ids.next();
        let Some(record) = record::encode_message(id, received_at_unix_ms, &envelope, &data) else {
            return reply.send(Err(SpoolError::MessageTooLarge { bytes: data.len() }));
        };
        // A send error hands the request back; dropping it answers `Closed`.
        let _ = self.inner.tx.send(Request::Enqueue { id, record, recipients, reply });
    }

    /// Reads the message content back.
    pub fn read_data(&self, id: MessageId) -> Result<Vec<u8>, SpoolError> {
        let at = self.locate(id)?;
        let corrupt = |reason| at.corrupt(&self.inner.shared.segments_dir, reason);
        let mut buf = vec![0u8; usize::try_from(at.record_len).map_err(|_| corrupt("too large"))?];
        at.reader.read_exact_at(&mut buf, at.offset)?;
        match record::parse_framed(&buf) {
            Some((record::RecordType::Message, payload))
                if record::decode_message(payload, at.version).is_ok_and(|m| m.id == id) => {}
            _ => return Err(corrupt("message record fails its check on read")),
        }
        let start = buf.len().saturating_sub(at.data_len as usize);
        buf.drain(..start);
        Ok(buf)
    }

    /// Reads back the envelope of a live message without its data, so that the queue
    /// manager can keep only ids and schedules in memory for deferred mail. The record's
    /// CRC covers the data too and is not checked here (recovery checked it, `read_data`
    /// checks it again before delivery); the record's type, id and lengths and the
    /// envelope's structure are.
    pub fn read_envelope(&self, id: MessageId) -> Result<Envelope, SpoolError> {
        let at = self.locate(id)?;
        let corrupt = |reason| at.corrupt(&self.inner.shared.segments_dir, reason);
        let mut prefix = [0u8; record::MESSAGE_PREFIX_BYTES];
        at.reader.read_exact_at(&mut prefix, at.offset)?;
        let found = record::decode_message_prefix(&prefix).map_err(|_| corrupt("not a message record"))?;
        let envelope_len = u64::from(found.envelope_len);
        let expected_len = record::MESSAGE_PREFIX_BYTES as u64 + envelope_len + u64::from(at.data_len);
        if found.id != id || at.record_len != expected_len || at.payload_len != found.payload_len {
            return Err(corrupt("message record does not match the index"));
        }
        let mut bytes = vec![0u8; found.envelope_len as usize];
        at.reader.read_exact_at(&mut bytes, at.offset + record::MESSAGE_PREFIX_BYTES as u64)?;
        record::decode_envelope(&bytes, at.version).map_err(|_| corrupt("envelope does not decode"))
    }

    /// Where a live message's record is, with a read handle on its segment.
    fn locate(&self, id: MessageId) -> Result<Located, SpoolError> {
        let index = self.inner.shared.index();
        let entry = index.messages.get(&id).ok_or(SpoolError::UnknownMessage(id))?;
        let segment = index.segments.get(&entry.segment).ok_or(SpoolError::UnknownMessage(id))?;
        Ok(Located {
            reader: Arc::clone(&segment.reader),
            segment: entry.segment,
            version: segment.version,
            offset: entry.offset,
            record_len: entry.record_len(),
            payload_len: entry.payload_len,
            data_len: entry.data_len,
        })
    }

    /// Records recipients as finished; `done` runs once that record is durable.
    pub fn complete(&self, id: MessageId, recipients: &[u32], done: Callback<()>) {
        let _ = self.inner.tx.send(Request::Complete {
            id,
            recipients: recipients.to_vec(),
            reply: Reply::new(done),
        });
    }

    /// Records where the queue manager is with a live message; `done` runs once that record
    /// is durable. The latest schedule recorded wins; `open` returns it with the message.
    /// An id that is not live (never spooled, or all recipients done) gets
    /// `SpoolError::UnknownMessage`.
    pub fn schedule(&self, id: MessageId, schedule: Schedule, done: Callback<()>) {
        let _ = self.inner.tx.send(Request::Schedule { id, schedule, reply: Reply::new(done) });
    }

    /// Counts for metrics and tests: live messages, segments, bytes.
    pub fn stats(&self) -> SpoolStats {
        let shared = &self.inner.shared;
        let counters = &shared.counters;
        let index = shared.index();
        SpoolStats {
            live_messages: index.messages.len() as u64,
            live_bytes: index.segments.values().map(|s| s.live_bytes).sum(),
            segments: index.segments.len() as u64,
            bytes: index.segments.values().map(|s| s.size).sum(),
            syncs: counters.syncs.load(Ordering::Relaxed),
            batches: counters.batches.load(Ordering::Relaxed),
            compactions: counters.compactions.load(Ordering::Relaxed),
            write_errors: counters.write_errors.load(Ordering::Relaxed),
        }
    }

    /// Flushes and stops the writer thread (also on Drop of the last handle). Requests
    /// already sent are committed; later ones from other handles get `SpoolError::Closed`.
    pub fn close(self) {
        self.inner.shutdown();
    }
}

/// A live message's record as found in the index; the reader stays valid when the segment
/// is deleted meanwhile.
struct Located {
    reader: Arc<std::fs::File>,
    segment: u64,
    version: u32,
    offset: u64,
    record_len: u64,
    payload_len: u32,
    data_len: u32,
}

impl Located {
    fn corrupt(&self, segments_dir: &std::path::Path, reason: &'static str) -> SpoolError {
        let path = segment::segment_path(segments_dir, self.segment);
        SpoolError::Corrupt { path, offset: self.offset, reason }
    }
}

/// Takes `<dir>/lock` so that a second spool (another process, or a reopen while the old
/// writer still runs) cannot append to the same segments. Held until the writer stops.
fn lock_dir(dir: &std::path::Path) -> Result<std::fs::File, SpoolError> {
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("lock"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(SpoolError::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

impl Inner {
    fn shutdown(&self) {
        let handle = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            let _ = self.tx.send(Request::Shutdown);
            // The last handle may be dropped inside a callback, on the writer thread itself:
            // it stops after the current batch, and must not wait for itself.
            if handle.thread().id() == std::thread::current().id() {
                return;
            }
            if handle.join().is_err() {
                tracing::error!("spool writer thread panicked");
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

const fn assert_send_sync<T: Send + Sync>() {}
const _: () = assert_send_sync::<Spool>();
