//! The spool's own binary record format. Nothing outside this module (and `segment`) knows
//! how records look on disk; the domain types in `smtp_wire` stay free of storage concerns.
//!
//! # Format 3: resynchronisable frames
//! A record is a 25-byte frame, then its payload, little-endian:
//! `[magic F8 5D 1C E0][u8 type][u32 payload_len][u64 id][u32 payload_crc][u32 frame_crc]`.
//! `frame_crc` covers the 21 bytes before it and `payload_crc` the payload, each a CRC-32
//! over the segment's 8-byte salt (from the segment header) followed by those bytes. So
//! after damage, recovery finds the next record by looking for the magic and accepting a
//! frame only when its own CRC matches (a length is never trusted before that) and the
//! payload it announces lies within the file; the payload's CRC then decides whether the
//! record is read. The magic's first byte never occurs in UTF-8 text, and since the salt is
//! random per segment, message data cannot carry a frame that passes the check: a damaged
//! record's payload, scanned for the next frame, cannot smuggle records in.
//!
//! Every record names its message id in the frame, where the frame CRC protects it, so a
//! record whose payload is damaged still says which message it belonged to.
//!
//! Payloads (the segment header's format version says how to read them):
//! - `Message` (1): `u64 received_at_unix_ms, u32 envelope_len, envelope, data` (the data
//!   runs to the end of the payload; the `envelope` module has the envelope's encoding).
//! - `Done` (2): `u32 recipients, u32 words, words x u64`: the message's recipient count and
//!   the bitset of *all* its finished recipients so far (cumulative), so that the last `Done`
//!   of a message shows whether it was finished even when its `Message` record is gone.
//! - `Schedule` (3): `u32 attempts, u64 next_attempt_unix_ms, u8 delay_notified`. The latest
//!   in log order is the message's schedule.
//! - `Skip` (4): zeros; written by recovery over a damaged range it moved into quarantine.
//! - `External` (5): a message whose data is in a file of its own (`data/<id>.eml`):
//!   `u64 received_at_unix_ms, u32 envelope_len, envelope, u32 data_len, u32 data_crc`
//!   (a plain CRC-32 of the data).
//! - `Lost` (6): empty; recovery's tombstone for a message it found lost, so that the loss is
//!   reported once.
//!
//! # Formats 1 and 2 (read only)
//! `[u32 payload_len][u32 crc32 of type + payload][u8 type][payload]`, every payload starting
//! with the `u64 id`; then the fields above for `Message` and `Schedule` (format 2 on);
//! `Done` is `u32 count, count x u32 recipient index` (only the recipients it finishes).
//! Format 1 envelopes have no attribution. Without a marker there is no resynchronisation:
//! recovery of these formats stops a segment at its first bad record.

pub(crate) mod codec;
pub(crate) mod envelope;

use smtp_wire::Envelope;

use crate::index::DoneSet;
use crate::{MessageId, Schedule};
pub(crate) use codec::DecodeError;
use codec::{Decoder, Encoder};

/// The first bytes of every format 3 record.
pub(crate) const RECORD_MAGIC: [u8; 4] = [0xF8, 0x5D, 0x1C, 0xE0];
/// Bytes of a format 3 frame.
pub(crate) const FRAME_BYTES: usize = 25;
/// Bytes of a format 1/2 record header: length, CRC, type.
pub(crate) const LEGACY_FRAME_BYTES: usize = 9;
/// Bytes of the frame that its CRC covers.
const FRAME_CHECKED_BYTES: usize = 21;

/// Bytes of a message payload before the envelope: received_at, envelope length.
pub(crate) const MESSAGE_FIXED_BYTES: usize = 12;
/// Bytes of an `External` payload after the envelope: data length and CRC.
const EXTERNAL_TAIL_BYTES: usize = 8;

/// The largest message data a record or data file holds, leaving room for a large envelope
/// in a record whose length is a `u32`.
pub(crate) const DATA_BYTES_MAX: usize = (u32::MAX as usize) - (1 << 24);

