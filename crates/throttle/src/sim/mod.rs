//! Trace replay: feed a traffic trace through the real engine with the trace's own clock and
//! report what would have been deferred.
//!
//! A trace is a list of transactions `(time, client IP, recipients, label)`; the engine sees
//! only the first three. Traces come from CSV files ([`csv`]), Postfix maillogs
//! ([`postfix`]), Sluice's own JSON log ([`sluice_log`]) or the built-in scenarios. Times
//! are kept in milliseconds so that rows within a second keep their order; the engine is
//! given whole seconds.
//!
//! "Deferred counts first attempts only": deferred recipients are not retried by the
//! replay, exactly as the acceptance scenarios count them. A real MTA's retries would add
//! attempts, never established volume.

pub mod csv;
pub mod fleet;
pub mod postfix;
pub mod sluice_log;
pub mod time;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use crate::engine::{Decision, Engine};
use crate::key::mask_ip;
use crate::persist::RestoreError;
use crate::policy::Policy;

/// One transaction of a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// Milliseconds from the trace start, or since the Unix epoch for absolute traces.
    pub time_ms: u64,
    /// Client IP.
    pub ip: IpAddr,
    /// Recipients in the transaction.
    pub recipients: u32,
    /// Index into [`Trace::labels`], or None when unlabelled.
    pub label: Option<u32>,
}

impl Event {
    /// The event's time in whole seconds.
    pub fn time_s(&self) -> u64 {
        self.time_ms / 1000
    }
}

/// Events in time order, with their interned labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// Distinct labels; events refer to them by index.
    pub labels: Vec<String>,
    /// Events, sorted by time.
    pub events: Vec<Event>,
    label_index: HashMap<String, u32>,
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The policy is invalid.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    /// The save + restore at the restart point failed (the cause is the `source()`).
    #[error("the save and restore at the restart point failed")]
    Restart(#[from] RestoreError),
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Trace {
        Trace::default()
    }

    /// The index of `label`, added if new.
    pub fn label(&mut self, label: &str) -> u32 {
        if let Some(&i) = self.label_index.get(label) {
            return i;
        }
        let i = u32::try_from(self.labels.len()).unwrap_or(u32::MAX);
        self.labels.push(label.to_string());
        self.label_index.insert(label.to_string(), i);
        i
    }

    /// Appends an event at `time_s` seconds; call [`Trace::sort`] before replaying if not
    /// appended in order.
    pub fn push(&mut self, time_s: u64, ip: IpAddr, recipients: u32, label: Option<u32>) {
        self.push_ms(time_s.saturating_mul(1000), ip, recipients, label);
    }

    /// Appends an event at `time_ms` milliseconds.
    pub fn push_ms(&mut self, time_ms: u64, ip: IpAddr, recipients: u32, label: Option<u32>) {
        self.events.push(Event { time_ms, ip, recipients, label });
    }

    /// Puts events in time order, keeping the order of equal times.
    pub fn sort(&mut self) {
        self.events.sort_by_key(|e| e.time_ms);
    }

    /// Recipients over all events.
    pub fn recipients(&self) -> u64 {
        self.events.iter().map(|e| u64::from(e.recipients)).sum()
    }
}

/// Counts for one group or for the whole trace. Accepted and deferred are recipients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Transactions.
    pub attempts: u64,
    /// Recipients accepted.
    pub accepted: u64,
    /// Recipients deferred (first attempts).
    pub deferred: u64,
}

impl Tally {
    /// Recipients, accepted and deferred.
    pub fn recipients(&self) -> u64 {
        self.accepted + self.deferred
    }

    /// Deferred share of the recipients, 0 when there were none.
    pub fn deferred_fraction(&self) -> f64 {
        let total = self.recipients();
        if total == 0 { 0.0 } else { self.deferred as f64 / total as f64 }
    }

    /// The sum of two tallies.
    pub fn plus(self, other: Tally) -> Tally {
        Tally {
            attempts: self.attempts + other.attempts,
            accepted: self.accepted + other.accepted,
            deferred: self.deferred + other.deferred,
        }
    }

    fn add(&mut self, d: &Decision) {
        self.attempts += 1;
        self.accepted += u64::from(d.accepted);
        self.deferred += u64::from(d.deferred);
    }

    /// `{"transactions", "recipients", "accepted", "deferred", "deferred_fraction"}`.
    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "transactions": self.attempts,
            "recipients": self.recipients(),
            "accepted": self.accepted,
            "deferred": self.deferred,
            "deferred_fraction": self.deferred_fraction(),
        })
    }
}

