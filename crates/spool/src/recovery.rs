//! Rebuilding the index from the segments at `open`.
//!
//! Each segment is read record by record; the first record that is short, fails its CRC or
//! does not decode ends the segment, and the file is truncated there so that nothing is ever
//! appended after garbage. Read errors (as opposed to bad bytes) abort the open instead: the
//! bytes might be fine and must not be cut off.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use smtp_wire::Envelope;

use crate::index::{Entry, Index};
use crate::record::{self, RECORD_HEADER_BYTES, RecordHeader, RecordType};
use crate::segment::{self, HEADER_BYTES, Header};
use crate::{MessageId, SpoolError, SpooledMessage};

/// The newest segment found: the writer continues it if it has room and is of the current
/// format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tail {
    pub(crate) seq: u64,
    /// Length of its intact prefix.
    pub(crate) len: u64,
    pub(crate) version: u32,
}

/// What the segments held.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub(crate) index: Index,
    /// Envelopes of live messages, kept only until `open` returns them.
    envelopes: HashMap<MessageId, (Envelope, u64)>,
    /// The highest id seen in any header or record.
    pub(crate) id_floor: u64,
    /// The newest segment.
    pub(crate) last: Option<Tail>,
}

impl Recovered {
    /// The live messages, oldest id first.
    pub(crate) fn messages(&mut self) -> Vec<SpooledMessage> {
        let mut out: Vec<SpooledMessage> = self
            .index
            .messages
            .iter()
            .filter_map(|(id, entry)| {
                let (envelope, received_at_unix_ms) = self.envelopes.remove(id)?;
                Some(SpooledMessage {
                    id: *id,
                    received_at_unix_ms,
                    envelope,
                    done: entry.done.to_vec(),
                    size: u64::from(entry.data_len),
                    schedule: entry.schedule,
                })
            })
            .collect();
        self.envelopes = HashMap::new();
        out.sort_unstable_by_key(|m| m.id);
        out
    }
}

pub(crate) fn recover(dir: &Path) -> Result<Recovered, SpoolError> {
    let mut state = Recovered::default();
    let mut removed_any = false;
    for (seq, path) in segment::list_segments(dir)? {
        match scan_segment(seq, &path, &mut state)? {
            Some(tail) => state.last = Some(tail),
            None => {
                std::fs::remove_file(&path)?;
                removed_any = true;
            }
        }
    }
    if removed_any {
        File::open(dir)?.sync_all()?;
    }
    Ok(state)
}

/// Applies one segment's records; returns its valid length and format, or `None` for a
/// segment torn while it was being created (which held nothing acknowledged and can be
/// removed).
fn scan_segment(seq: u64, path: &Path, state: &mut Recovered) -> Result<Option<Tail>, SpoolError> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let file_len = file.metadata()?.len();
    let mut header = vec![0u8; file_len.min(HEADER_BYTES) as usize];
    file.read_exact_at(&mut header, 0)?;
    let version = match segment::parse_header(&header) {
        Header::Torn => return Ok(None),
        Header::Valid { seq: s, id_floor, version } if s == seq => {
            state.id_floor = state.id_floor.max(id_floor);
            version
        }
        Header::Valid { .. } | Header::Invalid => {
            return Err(SpoolError::Corrupt {
                path: path.to_path_buf(),
                offset: 0,
                reason: "not a segment header of a format this release reads",
            });
        }
    };
    let reader = Arc::new(file.try_clone()?);
    state.index.add_segment(seq, file_len, version, reader);
    let valid_len = scan_records(seq, version, &file, file_len, state)?;
    if valid_len < file_len {
        tracing::warn!(
            segment = %path.display(),
            valid_len,
            file_len,
            "spool segment ends in a partial or damaged record; truncating"
        );
        file.set_len(valid_len)?;
        file.sync_all()?;
    }
    if let Some(info) = state.index.segments.get_mut(&seq) {
        info.size = valid_len;
    }
    Ok(Some(Tail { seq, len: valid_len, version }))
}

/// Reads records from the end of the header until the first bad one; returns where the
/// good records end.
fn scan_records(
    seq: u64,
    version: u32,
    file: &File,
    file_len: u64,
    state: &mut Recovered,
) -> io::Result<u64> {
    let mut reader = BufReader::with_capacity(1 << 20, file);
    reader.seek(SeekFrom::Start(HEADER_BYTES))?;
    let mut offset = HEADER_BYTES;
    let mut payload = Vec::new();
    loop {
        let remaining = file_len - offset;
        if remaining < RECORD_HEADER_BYTES as u64 {
            return Ok(offset);
        }
        let mut head = [0u8; RECORD_HEADER_BYTES];
        reader.read_exact(&mut head)?;
        let header = RecordHeader::parse(&head);
        let record_len = RECORD_HEADER_BYTES as u64 + u64::from(header.payload_len);
        if record_len > remaining {
            return Ok(offset);
        }
        payload.resize(header.payload_len as usize, 0);
        reader.read_exact(&mut payload)?;
        let Some(kind) = header.verify(&payload) else {
            return Ok(offset);
        };
        let location = Location { segment: seq, version, offset, payload_len: header.payload_len };
        if apply(kind, &payload, location, state).is_err() {
            return Ok(offset);
        }
        offset += record_len;
    }
}

#[derive(Clone, Copy, Debug)]
struct Location {
    segment: u64,
    version: u32,
    offset: u64,
    payload_len: u32,
}

fn apply(
    kind: RecordType,
    payload: &[u8],
    at: Location,
    state: &mut Recovered,
) -> Result<(), record::DecodeError> {
    match kind {
        RecordType::Message => {
            let msg = record::decode_message(payload, at.version)?;
            let id = msg.id;
            state.id_floor = state.id_floor.max(id.0);
            let entry = Entry {
                segment: at.segment,
                offset: at.offset,
                payload_len: at.payload_len,
                // Within a payload whose length is a u32.
                data_len: u32::try_from(msg.data.len()).unwrap_or(at.payload_len),
                recipients: u32::try_from(msg.envelope.recipients.len()).unwrap_or(u32::MAX),
                done: Default::default(),
                schedule: Default::default(),
            };
            state.index.insert(id, entry);
            if state.index.messages.contains_key(&id) {
                let value = (msg.envelope, msg.received_at_unix_ms);
                state.envelopes.insert(id, value);
            }
        }
        RecordType::Done => {
            let done = record::decode_done(payload)?;
            state.index.mark_done(done.id, &done.recipients);
            if !state.index.messages.contains_key(&done.id) {
                state.envelopes.remove(&done.id);
            }
        }
        RecordType::Schedule => {
            let record = record::decode_schedule(payload)?;
            state.index.set_schedule(record.id, record.schedule);
        }
    }
    Ok(())
}
