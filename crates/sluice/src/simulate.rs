//! `sluice simulate`: replays traffic through the real throttle engine with the traffic's own
//! clock, so operators can see what a policy would have deferred before going live. The
//! traffic comes from a CSV trace, a Postfix maillog, Sluice's own JSON log or a built-in
//! scenario; `--policy` repeated compares policies side by side.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use throttle::scenarios::{BarResult, Scenario, ScenarioTrace, generate};
use throttle::sim::fleet::{FleetOptions, replay_fleet};
use throttle::sim::{self, Grouping, ReplayOptions, Report, Tally, Trace, csv, postfix, sluice_log};
use throttle::{Engine, Policy};

/// Where the traffic comes from: exactly one.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct SourceArgs {
    /// A CSV trace: a header naming time_s, client_ip, recipients and optionally label
    /// (docs/throttle-scenarios.md describes the format).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// A built-in scenario, S1 .. S17 (docs/throttle-scenarios.md); its bars are checked.
    #[arg(long, value_name = "NAME")]
    scenario: Option<String>,
    /// A Postfix maillog: queued messages and temporary RCPT rejects of its smtpd.
    #[arg(long, value_name = "FILE")]
    postfix_log: Option<PathBuf>,
    /// Sluice's own log written with [log] format = "json".
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
}

/// How groups of the report are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    /// The trace's labels (for logs: the verdict the server gave).
    Label,
    /// Client IP.
    Ip,
    /// Client network prefix (/24, /64 by default).
    Prefix,
}

/// `sluice simulate` arguments.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// A TOML file of throttle policy fields (as under [throttle.policy]); give it twice or
    /// more to compare policies side by side. Default: the built-in policy.
    #[arg(long, value_name = "FILE")]
    policy: Vec<PathBuf>,
    /// Sort CSV rows that are out of time order instead of refusing the trace.
    #[arg(long)]
    sort: bool,
    /// The year of the first line of a maillog whose time stamps have none
    /// (default: the current year).
    #[arg(long, value_name = "YYYY")]
    year: Option<i64>,
    /// How to group the report.
    #[arg(long, value_enum, default_value_t = GroupBy::Label)]
    group_by: GroupBy,
    /// Groups shown in the table (the largest first when grouping by IP or prefix, the
    /// largest differences first when comparing); --json lists them all.
    #[arg(long, value_name = "N", default_value_t = 40)]
    top: usize,
    /// Also replay over this many nodes of a fleet (transactions spread round-robin, counts
    /// shared with the exchange delay), reported next to the single-node replay.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    nodes: u16,
    /// With --nodes: seconds before a node's counts reach the others (fleet mode's exchange
    /// takes under one; whole seconds, at least 1).
    #[arg(long, value_name = "D", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    exchange_delay_s: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Traffic ready to replay, and what to say about where it came from.
struct Loaded {
    trace: Trace,
    options: ReplayOptions,
    notes: Vec<String>,
    scenario: Option<ScenarioTrace>,
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let mut loaded = load(&args)?;
    loaded.options.grouping = match args.group_by {
        GroupBy::Label => Grouping::Label,
        GroupBy::Ip => Grouping::Ip,
        GroupBy::Prefix => Grouping::Prefix,
    };
    let bypass = loaded.scenario.as_ref().map(|s| s.bypass.clone()).unwrap_or_default();
    let mut policies = load_policies(&args.policy)?;
    for (_, policy) in &mut policies {
        // A scenario's connector ranges (S10) are part of the traffic, not of the policy.
        policy.bypass.extend(bypass.iter().copied());
    }
    let show_progress = !args.json && std::io::stderr().is_terminal();
    let mut reports = Vec::new();
    for (i, (name, policy)) in policies.iter().enumerate() {
        let what =
            if policies.len() > 1 { format!("{name} ({}/{})", i + 1, policies.len()) } else { String::new() };
        let engine = Engine::try_new(policy.clone()).with_context(|| name.clone())?;
        let mut bar = Progress::new(show_progress, loaded.trace.events.len(), what);
        let (report, _) =
            sim::replay_with_progress(engine, &loaded.trace, &loaded.options, &mut |n| bar.update(n))
                .with_context(|| format!("replaying with {name}"))?;
        bar.finish();
        let bars = loaded.scenario.as_ref().map(|s| s.judge(&report, policy)).unwrap_or_default();
        reports.push(Replayed { name: name.clone(), report, bars });
        if args.nodes > 1 {
            let fleet =
                FleetOptions { nodes: usize::from(args.nodes), exchange_delay_s: args.exchange_delay_s };
            let report = replay_fleet(&loaded.trace, policy.clone(), &loaded.options, fleet)
                .with_context(|| format!("replaying with {name} on {} nodes", args.nodes))?;
            let name = format!("{name}, {} nodes, delay {} s", args.nodes, args.exchange_delay_s);
            reports.push(Replayed { name, report, bars: Vec::new() });
        }
    }
    let out =
        if args.json { render_json(&loaded, &reports) } else { render_table(&loaded, &reports, args.top) };
    print!("{out}");
    Ok(())
}