/// How a report groups transactions besides the overall total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Grouping {
    /// By the trace's label (unlabelled events count in the total only).
    #[default]
    Label,
    /// By client IP.
    Ip,
    /// By the client's network prefix (the policy's IPv4 and IPv6 prefix lengths).
    Prefix,
}

impl Grouping {
    /// `label`, `ip` or `prefix`.
    pub fn name(self) -> &'static str {
        match self {
            Grouping::Label => "label",
            Grouping::Ip => "ip",
            Grouping::Prefix => "prefix",
        }
    }
}

/// What a replay found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// How `groups` is keyed.
    pub grouping: Grouping,
    /// Per group.
    pub groups: BTreeMap<String, Tally>,
    /// Every event.
    pub overall: Tally,
}

impl Report {
    /// The counts of group `name` (zero if absent).
    pub fn group(&self, name: &str) -> Tally {
        self.groups.get(name).copied().unwrap_or_default()
    }

    /// `{"group_by": ..., "groups": {"<name>": {...}}, "overall": {...}}`, each tally as in
    /// [`Tally::to_json`].
    pub fn to_json(&self) -> serde_json::Value {
        let groups: serde_json::Map<String, serde_json::Value> =
            self.groups.iter().map(|(k, t)| (k.clone(), t.to_json())).collect();
        serde_json::json!({
            "group_by": self.grouping.name(),
            "groups": groups,
            "overall": self.overall.to_json(),
        })
    }
}

/// How to replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Engine time of trace time 0 (seconds). Trace time 0 is hour 0 of weekday 0 of the
    /// engine's weekly cycle when this is 0.
    pub epoch_s: u64,
    /// Trace time (seconds) at which the node "restarts": the engine is saved, dropped and
    /// restored from the snapshot before the first event at or after it.
    pub restart_at_s: Option<u64>,
    /// How the report groups transactions.
    pub grouping: Grouping,
}

/// Events decided together: those of one second, at most this many at a time, so that the
/// engine can fetch their records' memory in parallel.
const BATCH_EVENTS: usize = 64;

/// Replays `trace` through a new engine with `policy`.
pub fn replay(trace: &Trace, policy: Policy, opts: &ReplayOptions) -> Result<Report, SimError> {
    let engine = Engine::try_new(policy)?;
    replay_on(engine, trace, opts).map(|(report, _)| report)
}

/// Replays `trace` through `engine` and hands the engine back (for inspection).
pub fn replay_on(engine: Engine, trace: &Trace, opts: &ReplayOptions) -> Result<(Report, Engine), SimError> {
    replay_with_progress(engine, trace, opts, &mut |_| {})
}

