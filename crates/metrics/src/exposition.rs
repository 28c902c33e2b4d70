//! The Prometheus text format (0.0.4): `# HELP` and `# TYPE` once per family, then one
//! line per series, `name{label="value",...} number`. The same lines, counters only, are
//! how totals are saved across restarts ([`Saved`] reads them back).

use std::collections::HashMap;
use std::fmt::{self, Write};

use crate::primitives::{BUCKET_BOUNDS_US, Histogram};

/// A family's type, as `# TYPE` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A scrape being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// `name{a="x",b="y"}`, label values escaped as the format wants (`\\`, `\"`, `\n`); the
/// bare name without labels. Also the key of a saved total.
pub fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(name.len() + 16 * labels.len());
    write_series(&mut out, name, labels, None);
    out
}

fn write_series(out: &mut String, name: &str, labels: &[(&str, &str)], le: Option<&str>) {
    out.push_str(name);
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let extra = le.map(|le| ("le", le));
    for (i, (label, value)) in labels.iter().copied().chain(extra).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(label);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Starts a family: its help text (one line) and type.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {}", kind.as_str());
    }

    /// One series of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl fmt::Display) {
        write_series(&mut self.out, name, labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    /// One histogram series of the current family: cumulative buckets, sum (seconds), count.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], histogram: &Histogram) {
        let buckets = histogram.buckets();
        let mut cumulative = 0;
        let bucket_name = format!("{name}_bucket");
        for (i, count) in buckets.iter().enumerate() {
            cumulative += count;
            let le = match BUCKET_BOUNDS_US.get(i) {
                Some(us) => (*us as f64 / 1e6).to_string(),
                None => "+Inf".to_string(),
            };
            write_series(&mut self.out, &bucket_name, labels, Some(&le));
            let _ = writeln!(self.out, " {cumulative}");
        }
        self.sample(&format!("{name}_sum"), labels, histogram.sum().as_secs_f64());
        self.sample(&format!("{name}_count"), labels, cumulative);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Totals saved by an earlier run: each value under its series (`name{labels}`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Saved {
    values: HashMap<String, u64>,
}

impl Saved {
    /// Reads exposition lines; comments, blank lines and lines that are not
    /// `series non-negative-integer` are skipped (a damaged line costs only its own total).
    pub fn parse(text: &str) -> Saved {
        let values = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.trim().rsplit_once(' ')?;
                parse_series(series)?;
                Some((series.to_string(), value.parse().ok()?))
            })
            .collect();
        Saved { values }
    }

    /// The saved total of one series.
    pub fn get(&self, series: &str) -> Option<u64> {
        self.values.get(series).copied()
    }

    /// Every saved series of family `name`, with its labels.
    pub fn family(&self, name: &str) -> Vec<(Vec<(String, String)>, u64)> {
        let mut found: Vec<(Vec<(String, String)>, u64)> = self
            .values
            .iter()
            .filter_map(|(series, value)| {
                let (family, labels) = parse_series(series)?;
                (family == name).then_some((labels, *value))
            })
            .collect();
        found.sort();
        found
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// How many series were read.
    pub fn len(&self) -> usize {
        self.values.len()
    }
}

/// `name{a="x"}` into its name and labels; `None` when it is not one.
fn parse_series(series: &str) -> Option<(&str, Vec<(String, String)>)> {
    let Some((name, rest)) = series.split_once('{') else {
        return valid_name(series).then_some((series, Vec::new()));
    };
    if !valid_name(name) {
        return None;
    }
    let mut labels = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        let label: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if chars.next() != Some('"') || !valid_name(&label) {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '\\' => value.push(match chars.next()? {
                    'n' => '\n',
                    c => c,
                }),
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((label, value));
        match chars.next()? {
            ',' => continue,
            '}' => return chars.next().is_none().then_some((name, labels)),
            _ => return None,
        }
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_family_renders_help_type_and_escaped_labels() {
        let mut e = Exposition::new();
        e.family("sluice_x_total", Kind::Counter, "What x counts.\nSecond line");
        e.sample("sluice_x_total", &[("reason", "a \"quoted\" \\ one\n")], 3);
        e.sample("sluice_x_total", &[], 4);
        assert_eq!(
            e.finish(),
            "# HELP sluice_x_total What x counts.\\nSecond line\n# TYPE sluice_x_total counter\n\
             sluice_x_total{reason=\"a \\\"quoted\\\" \\\\ one\\n\"} 3\nsluice_x_total 4\n"
        );
    }

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(80));
        h.observe(Duration::from_millis(2));
        h.observe(Duration::from_secs(1000));
        let mut e = Exposition::new();
        e.histogram("sluice_t_seconds", &[("kind", "a")], &h);
        let text = e.finish();
        let line = |prefix: &str| text.lines().find(|l| l.starts_with(prefix)).map(str::to_string);
        assert_eq!(
            line("sluice_t_seconds_bucket{kind=\"a\",le=\"0.0001\"}").as_deref(),
            Some("sluice_t_seconds_bucket{kind=\"a\",le=\"0.0001\"} 1")
        );
        assert_eq!(
            line("sluice_t_seconds_bucket{kind=\"a\",le=\"0.0025\"}").as_deref(),
            Some("sluice_t_seconds_bucket{kind=\"a\",le=\"0.0025\"} 2")
        );
        assert_eq!(
            line("sluice_t_seconds_bucket{kind=\"a\",le=\"300\"}").as_deref(),
            Some("sluice_t_seconds_bucket{kind=\"a\",le=\"300\"} 2")
        );
        assert_eq!(
            line("sluice_t_seconds_bucket{kind=\"a\",le=\"+Inf\"}").as_deref(),
            Some("sluice_t_seconds_bucket{kind=\"a\",le=\"+Inf\"} 3")
        );
        assert_eq!(line("sluice_t_seconds_count").as_deref(), Some("sluice_t_seconds_count{kind=\"a\"} 3"));
        assert_eq!(
            line("sluice_t_seconds_sum").as_deref(),
            Some("sluice_t_seconds_sum{kind=\"a\"} 1000.00208")
        );
    }

    #[test]
    fn saved_totals_come_back_by_series() {
        let mut e = Exposition::new();
        e.family("sluice_a_total", Kind::Counter, "a");
        e.sample("sluice_a_total", &[("code", "550"), ("enhanced", "5.7.1")], 12);
        e.sample("sluice_a_total", &[("code", "4\"5\\1")], 3);
        e.sample("sluice_b_total", &[], 9);
        let text = e.finish() + "garbage line\nsluice_c_total -1\nsluice_d_total{x=\"1\" 4\n";
        let saved = Saved::parse(&text);
        assert_eq!(saved.get(&series("sluice_b_total", &[])), Some(9));
        assert_eq!(saved.get(&series("sluice_a_total", &[("code", "550"), ("enhanced", "5.7.1")])), Some(12));
        let family = saved.family("sluice_a_total");
        assert_eq!(
            family,
            vec![
                (vec![("code".to_string(), "4\"5\\1".to_string())], 3),
                (
                    vec![
                        ("code".to_string(), "550".to_string()),
                        ("enhanced".to_string(), "5.7.1".to_string())
                    ],
                    12
                ),
            ]
        );
        assert_eq!(saved.get("sluice_c_total"), None, "a negative total is not one");
        assert!(saved.family("sluice_d_total").is_empty(), "an unterminated label set is skipped");
    }
}
