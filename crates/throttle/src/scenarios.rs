//! Deterministic generators of the acceptance scenarios S1-S10 (PRODUCT.md) and the
//! building blocks for other traces. Trace time 0 is a Monday 00:00; addresses come from the
//! documentation ranges 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::policy::{Cidr, Policy};
use crate::sim::{self, ReplayOptions, Report, SimError, Trace};

const HOUR: f64 = 3600.0;
const DAY: f64 = 24.0 * HOUR;

/// A tiny deterministic PRNG (SplitMix64): scenarios must be reproducible without a crate.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Builds traces from steady or time-varying message streams.
#[derive(Debug, Clone)]
pub struct TraceBuilder {
    rng: Rng,
    trace: Trace,
}

impl TraceBuilder {
    /// An empty builder with a seed.
    pub fn new(seed: u64) -> TraceBuilder {
        TraceBuilder { rng: Rng::new(seed), trace: Trace::new() }
    }

    /// The builder's random generator (for addresses and times).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// One message (one recipient) at `time_s`.
    pub fn message(&mut self, time_s: f64, ip: IpAddr, label: &str) {
        let l = self.trace.label(label);
        // Saturating float-to-int conversion of a non-negative time.
        self.trace.push(time_s.max(0.0) as u64, ip, 1, Some(l));
    }

    /// Messages from `ip` between `start_s` and `end_s` at `per_hour(t)` messages per hour,
    /// spacing jittered by +-30% so that arrivals are not metronomic.
    pub fn stream(
        &mut self,
        ip: IpAddr,
        start_s: f64,
        end_s: f64,
        per_hour: impl Fn(f64) -> f64,
        label: &str,
    ) {
        let gap = |t: f64| HOUR / per_hour(t).max(1e-6);
        let mut t = start_s + gap(start_s) * self.rng.unit();
        while t < end_s {
            self.message(t, ip, label);
            t += gap(t) * (0.7 + 0.6 * self.rng.unit());
        }
    }

    /// `count` messages from `ip` at uniformly random times in [start_s, start_s + span_s).
    pub fn scatter(&mut self, ip: IpAddr, start_s: f64, span_s: f64, count: u32, label: &str) {
        for _ in 0..count {
            let t = start_s + span_s * self.rng.unit();
            self.message(t, ip, label);
        }
    }

    /// The trace, in time order.
    pub fn build(mut self) -> Trace {
        self.trace.sort();
        self.trace
    }
}

/// The acceptance scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// 200 messages/hour for 30 days.
    S1Steady,
    /// 5,000 every Monday 09:00-10:00 for 8 weeks, little otherwise.
    S2Seasonal,
    /// New IP from 20/hour growing 40% per day for 20 days.
    S3WarmUp,
    /// New IP sending 10,000 in its first hour.
    S4Blast,
    /// 30 days at 100/hour, then 5,000 in an hour.
    S5Hijack,
    /// 200 new IPs of one /24, 60 messages each in the same hour.
    S6Snowshoe,
    /// 5,000 addresses of one /64, 10 messages each.
    S7Ipv6Rotation,
    /// S5, then back to 100/hour for 2 hours.
    S8Recovery,
    /// S1 with a node restart on day 15.
    S9Restart,
    /// S4 traffic through an inbound connector (bypass range).
    S10Connector,
}

impl Scenario {
    /// All ten, in order.
    pub const ALL: [Scenario; 10] = [
        Scenario::S1Steady,
        Scenario::S2Seasonal,
        Scenario::S3WarmUp,
        Scenario::S4Blast,
        Scenario::S5Hijack,
        Scenario::S6Snowshoe,
        Scenario::S7Ipv6Rotation,
        Scenario::S8Recovery,
        Scenario::S9Restart,
        Scenario::S10Connector,
    ];

    /// `S1` .. `S10`.
    pub fn name(self) -> &'static str {
        let names = ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10"];
        names[Scenario::ALL.iter().position(|s| *s == self).unwrap_or(0)]
    }
}

/// A generated scenario: its trace and how to replay it.
#[derive(Debug, Clone)]
pub struct ScenarioTrace {
    /// Which scenario.
    pub scenario: Scenario,
    /// The events, labelled.
    pub trace: Trace,
    /// Restart point (S9).
    pub restart_at_s: Option<u64>,
    /// Connector ranges the operator declared (S10).
    pub bypass: Vec<Cidr>,
}

impl ScenarioTrace {
    /// The default policy plus the scenario's connector ranges.
    pub fn policy(&self) -> Policy {
        Policy { bypass: self.bypass.clone(), ..Policy::default() }
    }

