//! `sluice simulate`: replays a traffic trace through the real throttle engine with the
//! trace's own clock, so operators can tune policy before going live.

use std::path::Path;

use anyhow::{Context, bail};
use throttle::Policy;
use throttle::scenarios::{Scenario, generate};
use throttle::sim::{ReplayOptions, Report, csv, replay};

/// Where the events come from.
#[derive(Debug)]
pub enum Source<'a> {
    Trace(&'a Path),
    Scenario(&'a str),
}

pub fn run(source: Source<'_>, policy_file: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let mut policy = match policy_file {
        Some(path) => load_policy(path)?,
        None => Policy::default(),
    };
    let (trace, options) = match source {
        Source::Trace(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let parsed = csv::parse(&text, csv::CsvOptions::default())
                .with_context(|| format!("{}", path.display()))?;
            (parsed.trace, ReplayOptions::default())
        }
        Source::Scenario(name) => {
            let scenario = Scenario::from_name(name)
                .with_context(|| format!("--scenario: {name:?} is not one of S1 .. S17"))?;
            let generated = generate(scenario, 1);
            // The scenario's connector ranges (S10) are part of the traffic, not of the policy.
            policy.bypass.extend(generated.bypass.iter().cloned());
            let options = generated.options();
            (generated.trace, options)
        }
    };
    let report = replay(&trace, policy, &options)?;
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

fn load_policy(path: &Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let policy: Policy = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    if let Err(e) = policy.validate() {
        bail!("{}: {e}", path.display());
    }
    Ok(policy)
}

fn render(report: &Report) -> String {
    let mut out = format!(
        "{:<24} {:>10} {:>12} {:>12} {:>9}\n",
        "label", "attempts", "accepted", "deferred", "deferred%"
    );
    let row = |name: &str, t: &throttle::sim::Tally| {
        format!(
            "{:<24} {:>10} {:>12} {:>12} {:>8.2}%\n",
            name,
            t.attempts,
            t.accepted,
            t.deferred,
            t.deferred_fraction() * 100.0
        )
    };
    for (name, tally) in &report.groups {
        out.push_str(&row(name, tally));
    }
    out.push_str(&row("overall", &report.overall));
    out
}
