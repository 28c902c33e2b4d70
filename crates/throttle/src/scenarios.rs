//! Deterministic generators of the acceptance scenarios and the bars they must meet, and the
//! building blocks for other traces. `docs/throttle-scenarios.md` describes each one for
//! operators. S1-S10 are the product's original promises; S11 and S12 are abuse the engine
//! must catch (fast ramps, hijacked established servers), S13-S16 legitimate traffic it must
//! leave alone, and S17 proves that history survives a restart. The engine never knows which
//! scenario it is in: it sees only `(time, IP, recipients)`.
//!
//! Trace time 0 is a Monday 00:00; addresses come from the documentation ranges
//! 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::engine::Engine;
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
        // Saturating float-to-int conversion of a non-negative time, in milliseconds.
        self.trace.push_ms((time_s.max(0.0) * 1000.0) as u64, ip, 1, Some(l));
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
    /// New IP from 20/hour tripling its volume every day for 6 days.
    S11FastRamp,
    /// 4 weeks at a steady 50/hour, then 2,000/hour for 6 hours.
    S12HijackedServer,
    /// New IP from 50/hour doubling every day for 7 days.
    S13DoublingWarmUp,
    /// New IP at 100/hour, 40% more every day in daily steps, for 10 days.
    S14SteppedWarmUp,
    /// 4 weeks of office hours with a daily peak of 2.5 times the office-hours rate.
    S15DailyPeak,
    /// 3 months (92 days) of office hours with month-end days at 2.5 times the usual rate.
    S16MonthEnd,
    /// Warmed up to 2,000/hour, steady, with a node restart on day 8.
    S17WarmRestart,
}

/// One requirement a scenario's replay must meet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bar {
    /// No recipient of these labels is deferred.
    NoneDeferred(&'static [&'static str]),
    /// At most this fraction of these labels' recipients is deferred.
    DeferredAtMost(&'static [&'static str], f64),
    /// At least this fraction of these labels' recipients is deferred.
    DeferredAtLeast(&'static [&'static str], f64),
    /// At least `fraction` of what `label` sent beyond the allowance `ip` had at `at_s`,
    /// from the traffic of `history` alone, is deferred.
    ExcessOverAllowance { label: &'static str, history: &'static str, ip: [u8; 4], at_s: u64, fraction: f64 },
    /// At least `fraction` of what `label` sent beyond `per_hour` for `hours` is deferred.
    ExcessOverRate { label: &'static str, per_hour: f64, hours: f64, fraction: f64 },
    /// The label was replayed at least this many times (the bar cannot pass on no traffic).
    AttemptsAtLeast(&'static str, u64),
    /// Each label's accepted recipients are at most `factor` times the previous label's:
    /// with one label per day, growth beyond that factor a day is deferred.
    AcceptedGrowthAtMost(&'static [&'static str], f64),
}

/// Every label of a scenario, for bars that cover the whole trace.
const ALL_LABELS: &[&str] = &[];

impl Scenario {
    /// All scenarios, in order.
    pub const ALL: [Scenario; 17] = [
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
        Scenario::S11FastRamp,
        Scenario::S12HijackedServer,
        Scenario::S13DoublingWarmUp,
        Scenario::S14SteppedWarmUp,
        Scenario::S15DailyPeak,
        Scenario::S16MonthEnd,
        Scenario::S17WarmRestart,
    ];

