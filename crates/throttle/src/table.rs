//! Open-addressing hash table of records with a hard key limit and CLOCK-style sampled
//! eviction of the least valuable key.
//!
//! Layout, for lookups that cost one cache miss per record: records are 64-byte aligned, one
//! cache line each, and a separate array holds one tag byte per slot (0: empty, else 0x80 |
//! 7 bits of the key's hash). A lookup scans tags from the key's home slot (linear probing,
//! backward-shift deletion, no tombstones) and reads only the record whose tag matches, so
//! it touches the tag line (1/64 of the table, usually cached) and exactly one record line.
//! [`Table::touch`] fetches both lines ahead of a decision so that the misses of several
//! lookups overlap.

use crate::key::KeyBits;
use crate::record::{Params, REFERENCED, Record};

/// Occupied slots examined per eviction; the least valuable of them goes.
const EVICTION_SAMPLE: usize = 16;
const INITIAL_SLOTS: usize = 64;
const EMPTY: u8 = 0;

/// The tag of a key with hash `h`: never `EMPTY`. The low bits are independent of the
/// home slot (which comes from the high bits).
#[inline]
fn tag_of(h: u64) -> u8 {
    0x80 | (h as u8 & 0x7f)
}

#[derive(Debug)]
pub(crate) struct Table {
    tags: Vec<u8>,
    slots: Vec<Record>,
    len: usize,
    max_len: usize,
    /// Capacity ceiling: load never exceeds 7/8, so probes always end at an empty slot.
    max_slots: usize,
    hand: usize,
    seed: u64,
}