    /// Replay options (restart point).
    pub fn options(&self) -> ReplayOptions {
        ReplayOptions { epoch_s: 0, restart_at_s: self.restart_at_s }
    }

    /// Replays the scenario through a fresh engine.
    pub fn run(&self) -> Result<Report, SimError> {
        sim::replay(&self.trace, self.policy(), &self.options())
    }
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// Generates `scenario` deterministically from `seed`.
pub fn generate(scenario: Scenario, seed: u64) -> ScenarioTrace {
    let mut b = TraceBuilder::new(seed);
    let (mut restart_at_s, mut bypass) = (None, Vec::new());
    match scenario {
        Scenario::S1Steady => steady(&mut b),
        Scenario::S2Seasonal => seasonal(&mut b),
        Scenario::S3WarmUp => {
            b.stream(v4(198, 51, 100, 30), 0.0, 20.0 * DAY, |t| 20.0 * 1.4f64.powf(t / DAY), "ramp");
        }
        Scenario::S4Blast => b.stream(v4(203, 0, 113, 40), 10.0 * HOUR, 11.0 * HOUR, |_| 10_000.0, "blast"),
        Scenario::S5Hijack => hijack(&mut b),
        Scenario::S6Snowshoe => {
            for host in 1..=200 {
                b.scatter(v4(203, 0, 113, host), 10.0 * HOUR, HOUR, 60, "snowshoe");
            }
        }
        Scenario::S7Ipv6Rotation => rotation(&mut b),
        Scenario::S8Recovery => {
            hijack(&mut b);
            let ip = v4(198, 51, 100, 50);
            b.stream(ip, 30.0 * DAY + 11.0 * HOUR, 30.0 * DAY + 13.0 * HOUR, |_| 100.0, "after");
        }
        Scenario::S9Restart => {
            steady(&mut b);
            restart_at_s = Some(15 * 24 * 3600);
        }
        Scenario::S10Connector => {
            b.stream(v4(203, 0, 113, 40), 10.0 * HOUR, 11.0 * HOUR, |_| 10_000.0, "connector");
            bypass.extend("203.0.113.32/27".parse::<Cidr>().ok());
        }
    }
    ScenarioTrace { scenario, trace: b.build(), restart_at_s, bypass }
}

fn steady(b: &mut TraceBuilder) {
    b.stream(v4(198, 51, 100, 10), 0.0, 30.0 * DAY, |_| 200.0, "steady");
}

fn seasonal(b: &mut TraceBuilder) {
    let ip = v4(198, 51, 100, 20);
    for week in 0..8u32 {
        let monday = f64::from(week) * 7.0 * DAY;
        let label = format!("monday-{}", week + 1);
        b.stream(ip, monday + 9.0 * HOUR, monday + 10.0 * HOUR, |_| 5000.0, &label);
        // "Little otherwise": a few messages an hour in office hours, Monday to Friday.
        let background = format!("background-{}", week + 1);
        for day in 0..5 {
            let start = monday + f64::from(day) * DAY + 8.0 * HOUR;
            b.stream(ip, start, start + 10.0 * HOUR, |_| 3.0, &background);
        }
    }
}

fn hijack(b: &mut TraceBuilder) {
    let ip = v4(198, 51, 100, 50);
    let surge = 30.0 * DAY + 10.0 * HOUR;
    b.stream(ip, 0.0, surge, |_| 100.0, "history");
    b.stream(ip, surge, surge + HOUR, |_| 5000.0, "surge");
}

fn rotation(b: &mut TraceBuilder) {
    let start = 10.0 * HOUR;
    let step = HOUR / 50_000.0;
    for i in 0..5000u32 {
        let iid = b.rng().next_u64();
        let ip = IpAddr::V6(Ipv6Addr::from((0x2001_0db8_0007_0007u128 << 64) | u128::from(iid)));
        for k in 0..10u32 {
            b.message(start + f64::from(i * 10 + k) * step, ip, "rotation");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        let a = generate(Scenario::S6Snowshoe, 7);
        let b = generate(Scenario::S6Snowshoe, 7);
        assert_eq!(a.trace, b.trace);
        assert_eq!(a.trace.events.len(), 12_000);
        assert_ne!(generate(Scenario::S6Snowshoe, 8).trace, a.trace);
    }

    #[test]
    fn steady_stream_has_the_requested_rate() {
        let mut b = TraceBuilder::new(1);
        b.stream(v4(198, 51, 100, 1), 0.0, 10.0 * HOUR, |_| 200.0, "x");
        let n = b.build().events.len();
        assert!((1900..=2100).contains(&n), "{n}");
    }
}
