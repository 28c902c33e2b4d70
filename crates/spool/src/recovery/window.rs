//! Buffered random access to a segment for recovery: reads ahead in large chunks so that
//! walking small records costs few system calls, hashes large payloads chunk by chunk so
//! that no record is ever held whole in memory, and finds the next intact frame after
//! damage.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::record::{FRAME_BYTES, Frame, RECORD_MAGIC};

/// Bytes read at once.
const WINDOW_BYTES: usize = 1 << 20;

#[derive(Debug)]
pub(super) struct Window<'f> {
    file: &'f File,
    len: u64,
    start: u64,
    buf: Vec<u8>,
}

impl<'f> Window<'f> {
    /// A window on the first `len` bytes of `file`.
    pub(super) fn new(file: &'f File, len: u64) -> Window<'f> {
        Window { file, len, start: 0, buf: Vec::new() }
    }

    /// `n` bytes at `offset`, fewer where the file ends.
    pub(super) fn get(&mut self, offset: u64, n: usize) -> io::Result<&[u8]> {
        let left = usize::try_from(self.len.saturating_sub(offset)).unwrap_or(usize::MAX);
        let n = n.min(left);
        let buffered = offset >= self.start && offset + n as u64 <= self.start + self.buf.len() as u64;
        if !buffered {
            self.buf.resize(n.max(WINDOW_BYTES).min(left), 0);
            self.file.read_exact_at(&mut self.buf, offset)?;
            self.start = offset;
        }
        let at = usize::try_from(offset - self.start).unwrap_or(0);
        Ok(&self.buf[at..at + n])
    }

    /// Feeds the `n` bytes at `offset` into `hasher`, a window at a time.
    pub(super) fn hash(&mut self, hasher: &mut crc32fast::Hasher, offset: u64, n: u64) -> io::Result<()> {
        self.each_chunk(offset, n, |chunk| {
            hasher.update(chunk);
            true
        })
        .map(|_| ())
    }

    /// Where the last non-zero byte of the `n` bytes at `offset` ends (`offset` when all
    /// of them are zeros).
    pub(super) fn nonzero_end(&mut self, offset: u64, n: u64) -> io::Result<u64> {
        let mut pos = offset;
        let mut end = offset;
        self.each_chunk(offset, n, |chunk| {
            if let Some(last) = chunk.iter().rposition(|b| *b != 0) {
                end = pos + last as u64 + 1;
            }
            pos += chunk.len() as u64;
            true
        })?;
        Ok(end)
    }

    /// Calls `f` on the `n` bytes at `offset` a window at a time while it returns true;
    /// returns whether it always did.
    fn each_chunk(&mut self, offset: u64, n: u64, mut f: impl FnMut(&[u8]) -> bool) -> io::Result<bool> {
        let mut done = 0u64;
        while done < n {
            let want = usize::try_from(n - done).unwrap_or(usize::MAX).min(WINDOW_BYTES);
            let chunk = self.get(offset + done, want)?;
            if chunk.is_empty() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            done += chunk.len() as u64;
            if !f(chunk) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The first offset at or after `from` where an intact format 3 frame starts (magic and
    /// frame CRC under `salt`) whose record ends within the file.
    pub(super) fn next_frame(&mut self, from: u64, salt: u64) -> io::Result<Option<u64>> {
        let len = self.len;
        let mut pos = from;
        while pos + FRAME_BYTES as u64 <= len {
            let chunk = self.get(pos, WINDOW_BYTES)?;
            // Candidates whose whole frame is in this chunk; the next chunk starts after them.
            let candidates = chunk.len() + 1 - FRAME_BYTES;
            let found = (0..candidates).find(|i| {
                chunk[*i..*i + 4] == RECORD_MAGIC
                    && Frame::parse(&chunk[*i..], salt)
                        .is_some_and(|f| pos + *i as u64 + f.record_len() <= len)
            });
            if let Some(i) = found {
                return Ok(Some(pos + i as u64));
            }
            pos += candidates as u64;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RecordBuf, encode_schedule};
    use crate::{MessageId, Schedule};

    fn file_with(bytes: &[u8]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, bytes).unwrap();
        let file = File::open(&path).unwrap();
        (dir, file)
    }

    fn sealed_schedule(salt: u64) -> Vec<u8> {
        let mut records = RecordBuf::default();
        records.push(&encode_schedule(MessageId(5), &Schedule::default()));
        records.seal(salt).to_vec()
    }

    #[test]
    fn the_next_frame_is_found_across_window_boundaries_and_only_with_its_salt() {
        let record = sealed_schedule(7);
        for at in [0, 1, WINDOW_BYTES - FRAME_BYTES, WINDOW_BYTES - 3, WINDOW_BYTES, WINDOW_BYTES + 9] {
            // Magic bytes everywhere before it: candidates that fail their frame check.
            let mut bytes: Vec<u8> = RECORD_MAGIC.iter().copied().cycle().take(at).collect();
            bytes.extend_from_slice(&record);
            let (_dir, file) = file_with(&bytes);
            let mut win = Window::new(&file, bytes.len() as u64);
            assert_eq!(win.next_frame(0, 7).unwrap(), Some(at as u64), "at {at}");
            assert_eq!(win.next_frame(0, 8).unwrap(), None, "at {at}");
            assert_eq!(win.next_frame(at as u64 + 1, 7).unwrap(), None, "at {at}");
            // A record cut short is no resynchronisation point.
            let mut win = Window::new(&file, bytes.len() as u64 - 1);
            assert_eq!(win.next_frame(0, 7).unwrap(), None, "at {at}");
        }
    }

    #[test]
    fn hashing_and_zero_checks_span_windows() {
        let mut bytes = vec![0u8; 3 * WINDOW_BYTES + 17];
        let (_dir, file) = file_with(&bytes);
        let len = bytes.len() as u64;
        let mut win = Window::new(&file, len);
        assert_eq!(win.nonzero_end(5, len - 5).unwrap(), 5);
        let mut hasher = crc32fast::Hasher::new();
        win.hash(&mut hasher, 3, len - 3).unwrap();
        assert_eq!(hasher.finalize(), crc32fast::hash(&bytes[3..]));
        bytes[7] = 1;
        bytes[WINDOW_BYTES + 2] = 1;
        let (_dir, file) = file_with(&bytes);
        let mut win = Window::new(&file, len);
        assert_eq!(win.nonzero_end(0, len).unwrap(), WINDOW_BYTES as u64 + 3);
        assert_eq!(win.nonzero_end(0, WINDOW_BYTES as u64).unwrap(), 8);
        assert_eq!(win.nonzero_end(8, 100).unwrap(), 8);
        assert_eq!(win.get(WINDOW_BYTES as u64 + 1, 3).unwrap(), &[0, 1, 0]);
        assert_eq!(win.get(len - 2, 10).unwrap(), &[0, 0]);
    }
}