impl Table {
    pub fn new(max_len: usize, seed: u64) -> Table {
        let max_len = max_len.max(1);
        let max_slots = max_len + max_len / 7 + 2;
        let cap = INITIAL_SLOTS.min(max_slots);
        Table {
            tags: vec![EMPTY; cap],
            slots: vec![Record::EMPTY; cap],
            len: 0,
            max_len,
            max_slots,
            hand: 0,
            seed,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes held by the table: records and tags.
    pub fn bytes(&self) -> usize {
        self.slots.len() * (std::mem::size_of::<Record>() + 1)
    }

    /// The table's hash of `key` (seeded, so that senders cannot aim at one probe run).
    #[inline]
    pub fn hash(&self, key: KeyBits) -> u64 {
        crate::key::hash(key, self.seed)
    }

    #[inline]
    fn home_of(&self, h: u64) -> usize {
        // Range reduction by multiply-shift works for any capacity, not only powers of two.
        ((u128::from(h) * self.slots.len() as u128) >> 64) as usize
    }

    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() { 0 } else { i + 1 }
    }

    /// Loads the tag line and the home record line of the key with hash `h` and returns a
    /// value that depends on both. Touching several keys before looking them up lets the
    /// CPU fetch their lines in parallel instead of one miss after another; the home slot
    /// holds the key more often than not.
    #[inline]
    pub fn touch(&self, h: u64) -> u64 {
        let i = self.home_of(h);
        u64::from(self.tags[i]) ^ self.slots[i].addr_lo
    }

    /// The slot of `key` (whose hash is `h`), if present.
    #[inline]
    pub fn find(&self, key: KeyBits, h: u64) -> Option<usize> {
        let tag = tag_of(h);
        let mut i = self.home_of(h);
        loop {
            let t = self.tags[i];
            if t == tag && self.slots[i].key() == key {
                return Some(i);
            }
            if t == EMPTY {
                return None;
            }
            i = self.next(i);
        }
    }

    /// Whether slot `i` holds `key` (lookups hand out slots that later inserts may move).
    pub fn holds(&self, i: usize, key: KeyBits) -> bool {
        self.tags.get(i).is_some_and(|t| *t != EMPTY) && self.slots[i].key() == key
    }

    pub fn get(&self, i: usize) -> &Record {
        &self.slots[i]
    }

    pub fn get_mut(&mut self, i: usize) -> &mut Record {
        &mut self.slots[i]
    }

    /// Two distinct slots, both writable (None if they are the same or out of range).
    pub fn pair_mut(&mut self, i: usize, j: usize) -> Option<[&mut Record; 2]> {
        self.slots.get_disjoint_mut([i, j]).ok()
    }

    /// Inserts or overwrites `rec`. When the table is full, first evicts the least valuable
    /// sampled key other than `protect`. Returns the slot, or None if nothing could be evicted.
    pub fn upsert(&mut self, rec: Record, protect: Option<KeyBits>, now_h: u32, p: &Params) -> Option<usize> {
        let h = self.hash(rec.key());
        if let Some(i) = self.find(rec.key(), h) {
            self.slots[i] = rec;
            return Some(i);
        }
        self.insert_new(rec, h, protect, now_h, p)
    }

    /// Inserts `rec`, known to be absent (a restored snapshot holds each key once).
    pub fn insert_new(
        &mut self,
        rec: Record,
        h: u64,
        protect: Option<KeyBits>,
        now_h: u32,
        p: &Params,
    ) -> Option<usize> {
        if self.len >= self.max_len && !self.evict_one(protect, now_h, p) {
            return None;
        }
        self.grow_if_needed();
        self.len += 1;
        Some(self.place(rec, h))
    }

    /// Puts a record known to be absent at the end of its probe run.
    fn place(&mut self, rec: Record, h: u64) -> usize {
        let mut i = self.home_of(h);
        while self.tags[i] != EMPTY {
            i = self.next(i);
        }
        self.tags[i] = tag_of(h);
        self.slots[i] = rec;
        i
    }

    fn grow_if_needed(&mut self) {
        let cap = self.slots.len();
        if (self.len + 1) * 8 <= cap * 7 || cap >= self.max_slots {
            return;
        }
        self.resize((cap * 2).min(self.max_slots));
    }

    /// Grows the table so that `keys` keys fit without further growth (within `max_len`).
    pub fn reserve(&mut self, keys: usize) {
        let keys = keys.min(self.max_len);
        let want = (keys + keys / 7 + 2).min(self.max_slots);
        if want > self.slots.len() {
            self.resize(want);
        }
    }

    fn resize(&mut self, new_cap: usize) {
        let old_tags = std::mem::replace(&mut self.tags, vec![EMPTY; new_cap]);
        let old = std::mem::replace(&mut self.slots, vec![Record::EMPTY; new_cap]);
        for (rec, _) in old.into_iter().zip(old_tags).filter(|(_, t)| *t != EMPTY) {
            let h = self.hash(rec.key());
            self.place(rec, h);
        }
        self.hand = 0;
    }

    /// Sweeps the CLOCK hand over a sample of occupied slots, clearing reference bits, and
    /// removes the lowest retention score. Flooding new keys only adds low-score keys, so the
    /// flood evicts itself before any established or recently penalised key.
    fn evict_one(&mut self, protect: Option<KeyBits>, now_h: u32, p: &Params) -> bool {
        let cap = self.slots.len();
        let mut best: Option<(f32, usize)> = None;
        let (mut seen, mut steps) = (0, 0);
        while seen < EVICTION_SAMPLE && steps < cap {
            let i = self.hand;
            self.hand = self.next(i);
            steps += 1;
            if self.tags[i] == EMPTY || Some(self.slots[i].key()) == protect {
                continue;
            }
            seen += 1;
            let rec = &mut self.slots[i];
            let score = rec.retention_score(now_h, p);
            rec.flags &= !REFERENCED;
            if best.is_none_or(|(b, _)| score < b) {
                best = Some((score, i));
            }
        }
        match best {
            Some((_, i)) => {
                self.remove(i);
                true
            }
            None => false,
        }
    }

    /// Backward-shift deletion: later members of the probe run move up so that lookups never
    /// need tombstones.
    fn remove(&mut self, i: usize) {
        let mut hole = i;
        let mut j = self.next(i);
        while self.tags[j] != EMPTY {
            let home = self.home_of(self.hash(self.slots[j].key()));
            let stays = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
            if !stays {
                self.tags[hole] = self.tags[j];
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = self.next(j);
        }
        self.tags[hole] = EMPTY;
        self.slots[hole] = Record::EMPTY;
        self.len -= 1;
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Record> {
        self.slots.iter_mut().zip(&self.tags).filter(|(_, t)| **t != EMPTY).map(|(r, _)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::keys_for;
    use crate::policy::Policy;
    use std::net::{IpAddr, Ipv4Addr};

    fn ip(n: u32) -> KeyBits {
        keys_for(IpAddr::V4(Ipv4Addr::from(n)), 24, 64).0
    }

    #[test]
    fn insert_find_remove_many() {
        let p = Params::new(&Policy::default());
        let mut t = Table::new(10_000, 7);
        for n in 0..5_000 {
            t.upsert(Record::new(ip(n), 0, &p), None, 0, &p).unwrap();
        }
        assert_eq!(t.len(), 5_000);
        for n in (0..5_000).step_by(2) {
            let i = t.find(ip(n), t.hash(ip(n))).unwrap();
            t.remove(i);
        }
        for n in 0..5_000 {
            assert_eq!(t.find(ip(n), t.hash(ip(n))).is_some(), n % 2 == 1, "key {n}");
        }
        assert_eq!(t.iter_mut().count(), 2_500);
    }

    #[test]
    fn full_table_evicts_instead_of_growing() {
        let p = Params::new(&Policy::default());
        let mut t = Table::new(100, 7);
        for n in 0..1_000 {
            t.upsert(Record::new(ip(n), 0, &p), None, 0, &p).unwrap();
        }
        assert_eq!(t.len(), 100);
        assert!(t.slots.len() <= 100 + 100 / 7 + 2);
    }

    #[test]
    fn records_are_one_cache_line_each() {
        let t = Table::new(1000, 7);
        assert_eq!(std::mem::size_of::<Record>(), 64);
        assert_eq!(std::mem::align_of::<Record>(), 64);
        assert_eq!(t.slots.as_ptr().align_offset(64), 0);
    }
}
