//! The spool: Sluice's durable queue store. The enqueue step writes a message here and
//! answers `250` only once `enqueue`'s callback reports it durable; the queue manager reads
//! it back, records finished recipients with `complete` and where it is with each message
//! (attempts, next attempt, delay notice sent) with `schedule`. A message whose data arrives
//! in chunks is added through `begin_message` (a `DataWriter`), and data is read back as a
//! stream with `open_data` (a `DataReader`), so a large message is never held in memory.
//!
//! # Layout and format
//! - `<dir>/lock`, held by the writer thread: one spool per directory.
//! - `<dir>/segments/<seq as 16 hex digits>.log`, each an append-only log: a 40-byte header
//!   (magic `SLUICESP`, format version, CRC, seq, id floor, and a random salt for the
//!   records' checks) then records, each a 25-byte frame (a magic marker, type, payload
//!   length, message id, payload CRC and the frame's own CRC) and its payload. The `record`
//!   module has the frame and the payloads. `Message` records hold the envelope and data;
//!   `External` records the envelope and the length and CRC of data kept in a file of its
//!   own; `Done` records the finished recipients (delivered or bounced; all of them so far,
//!   with the recipient count); `Schedule` records a message's retry state, the latest in log
//!   order winning; `Skip` covers bytes recovery moved into quarantine; `Lost` is recovery's
//!   tombstone for a message it found lost. A message is dead when all its recipients are
//!   done; its later records are then ignored.
//! - `<dir>/data/<id>.eml`: the data of a message that outgrew `inline_bytes_max` while it
//!   was written through a `DataWriter`, exactly as received.
//! - `<dir>/quarantine/`: damaged bytes recovery moved aside, each with a `.txt` note.
//!
//! # Invariants
//! - Once the spool is open, only the writer thread writes, rotates or deletes segments
//!   (recovery, before it starts, cuts torn tails and covers quarantined ranges); callers
//!   talk to it over a channel. It appends the records of all waiting requests, calls
//!   `sync_data` once for the batch (group commit), and only then updates the index and runs
//!   the callbacks. So a callback's `Ok` means the record is on disk, and the index never
//!   points at unsynced bytes. A data file is written and synced by its `DataWriter` before
//!   its record is sent, and the data folder is synced by the writer before a batch holding
//!   such records.
//! - A new segment's header is synced and its directory entry synced before any record goes
//!   into it.
//! - A failed write or sync fails every request of the batch; the head is cut back to its
//!   last synced length (or sealed and a new segment started if that fails too). Nothing
//!   unacknowledged is ever reported durable; an unacknowledged record may survive a crash
//!   and be delivered (at least once, never lost).
//! - Recovery (`recovery` module) loses only what is damaged: a torn tail (a crash during
//!   an append) is cut off silently; a damaged record is skipped and the next intact frame
//!   found by its marker and CRC, the damaged bytes moved into quarantine; a segment whose
//!   header is damaged is moved into quarantine whole. `open` returns a `RecoveryReport`
//!   with the counts, the quarantined ranges and the ids of the messages lost. Read errors
//!   abort `open` rather than cut anything.
//! - A segment holds records of the format its header names. New segments are written in
//!   format 3; segments of formats 1 and 2 (earlier releases) are still read, so that an
//!   upgrade loses no accepted mail, but never appended to, and compaction re-encodes their
//!   live messages in format 3. A newer format refuses `open`.
//! - A `Done` or `Schedule` record may refer to a message in an earlier segment, so segments
//!   are deleted oldest first only, and each deletion is made durable (directory sync)
//!   before the next. The head segment is never deleted, so its header's id floor survives.
//! - Compaction keeps one long-deferred message from pinning the log: when the oldest sealed
//!   segment's live bytes fall under a quarter of its size, its live messages are re-appended
//!   to the head with their done state and schedule (a `Done` and a `Schedule` record right
//!   after the copy), synced, and the old segment deleted. Recovery merges two copies of one
//!   id (a crash mid-compaction): the later location wins, done sets unite, and the schedule
//!   is the latest `Schedule` record in log order, which is the copy's own or a later one
//!   (a copy whose `Schedule` record was torn off keeps the earlier copy's). A data file is
//!   never copied: the copy of an `External` record points at the same file.
//! - A data file is removed once the record that finishes its message is durable; one left
//!   behind by a crash belongs to no live message and recovery removes it.
//! - Ids are unique and increasing across restarts: `max(last + 1, unix_ms << 16)`, floored
//!   by the highest id found in any header or record.
//! - Memory per live message is its location, sizes, schedule and a done bitset (72 bytes in
//!   the index, plus 8 per 64 recipients once one is done; the `index` module checks it);
//!   envelopes (`read_envelope`) and data (`read_data`, `open_data`) are read back on
//!   demand. Recovery reads records a window at a time and never holds a whole payload.

