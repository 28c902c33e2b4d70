//! Fleet mode: what one engine tells the others so that every node decides on the fleet's
//! history of an IP and its prefix, while each decision stays local.
//!
//! With exchange on ([`Engine::enable_exchange`]), each decision also adds its counts to a
//! per-shard table of *pending* counts per key: recipients attempted and accepted, new IPs a
//! prefix brought, the hour of a deferral by the key's own allowance. [`Engine::export`]
//! takes them (and a copy of each such key's record, for the fleet's shared history) and
//! starts afresh; the caller ships them to the other nodes, which add them to their own
//! records with [`Engine::merge_remote`]. Counts are additive, so the order in which nodes
//! learn of each other's traffic does not matter: every node's record of a key converges to
//! the record one engine seeing all the traffic would hold, up to the exchange delay and
//! the hour boundaries a delayed count crosses (it counts in the hour it arrives).
//!
//! Within the exchange delay each node may accept what its own view allows, so a blast
//! spread over N nodes can get up to N buckets through in its first seconds instead of one.
//! Merged counts may therefore take a record's bucket below zero, down to minus one bucket:
//! the debt is paid back by the refill, so over time the fleet accepts what one node would.
//!
//! A new or restarted node starts from the shared history: records exported by any node
//! ([`SharedRecord`]) are taken in with [`Engine::import_shared`], the newer of the local and
//! the shared record winning.
//!
//! The pending table is bounded (`keys_max` over all shards): counts of keys beyond it are
//! dropped and counted ([`ExchangeStats::dropped`]), never the decision. Nothing here does
//! I/O or reads the clock; the wire form of the counts is [`encode_deltas`] /
//! [`decode_deltas`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::engine::{Core, Ctx, Decision, Engine, Lookup, Shard, Timestamp};
use crate::key::{KeyBits, ThrottleKey, bits_ip, hash};
use crate::persist::{RECORD_BYTES, decode_current, encode_record};
use crate::record::{NEVER, Params, Record, secs_u32};

/// Bytes of one key in a [`SharedRecord`] key and on the wire: 16 address bytes, prefix length.
pub const KEY_BYTES: usize = 17;
/// Bytes of one encoded delta.
const DELTA_BYTES: usize = KEY_BYTES + 4 * 6;
const MAGIC: &[u8; 4] = b"SLTX";
const VERSION: u8 = 1;
const HEADER_BYTES: usize = 9;
/// Most deltas one message may carry (bounds what a reader allocates).
pub const DELTAS_PER_MESSAGE_MAX: usize = 1 << 20;

/// The counts one node made for one key since its previous export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDelta {
    key: KeyBits,
    /// Recipients attempted (accepted and deferred).
    pub attempted: u32,
    /// Recipients accepted.
    pub accepted: u32,
    /// Prefix keys: IPs of the prefix first seen in this period.
    pub new_ips: u32,
    /// The hour the key was first seen by the exporting node.
    pub first_seen_h: u32,
    /// The hour of its last deferral by its own allowance there, if any.
    pub deferred_h: Option<u32>,
    /// Seconds (the engine's clock) of the last counted decision.
    pub at_s: u32,
}

impl KeyDelta {
    /// The IP or prefix the counts are about.
    pub fn key(&self) -> ThrottleKey {
        self.key.to_key()
    }
}

/// A copy of one key's record for the fleet's shared history: `key` names it (for a
/// key-value store), `bytes` is the record in the snapshot format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedRecord {
    /// 16 address bytes (IPv4 mapped into IPv6) and the prefix length (128 for an IP).
    pub key: [u8; KEY_BYTES],
    /// The record, as in a snapshot (format 2).
    pub bytes: [u8; RECORD_BYTES],
}

/// What [`Engine::export`] took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExchangeStats {
    /// Keys whose counts were exported.
    pub keys: usize,
    /// Key updates dropped since the previous export because the pending table was full.
    pub dropped: u64,
}

/// Why a message of deltas could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// Not a delta message.
    #[error("not a throttle exchange message (bad magic)")]
    BadMagic,
    /// Written by a newer Sluice.
    #[error("unsupported throttle exchange version {0}")]
    UnsupportedVersion(u8),
    /// The length does not match the count it declares, or the count is too large.
    #[error("throttle exchange message of {bytes} bytes does not hold its declared {count} deltas")]
    Length { bytes: usize, count: usize },
    /// A delta holds impossible values.
    #[error("throttle exchange delta {index}: {problem}")]
    Corrupt { index: usize, problem: &'static str },
}