/// One policy's replay.
struct Replayed {
    name: String,
    report: Report,
    bars: Vec<BarResult>,
}

fn load(args: &SimulateArgs) -> anyhow::Result<Loaded> {
    let s = &args.source;
    if let Some(name) = &s.scenario {
        let scenario = Scenario::from_name(name).with_context(|| {
            format!("--scenario: {name:?} is not one of S1 .. S17 (see docs/throttle-scenarios.md)")
        })?;
        let generated = generate(scenario, 1);
        let notes = vec![format!("scenario {}: {}", scenario.name(), scenario.description())];
        let (trace, options) = (generated.trace.clone(), generated.options());
        return Ok(Loaded { trace, options, notes, scenario: Some(generated) });
    }
    let (trace, notes) = if let Some(path) = &s.trace {
        load_csv(path, args.sort)?
    } else if let Some(path) = &s.postfix_log {
        load_postfix(path, args.year)?
    } else if let Some(path) = &s.log {
        load_sluice_log(path)?
    } else {
        bail!("simulate needs --trace, --scenario, --postfix-log or --log");
    };
    if trace.events.is_empty() {
        bail!("{}: no transactions to replay ({})", source_path(s).display(), notes.join("; "));
    }
    Ok(Loaded { trace, options: ReplayOptions::default(), notes, scenario: None })
}

fn source_path(s: &SourceArgs) -> &Path {
    s.trace.as_deref().or(s.postfix_log.as_deref()).or(s.log.as_deref()).unwrap_or(Path::new("-"))
}

/// The file as text, or an error naming it and the first byte that is not UTF-8.
fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        anyhow::anyhow!("{}: not UTF-8 text (invalid byte at offset {at})", path.display())
    })
}

fn load_csv(path: &Path, sort: bool) -> anyhow::Result<(Trace, Vec<String>)> {
    let text = read_text(path)?;
    let parsed = csv::parse(&text, csv::CsvOptions { sort }).map_err(|e| {
        let hint =
            if e.kind == csv::ProblemKind::OutOfOrder { " (pass --sort to sort the rows)" } else { "" };
        anyhow::anyhow!("{}: {e}{hint}", path.display())
    })?;
    let mut notes = vec![format!("trace {}: {}", path.display(), counts(&parsed.trace))];
    if let Some(r) = parsed.reordered {
        let warning = format!(
            "{} rows were out of time order (the first at line {}) and were sorted",
            r.rows, r.first_line
        );
        eprintln!("sluice: warning: {}: {warning}", path.display());
        notes.push(warning);
    }
    Ok((parsed.trace, notes))
}

fn load_postfix(path: &Path, year: Option<i64>) -> anyhow::Result<(Trace, Vec<String>)> {
    let text = read_text(path)?;
    let year = year.unwrap_or_else(current_year);
    let log = postfix::parse(&text, year).with_context(|| format!("{}", path.display()))?;
    let note = format!(
        "Postfix log {}: {} lines, {} connections, {} messages queued, {} recipients refused temporarily, {} permanently (not replayed)",
        path.display(),
        log.lines,
        log.connections,
        log.messages,
        log.temporary_rejects,
        log.permanent_rejects
    );
    Ok((log.trace, vec![note]))
}

fn load_sluice_log(path: &Path) -> anyhow::Result<(Trace, Vec<String>)> {
    let text = read_text(path)?;
    let log = sluice_log::parse(&text).with_context(|| format!("{}", path.display()))?;
    let note = format!(
        "Sluice log {}: {} lines, {} messages with throttled recipients, {} recipients deferred by throttling",
        path.display(),
        log.lines,
        log.messages,
        log.deferred
    );
    Ok((log.trace, vec![note]))
}

fn counts(trace: &Trace) -> String {
    format!(
        "{} transactions, {} recipients, {} labels",
        trace.events.len(),
        trace.recipients(),
        trace.labels.len()
    )
}

/// The year now (UTC), for maillogs whose time stamps have none.
fn current_year() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    // Days since 1970 to a year, good enough for the current date (within a day at New Year).
    1970 + (secs / 86_400 * 400 / 146_097)
}

fn load_policies(paths: &[PathBuf]) -> anyhow::Result<Vec<(String, Policy)>> {
    if paths.is_empty() {
        return Ok(vec![("default policy".to_string(), Policy::default())]);
    }
    paths.iter().map(|p| Ok((p.display().to_string(), load_policy(p)?))).collect()
}

