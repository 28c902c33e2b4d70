//! The writer thread: the only code that appends to, rotates or deletes segments.
//!
//! Group commit: it takes every request waiting in the channel (up to
//! `batch_messages_max`), writes all their records with one `write` and makes them durable
//! with one `sync_data` (after one sync of the data folder when the batch adds messages
//! whose data is in files of their own), then updates the index and runs every callback of
//! the batch. Between batches it deletes or compacts the oldest segment, and it removes the
//! data file of a message once the record that finishes it is durable.

use std::collections::HashMap;
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::data::Located;
use crate::index::{DoneSet, Entry, Index, SegmentMeta};
use crate::record::{self, EncodedMessage, RecordBuf};
use crate::recovery::Tail;
use crate::segment::{self, Dirs, FORMAT_VERSION, HEADER_BYTES, SegmentFile, Storage};
use crate::{Callback, IdGenerator, MessageId, Schedule, SpoolError};

/// After a failed delete or compaction, wait this long before trying again.
const RECLAIM_BACKOFF: Duration = Duration::from_secs(1);

/// A sealed segment is compacted when its live bytes are under 1/`COMPACT_RATIO` of its size.
const COMPACT_RATIO: u64 = 4;

/// A compaction round copies at most 1/`COMPACT_ROUNDS_MIN` of a segment's maximum size.
const COMPACT_ROUNDS_MIN: u64 = 8;

/// State shared by the handles and the writer.
pub(crate) struct Shared {
    pub(crate) index: Mutex<Index>,
    pub(crate) ids: IdGenerator,
    pub(crate) counters: Counters,
    /// Each batch's write and `sync_data`, for metrics.
    pub(crate) sync_latency: Arc<metrics::Histogram>,
    pub(crate) dirs: Dirs,
    /// Segment and data files are created through this (tests inject failures).
    pub(crate) storage: Arc<dyn Storage>,
    /// Data of more bytes goes into a data file of its own (`DataWriter`).
    pub(crate) inline_bytes_max: usize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("dirs", &self.dirs).finish_non_exhaustive()
    }
}

impl Shared {
    /// The index stays consistent at every unlock, so a poisoned lock is still usable.
    pub(crate) fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) syncs: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) write_errors: AtomicU64,
}

/// A caller's completion callback (the spool's answer to one request; not an SMTP reply).
/// Dropping it unanswered (writer gone, request refused) reports
/// `SpoolError::Closed`, so every callback runs exactly once.
pub(crate) struct Completion<T> {
    callback: Option<Callback<T>>,
}

impl<T> Completion<T> {
    pub(crate) fn new(callback: Callback<T>) -> Self {
        Completion { callback: Some(callback) }
    }

    pub(crate) fn send(mut self, result: Result<T, SpoolError>) {
        if let Some(callback) = self.callback.take() {
            // A panicking callback must not take the writer (and every later message) down.
            if catch_unwind(AssertUnwindSafe(|| callback(result))).is_err() {
                tracing::error!("spool callback panicked");
            }
        }
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        if let Some(callback) = self.callback.take() {
            let _ = catch_unwind(AssertUnwindSafe(|| callback(Err(SpoolError::Closed))));
        }
    }
}

impl<T> std::fmt::Debug for Completion<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Completion")
    }
}

#[derive(Debug)]
pub(crate) enum Request {
    /// A new message; an external one's data file is already synced.
    Enqueue {
        id: MessageId,
        record: EncodedMessage,
        recipients: u32,
        reply: Completion<MessageId>,
    },
    Complete {
        id: MessageId,
        recipients: Vec<u32>,
        reply: Completion<()>,
    },
    Schedule {
        id: MessageId,
        schedule: Schedule,
        reply: Completion<()>,
    },
    Shutdown,
}

/// A request whose record is in the batch buffer at `offset`.
#[derive(Debug)]
enum Pending {
    Message {
        id: MessageId,
        offset: u64,
        record_len: u32,
        data_len: u32,
        external: bool,
        recipients: u32,
        reply: Completion<MessageId>,
    },
    Done {
        id: MessageId,
        recipients: Vec<u32>,
        reply: Completion<()>,
    },
    Schedule {
        id: MessageId,
        schedule: Schedule,
        reply: Completion<()>,
    },
}

/// A durable request whose callback is still to run.
#[derive(Debug)]
enum Ack {
    Message(MessageId, Completion<MessageId>),
    Recorded(Completion<()>),
}

#[derive(Debug, Default)]
struct Batch {
    records: RecordBuf,
    pending: Vec<Pending>,
    /// The done sets the batch's `Done` records carry (each is cumulative), so that a second
    /// completion of a message in the same batch includes the first.
    done: HashMap<MessageId, DoneSet>,
    /// Whether it adds a message whose data is in a data file.
    external: bool,
}

