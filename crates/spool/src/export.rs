//! A portable file of queued messages, to move a lost node's queue to another node
//! (`sluice queue export` / `import`): each message's envelope (in the spool's own encoding,
//! with only the recipients still pending), its reception time and its data.
//!
//! Layout: the magic `SLUICE-QUEUE\n`, the envelope format version (u32 LE), then per
//! message: envelope length (u32), envelope, reception time (u64, Unix ms), data length
//! (u64), data, and the CRC-32 of the entry's bytes before it (u32); then the end marker
//! `u32::MAX`. Every length is bounded before anything is allocated, and a file that ends
//! before its end marker is an error (a copy cut short), never a shorter queue.

use std::io::{Read, Write};

use smtp_wire::Envelope;

use crate::record::codec::{Decoder, Encoder};
use crate::segment::{FORMAT_VERSION, FORMAT_VERSION_MIN};

const MAGIC: &[u8] = b"SLUICE-QUEUE\n";
const END: u32 = u32::MAX;
/// An envelope larger than this is refused (the spool's own hold far less).
const ENVELOPE_BYTES_MAX: u32 = 64 << 20;
/// Message data larger than this is refused.
pub const DATA_BYTES_MAX: u64 = 4 << 30;

/// One exported message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedMessage {
    /// The envelope with the recipients still to be delivered only.
    pub envelope: Envelope,
    pub received_at_unix_ms: u64,
    pub data: Vec<u8>,
}

/// Why an export file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading the export file failed: {0}")]
    Io(std::io::Error),
    #[error("not a Sluice queue export (no SLUICE-QUEUE header)")]
    NotAnExport,
    #[error("written by a newer Sluice (envelope format {0}); import it with that version")]
    Version(u32),
    #[error("message {index}: {problem}")]
    Damaged { index: usize, problem: String },
    #[error("the file ends after {0} messages without its end marker: the copy is incomplete")]
    Truncated(usize),
}

/// Writes the file header; then [`write_message`] per message and [`write_end`].
pub fn write_header(out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(MAGIC)?;
    out.write_all(&FORMAT_VERSION.to_le_bytes())
}

pub fn write_message(out: &mut impl Write, message: &ExportedMessage) -> std::io::Result<()> {
    let mut enc = Encoder::with_capacity(256);
    crate::record::envelope::encode(&mut enc, &message.envelope);
    let env = enc.finish();
    let env_len = u32::try_from(env.len()).ok().filter(|n| *n <= ENVELOPE_BYTES_MAX);
    let Some(env_len) = env_len else {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "envelope too large to export"));
    };
    let mut crc = crc32fast::Hasher::new();
    let mut put = |out: &mut dyn Write, bytes: &[u8]| -> std::io::Result<()> {
        crc.update(bytes);
        out.write_all(bytes)
    };
    put(out, &env_len.to_le_bytes())?;
    put(out, &env)?;
    put(out, &message.received_at_unix_ms.to_le_bytes())?;
    put(out, &(message.data.len() as u64).to_le_bytes())?;
    put(out, &message.data)?;
    out.write_all(&crc.finalize().to_le_bytes())
}

pub fn write_end(out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(&END.to_le_bytes())
}

/// Reads an export file message by message.
#[derive(Debug)]
pub struct ExportReader<R> {
    input: R,
    version: u32,
    index: usize,
    ended: bool,
}

impl<R: Read> ExportReader<R> {
    /// Checks the header.
    pub fn new(mut input: R) -> Result<ExportReader<R>, ExportError> {
        let mut magic = [0u8; MAGIC.len()];
        read_exact(&mut input, &mut magic).map_err(|_| ExportError::NotAnExport)?;
        if magic != MAGIC {
            return Err(ExportError::NotAnExport);
        }
        let version = u32::from_le_bytes(read_array(&mut input).map_err(|_| ExportError::NotAnExport)?);
        if !(FORMAT_VERSION_MIN..=FORMAT_VERSION).contains(&version) {
            return Err(ExportError::Version(version));
        }
        Ok(ExportReader { input, version, index: 0, ended: false })
    }

