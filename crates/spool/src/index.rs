//! The in-memory index: per live message only its location, recipient state and schedule;
//! per segment its size and live bytes. Envelopes and data stay on disk.
//!
//! Memory per live message: one `HashMap` slot of id and `Entry`, at most 72 bytes (checked
//! below), plus 8 bytes per 64 recipients once any recipient is done. A message whose data
//! is in a file of its own costs the same.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::sync::Arc;

use crate::{MessageId, Schedule};

/// Which recipients of a message are finished (delivered or bounced). A boxed slice, not a
/// `Vec`: it grows rarely, and every live message carries one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DoneSet {
    words: Box<[u64]>,
}

impl DoneSet {
    pub(crate) fn insert(&mut self, index: u32) {
        let word = (index / 64) as usize;
        if self.words.len() <= word {
            let mut words = std::mem::take(&mut self.words).into_vec();
            words.resize(word + 1, 0);
            self.words = words.into_boxed_slice();
        }
        self.words[word] |= 1 << (index % 64);
    }

    pub(crate) fn len(&self) -> u32 {
        self.words.iter().map(|w| w.count_ones()).sum()
    }

    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    /// Adds every recipient of `other`.
    pub(crate) fn union(&mut self, other: &DoneSet) {
        if self.words.len() < other.words.len() {
            let mut words = std::mem::take(&mut self.words).into_vec();
            words.resize(other.words.len(), 0);
            self.words = words.into_boxed_slice();
        }
        for (w, o) in self.words.iter_mut().zip(other.words.iter()) {
            *w |= o;
        }
    }

    pub(crate) fn to_vec(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for (i, w) in self.words.iter().enumerate() {
            for bit in 0..64 {
                if w & (1 << bit) != 0 {
                    out.push(i as u32 * 64 + bit);
                }
            }
        }
        out
    }
}

/// Where a message's record is and how far its delivery got. Lengths are `u32` because a
/// record's length field is.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) segment: u64,
    /// Offset of the record (its frame) in the segment.
    pub(crate) offset: u64,
    /// Length of the whole record, frame and payload.
    pub(crate) record_len: u32,
    /// Length of the data: at the end of the payload, or in the message's data file.
    pub(crate) data_len: u32,
    /// Whether the data is in a data file of its own (an `External` record).
    pub(crate) external: bool,
    pub(crate) recipients: u32,
    pub(crate) done: DoneSet,
    pub(crate) schedule: Schedule,
}

// The index holds one per live message: keep it at one cache line.
const _: () = assert!(std::mem::size_of::<Entry>() <= 64);

impl Entry {
    /// Length of the whole record.
    pub(crate) fn record_len(&self) -> u64 {
        u64::from(self.record_len)
    }

    /// Bytes of data kept in a data file.
    fn external_bytes(&self) -> u64 {
        if self.external { u64::from(self.data_len) } else { 0 }
    }

    fn is_dead(&self) -> bool {
        self.done.len() >= self.recipients
    }
}

/// A segment on disk with a read handle that outlives its deletion (for readers in flight).
#[derive(Debug)]
pub(crate) struct SegmentInfo {
    pub(crate) size: u64,
    /// The format its records are in (from its header).
    pub(crate) version: u32,
    pub(crate) live_bytes: u64,
    pub(crate) live_messages: u64,
    /// The salt of its records' checks (format 3 on).
    pub(crate) salt: u64,
    pub(crate) reader: Arc<File>,
}

#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) messages: HashMap<MessageId, Entry>,
    pub(crate) segments: BTreeMap<u64, SegmentInfo>,
    /// Data bytes of live messages kept in data files.
    pub(crate) external_bytes: u64,
}

/// A segment's identity and format, as its header gives them.
#[derive(Debug)]
pub(crate) struct SegmentMeta {
    pub(crate) seq: u64,
    pub(crate) size: u64,
    pub(crate) version: u32,
    pub(crate) salt: u64,
}

impl Index {
    pub(crate) fn add_segment(&mut self, meta: SegmentMeta, reader: Arc<File>) {
        let SegmentMeta { seq, size, version, salt } = meta;
        let info = SegmentInfo { size, version, live_bytes: 0, live_messages: 0, salt, reader };
        self.segments.insert(seq, info);
    }

