//! Rebuilding the index from the segments at `open`.
//!
//! Segments are read oldest first, record by record, each record's CRC checked (a payload
//! is hashed a window at a time, never held whole). What does not check out is one of:
//! - a **torn tail**: the file ends inside a record, or a record's intact frame announces
//!   more bytes than the file holds, or the last record was cut short by zeros from a
//!   sector boundary on. A crash during an append leaves this; nothing in it was
//!   acknowledged. It is cut off and counted, not reported.
//! - **damage in the middle** (format 3): the bytes from the bad record to the next intact
//!   frame (found by its magic and frame CRC; a record with an intact frame is skipped by
//!   its length) are copied into quarantine, overwritten with a `Skip` record, and recovery
//!   goes on there. Only the records in that range are lost.
//! - **damage at the end**, or in a segment of format 1 or 2 (no markers to resynchronise
//!   on): the bytes from the bad record to the end are copied into quarantine and cut off.
//! - a **damaged segment header**: the whole file is moved into quarantine (its records
//!   cannot be checked without the header's salt); the other segments are served.
//!
//! Which messages were lost is worked out from what survives: a damaged message record
//! whose frame is intact names its message; a later `Schedule`, or a `Done` that does not
//! finish its message, names a message that was live then. A message named so and not
//! recovered is lost; its id is reported and a `Lost` tombstone is appended (by the writer),
//! so that the next recovery does not report it again. A message whose data file is missing
//! or has the wrong length is lost too (the file goes into quarantine).
//!
//! Read errors (as opposed to bad bytes) abort the open instead: the bytes might be fine and
//! must not be cut off or moved.

mod window;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use smtp_wire::Envelope;

use crate::index::{Entry, Index, SegmentMeta};
use crate::quarantine::{self, Note};
use crate::record::{self, DataRef, Decoded, FRAME_BYTES, Frame, RecordType};
use crate::report::RecoveryReport;
use crate::segment::{self, Dirs, HEADER_BYTES, Header};
use crate::{MessageId, SpoolError, SpooledMessage};
use window::Window;

/// Ids of possibly lost messages tracked at most; beyond, losses are only flagged.
const TRACKED_MAX: usize = 1 << 20;

/// Bytes of zeros written at once over a quarantined range.
const ZEROS_BYTES: usize = 1 << 16;

/// The smallest unit a write reaches the disk in.
const SECTOR_BYTES: u64 = 512;

/// The newest segment found: the writer continues it if it has room and is of the current
/// format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tail {
    pub(crate) seq: u64,
    /// Length of its intact prefix.
    pub(crate) len: u64,
    pub(crate) version: u32,
    pub(crate) salt: u64,
}

/// What the segments held.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub(crate) index: Index,
    /// Envelopes of live messages, kept only until `open` returns them.
    envelopes: HashMap<MessageId, (Envelope, u64)>,
    /// The highest id seen in any header or record.
    pub(crate) id_floor: u64,
    /// The newest segment read.
    pub(crate) last: Option<Tail>,
    /// The highest number of a segment moved into quarantine: new segments come after it.
    pub(crate) seq_floor: u64,
    pub(crate) report: RecoveryReport,
    /// Messages found lost, for the writer to record as such.
    pub(crate) tombstones: Vec<MessageId>,
    lost: LostTracker,
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

/// Messages that are not in the index but that some record showed live: lost unless a
/// later record finishes them or brings them back.
#[derive(Debug, Default)]
struct LostTracker {
    live: HashSet<MessageId>,
    /// More were seen than `TRACKED_MAX`.
    full: bool,
}

impl LostTracker {
    fn live(&mut self, id: MessageId) {
        if self.live.len() < TRACKED_MAX {
            self.live.insert(id);
        } else {
            self.full = true;
        }
    }

    fn finished(&mut self, id: MessageId) {
        self.live.remove(&id);
    }