/// The segment being appended to. `file` is `None` after a failure that left its tail in
/// doubt: the next append seals it and starts a new segment.
struct Head {
    seq: u64,
    file: Option<Box<dyn SegmentFile>>,
    /// Everything below this offset is synced.
    len: u64,
    /// The salt of its records' checks.
    salt: u64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct WriterConfig {
    pub(crate) segment_bytes_max: u64,
    pub(crate) batch_messages_max: usize,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    storage: Arc<dyn Storage>,
    head: Head,
    config: WriterConfig,
    reclaim_after: Instant,
}

impl Writer {
    /// A writer that continues the segment `last` when it has room, is of the current
    /// format (a segment holds records of one format, the one its header names) and is the
    /// newest (no segment numbered above it, `seq_floor`, went into quarantine), or starts
    /// a new one after both. Fails when the head segment cannot be opened or created. Then it records the
    /// `tombstones` of messages recovery found lost; if that fails, the next recovery finds
    /// them again.
    pub(crate) fn new(
        shared: Arc<Shared>,
        last: Option<Tail>,
        seq_floor: u64,
        tombstones: &[MessageId],
        config: WriterConfig,
    ) -> Result<Writer, SpoolError> {
        let storage = Arc::clone(&shared.storage);
        let seq = last.map_or(0, |tail| tail.seq).max(seq_floor);
        let mut head = Head { seq, file: None, len: 0, salt: 0 };
        if let Some(tail) = last
            && tail.len < config.segment_bytes_max
            && tail.version == FORMAT_VERSION
            && tail.seq == seq
        {
            let path = segment::segment_path(&shared.dirs.segments, tail.seq);
            head.file = Some(storage.open(&path)?);
            head.len = tail.len;
            head.salt = tail.salt;
        }
        let mut writer = Writer { shared, storage, head, config, reclaim_after: Instant::now() };
        writer.ensure_head(0)?;
        writer.record_losses(tombstones);
        Ok(writer)
    }

    fn record_losses(&mut self, ids: &[MessageId]) {
        if ids.is_empty() {
            return;
        }
        let mut records = RecordBuf::default();
        for id in ids {
            records.push(&record::encode_lost(*id));
        }
        if let Err(e) = self.append(&mut records) {
            tracing::warn!(error = %e, "spool could not record its lost messages; the next start reports them again");
        }
    }

    pub(crate) fn run(mut self, rx: Receiver<Request>) {
        self.reclaim();
        let mut stop = false;
        while !stop {
            let Ok(first) = rx.recv() else { break };
            let mut batch = Batch::default();
            stop = self.add(first, &mut batch);
            while !stop && batch.pending.len() < self.config.batch_messages_max {
                match rx.try_recv() {
                    Ok(request) => stop = self.add(request, &mut batch),
                    Err(_) => break,
                }
            }
            self.commit(batch);
            self.reclaim();
        }
    }

    /// Adds a request's record to the batch; returns whether it asked the writer to stop.
    fn add(&self, request: Request, batch: &mut Batch) -> bool {
        match request {
            Request::Shutdown => return true,
            Request::Enqueue { id, record, recipients, reply } => {
                batch.external |= record.external;
                batch.pending.push(Pending::Message {
                    id,
                    offset: batch.records.push(&record.record),
                    record_len: u32::try_from(record.record.len()).unwrap_or(u32::MAX),
                    data_len: record.data_len,
                    external: record.external,
                    recipients,
                    reply,
                });
            }
            Request::Complete { id, recipients, reply } => {
                let (count, mut done) = match self.check_complete(id, &recipients) {
                    Ok(found) => found,
                    Err(e) => {
                        reply.send(Err(e));
                        return false;
                    }
                };
                if let Some(earlier) = batch.done.get(&id) {
                    done.union(earlier);
                }
                for r in &recipients {
                    done.insert(*r);
                }
                batch.records.push(&record::encode_done(id, count, &done));
                batch.done.insert(id, done);
                batch.pending.push(Pending::Done { id, recipients, reply });
            }
            Request::Schedule { id, schedule, reply } => {
                if !self.shared.index().messages.contains_key(&id) {
                    reply.send(Err(SpoolError::UnknownMessage(id)));
                    return false;
                }
                batch.records.push(&record::encode_schedule(id, &schedule));
                batch.pending.push(Pending::Schedule { id, schedule, reply });
            }
        }
        false
    }

    /// The message's recipient count and finished recipients, if `recipients` fit it.
    fn check_complete(&self, id: MessageId, recipients: &[u32]) -> Result<(u32, DoneSet), SpoolError> {
        let index = self.shared.index();
        let entry = index.messages.get(&id).ok_or(SpoolError::UnknownMessage(id))?;
        match recipients.iter().find(|r| **r >= entry.recipients) {
            Some(r) => Err(SpoolError::RecipientOutOfRange { id, index: *r, count: entry.recipients }),
            None => Ok((entry.recipients, entry.done.clone())),
        }
    }

