//! `sluice simulate` as an operator runs it: built-in scenarios, CSV traces in the shapes
//! operators have them, policies compared side by side, the progress line, and the replay
//! of a log written by a real `sluice serve` (the Postfix maillog replay is in postfix.rs,
//! beside the private Postfix instance that writes it).

use std::path::Path;
use std::process::Command;

use crate::harness::{DOMAIN, Server, Settings, require_tool};

/// `sluice simulate <args>`: (exit code, stdout, stderr).
pub fn simulate(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice")).arg("simulate").args(args).output().expect("run");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// `sluice simulate <args> --json` that must succeed: its JSON.
pub fn simulate_json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, json, err) = simulate(&all);
    assert_eq!(code, Some(0), "sluice simulate {}:\n{err}", args.join(" "));
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("one JSON object ({e}):\n{json}"))
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path.to_str().expect("utf-8 path").to_owned()
}

#[test]
fn scenarios_replay_with_their_bars() {
    let report = simulate_json(&["--scenario", "S4"]);
    let fraction = report["overall"]["deferred_fraction"].as_f64().expect("overall.deferred_fraction");
    assert!(fraction >= 0.95, "S4 blast deferred only {fraction}");
    assert_eq!(report["bars"][0]["pass"], true, "{report}");
    let (code, table, _) = simulate(&["--scenario", "s12"]);
    assert_eq!(code, Some(0));
    assert!(table.contains("hijacked server") && table.contains("[pass]"), "{table}");
    let (code, _, err) = simulate(&["--scenario", "S99"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("S1 .. S17") && err.contains("docs/throttle-scenarios.md"), "{err}");
}

#[test]
fn traces_as_operators_have_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A byte order mark, CRLF, columns in another order, a quoted label with a comma,
    // fractional seconds.
    let mut csv = String::from("\u{feff}client_ip,time_s,recipients,label\r\n");
    for i in 0..100 {
        csv.push_str(&format!("198.51.100.7,{}.25,1,\"steady, hourly\"\r\n", i * 36));
    }
    let trace = write(dir.path(), "trace.csv", &csv);
    let report = simulate_json(&["--trace", &trace]);
    assert_eq!(report["groups"]["steady, hourly"]["transactions"], 100, "{report}");
    assert_eq!(report["groups"]["steady, hourly"]["deferred"], 0, "{report}");

    let rfc3339 = "time,client_ip,recipients\n2026-11-23T10:00:00.5Z,198.51.100.7,150\n";
    let report = simulate_json(&["--trace", &write(dir.path(), "abs.csv", rfc3339)]);
    assert_eq!(report["overall"]["deferred"], 50, "{report}");

    let extra =
        write(dir.path(), "extra.csv", "time_s,client_ip,recipients\n1,198.51.100.7,1\n2,198.51.100.7,1,x\n");
    let (code, _, err) = simulate(&["--trace", &extra]);
    assert_ne!(code, Some(0));
    assert!(err.contains("line 3") && err.contains("4 fields"), "the error names the line: {err}");

    let shuffled = "time_s,client_ip,recipients\n10,198.51.100.7,1\n20,198.51.100.7,1\n5,198.51.100.8,1\n";
    let shuffled = write(dir.path(), "shuffled.csv", shuffled);
    let (code, _, err) = simulate(&["--trace", &shuffled]);
    assert_ne!(code, Some(0));
    assert!(err.contains("line 4") && err.contains("--sort"), "refused with the line and the remedy: {err}");
    let (code, out, err) = simulate(&["--trace", &shuffled, "--sort"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("warning") && err.contains("1 rows were out of time order"), "{err}");
    assert!(out.contains("transactions") && out.contains("deferred %"), "{out}");
}

#[test]
fn policies_are_compared_side_by_side() {
    let dir = tempfile::tempdir().expect("tempdir");
    let strict = write(dir.path(), "strict.toml", "ip_floor_per_hour = 50.0\nip_burst_min = 10.0\n");
    let lenient = write(dir.path(), "lenient.toml", "ip_floor_per_hour = 5000.0\nip_burst_min = 5000.0\n");
    let report = simulate_json(&["--scenario", "S4", "--policy", &strict, "--policy", &lenient]);
    let policies = report["policies"].as_array().expect("one report per policy");
    assert_eq!(policies.len(), 2);
    let (a, b) = (&policies[0]["overall"]["deferred"], &policies[1]["overall"]["deferred"]);
    let (a, b) = (a.as_i64().expect("deferred"), b.as_i64().expect("deferred"));
    assert!(a > b, "the strict policy defers more: {a} vs {b}");
    assert_eq!(report["deferred_difference_from_first"]["blast"][1], b - a, "{report}");
    let (code, table, _) = simulate(&["--scenario", "S4", "--policy", &strict, "--policy", &lenient]);
    assert_eq!(code, Some(0));
    assert!(table.contains("policy A: ") && table.contains("B - A"), "{table}");
    let bad = write(dir.path(), "bad.toml", "growth_factor = 0.5\n");
    let (code, _, err) = simulate(&["--scenario", "S4", "--policy", &bad]);
    assert_ne!(code, Some(0));
    assert!(err.contains("bad.toml") && err.contains("growth_factor"), "{err}");
}

#[test]
fn progress_is_drawn_on_a_terminal_only() {
    let script = require_tool("script");
    let sluice = env!("CARGO_BIN_EXE_sluice");
    let on_tty = Command::new(&script)
        .args(["-qec", &format!("{sluice} simulate --scenario S1"), "/dev/null"])
        .env("SLUICE_PROGRESS_DELAY_MS", "0")
        .output()
        .expect("run script");
    let tty_text = String::from_utf8_lossy(&on_tty.stdout);
    assert!(on_tty.status.success(), "{tty_text}");
    assert!(
        tty_text.contains("rows/s") && tty_text.contains("ETA"),
        "no progress on a terminal:\n{tty_text}"
    );
    let piped = Command::new(sluice)
        .args(["simulate", "--scenario", "S1"])
        .env("SLUICE_PROGRESS_DELAY_MS", "0")
        .output()
        .expect("run sluice");
    assert!(piped.status.success());
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("rows/s"), "progress on a pipe");
    let json = Command::new(&script)
        .args(["-qec", &format!("{sluice} simulate --scenario S1 --json"), "/dev/null"])
        .env("SLUICE_PROGRESS_DELAY_MS", "0")
        .output()
        .expect("run script");
    assert!(!String::from_utf8_lossy(&json.stdout).contains("rows/s"), "progress under --json");
}