    /// A `Done` for a message not in the index. Format 3's cumulative `Done` shows whether
    /// the message was finished; an older one cannot, and is taken as finishing it (a
    /// message of a segment deleted long ago is the usual reason, not a loss).
    fn done(&mut self, id: MessageId, recipients: Option<u32>, done: &[u32]) {
        match recipients {
            Some(n) if (done.iter().filter(|r| **r < n).count() as u64) < u64::from(n) => self.live(id),
            _ => self.finished(id),
        }
    }
}

pub(crate) fn recover(dirs: &Dirs) -> Result<Recovered, SpoolError> {
    let mut state = Recovered::default();
    let mut removed_any = false;
    for (seq, path) in segment::list_segments(&dirs.segments)? {
        match scan_segment(dirs, seq, &path, &mut state)? {
            Scanned::Kept(tail) => state.last = Some(tail),
            Scanned::Quarantined => {}
            Scanned::Torn => {
                fs::remove_file(&path)?;
                removed_any = true;
            }
        }
    }
    if removed_any {
        File::open(&dirs.segments)?.sync_all()?;
    }
    check_data_files(dirs, &mut state)?;
    finish(&mut state);
    Ok(state)
}

enum Scanned {
    Kept(Tail),
    /// Torn while it was being created: it held nothing acknowledged and can be removed.
    Torn,
    Quarantined,
}

/// A segment being read.
struct Segment<'a> {
    seq: u64,
    path: &'a Path,
    file: &'a File,
    version: u32,
    salt: u64,
    len: u64,
}

fn scan_segment(dirs: &Dirs, seq: u64, path: &Path, state: &mut Recovered) -> Result<Scanned, SpoolError> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    let mut header = vec![0u8; len.min(HEADER_BYTES) as usize];
    file.read_exact_at(&mut header, 0)?;
    let (version, salt) = match segment::parse_header(&header, len) {
        Header::Torn => return Ok(Scanned::Torn),
        Header::Valid { seq: s, id_floor, version, salt } if s == seq => {
            state.id_floor = state.id_floor.max(id_floor);
            (version, salt)
        }
        Header::Newer { version } => {
            return Err(SpoolError::NewerFormat { path: path.to_path_buf(), version });
        }
        Header::Valid { .. } => {
            quarantine_segment(dirs, (seq, path, len), "segment header names another segment", state)?;
            return Ok(Scanned::Quarantined);
        }
        Header::Damaged => {
            let reason = "segment header damaged: none of its records can be checked";
            quarantine_segment(dirs, (seq, path, len), reason, state)?;
            return Ok(Scanned::Quarantined);
        }
    };
    state.report.segments += 1;
    let reader = Arc::new(file.try_clone()?);
    state.index.add_segment(SegmentMeta { seq, size: len, version, salt }, reader);
    let segment = Segment { seq, path, file: &file, version, salt, len };
    let valid_len = scan_records(dirs, &segment, state)?;
    if valid_len < len {
        file.set_len(valid_len)?;
        file.sync_all()?;
    }
    if let Some(info) = state.index.segments.get_mut(&seq) {
        info.size = valid_len;
    }
    Ok(Scanned::Kept(Tail { seq, len: valid_len, version, salt }))
}

fn quarantine_segment(
    dirs: &Dirs,
    (seq, path, len): (u64, &Path, u64),
    reason: &'static str,
    state: &mut Recovered,
) -> Result<(), SpoolError> {
    let note = Note { source: path, offset: 0, len, reason, records: "all records of the segment".into() };
    let name = segment::segment_path(Path::new(""), seq);
    let moved = quarantine::move_file(&dirs.quarantine, &name.to_string_lossy(), &note)?;
    state.report.segments += 1;
    state.report.quarantined.push(moved);
    state.report.unnamed_losses_possible = true;
    state.seq_floor = state.seq_floor.max(seq);
    Ok(())
}

