//! Compact, versioned binary snapshots of the engine's history, written and read through
//! `std::io` traits only (the caller owns files, sockets or Redis).
//!
//! Layout, all integers little-endian:
//! ```text
//! header: magic "SLUTHRTL" | version u16 | kind u8 (0 full, 1 delta) | 0u8 | record_bytes u32
//!         | keys_hint u64 (keys at the start of the save, to size tables before loading)
//! blocks: count u32 (1..=65536) | count x record | crc32 of the records u32
//! end:    count u32 = 0
//! ```
//! A record (version 2) is 60 bytes: address (16), tokens, observed, established, established
//! at the start of the day (f32 x 4), accepted this hour, last seen s, first seen h, last
//! deferral h (u32 x 4), two recurring peaks (run of hours, weekdays, level: 4 bytes each),
//! prefix length, flags, new-IP count, 1 reserved byte. Version 1 snapshots (56-byte records
//! without the start-of-day volume, which is then taken to be the established volume) are
//! still read, so an upgrade keeps every sender's history.

use std::io::{self, Read, Write};

use crate::engine::Engine;
use crate::key::{bits_ip, hash};
use crate::policy::{Policy, PolicyError};
use crate::record::{DIRTY, REFERENCED, Record, Season};

const MAGIC: &[u8; 8] = b"SLUTHRTL";
const VERSION: u16 = 2;
pub(crate) const RECORD_BYTES: usize = 60;
/// Records of version 1 snapshots.
const RECORD_BYTES_V1: usize = 56;
/// Bounds the buffer a reader allocates for one block, whatever the input claims.
const BLOCK_RECORDS_MAX: usize = 65_536;