    /// `S1` .. `S17`.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 17] = [
            "S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10", "S11", "S12", "S13", "S14", "S15",
            "S16", "S17",
        ];
        NAMES[Scenario::ALL.iter().position(|s| *s == self).unwrap_or(0)]
    }

    /// The scenario named `name` (`S5`, `s5`).
    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name().eq_ignore_ascii_case(name.trim()))
    }

    /// What the traffic is, in one line.
    pub fn description(self) -> &'static str {
        match self {
            Scenario::S1Steady => "steady: a new IP sending 200 messages/hour for 30 days",
            Scenario::S2Seasonal => {
                "seasonal: 5,000 messages every Monday 09:00-10:00 for 8 weeks, a few an hour otherwise"
            }
            Scenario::S3WarmUp => "warm-up: a new IP starting at 20/hour, growing 40% a day for 20 days",
            Scenario::S4Blast => "blast: a new IP sending 10,000 messages in its first hour",
            Scenario::S5Hijack => "hijack: 30 days at 100/hour, then 5,000 in one hour",
            Scenario::S6Snowshoe => "snowshoe: 200 new IPs of one /24, 60 messages each in the same hour",
            Scenario::S7Ipv6Rotation => "IPv6 rotation: 5,000 addresses of one /64, 10 messages each",
            Scenario::S8Recovery => "recovery: S5, then back to 100/hour for 2 hours",
            Scenario::S9Restart => "restart: S1 with a node restart on day 15",
            Scenario::S10Connector => "connector: S4 traffic arriving through a matching inbound connector",
            Scenario::S11FastRamp => {
                "fast ramp: a new IP starting at 20/hour, tripling its volume every day for 6 days"
            }
            Scenario::S12HijackedServer => {
                "hijacked server: 4 weeks at a steady 50/hour, then 2,000/hour for 6 hours"
            }
            Scenario::S13DoublingWarmUp => {
                "doubling warm-up: a new IP starting at 50/hour, doubling every day for 7 days"
            }
            Scenario::S14SteppedWarmUp => {
                "stepped warm-up: a new IP at 100/hour on day 1, 40% more every following day (a new rate each midnight), 10 days"
            }
            Scenario::S15DailyPeak => {
                "daily peak: 4 weeks of 30/hour at night and weekends, 100/hour 08:00-18:00 on weekdays, 250/hour 10:00-11:00"
            }
            Scenario::S16MonthEnd => {
                "month end: 3 months (92 days) of 100/hour 08:00-18:00 on weekdays, 10/hour otherwise, 250/hour on the last two working days of each month"
            }
            Scenario::S17WarmRestart => {
                "warm restart: a new IP warming up at 80% a day from 100/hour to 2,000/hour, then steady; node restart on day 8, 3 more days"
            }
        }
    }

    /// What the replay must show, with the default policy.
    pub fn bars(self) -> &'static [Bar] {
        match self {
            Scenario::S1Steady | Scenario::S9Restart => &[Bar::NoneDeferred(ALL_LABELS)],
            Scenario::S2Seasonal => &[
                Bar::NoneDeferred(&["monday-4", "monday-5", "monday-6", "monday-7", "monday-8"]),
                Bar::NoneDeferred(&[
                    "background-4",
                    "background-5",
                    "background-6",
                    "background-7",
                    "background-8",
                ]),
            ],
            Scenario::S3WarmUp => &[Bar::DeferredAtMost(ALL_LABELS, 0.01)],
            Scenario::S4Blast => &[Bar::DeferredAtLeast(ALL_LABELS, 0.95)],
            Scenario::S5Hijack => &[
                Bar::NoneDeferred(&["history"]),
                Bar::ExcessOverAllowance {
                    label: "surge",
                    history: "history",
                    ip: [198, 51, 100, 50],
                    at_s: 30 * 86_400 + 10 * 3600,
                    fraction: 0.9,
                },
                Bar::DeferredAtLeast(&["surge"], 0.8),
            ],
            Scenario::S6Snowshoe => &[Bar::DeferredAtLeast(ALL_LABELS, 0.8)],
            Scenario::S7Ipv6Rotation => &[Bar::DeferredAtLeast(ALL_LABELS, 0.95)],
            Scenario::S8Recovery => &[Bar::AttemptsAtLeast("after", 150), Bar::NoneDeferred(&["after"])],
            Scenario::S10Connector => {
                &[Bar::NoneDeferred(ALL_LABELS), Bar::AttemptsAtLeast("connector", 9000)]
            }
            Scenario::S11FastRamp => &[
                Bar::AcceptedGrowthAtMost(&["day-4", "day-5", "day-6"], 2.1),
                Bar::DeferredAtLeast(ALL_LABELS, 0.5),
                Bar::DeferredAtLeast(&["day-6"], 0.6),
            ],
            Scenario::S12HijackedServer => &[
                Bar::NoneDeferred(&["history"]),
                Bar::ExcessOverRate { label: "surge", per_hour: 150.0, hours: 6.0, fraction: 0.98 },
                Bar::NoneDeferred(&["after"]),
            ],
            Scenario::S13DoublingWarmUp | Scenario::S14SteppedWarmUp => {
                &[Bar::DeferredAtMost(ALL_LABELS, 0.001)]
            }
            Scenario::S15DailyPeak | Scenario::S16MonthEnd => &[Bar::NoneDeferred(ALL_LABELS)],
            Scenario::S17WarmRestart => {
                &[Bar::NoneDeferred(&["after-restart"]), Bar::AttemptsAtLeast("after-restart", 100_000)]
            }
        }
    }
}