/// Reads the records after the header; returns where the kept bytes end (the file's end,
/// or the start of a tail that is cut off).
fn scan_records(dirs: &Dirs, seg: &Segment<'_>, state: &mut Recovered) -> Result<u64, SpoolError> {
    let mut win = Window::new(seg.file, seg.len);
    let mut offset = segment::header_len(seg.version);
    while offset < seg.len {
        match read_record(&mut win, offset, seg)? {
            Record::Good(frame, decoded) => {
                let at = Location { segment: seg.seq, offset, frame };
                apply(decoded, at, state);
                state.report.records_read += 1;
                offset += frame.record_len();
            }
            Record::Bad(bad) => match damaged_run(&mut win, offset, &bad, seg)? {
                Run::Torn => {
                    state.report.torn_bytes += seg.len - offset;
                    return Ok(offset);
                }
                Run::Until(next) => {
                    quarantine_run(dirs, seg, (offset, next), &bad, state)?;
                    write_skip(seg, offset, next)?;
                    offset = next;
                }
                Run::ToEnd => {
                    quarantine_run(dirs, seg, (offset, seg.len), &bad, state)?;
                    return Ok(offset);
                }
            },
        }
    }
    Ok(offset)
}

/// A record that does not check out.
#[derive(Clone, Copy, Debug)]
struct Bad {
    /// Its frame when that is intact (format 3) or at least parses (older formats).
    frame: Option<Frame>,
    /// The file ends before the record does.
    past_end: bool,
    reason: &'static str,
}

enum Record {
    Good(Frame, Decoded),
    Bad(Bad),
}

fn read_record(win: &mut Window<'_>, offset: u64, seg: &Segment<'_>) -> io::Result<Record> {
    let bad = |frame, past_end, reason| Ok(Record::Bad(Bad { frame, past_end, reason }));
    let frame_len = Frame::len_for(seg.version);
    let head = win.get(offset, frame_len)?;
    if head.len() < frame_len {
        return bad(None, true, "the segment ends inside a record's frame");
    }
    let Some(frame) = Frame::parse_any(head, seg.version, seg.salt) else {
        return bad(None, false, "record frame damaged");
    };
    if offset.saturating_add(frame.record_len()) > seg.len {
        return bad(Some(frame), true, "record runs past the end of the segment");
    }
    if frame.record_len() > u64::from(u32::MAX) {
        return bad(Some(frame), false, "record longer than any the spool writes");
    }
    let mut hasher = frame.hasher();
    win.hash(&mut hasher, offset + frame.crc_from(), frame.record_len() - frame.crc_from())?;
    if !frame.matches(hasher) {
        return bad(Some(frame), false, "record payload fails its CRC");
    }
    match decode_at(win, offset, &frame, seg.version)? {
        Some(decoded) => Ok(Record::Good(frame, decoded)),
        None => bad(Some(frame), false, "record passes its CRC but does not decode"),
    }
}

/// Decodes a checked record, reading a message record's payload only through its envelope.
fn decode_at(win: &mut Window<'_>, offset: u64, frame: &Frame, version: u32) -> io::Result<Option<Decoded>> {
    let payload_at = offset + u64::from(frame.frame_len);
    let len = match frame.kind {
        RecordType::Skip => 0,
        kind if kind.is_message() => {
            let head = win.get(payload_at, record::message_head_len(frame))?;
            match record::message_prefix_len(frame, head) {
                Some(n) => n,
                None => return Ok(None),
            }
        }
        _ => frame.payload_len as usize,
    };
    let bytes = win.get(payload_at, len)?;
    Ok(record::decode(frame, bytes, version).ok())
}

enum Run {
    Torn,
    /// Damage up to the next intact frame, at this offset.
    Until(u64),
    /// Damage up to the end of the file.
    ToEnd,
}

