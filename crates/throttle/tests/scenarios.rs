//! PRODUCT.md's acceptance scenarios S1-S10 with the default policy, plus traces the
//! scenarios do not cover (other rates, other recurring hours, slower ramps).

use std::net::IpAddr;

use throttle::scenarios::{Scenario, TraceBuilder, generate};
use throttle::sim::{self, ReplayOptions, Report};
use throttle::{Engine, Policy};

const HOUR: f64 = 3600.0;
const DAY: f64 = 24.0 * HOUR;
const SEED: u64 = 0x51_u64;

fn run(s: Scenario) -> Report {
    let report = generate(s, SEED).run().expect("scenario replays");
    for (label, t) in &report.labels {
        eprintln!("{} {label}: {t:?} fraction {:.4}", s.name(), t.deferred_fraction());
    }
    report
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test IP")
}

#[test]
fn s1_steady_sender_is_never_deferred() {
    assert_eq!(run(Scenario::S1Steady).overall.deferred, 0);
}

#[test]
fn s2_seasonal_peak_is_learned_by_the_fourth_monday() {
    let r = run(Scenario::S2Seasonal);
    for week in 4..=8 {
        assert_eq!(r.label(&format!("monday-{week}")).deferred, 0, "monday {week}");
        assert_eq!(r.label(&format!("background-{week}")).deferred, 0, "week {week}");
    }
}

#[test]
fn s3_warm_up_is_under_one_percent() {
    let f = run(Scenario::S3WarmUp).overall.deferred_fraction();
    assert!(f < 0.01, "{f}");
}

#[test]
fn s4_blast_from_new_ip_is_deferred() {
    let f = run(Scenario::S4Blast).overall.deferred_fraction();
    assert!(f >= 0.95, "{f}");
}

#[test]
fn s5_hijack_surge_is_deferred() {
    let st = generate(Scenario::S5Hijack, SEED);
    let r = st.run().unwrap();
    assert_eq!(r.label("history").deferred, 0);
    // The allowance the IP had when the surge began, from its history alone.
    let mut history = st.trace.clone();
    history.events.retain(|e| history.labels[e.label.unwrap() as usize] == "history");
    let (_, engine) = sim::replay_on(Engine::new(st.policy()), &history, &ReplayOptions::default()).unwrap();
    let surge_start = (30.0 * DAY + 10.0 * HOUR) as u64;
    let allowance = engine.peek(ip("198.51.100.50"), surge_start).ip_state.allowance_per_hour as f64;
    let surge = r.label("surge");
    let total = (surge.accepted + surge.deferred) as f64;
    let excess = total - allowance;
    assert!(surge.deferred as f64 >= 0.9 * excess, "{surge:?} allowance {allowance}");
    assert!(surge.deferred_fraction() >= 0.8, "{surge:?}");
}

#[test]
fn s6_snowshoe_is_caught_by_the_prefix() {
    let f = run(Scenario::S6Snowshoe).overall.deferred_fraction();
    assert!(f >= 0.8, "{f}");
}

#[test]
fn s7_ipv6_rotation_is_caught_by_the_prefix() {
    let f = run(Scenario::S7Ipv6Rotation).overall.deferred_fraction();
    assert!(f >= 0.95, "{f}");
}

#[test]
fn s8_recovers_after_the_surge() {
    let r = run(Scenario::S8Recovery);
    assert!(r.label("after").attempts > 150);
    assert_eq!(r.label("after").deferred, 0);
}

#[test]
fn s9_restart_keeps_history() {
    assert_eq!(run(Scenario::S9Restart).overall.deferred, 0);
}

#[test]
fn s10_connector_is_never_deferred() {
    let r = run(Scenario::S10Connector);
    assert_eq!(r.overall.deferred, 0);
    assert_eq!(r.overall.accepted, r.overall.attempts);
}

// Traces beyond the ten scenarios: behaviour, not numbers.

fn replay(b: TraceBuilder) -> Report {
    sim::replay(&b.build(), Policy::default(), &ReplayOptions::default()).expect("trace replays")
}

#[test]
fn steady_senders_at_other_rates() {
    let mut b = TraceBuilder::new(SEED);
    b.stream(ip("198.51.100.61"), 0.0, 30.0 * DAY, |_| 20.0, "20/h");
    b.stream(ip("2001:db8:61::1"), 0.0, 30.0 * DAY, |_| 280.0, "280/h");
    let r = replay(b);
    assert_eq!(r.overall.deferred, 0, "{r:?}");
}

