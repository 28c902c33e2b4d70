//! Message data in and out as streams.
//!
//! `DataWriter` takes a message's data in chunks. Up to `inline_bytes_max` it only buffers,
//! and `submit` adds the message exactly as `Spool::enqueue` does (one record, group commit).
//! Past that it spills: the data goes into `data/<id>.eml`, a file of its own, written as it
//! comes; `submit` syncs the file, and the message's `External` record (envelope, data length
//! and CRC) goes through the writer's group commit, which syncs the data folder before the
//! batch. The callback reports success only once the record is durable, so a crash at any
//! point leaves either no message (the file, if any, is an orphan that recovery removes) or
//! a complete one.
//!
//! `DataReader` reads a live message's data back as a stream, from its record or its data
//! file, checking the CRC as it goes: the read that would return the last bytes fails
//! instead when the CRC does not match, so a consumer that reads to the end never passes on
//! damaged data as complete.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use smtp_wire::Envelope;

use crate::index::{Entry, SegmentInfo};
use crate::record::{self, DATA_BYTES_MAX, DataRef, Decoded, EncodedMessage, Frame};
use crate::segment::{self, Dirs, SegmentFile};
use crate::writer::{Completion, Request};
use crate::{Callback, MessageId, Spool, SpoolError};

/// A spilled message's data is written to its file in chunks of this size at least.
const WRITE_CHUNK_BYTES: usize = 64 << 10;

/// A live message's record as found in the index; the reader stays valid when the segment
/// is deleted meanwhile.
#[derive(Debug)]
pub(crate) struct Located {
    id: MessageId,
    reader: Arc<File>,
    path: PathBuf,
    version: u32,
    salt: u64,
    offset: u64,
    record_len: u32,
    data_len: u32,
    /// Where the data is when it is not in the record.
    data_file: Option<PathBuf>,
}

/// A message record's checked frame and its payload up to the data.
struct Prefix {
    frame: Frame,
    /// The record's bytes from where its CRC starts through the envelope (and an external
    /// record's data reference).
    covered: Vec<u8>,
    envelope: Envelope,
    data: DataRef,
}

impl Located {
    pub(crate) fn new(dirs: &Dirs, id: MessageId, segment: &SegmentInfo, entry: &Entry) -> Located {
        Located {
            id,
            reader: Arc::clone(&segment.reader),
            path: segment::segment_path(&dirs.segments, entry.segment),
            version: segment.version,
            salt: segment.salt,
            offset: entry.offset,
            record_len: entry.record_len,
            data_len: entry.data_len,
            data_file: entry.external.then(|| dirs.data_file(id)),
        }
    }

    pub(crate) fn corrupt(&self, reason: &'static str) -> SpoolError {
        SpoolError::Corrupt { path: self.path.clone(), offset: self.offset, reason }
    }

    /// Reads and checks the frame and the payload through the envelope; the payload's CRC
    /// is not checked here (it covers the data too).
    fn prefix(&self) -> Result<Prefix, SpoolError> {
        let id = self.id;
        let frame_len = Frame::len_for(self.version);
        let mut head = vec![0u8; frame_len + record::MESSAGE_HEAD_BYTES_MAX];
        let head_len = head.len().min(self.record_len as usize);
        self.reader.read_exact_at(&mut head[..head_len], self.offset)?;
        let frame = Frame::parse_any(&head, self.version, self.salt)
            .filter(|f| f.kind.is_message() && f.record_len() == u64::from(self.record_len))
            .filter(|f| f.id.is_none_or(|found| found == id))
            .ok_or_else(|| self.corrupt("message record does not match the index"))?;
        let payload_head = &head[frame_len..head_len];
        let prefix_len = payload_head
            .get(..record::message_head_len(&frame))
            .and_then(|h| record::message_prefix_len(&frame, h))
            .ok_or_else(|| self.corrupt("message record's lengths do not fit"))?;
        let covered_from = frame.crc_from();
        let mut covered = vec![0u8; frame_len + prefix_len - covered_from as usize];
        self.reader.read_exact_at(&mut covered, self.offset + covered_from)?;
        let payload = &covered[frame_len - covered_from as usize..];
        match record::decode(&frame, payload, self.version) {
            Ok(Decoded::Message { id: found, envelope, data, .. })
                if found == id && data.len() == self.data_len =>
            {
                Ok(Prefix { frame, covered, envelope: *envelope, data })
            }
            _ => Err(self.corrupt("message record does not decode")),
        }
    }

    pub(crate) fn envelope(&self) -> Result<Envelope, SpoolError> {
        Ok(self.prefix()?.envelope)
    }

