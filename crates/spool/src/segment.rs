//! Segment files: naming, the header, and the small I/O surface the writer uses, behind a
//! trait so that tests can inject write and sync failures.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// `SLUICESP`, then the format version.
const MAGIC: [u8; 8] = *b"SLUICESP";
const FORMAT_VERSION: u32 = 1;

/// Header: `magic[8], u32 version, u32 crc32 of the next 16 bytes, u64 seq, u64 id_floor`.
pub(crate) const HEADER_BYTES: u64 = 32;

/// A segment's header as found on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Header {
    /// Magic, version and CRC are right.
    Valid { seq: u64, id_floor: u64 },
    /// Shorter than a header or all zeros: a crash while the segment was being created,
    /// before anything in it could have been acknowledged.
    Torn,
    /// Anything else: not a segment of this format. Recovery refuses to guess.
    Invalid,
}

pub(crate) fn encode_header(seq: u64, id_floor: u64) -> [u8; HEADER_BYTES as usize] {
    let mut h = [0u8; HEADER_BYTES as usize];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&seq.to_le_bytes());
    h[24..32].copy_from_slice(&id_floor.to_le_bytes());
    let crc = crc32fast::hash(&h[16..32]);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

pub(crate) fn parse_header(bytes: &[u8]) -> Header {
    let Some(h) = bytes.get(..HEADER_BYTES as usize) else {
        return Header::Torn;
    };
    if h.iter().all(|b| *b == 0) {
        return Header::Torn;
    }
    let u32_at = |i: usize| h.get(i..i + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
    let u64_at = |i: usize| h.get(i..i + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    let valid = h[0..8] == MAGIC
        && u32_at(8) == Some(FORMAT_VERSION)
        && u32_at(12) == Some(crc32fast::hash(&h[16..32]));
    match (valid, u64_at(16), u64_at(24)) {
        (true, Some(seq), Some(id_floor)) => Header::Valid { seq, id_floor },
        _ => Header::Invalid,
    }
}

pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016x}.log"))
}

/// The sequence number of a file named `<16 hex digits>.log`; other files are not segments.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".log")?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// The segments in `dir`, oldest first.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(seq) = name.to_str().and_then(parse_segment_name) {
            out.push((seq, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(out)
}

/// What the writer needs from the head segment's file.
pub(crate) trait SegmentFile: Send {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;
    fn sync_data(&mut self) -> io::Result<()>;
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

impl SegmentFile for File {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
}

/// How the writer creates and opens segment files and makes directory changes durable.
pub(crate) trait Storage: Send {
    /// Creates (or empties) a segment file for writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>>;
    /// Opens an existing segment for appending.
    fn open(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>>;
    /// Makes created or removed names in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Removes a segment file.
    fn remove(&self, path: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Default)]
pub(crate) struct FsStorage;

impl Storage for FsStorage {
    fn create(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        let file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
        Ok(Box::new(file))
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        Ok(Box::new(OpenOptions::new().write(true).open(path)?))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_detects_damage() {
        let h = encode_header(7, 99);
        assert_eq!(parse_header(&h), Header::Valid { seq: 7, id_floor: 99 });
        assert_eq!(parse_header(&h[..31]), Header::Torn);
        assert_eq!(parse_header(&[0; 32]), Header::Torn);
        for i in 0..h.len() {
            let mut bad = h;
            bad[i] ^= 0x10;
            assert_eq!(parse_header(&bad), Header::Invalid, "byte {i}");
        }
    }

    #[test]
    fn segment_names() {
        let p = segment_path(Path::new("/s"), 0x1f);
        assert_eq!(p, Path::new("/s/000000000000001f.log"));
        assert_eq!(parse_segment_name("000000000000001f.log"), Some(0x1f));
        assert_eq!(parse_segment_name("000000000000001f.tmp"), None);
        assert_eq!(parse_segment_name("1f.log"), None);
    }
}