fn load_policy(path: &Path) -> anyhow::Result<Policy> {
    let text = read_text(path)?;
    let policy: Policy = toml::from_str(&text).map_err(|e| {
        let hint = if text.contains("[throttle") {
            " (a policy file holds the fields of [throttle.policy] at its top level, not a whole config)"
        } else {
            ""
        };
        anyhow::anyhow!("{}: {e}{hint}", path.display())
    })?;
    policy.validate().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(policy)
}

/// How long a replay runs before the progress line appears, so that quick replays print
/// nothing; `SLUICE_PROGRESS_DELAY_MS` overrides it (the tests draw at once).
fn progress_delay() -> Duration {
    let ms = std::env::var("SLUICE_PROGRESS_DELAY_MS").ok().and_then(|v| v.parse().ok());
    Duration::from_millis(ms.unwrap_or(1000))
}

/// A progress line on stderr (rows done, rows per second, time left), drawn only on a
/// terminal and only once the replay has run for a while.
struct Progress {
    enabled: bool,
    total: usize,
    what: String,
    started: Instant,
    delay: Duration,
    drawn: Option<Instant>,
}

impl Progress {
    fn new(enabled: bool, total: usize, what: String) -> Progress {
        Progress { enabled, total, what, started: Instant::now(), delay: progress_delay(), drawn: None }
    }

    fn update(&mut self, done: usize) {
        let elapsed = self.started.elapsed();
        if !self.enabled || elapsed < self.delay {
            return;
        }
        if self.drawn.is_some_and(|d| d.elapsed() < Duration::from_millis(200)) {
            return;
        }
        self.drawn = Some(Instant::now());
        let line = progress_line(done, self.total, elapsed, &self.what);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
    }

    fn finish(&mut self) {
        if self.drawn.is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}

/// `[#########...........] 45%  1,234,567 / 2,743,482 rows  812,345 rows/s  ETA 2s`
fn progress_line(done: usize, total: usize, elapsed: Duration, what: &str) -> String {
    const WIDTH: usize = 24;
    let fraction = if total == 0 { 1.0 } else { done as f64 / total as f64 };
    let filled = ((fraction * WIDTH as f64) as usize).min(WIDTH);
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
    let eta = if rate > 0.0 { (total.saturating_sub(done)) as f64 / rate } else { 0.0 };
    let prefix = if what.is_empty() { String::new() } else { format!("{what} ") };
    format!(
        "{prefix}[{}{}] {:>3.0}%  {} / {} rows  {} rows/s  ETA {}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        fraction * 100.0,
        thousands(done as u64),
        thousands(total as u64),
        thousands(rate as u64),
        duration_text(eta)
    )
}

fn duration_text(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percent(t: &Tally) -> String {
    format!("{:.2}", t.deferred_fraction() * 100.0)
}

/// The groups to show, in order: names for label grouping of one policy, else the largest
/// (or, comparing, the largest differences) first; at most `top`.
fn shown_groups(reports: &[Replayed], top: usize) -> (Vec<String>, usize) {
    let first = &reports[0].report;
    let mut names: Vec<String> = first.groups.keys().cloned().collect();
    if reports.len() > 1 {
        let diff = |g: &str| {
            let d: Vec<i64> = reports.iter().map(|r| r.report.group(g).deferred as i64).collect();
            d.iter().map(|x| (x - d[0]).abs()).max().unwrap_or(0)
        };
        names.sort_by_key(|g| std::cmp::Reverse(diff(g)));
    } else if first.grouping != Grouping::Label {
        names.sort_by_key(|g| std::cmp::Reverse(first.group(g).recipients()));
    }
    let hidden = names.len().saturating_sub(top);
    names.truncate(top);
    (names, hidden)
}

fn render_table(loaded: &Loaded, reports: &[Replayed], top: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for note in &loaded.notes {
        let _ = writeln!(out, "{note}");
    }
    let (names, hidden) = shown_groups(reports, top);
    let group_by = reports[0].report.grouping.name();
    if reports.len() == 1 {
        single_table(&mut out, &reports[0], group_by, &names);
    } else {
        compare_table(&mut out, reports, group_by, &names);
    }
    if hidden > 0 {
        let _ = writeln!(out, "({hidden} more groups; --top N shows more, --json all)");
    }
    for r in reports.iter().filter(|r| !r.bars.is_empty()) {
        let who = if reports.len() > 1 { format!(" with {}", r.name) } else { String::new() };
        let _ = writeln!(out, "\nbars{who}:");
        for b in &r.bars {
            let verdict = if b.pass { "pass" } else { "FAIL" };
            let _ = writeln!(out, "  [{verdict}] {}: {}", b.bar.describe(), b.detail);
        }
    }
    out
}

/// Transactions in one column, recipients (total, accepted, deferred) in the next three,
/// the deferred share of recipients in the last: each column has one unit, named in its
/// heading.
fn single_table(out: &mut String, r: &Replayed, group_by: &str, names: &[String]) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "policy: {}", r.name);
    let _ = writeln!(
        out,
        "{:<28} {:>12} {:>12} {:>12} {:>12} {:>10}",
        group_by, "transactions", "recipients", "accepted", "deferred", "deferred %"
    );
    let row = |out: &mut String, name: &str, t: &Tally| {
        let _ = writeln!(
            out,
            "{:<28} {:>12} {:>12} {:>12} {:>12} {:>10}",
            name,
            t.attempts,
            t.recipients(),
            t.accepted,
            t.deferred,
            percent(t)
        );
    };
    for name in names {
        row(out, name, &r.report.group(name));
    }
    row(out, "overall", &r.report.overall);
    let _ = writeln!(out, "(accepted and deferred count recipients; deferred % is of recipients)");
}

