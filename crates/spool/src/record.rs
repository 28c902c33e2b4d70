//! The spool's own binary record format. Nothing outside this module (and `segment`) knows
//! how records look on disk; the domain types in `smtp_wire` stay free of storage concerns.
//!
//! A record is `[u32 len][u32 crc32][u8 type][payload]`, little-endian, where `len` is the
//! payload length and the CRC covers the type byte and the payload.
//!
//! Payloads (the segment header's format version says how to read them):
//! - `Message` (1): `u64 id, u64 received_at_unix_ms, u32 envelope_len, envelope, data`
//!   (the data runs to the end of the payload; the `envelope` module has the envelope's
//!   encoding per version).
//! - `Done` (2): `u64 id, u32 count, count x u32 recipient index`.
//! - `Schedule` (3, format 2 on): `u64 id, u32 attempts, u64 next_attempt_unix_ms,
//!   u8 delay_notified`. The latest in log order is the message's schedule.

mod codec;
mod envelope;

use smtp_wire::Envelope;

use crate::{MessageId, Schedule};
pub(crate) use codec::DecodeError;
use codec::{Decoder, Encoder};

/// Bytes before the payload: length, CRC and type.
pub(crate) const RECORD_HEADER_BYTES: usize = 9;

/// Bytes of a `Message` payload before the envelope: id, received_at, envelope length.
const MESSAGE_FIXED_BYTES: usize = 20;

/// Record types. Unknown types are treated like a bad CRC: the segment ends there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordType {
    Message = 1,
    Done = 2,
    Schedule = 3,
}

impl RecordType {
    fn from_byte(b: u8) -> Option<RecordType> {
        match b {
            1 => Some(RecordType::Message),
            2 => Some(RecordType::Done),
            3 => Some(RecordType::Schedule),
            _ => None,
        }
    }
}

/// The fixed part of a record, parsed before the payload is read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordHeader {
    pub(crate) payload_len: u32,
    crc: u32,
    type_byte: u8,
}

impl RecordHeader {
    pub(crate) fn parse(bytes: &[u8; RECORD_HEADER_BYTES]) -> RecordHeader {
        let [l0, l1, l2, l3, c0, c1, c2, c3, type_byte] = *bytes;
        RecordHeader {
            payload_len: u32::from_le_bytes([l0, l1, l2, l3]),
            crc: u32::from_le_bytes([c0, c1, c2, c3]),
            type_byte,
        }
    }

    /// The record type when the CRC matches the payload and the type is known.
    pub(crate) fn verify(&self, payload: &[u8]) -> Option<RecordType> {
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&[self.type_byte]);
        hasher.update(payload);
        if hasher.finalize() != self.crc {
            return None;
        }
        RecordType::from_byte(self.type_byte)
    }
}

/// Fills in length and CRC of a record whose type byte and payload are already in `buf`
/// after a zeroed 8-byte prefix.
fn seal(mut buf: Vec<u8>) -> Vec<u8> {
    let payload_len = buf.len() - RECORD_HEADER_BYTES;
    let crc = crc32fast::hash(&buf[8..]);
    buf[0..4].copy_from_slice(&u32_len(payload_len).to_le_bytes());
    buf[4..8].copy_from_slice(&crc.to_le_bytes());
    buf
}

/// Callers bound sizes well below 4 GiB before encoding (`record_bytes_max`).
fn u32_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn start(record_type: RecordType, capacity: usize) -> Encoder {
    let mut enc = Encoder::with_capacity(RECORD_HEADER_BYTES + capacity);
    enc.bytes(&[0; 8]);
    enc.u8(record_type as u8);
    enc
}

/// The largest message data a record can hold, leaving room for a large envelope.
pub(crate) const DATA_BYTES_MAX: usize = (u32::MAX as usize) - (1 << 24);

/// A whole framed `Message` record, or `None` when the payload would not fit the record's
/// `u32` length field.
pub(crate) fn encode_message(
    id: MessageId,
    received_at_unix_ms: u64,
    envelope: &Envelope,
    data: &[u8],
) -> Option<EncodedMessage> {
    let mut env = Encoder::with_capacity(256);
    envelope::encode(&mut env, envelope);
    let env = env.finish();
    let payload_len = u32::try_from(MESSAGE_FIXED_BYTES + env.len() + data.len()).ok()?;
    let data_len = u32::try_from(data.len()).ok()?;
    let mut enc = start(RecordType::Message, payload_len as usize);
    enc.u64(id.0);
    enc.u64(received_at_unix_ms);
    enc.u32(u32_len(env.len()));
    enc.bytes(&env);
    enc.bytes(data);
    Some(EncodedMessage { bytes: seal(enc.finish()), payload_len, data_len })
}

/// A framed `Message` record, its payload's length and the length of the data at its end.
#[derive(Debug)]
pub(crate) struct EncodedMessage {
    pub(crate) bytes: Vec<u8>,
    pub(crate) payload_len: u32,
    pub(crate) data_len: u32,
}