/// Record types. A type the segment's format does not know is damage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordType {
    Message = 1,
    Done = 2,
    Schedule = 3,
    Skip = 4,
    External = 5,
    Lost = 6,
}

impl RecordType {
    fn from_byte(b: u8, version: u32) -> Option<RecordType> {
        match (b, version) {
            (1, _) => Some(RecordType::Message),
            (2, _) => Some(RecordType::Done),
            (3, 2..) => Some(RecordType::Schedule),
            (4, 3..) => Some(RecordType::Skip),
            (5, 3..) => Some(RecordType::External),
            (6, 3..) => Some(RecordType::Lost),
            _ => None,
        }
    }

    pub(crate) fn is_message(self) -> bool {
        matches!(self, RecordType::Message | RecordType::External)
    }
}

/// A CRC-32 over `salt` and then `bytes`.
fn salted_crc(salt: u64, bytes: &[u8]) -> u32 {
    let mut hasher = salted_hasher(salt);
    hasher.update(bytes);
    hasher.finalize()
}

fn salted_hasher(salt: u64) -> crc32fast::Hasher {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&salt.to_le_bytes());
    hasher
}

/// The salted CRC of `len` bytes whose plain CRC-32 is `plain`, without reading them again.
fn salt_crc(salt: u64, plain: u32, len: u64) -> u32 {
    let mut hasher = salted_hasher(salt);
    hasher.combine(&crc32fast::Hasher::new_with_initial_len(plain, len));
    hasher.finalize()
}

/// A record's header in any format: enough to check its CRC and find its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) kind: RecordType,
    /// From the frame in format 3 (checked by the frame CRC); older formats keep it in the
    /// payload's first 8 bytes.
    pub(crate) id: Option<MessageId>,
    pub(crate) payload_len: u32,
    /// Bytes before the payload.
    pub(crate) frame_len: u8,
    /// Where the CRC's coverage starts, from the record's start, and its seed.
    crc_from: u8,
    salt: Option<u64>,
    crc: u32,
}

impl Frame {
    /// Parses a format 3 frame: `None` unless the magic, the frame CRC and the type are right.
    pub(crate) fn parse(bytes: &[u8], salt: u64) -> Option<Frame> {
        let h: &[u8; FRAME_BYTES] = bytes.get(..FRAME_BYTES)?.try_into().ok()?;
        if h[..4] != RECORD_MAGIC || salted_crc(salt, &h[..FRAME_CHECKED_BYTES]) != le_u32(h, 21) {
            return None;
        }
        Some(Frame {
            kind: RecordType::from_byte(h[4], 3)?,
            id: Some(MessageId(le_u64(h, 9))),
            payload_len: le_u32(h, 5),
            frame_len: FRAME_BYTES as u8,
            crc_from: FRAME_BYTES as u8,
            salt: Some(salt),
            crc: le_u32(h, 17),
        })
    }

    /// Parses a format 1/2 header: `None` for an unknown type. Nothing else can be checked
    /// before the payload is read.
    pub(crate) fn parse_legacy(bytes: &[u8], version: u32) -> Option<Frame> {
        let h: &[u8; LEGACY_FRAME_BYTES] = bytes.get(..LEGACY_FRAME_BYTES)?.try_into().ok()?;
        Some(Frame {
            kind: RecordType::from_byte(h[8], version)?,
            id: None,
            payload_len: le_u32(h, 0),
            frame_len: LEGACY_FRAME_BYTES as u8,
            crc_from: 8,
            salt: None,
            crc: le_u32(h, 4),
        })
    }

    /// Parses the frame of a segment of format `version` (salt from its header).
    pub(crate) fn parse_any(bytes: &[u8], version: u32, salt: u64) -> Option<Frame> {
        match version {
            3.. => Frame::parse(bytes, salt),
            _ => Frame::parse_legacy(bytes, version),
        }
    }

    /// Bytes of the frame in a segment of format `version`.
    pub(crate) fn len_for(version: u32) -> usize {
        match version {
            3.. => FRAME_BYTES,
            _ => LEGACY_FRAME_BYTES,
        }
    }