    fn commit(&mut self, mut batch: Batch) {
        if batch.pending.is_empty() {
            return;
        }
        self.shared.counters.batches.fetch_add(1, Ordering::Relaxed);
        // The data files' names must be durable before the records that point at them.
        let data_synced = match batch.external {
            true => {
                self.shared.counters.syncs.fetch_add(1, Ordering::Relaxed);
                self.storage.sync_dir(&self.shared.dirs.data).map_err(SpoolError::from)
            }
            false => Ok(()),
        };
        let base = match data_synced.and_then(|()| self.append(&mut batch.records)) {
            Ok(base) => base,
            Err(e) => return self.fail(batch.pending, &e),
        };
        let (acks, finished) = self.apply(base, batch.pending);
        // Before the callbacks, so that a finished message's file is gone when they run.
        for id in finished {
            self.remove_data_file(id);
        }
        for ack in acks {
            match ack {
                Ack::Message(id, reply) => reply.send(Ok(id)),
                Ack::Recorded(reply) => reply.send(Ok(())),
            }
        }
    }

    /// Answers a batch that could not be made durable; new messages' data files go.
    fn fail(&self, pending: Vec<Pending>, e: &SpoolError) {
        for p in pending {
            match p {
                Pending::Message { id, external, reply, .. } => {
                    if external {
                        self.remove_data_file(id);
                    }
                    reply.send(Err(e.clone()));
                }
                Pending::Done { reply, .. } | Pending::Schedule { reply, .. } => reply.send(Err(e.clone())),
            }
        }
    }

    /// Best effort: a data file left behind is removed by the next recovery.
    fn remove_data_file(&self, id: MessageId) {
        let path = self.shared.dirs.data_file(id);
        if let Err(e) = self.storage.remove(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, path = %path.display(), "spool could not remove a data file");
        }
    }

    /// Records a durable batch in the index; returns the replies to send and the messages
    /// it finished whose data files can go.
    fn apply(&mut self, base: u64, pending: Vec<Pending>) -> (Vec<Ack>, Vec<MessageId>) {
        let seq = self.head.seq;
        let mut index = self.shared.index();
        let mut replies = Vec::with_capacity(pending.len());
        let mut finished = Vec::new();
        for p in pending {
            match p {
                Pending::Message { id, offset, record_len, data_len, external, recipients, reply } => {
                    let entry = Entry {
                        segment: seq,
                        offset: base + offset,
                        record_len,
                        data_len,
                        external,
                        recipients,
                        done: DoneSet::default(),
                        schedule: Schedule::default(),
                    };
                    index.insert(id, entry);
                    replies.push(Ack::Message(id, reply));
                }
                Pending::Done { id, recipients, reply } => {
                    if index.mark_done(id, &recipients).is_some_and(|e| e.external) {
                        finished.push(id);
                    }
                    replies.push(Ack::Recorded(reply));
                }
                Pending::Schedule { id, schedule, reply } => {
                    index.set_schedule(id, schedule);
                    replies.push(Ack::Recorded(reply));
                }
            }
        }
        (replies, finished)
    }