/// A whole framed `Done` record.
pub(crate) fn encode_done(id: MessageId, recipients: &[u32]) -> Vec<u8> {
    let mut enc = start(RecordType::Done, 12 + 4 * recipients.len());
    enc.u64(id.0);
    enc.u32(u32_len(recipients.len()));
    for r in recipients {
        enc.u32(*r);
    }
    seal(enc.finish())
}

/// Bytes of a framed `Message` record before its envelope: enough to find the envelope
/// without reading the data.
pub(crate) const MESSAGE_PREFIX_BYTES: usize = RECORD_HEADER_BYTES + MESSAGE_FIXED_BYTES;

/// The start of a framed `Message` record. The CRC covers the whole record and so cannot
/// be checked from here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MessagePrefix {
    pub(crate) id: MessageId,
    pub(crate) payload_len: u32,
    pub(crate) envelope_len: u32,
}

pub(crate) fn decode_message_prefix(
    prefix: &[u8; MESSAGE_PREFIX_BYTES],
) -> Result<MessagePrefix, DecodeError> {
    let mut dec = Decoder::new(prefix);
    let payload_len = dec.u32()?;
    let _crc = dec.u32()?;
    match dec.u8()? {
        1 => {}
        tag => return Err(DecodeError::Tag { field: "record type", tag }),
    }
    let id = MessageId(dec.u64()?);
    let _received_at_unix_ms = dec.u64()?;
    Ok(MessagePrefix { id, payload_len, envelope_len: dec.u32()? })
}

/// Decodes an envelope read back on its own (the bytes after `MESSAGE_PREFIX_BYTES`).
pub(crate) fn decode_envelope(bytes: &[u8], version: u32) -> Result<Envelope, DecodeError> {
    let mut dec = Decoder::new(bytes);
    let env = envelope::decode(&mut dec, version)?;
    dec.expect_end()?;
    Ok(env)
}

/// A decoded `Message` payload; the data is borrowed from the payload.
#[derive(Debug)]
pub(crate) struct MessageRecord<'a> {
    pub(crate) id: MessageId,
    pub(crate) received_at_unix_ms: u64,
    pub(crate) envelope: Envelope,
    pub(crate) data: &'a [u8],
}

/// Decodes a `Message` payload from a segment of format `version`.
pub(crate) fn decode_message(payload: &[u8], version: u32) -> Result<MessageRecord<'_>, DecodeError> {
    let mut dec = Decoder::new(payload);
    let id = MessageId(dec.u64()?);
    let received_at_unix_ms = dec.u64()?;
    let env_len = dec.len_u32()?;
    let mut env = Decoder::new(dec.take(env_len)?);
    let envelope = envelope::decode(&mut env, version)?;
    env.expect_end()?;
    Ok(MessageRecord { id, received_at_unix_ms, envelope, data: dec.rest() })
}

/// A decoded `Done` payload.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DoneRecord {
    pub(crate) id: MessageId,
    pub(crate) recipients: Vec<u32>,
}

pub(crate) fn decode_done(payload: &[u8]) -> Result<DoneRecord, DecodeError> {
    let mut dec = Decoder::new(payload);
    let id = MessageId(dec.u64()?);
    let count = dec.count(4)?;
    let mut recipients = Vec::with_capacity(count);
    for _ in 0..count {
        recipients.push(dec.u32()?);
    }
    dec.expect_end()?;
    Ok(DoneRecord { id, recipients })
}

/// Bytes of a `Schedule` payload.
const SCHEDULE_BYTES: usize = 21;

/// A whole framed `Schedule` record.
pub(crate) fn encode_schedule(id: MessageId, schedule: &Schedule) -> Vec<u8> {
    let mut enc = start(RecordType::Schedule, SCHEDULE_BYTES);
    enc.u64(id.0);
    enc.u32(schedule.attempts);
    enc.u64(schedule.next_attempt_unix_ms);
    enc.bool(schedule.delay_notified);
    seal(enc.finish())
}

/// A decoded `Schedule` payload.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ScheduleRecord {
    pub(crate) id: MessageId,
    pub(crate) schedule: Schedule,
}

pub(crate) fn decode_schedule(payload: &[u8]) -> Result<ScheduleRecord, DecodeError> {
    let mut dec = Decoder::new(payload);
    let id = MessageId(dec.u64()?);
    let schedule = Schedule {
        attempts: dec.u32()?,
        next_attempt_unix_ms: dec.u64()?,
        delay_notified: dec.bool("delay_notified")?,
    };
    dec.expect_end()?;
    Ok(ScheduleRecord { id, schedule })
}