/// Pending counts of one key.
#[derive(Debug, Clone, Copy)]
struct Counts {
    attempted: u32,
    accepted: u32,
    new_ips: u32,
    deferred_h: u32,
    at_s: u32,
}

/// A key with its table hash, hashed as that hash (computed once per decision already).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hashed {
    h: u64,
    key: KeyBits,
}

impl Hash for Hashed {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.h);
    }
}

/// Passes a precomputed (seeded, well-mixed) hash through.
#[derive(Debug, Default)]
struct PassHasher(u64);

impl Hasher for PassHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// One shard's counts not yet exported, at most `keys_max` keys.
#[derive(Debug)]
pub(crate) struct Pending {
    counts: HashMap<Hashed, Counts, BuildHasherDefault<PassHasher>>,
    keys_max: usize,
    dropped: u64,
}

impl Pending {
    fn new(keys_max: usize) -> Pending {
        Pending { counts: HashMap::default(), keys_max: keys_max.max(1), dropped: 0 }
    }

    fn add(
        &mut self,
        key: KeyBits,
        h: u64,
        attempted: u32,
        accepted: u32,
        now_s: u32,
    ) -> Option<&mut Counts> {
        let len = self.counts.len();
        let entry = self.counts.entry(Hashed { h, key });
        if matches!(entry, std::collections::hash_map::Entry::Vacant(_)) && len >= self.keys_max {
            self.dropped += 1;
            return None;
        }
        let c =
            entry.or_insert(Counts { attempted: 0, accepted: 0, new_ips: 0, deferred_h: NEVER, at_s: now_s });
        c.attempted = c.attempted.saturating_add(attempted);
        c.accepted = c.accepted.saturating_add(accepted);
        c.at_s = c.at_s.max(now_s);
        Some(c)
    }
}

impl Shard {
    /// Adds a decision's counts to the pending table (exchange on only).
    pub(crate) fn note(&mut self, l: &Lookup, n: u32, d: &Decision, new_ip: bool, now: Timestamp) {
        let Some(pending) = self.pending.as_mut() else { return };
        let now_s = secs_u32(now);
        let culprit = d.defer.as_ref().map(|x| matches!(x.key, ThrottleKey::Ip(_)));
        if let Some(c) = pending.add(l.ip, l.h_ip, n, d.accepted, now_s)
            && culprit == Some(true)
        {
            c.deferred_h = now_s / 3600;
        }
        if let Some(c) = pending.add(l.prefix, l.h_prefix, n, d.accepted, now_s) {
            c.new_ips = c.new_ips.saturating_add(u32::from(new_ip));
            if culprit == Some(false) {
                c.deferred_h = now_s / 3600;
            }
        }
    }

    /// Moves the pending counts (and a copy of each key's record) out.
    fn export(
        &mut self,
        deltas: &mut Vec<KeyDelta>,
        records: Option<&mut Vec<SharedRecord>>,
    ) -> ExchangeStats {
        let Some(pending) = self.pending.as_mut() else { return ExchangeStats::default() };
        let counts = std::mem::take(&mut pending.counts);
        let stats = ExchangeStats { keys: counts.len(), dropped: std::mem::take(&mut pending.dropped) };
        let mut records = records;
        for (Hashed { h, key }, c) in counts {
            let rec = self.table.find(key, h).map(|i| *self.table.get(i));
            deltas.push(KeyDelta {
                key,
                attempted: c.attempted,
                accepted: c.accepted,
                new_ips: c.new_ips,
                first_seen_h: rec.map_or(c.at_s / 3600, |r| r.first_seen_h),
                deferred_h: (c.deferred_h != NEVER).then_some(c.deferred_h),
                at_s: c.at_s,
            });
            if let (Some(out), Some(rec)) = (records.as_deref_mut(), rec) {
                out.push(shared(&rec));
            }
        }
        stats
    }