    /// The next message, `None` after the end marker.
    pub fn next_message(&mut self) -> Result<Option<ExportedMessage>, ExportError> {
        if self.ended {
            return Ok(None);
        }
        let index = self.index;
        let damaged = |problem: String| ExportError::Damaged { index, problem };
        let cut = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => ExportError::Truncated(index),
            _ => ExportError::Io(e),
        };
        let mut crc = crc32fast::Hasher::new();
        let env_len_bytes: [u8; 4] = read_array(&mut self.input).map_err(cut)?;
        let env_len = u32::from_le_bytes(env_len_bytes);
        if env_len == END {
            self.ended = true;
            return Ok(None);
        }
        if env_len > ENVELOPE_BYTES_MAX {
            return Err(damaged(format!("an envelope of {env_len} bytes")));
        }
        crc.update(&env_len_bytes);
        let env = read_vec(&mut self.input, env_len as usize).map_err(cut)?;
        crc.update(&env);
        let at: [u8; 8] = read_array(&mut self.input).map_err(cut)?;
        crc.update(&at);
        let data_len_bytes: [u8; 8] = read_array(&mut self.input).map_err(cut)?;
        crc.update(&data_len_bytes);
        let data_len = u64::from_le_bytes(data_len_bytes);
        if data_len > DATA_BYTES_MAX {
            return Err(damaged(format!("{data_len} bytes of data")));
        }
        let data = read_vec(&mut self.input, data_len as usize).map_err(cut)?;
        crc.update(&data);
        let stored = u32::from_le_bytes(read_array(&mut self.input).map_err(cut)?);
        if stored != crc.finalize() {
            return Err(damaged("checksum mismatch".into()));
        }
        let mut dec = Decoder::new(&env);
        let envelope = crate::record::envelope::decode(&mut dec, self.version)
            .and_then(|e| dec.expect_end().map(|()| e))
            .map_err(|e| damaged(format!("envelope: {e}")))?;
        if envelope.recipients.is_empty() {
            return Err(damaged("no recipients".into()));
        }
        self.index += 1;
        Ok(Some(ExportedMessage { envelope, received_at_unix_ms: u64::from_le_bytes(at), data }))
    }
}

fn read_exact(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<()> {
    input.read_exact(buf)
}

fn read_array<const N: usize>(input: &mut impl Read) -> std::io::Result<[u8; N]> {
    let mut b = [0u8; N];
    input.read_exact(&mut b)?;
    Ok(b)
}

/// Reads `len` bytes, growing the buffer as bytes arrive (a damaged length cannot make it
/// allocate more than the file holds).
fn read_vec(input: &mut impl Read, len: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(len.min(1 << 20));
    let got = input.take(len as u64).read_to_end(&mut out)?;
    if got < len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::envelope::tests::{full_envelope, minimal_envelope};

    fn file(messages: &[ExportedMessage], end: bool) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(&mut out).expect("header");
        for m in messages {
            write_message(&mut out, m).expect("message");
        }
        if end {
            write_end(&mut out).expect("end");
        }
        out
    }

    fn messages() -> Vec<ExportedMessage> {
        vec![
            ExportedMessage {
                envelope: full_envelope(),
                received_at_unix_ms: 1,
                data: b"Subject: a\r\n\r\nx\r\n".to_vec(),
            },
            ExportedMessage {
                envelope: minimal_envelope(),
                received_at_unix_ms: 2,
                data: vec![0x80; 70_000],
            },
        ]
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<ExportedMessage>, ExportError> {
        let mut reader = ExportReader::new(bytes)?;
        let mut out = Vec::new();
        while let Some(m) = reader.next_message()? {
            out.push(m);
        }
        Ok(out)
    }

    #[test]
    fn messages_come_back_as_written() {
        assert_eq!(read_all(&file(&messages(), true)).expect("read"), messages());
        assert!(read_all(&file(&[], true)).expect("empty").is_empty());
    }

    #[test]
    fn a_cut_copy_a_flipped_byte_and_another_file_are_errors() {
        let whole = file(&messages(), true);
        for cut in [whole.len() - 4, whole.len() - 100, 40] {
            assert!(matches!(read_all(&whole[..cut]), Err(ExportError::Truncated(_))), "cut at {cut}");
        }
        let mut flipped = whole.clone();
        flipped[60] ^= 1;
        assert!(matches!(read_all(&flipped), Err(ExportError::Damaged { index: 0, .. })));
        assert!(matches!(read_all(b"From MAILER-DAEMON"), Err(ExportError::NotAnExport)));
        let mut newer = whole;
        newer[MAGIC.len()] = 99;
        assert!(matches!(read_all(&newer), Err(ExportError::Version(99))));
    }
}
