//! Damaged bytes: segments written by the real writer are damaged (single bits flipped at
//! every field of every record and at a spread of interior positions, ranges zeroed across
//! boundaries and records, files truncated at and between boundaries, segment headers
//! damaged), then recovered by `Spool::open`. After each: exactly the records holding a
//! changed byte are lost (all of a segment whose header was hit); every other message is
//! recovered with its envelope, data, done recipients and schedule; the report quarantines
//! exactly the lost bytes and names the lost messages it can know; a second open finds
//! nothing more to report.
//!
//! The segments are written on the normal file system; the damaged copies are recovered in
//! `/dev/shm` when it exists (fsync costs nothing there), so that the thousand cases stay
//! within seconds.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use smtp_wire::{Address, Envelope, ReversePath};

use crate::common::{self, wait};
use crate::record::{self, Decoded, FRAME_BYTES, Frame, RECORD_MAGIC};
use crate::segment::{self, HEADER_BYTES, Header};
use crate::{MessageId, Opened, Schedule, Spool, SpoolConfig};

/// One record of the intact log.
#[derive(Debug)]
struct Rec {
    segment: usize,
    start: u64,
    end: u64,
    decoded: Decoded,
}

/// A spool as the real writer left it, and what is in it.
struct Scenario {
    config: fn(&Path) -> SpoolConfig,
    segments: Vec<(String, Vec<u8>)>,
    data_files: Vec<(String, Vec<u8>)>,
    records: Vec<Rec>,
    contents: HashMap<MessageId, (Envelope, Vec<u8>)>,
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    Flip { segment: usize, at: u64, bit: u8 },
    Zero { segment: usize, from: u64, to: u64 },
    Truncate { segment: usize, at: u64 },
}

/// An envelope of `recipients` recipients from a sender of its own.
fn envelope(recipients: usize, i: usize) -> Envelope {
    let mut env = common::envelope(recipients);
    env.sender = ReversePath::Mailbox(Address { local_part: format!("s{i}"), domain: "example.com".into() });
    env
}

/// Message data of `len` bytes; message 7 is full of record markers and frames that do not
/// check, to show that resynchronisation passes over them.
fn data(i: usize, len: usize) -> Vec<u8> {
    if i == 7 {
        let fake: Vec<u8> = RECORD_MAGIC.iter().copied().chain([3, 21, 0, 0, 0]).chain([0xAB; 16]).collect();
        return fake.iter().copied().cycle().take(len).collect();
    }
    (0..len).map(|b| (b * 31 + i * 7 + 1) as u8).collect()
}

/// Writes a log through the real writer: `count` messages of varied sizes and recipient
/// counts (some with their data in data files), partly completed ones, fully completed ones
/// when `finish`, schedules written once and several times. Nothing may be compacted (with
/// small segments, finished messages would make segments sparse).
fn write_log(
    dir: &Path,
    config: fn(&Path) -> SpoolConfig,
    count: usize,
    finish: bool,
) -> HashMap<MessageId, (Envelope, Vec<u8>)> {
    let spool = Spool::open(config(dir)).unwrap().spool;
    let mut ids = Vec::new();
    let mut contents = HashMap::new();
    for i in 0..count {
        let env = envelope(1 + i % 4, i);
        let body = data(i, [0, 1, 50, 300, 4096, 900][i % 6] + i);
        let id = match i % 11 {
            5 => {
                let body = data(i, 3000 + i);
                let mut writer = spool.begin_message();
                std::io::Write::write_all(&mut writer, &body).unwrap();
                assert!(writer.is_spilled());
                let id = wait(|cb| writer.submit(env.clone(), i as u64, cb)).unwrap();
                contents.insert(id, (env, body));
                id
            }
            _ => {
                let id = wait(|cb| spool.enqueue(env.clone(), i as u64, body.clone(), cb)).unwrap();
                contents.insert(id, (env, body));
                id
            }
        };
        ids.push(id);
        if i % 3 == 2 {
            wait(|cb| spool.complete(ids[i - 1], &[0], cb)).unwrap();
            let schedule = Schedule {
                attempts: i as u32,
                next_attempt_unix_ms: 1000 * i as u64,
                delay_notified: i % 2 == 0,
            };
            wait(|cb| spool.schedule(ids[i - 2], schedule, cb)).unwrap();
        }
        if finish && i % 5 == 4 {
            let all: Vec<u32> = (0..contents[&ids[i - 4]].0.recipients.len() as u32).collect();
            wait(|cb| spool.complete(ids[i - 4], &all, cb)).unwrap();
        }
        if i % 4 == 1 {
            for attempts in [1, 2] {
                wait(|cb| spool.schedule(id, Schedule { attempts, ..Schedule::default() }, cb)).unwrap();
            }
        }
    }
    assert_eq!(spool.stats().compactions, 0, "the layout must be the writer's appends only");
    spool.close();
    contents
}

