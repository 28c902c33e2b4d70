//! Fleet mode in the engine: counts exported by one engine and merged into another make
//! both decide on the traffic of the two.

use std::net::IpAddr;

use throttle::exchange::{ExchangeError, KeyDelta, decode_deltas, encode_deltas};
use throttle::{Core, Engine, Policy, ThrottleKey};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an IP address")
}

fn exchanging() -> Engine {
    let e = Engine::new(Policy::default());
    e.enable_exchange(100_000);
    e
}

fn export(e: &Engine) -> Vec<KeyDelta> {
    let mut deltas = Vec::new();
    e.export(&mut deltas, None);
    deltas
}

/// Every `every_s` seconds each engine's counts are merged into the other.
fn blast_over_two(total: u32, per_s: u32, every_s: u64) -> u32 {
    let nodes = [exchanging(), exchanging()];
    let mut accepted = 0;
    for k in 0..total {
        let now = u64::from(k / per_s);
        accepted += nodes[(k % 2) as usize].decide(ip("203.0.113.7"), 1, now).accepted;
        if (k + 1) % (per_s * every_s as u32) == 0 {
            let (a, b) = (export(&nodes[0]), export(&nodes[1]));
            nodes[1].merge_remote(&a, now);
            nodes[0].merge_remote(&b, now);
        }
    }
    accepted
}

#[test]
fn a_blast_over_two_exchanging_engines_is_deferred_like_one_engine() {
    let single = Engine::new(Policy::default());
    let alone: u32 =
        (0..20_000u32).map(|k| single.decide(ip("203.0.113.7"), 1, u64::from(k / 5)).accepted).sum();
    let fleet = blast_over_two(20_000, 5, 1);
    // One engine: a bucket of 100 and the 300/h floor over 4,000 s.
    assert!((420..=440).contains(&alone), "{alone}");
    // Two nodes may each take a bucket before they hear of each other; the debt pays it back.
    let diff = f64::from(fleet.abs_diff(alone)) / 20_000.0;
    assert!(diff < 0.01, "single {alone}, fleet {fleet}");
}

#[test]
fn without_exchange_two_engines_each_give_a_whole_allowance() {
    let nodes = [Engine::new(Policy::default()), Engine::new(Policy::default())];
    let accepted: u32 =
        (0..2_000u32).map(|k| nodes[(k % 2) as usize].decide(ip("203.0.113.7"), 1, 0).accepted).sum();
    assert_eq!(accepted, 200, "the case exchange exists for: each node's own bucket of 100");
    assert!(export(&nodes[0]).is_empty(), "nothing is counted for export unless enabled");
}

#[test]
fn merged_counts_show_in_the_other_engine() {
    let (a, b) = (exchanging(), exchanging());
    a.decide(ip("198.51.100.7"), 60, 1_000);
    let deltas = export(&a);
    assert_eq!(deltas.len(), 2, "the IP and its prefix");
    assert!(export(&a).is_empty(), "exported once");
    let d = deltas.iter().find(|d| d.key() == ThrottleKey::Ip(ip("198.51.100.7"))).unwrap();
    assert_eq!((d.attempted, d.accepted, d.at_s, d.first_seen_h), (60, 60, 1_000, 0));
    let p = deltas.iter().find(|d| d.key() != ThrottleKey::Ip(ip("198.51.100.7"))).unwrap();
    assert_eq!(p.new_ips, 1);
    assert_eq!(b.merge_remote(&deltas, 1_001), 2);
    let (xa, xb) = (a.peek(ip("198.51.100.7"), 1_002), b.peek(ip("198.51.100.7"), 1_002));
    assert_eq!(xb.ip_state.accepted_this_hour, 60);
    assert_eq!(xa.ip_state.available_now, xb.ip_state.available_now);
    assert_eq!(xb.prefix_state.new_ips_recent, 1);
    assert!(export(&b).is_empty(), "merged counts are not sent back");
}

#[test]
fn a_deferral_is_known_to_the_other_engine() {
    let (a, b) = (exchanging(), exchanging());
    assert!(a.decide(ip("198.51.100.9"), 500, 7_200).deferred > 0);
    b.merge_remote(&export(&a), 7_201);
    let x = b.peek(ip("198.51.100.9"), 7_202);
    assert_eq!(x.ip_state.deferred_hours_ago, Some(0));
    assert_eq!(x.verdict, throttle::Verdict::Defer, "the bucket is spent on both");
}