/// [`replay_on`], calling `progress(events done)` every 65,536 events.
pub fn replay_with_progress(
    mut engine: Engine,
    trace: &Trace,
    opts: &ReplayOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<(Report, Engine), SimError> {
    let mut grouper = Grouper::new(trace, opts.grouping, engine.policy());
    let mut overall = Tally::default();
    let mut restart = opts.restart_at_s;
    let (mut batch, mut decisions) = (Vec::with_capacity(BATCH_EVENTS), Vec::with_capacity(BATCH_EVENTS));
    let mut done = 0;
    for chunk in trace.events.chunk_by(|a, b| a.time_s() == b.time_s()) {
        if restart.is_some_and(|t| chunk[0].time_s() >= t) {
            engine = restarted(&engine)?;
            restart = None;
        }
        let now = opts.epoch_s.saturating_add(chunk[0].time_s());
        for events in chunk.chunks(BATCH_EVENTS) {
            batch.clear();
            batch.extend(events.iter().map(|e| (e.ip, e.recipients)));
            decisions.clear();
            engine.decide_batch(&batch, now, &mut decisions);
            for (e, d) in events.iter().zip(&decisions) {
                overall.add(d);
                grouper.add(e, d);
            }
        }
        let before = done;
        done += chunk.len();
        if before >> 16 != done >> 16 {
            progress(done);
        }
    }
    let report = Report { grouping: opts.grouping, groups: grouper.finish(trace), overall };
    Ok((report, engine))
}

/// Per-group tallies while replaying.
struct Grouper {
    grouping: Grouping,
    per_label: Vec<Tally>,
    per_key: HashMap<IpAddr, Tally>,
    prefix_len: (u8, u8),
}

impl Grouper {
    fn new(trace: &Trace, grouping: Grouping, policy: &Policy) -> Grouper {
        Grouper {
            grouping,
            per_label: vec![Tally::default(); trace.labels.len()],
            per_key: HashMap::new(),
            prefix_len: (policy.ipv4_prefix_len, policy.ipv6_prefix_len),
        }
    }

    fn add(&mut self, e: &Event, d: &Decision) {
        let tally = match self.grouping {
            Grouping::Label => e.label.and_then(|l| self.per_label.get_mut(l as usize)),
            Grouping::Ip => Some(self.per_key.entry(e.ip).or_default()),
            Grouping::Prefix => {
                let len = if e.ip.is_ipv4() { self.prefix_len.0 } else { self.prefix_len.1 };
                Some(self.per_key.entry(mask_ip(e.ip, len)).or_default())
            }
        };
        if let Some(t) = tally {
            t.add(d);
        }
    }

    fn finish(self, trace: &Trace) -> BTreeMap<String, Tally> {
        match self.grouping {
            Grouping::Label => trace.labels.iter().cloned().zip(self.per_label).collect(),
            Grouping::Ip => self.per_key.into_iter().map(|(ip, t)| (ip.to_string(), t)).collect(),
            Grouping::Prefix => {
                let (v4, v6) = self.prefix_len;
                let name = |ip: IpAddr| format!("{ip}/{}", if ip.is_ipv4() { v4 } else { v6 });
                self.per_key.into_iter().map(|(ip, t)| (name(ip), t)).collect()
            }
        }
    }
}

fn restarted(engine: &Engine) -> Result<Engine, RestoreError> {
    let mut snapshot = Vec::new();
    engine.save(&mut snapshot)?;
    Engine::restore(&mut snapshot.as_slice(), engine.policy().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reports_per_label_ip_and_prefix() {
        let mut trace = Trace::new();
        let (blast, steady) = (trace.label("blast"), trace.label("steady"));
        trace.push(0, ip("198.51.100.2"), 1, None);
        trace.push(5, ip("2001:db8::1"), 2, Some(steady));
        trace.push(10, ip("198.51.100.1"), 150, Some(blast));
        let report = replay(&trace, Policy::default(), &ReplayOptions::default()).unwrap();
        let b = report.group("blast");
        assert_eq!((b.attempts, b.accepted, b.deferred), (1, 100, 50));
        assert_eq!(report.overall.attempts, 3);
        let json = report.to_json();
        assert_eq!(json["group_by"], "label");
        assert_eq!(json["groups"]["steady"]["accepted"], 2);
        assert_eq!(json["groups"]["steady"]["transactions"], 1);
        assert_eq!(json["overall"]["deferred"], 50);
        assert_eq!(json["overall"]["recipients"], 153);
        assert!((json["overall"]["deferred_fraction"].as_f64().unwrap() - 50.0 / 153.0).abs() < 1e-9);

        let by_ip = ReplayOptions { grouping: Grouping::Ip, ..ReplayOptions::default() };
        let report = replay(&trace, Policy::default(), &by_ip).unwrap();
        assert_eq!(report.group("198.51.100.1").deferred, 50);
        assert_eq!(report.group("198.51.100.2").accepted, 1);
        let by_prefix = ReplayOptions { grouping: Grouping::Prefix, ..ReplayOptions::default() };
        let report = replay(&trace, Policy::default(), &by_prefix).unwrap();
        assert_eq!(report.group("198.51.100.0/24").accepted, 101);
        assert_eq!(report.group("2001:db8::/64").accepted, 2);
    }

    #[test]
    fn restart_point_keeps_history() {
        let mut trace = Trace::new();
        let l = trace.label("x");
        for i in 0..400 {
            trace.push(i, ip("198.51.100.1"), 1, Some(l));
        }
        let opts = ReplayOptions { restart_at_s: Some(200), ..ReplayOptions::default() };
        let with = replay(&trace, Policy::default(), &opts).unwrap();
        let without = replay(&trace, Policy::default(), &ReplayOptions::default()).unwrap();
        assert_eq!(with, without);
    }

    #[test]
    fn progress_is_reported_while_replaying() {
        let mut trace = Trace::new();
        for i in 0..200_000u64 {
            trace.push_ms(i * 10, IpAddr::from([10, 0, (i >> 8) as u8, i as u8]), 1, None);
        }
        let mut seen = Vec::new();
        let engine = Engine::new(Policy::default());
        replay_with_progress(engine, &trace, &ReplayOptions::default(), &mut |n| seen.push(n)).unwrap();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
    }
}