fn scenario(config: fn(&Path) -> SpoolConfig, count: usize) -> Scenario {
    let dir = tempfile::tempdir().unwrap();
    let finish = config(dir.path()).segment_bytes_max == crate::SEGMENT_BYTES_MAX_DEFAULT;
    let contents = write_log(dir.path(), config, count, finish);
    let read_dir = |sub: &str| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path().join(sub))
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| (e.file_name().into_string().unwrap(), std::fs::read(e.path()).unwrap()))
            .collect();
        files.sort();
        files
    };
    let segments = read_dir("segments");
    let records = segments.iter().enumerate().flat_map(|(n, (_, bytes))| walk(n, bytes)).collect();
    Scenario { config, segments, data_files: read_dir("data"), records, contents }
}

/// The records of an intact format 3 segment.
fn walk(segment: usize, bytes: &[u8]) -> Vec<Rec> {
    let Header::Valid { salt, version: 3, .. } = segment::parse_header(bytes, bytes.len() as u64) else {
        panic!("not a format 3 segment");
    };
    let mut out = Vec::new();
    let mut at = HEADER_BYTES as usize;
    while at < bytes.len() {
        let frame = Frame::parse(&bytes[at..], salt).unwrap();
        let end = at + frame.record_len() as usize;
        let payload = frame.verify(&bytes[at..end]).unwrap();
        let len = match frame.kind.is_message() {
            true => record::message_prefix_len(&frame, &payload[..record::message_head_len(&frame)]).unwrap(),
            false => payload.len(),
        };
        let decoded = record::decode(&frame, &payload[..len], 3).unwrap();
        out.push(Rec { segment, start: at as u64, end: end as u64, decoded });
        at = end;
    }
    out
}

fn id_of(decoded: &Decoded) -> Option<MessageId> {
    match decoded {
        Decoded::Message { id, .. }
        | Decoded::Done { id, .. }
        | Decoded::Schedule { id, .. }
        | Decoded::Lost { id } => Some(*id),
        Decoded::Skip => None,
    }
}

/// What a message's records add up to.
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    recipients: usize,
    done: BTreeSet<u32>,
    schedule: Schedule,
}

/// The live messages after applying `records` in order.
fn replay<'a>(records: impl Iterator<Item = &'a Rec>) -> BTreeMap<MessageId, State> {
    let mut live = BTreeMap::new();
    for rec in records {
        match &rec.decoded {
            Decoded::Message { id, envelope, .. } => {
                let state = State {
                    recipients: envelope.recipients.len(),
                    done: BTreeSet::new(),
                    schedule: Schedule::default(),
                };
                live.insert(*id, state);
            }
            Decoded::Done { id, done, .. } => {
                if let Some(state) = live.get_mut(id) {
                    state.done.extend(done.iter().copied());
                    if state.done.len() >= state.recipients {
                        live.remove(id);
                    }
                }
            }
            Decoded::Schedule { id, schedule } => {
                if let Some(state) = live.get_mut(id) {
                    state.schedule = *schedule;
                }
            }
            Decoded::Lost { id } => {
                live.remove(id);
            }
            Decoded::Skip => {}
        }
    }
    live
}

impl Damage {
    fn segment(self) -> usize {
        match self {
            Damage::Flip { segment, .. }
            | Damage::Zero { segment, .. }
            | Damage::Truncate { segment, .. } => segment,
        }
    }

    /// Damages `bytes`; returns the range of bytes that changed (empty: none did).
    fn apply(self, bytes: &mut Vec<u8>) -> (u64, u64) {
        match self {
            Damage::Flip { at, bit, .. } => {
                bytes[at as usize] ^= 1 << bit;
                (at, at + 1)
            }
            Damage::Zero { from, to, .. } => {
                let range = &mut bytes[from as usize..to as usize];
                let first = range.iter().position(|b| *b != 0);
                let last = range.iter().rposition(|b| *b != 0);
                range.fill(0);
                match (first, last) {
                    (Some(f), Some(l)) => (from + f as u64, from + l as u64 + 1),
                    _ => (from, from),
                }
            }
            Damage::Truncate { at, .. } => {
                let len = bytes.len() as u64;
                bytes.truncate(at as usize);
                (at, len)
            }
        }
    }
}