/// Whether a snapshot holds every key or only those changed since the previous save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotKind {
    /// Every tracked key.
    Full,
    /// Keys changed since the previous save (full or delta).
    Delta,
}

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The reader failed or ended early (the text holds the I/O error: no `source()`).
    #[error("reading throttle snapshot: {0}")]
    Io(io::Error),
    /// Not a throttle snapshot.
    #[error("not a throttle snapshot (bad magic)")]
    BadMagic,
    /// Written by a newer or unknown format version.
    #[error("unsupported throttle snapshot version {0}")]
    UnsupportedVersion(u16),
    /// A header field makes no sense.
    #[error("corrupt throttle snapshot header: {0}")]
    BadHeader(&'static str),
    /// A block's checksum does not match.
    #[error("throttle snapshot block {block} fails its checksum")]
    Checksum {
        /// Block number, from 0.
        block: u64,
    },
    /// A record holds impossible values.
    #[error("throttle snapshot block {block} record {index}: {problem}")]
    CorruptRecord {
        /// Block number, from 0.
        block: u64,
        /// Record number within the block.
        index: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// The policy given to restore is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

impl From<io::Error> for RestoreError {
    fn from(e: io::Error) -> Self {
        RestoreError::Io(e)
    }
}

pub(crate) fn encode_record(r: &Record, out: &mut Vec<u8>) {
    // Fields into one fixed array, then one copy: this runs for every key of a snapshot.
    let mut b = [0u8; RECORD_BYTES];
    b[0..8].copy_from_slice(&r.addr_hi.to_le_bytes());
    b[8..16].copy_from_slice(&r.addr_lo.to_le_bytes());
    for (i, f) in [r.tokens, r.observed, r.peak, r.day_peak].into_iter().enumerate() {
        b[16 + 4 * i..20 + 4 * i].copy_from_slice(&f.to_le_bytes());
    }
    for (i, u) in [r.hour_accepted, r.last_s, r.first_seen_h, r.last_defer_h].into_iter().enumerate() {
        b[32 + 4 * i..36 + 4 * i].copy_from_slice(&u.to_le_bytes());
    }
    for (i, s) in r.seasons.iter().enumerate() {
        b[48 + 4 * i] = s.hod;
        b[49 + 4 * i] = s.days;
        b[50 + 4 * i..52 + 4 * i].copy_from_slice(&s.code.to_le_bytes());
    }
    b[56..60].copy_from_slice(&[r.plen, r.flags & REFERENCED, r.churn, 0]);
    out.extend_from_slice(&b);
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Decodes one record of the current format.
pub(crate) fn decode_current(b: &[u8; RECORD_BYTES]) -> Result<Record, &'static str> {
    decode(b, VERSION)
}

/// Decodes one record of a snapshot of `version` (1 or 2).
fn decode(b: &[u8], version: u16) -> Result<Record, &'static str> {
    let f = |at| f32::from_bits(u32_at(b, at));
    // Version 2 added the start-of-day volume after the established volume.
    let (day_peak, at) = if version == 1 { (f(24), 28) } else { (f(28), 32) };
    let season =
        |at: usize| Season { hod: b[at], days: b[at + 1], code: u16::from_le_bytes([b[at + 2], b[at + 3]]) };
    let r = Record {
        addr_hi: u64_at(b, 0),
        addr_lo: u64_at(b, 8),
        tokens: f(16),
        observed: f(20),
        peak: f(24),
        day_peak,
        hour_accepted: u32_at(b, at),
        last_s: u32_at(b, at + 4),
        first_seen_h: u32_at(b, at + 8),
        last_defer_h: u32_at(b, at + 12),
        seasons: [season(at + 16), season(at + 20)],
        plen: b[at + 24],
        flags: b[at + 25] & REFERENCED,
        churn: b[at + 26],
    };
    let sane = |x: f32| x.is_finite() && x >= 0.0;
    // The bucket may be in debt (fleet mode: other nodes' counts merged), never more than
    // a bucket, which no rate reaches.
    if !(r.tokens.is_finite() && sane(r.observed) && sane(r.peak) && sane(r.day_peak)) {
        return Err("negative or non-finite rate");
    }
    if r.plen > 128 || r.seasons.iter().any(|s| s.hod & 31 > 23) {
        return Err("field out of range");
    }
    Ok(r)
}

impl Engine {
    /// Writes every tracked key. Each shard is copied into a buffer under its lock and
    /// written after the lock is released, so deciding threads wait one shard copy at most.
    pub fn save(&self, w: &mut impl Write) -> io::Result<()> {
        self.save_kind(w, SnapshotKind::Full)
    }

    /// Writes only the keys changed since the previous save (of either kind). Apply it on
    /// top of the earlier snapshots with [`Engine::apply_delta`].
    pub fn save_delta(&self, w: &mut impl Write) -> io::Result<()> {
        self.save_kind(w, SnapshotKind::Delta)
    }

    fn save_kind(&self, w: &mut impl Write, kind: SnapshotKind) -> io::Result<()> {
        let kind_byte = if kind == SnapshotKind::Full { 0 } else { 1 };
        w.write_all(MAGIC)?;
        w.write_all(&VERSION.to_le_bytes())?;
        w.write_all(&[kind_byte, 0])?;
        w.write_all(&(RECORD_BYTES as u32).to_le_bytes())?;
        w.write_all(&(self.tracked_keys() as u64).to_le_bytes())?;
        let (mut records, mut buf) = (Vec::new(), Vec::new());
        for i in 0..self.shards.len() {
            records.clear();
            self.copy_shard(i, kind, &mut records);
            for chunk in records.chunks(BLOCK_RECORDS_MAX) {
                buf.clear();
                chunk.iter().for_each(|r| encode_record(r, &mut buf));
                write_block(w, chunk.len(), &buf)?;
            }
        }
        w.write_all(&0u32.to_le_bytes())
    }

    /// Copies shard `i`'s records (all, or the dirty ones) under its lock, clearing dirty
    /// marks. Only a memory copy happens under the lock; encoding and writing come after.
    fn copy_shard(&self, i: usize, kind: SnapshotKind, out: &mut Vec<Record>) {
        let mut shard = self.lock(i);
        for rec in shard.table.iter_mut() {
            if kind == SnapshotKind::Full || rec.flags & DIRTY != 0 {
                out.push(*rec);
            }
            rec.flags &= !DIRTY;
        }
    }

    /// Reads a full snapshot into a new engine with `policy`. Keys are re-sharded for the
    /// policy; prefix records of another prefix length than the policy's are dropped.
    pub fn restore(r: &mut impl Read, policy: Policy) -> Result<Engine, RestoreError> {
        let engine = Engine::try_new(policy)?;
        engine.read_snapshot(r, SnapshotKind::Full)?;
        Ok(engine)
    }

    /// Applies a delta snapshot (from [`Engine::save_delta`]) over the current history.
    pub fn apply_delta(&self, r: &mut impl Read) -> Result<(), RestoreError> {
        self.read_snapshot(r, SnapshotKind::Delta)
    }

    fn read_snapshot(&self, r: &mut impl Read, expect: SnapshotKind) -> Result<(), RestoreError> {
        let (keys_hint, version) = read_header(r, expect)?;
        let record_bytes = if version == 1 { RECORD_BYTES_V1 } else { RECORD_BYTES };
        if expect == SnapshotKind::Full {
            self.reserve(keys_hint);
        }
        let mut buf = Vec::new();
        let mut records = Vec::new();
        for block in 0u64.. {
            let mut n = [0u8; 4];
            r.read_exact(&mut n)?;
            let count = u32::from_le_bytes(n) as usize;
            if count == 0 {
                return Ok(());
            }
            if count > BLOCK_RECORDS_MAX {
                return Err(RestoreError::BadHeader("block larger than 65536 records"));
            }
            buf.resize(count * record_bytes, 0);
            r.read_exact(&mut buf)?;
            let mut crc = [0u8; 4];
            r.read_exact(&mut crc)?;
            if crc32fast::hash(&buf) != u32::from_le_bytes(crc) {
                return Err(RestoreError::Checksum { block });
            }
            records.clear();
            for (index, b) in buf.chunks_exact(record_bytes).enumerate() {
                let rec = decode(b, version).map_err(|problem| RestoreError::CorruptRecord {
                    block,
                    index,
                    problem,
                })?;
                records.push(rec);
            }
            self.insert_records(&records, expect);
        }
        Ok(())
    }

    /// Sizes every shard for `keys` keys before loading. Snapshots list each shard in table
    /// order, i.e. sorted by hash; inserting such a stream into a small, growing table would
    /// pile it into one probe run (quadratic time), so tables get their final size first.
    fn reserve(&self, keys: u64) {
        let per_shard = usize::try_from(keys).unwrap_or(usize::MAX) / self.shards.len();
        // Shards differ in size by a few percent; the slack keeps them from growing mid-load.
        let per_shard = per_shard.saturating_add(per_shard / 8);
        for i in 0..self.shards.len() {
            self.lock(i).table.reserve(per_shard);
        }
    }

    /// Inserts decoded records. A snapshot lists each shard's records together, so a shard
    /// stays locked while consecutive records belong to it. A full snapshot holds each key
    /// once, so its records are placed without looking for an earlier copy.
    fn insert_records(&self, records: &[Record], kind: SnapshotKind) {
        let now_h = records.iter().map(|r| r.last_s / 3600).max().unwrap_or(0);
        let seed = self.ctx.policy.hash_seed;
        let mut locked: Option<(usize, std::sync::MutexGuard<'_, crate::engine::Shard>)> = None;
        for rec in records {
            let Some(shard) = self.place(rec) else { continue };
            let guard = match locked {
                Some((s, ref mut g)) if s == shard => g,
                _ => &mut locked.insert((shard, self.lock(shard))).1,
            };
            let p = &self.ctx.params;
            let _slot = match kind {
                SnapshotKind::Full => guard.table.insert_new(*rec, hash(rec.key(), seed), None, now_h, p),
                SnapshotKind::Delta => guard.table.upsert(*rec, None, now_h, p),
            };
        }
    }

    /// The shard of a restored record under the current policy, None for prefix records of
    /// another prefix length (their history cannot be split or merged faithfully).
    fn place(&self, rec: &Record) -> Option<usize> {
        let key = rec.key();
        let (_, prefix) = self.ctx.keys(bits_ip(key.addr));
        if key.is_prefix() && key != prefix {
            return None;
        }
        Some(self.ctx.shard_of(prefix))
    }
}

fn write_block(w: &mut impl Write, records: usize, bytes: &[u8]) -> io::Result<()> {
    // `records` <= BLOCK_RECORDS_MAX, so it fits.
    w.write_all(&(records as u32).to_le_bytes())?;
    w.write_all(bytes)?;
    w.write_all(&crc32fast::hash(bytes).to_le_bytes())
}

/// Checks the header; returns the writer's key count hint and the format version.
fn read_header(r: &mut impl Read, expect: SnapshotKind) -> Result<(u64, u16), RestoreError> {
    let mut h = [0u8; 24];
    r.read_exact(&mut h)?;
    if &h[0..8] != MAGIC {
        return Err(RestoreError::BadMagic);
    }
    let version = u16::from_le_bytes([h[8], h[9]]);
    let record_bytes = match version {
        1 => RECORD_BYTES_V1,
        VERSION => RECORD_BYTES,
        _ => return Err(RestoreError::UnsupportedVersion(version)),
    };
    let kind = match h[10] {
        0 => SnapshotKind::Full,
        1 => SnapshotKind::Delta,
        _ => return Err(RestoreError::BadHeader("unknown snapshot kind")),
    };
    if kind != expect {
        return Err(RestoreError::BadHeader("full snapshot expected, delta found (or the reverse)"));
    }
    if u32_at(&h, 12) as usize != record_bytes {
        return Err(RestoreError::BadHeader("unexpected record size"));
    }
    Ok((u64_at(&h, 16), version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn busy_engine() -> Engine {
        let e = Engine::new(Policy::default());
        for h in 0..48u64 {
            for k in 0..20u64 {
                e.decide(ip("198.51.100.7"), 10, h * 3600 + k * 180);
                e.decide(ip("2001:db8::7"), 1, h * 3600 + k * 180);
            }
        }
        e.decide(ip("203.0.113.9"), 500, 48 * 3600);
        e
    }

    #[test]
    fn round_trip_keeps_every_record() {
        let e = busy_engine();
        let mut bytes = Vec::new();
        e.save(&mut bytes).unwrap();
        let back = Engine::restore(&mut bytes.as_slice(), Policy::default()).unwrap();
        assert_eq!(back.tracked_keys(), e.tracked_keys());
        for who in ["198.51.100.7", "2001:db8::7", "203.0.113.9"] {
            assert_eq!(back.peek(ip(who), 49 * 3600), e.peek(ip(who), 49 * 3600), "{who}");
        }
    }

    #[test]
    fn delta_carries_only_changes() {
        let e = busy_engine();
        let mut base = Vec::new();
        e.save(&mut base).unwrap();
        e.decide(ip("198.51.100.7"), 5, 49 * 3600);
        let mut delta = Vec::new();
        e.save_delta(&mut delta).unwrap();
        assert!(delta.len() < 24 + 3 * (8 + RECORD_BYTES) + 4 + 4, "two records changed");
        let back = Engine::restore(&mut base.as_slice(), Policy::default()).unwrap();
        back.apply_delta(&mut delta.as_slice()).unwrap();
        assert_eq!(back.peek(ip("198.51.100.7"), 50 * 3600), e.peek(ip("198.51.100.7"), 50 * 3600));
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        let e = busy_engine();
        let mut bytes = Vec::new();
        e.save(&mut bytes).unwrap();
        for cut in [0, 5, 16, 24, 28, 100, bytes.len() - 1] {
            assert!(Engine::restore(&mut &bytes[..cut], Policy::default()).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[40] ^= 0xff;
        assert!(matches!(
            Engine::restore(&mut flipped.as_slice(), Policy::default()),
            Err(RestoreError::Checksum { .. })
        ));
        let mut huge = bytes[..24].to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            Engine::restore(&mut huge.as_slice(), Policy::default()),
            Err(RestoreError::BadHeader(_))
        ));
        let mut rng = 0x1234_5678_u64;
        for _ in 0..200 {
            let mut fuzzed = bytes.clone();
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let at = 24 + (rng >> 33) as usize % (fuzzed.len() - 24);
            fuzzed[at] = (rng >> 20) as u8;
            let _ = Engine::restore(&mut fuzzed.as_slice(), Policy::default());
        }
    }

    /// A version 1 snapshot as the previous release wrote it: one IP record.
    fn version_1_snapshot() -> Vec<u8> {
        let mut rec = Vec::new();
        let addr = crate::key::ip_bits(ip("198.51.100.7"));
        rec.extend_from_slice(&((addr >> 64) as u64).to_le_bytes());
        rec.extend_from_slice(&(addr as u64).to_le_bytes());
        for f in [40.0f32, 120.0, 150.0] {
            rec.extend_from_slice(&f.to_le_bytes());
        }
        for u in [30u32, 500 * 3600, 10, u32::MAX] {
            rec.extend_from_slice(&u.to_le_bytes());
        }
        rec.extend_from_slice(&[0; 8]);
        rec.extend_from_slice(&[128, 1, 0, 0]);
        let mut out = b"SLUTHRTL".to_vec();
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&56u32.to_le_bytes());
        out.extend_from_slice(&1u64.to_le_bytes());
        write_block(&mut out, 1, &rec).unwrap();
        out.extend_from_slice(&0u32.to_le_bytes());
        out
    }

    #[test]
    fn version_1_snapshots_are_still_read() {
        let bytes = version_1_snapshot();
        let back = Engine::restore(&mut bytes.as_slice(), Policy::default()).unwrap();
        let x = back.peek(ip("198.51.100.7"), 500 * 3600 + 60);
        assert!(x.ip_state.tracked && x.ip_state.established, "{x:?}");
        assert_eq!(x.ip_state.baseline_per_hour, 150.0);
        assert_eq!(x.ip_state.allowance_per_hour, 300.0, "2 x its established volume");
        let mut v2 = Vec::new();
        back.save(&mut v2).unwrap();
        assert_eq!(u16::from_le_bytes([v2[8], v2[9]]), VERSION, "saved again in the current format");
    }

    #[test]
    fn restore_with_other_prefix_length_drops_prefix_records() {
        let e = busy_engine();
        let mut bytes = Vec::new();
        e.save(&mut bytes).unwrap();
        let policy = Policy { ipv4_prefix_len: 16, ..Policy::default() };
        let back = Engine::restore(&mut bytes.as_slice(), policy).unwrap();
        assert_eq!(back.tracked_keys(), e.tracked_keys() - 2, "the two IPv4 /24 records go");
    }
}