impl Bar {
    /// The requirement in words.
    pub fn describe(&self) -> String {
        let who = |labels: &[&str]| {
            if labels.is_empty() { "all traffic".to_string() } else { labels.join(", ") }
        };
        match self {
            Bar::NoneDeferred(l) => format!("{}: nothing deferred", who(l)),
            Bar::DeferredAtMost(l, f) => format!("{}: at most {}% deferred", who(l), percent(*f)),
            Bar::DeferredAtLeast(l, f) => format!("{}: at least {}% deferred", who(l), percent(*f)),
            Bar::ExcessOverAllowance { label, fraction, .. } => {
                format!(
                    "{label}: at least {}% of the excess over the allowance its history earned deferred",
                    percent(*fraction)
                )
            }
            Bar::ExcessOverRate { label, per_hour, hours, fraction } => format!(
                "{label}: at least {}% of what it sends beyond {per_hour}/hour for {hours} hours deferred",
                percent(*fraction)
            ),
            Bar::AttemptsAtLeast(l, n) => format!("{l}: at least {n} transactions replayed"),
            Bar::AcceptedGrowthAtMost(l, f) => {
                format!("{}: accepted recipients grow at most {f}x from one to the next", l.join(", "))
            }
        }
    }
}

fn percent(f: f64) -> String {
    let p = f * 100.0;
    if p.fract() == 0.0 { format!("{p:.0}") } else { format!("{p}") }
}

/// Whether one bar held, and the figures behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct BarResult {
    /// The bar.
    pub bar: Bar,
    /// Whether it held.
    pub pass: bool,
    /// The measured figures, in words.
    pub detail: String,
}