    /// A reader of the message's data.
    pub(crate) fn data(&self) -> Result<DataReader, SpoolError> {
        let prefix = self.prefix()?;
        match prefix.data {
            DataRef::Inline { len } => {
                let mut hasher = prefix.frame.hasher();
                hasher.update(&prefix.covered);
                let start = self.offset + prefix.frame.crc_from() + prefix.covered.len() as u64;
                let (file, crc) = (Arc::clone(&self.reader), prefix.frame.crc());
                Ok(DataReader { hasher: Some(hasher), ..DataReader::new(file, start, len, crc, self) })
            }
            DataRef::External { len, crc } => {
                // The record's CRC covers the data's length and CRC: check it before trusting them.
                self.whole_record()?;
                let path = self
                    .data_file
                    .clone()
                    .ok_or_else(|| self.corrupt("external record without data file"))?;
                let damaged = |path, reason| SpoolError::Corrupt { path, offset: 0, reason };
                let file = match File::open(&path) {
                    Ok(file) => file,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        return Err(damaged(path, "data file is missing"));
                    }
                    Err(e) => return Err(e.into()),
                };
                if file.metadata()?.len() != u64::from(len) {
                    return Err(damaged(path, "data file has the wrong length"));
                }
                Ok(DataReader { path, offset: 0, ..DataReader::new(Arc::new(file), 0, len, crc, self) })
            }
        }
    }

    /// The whole record, its CRC checked; returns its frame and payload.
    fn whole_record(&self) -> Result<(Frame, Vec<u8>), SpoolError> {
        let mut bytes = vec![0u8; self.record_len as usize];
        self.reader.read_exact_at(&mut bytes, self.offset)?;
        let frame = Frame::parse_any(&bytes, self.version, self.salt)
            .ok_or_else(|| self.corrupt("message record's frame is damaged"))?;
        let payload =
            frame.verify(&bytes).ok_or_else(|| self.corrupt("message record fails its CRC"))?.to_vec();
        Ok((frame, payload))
    }

    /// The record re-encoded for the head segment (compaction): checked, then written in the
    /// current format whatever format it was read in.
    pub(crate) fn copy(&self) -> Result<EncodedMessage, SpoolError> {
        let id = self.id;
        let (frame, payload) = self.whole_record()?;
        let prefix_len = payload
            .get(..record::message_head_len(&frame))
            .and_then(|head| record::message_prefix_len(&frame, head))
            .ok_or_else(|| self.corrupt("live record does not decode during compaction"))?;
        let decoded = record::decode(&frame, &payload[..prefix_len], self.version);
        let copy = match decoded {
            Ok(Decoded::Message { id: found, received_at_unix_ms, envelope, data }) if found == id => {
                match data {
                    DataRef::Inline { .. } => {
                        record::encode_message(id, received_at_unix_ms, &envelope, &payload[prefix_len..])
                    }
                    DataRef::External { len, crc } => {
                        record::encode_external(id, received_at_unix_ms, &envelope, len, crc)
                    }
                }
            }
            _ => None,
        };
        copy.ok_or_else(|| self.corrupt("live record does not re-encode during compaction"))
    }
}

/// A message's data read back as a stream (`Spool::open_data`), checked against its CRC.
#[derive(Debug)]
pub struct DataReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
    len: u32,
    hasher: Option<crc32fast::Hasher>,
    crc: u32,
    /// The data failed its CRC: every later read fails too.
    damaged: bool,
    /// For errors: the file and the record's offset in it.
    path: PathBuf,
    offset: u64,
}

impl DataReader {
    /// A reader of `len` bytes at `start` of `file` whose plain CRC-32 is `crc`.
    fn new(file: Arc<File>, start: u64, len: u32, crc: u32, at: &Located) -> Self {
        DataReader {
            file,
            pos: start,
            end: start + u64::from(len),
            len,
            hasher: Some(crc32fast::Hasher::new()),
            crc,
            damaged: false,
            path: at.path.clone(),
            offset: at.offset,
        }
    }

    /// The data's length in bytes.
    pub fn len(&self) -> u64 {
        u64::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn corrupt(&self, reason: &'static str) -> io::Error {
        let error = SpoolError::Corrupt { path: self.path.clone(), offset: self.offset, reason };
        io::Error::new(io::ErrorKind::InvalidData, error)
    }
}

impl Read for DataReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.damaged {
            return Err(self.corrupt("message data fails its CRC"));
        }
        let left = usize::try_from(self.end - self.pos).unwrap_or(usize::MAX);
        let n = out.len().min(left);
        if n == 0 {
            return Ok(0);
        }
        let got = self.file.read_at(&mut out[..n], self.pos)?;
        if got == 0 {
            return Err(self.corrupt("message data ends early"));
        }
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(&out[..got]);
        }
        self.pos += got as u64;
        if self.pos == self.end
            && let Some(hasher) = self.hasher.take()
            && hasher.finalize() != self.crc
        {
            self.damaged = true;
            return Err(self.corrupt("message data fails its CRC"));
        }
        Ok(got)
    }
}

