//! Spools written by earlier releases (segment formats 1 and 2, `tests/fixtures/v1-segment.log`
//! and `v2-segment.log`, each written by its release's code) are recovered, never appended
//! to, and compacted into the current format without losing anything.
//!
//! The format 1 fixture holds: message A (two recipients, DSN parameters, TLS; recipient 1
//! done), message B (one recipient), message C (4000 bytes, done, so the segment is mostly
//! dead). The format 2 fixture holds the same with an attribution on A and two `Schedule`
//! records of A: A, Done(A: 1), Schedule(A: 1 attempt), B, C, Schedule(A: 2 attempts, delay
//! notice sent), Done(C).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use smtp_wire::{Attribution, Envelope, Notify, OriginalRecipient, Ret};
use spool::{MessageId, Schedule, Spool, SpoolConfig, SpooledMessage};

const FIXTURE: &[u8] = include_bytes!("fixtures/v1-segment.log");
const A: MessageId = MessageId(117_665_937_415_864_320);
const B: MessageId = MessageId(117_665_937_415_995_392);
const A_DATA: &[u8] = b"Subject: a\r\n\r\nfirst\r\n";
const B_DATA: &[u8] = b"Subject: b\r\n\r\nsecond\r\n";

fn envelope_a() -> Envelope {
    let mut env = envelope(2);
    env.ret = Some(Ret::Headers);
    env.envid = Some("v1-envid".into());
    env.recipients[1].notify = Some(Notify::On { success: false, failure: true, delay: true });
    env.recipients[1].orcpt =
        Some(OriginalRecipient { addr_type: "rfc822".into(), address: "orig@example.org".into() });
    env.client.tls = Some("TLSv1.3 TLS13_AES_128_GCM_SHA256".into());
    env
}

/// The format 1 fixture's records, in order.
fn fixture_records() -> Vec<&'static [u8]> {
    legacy_records(FIXTURE)
}

/// The records of a format 1/2 segment (`[u32 len][u32 crc][u8 type][payload]`), in order.
fn legacy_records(segment: &'static [u8]) -> Vec<&'static [u8]> {
    let mut out = Vec::new();
    let mut rest = &segment[32..];
    while !rest.is_empty() {
        let len = 9 + u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

fn install(dir: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(dir.join("segments")).unwrap();
    std::fs::write(dir.join("segments/0000000000000001.log"), bytes).unwrap();
}

fn check_a_and_b(spool: &Spool, found: &[SpooledMessage]) {
    assert_eq!(found.iter().map(|m| m.id).collect::<Vec<_>>(), vec![A, B]);
    assert_eq!(found[0].envelope, envelope_a());
    assert_eq!(found[0].envelope.client.attribution, None);
    assert_eq!((found[0].received_at_unix_ms, found[0].done.clone()), (1_700_000_000_001, vec![1]));
    assert_eq!(found[1].envelope, envelope(1));
    assert_eq!((found[1].received_at_unix_ms, found[1].done.clone()), (1_700_000_000_002, vec![]));
    assert_eq!(spool.read_data(A).unwrap(), A_DATA);
    assert_eq!(spool.read_data(B).unwrap(), B_DATA);
    assert_eq!(spool.read_envelope(A).unwrap(), envelope_a());
    assert_eq!(spool.read_envelope(B).unwrap(), envelope(1));
}

fn attributed() -> Envelope {
    let mut env = envelope(1);
    env.client.attribution =
        Some(Attribution { tenant: "t1".into(), connector: "on-prem".into(), outbound_relay: true });
    env
}

#[test]
fn a_format_1_segment_is_read_and_never_appended_to() {
    // A, its Done and B, without the dead C: the segment stays, nothing compacts it.
    let records = fixture_records();
    assert_eq!(records.len(), 5);
    let bytes: Vec<u8> = [&FIXTURE[..32], records[0], records[1], records[2]].concat();
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), &bytes);
    let (spool, found) = open(dir.path());
    check_a_and_b(&spool, &found);
    let new = enqueue(&spool, attributed(), 9, b"new".to_vec()).unwrap();
    assert!(new > B);
    complete(&spool, B, &[0]).unwrap();
    assert_eq!(segment_files(dir.path()).len(), 2);
    assert_eq!(std::fs::read(dir.path().join("segments/0000000000000001.log")).unwrap(), bytes);
    spool.close();
    let (spool, found) = open(dir.path());
    assert_eq!(found.iter().map(|m| m.id).collect::<Vec<_>>(), vec![A, new]);
    assert_eq!(found[1].envelope, attributed());
    assert_eq!(spool.read_data(A).unwrap(), A_DATA);
}

#[test]
fn a_format_1_segment_is_compacted_into_the_current_format() {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), FIXTURE);
    let (spool, found) = open(dir.path());
    check_a_and_b(&spool, &found);
    // One batch through the writer: by then it has compacted the old segment.
    let new = enqueue(&spool, attributed(), 9, b"new".to_vec()).unwrap();
    assert_eq!(spool.stats().compactions, 1);
    assert!(!dir.path().join("segments/0000000000000001.log").exists());
    check_a_and_b(&spool, &found);
    spool.close();
    for _ in 0..2 {
        let (spool, found) = open_config(SpoolConfig::new(dir.path()));
        check_a_and_b(&spool, &found[..2]);
        assert_eq!((found[2].id, &found[2].envelope), (new, &attributed()));
    }
}