/// A generated scenario: its trace and how to replay it.
#[derive(Debug, Clone)]
pub struct ScenarioTrace {
    /// Which scenario.
    pub scenario: Scenario,
    /// The events, labelled.
    pub trace: Trace,
    /// Restart point (S9, S17).
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
        ReplayOptions { restart_at_s: self.restart_at_s, ..ReplayOptions::default() }
    }

    /// Replays the scenario through a fresh engine.
    pub fn run(&self) -> Result<Report, SimError> {
        sim::replay(&self.trace, self.policy(), &self.options())
    }

    /// Checks the scenario's bars against a replay of it with `policy`.
    pub fn judge(&self, report: &Report, policy: &Policy) -> Vec<BarResult> {
        self.scenario.bars().iter().map(|bar| self.check(*bar, report, policy)).collect()
    }

    fn check(&self, bar: Bar, report: &Report, policy: &Policy) -> BarResult {
        let sum = |labels: &[&str]| {
            if labels.is_empty() {
                report.overall
            } else {
                labels.iter().map(|l| report.group(l)).fold(sim::Tally::default(), |a, b| a.plus(b))
            }
        };
        let (pass, detail) = match bar {
            Bar::NoneDeferred(l) => {
                let t = sum(l);
                (t.deferred == 0, format!("{} of {} recipients deferred", t.deferred, t.recipients()))
            }
            Bar::DeferredAtMost(l, f) => fraction_detail(sum(l), |x| x <= f),
            Bar::DeferredAtLeast(l, f) => fraction_detail(sum(l), |x| x >= f),
            Bar::ExcessOverAllowance { label, history, ip, at_s, fraction } => {
                let allowance = self.allowance_from(history, IpAddr::from(ip), at_s, policy);
                excess_detail(report.group(label), allowance, fraction, "its allowance")
            }
            Bar::ExcessOverRate { label, per_hour, hours, fraction } => {
                excess_detail(report.group(label), per_hour * hours, fraction, "the reference volume")
            }
            Bar::AttemptsAtLeast(l, n) => {
                let t = report.group(l);
                (t.attempts >= n, format!("{} transactions", t.attempts))
            }
            Bar::AcceptedGrowthAtMost(l, f) => growth_detail(report, l, f),
        };
        BarResult { bar, pass, detail }
    }

    /// The hourly allowance `ip` has at `at_s` after replaying only the `history` label.
    fn allowance_from(&self, history: &str, ip: IpAddr, at_s: u64, policy: &Policy) -> f64 {
        let mut trace = self.trace.clone();
        let keep = self.trace.labels.iter().position(|l| l == history).map(|i| i as u32);
        trace.events.retain(|e| e.label == keep);
        let engine = Engine::new(policy.clone());
        match sim::replay_on(engine, &trace, &ReplayOptions::default()) {
            Ok((_, engine)) => f64::from(engine.peek(ip, at_s).ip_state.allowance_per_hour),
            Err(_) => f64::NAN,
        }
    }
}

fn fraction_detail(t: sim::Tally, ok: impl Fn(f64) -> bool) -> (bool, String) {
    let f = t.deferred_fraction();
    let detail = format!("{} of {} recipients deferred ({:.2}%)", t.deferred, t.recipients(), f * 100.0);
    (t.recipients() > 0 && ok(f), detail)
}

fn excess_detail(t: sim::Tally, reference: f64, fraction: f64, what: &str) -> (bool, String) {
    let excess = t.recipients() as f64 - reference;
    let detail = format!(
        "{} recipients, {what} {reference:.0}, excess {excess:.0}, {} deferred ({:.1}% of the excess)",
        t.recipients(),
        t.deferred,
        t.deferred as f64 / excess * 100.0
    );
    (excess > 0.0 && t.deferred as f64 >= fraction * excess, detail)
}