/// Reads a whole message's data, turning the reader's errors back into `SpoolError`s.
pub(crate) fn read_all(mut reader: DataReader) -> Result<Vec<u8>, SpoolError> {
    let mut out = Vec::with_capacity(reader.len as usize);
    match reader.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) => Err(match e.get_ref().and_then(|inner| inner.downcast_ref::<SpoolError>()) {
            Some(spool_error) => spool_error.clone(),
            None => e.into(),
        }),
    }
}

/// A message whose data arrives in chunks (`Spool::begin_message`): write the data with
/// `Write`, then `submit` the envelope. Small data stays in memory and takes the same path
/// as `Spool::enqueue`; data longer than the spool's `inline_bytes_max` goes into a data file
/// of its own as it is written, so that memory stays bounded whatever the message's size.
///
/// Writes after the data has spilled do file I/O on the calling thread, and `submit` of a
/// spilled message syncs its file there: call them where blocking is allowed. Dropping the
/// writer without `submit` (or `abort`) removes the data file.
#[derive(Debug)]
pub struct DataWriter {
    spool: Spool,
    /// All the data while it is small; after spilling, what is not yet in the file.
    buf: Vec<u8>,
    len: u64,
    crc: crc32fast::Hasher,
    spilled: Option<Spilled>,
    /// The first failure; the message can no longer be submitted.
    failed: Option<SpoolError>,
}

/// The data file of a spilled message.
struct Spilled {
    id: MessageId,
    path: PathBuf,
    file: Box<dyn SegmentFile>,
    written: u64,
}

impl Spilled {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, self.written)?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}

impl std::fmt::Debug for Spilled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spilled").field("path", &self.path).field("written", &self.written).finish()
    }
}