    pub(crate) fn record_len(&self) -> u64 {
        u64::from(self.frame_len) + u64::from(self.payload_len)
    }

    /// Offset from the record's start where the bytes the CRC covers begin.
    pub(crate) fn crc_from(&self) -> u64 {
        u64::from(self.crc_from)
    }

    /// A hasher to feed the covered bytes (from `crc_from` to the record's end) into.
    pub(crate) fn hasher(&self) -> crc32fast::Hasher {
        match self.salt {
            Some(salt) => salted_hasher(salt),
            None => crc32fast::Hasher::new(),
        }
    }

    /// The CRC the covered bytes must give.
    pub(crate) fn crc(&self) -> u32 {
        self.crc
    }

    pub(crate) fn matches(&self, hasher: crc32fast::Hasher) -> bool {
        hasher.finalize() == self.crc
    }

    /// Checks a whole record held in memory; returns its payload.
    pub(crate) fn verify<'a>(&self, record: &'a [u8]) -> Option<&'a [u8]> {
        if record.len() as u64 != self.record_len() {
            return None;
        }
        let mut hasher = self.hasher();
        hasher.update(record.get(usize::from(self.crc_from)..)?);
        self.matches(hasher).then(|| &record[usize::from(self.frame_len)..])
    }
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// A format 3 record built without knowing the segment it goes into: its frame's CRC fields
/// are filled in by `seal` once the writer knows the segment's salt. The payload's CRC is
/// computed here (on the caller's thread for messages), unsalted; sealing salts it without
/// reading the payload again.
#[derive(Debug)]
pub(crate) struct Unsealed {
    pub(crate) bytes: Vec<u8>,
    plain_crc: u32,
}

impl Unsealed {
    pub(crate) fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// Records appended to one buffer, sealed together for the segment they go into.
#[derive(Debug, Default)]
pub(crate) struct RecordBuf {
    buf: Vec<u8>,
    frames: Vec<(usize, u32)>,
}

impl RecordBuf {
    /// Appends a record; returns its offset in the buffer.
    pub(crate) fn push(&mut self, record: &Unsealed) -> u64 {
        let at = self.buf.len();
        self.buf.extend_from_slice(&record.bytes);
        self.frames.push((at, record.plain_crc));
        at as u64
    }