    /// Adds another node's counts for `key` to its record here.
    fn merge(&mut self, key: KeyBits, h: u64, d: &KeyDelta, now: Timestamp, p: &Params) {
        let at = u64::from(d.at_s).min(now);
        let slot = self.table.find(key, h);
        let mut rec = match slot {
            Some(i) => *self.table.get(i),
            None => Record::new(key, at, p),
        };
        rec.advance(at, p);
        rec.absorb_remote(
            d.attempted,
            d.accepted,
            d.new_ips,
            d.first_seen_h,
            d.deferred_h.unwrap_or(NEVER),
            p,
        );
        self.put(rec, slot, h, secs_u32(now) / 3600, p);
    }

    /// Takes in a shared record unless the one here is at least as recent.
    fn import(&mut self, rec: Record, h: u64, p: &Params) -> bool {
        let slot = self.table.find(rec.key(), h);
        if slot.is_some_and(|i| self.table.get(i).last_s >= rec.last_s) {
            return false;
        }
        self.put(rec, slot, h, rec.last_s / 3600, p);
        true
    }

    fn put(&mut self, rec: Record, slot: Option<usize>, h: u64, now_h: u32, p: &Params) {
        match slot {
            Some(i) => *self.table.get_mut(i) = rec,
            None => {
                // A full shard evicts its least valuable key; when nothing can go, the
                // remote counts are not kept here (the key's own node still has them).
                let _slot = self.table.insert_new(rec, h, None, now_h, p);
            }
        }
    }
}

fn shared(rec: &Record) -> SharedRecord {
    let mut bytes = Vec::with_capacity(RECORD_BYTES);
    encode_record(rec, &mut bytes);
    let mut b = [0u8; RECORD_BYTES];
    b.copy_from_slice(&bytes);
    SharedRecord { key: key_bytes(rec.key()), bytes: b }
}

fn key_bytes(key: KeyBits) -> [u8; KEY_BYTES] {
    let mut k = [0u8; KEY_BYTES];
    k[..16].copy_from_slice(&key.addr.to_be_bytes());
    k[16] = key.plen;
    k
}

fn key_from(b: &[u8]) -> Result<KeyBits, &'static str> {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    let key = KeyBits { addr: u128::from_be_bytes(a), plen: b[16] };
    if key.plen > 128 {
        return Err("prefix length over 128");
    }
    Ok(key)
}

impl Ctx {
    /// The shard and table hash of a key from another node, None for a prefix of another
    /// length than this policy's (nodes with different prefix policies cannot share it).
    fn place_remote(&self, key: KeyBits) -> Option<(usize, u64)> {
        let (ip, prefix) = self.keys(bits_ip(key.addr));
        if key.is_prefix() && key != prefix {
            return None;
        }
        if !key.is_prefix() && key != ip {
            return None;
        }
        let seed = self.policy.hash_seed;
        Some((self.shard_of(prefix), hash(key, seed)))
    }
}

impl Engine {
    /// Turns on counting for the exchange, with room for the counts of `keys_max` keys
    /// between two exports (spread over the shards).
    pub fn enable_exchange(&self, keys_max: usize) {
        let per_shard = keys_max.div_ceil(self.shards.len());
        for i in 0..self.shards.len() {
            self.lock(i).pending = Some(Pending::new(per_shard));
        }
    }

    /// Moves the counts made since the previous export into `deltas` and, when `records` is
    /// given, a copy of each such key's record into it. Locks one shard at a time.
    pub fn export(
        &self,
        deltas: &mut Vec<KeyDelta>,
        mut records: Option<&mut Vec<SharedRecord>>,
    ) -> ExchangeStats {
        let mut total = ExchangeStats::default();
        for i in 0..self.shards.len() {
            let s = self.lock(i).export(deltas, records.as_deref_mut());
            total.keys += s.keys;
            total.dropped += s.dropped;
        }
        total
    }

    /// Adds other nodes' counts to the records here (creating records for keys this node
    /// has not seen). Counts made later than `now` count as made now. Returns how many
    /// deltas applied; a prefix delta of another prefix length than this policy's does not.
    pub fn merge_remote(&self, deltas: &[KeyDelta], now: Timestamp) -> usize {
        let mut applied = 0;
        for d in deltas {
            let Some((shard, h)) = self.ctx.place_remote(d.key) else { continue };
            self.lock(shard).merge(d.key, h, d, now, &self.ctx.params);
            applied += 1;
        }
        applied
    }