fn growth_detail(report: &Report, labels: &[&str], factor: f64) -> (bool, String) {
    let accepted: Vec<u64> = labels.iter().map(|l| report.group(l).accepted).collect();
    let pass =
        accepted.iter().all(|a| *a > 0) && accepted.windows(2).all(|w| w[1] as f64 <= factor * w[0] as f64);
    let shown: Vec<String> = accepted.iter().map(u64::to_string).collect();
    (pass, format!("accepted {}", shown.join(" -> ")))
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
            restart_at_s = Some(15 * 86_400);
        }
        Scenario::S10Connector => {
            b.stream(v4(203, 0, 113, 40), 10.0 * HOUR, 11.0 * HOUR, |_| 10_000.0, "connector");
            bypass.extend("203.0.113.32/27".parse::<Cidr>().ok());
        }
        Scenario::S11FastRamp => daily_ramp(&mut b, v4(198, 51, 100, 70), 6, |t| 20.0 * 3f64.powf(t / DAY)),
        Scenario::S12HijackedServer => hijacked_server(&mut b),
        Scenario::S13DoublingWarmUp => {
            daily_ramp(&mut b, v4(198, 51, 100, 90), 7, |t| 50.0 * 2f64.powf(t / DAY));
        }
        Scenario::S14SteppedWarmUp => {
            daily_ramp(&mut b, v4(198, 51, 100, 100), 10, |t| 100.0 * 1.4f64.powf((t / DAY).floor()));
        }
        Scenario::S15DailyPeak => daily_peak(&mut b),
        Scenario::S16MonthEnd => month_end(&mut b),
        Scenario::S17WarmRestart => {
            warm_restart(&mut b);
            restart_at_s = Some(8 * 86_400);
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

/// `days` days of a new IP at `per_hour(t)`, one label per day (`day-1` ...).
fn daily_ramp(b: &mut TraceBuilder, ip: IpAddr, days: u32, per_hour: impl Fn(f64) -> f64) {
    for day in 0..days {
        let start = f64::from(day) * DAY;
        b.stream(ip, start, start + DAY, &per_hour, &format!("day-{}", day + 1));
    }
}

fn hijacked_server(b: &mut TraceBuilder) {
    let ip = v4(198, 51, 100, 80);
    let surge = 28.0 * DAY + 9.0 * HOUR;
    b.stream(ip, 0.0, surge, |_| 50.0, "history");
    b.stream(ip, surge, surge + 6.0 * HOUR, |_| 2000.0, "surge");
    // The owner cleans the server up the next day; its normal traffic must flow again.
    b.stream(ip, surge + DAY, surge + 2.0 * DAY, |_| 50.0, "after");
}

fn is_weekday(day: u32) -> bool {
    day % 7 < 5
}

/// Office-hours traffic, 08:00-18:00 on weekdays at `office(day, hour)`, `quiet` otherwise.
fn office_days(b: &mut TraceBuilder, ip: IpAddr, days: u32, quiet: f64, office: impl Fn(u32, u32) -> f64) {
    for day in 0..days {
        for hour in 0..24 {
            let start = f64::from(day) * DAY + f64::from(hour) * HOUR;
            let rate = if is_weekday(day) && (8..18).contains(&hour) { office(day, hour) } else { quiet };
            b.stream(ip, start, start + HOUR, |_| rate, &format!("week-{}", day / 7 + 1));
        }
    }
}

fn daily_peak(b: &mut TraceBuilder) {
    let ip = v4(198, 51, 100, 110);
    office_days(b, ip, 28, 30.0, |_, hour| if hour == 10 { 250.0 } else { 100.0 });
}

/// Days (from trace day 0, a Monday) that are the last two working days of a month, for
/// months of 31, 30, 31 days.
fn month_end_days() -> Vec<u32> {
    let mut out = Vec::new();
    let mut end = 0;
    for len in [31, 30, 31] {
        end += len;
        let mut day = end - 1;
        let mut found = 0;
        while found < 2 {
            if is_weekday(day) {
                out.push(day);
                found += 1;
            }
            day -= 1;
        }
    }
    out
}

fn month_end(b: &mut TraceBuilder) {
    let ip = v4(198, 51, 100, 120);
    let ends = month_end_days();
    office_days(b, ip, 92, 10.0, |day, _| if ends.contains(&day) { 250.0 } else { 100.0 });
}

fn warm_restart(b: &mut TraceBuilder) {
    let ip = v4(198, 51, 100, 130);
    let restart = 8.0 * DAY;
    let rate = |t: f64| (100.0 * 1.8f64.powf(t / DAY)).min(2000.0);
    b.stream(ip, 0.0, restart, rate, "before-restart");
    b.stream(ip, restart, 11.0 * DAY, rate, "after-restart");
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

    #[test]
    fn names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::from_name(s.name()), Some(s));
            assert!(!s.bars().is_empty(), "{} has bars", s.name());
        }
        assert_eq!(Scenario::from_name("s12"), Some(Scenario::S12HijackedServer));
        assert_eq!(Scenario::from_name("S18"), None);
    }

    #[test]
    fn month_ends_are_working_days() {
        // Day 0 is a Monday: day 30 is a Wednesday, day 60 a Friday, day 91 a Monday.
        assert_eq!(month_end_days(), vec![30, 29, 60, 59, 91, 88]);
    }
}
