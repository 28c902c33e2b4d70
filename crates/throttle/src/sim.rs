//! Trace replay: feed a traffic trace through the real engine with the trace's own clock and
//! report what would have been deferred.
//!
//! A trace is CSV with a header, columns `time_s,client_ip,recipients[,label]`: seconds from
//! the trace start, the client IP, recipients in the transaction, and free text the engine
//! never sees (everything after the third comma, so it may contain commas). Events are
//! replayed in time order (a stable sort keeps the order of equal times).
//!
//! "Deferred counts first attempts only": deferred recipients are not retried by the
//! replay, exactly as the acceptance scenarios count them. A real MTA's retries would add
//! attempts, never established volume.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use crate::engine::Engine;
use crate::persist::RestoreError;
use crate::policy::Policy;

/// One transaction of a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// Seconds from the trace start.
    pub time_s: u64,
    /// Client IP.
    pub ip: IpAddr,
    /// Recipients in the transaction.
    pub recipients: u32,
    /// Index into [`Trace::labels`], or None when unlabelled.
    pub label: Option<u32>,
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

/// A CSV line or field that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trace line {line}, field {field}: {problem}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// The column name.
    pub field: &'static str,
    /// What is wrong.
    pub problem: String,
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

    /// Appends an event; call [`Trace::sort`] before replaying if not appended in order.
    pub fn push(&mut self, time_s: u64, ip: IpAddr, recipients: u32, label: Option<u32>) {
        self.events.push(Event { time_s, ip, recipients, label });
    }

    /// Puts events in time order, keeping the order of equal times.
    pub fn sort(&mut self) {
        self.events.sort_by_key(|e| e.time_s);
    }

    /// Parses a CSV trace (see the module docs).
    pub fn parse_csv(text: &str) -> Result<Trace, ParseError> {
        let mut lines = text.lines().enumerate();
        let header = lines.next().map(|(_, l)| l.trim()).unwrap_or("");
        let cols: Vec<&str> = header.split(',').map(str::trim).collect();
        if cols.len() < 3
            || cols[..3] != ["time_s", "client_ip", "recipients"]
            || cols.get(3).is_some_and(|c| *c != "label")
        {
            let problem = format!("expected header time_s,client_ip,recipients[,label], found {header:?}");
            return Err(ParseError { line: 1, field: "header", problem });
        }
        let mut trace = Trace::new();
        for (i, line) in lines {
            if !line.trim().is_empty() {
                trace.parse_line(i + 1, line)?;
            }
        }
        trace.sort();
        Ok(trace)
    }

    fn parse_line(&mut self, line: usize, text: &str) -> Result<(), ParseError> {
        let mut parts = text.splitn(4, ',');
        let mut field = |field: &'static str| {
            parts.next().map(str::trim).ok_or_else(|| ParseError {
                line,
                field,
                problem: "missing".to_string(),
            })
        };
        let bad = |field, value: &str, what: &str| ParseError {
            line,
            field,
            problem: format!("{value:?} is not {what}"),
        };
        let t = field("time_s")?;
        let time_s = t.parse::<u64>().map_err(|_| bad("time_s", t, "a whole number of seconds"))?;
        let a = field("client_ip")?;
        let ip = a.parse::<IpAddr>().map_err(|_| bad("client_ip", a, "an IP address"))?;
        let r = field("recipients")?;
        let recipients = r.parse::<u32>().map_err(|_| bad("recipients", r, "a recipient count"))?;
        let label = parts.next().map(str::trim).filter(|l| !l.is_empty()).map(|l| self.label(l));
        self.push(time_s, ip, recipients, label);
        Ok(())
    }
}

/// Counts for one label or for the whole trace. Accepted and deferred are recipients.
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
    /// Deferred share of the recipients, 0 when there were none.
    pub fn deferred_fraction(&self) -> f64 {
        let total = self.accepted + self.deferred;
        if total == 0 { 0.0 } else { self.deferred as f64 / total as f64 }
    }

    fn add(&mut self, accepted: u32, deferred: u32) {
        self.attempts += 1;
        self.accepted += u64::from(accepted);
        self.deferred += u64::from(deferred);
    }

    fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "attempts": self.attempts,
            "accepted": self.accepted,
            "deferred": self.deferred,
            "deferred_fraction": self.deferred_fraction(),
        })
    }
}

/// What a replay found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Per label (unlabelled events count in `overall` only).
    pub labels: BTreeMap<String, Tally>,
    /// Every event.
    pub overall: Tally,
}

impl Report {
    /// The counts of `label` (zero if absent).
    pub fn label(&self, label: &str) -> Tally {
        self.labels.get(label).copied().unwrap_or_default()
    }