    pub(crate) fn len(&self) -> u64 {
        self.buf.len() as u64
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Fills in every frame's CRCs for a segment with `salt`.
    pub(crate) fn seal(&mut self, salt: u64) -> &[u8] {
        for (at, plain) in &self.frames {
            let frame = &mut self.buf[*at..*at + FRAME_BYTES];
            let payload_len = le_u32(frame, 5);
            frame[17..21].copy_from_slice(&salt_crc(salt, *plain, u64::from(payload_len)).to_le_bytes());
            let frame_crc = salted_crc(salt, &frame[..FRAME_CHECKED_BYTES]);
            frame[21..25].copy_from_slice(&frame_crc.to_le_bytes());
        }
        &self.buf
    }
}

fn start(kind: RecordType, id: MessageId, capacity: usize) -> Encoder {
    let mut enc = Encoder::with_capacity(FRAME_BYTES + capacity);
    enc.bytes(&RECORD_MAGIC);
    enc.u8(kind as u8);
    enc.u32(0);
    enc.u64(id.0);
    enc.bytes(&[0; 8]);
    enc
}

/// Fills in the payload length and computes the payload's plain CRC. Callers bound sizes
/// below 4 GiB before encoding.
fn finish(enc: Encoder) -> Unsealed {
    let mut bytes = enc.finish();
    let payload = &bytes[FRAME_BYTES..];
    let plain_crc = crc32fast::hash(payload);
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    bytes[5..9].copy_from_slice(&len.to_le_bytes());
    Unsealed { bytes, plain_crc }
}

/// A `Message` or `External` record with its data's length.
#[derive(Debug)]
pub(crate) struct EncodedMessage {
    pub(crate) record: Unsealed,
    pub(crate) data_len: u32,
    pub(crate) external: bool,
}

/// Where a message's data is, as its record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DataRef {
    /// At the end of the record's payload.
    Inline { len: u32 },
    /// In its own file, with the data's plain CRC-32.
    External { len: u32, crc: u32 },
}

impl DataRef {
    pub(crate) fn len(self) -> u32 {
        match self {
            DataRef::Inline { len } | DataRef::External { len, .. } => len,
        }
    }
}

/// A whole `Message` record, or `None` when the data or the record would not fit its limits.
pub(crate) fn encode_message(
    id: MessageId,
    received_at_unix_ms: u64,
    envelope: &Envelope,
    data: &[u8],
) -> Option<EncodedMessage> {
    let env = encode_envelope(envelope);
    if data.len() > DATA_BYTES_MAX {
        return None;
    }
    let payload_len = MESSAGE_FIXED_BYTES + env.len() + data.len();
    u32::try_from(FRAME_BYTES + payload_len).ok()?;
    let mut enc = start(RecordType::Message, id, payload_len);
    enc.u64(received_at_unix_ms);
    enc.u32(u32::try_from(env.len()).ok()?);
    enc.bytes(&env);
    enc.bytes(data);
    let data_len = u32::try_from(data.len()).ok()?;
    Some(EncodedMessage { record: finish(enc), data_len, external: false })
}

/// A whole `External` record for data of `data_len` bytes with plain CRC `data_crc`.
pub(crate) fn encode_external(
    id: MessageId,
    received_at_unix_ms: u64,
    envelope: &Envelope,
    data_len: u32,
    data_crc: u32,
) -> Option<EncodedMessage> {
    let env = encode_envelope(envelope);
    let mut enc = start(RecordType::External, id, MESSAGE_FIXED_BYTES + env.len() + EXTERNAL_TAIL_BYTES);
    enc.u64(received_at_unix_ms);
    enc.u32(u32::try_from(env.len()).ok()?);
    enc.bytes(&env);
    enc.u32(data_len);
    enc.u32(data_crc);
    Some(EncodedMessage { record: finish(enc), data_len, external: true })
}

fn encode_envelope(envelope: &Envelope) -> Vec<u8> {
    let mut env = Encoder::with_capacity(256);
    envelope::encode(&mut env, envelope);
    env.finish()
}

/// A `Done` record: the message has `recipients`, and `done` are all that are finished.
pub(crate) fn encode_done(id: MessageId, recipients: u32, done: &DoneSet) -> Unsealed {
    let words = done.words();
    let mut enc = start(RecordType::Done, id, 8 + 8 * words.len());
    enc.u32(recipients);
    enc.u32(u32::try_from(words.len()).unwrap_or(u32::MAX));
    for w in words {
        enc.u64(*w);
    }
    finish(enc)
}

/// A `Schedule` record.
pub(crate) fn encode_schedule(id: MessageId, schedule: &Schedule) -> Unsealed {
    let mut enc = start(RecordType::Schedule, id, 13);
    enc.u32(schedule.attempts);
    enc.u64(schedule.next_attempt_unix_ms);
    enc.bool(schedule.delay_notified);
    finish(enc)
}

/// A `Lost` tombstone.
pub(crate) fn encode_lost(id: MessageId) -> Unsealed {
    finish(start(RecordType::Lost, id, 0))
}

/// The sealed frame of a `Skip` record whose payload is `payload_len` zeros.
pub(crate) fn skip_frame(payload_len: u32, salt: u64) -> [u8; FRAME_BYTES] {
    let zeros = [0u8; 4096];
    let mut hasher = crc32fast::Hasher::new();
    let mut left = payload_len as usize;
    while left > 0 {
        let n = left.min(zeros.len());
        hasher.update(&zeros[..n]);
        left -= n;
    }
    let mut bytes = start(RecordType::Skip, MessageId(0), 0).finish();
    bytes[5..9].copy_from_slice(&payload_len.to_le_bytes());
    let mut records = RecordBuf::default();
    records.push(&Unsealed { bytes, plain_crc: hasher.finalize() });
    let mut frame = [0u8; FRAME_BYTES];
    frame.copy_from_slice(records.seal(salt));
    frame
}

/// A decoded record. Message data is not part of it: the decoder reads a message record's
/// payload only up to the end of its envelope (`message_prefix_len`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    Message {
        id: MessageId,
        received_at_unix_ms: u64,
        envelope: Box<Envelope>,
        data: DataRef,
    },
    /// `recipients` is the message's recipient count (format 3 on), `done` the recipients
    /// finished: all of them in format 3, those newly finished before.
    Done {
        id: MessageId,
        recipients: Option<u32>,
        done: Vec<u32>,
    },
    Schedule {
        id: MessageId,
        schedule: Schedule,
    },
    Skip,
    Lost {
        id: MessageId,
    },
}