mod data;
pub mod export;
mod id;
mod index;
mod quarantine;
mod record;
mod recovery;
mod report;
mod segment;
mod writer;

#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod damage_tests;
#[cfg(test)]
mod fault_tests;
// The crate's own tests share the integration tests' helpers, which name the crate `spool`.
#[cfg(test)]
extern crate self as spool;
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use smtp_wire::Envelope;

use data::Located;
pub use data::{DataReader, DataWriter};
use id::IdGenerator;
pub use id::{MessageId, ParseMessageIdError};
pub use report::{Quarantined, RecoveryReport};
use segment::{Dirs, FsStorage, Storage};
use writer::{Completion, Request, Shared, Writer, WriterConfig};

/// Default size at which the head segment is sealed and a new one started.
pub const SEGMENT_BYTES_MAX_DEFAULT: u64 = 64 << 20;
/// Default number of requests committed with one sync.
pub const BATCH_MESSAGES_MAX_DEFAULT: usize = 256;
/// Default size above which a `DataWriter` moves a message's data into a file of its own.
pub const INLINE_BYTES_MAX_DEFAULT: usize = 256 << 10;

/// A callback of `enqueue`, `DataWriter::submit`, `complete` or `schedule`: runs exactly
/// once, with the outcome.
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
    /// Data written through a `DataWriter` beyond this many bytes goes into a data file of
    /// its own instead of memory and the log.
    pub inline_bytes_max: usize,
}

impl SpoolConfig {
    /// The defaults for a spool in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SpoolConfig {
            dir: dir.into(),
            segment_bytes_max: SEGMENT_BYTES_MAX_DEFAULT,
            batch_messages_max: BATCH_MESSAGES_MAX_DEFAULT,
            inline_bytes_max: INLINE_BYTES_MAX_DEFAULT,
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
    #[error(
        "spool segment {path} is in format {version}, written by a newer release of Sluice; \
         run a release that reads it"
    )]
    NewerFormat { path: PathBuf, version: u32 },
}

impl From<io::Error> for SpoolError {
    fn from(e: io::Error) -> Self {
        SpoolError::Io(Arc::new(e))
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
    /// Bytes of live messages' data kept in data files.
    pub data_file_bytes: u64,
    pub segments: u64,
    /// Bytes of all segment files.
    pub bytes: u64,
    /// `sync_data`/`sync_all` calls made by the writer (batches, new segments, the data
    /// folder before a batch with data files).
    pub syncs: u64,
    /// Group commits attempted.
    pub batches: u64,
    pub compactions: u64,
    /// Batches that failed to write or sync.
    pub write_errors: u64,
}

/// What `Spool::open` gives: the spool, the live messages it found, and what recovery did.
#[derive(Debug)]
pub struct Opened {
    pub spool: Spool,
    /// Oldest id first.
    pub messages: Vec<SpooledMessage>,
    /// Log it with `RecoveryReport::log`.
    pub report: RecoveryReport,
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
        f.debug_struct("Spool").field("dirs", &self.inner.shared.dirs).finish_non_exhaustive()
    }
}

impl Spool {
    /// Opens (creating if needed) and recovers: returns the live messages and the report of
    /// what recovery found, which the caller logs. Damage does not fail the open (it is
    /// moved into quarantine and reported); a read error, a locked directory or a segment
    /// of a newer format do.
    pub fn open(config: SpoolConfig) -> Result<Opened, SpoolError> {
        Self::open_with_storage(config, Arc::new(FsStorage))
    }

    pub(crate) fn open_with_storage(
        config: SpoolConfig,
        storage: Arc<dyn Storage>,
    ) -> Result<Opened, SpoolError> {
        let dirs = Dirs::new(&config.dir);
        std::fs::create_dir_all(&dirs.segments)?;
        std::fs::create_dir_all(&dirs.data)?;
        let lock = lock_dir(&config.dir)?;
        let mut recovered = recovery::recover(&dirs)?;
        let messages = recovered.messages();
        let shared = Arc::new(Shared {
            index: Mutex::new(std::mem::take(&mut recovered.index)),
            ids: IdGenerator::new(recovered.id_floor),
            counters: Default::default(),
            sync_latency: Arc::default(),
            dirs,
            storage,
            inline_bytes_max: config.inline_bytes_max,
        });
        let writer_config = WriterConfig {
            segment_bytes_max: config.segment_bytes_max,
            batch_messages_max: config.batch_messages_max.max(1),
        };
        let (last, seq_floor) = (recovered.last, recovered.seq_floor);
        let writer = Writer::new(Arc::clone(&shared), last, seq_floor, &recovered.tombstones, writer_config)?;
        let run = move |rx| {
            writer.run(rx);
            drop(lock);
        };
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new().name("spool-writer".into()).spawn(move || run(rx))?;
        let inner = Inner { shared, tx, writer: Mutex::new(Some(handle)) };
        let spool = Spool { inner: Arc::new(inner) };
        Ok(Opened { spool, messages, report: recovered.report })
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
        self.submit_inline(envelope, received_at_unix_ms, &data, Completion::new(done));
    }

