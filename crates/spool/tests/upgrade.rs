//! A spool written by the previous release (segment format 1, `tests/fixtures/v1-segment.log`,
//! written by that release's code) is recovered, never appended to, and compacted into the
//! current format without losing anything.
//!
//! The fixture holds: message A (two recipients, DSN parameters, TLS; recipient 1 done),
//! message B (one recipient), message C (4000 bytes, done, so the segment is mostly dead).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use smtp_wire::{Attribution, Envelope, Notify, OriginalRecipient, Ret};
use spool::{MessageId, Spool, SpoolConfig, SpooledMessage};

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

/// The fixture's framed records, in order.
fn fixture_records() -> Vec<&'static [u8]> {
    let mut out = Vec::new();
    let mut rest = &FIXTURE[32..];
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