    /// Adds a message, or moves it when the id is already known (a compaction copy): the
    /// done sets are merged, the newer location wins, and the schedule stays the id's (a
    /// copy's `Message` record carries none; its `Schedule` record follows it).
    pub(crate) fn insert(&mut self, id: MessageId, mut entry: Entry) {
        if let Some(old) = self.messages.remove(&id) {
            self.account(&old, -1);
            for r in old.done.to_vec() {
                entry.done.insert(r);
            }
            entry.schedule = old.schedule;
        }
        if entry.is_dead() {
            return;
        }
        self.account(&entry, 1);
        self.messages.insert(id, entry);
    }

    /// Marks recipients finished; drops the message when none is left and returns its
    /// entry then. Indices out of range are ignored (the public API rejects them before
    /// they reach the log).
    pub(crate) fn mark_done(&mut self, id: MessageId, recipients: &[u32]) -> Option<Entry> {
        let entry = self.messages.get_mut(&id)?;
        for r in recipients {
            if *r < entry.recipients {
                entry.done.insert(*r);
            }
        }
        if entry.is_dead() { self.remove(id) } else { None }
    }

    /// Forgets a message (recovery found it lost).
    pub(crate) fn remove(&mut self, id: MessageId) -> Option<Entry> {
        let entry = self.messages.remove(&id)?;
        self.account(&entry, -1);
        Some(entry)
    }

    /// Records a live message's schedule; unknown (dead) ids are ignored, as in `mark_done`.
    pub(crate) fn set_schedule(&mut self, id: MessageId, schedule: Schedule) {
        if let Some(entry) = self.messages.get_mut(&id) {
            entry.schedule = schedule;
        }
    }

    fn account(&mut self, entry: &Entry, sign: i64) {
        if sign > 0 {
            self.external_bytes += entry.external_bytes();
        } else {
            self.external_bytes = self.external_bytes.saturating_sub(entry.external_bytes());
        }
        if let Some(seg) = self.segments.get_mut(&entry.segment) {
            if sign > 0 {
                seg.live_bytes += entry.record_len();
                seg.live_messages += 1;
            } else {
                seg.live_bytes = seg.live_bytes.saturating_sub(entry.record_len());
                seg.live_messages = seg.live_messages.saturating_sub(1);
            }
        }
    }

    /// Live messages whose record lies in `segment`, with what a copy needs.
    pub(crate) fn live_in(&self, segment: u64) -> Vec<(MessageId, Entry)> {
        let mut out: Vec<_> = self
            .messages
            .iter()
            .filter(|(_, e)| e.segment == segment)
            .map(|(id, e)| (*id, e.clone()))
            .collect();
        out.sort_unstable_by_key(|(_, e)| e.offset);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_set() {
        let mut d = DoneSet::default();
        d.insert(3);
        d.insert(70);
        d.insert(3);
        assert_eq!(d.len(), 2);
        assert_eq!(d.to_vec(), vec![3, 70]);
        let mut e = DoneSet::default();
        e.insert(1);
        e.union(&d);
        assert_eq!(e.to_vec(), vec![1, 3, 70]);
        d.union(&DoneSet::default());
        assert_eq!(d.to_vec(), vec![3, 70]);
    }

    fn entry(segment: u64, recipients: u32) -> Entry {
        Entry {
            segment,
            offset: 40,
            record_len: 125,
            data_len: 10,
            external: false,
            recipients,
            done: DoneSet::default(),
            schedule: Schedule::default(),
        }
    }

    #[test]
    fn a_copy_keeps_the_schedule_and_unites_done_sets() {
        let mut index = Index::default();
        let id = MessageId(1);
        index.insert(id, entry(1, 3));
        let schedule = Schedule { attempts: 2, next_attempt_unix_ms: 5, delay_notified: true };
        index.set_schedule(id, schedule);
        index.mark_done(id, &[0]);
        let mut copy = entry(2, 3);
        copy.done.insert(2);
        index.insert(id, copy);
        let found = &index.messages[&id];
        assert_eq!((found.segment, found.schedule, found.done.to_vec()), (2, schedule, vec![0, 2]));
        index.mark_done(id, &[1]);
        assert!(index.messages.is_empty());
        index.set_schedule(id, Schedule::default());
        assert!(index.messages.is_empty());
    }
}