/// Per group: recipients, then each policy's deferred recipients and deferred share, then
/// each later policy's difference in deferred recipients from the first.
fn compare_table(out: &mut String, reports: &[Replayed], group_by: &str, names: &[String]) {
    use std::fmt::Write as _;
    let letters: Vec<char> = (0..reports.len()).map(|i| (b'A' + (i % 26) as u8) as char).collect();
    for (r, l) in reports.iter().zip(&letters) {
        let _ = writeln!(out, "policy {l}: {}", r.name);
    }
    let mut head = format!("{group_by:<28} {:>12}", "recipients");
    for l in &letters {
        let _ = write!(head, " {:>12} {:>8}", format!("deferred {l}"), format!("{l} %"));
    }
    for l in &letters[1..] {
        let _ = write!(head, " {:>10}", format!("{l} - A"));
    }
    let _ = writeln!(out, "{head}");
    let row = |out: &mut String, name: &str, tallies: Vec<Tally>| {
        let mut line = format!("{name:<28} {:>12}", tallies[0].recipients());
        for t in &tallies {
            let _ = write!(line, " {:>12} {:>8}", t.deferred, percent(t));
        }
        for t in &tallies[1..] {
            let _ = write!(line, " {:>+10}", t.deferred as i64 - tallies[0].deferred as i64);
        }
        let _ = writeln!(out, "{line}");
    };
    for name in names {
        row(out, name, reports.iter().map(|r| r.report.group(name)).collect());
    }
    row(out, "overall", reports.iter().map(|r| r.report.overall).collect());
    let _ = writeln!(out, "(deferred and differences count recipients; % is of recipients)");
}

fn render_json(loaded: &Loaded, reports: &[Replayed]) -> String {
    let with_bars = |r: &Replayed| {
        let mut v = r.report.to_json();
        if !r.bars.is_empty() {
            v["bars"] = r
                .bars
                .iter()
                .map(|b| serde_json::json!({"bar": b.bar.describe(), "pass": b.pass, "detail": b.detail}))
                .collect();
        }
        v["policy"] = serde_json::Value::from(r.name.clone());
        v
    };
    let mut v = if reports.len() == 1 {
        with_bars(&reports[0])
    } else {
        let names: Vec<&String> = reports[0].report.groups.keys().collect();
        let differences: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .map(|g| {
                let d: Vec<i64> = reports.iter().map(|r| r.report.group(g).deferred as i64).collect();
                let diff: Vec<i64> = d.iter().map(|x| x - d[0]).collect();
                ((*g).clone(), serde_json::Value::from(diff))
            })
            .collect();
        serde_json::json!({
            "policies": reports.iter().map(with_bars).collect::<Vec<_>>(),
            "deferred_difference_from_first": differences,
        })
    };
    v["source"] = loaded.notes.iter().map(|n| serde_json::Value::from(n.as_str())).collect();
    format!("{v}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_shows_rate_and_time_left() {
        let line = progress_line(500_000, 2_000_000, Duration::from_secs(2), "");
        assert!(line.starts_with("[######.................."), "{line}");
        assert!(line.contains(" 25%  500,000 / 2,000,000 rows  250,000 rows/s  ETA 6s"), "{line}");
        let line = progress_line(1, 1_000_000, Duration::from_secs(1), "b.toml (2/2)");
        assert!(line.starts_with("b.toml (2/2) [") && line.contains("ETA 277h46m"), "{line}");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
    }

    #[test]
    fn current_year_is_plausible() {
        assert!((2024..2200).contains(&current_year()));
    }
}