const V2: &[u8] = include_bytes!("fixtures/v2-segment.log");
const V2_A: MessageId = MessageId(117_722_834_239_619_072);
const V2_B: MessageId = MessageId(117_722_834_240_143_360);
const V2_A_SCHEDULE: Schedule =
    Schedule { attempts: 2, next_attempt_unix_ms: 1_700_000_900_000, delay_notified: true };

fn v2_envelope_a() -> Envelope {
    let mut env = envelope_a();
    env.envid = Some("v2-envid".into());
    env.client.attribution =
        Some(Attribution { tenant: "t1".into(), connector: "on-prem".into(), outbound_relay: true });
    env
}

fn check_v2(spool: &Spool, found: &[SpooledMessage], a_schedule: Schedule) {
    assert_eq!(found.iter().map(|m| m.id).collect::<Vec<_>>(), vec![V2_A, V2_B]);
    assert_eq!(
        (&found[0].envelope, &found[0].done, found[0].schedule),
        (&v2_envelope_a(), &vec![1], a_schedule)
    );
    assert_eq!(
        (found[0].received_at_unix_ms, found[1].received_at_unix_ms),
        (1_700_000_000_001, 1_700_000_000_002)
    );
    assert_eq!((&found[1].envelope, found[1].schedule), (&envelope(1), Schedule::default()));
    assert_eq!(spool.read_data(V2_A).unwrap(), b"Subject: a\r\n\r\nfirst\r\n");
    assert_eq!(spool.read_data(V2_B).unwrap(), b"Subject: b\r\n\r\nsecond\r\n");
    assert_eq!(spool.read_envelope(V2_A).unwrap(), v2_envelope_a());
}

#[test]
fn a_format_2_segment_is_read_with_its_schedules_and_never_appended_to() {
    // Without C and its Done, nothing makes the segment sparse enough to compact.
    let records = legacy_records(V2);
    assert_eq!(records.len(), 7);
    let bytes: Vec<u8> = [&V2[..32], records[0], records[1], records[2], records[3], records[5]].concat();
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), &bytes);
    let (spool, found) = open(dir.path());
    check_v2(&spool, &found, V2_A_SCHEDULE);
    let new = enqueue(&spool, attributed(), 9, b"new".to_vec()).unwrap();
    complete(&spool, V2_A, &[0]).unwrap();
    assert_eq!(segment_files(dir.path()).len(), 2);
    assert_eq!(std::fs::read(dir.path().join("segments/0000000000000001.log")).unwrap(), bytes);
    spool.close();
    let (spool, found) = open(dir.path());
    assert_eq!(found.iter().map(|m| m.id).collect::<Vec<_>>(), vec![V2_B, new]);
    assert_eq!(spool.read_data(V2_B).unwrap(), b"Subject: b\r\n\r\nsecond\r\n");
}

#[test]
fn a_format_2_segment_is_compacted_into_the_current_format() {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), V2);
    let (spool, found) = open(dir.path());
    check_v2(&spool, &found, V2_A_SCHEDULE);
    enqueue(&spool, attributed(), 9, b"new".to_vec()).unwrap();
    assert_eq!(spool.stats().compactions, 1);
    assert!(!dir.path().join("segments/0000000000000001.log").exists());
    spool.close();
    let (spool, found) = open(dir.path());
    check_v2(&spool, &found[..2], V2_A_SCHEDULE);
}

/// Formats 1 and 2 have no markers to resynchronise on: damage there loses the rest of the
/// segment, as before, but the bytes go into quarantine and the loss is reported.
#[test]
fn damage_in_a_format_2_segment_is_quarantined_to_its_end() {
    let records = legacy_records(V2);
    let b_offset = 32 + records[..3].iter().map(|r| r.len()).sum::<usize>();
    let mut bytes = V2.to_vec();
    bytes[b_offset + 20] ^= 4;
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), &bytes);
    let opened = Spool::open(SpoolConfig::new(dir.path())).unwrap();
    // A with the schedule recorded before the damage; B, C and the rest are gone.
    let found = &opened.messages;
    assert_eq!(found.iter().map(|m| (m.id, m.schedule.attempts)).collect::<Vec<_>>(), vec![(V2_A, 1)]);
    let report = &opened.report;
    assert_eq!((report.records_read, report.records_lost, report.live_messages), (3, 1, 1));
    assert!(report.unnamed_losses_possible && report.lost_messages.is_empty());
    assert_eq!(report.quarantined.len(), 1);
    let q = &report.quarantined[0];
    assert_eq!((q.offset, q.len), (b_offset as u64, (V2.len() - b_offset) as u64));
    assert_eq!(std::fs::read(&q.file).unwrap(), &bytes[b_offset..]);
    assert_eq!(
        std::fs::metadata(dir.path().join("segments/0000000000000001.log")).unwrap().len(),
        b_offset as u64
    );
}
