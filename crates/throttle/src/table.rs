//! Open-addressing hash table of records (linear probing, backward-shift deletion) with a
//! hard key limit and CLOCK-style sampled eviction of the least valuable key.

use crate::key::{KeyBits, hash};
use crate::record::{OCCUPIED, Params, REFERENCED, Record};

/// Occupied slots examined per eviction; the least valuable of them goes.
const EVICTION_SAMPLE: usize = 16;
const INITIAL_SLOTS: usize = 64;

/// Records in one array, probed in place: on a large table a lookup's cost is its page
/// walk and cache misses, and a probe run of a few 56-byte records stays in one page.
#[derive(Debug)]
pub(crate) struct Table {
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
        Table { slots: vec![Record::EMPTY; cap], len: 0, max_len, max_slots, hand: 0, seed }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes held by the table.
    pub fn bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Record>()
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

    /// Loads the tag and record cache lines where `key` most likely is, and returns a value
    /// that depends on them. Touching several keys before looking them up lets the CPU fetch
    /// their lines from memory in parallel instead of one miss after another.
    #[inline]
    pub fn touch(&self, key: KeyBits) -> u64 {
        let i = self.home_of(hash(key, self.seed));
        self.slots[i].addr_lo
    }

    pub fn find(&self, key: KeyBits) -> Option<usize> {
        let mut i = self.home_of(hash(key, self.seed));
        loop {
            let s = &self.slots[i];
            if s.flags & OCCUPIED == 0 {
                return None;
            }
            if s.addr_lo == key.addr as u64 && s.key() == key {
                return Some(i);
            }
            i = self.next(i);
        }
    }

    /// Whether slot `i` holds `key` (lookups hand out slots that later inserts may move).
    pub fn holds(&self, i: usize, key: KeyBits) -> bool {
        self.slots.get(i).is_some_and(|s| s.flags & OCCUPIED != 0 && s.key() == key)
    }

    pub fn get(&self, i: usize) -> &Record {
        &self.slots[i]
    }

    pub fn get_mut(&mut self, i: usize) -> &mut Record {
        &mut self.slots[i]
    }

    /// Inserts or overwrites `rec`. When the table is full, first evicts the least valuable
    /// sampled key other than `protect`. Returns the slot, or None if nothing could be evicted.
    pub fn upsert(&mut self, rec: Record, protect: Option<KeyBits>, now_h: u32, p: &Params) -> Option<usize> {
        if let Some(i) = self.find(rec.key()) {
            self.slots[i] = rec;
            return Some(i);
        }
        if self.len >= self.max_len && !self.evict_one(protect, now_h, p) {
            return None;
        }
        self.grow_if_needed();
        self.len += 1;
        Some(self.place(rec))
    }

    /// Puts a record known to be absent at the end of its probe run.
    fn place(&mut self, rec: Record) -> usize {
        let mut i = self.home_of(hash(rec.key(), self.seed));
        while self.slots[i].flags & OCCUPIED != 0 {
            i = self.next(i);
        }
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
        let old = std::mem::replace(&mut self.slots, vec![Record::EMPTY; new_cap]);
        for rec in old.into_iter().filter(|r| r.flags & OCCUPIED != 0) {
            self.place(rec);
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
            let rec = &mut self.slots[i];
            if rec.flags & OCCUPIED == 0 || Some(rec.key()) == protect {
                continue;
            }
            seen += 1;
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
        while self.slots[j].flags & OCCUPIED != 0 {
            let home = self.home_of(hash(self.slots[j].key(), self.seed));
            let stays = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
            if !stays {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = self.next(j);
        }
        self.slots[hole] = Record::EMPTY;
        self.len -= 1;
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Record> {
        self.slots.iter_mut().filter(|r| r.flags & OCCUPIED != 0)
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
            let i = t.find(ip(n)).unwrap();
            t.remove(i);
        }
        for n in 0..5_000 {
            assert_eq!(t.find(ip(n)).is_some(), n % 2 == 1, "key {n}");
        }
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
}