/// Where the damage starting with `bad` at `offset` ends, and whether it is a torn tail.
fn damaged_run(win: &mut Window<'_>, offset: u64, bad: &Bad, seg: &Segment<'_>) -> io::Result<Run> {
    if bad.past_end {
        return Ok(Run::Torn);
    }
    if seg.version >= 3 {
        // An intact frame's length is trusted: the next record is searched for after it, so
        // nothing inside its payload is ever taken for a record.
        let resume = bad.frame.map_or(offset + 1, |f| offset + f.record_len());
        if let Some(next) = win.next_frame(resume, seg.salt)? {
            return Ok(Run::Until(next));
        }
    }
    let torn = is_torn(win, offset, bad, seg)?;
    Ok(if torn { Run::Torn } else { Run::ToEnd })
}

/// Whether the bytes from a bad record at `offset` to the end, holding no intact record,
/// look like an append cut short by a crash: writes reach the disk a sector at a time at
/// least, so such a tail is the start of a record, then zeros from a sector boundary on
/// (a file that grew before its data was written) or nothing. Anything else is damage.
fn is_torn(win: &mut Window<'_>, offset: u64, bad: &Bad, seg: &Segment<'_>) -> io::Result<bool> {
    let left = seg.len - offset;
    let frame_len = Frame::len_for(seg.version) as u64;
    if left < frame_len {
        return Ok(true);
    }
    let nonzero_end = win.nonzero_end(offset, left)?;
    // The zeros that follow what was written start at a sector boundary.
    let zeros_from = nonzero_end.next_multiple_of(SECTOR_BYTES);
    let record_end = match bad.frame {
        Some(frame) => offset + frame.record_len(),
        None => offset + frame_len,
    };
    Ok(nonzero_end == offset || zeros_from < record_end)
}

/// Copies the damaged `range` into quarantine and notes what it cost.
fn quarantine_run(
    dirs: &Dirs,
    seg: &Segment<'_>,
    (from, to): (u64, u64),
    bad: &Bad,
    state: &mut Recovered,
) -> Result<(), SpoolError> {
    let named = bad.frame.and_then(|f| Some((f.kind, f.id?, f.record_len())));
    let one_record = named.is_some_and(|(_, _, len)| from + len == to);
    let records = match named {
        Some((kind, id, _)) if one_record => format!("one {kind:?} record of message {id}"),
        Some((kind, id, _)) => {
            format!("a {kind:?} record of message {id}, then records whose frames are damaged")
        }
        None => "records whose frames are damaged".into(),
    };
    let note = Note { source: seg.path, offset: from, len: to - from, reason: bad.reason, records };
    let name = format!("{:016x}-{from:016x}.bin", seg.seq);
    state.report.quarantined.push(quarantine::copy_range(&dirs.quarantine, &name, seg.file, &note)?);
    // A run longer than its first, named record holds at least one more.
    state.report.records_lost += if named.is_some() && !one_record { 2 } else { 1 };
    state.report.unnamed_losses_possible |= !one_record;
    if let Some((kind, id, _)) = named
        && kind.is_message()
        && !state.index.messages.contains_key(&id)
    {
        state.lost.live(id);
    }
    Ok(())
}