#[test]
fn established_2000_per_hour_sender_is_never_deferred() {
    // Warmed up at 40% a day from 100/h, then a steady 2,000/h for 30 days.
    let mut b = TraceBuilder::new(SEED);
    let who = ip("198.51.100.67");
    let ramp_days = (20.0f64).ln() / 1.4f64.ln();
    b.stream(who, 0.0, ramp_days * DAY, |t| 100.0 * 1.4f64.powf(t / DAY), "ramp");
    b.stream(who, ramp_days * DAY, (ramp_days + 30.0) * DAY, |_| 2000.0, "steady");
    let r = replay(b);
    assert_eq!(r.overall.deferred, 0, "{r:?}");
}

#[test]
fn new_2000_per_hour_sender_earns_its_allowance_within_three_days() {
    let mut b = TraceBuilder::new(SEED);
    let who = ip("203.0.113.62");
    b.stream(who, 0.0, 3.0 * DAY, |_| 2000.0, "earning");
    b.stream(who, 3.0 * DAY, 14.0 * DAY, |_| 2000.0, "earned");
    let r = replay(b);
    assert_eq!(r.label("earned").deferred, 0, "{r:?}");
    // While earning it gets a real share through, not a trickle.
    assert!(r.label("earning").deferred_fraction() < 0.6, "{r:?}");
}

#[test]
fn daily_newsletter_at_six_is_learned_within_a_week() {
    let mut b = TraceBuilder::new(SEED);
    let who = ip("198.51.100.63");
    for day in 0..21 {
        let six = f64::from(day) * DAY + 6.0 * HOUR;
        let label = if day < 7 { "first-week" } else { "later" };
        b.stream(who, six, six + HOUR, |_| 3000.0, label);
        b.stream(who, six + 2.0 * HOUR, six + 12.0 * HOUR, |_| 10.0, "background");
    }
    let r = replay(b);
    assert_eq!(r.label("later").deferred, 0, "{r:?}");
    assert_eq!(r.label("background").deferred, 0);
}

#[test]
fn weekly_peak_at_another_hour() {
    let mut b = TraceBuilder::new(SEED);
    let who = ip("2001:db8:64::25");
    for week in 0..6u32 {
        let wednesday_14 = f64::from(week) * 7.0 * DAY + 2.0 * DAY + 14.0 * HOUR;
        let label = if week < 3 { "learning" } else { "learned" };
        b.stream(who, wednesday_14, wednesday_14 + HOUR, |_| 8000.0, label);
    }
    let r = replay(b);
    assert_eq!(r.label("learned").deferred, 0, "{r:?}");
}

#[test]
fn slower_warm_up_is_never_throttled() {
    let mut b = TraceBuilder::new(SEED);
    b.stream(ip("198.51.100.65"), 0.0, 30.0 * DAY, |t| 50.0 * 1.2f64.powf(t / DAY), "ramp");
    let r = replay(b);
    assert!(r.overall.deferred_fraction() < 0.001, "{r:?}");
}

#[test]
fn hammering_does_not_warm_up_faster_than_sending_over_the_allowance() {
    // Two new IPs in different networks, both over their allowance all day: one at 20,000/h,
    // one at 5,000/h. Deferred attempts must buy the hammerer nothing.
    let mut b = TraceBuilder::new(SEED);
    b.stream(ip("198.51.100.66"), 0.0, DAY, |_| 20_000.0, "hammer");
    b.stream(ip("203.0.113.66"), 0.0, DAY, |_| 5_000.0, "steady-over");
    let r = replay(b);
    let (hammer, over) = (r.label("hammer"), r.label("steady-over"));
    assert!(over.deferred > 0, "{over:?}");
    let ratio = hammer.accepted as f64 / over.accepted as f64;
    assert!((0.98..=1.02).contains(&ratio), "{hammer:?} vs {over:?}");
}

#[test]
fn slow_ipv6_rotation_over_a_day_is_still_caught() {
    let mut b = TraceBuilder::new(SEED);
    let step = DAY / 50_000.0;
    for i in 0..5000u32 {
        let iid = u128::from(b.rng().next_u64());
        let who = IpAddr::V6(std::net::Ipv6Addr::from((0x2001_0db8_0009_0009u128 << 64) | iid));
        for k in 0..10u32 {
            b.message(f64::from(i * 10 + k) * step, who, "rotation");
        }
    }
    let f = replay(b).overall.deferred_fraction();
    assert!(f >= 0.95, "{f}");
}

#[test]
fn established_neighbours_are_not_deferred_by_a_snowshoe_next_door() {
    let mut b = TraceBuilder::new(SEED);
    let neighbour = ip("203.0.113.250");
    b.stream(neighbour, 0.0, 10.0 * DAY, |_| 150.0, "neighbour");
    for host in 1..=200u8 {
        b.scatter(ip(&format!("203.0.113.{host}")), 9.0 * DAY, HOUR, 60, "snowshoe");
    }
    let r = replay(b);
    assert_eq!(r.label("neighbour").deferred, 0, "{r:?}");
    assert!(r.label("snowshoe").deferred_fraction() >= 0.8, "{r:?}");
}