    /// `{"labels": {"<label>": {...}}, "overall": {...}}` with attempts, accepted, deferred
    /// and deferred_fraction in each.
    pub fn to_json(&self) -> String {
        let labels: serde_json::Map<String, serde_json::Value> =
            self.labels.iter().map(|(k, t)| (k.clone(), t.to_json())).collect();
        serde_json::json!({ "labels": labels, "overall": self.overall.to_json() }).to_string()
    }
}

/// How to replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Engine time of trace time 0 (seconds). Trace time 0 is hour 0 of weekday 0 of the
    /// engine's weekly cycle when this is 0.
    pub epoch_s: u64,
    /// Trace time at which the node "restarts": the engine is saved, dropped and restored
    /// from the snapshot before the first event at or after it.
    pub restart_at_s: Option<u64>,
}

/// Replays `trace` through a new engine with `policy`.
pub fn replay(trace: &Trace, policy: Policy, opts: &ReplayOptions) -> Result<Report, SimError> {
    let engine = Engine::try_new(policy)?;
    replay_on(engine, trace, opts).map(|(report, _)| report)
}

/// Replays `trace` through `engine` and hands the engine back (for inspection).
pub fn replay_on(
    mut engine: Engine,
    trace: &Trace,
    opts: &ReplayOptions,
) -> Result<(Report, Engine), SimError> {
    let mut per_label = vec![Tally::default(); trace.labels.len()];
    let mut report = Report::default();
    let mut restart = opts.restart_at_s;
    for e in &trace.events {
        if restart.is_some_and(|t| e.time_s >= t) {
            engine = restarted(&engine)?;
            restart = None;
        }
        let d = engine.decide(e.ip, e.recipients, opts.epoch_s.saturating_add(e.time_s));
        report.overall.add(d.accepted, d.deferred);
        if let Some(t) = e.label.and_then(|l| per_label.get_mut(l as usize)) {
            t.add(d.accepted, d.deferred);
        }
    }
    for (name, t) in trace.labels.iter().zip(per_label) {
        report.labels.insert(name.clone(), t);
    }
    Ok((report, engine))
}

fn restarted(engine: &Engine) -> Result<Engine, RestoreError> {
    let mut snapshot = Vec::new();
    engine.save(&mut snapshot)?;
    Engine::restore(&mut snapshot.as_slice(), engine.policy().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reports_per_label() {
        let csv = "time_s,client_ip,recipients,label\n\
                   10,198.51.100.1,150,blast, with comma\n\
                   0,198.51.100.2,1,\n\
                   5,2001:db8::1,2,steady\n";
        let trace = Trace::parse_csv(csv).unwrap();
        assert_eq!(trace.events[0].time_s, 0, "sorted by time");
        let report = replay(&trace, Policy::default(), &ReplayOptions::default()).unwrap();
        let blast = report.label("blast, with comma");
        assert_eq!((blast.attempts, blast.accepted, blast.deferred), (1, 100, 50));
        assert_eq!(report.overall.attempts, 3);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["labels"]["steady"]["accepted"], 2);
        assert_eq!(json["overall"]["deferred"], 50);
        assert!((json["overall"]["deferred_fraction"].as_f64().unwrap() - 50.0 / 153.0).abs() < 1e-9);
    }

    #[test]
    fn bad_lines_name_line_and_field() {
        let err = |csv| Trace::parse_csv(csv).unwrap_err();
        assert_eq!(err("time,ip\n").field, "header");
        let e = err("time_s,client_ip,recipients\n1,198.51.100.1,1\n2,not-an-ip,1\n");
        assert_eq!((e.line, e.field), (3, "client_ip"));
        let e = err("time_s,client_ip,recipients\n-1,198.51.100.1,1\n");
        assert_eq!((e.line, e.field), (2, "time_s"));
        let e = err("time_s,client_ip,recipients\n1,198.51.100.1\n");
        assert_eq!((e.line, e.field), (2, "recipients"));
        let e = err("time_s,client_ip,recipients\n1,198.51.100.1,x\n");
        assert_eq!(e.field, "recipients");
    }

    #[test]
    fn restart_point_keeps_history() {
        let mut trace = Trace::new();
        let l = trace.label("x");
        for i in 0..400 {
            trace.push(i, "198.51.100.1".parse().unwrap(), 1, Some(l));
        }
        let opts = ReplayOptions { epoch_s: 0, restart_at_s: Some(200) };
        let with = replay(&trace, Policy::default(), &opts).unwrap();
        let without = replay(&trace, Policy::default(), &ReplayOptions::default()).unwrap();
        assert_eq!(with, without);
    }
}
