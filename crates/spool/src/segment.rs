//! Segment files: naming, the header, and the small I/O surface the writer uses, behind a
//! trait so that tests can inject write and sync failures.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// `SLUICESP`, then the format version.
const MAGIC: [u8; 8] = *b"SLUICESP";
/// The format new segments are written in. 2 added the envelope's attribution and the
/// `Schedule` record.
pub(crate) const FORMAT_VERSION: u32 = 2;
/// The oldest format still read, so that a spool written by the previous release is
/// recovered after an upgrade. Segments of an older format are never appended to.
pub(crate) const FORMAT_VERSION_MIN: u32 = 1;

/// Header: `magic[8], u32 version, u32 crc32, u64 seq, u64 id_floor`. The CRC covers seq and
/// id_floor, and from version 2 on the version too: a damaged version must be refused, not
/// read with the wrong record decoder (which would cut the segment at its first message).
pub(crate) const HEADER_BYTES: u64 = 32;

/// A segment's header as found on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Header {
    /// Magic and CRC are right and the version is one this release reads.
    Valid { seq: u64, id_floor: u64, version: u32 },
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
    let crc = header_crc(FORMAT_VERSION, &h);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

fn header_crc(version: u32, h: &[u8; HEADER_BYTES as usize]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    if version >= 2 {
        hasher.update(&h[8..12]);
    }
    hasher.update(&h[16..32]);
    hasher.finalize()
}

pub(crate) fn parse_header(bytes: &[u8]) -> Header {
    let Some(h) =
        bytes.get(..HEADER_BYTES as usize).and_then(|h| <&[u8; HEADER_BYTES as usize]>::try_from(h).ok())
    else {
        return Header::Torn;
    };
    if h.iter().all(|b| *b == 0) {
        return Header::Torn;
    }
    let u32_at = |i: usize| h.get(i..i + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
    let u64_at = |i: usize| h.get(i..i + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    let Some(version @ FORMAT_VERSION_MIN..=FORMAT_VERSION) = u32_at(8) else {
        return Header::Invalid;
    };
    let valid = h[0..8] == MAGIC && u32_at(12) == Some(header_crc(version, h));
    match (valid, u64_at(16), u64_at(24)) {
        (true, Some(seq), Some(id_floor)) => Header::Valid { seq, id_floor, version },
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
        assert_eq!(parse_header(&h), Header::Valid { seq: 7, id_floor: 99, version: FORMAT_VERSION });
        assert_eq!(parse_header(&h[..31]), Header::Torn);
        assert_eq!(parse_header(&[0; 32]), Header::Torn);
        for i in 0..h.len() {
            let mut bad = h;
            bad[i] ^= 0x10;
            assert_eq!(parse_header(&bad), Header::Invalid, "byte {i}");
        }
    }

    #[test]
    fn older_formats_are_read_and_unknown_ones_refused() {
        let with_version = |version: u32| {
            let mut h = encode_header(7, 99);
            h[8..12].copy_from_slice(&version.to_le_bytes());
            let crc = header_crc(version, &h);
            h[12..16].copy_from_slice(&crc.to_le_bytes());
            h
        };
        assert_eq!(parse_header(&with_version(1)), Header::Valid { seq: 7, id_floor: 99, version: 1 });
        // The fixture's header, written by the release that wrote format 1.
        let fixture = include_bytes!("../tests/fixtures/v1-segment.log");
        assert!(matches!(parse_header(fixture), Header::Valid { seq: 1, version: 1, .. }));
        // A version 2 header whose version field was damaged into 1 fails its CRC.
        let mut damaged = encode_header(7, 99);
        damaged[8] = 1;
        assert_eq!(parse_header(&damaged), Header::Invalid);
        assert_eq!(parse_header(&with_version(0)), Header::Invalid);
        assert_eq!(parse_header(&with_version(FORMAT_VERSION + 1)), Header::Invalid);
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