    /// Starts a message whose data arrives in chunks: write them into the `DataWriter`, then
    /// `submit` it. Small data takes the same path as `enqueue`; data beyond
    /// `inline_bytes_max` goes into a file of its own as it is written, never into memory.
    pub fn begin_message(&self) -> DataWriter {
        DataWriter::new(self.clone())
    }

    /// `enqueue` with its reply: the message's data in its record.
    fn submit_inline(
        &self,
        envelope: Envelope,
        received_at_unix_ms: u64,
        data: &[u8],
        reply: Completion<MessageId>,
    ) {
        let recipients = match recipient_count(&envelope, data.len() as u64) {
            Ok(n) => n,
            Err(e) => return reply.send(Err(e)),
        };
        let id = self.inner.shared.ids.next();
        let Some(record) = record::encode_message(id, received_at_unix_ms, &envelope, data) else {
            return reply.send(Err(SpoolError::MessageTooLarge { bytes: data.len() }));
        };
        // A send error hands the request back; dropping it answers `Closed`.
        let _ = self.inner.tx.send(Request::Enqueue { id, record, recipients, reply });
    }

    /// Reads a message's data back whole; `open_data` streams it instead. Either checks the
    /// data against its CRC.
    pub fn read_data(&self, id: MessageId) -> Result<Vec<u8>, SpoolError> {
        data::read_all(self.open_data(id)?)
    }

    /// A reader of a message's data, from its record or its data file. It checks the CRC
    /// as it goes: the read that would return the last bytes fails instead when the data is
    /// damaged, with an `io::Error` wrapping `SpoolError::Corrupt`.
    pub fn open_data(&self, id: MessageId) -> Result<DataReader, SpoolError> {
        self.locate(id)?.data()
    }

    /// Reads back the envelope of a live message without its data, so that the queue
    /// manager can keep only ids and schedules in memory for deferred mail. The record's
    /// CRC covers the data too and is not checked here (recovery checked it, `read_data`
    /// checks it again before delivery); the record's frame, type, id and lengths and the
    /// envelope's structure are.
    pub fn read_envelope(&self, id: MessageId) -> Result<Envelope, SpoolError> {
        self.locate(id)?.envelope()
    }

    /// Where a live message's record is, with a read handle on its segment.
    fn locate(&self, id: MessageId) -> Result<Located, SpoolError> {
        let shared = &self.inner.shared;
        let index = shared.index();
        let entry = index.messages.get(&id).ok_or(SpoolError::UnknownMessage(id))?;
        let segment = index.segments.get(&entry.segment).ok_or(SpoolError::UnknownMessage(id))?;
        Ok(Located::new(&shared.dirs, id, segment, entry))
    }

    /// Records recipients as finished; `done` runs once that record is durable.
    pub fn complete(&self, id: MessageId, recipients: &[u32], done: Callback<()>) {
        let _ = self.inner.tx.send(Request::Complete {
            id,
            recipients: recipients.to_vec(),
            reply: Completion::new(done),
        });
    }

    /// Records where the queue manager is with a live message; `done` runs once that record
    /// is durable. The latest schedule recorded wins; `open` returns it with the message.
    /// An id that is not live (never spooled, or all recipients done) gets
    /// `SpoolError::UnknownMessage`.
    pub fn schedule(&self, id: MessageId, schedule: Schedule, done: Callback<()>) {
        let _ = self.inner.tx.send(Request::Schedule { id, schedule, reply: Completion::new(done) });
    }

    /// How long the writer's appends take, each with its `sync_data` (one per group commit).
    pub fn sync_latency(&self) -> Arc<metrics::Histogram> {
        Arc::clone(&self.inner.shared.sync_latency)
    }

    /// Counts for metrics and tests: live messages, segments, bytes.
    pub fn stats(&self) -> SpoolStats {
        let shared = &self.inner.shared;
        let counters = &shared.counters;
        let index = shared.index();
        SpoolStats {
            live_messages: index.messages.len() as u64,
            live_bytes: index.segments.values().map(|s| s.live_bytes).sum(),
            data_file_bytes: index.external_bytes,
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

/// The recipient count a message's records carry, when the message can be spooled.
fn recipient_count(envelope: &Envelope, data_len: u64) -> Result<u32, SpoolError> {
    let too_large = || SpoolError::MessageTooLarge { bytes: usize::try_from(data_len).unwrap_or(usize::MAX) };
    if envelope.recipients.is_empty() {
        return Err(SpoolError::NoRecipients);
    }
    if data_len > record::DATA_BYTES_MAX as u64 {
        return Err(too_large());
    }
    u32::try_from(envelope.recipients.len()).map_err(|_| too_large())
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