/// Overwrites a quarantined range with a `Skip` record of zeros (payload first, frame last,
/// then synced), so that the next recovery reads past it without reporting it again. A
/// range too short or too long for one record stays as it is and is reported again.
fn write_skip(seg: &Segment<'_>, from: u64, to: u64) -> io::Result<()> {
    let Some(payload_len) = (to - from).checked_sub(FRAME_BYTES as u64).and_then(|n| u32::try_from(n).ok())
    else {
        return Ok(());
    };
    let zeros = vec![0u8; ZEROS_BYTES];
    let mut at = from + FRAME_BYTES as u64;
    while at < to {
        let n = usize::try_from(to - at).unwrap_or(usize::MAX).min(ZEROS_BYTES);
        seg.file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    seg.file.write_all_at(&record::skip_frame(payload_len, seg.salt), from)?;
    seg.file.sync_data()
}

#[derive(Clone, Copy, Debug)]
struct Location {
    segment: u64,
    offset: u64,
    frame: Frame,
}

fn apply(decoded: Decoded, at: Location, state: &mut Recovered) {
    match decoded {
        Decoded::Message { id, received_at_unix_ms, envelope, data } => {
            state.id_floor = state.id_floor.max(id.0);
            let entry = Entry {
                segment: at.segment,
                offset: at.offset,
                // `read_record` refuses longer records.
                record_len: u32::try_from(at.frame.record_len()).unwrap_or(u32::MAX),
                data_len: data.len(),
                external: matches!(data, DataRef::External { .. }),
                recipients: u32::try_from(envelope.recipients.len()).unwrap_or(u32::MAX),
                done: Default::default(),
                schedule: Default::default(),
            };
            state.index.insert(id, entry);
            state.lost.finished(id);
            if state.index.messages.contains_key(&id) {
                state.envelopes.insert(id, (*envelope, received_at_unix_ms));
            }
        }
        Decoded::Done { id, recipients, done } => {
            if !state.index.messages.contains_key(&id) {
                state.lost.done(id, recipients, &done);
            } else if state.index.mark_done(id, &done).is_some() {
                state.envelopes.remove(&id);
            }
        }
        Decoded::Schedule { id, schedule } => match state.index.messages.contains_key(&id) {
            true => state.index.set_schedule(id, schedule),
            false => state.lost.live(id),
        },
        Decoded::Skip => {}
        Decoded::Lost { id } => {
            state.index.remove(id);
            state.envelopes.remove(&id);
            state.lost.finished(id);
        }
    }
}

/// Checks that every live message with a data file has it, at its length (the data's CRC is
/// checked when it is read), and removes data files no live message owns.
fn check_data_files(dirs: &Dirs, state: &mut Recovered) -> Result<(), SpoolError> {
    let mut external: Vec<(MessageId, u32)> =
        state.index.messages.iter().filter(|(_, e)| e.external).map(|(id, e)| (*id, e.data_len)).collect();
    external.sort_unstable();
    for (id, len) in external {
        let path = dirs.data_file(id);
        match fs::metadata(&path) {
            Ok(meta) if meta.len() == u64::from(len) => continue,
            Ok(meta) => {
                let note = Note {
                    source: &path,
                    offset: 0,
                    len: meta.len(),
                    reason: "data file does not have the length its record gives",
                    records: format!("the data of message {id}, which should be {len} bytes"),
                };
                let name = format!("{id}.eml");
                state.report.quarantined.push(quarantine::move_file(&dirs.quarantine, &name, &note)?);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        state.index.remove(id);
        state.envelopes.remove(&id);
        state.lost.live(id);
    }
    remove_orphans(dirs, state)?;
    Ok(())
}

fn remove_orphans(dirs: &Dirs, state: &mut Recovered) -> io::Result<()> {
    let entries = match fs::read_dir(&dirs.data) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some(id) = entry.file_name().to_str().and_then(segment::parse_data_name) else {
            continue;
        };
        if !state.index.messages.get(&id).is_some_and(|e| e.external) {
            fs::remove_file(entry.path())?;
            state.report.orphan_files_removed += 1;
        }
    }
    if state.report.orphan_files_removed > 0 {
        File::open(&dirs.data)?.sync_all()?;
    }
    Ok(())
}

/// Settles the losses and the counts.
fn finish(state: &mut Recovered) {
    let index = &state.index;
    let mut lost: Vec<MessageId> =
        state.lost.live.drain().filter(|id| !index.messages.contains_key(id)).collect();
    lost.sort_unstable();
    state.report.unnamed_losses_possible |= state.lost.full;
    state.report.live_messages = index.messages.len() as u64;
    state.tombstones.clone_from(&lost);
    state.report.lost_messages = lost;
}