/// A real server throttles two clients and logs in JSON; replaying that log with the same
/// policy defers what the server deferred. The blaster's deferrals are two lines, the first
/// in full and the rest folded into one with their count, and replay all the same.
#[test]
fn the_json_log_of_a_real_server_replays() {
    let policy = [("ip_floor_per_hour", "4.0"), ("ip_burst_min", "4.0"), ("burst_minutes", "1.0")];
    let mut settings = Settings::default().throttled().key("log", "format", "\"json\"");
    for (k, v) in policy {
        settings = settings.key("throttle.policy", k, v);
    }
    let mut server = Server::start_with(settings);
    let mut steady = server.connect_from("127.0.0.2");
    for i in 0..3 {
        let reply =
            steady.send_message("a@it.test", &[&format!("steady{i}@{DOMAIN}")], "Subject: s\r\n\r\nhi");
        assert_eq!(reply.code, 250, "{reply}");
    }
    let mut blaster = server.connect_from("127.0.0.3");
    blaster.expect("MAIL FROM:<b@it.test>", 250);
    let mut codes = Vec::new();
    for i in 0..10 {
        codes.push(blaster.cmd(&format!("RCPT TO:<blast{i}@{DOMAIN}>")).code);
    }
    assert_eq!(codes, [250, 250, 250, 250, 451, 451, 451, 451, 451, 451], "the server's own verdicts");
    blaster.expect("DATA", 354);
    blaster.send_raw(b"Subject: b\r\n\r\nhi\r\n.\r\n");
    assert_eq!(blaster.reply().code, 250);

    // Stopping writes the deferral log's open minute (its count line).
    let status = server.terminate(std::time::Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let text = server.log();
    let deferrals: Vec<&str> =
        text.lines().filter(|l| l.contains("recipient deferred by throttling")).collect();
    assert_eq!(deferrals.len(), 2, "one line in full, one with the count:\n{text}");
    assert!(deferrals[0].contains("blast4@"), "the first in full: {}", deferrals[0]);
    assert!(
        deferrals[1].contains("\"rcpt_count\":5") && deferrals[1].contains("\"repeated\":true"),
        "{}",
        deferrals[1]
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write(dir.path(), "sluice.log", &text);
    let policy_text: String = policy.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
    let policy_file = write(dir.path(), "same.toml", &policy_text);
    let report = simulate_json(&["--log", &log, "--policy", &policy_file, "--group-by", "ip"]);
    let blast = &report["groups"]["127.0.0.3"];
    assert_eq!((blast["recipients"].as_u64(), blast["deferred"].as_u64()), (Some(10), Some(6)), "{report}");
    let steady = &report["groups"]["127.0.0.2"];
    assert_eq!((steady["recipients"].as_u64(), steady["deferred"].as_u64()), (Some(3), Some(0)), "{report}");
    assert_eq!(report["overall"]["transactions"], 3 + 1 + 2, "3 messages, 1 message, 2 deferral lines");
    let by_verdict = simulate_json(&["--log", &log, "--policy", &policy_file]);
    assert_eq!(by_verdict["groups"]["deferred AS501"]["recipients"], 6, "{by_verdict}");
}

#[test]
fn a_fleet_replay_is_reported_next_to_the_single_node_one() {
    let report = simulate_json(&["--scenario", "S4", "--nodes", "3", "--exchange-delay-s", "1"]);
    let policies = report["policies"].as_array().expect("one report per replay");
    assert_eq!(policies.len(), 2, "{report}");
    assert_eq!(policies[1]["policy"], "default policy, 3 nodes, delay 1 s", "{report}");
    let fraction = |p: &serde_json::Value| p["overall"]["deferred_fraction"].as_f64().expect("fraction");
    let (one, fleet) = (fraction(&policies[0]), fraction(&policies[1]));
    assert!((one - fleet).abs() <= 0.02, "3 nodes sharing counts {fleet} against one {one}");
    let (code, _, err) = simulate(&["--scenario", "S4", "--nodes", "0"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("--nodes"), "{err}");
}