    /// Seals `records` for the head segment, appends them and syncs; returns the offset they
    /// start at. On failure the head is cut back to its last synced length, or sealed if
    /// even that fails, and nothing of `records` counts as written.
    fn append(&mut self, records: &mut RecordBuf) -> Result<u64, SpoolError> {
        self.ensure_head(records.len())?;
        let base = self.head.len;
        let buf = records.seal(self.head.salt);
        let file = self.head.file.as_mut().ok_or(SpoolError::Closed)?;
        let started = Instant::now();
        let result = file.write_all_at(buf, base).and_then(|()| file.sync_data());
        self.shared.sync_latency.observe(started.elapsed());
        self.shared.counters.syncs.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = result {
            self.shared.counters.write_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, segment = self.head.seq, "spool write failed");
            let cut = file.set_len(self.head.len).and_then(|()| file.sync_data());
            if cut.is_err() {
                self.head.file = None;
            }
            return Err(e.into());
        }
        self.head.len += buf.len() as u64;
        let seq = self.head.seq;
        if let Some(info) = self.shared.index().segments.get_mut(&seq) {
            info.size = self.head.len;
        }
        Ok(base)
    }

    /// Starts a new head segment when the current one cannot take `incoming` more bytes or
    /// is sealed after a failure.
    fn ensure_head(&mut self, incoming: u64) -> Result<(), SpoolError> {
        let full = self.head.len > HEADER_BYTES
            && self.head.len.saturating_add(incoming) > self.config.segment_bytes_max;
        if self.head.file.is_some() && !full {
            return Ok(());
        }
        self.rotate()
    }

    /// Creates segment `seq + 1`: header written and synced, directory synced, before any
    /// record goes into it.
    fn rotate(&mut self) -> Result<(), SpoolError> {
        let seq = self.head.seq + 1;
        let dir = &self.shared.dirs.segments;
        let path = segment::segment_path(dir, seq);
        let mut file = self.storage.create(&path)?;
        let salt = segment::new_salt();
        let header = segment::encode_header(seq, self.shared.ids.last(), salt);
        file.write_all_at(&header, 0)?;
        file.sync_data()?;
        self.storage.sync_dir(dir)?;
        self.shared.counters.syncs.fetch_add(2, Ordering::Relaxed);
        let reader = Arc::new(File::open(&path)?);
        let meta = SegmentMeta { seq, size: HEADER_BYTES, version: FORMAT_VERSION, salt };
        self.shared.index().add_segment(meta, reader);
        self.head = Head { seq, file: Some(file), len: HEADER_BYTES, salt };
        Ok(())
    }

    /// Deletes dead segments oldest-first and compacts a mostly dead oldest segment.
    fn reclaim(&mut self) {
        if Instant::now() < self.reclaim_after {
            return;
        }
        while let Some(action) = self.next_reclaim() {
            let (result, again) = match action {
                Reclaim::Delete(seq) => (self.delete_segment(seq), true),
                // One compaction round per batch: requests waiting go first.
                Reclaim::Compact(seq) => (self.compact(seq), false),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "spool reclaim failed; retrying later");
                self.reclaim_after = Instant::now() + RECLAIM_BACKOFF;
                return;
            }
            if !again {
                return;
            }
        }
    }

    fn next_reclaim(&self) -> Option<Reclaim> {
        let index = self.shared.index();
        let (seq, info) = index.segments.first_key_value()?;
        if *seq >= self.head.seq {
            return None;
        }
        if info.live_messages == 0 {
            return Some(Reclaim::Delete(*seq));
        }
        if info.live_bytes.saturating_mul(COMPACT_RATIO) < info.size {
            return Some(Reclaim::Compact(*seq));
        }
        None
    }

    fn delete_segment(&mut self, seq: u64) -> Result<(), SpoolError> {
        let dir = &self.shared.dirs.segments;
        match self.storage.remove(&segment::segment_path(dir, seq)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        // Durable before any later segment goes: an old segment that came back after a
        // crash, without the later Done records, would resurrect finished messages.
        self.storage.sync_dir(dir)?;
        self.shared.index().segments.remove(&seq);
        Ok(())
    }

    /// Re-appends the live messages of segment `seq` (with their done state and schedule) to the head,
    /// syncs, moves them in the index, then deletes `seq`. One round copies at most
    /// `segment_bytes_max / COMPACT_ROUNDS_MIN` bytes (but at least one message), so that
    /// batches waiting behind it are not held up long; the next round continues. A crash in between leaves two
    /// copies with the same id, which recovery merges.
    fn compact(&mut self, seq: u64) -> Result<(), SpoolError> {
        let (live, located) = {
            let index = self.shared.index();
            let info = index.segments.get(&seq).ok_or(SpoolError::Closed)?;
            let live = index.live_in(seq);
            let dirs = &self.shared.dirs;
            let located: Vec<Located> =
                live.iter().map(|(id, entry)| Located::new(dirs, *id, info, entry)).collect();
            (live, located)
        };
        let live_count = live.len();
        let budget = self.config.segment_bytes_max / COMPACT_ROUNDS_MIN;
        let mut records = RecordBuf::default();
        let mut moved = Vec::with_capacity(live.len());
        for ((id, mut entry), at) in live.into_iter().zip(located) {
            if !records.is_empty() && records.len() + entry.record_len() > budget {
                break;
            }
            let copy = at.copy()?;
            entry.record_len = u32::try_from(copy.record.len()).unwrap_or(u32::MAX);
            let offset = records.push(&copy.record);
            if entry.done.len() > 0 {
                records.push(&record::encode_done(id, entry.recipients, &entry.done));
            }
            // The old segment may hold the only `Schedule` record of this message.
            if entry.schedule != Schedule::default() {
                records.push(&record::encode_schedule(id, &entry.schedule));
            }
            moved.push((id, offset, entry));
        }
        let base = self.append(&mut records)?;
        let moved_count = moved.len();
        {
            let mut index = self.shared.index();
            for (id, offset, mut entry) in moved {
                entry.segment = self.head.seq;
                entry.offset = base + offset;
                index.insert(id, entry);
            }
        }
        self.shared.counters.compactions.fetch_add(1, Ordering::Relaxed);
        match moved_count == live_count {
            true => self.delete_segment(seq),
            // The rest moves in later rounds; the segment goes once it holds nothing live.
            false => Ok(()),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Reclaim {
    Delete(u64),
    Compact(u64),
}