fn install(scn: &Scenario, dir: &Path, damage: Damage) -> (u64, u64) {
    let mut changed = (0, 0);
    for sub in ["segments", "data"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for (n, (name, bytes)) in scn.segments.iter().enumerate() {
        let mut bytes = bytes.clone();
        if n == damage.segment() {
            changed = damage.apply(&mut bytes);
        }
        std::fs::write(dir.join("segments").join(name), bytes).unwrap();
    }
    for (name, bytes) in &scn.data_files {
        std::fs::write(dir.join("data").join(name), bytes).unwrap();
    }
    changed
}

/// Damages a copy of the scenario, recovers it and checks everything.
fn check(scn: &Scenario, damage: Damage) {
    let dir = common::scratch_dir();
    let (from, to) = install(scn, dir.path(), damage);
    let seg = damage.segment();
    let header_hit = from < HEADER_BYTES && from < to;
    let lost: HashSet<usize> = (0..scn.records.len())
        .filter(|i| {
            let r = &scn.records[*i];
            r.segment == seg && from < to && (header_hit || (r.start < to && from < r.end))
        })
        .collect();
    let opened = Spool::open((scn.config)(dir.path())).unwrap();
    let what = format!("{damage:?} (changed {from}..{to})");

    check_messages(scn, &opened, &lost, &what);
    check_report(scn, &opened, damage, &lost, &what);
    let ids = |o: &Opened| o.messages.iter().map(|m| (m.id, m.done.clone(), m.schedule)).collect::<Vec<_>>();
    let first = ids(&opened);
    opened.spool.close();
    // Everything was settled: a second recovery finds the same and nothing to report.
    let again = Spool::open((scn.config)(dir.path())).unwrap();
    assert_eq!(ids(&again), first, "{what}: reopened");
    let report = &again.report;
    assert!(
        report.is_clean() && report.quarantined.is_empty() && report.torn_bytes == 0,
        "{what}: {report:?}"
    );
}

/// The messages the survivors of `lost` leave live, less those whose data file is gone (a
/// lost `Done` can bring back a finished message whose data file was removed): those are
/// the second set, lost too.
fn expected(scn: &Scenario, lost: &HashSet<usize>) -> (BTreeMap<MessageId, State>, BTreeSet<MessageId>) {
    let mut live = replay(scn.records.iter().enumerate().filter(|(i, _)| !lost.contains(i)).map(|(_, r)| r));
    let external: HashSet<MessageId> = scn
        .records
        .iter()
        .filter(|r| matches!(r.decoded, Decoded::Message { data: record::DataRef::External { .. }, .. }))
        .map(Rec::decoded_id)
        .collect();
    let files: HashSet<&str> = scn.data_files.iter().map(|(name, _)| name.as_str()).collect();
    let gone: BTreeSet<MessageId> = live
        .keys()
        .filter(|id| external.contains(id) && !files.contains(format!("{id}.eml").as_str()))
        .copied()
        .collect();
    live.retain(|id, _| !gone.contains(id));
    (live, gone)
}

fn check_messages(scn: &Scenario, opened: &Opened, lost: &HashSet<usize>, what: &str) {
    let (expected, _) = expected(scn, lost);
    let found: BTreeMap<MessageId, State> = opened
        .messages
        .iter()
        .map(|m| {
            let state = State {
                recipients: m.envelope.recipients.len(),
                done: m.done.iter().copied().collect(),
                schedule: m.schedule,
            };
            (m.id, state)
        })
        .collect();
    assert_eq!(found, expected, "{what}");
    for m in &opened.messages {
        let (envelope, data) = &scn.contents[&m.id];
        assert_eq!(&m.envelope, envelope, "{what}: envelope of {}", m.id);
        assert_eq!(&opened.spool.read_data(m.id).unwrap(), data, "{what}: data of {}", m.id);
    }
}

fn check_report(scn: &Scenario, opened: &Opened, damage: Damage, lost: &HashSet<usize>, what: &str) {
    let report = &opened.report;
    let seg = damage.segment();
    let (_, gone) = expected(scn, lost);
    let mut truly = truly_lost(scn, lost);
    let reported: BTreeSet<MessageId> = report.lost_messages.iter().copied().collect();
    let mut required = named_by_survivors(scn, lost, &truly);
    required.extend(gone.iter().copied());
    truly.extend(gone);
    assert!(reported.is_subset(&truly), "{what}: reported {reported:?}, lost {truly:?}");
    assert!(required.is_subset(&reported), "{what}: {reported:?}");
    if lost.is_empty() {
        return assert!(report.is_clean() && report.quarantined.is_empty(), "{what}: {report:?}");
    }
    let first = lost.iter().min().map(|i| &scn.records[*i]).unwrap();
    let last_end = lost.iter().map(|i| scn.records[*i].end).max().unwrap();
    let seg_len = scn.segments[seg].1.len() as u64;
    match (damage, report.quarantined.as_slice()) {
        (Damage::Truncate { at, .. }, []) => {
            let kept = scn.records.iter().filter(|r| r.segment == seg && r.end <= at).map(|r| r.end).max();
            assert_eq!(report.torn_bytes, at - kept.unwrap_or(HEADER_BYTES), "{what}");
        }
        (_, [q]) if q.offset == 0 && q.len == seg_len => {
            assert!(lost.len() == scn.records.iter().filter(|r| r.segment == seg).count(), "{what}")
        }
        (Damage::Flip { .. } | Damage::Zero { .. }, [q]) => {
            assert_eq!((q.offset, q.offset + q.len), (first.start, last_end), "{what}");
            let Decoded::Message { id, .. } = first.decoded else { return };
            let frame_intact = match damage {
                Damage::Flip { at, .. } => at >= first.start + FRAME_BYTES as u64,
                _ => false,
            };
            if frame_intact && truly.contains(&id) {
                assert!(reported.contains(&id), "{what}: {id} not named");
            }
        }
        // Damage to the last record may look like a torn append (zeros from a sector on).
        (Damage::Flip { .. } | Damage::Zero { .. }, []) => {
            assert!(last_end == seg_len && report.torn_bytes > 0, "{what}: {report:?}");
        }
        _ => panic!("{what}: unexpected {report:?}"),
    }
}

/// Messages whose `Message` record was lost and that would be live had only it survived.
fn truly_lost(scn: &Scenario, lost: &HashSet<usize>) -> BTreeSet<MessageId> {
    lost.iter()
        .filter_map(|i| match &scn.records[*i].decoded {
            Decoded::Message { id, .. } => Some((*i, *id)),
            _ => None,
        })
        .filter(|(keep, _)| {
            let survivors = scn.records.iter().enumerate().filter(|(j, _)| j == keep || !lost.contains(j));
            replay(survivors.map(|(_, r)| r)).contains_key(&scn.records[*keep].decoded_id())
        })
        .map(|(_, id)| id)
        .collect()
}

/// The truly lost messages that a surviving record names: recovery must report these.
fn named_by_survivors(
    scn: &Scenario,
    lost: &HashSet<usize>,
    truly: &BTreeSet<MessageId>,
) -> BTreeSet<MessageId> {
    scn.records
        .iter()
        .enumerate()
        .filter(|(i, r)| !lost.contains(i) && !matches!(r.decoded, Decoded::Message { .. }))
        .filter_map(|(_, r)| id_of(&r.decoded))
        .filter(|id| truly.contains(id))
        .collect()
}

impl Rec {
    fn decoded_id(&self) -> MessageId {
        id_of(&self.decoded).unwrap_or(MessageId(0))
    }
}

fn one_segment(dir: &Path) -> SpoolConfig {
    SpoolConfig { inline_bytes_max: 2048, ..SpoolConfig::new(dir) }
}

fn small_segments(dir: &Path) -> SpoolConfig {
    SpoolConfig { segment_bytes_max: 12 * 1024, inline_bytes_max: 2048, ..SpoolConfig::new(dir) }
}

/// Positions in every field of every record of segment `seg`.
fn field_positions(scn: &Scenario, seg: usize) -> Vec<u64> {
    let mut out = Vec::new();
    for r in scn.records.iter().filter(|r| r.segment == seg) {
        let payload = r.start + FRAME_BYTES as u64;
        out.extend([
            r.start,
            r.start + 3,
            r.start + 4,
            r.start + 6,
            r.start + 12,
            r.start + 18,
            r.start + 23,
            r.start + 24,
        ]);
        if payload < r.end {
            out.extend([payload, (payload + r.end) / 2, r.end - 1]);
        }
    }
    out
}

#[test]
fn a_flipped_bit_in_any_field_of_any_record_loses_only_that_record() {
    let scn = scenario(one_segment, 24);
    assert_eq!(scn.segments.len(), 1);
    assert!(
        scn.records
            .iter()
            .any(|r| matches!(r.decoded, Decoded::Message { data: record::DataRef::External { .. }, .. }))
    );
    for (n, at) in field_positions(&scn, 0).into_iter().enumerate() {
        check(&scn, Damage::Flip { segment: 0, at, bit: (n % 8) as u8 });
    }
}

#[test]
fn flipped_bits_across_the_segment_lose_only_their_records() {
    let scn = scenario(one_segment, 24);
    let len = scn.segments[0].1.len() as u64;
    let step = (len / 150).max(1);
    for (n, at) in (HEADER_BYTES..len).step_by(step as usize).enumerate() {
        check(&scn, Damage::Flip { segment: 0, at: at + n as u64 % 7, bit: (n * 3 % 8) as u8 });
    }
}

#[test]
fn zeroed_ranges_lose_exactly_the_records_they_touch() {
    let scn = scenario(one_segment, 24);
    let len = scn.segments[0].1.len() as u64;
    let starts: Vec<u64> = scn.records.iter().map(|r| r.start).collect();
    for (i, start) in starts.iter().enumerate() {
        let zero = |from: u64, to: u64| {
            let to = to.min(len);
            Damage::Zero { segment: 0, from: from.max(HEADER_BYTES).min(to), to }
        };
        // Across a boundary, inside a frame, over several records, one byte.
        check(&scn, zero(start - 3, start + 5));
        check(&scn, zero(start + 5, start + 20));
        check(&scn, zero(start + 30, starts.get(i + 2).copied().unwrap_or(len) + 10));
        check(&scn, zero(start + 40, start + 41));
    }
}

#[test]
fn truncation_anywhere_keeps_the_records_before_it() {
    let scn = scenario(one_segment, 24);
    let len = scn.segments[0].1.len() as u64;
    for r in &scn.records {
        for at in [r.start, r.start + 1, r.start + 24, r.start + 26, (r.start + r.end) / 2] {
            check(&scn, Damage::Truncate { segment: 0, at: at.min(len) });
        }
    }
}

#[test]
fn damage_in_one_segment_spares_the_others_and_a_damaged_header_quarantines_its_segment() {
    let scn = scenario(small_segments, 40);
    assert!(scn.segments.len() >= 3, "{} segments", scn.segments.len());
    // Done and Schedule records in later segments name messages of earlier ones.
    let first_ids: HashSet<MessageId> = scn
        .records
        .iter()
        .filter(|r| r.segment == 0 && matches!(r.decoded, Decoded::Message { .. }))
        .map(Rec::decoded_id)
        .collect();
    assert!(scn.records.iter().any(|r| r.segment > 0
        && !matches!(r.decoded, Decoded::Message { .. })
        && first_ids.contains(&r.decoded_id())));
    for seg in 0..scn.segments.len() {
        for (n, at) in [0, 8, 12, 20, 35].into_iter().enumerate() {
            check(&scn, Damage::Flip { segment: seg, at, bit: n as u8 });
        }
        for (n, at) in field_positions(&scn, seg).into_iter().enumerate().step_by(5) {
            check(&scn, Damage::Flip { segment: seg, at, bit: (n % 8) as u8 });
        }
        let len = scn.segments[seg].1.len() as u64;
        check(&scn, Damage::Zero { segment: seg, from: len / 3, to: len / 2 });
        check(&scn, Damage::Truncate { segment: seg, at: len * 2 / 3 });
    }
}

/// A lost message whose loss is only known from a later record is named, and a segment moved
/// into quarantine does not keep its number from being skipped by new segments.
#[test]
fn messages_of_a_quarantined_segment_are_named_by_later_records_and_new_segments_come_after_it() {
    let scn = scenario(small_segments, 40);
    let last = scn.segments.len() - 1;
    for seg in [0, last] {
        let dir = common::scratch_dir();
        install(&scn, dir.path(), Damage::Flip { segment: seg, at: 20, bit: 0 });
        let opened = Spool::open(small_segments(dir.path())).unwrap();
        let lost: HashSet<usize> =
            (0..scn.records.len()).filter(|i| scn.records[*i].segment == seg).collect();
        let truly = truly_lost(&scn, &lost);
        let named = named_by_survivors(&scn, &lost, &truly);
        assert_eq!(
            opened.report.lost_messages.iter().copied().collect::<BTreeSet<_>>(),
            named,
            "segment {seg}"
        );
        assert!(seg == last || !named.is_empty());
        assert!(opened.report.unnamed_losses_possible);
        // The next segment is numbered after every one seen, the quarantined one included.
        let id = wait(|cb| opened.spool.enqueue(envelope(1, 0), 0, vec![1; 13_000], cb)).unwrap();
        let (newest, _) = segment::list_segments(&dir.path().join("segments")).unwrap().pop().unwrap();
        assert!(newest > scn.segments.len() as u64, "{newest}");
        opened.spool.close();
        let again = Spool::open(small_segments(dir.path())).unwrap();
        assert!(again.report.is_clean(), "{:?}", again.report);
        assert!(again.messages.iter().any(|m| m.id == id));
    }
}
