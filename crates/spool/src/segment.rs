//! Segment files: naming, the header, and the small I/O surface the writer uses, behind a
//! trait so that tests can inject write and sync failures.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::MessageId;

/// `SLUICESP`, then the format version.
const MAGIC: [u8; 8] = *b"SLUICESP";
/// The format new segments are written in. 2 added the envelope's attribution and the
/// `Schedule` record; 3 the resynchronisable record frame, the header's salt, cumulative
/// `Done` records, external message data and the `Skip` and `Lost` records.
pub(crate) const FORMAT_VERSION: u32 = 3;
/// The oldest format still read, so that a spool written by an earlier release is
/// recovered after an upgrade. Segments of an older format are never appended to.
pub(crate) const FORMAT_VERSION_MIN: u32 = 1;

/// Header of format 3: `magic[8], u32 version, u32 crc32, u64 seq, u64 id_floor, u64 salt`.
/// The CRC covers the version and the 24 bytes after the CRC. Later formats must keep these
/// 40 bytes and this check, so that this release recognises their segments as newer and
/// refuses to start instead of quarantining them as damaged.
pub(crate) const HEADER_BYTES: u64 = 40;
/// Header of formats 1 and 2: `magic[8], u32 version, u32 crc32, u64 seq, u64 id_floor`;
/// the CRC covers seq and id_floor, and from version 2 on the version too.
const LEGACY_HEADER_BYTES: u64 = 32;

/// Bytes of the header of a segment of format `version`.
pub(crate) fn header_len(version: u32) -> u64 {
    match version {
        3.. => HEADER_BYTES,
        _ => LEGACY_HEADER_BYTES,
    }
}

/// A segment's header as found on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Header {
    /// Magic and CRC are right and the version is one this release reads. Segments before
    /// format 3 have no salt (0).
    Valid { seq: u64, id_floor: u64, version: u32, salt: u64 },
    /// The file is shorter than a header, or is nothing but a zeroed header: a crash while
    /// the segment was being created, before any record could go into it.
    Torn,
    /// An intact header of a format newer than this release reads (a downgrade).
    Newer { version: u32 },
    /// Anything else: a damaged header. The records cannot be trusted without it.
    Damaged,
}

pub(crate) fn encode_header(seq: u64, id_floor: u64, salt: u64) -> [u8; HEADER_BYTES as usize] {
    let mut h = [0u8; HEADER_BYTES as usize];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&seq.to_le_bytes());
    h[24..32].copy_from_slice(&id_floor.to_le_bytes());
    h[32..40].copy_from_slice(&salt.to_le_bytes());
    let crc = header_crc(FORMAT_VERSION, &h);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The header CRC of format `version` over `h`, which holds at least that format's header.
fn header_crc(version: u32, h: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    if version >= 2 {
        hasher.update(&h[8..12]);
    }
    hasher.update(&h[16..header_len(version) as usize]);
    hasher.finalize()
}

/// Classifies the first bytes of a segment file (`file_len` long; `bytes` holds its first
/// `HEADER_BYTES` or all of it if shorter).
pub(crate) fn parse_header(bytes: &[u8], file_len: u64) -> Header {
    let h = &bytes[..bytes.len().min(HEADER_BYTES as usize)];
    let version = h.get(8..12).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes).unwrap_or(0);
    let needed = header_len(if (FORMAT_VERSION_MIN..3).contains(&version) { version } else { 3 });
    if file_len < needed || (file_len <= HEADER_BYTES && h.iter().all(|b| *b == 0)) {
        return Header::Torn;
    }
    let u64_at = |i: usize| h.get(i..i + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    let crc_ok = |v: u32| h[0..8] == MAGIC && h.get(12..16) == Some(&header_crc(v, h).to_le_bytes()[..]);
    match version {
        FORMAT_VERSION_MIN..=FORMAT_VERSION if crc_ok(version) => Header::Valid {
            seq: u64_at(16).unwrap_or(0),
            id_floor: u64_at(24).unwrap_or(0),
            version,
            salt: if version >= 3 { u64_at(32).unwrap_or(0) } else { 0 },
        },
        v if v > FORMAT_VERSION && h.len() == HEADER_BYTES as usize && crc_ok(3) => {
            Header::Newer { version: v }
        }
        _ => Header::Damaged,
    }
}