/// How many payload bytes of a message record the decoder needs, given the first
/// `message_head_len` of them: through the envelope (and the data reference of an
/// `External` record). `None` when the lengths do not fit the payload.
pub(crate) fn message_prefix_len(frame: &Frame, head: &[u8]) -> Option<usize> {
    let id_bytes = if frame.id.is_some() { 0 } else { 8 };
    let fixed = id_bytes + MESSAGE_FIXED_BYTES;
    let env_len = le_u32(head.get(..fixed)?, fixed - 4) as usize;
    let tail = if frame.kind == RecordType::External { EXTERNAL_TAIL_BYTES } else { 0 };
    let needed = fixed.checked_add(env_len)?.checked_add(tail)?;
    (needed <= frame.payload_len as usize).then_some(needed)
}

/// The most `message_head_len` gives.
pub(crate) const MESSAGE_HEAD_BYTES_MAX: usize = 8 + MESSAGE_FIXED_BYTES;

/// Bytes of a message record's payload that `message_prefix_len` needs to see.
pub(crate) fn message_head_len(frame: &Frame) -> usize {
    if frame.id.is_some() { MESSAGE_FIXED_BYTES } else { 8 + MESSAGE_FIXED_BYTES }
}

/// Decodes a checked record of a segment of format `version`. For message records
/// `payload` is exactly the prefix `message_prefix_len` gives (the data is not decoded);
/// for the others, the whole payload (`Skip` ignores it).
pub(crate) fn decode(frame: &Frame, payload: &[u8], version: u32) -> Result<Decoded, DecodeError> {
    let mut dec = Decoder::new(payload);
    let id = match frame.id {
        Some(id) => id,
        None => MessageId(dec.u64()?),
    };
    let decoded = match frame.kind {
        RecordType::Message | RecordType::External => {
            let prefix_len = u32::try_from(payload.len()).map_err(|_| DecodeError::Truncated)?;
            decode_message(&mut dec, frame, id, version, prefix_len)?
        }
        RecordType::Done => decode_done(&mut dec, id, version)?,
        RecordType::Schedule => Decoded::Schedule {
            id,
            schedule: Schedule {
                attempts: dec.u32()?,
                next_attempt_unix_ms: dec.u64()?,
                delay_notified: dec.bool("delay_notified")?,
            },
        },
        RecordType::Skip => return Ok(Decoded::Skip),
        RecordType::Lost => Decoded::Lost { id },
    };
    dec.expect_end()?;
    Ok(decoded)
}

fn decode_message(
    dec: &mut Decoder<'_>,
    frame: &Frame,
    id: MessageId,
    version: u32,
    prefix_len: u32,
) -> Result<Decoded, DecodeError> {
    let received_at_unix_ms = dec.u64()?;
    let env_len = dec.len_u32()?;
    let mut env = Decoder::new(dec.take(env_len)?);
    let envelope = envelope::decode(&mut env, version)?;
    env.expect_end()?;
    let data = match frame.kind {
        RecordType::External => DataRef::External { len: dec.u32()?, crc: dec.u32()? },
        _ => {
            DataRef::Inline { len: frame.payload_len.checked_sub(prefix_len).ok_or(DecodeError::Truncated)? }
        }
    };
    Ok(Decoded::Message { id, received_at_unix_ms, envelope: Box::new(envelope), data })
}