impl DataWriter {
    pub(crate) fn new(spool: Spool) -> DataWriter {
        DataWriter {
            spool,
            buf: Vec::new(),
            len: 0,
            crc: crc32fast::Hasher::new(),
            spilled: None,
            failed: None,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the data went into a data file of its own.
    pub fn is_spilled(&self) -> bool {
        self.spilled.is_some()
    }

    /// Puts the data into a file of its own now, whatever its size so far: for a caller
    /// that already knows the message is large and wants no more of it held in memory.
    /// Writes then buffer at most one write chunk.
    pub fn spill_now(&mut self) -> io::Result<()> {
        if self.spilled.is_some() {
            return Ok(());
        }
        if let Some(e) = &self.failed {
            return Err(io::Error::other(e.clone()));
        }
        match self.spill() {
            Ok(spilled) => {
                self.spilled = Some(spilled);
                Ok(())
            }
            Err(e) => {
                self.failed = Some(e.clone());
                Err(io::Error::other(e))
            }
        }
    }

    /// Adds the message: `done` is called from the writer thread once its record is durable
    /// (after fdatasync), or with the error. A message that cannot be added (no recipients,
    /// a write that failed, the spool closed) gets its error on the calling thread.
    pub fn submit(mut self, envelope: Envelope, received_at_unix_ms: u64, done: Callback<MessageId>) {
        let reply = Completion::new(done);
        if let Some(e) = self.failed.take() {
            return reply.send(Err(e));
        }
        let Some(mut spilled) = self.spilled.take() else {
            let data = std::mem::take(&mut self.buf);
            return self.spool.submit_inline(envelope, received_at_unix_ms, &data, reply);
        };
        let recipients = match crate::recipient_count(&envelope, self.len) {
            Ok(n) => n,
            Err(e) => return self.discard(&spilled, reply, e),
        };
        if let Err(e) = spilled.write(&self.buf).and_then(|()| spilled.file.sync_data()) {
            return self.discard(&spilled, reply, e.into());
        }
        let (len, crc) = (u32::try_from(self.len).unwrap_or(u32::MAX), self.crc.clone().finalize());
        let Some(record) = record::encode_external(spilled.id, received_at_unix_ms, &envelope, len, crc)
        else {
            let too_large =
                SpoolError::MessageTooLarge { bytes: usize::try_from(self.len).unwrap_or(usize::MAX) };
            return self.discard(&spilled, reply, too_large);
        };
        let request = Request::Enqueue { id: spilled.id, record, recipients, reply };
        if let Err(unsent) = self.spool.inner.tx.send(request) {
            // The spool is closed: dropping the request answers `Closed`.
            self.remove(&spilled);
            drop(unsent);
        }
    }

    /// Drops the message; its data file, if any, is removed.
    pub fn abort(self) {}

    /// Removes a spilled file and answers `reply` with `error`.
    fn discard(&self, spilled: &Spilled, reply: Completion<MessageId>, error: SpoolError) {
        self.remove(spilled);
        reply.send(Err(error));
    }

    /// Best effort: a data file left behind is an orphan that recovery removes.
    fn remove(&self, spilled: &Spilled) {
        let storage = &self.spool.inner.shared.storage;
        if let Err(e) = storage.remove(&spilled.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, path = %spilled.path.display(), "spool could not remove a data file");
        }
    }

    /// Starts the data file of a message that outgrew memory; its id is the message's.
    fn spill(&self) -> Result<Spilled, SpoolError> {
        let shared = &self.spool.inner.shared;
        let id = shared.ids.next();
        let path = shared.dirs.data_file(id);
        let file = shared.storage.create(&path)?;
        Ok(Spilled { id, path, file, written: 0 })
    }

    /// Takes `chunk`: into the buffer while the data is small or the buffer short of a
    /// write chunk, else into the data file (started when the data outgrows memory).
    fn take(&mut self, chunk: &[u8]) -> Result<(), SpoolError> {
        let total = self.len + chunk.len() as u64;
        if total > DATA_BYTES_MAX as u64 {
            return Err(SpoolError::MessageTooLarge { bytes: usize::try_from(total).unwrap_or(usize::MAX) });
        }
        self.crc.update(chunk);
        self.len = total;
        if self.spilled.is_none() && self.len > self.spool.inner.shared.inline_bytes_max as u64 {
            self.spilled = Some(self.spill()?);
        }
        match self.spilled.as_mut() {
            Some(spilled) if self.buf.len() + chunk.len() >= WRITE_CHUNK_BYTES => {
                spilled.write(&self.buf)?;
                self.buf.clear();
                self.buf.shrink_to(WRITE_CHUNK_BYTES);
                spilled.write(chunk)?;
            }
            _ => self.buf.extend_from_slice(chunk),
        }
        Ok(())
    }
}

impl Write for DataWriter {
    fn write(&mut self, chunk: &[u8]) -> io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(io::Error::other(e.clone()));
        }
        match self.take(chunk) {
            Ok(()) => Ok(chunk.len()),
            Err(e) => {
                self.failed = Some(e.clone());
                Err(io::Error::other(e))
            }
        }
    }

    /// Writes buffered data into the data file (no sync: `submit` syncs).
    fn flush(&mut self) -> io::Result<()> {
        if let Some(spilled) = self.spilled.as_mut() {
            spilled.write(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

impl Drop for DataWriter {
    fn drop(&mut self) {
        if let Some(spilled) = self.spilled.take() {
            self.remove(&spilled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SpoolConfig;

    /// However large the message, a spilled writer holds at most about one write chunk.
    #[test]
    fn a_spilled_writer_holds_one_chunk_at_most() {
        let dir = tempfile::tempdir().unwrap();
        let config = SpoolConfig { inline_bytes_max: 100_000, ..SpoolConfig::new(dir.path()) };
        let spool = Spool::open(config).unwrap().spool;
        let mut writer = spool.begin_message();
        let chunk = vec![b'x'; 1000];
        let mut held_max = 0;
        for _ in 0..5_000 {
            writer.write_all(&chunk).unwrap();
            if writer.is_spilled() {
                held_max = held_max.max(writer.buf.capacity());
            }
        }
        assert!(writer.is_spilled());
        assert!(held_max <= 2 * WRITE_CHUNK_BYTES, "{held_max} bytes held");
        writer.abort();
    }

    /// A writer told to spill holds no more than a write chunk from its first byte, and the
    /// message is an external one even when small.
    #[test]
    fn spill_now_puts_even_small_data_in_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(SpoolConfig::new(dir.path())).unwrap().spool;
        let mut writer = spool.begin_message();
        writer.spill_now().unwrap();
        assert!(writer.is_spilled());
        let chunk = vec![b'y'; 10_000];
        let mut held_max = 0;
        for _ in 0..20 {
            writer.write_all(&chunk).unwrap();
            held_max = held_max.max(writer.buf.len());
        }
        assert!(held_max < WRITE_CHUNK_BYTES, "{held_max} bytes held");
        let id = crate::common::wait(|cb| writer.submit(crate::common::envelope(1), 1, cb)).unwrap();
        assert_eq!(spool.stats().data_file_bytes, 200_000);
        assert_eq!(spool.read_data(id).unwrap(), vec![b'y'; 200_000]);
        spool.close();
    }
}