    /// Takes in records of the fleet's shared history (a new or restarted node): each
    /// replaces the record here unless that one was updated at the same time or later.
    /// Returns how many were taken; a damaged record is an error naming it.
    pub fn import_shared(&self, records: &[SharedRecord]) -> Result<usize, ExchangeError> {
        let mut taken = 0;
        for (index, r) in records.iter().enumerate() {
            let rec =
                decode_current(&r.bytes).map_err(|problem| ExchangeError::Corrupt { index, problem })?;
            if key_bytes(rec.key()) != r.key {
                return Err(ExchangeError::Corrupt { index, problem: "record under another key" });
            }
            let Some((shard, h)) = self.ctx.place_remote(rec.key()) else { continue };
            taken += usize::from(self.lock(shard).import(rec, h, &self.ctx.params));
        }
        Ok(taken)
    }

    /// Keys with counts waiting for the next export.
    pub fn pending_keys(&self) -> usize {
        (0..self.shards.len()).map(|i| self.lock(i).pending.as_ref().map_or(0, |p| p.counts.len())).sum()
    }
}

impl Core {
    /// See [`Engine::enable_exchange`].
    pub fn enable_exchange(&mut self, keys_max: usize) {
        self.shard.pending = Some(Pending::new(keys_max));
    }

    /// See [`Engine::export`] (without records).
    pub fn export(&mut self, deltas: &mut Vec<KeyDelta>) -> ExchangeStats {
        self.shard.export(deltas, None)
    }

    /// See [`Engine::merge_remote`].
    pub fn merge_remote(&mut self, deltas: &[KeyDelta], now: Timestamp) -> usize {
        let mut applied = 0;
        for d in deltas {
            let Some((_, h)) = self.ctx.place_remote(d.key) else { continue };
            self.shard.merge(d.key, h, d, now, &self.ctx.params);
            applied += 1;
        }
        applied
    }
}

/// Appends the wire form of `deltas`: `"SLTX"`, version u8, count u32, then per delta the
/// key (16 address bytes big-endian, prefix length), attempted, accepted, new IPs, first
/// seen hour, deferral hour (`u32::MAX`: none) and time, each u32 little-endian.
pub fn encode_deltas(deltas: &[KeyDelta], out: &mut Vec<u8>) {
    out.reserve(HEADER_BYTES + deltas.len() * DELTA_BYTES);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&u32::try_from(deltas.len()).unwrap_or(u32::MAX).to_le_bytes());
    for d in deltas {
        out.extend_from_slice(&key_bytes(d.key));
        let deferred = d.deferred_h.unwrap_or(NEVER);
        for v in [d.attempted, d.accepted, d.new_ips, d.first_seen_h, deferred, d.at_s] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Reads a message written by [`encode_deltas`]. Bounded: a message claiming more than
/// [`DELTAS_PER_MESSAGE_MAX`] deltas, or whose length does not match, is refused whole.
pub fn decode_deltas(bytes: &[u8]) -> Result<Vec<KeyDelta>, ExchangeError> {
    if bytes.len() < HEADER_BYTES || &bytes[..4] != MAGIC {
        return Err(ExchangeError::BadMagic);
    }
    if bytes[4] != VERSION {
        return Err(ExchangeError::UnsupportedVersion(bytes[4]));
    }
    let count = u32::from_le_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) as usize;
    if count > DELTAS_PER_MESSAGE_MAX || bytes.len() != HEADER_BYTES + count * DELTA_BYTES {
        return Err(ExchangeError::Length { bytes: bytes.len(), count });
    }
    let u = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    bytes[HEADER_BYTES..]
        .chunks_exact(DELTA_BYTES)
        .enumerate()
        .map(|(index, b)| {
            let corrupt = |problem| ExchangeError::Corrupt { index, problem };
            let key = key_from(b).map_err(corrupt)?;
            let v = |k: usize| u(b, KEY_BYTES + 4 * k);
            let d = KeyDelta {
                key,
                attempted: v(0),
                accepted: v(1),
                new_ips: v(2),
                first_seen_h: v(3),
                deferred_h: (v(4) != NEVER).then_some(v(4)),
                at_s: v(5),
            };
            if d.accepted > d.attempted {
                return Err(corrupt("more recipients accepted than attempted"));
            }
            if !key.is_prefix() && d.new_ips > 0 {
                return Err(corrupt("new IPs counted for an IP"));
            }
            Ok(d)
        })
        .collect()
}