fn decode_done(dec: &mut Decoder<'_>, id: MessageId, version: u32) -> Result<Decoded, DecodeError> {
    if version < 3 {
        let count = dec.count(4)?;
        let mut done = Vec::with_capacity(count);
        for _ in 0..count {
            done.push(dec.u32()?);
        }
        return Ok(Decoded::Done { id, recipients: None, done });
    }
    let recipients = dec.u32()?;
    let words = dec.count(8)?;
    let mut done = Vec::new();
    for word in 0..words {
        let bits = dec.u64()?;
        for bit in 0..64 {
            if bits & (1 << bit) != 0 {
                done.push(u32::try_from(word * 64 + bit).map_err(|_| DecodeError::Truncated)?);
            }
        }
    }
    Ok(Decoded::Done { id, recipients: Some(recipients), done })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::envelope::tests::full_envelope;
    use crate::segment::FORMAT_VERSION;

    const SALT: u64 = 0x0123_4567_89ab_cdef;

    fn sealed(record: &Unsealed, salt: u64) -> Vec<u8> {
        let mut records = RecordBuf::default();
        records.push(record);
        records.seal(salt).to_vec()
    }

    /// Parses, checks and decodes a sealed record held in memory, as recovery does.
    fn read_back(bytes: &[u8], salt: u64) -> Option<(Frame, Decoded)> {
        let frame = Frame::parse(bytes, salt)?;
        let payload = frame.verify(bytes)?;
        let len = match frame.kind {
            kind if kind.is_message() => message_prefix_len(&frame, &payload[..message_head_len(&frame)])?,
            _ => payload.len(),
        };
        Some((frame, decode(&frame, &payload[..len], FORMAT_VERSION).ok()?))
    }

    #[test]
    fn message_records_round_trip() {
        let env = full_envelope();
        let data = b"Subject: hi\r\n\r\nbody\r\n".to_vec();
        let rec = encode_message(MessageId(42), 1_700_000_000_000, &env, &data).unwrap();
        assert_eq!((rec.data_len as usize, rec.external), (data.len(), false));
        let bytes = sealed(&rec.record, SALT);
        let (frame, decoded) = read_back(&bytes, SALT).unwrap();
        assert_eq!(
            (frame.kind, frame.id, frame.record_len()),
            (RecordType::Message, Some(MessageId(42)), bytes.len() as u64)
        );
        let expected = Decoded::Message {
            id: MessageId(42),
            received_at_unix_ms: 1_700_000_000_000,
            envelope: Box::new(env.clone()),
            data: DataRef::Inline { len: data.len() as u32 },
        };
        assert_eq!(decoded, expected);
        assert!(bytes.ends_with(&data));
        let ext = encode_external(MessageId(43), 5, &env, 50_000_000, 0xfeed).unwrap();
        assert_eq!((ext.data_len, ext.external), (50_000_000, true));
        let (_, decoded) = read_back(&sealed(&ext.record, SALT), SALT).unwrap();
        let data = DataRef::External { len: 50_000_000, crc: 0xfeed };
        assert_eq!(
            decoded,
            Decoded::Message { id: MessageId(43), received_at_unix_ms: 5, envelope: Box::new(env), data }
        );
    }

    #[test]
    fn done_schedule_and_lost_records_round_trip() {
        let mut done = DoneSet::default();
        for r in [0, 3, 64, 130] {
            done.insert(r);
        }
        let (_, decoded) = read_back(&sealed(&encode_done(MessageId(7), 131, &done), SALT), SALT).unwrap();
        assert_eq!(
            decoded,
            Decoded::Done { id: MessageId(7), recipients: Some(131), done: vec![0, 3, 64, 130] }
        );
        let schedule = Schedule { attempts: 7, next_attempt_unix_ms: u64::MAX - 1, delay_notified: true };
        let (_, decoded) = read_back(&sealed(&encode_schedule(MessageId(9), &schedule), SALT), SALT).unwrap();
        assert_eq!(decoded, Decoded::Schedule { id: MessageId(9), schedule });
        let (_, decoded) = read_back(&sealed(&encode_lost(MessageId(11)), SALT), SALT).unwrap();
        assert_eq!(decoded, Decoded::Lost { id: MessageId(11) });
    }

    #[test]
    fn a_skip_frame_covers_zeros() {
        for len in [0u32, 1, 4096, 10_000] {
            let mut bytes = skip_frame(len, SALT).to_vec();
            bytes.resize(FRAME_BYTES + len as usize, 0);
            let (frame, decoded) = read_back(&bytes, SALT).unwrap();
            assert_eq!((frame.kind, decoded), (RecordType::Skip, Decoded::Skip));
        }
    }

    #[test]
    fn any_flipped_bit_is_detected() {
        let rec = sealed(&encode_done(MessageId(7), 3, &DoneSet::default()), SALT);
        for i in 0..rec.len() {
            for bit in 0..8 {
                let mut bad = rec.clone();
                bad[i] ^= 1 << bit;
                assert!(read_back(&bad, SALT).is_none(), "byte {i} bit {bit}");
            }
        }
    }

    /// A record is only valid under its segment's salt: data that carries a record (even a
    /// real one from another segment, or one sealed without salt) is never taken for one.
    #[test]
    fn a_record_checks_only_under_its_own_salt() {
        let rec = encode_schedule(MessageId(9), &Schedule::default());
        let bytes = sealed(&rec, SALT);
        assert!(read_back(&bytes, SALT).is_some());
        assert!(Frame::parse(&bytes, SALT ^ 1).is_none());
        assert!(Frame::parse(&bytes, 0).is_none());
        // A forger who skips the salt computes plain CRCs.
        let mut forged = rec.bytes.clone();
        let plain = crc32fast::hash(&forged[FRAME_BYTES..]);
        forged[17..21].copy_from_slice(&plain.to_le_bytes());
        let frame_crc = crc32fast::hash(&forged[..FRAME_CHECKED_BYTES]);
        forged[21..25].copy_from_slice(&frame_crc.to_le_bytes());
        assert!(Frame::parse(&forged, SALT).is_none());
    }

    #[test]
    fn sealing_salts_the_plain_crc() {
        let payload = b"some payload bytes";
        let mut salted = crc32fast::Hasher::new();
        salted.update(&SALT.to_le_bytes());
        salted.update(payload);
        assert_eq!(salt_crc(SALT, crc32fast::hash(payload), payload.len() as u64), salted.finalize());
    }

    #[test]
    fn decoders_never_panic_on_prefixes_or_garbage() {
        let env = full_envelope();
        let rec = encode_message(MessageId(1), 2, &env, b"data").unwrap();
        let bytes = sealed(&rec.record, SALT);
        let frame = Frame::parse(&bytes, SALT).unwrap();
        let payload = &bytes[FRAME_BYTES..];
        let frames = [
            frame,
            Frame { kind: RecordType::External, ..frame },
            Frame { kind: RecordType::Done, ..frame },
            Frame { kind: RecordType::Schedule, ..frame },
            Frame { id: None, ..frame },
        ];
        for f in &frames {
            for end in 0..payload.len() {
                let _ = decode(f, &payload[..end], FORMAT_VERSION);
                let _ = decode(f, &payload[..end], 1);
                let _ = message_prefix_len(f, &payload[..end]);
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2_000 {
            let mut bad = payload.to_vec();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let i = (state as usize) % bad.len();
                bad[i] = (state >> 32) as u8;
            }
            for f in &frames {
                let _ = decode(f, &bad, FORMAT_VERSION);
                let _ = message_prefix_len(f, &bad);
            }
        }
    }
}