/// A random salt for a new segment's record checks (see `record`). The kernel's random
/// source; if that cannot be read, the standard library's per-process random hash keys.
pub(crate) fn new_salt() -> u64 {
    let mut bytes = [0u8; 8];
    if File::open("/dev/urandom").and_then(|mut f| io::Read::read_exact(&mut f, &mut bytes)).is_ok() {
        return u64::from_le_bytes(bytes);
    }
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

/// The spool's folders under its directory.
#[derive(Clone, Debug)]
pub(crate) struct Dirs {
    pub(crate) segments: PathBuf,
    pub(crate) data: PathBuf,
    pub(crate) quarantine: PathBuf,
}

impl Dirs {
    pub(crate) fn new(root: &Path) -> Dirs {
        Dirs { segments: root.join("segments"), data: root.join("data"), quarantine: root.join("quarantine") }
    }

    /// The file of a message whose data is kept outside the log.
    pub(crate) fn data_file(&self, id: MessageId) -> PathBuf {
        self.data.join(format!("{id}.eml"))
    }
}

/// The id of a data file named `<16 hex digits>.eml`.
pub(crate) fn parse_data_name(name: &str) -> Option<MessageId> {
    name.strip_suffix(".eml")?.parse().ok()
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

/// How the writer creates and opens segment and data files and makes directory changes
/// durable.
pub(crate) trait Storage: Send + Sync {
    /// Creates (or empties) a segment file for writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>>;
    /// Opens an existing segment for appending.
    fn open(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>>;
    /// Makes created or removed names in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Removes a segment or data file.
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
        let h = encode_header(7, 99, 0x5eed);
        let valid = Header::Valid { seq: 7, id_floor: 99, version: FORMAT_VERSION, salt: 0x5eed };
        assert_eq!(parse_header(&h, 40), valid);
        assert_eq!(parse_header(&h, 1 << 20), valid);
        assert_eq!(parse_header(&h[..39], 39), Header::Torn);
        assert_eq!(parse_header(&h[..31], 31), Header::Torn);
        assert_eq!(parse_header(&[0; 40], 40), Header::Torn);
        // A zeroed header with records after it was damaged, not torn.
        assert_eq!(parse_header(&[0; 40], 41), Header::Damaged);
        for i in 0..h.len() {
            for bit in 0..8 {
                let mut bad = h;
                bad[i] ^= 1 << bit;
                let found = parse_header(&bad, 100);
                assert!(matches!(found, Header::Damaged | Header::Torn), "byte {i} bit {bit}: {found:?}");
            }
        }
    }

    fn with_version(version: u32) -> [u8; HEADER_BYTES as usize] {
        let mut h = encode_header(7, 99, 0x5eed);
        h[8..12].copy_from_slice(&version.to_le_bytes());
        let crc = header_crc(version.min(FORMAT_VERSION), &h);
        h[12..16].copy_from_slice(&crc.to_le_bytes());
        h
    }

    #[test]
    fn older_formats_are_read_and_unknown_ones_refused() {
        let old = |v| Header::Valid { seq: 7, id_floor: 99, version: v, salt: 0 };
        assert_eq!(parse_header(&with_version(1), 100), old(1));
        assert_eq!(parse_header(&with_version(2), 100), old(2));
        // A format 1/2 header is 32 bytes: a 32-byte file is a complete, empty segment.
        assert_eq!(parse_header(&with_version(2)[..32], 32), old(2));
        for (name, fixture) in [
            ("v1", &include_bytes!("../tests/fixtures/v1-segment.log")[..]),
            ("v2", &include_bytes!("../tests/fixtures/v2-segment.log")[..]),
        ] {
            let found = parse_header(&fixture[..40], fixture.len() as u64);
            assert!(matches!(found, Header::Valid { seq: 1, salt: 0, .. }), "{name}: {found:?}");
        }
        // A version 3 header whose version field was damaged into 2 or 1 fails its CRC.
        for v in [1u8, 2] {
            let mut damaged = encode_header(7, 99, 1);
            damaged[8] = v;
            assert_eq!(parse_header(&damaged, 100), Header::Damaged);
        }
        assert_eq!(parse_header(&with_version(0), 100), Header::Damaged);
        // A newer release's intact header: refused as newer, not taken for damage.
        assert_eq!(parse_header(&with_version(4), 100), Header::Newer { version: 4 });
        let mut newer_damaged = with_version(4);
        newer_damaged[20] ^= 1;
        assert_eq!(parse_header(&newer_damaged, 100), Header::Damaged);
    }

    #[test]
    fn salts_differ() {
        assert_ne!(new_salt(), new_salt());
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