/// Splits a framed record held in memory (as read back by `read_data`) into its verified
/// type and payload.
pub(crate) fn parse_framed(record: &[u8]) -> Option<(RecordType, &[u8])> {
    let header: &[u8; RECORD_HEADER_BYTES] = record.get(..RECORD_HEADER_BYTES)?.try_into().ok()?;
    let header = RecordHeader::parse(header);
    let payload = record.get(RECORD_HEADER_BYTES..)?;
    if payload.len() != header.payload_len as usize {
        return None;
    }
    Some((header.verify(payload)?, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::envelope::tests::full_envelope;
    use crate::segment::FORMAT_VERSION;

    #[test]
    fn message_record_round_trips() {
        let env = full_envelope();
        let data = b"Subject: hi\r\n\r\nbody\r\n".to_vec();
        let rec = encode_message(MessageId(42), 1_700_000_000_000, &env, &data).unwrap();
        assert_eq!(rec.data_len as usize, data.len());
        assert_eq!(rec.payload_len as usize, rec.bytes.len() - RECORD_HEADER_BYTES);
        let (kind, payload) = parse_framed(&rec.bytes).unwrap();
        assert_eq!(kind, RecordType::Message);
        let msg = decode_message(payload, FORMAT_VERSION).unwrap();
        assert_eq!(msg.id, MessageId(42));
        assert_eq!(msg.received_at_unix_ms, 1_700_000_000_000);
        assert_eq!(msg.envelope, env);
        assert_eq!(msg.data, &data[..]);
    }

    #[test]
    fn the_envelope_is_found_from_the_prefix() {
        let env = full_envelope();
        let rec = encode_message(MessageId(42), 5, &env, b"data").unwrap();
        let prefix: &[u8; MESSAGE_PREFIX_BYTES] = rec.bytes[..MESSAGE_PREFIX_BYTES].try_into().unwrap();
        let found = decode_message_prefix(prefix).unwrap();
        assert_eq!(
            (found.id, found.payload_len as usize),
            (MessageId(42), rec.bytes.len() - RECORD_HEADER_BYTES)
        );
        let end = MESSAGE_PREFIX_BYTES + found.envelope_len as usize;
        assert_eq!(rec.bytes.len() - end, rec.data_len as usize);
        assert_eq!(decode_envelope(&rec.bytes[MESSAGE_PREFIX_BYTES..end], FORMAT_VERSION), Ok(env));
        let with_data = &rec.bytes[MESSAGE_PREFIX_BYTES..];
        assert_eq!(decode_envelope(with_data, FORMAT_VERSION), Err(DecodeError::Trailing(4)));
        let mut done = encode_done(MessageId(42), &[0; 8]);
        done.truncate(MESSAGE_PREFIX_BYTES);
        let tag = RecordType::Done as u8;
        let done_prefix = decode_message_prefix(done.as_slice().try_into().unwrap());
        assert_eq!(done_prefix, Err(DecodeError::Tag { field: "record type", tag }));
    }

    #[test]
    fn done_record_round_trips() {
        let rec = encode_done(MessageId(7), &[0, 3, 9]);
        let (kind, payload) = parse_framed(&rec).unwrap();
        assert_eq!(kind, RecordType::Done);
        let done = decode_done(payload).unwrap();
        assert_eq!(done, DoneRecord { id: MessageId(7), recipients: vec![0, 3, 9] });
    }

    #[test]
    fn schedule_record_round_trips() {
        let schedule = Schedule { attempts: 7, next_attempt_unix_ms: u64::MAX - 1, delay_notified: true };
        let rec = encode_schedule(MessageId(9), &schedule);
        assert_eq!(rec.len(), RECORD_HEADER_BYTES + SCHEDULE_BYTES);
        let (kind, payload) = parse_framed(&rec).unwrap();
        assert_eq!(kind, RecordType::Schedule);
        assert_eq!(decode_schedule(payload), Ok(ScheduleRecord { id: MessageId(9), schedule }));
        for end in 0..payload.len() {
            assert_eq!(decode_schedule(&payload[..end]), Err(DecodeError::Truncated));
        }
        let mut bad = payload.to_vec();
        bad[20] = 2;
        assert_eq!(decode_schedule(&bad), Err(DecodeError::Tag { field: "delay_notified", tag: 2 }));
        assert_eq!(decode_schedule(&[payload, &[0]].concat()), Err(DecodeError::Trailing(1)));
    }

    #[test]
    fn any_flipped_bit_is_detected() {
        let rec = encode_done(MessageId(7), &[1, 2]);
        for i in 0..rec.len() {
            for bit in 0..8 {
                let mut bad = rec.clone();
                bad[i] ^= 1 << bit;
                assert!(parse_framed(&bad).is_none(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn decoders_never_panic_on_prefixes_or_garbage() {
        let env = full_envelope();
        let rec = encode_message(MessageId(1), 2, &env, b"data").unwrap();
        let payload = &rec.bytes[RECORD_HEADER_BYTES..];
        for end in 0..payload.len() {
            let _ = decode_message(&payload[..end], FORMAT_VERSION);
            let _ = decode_message(&payload[..end], 1);
            let _ = decode_done(&payload[..end]);
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
            let _ = decode_message(&bad, FORMAT_VERSION);
            let _ = decode_message(&bad, 1);
        }
    }
}