#[test]
fn the_pending_table_is_bounded_and_counts_what_it_drops() {
    let e = Engine::new(Policy { shards: 1, ..Policy::default() });
    e.enable_exchange(10);
    for n in 0..20u32 {
        e.decide(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n)), 1, 0);
    }
    let mut deltas = Vec::new();
    let stats = e.export(&mut deltas, None);
    assert_eq!(stats.keys, 10);
    assert_eq!(deltas.len(), 10);
    assert_eq!(stats.dropped, 11, "20 IPs and their prefix, room for 10");
    assert!(e.tracked_keys() > 10, "decisions go on whatever the table holds");
}

#[test]
fn wire_form_round_trips_and_refuses_damage() {
    let a = exchanging();
    a.decide(ip("2001:db8::5"), 300, 50);
    a.decide(ip("198.51.100.7"), 3, 60);
    let deltas = export(&a);
    let mut bytes = Vec::new();
    encode_deltas(&deltas, &mut bytes);
    assert_eq!(decode_deltas(&bytes).unwrap(), deltas);
    assert_eq!(decode_deltas(b"nope"), Err(ExchangeError::BadMagic));
    assert!(matches!(decode_deltas(&bytes[..bytes.len() - 1]), Err(ExchangeError::Length { .. })));
    let mut claims_more = bytes.clone();
    claims_more[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(decode_deltas(&claims_more), Err(ExchangeError::Length { .. })));
    let mut newer = bytes.clone();
    newer[4] = 9;
    assert_eq!(decode_deltas(&newer), Err(ExchangeError::UnsupportedVersion(9)));
    let mut bad_plen = bytes.clone();
    bad_plen[9 + 16] = 200;
    assert!(matches!(decode_deltas(&bad_plen), Err(ExchangeError::Corrupt { index: 0, .. })));
    let mut rng = 0x9e37_79b9_u64;
    for _ in 0..500 {
        let mut fuzzed = bytes.clone();
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let at = (rng >> 33) as usize % fuzzed.len();
        fuzzed[at] = (rng >> 20) as u8;
        if let Ok(d) = decode_deltas(&fuzzed) {
            Engine::new(Policy::default()).merge_remote(&d, 100);
        }
    }
}

#[test]
fn a_new_engine_starts_from_shared_records_and_keeps_newer_ones() {
    let a = exchanging();
    for h in 0..100u64 {
        a.decide(ip("198.51.100.7"), 40, h * 3600);
    }
    let mut records = Vec::new();
    a.export(&mut Vec::new(), Some(&mut records));
    assert_eq!(records.len(), 2);
    let fresh = Engine::new(Policy::default());
    assert_eq!(fresh.import_shared(&records).unwrap(), 2);
    let now = 100 * 3600;
    assert_eq!(fresh.peek(ip("198.51.100.7"), now), a.peek(ip("198.51.100.7"), now));
    assert!(fresh.peek(ip("198.51.100.7"), now).ip_state.established);
    // A node with a newer record keeps it.
    fresh.decide(ip("198.51.100.7"), 5, now + 10);
    let before = fresh.peek(ip("198.51.100.7"), now + 20);
    assert_eq!(fresh.import_shared(&records).unwrap(), 0);
    assert_eq!(fresh.peek(ip("198.51.100.7"), now + 20), before);
    let mut damaged = records.clone();
    damaged[0].key[3] ^= 1;
    assert!(matches!(fresh.import_shared(&damaged), Err(ExchangeError::Corrupt { index: 0, .. })));
}

#[test]
fn cores_exchange_like_engines() {
    let mut cores = [Core::new(Policy::default()).unwrap(), Core::new(Policy::default()).unwrap()];
    for c in &mut cores {
        c.enable_exchange(1_000);
    }
    cores[0].decide(ip("203.0.113.8"), 80, 10);
    let mut deltas = Vec::new();
    cores[0].export(&mut deltas);
    assert_eq!(cores[1].merge_remote(&deltas, 11), 2);
    assert_eq!(
        cores[1].decide(ip("203.0.113.8"), 80, 12).accepted,
        20,
        "100 in the bucket, 80 used on the other"
    );
}
