//! Adaptive IP throttling seen from a client: a blast from a new IP is
//! deferred with `451 4.7.5xx ... from [IP] ... (ASnnn)`, and an IP on the
//! operator allow list (`sluice throttle allow`) never is; observe mode; the
//! counters across a restart; what `throttle show` and `throttle list
//! --throttled` tell the operator.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::harness::{Client, DOMAIN, Reply, Server, Settings, add_acme_test, directory_store};

/// Up to this many recipients from one new IP: far above the probation
/// allowance (a few hundred an hour), far below a real blast.
const BLAST_RECIPIENTS: usize = 600;

/// RCPTs in batches of 100 per message (recipients_per_message_max stays
/// default); returns (accepted count, first refusal).
fn blast(client: &mut Client) -> (usize, Option<Reply>) {
    let mut accepted = 0;
    for batch in 0..BLAST_RECIPIENTS / 100 {
        client.expect("MAIL FROM:<blaster@it.test>", 250);
        for i in 0..100 {
            let reply = client.cmd(&format!("RCPT TO:<b{batch}x{i}@{DOMAIN}>"));
            if reply.code != 250 {
                return (accepted, Some(reply));
            }
            accepted += 1;
        }
        client.expect("RSET", 250);
    }
    (accepted, None)
}

/// `sluice throttle <args>` against the server's config.
fn throttle_cli(server: &Server, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["throttle"];
    all.extend_from_slice(args);
    server.cli(&all)
}

#[test]
fn blast_from_a_new_ip_is_deferred_451_4_7_5xx_naming_ip_and_reason() {
    let server = Server::start_with(Settings::default().throttled());
    let mut client = server.connect();
    client.greet();
    let (accepted, refusal) = blast(&mut client);
    let reply = refusal
        .unwrap_or_else(|| panic!("{accepted} recipients from a brand-new IP in seconds and none deferred"));
    let text = reply.text();
    let enhanced = text.split_whitespace().next().unwrap_or_default();
    assert!(
        reply.code == 451
            && (enhanced.starts_with("4.7.5") || enhanced.starts_with("4.7.6"))
            && enhanced.len() == "4.7.5xx".len(),
        "throttle deferral should be `451 4.7.5xx`..`4.7.6xx`, got `{reply}`"
    );
    assert!(text.contains("[127.0.0.1]"), "deferral should name the IP as [127.0.0.1]: `{reply}`");
    assert!(
        text.contains("(AS") && text.contains(')'),
        "deferral should carry the reason token (ASnnn): `{reply}`"
    );
    assert!(accepted > 0, "the very first recipient of a new IP was deferred: `{reply}`");

    let (code, out) = throttle_cli(&server, &["show", "127.0.0.1"]);
    assert_eq!(code, Some(0), "sluice throttle show 127.0.0.1:\n{out}");
    assert!(out.contains("127.0.0.1"), "throttle show does not mention the IP:\n{out}");
    let (code, stats) = throttle_cli(&server, &["stats"]);
    assert_eq!(code, Some(0), "{stats}");
    let accepted_line = format!("throttle_recipients_accepted {accepted}");
    assert!(stats.contains(&accepted_line), "stats count the accepted recipients ({accepted}):\n{stats}");
    assert!(stats.contains("throttle_recipients_deferred{token=\"AS5"), "{stats}");
}

#[test]
fn allow_listed_ip_is_never_deferred() {
    let server = Server::start_with(Settings::default().throttled());
    let (code, out) = throttle_cli(&server, &["allow", "127.0.0.0/8", "--note", "integration tests"]);
    assert_eq!(code, Some(0), "sluice throttle allow 127.0.0.0/8:\n{out}");
    let (code, list) = throttle_cli(&server, &["list"]);
    assert!(code == Some(0) && list.contains("127.0.0.0/8"), "allow list after allow:\n{list}");
    // The running server re-reads the file when it changes.
    server.wait_log_count("throttle allow list reloaded", 1);
    let mut client = server.connect();
    client.greet();
    let (accepted, refusal) = blast(&mut client);
    assert!(refusal.is_none(), "an allow-listed IP was deferred after {accepted} recipients: {refusal:?}");
}

/// A policy in which a new IP may send two recipients and then one every half hour: a
/// restart, however slow, cannot refill the allowance.
fn tiny_allowance() -> Settings {
    Settings::default()
        .throttled()
        .key("throttle.policy", "ip_floor_per_hour", "2.0")
        .key("throttle.policy", "ip_burst_min", "2.0")
        .key("throttle.policy", "burst_minutes", "1.0")
}

#[test]
fn history_survives_a_restart() {
    let mut server = Server::start_with(tiny_allowance());
    let mut client = server.connect();
    client.greet();
    let (accepted, refusal) = blast(&mut client);
    assert!(refusal.is_some(), "{accepted} recipients from a new IP and none deferred");
    assert_eq!(accepted, 2, "the tiny allowance");
    drop(client);
    let status = server.terminate(std::time::Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "SIGTERM should stop the server cleanly: {status:?}");

    // Server stopped: the CLI explains from the history saved at shutdown.
    let (code, out) = throttle_cli(&server, &["show", "127.0.0.1"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("from the saved history"), "{out}");
    assert!(out.contains(&format!("accepted this hour {accepted}")), "history lost at shutdown:\n{out}");

    // After the restart the IP still has its spent allowance: a forgetful server would
    // accept another burst as if the sender were new.
    server.spawn();
    let mut client = server.connect();
    client.greet();
    client.expect("MAIL FROM:<blaster@it.test>", 250);
    let reply = client.cmd(&format!("RCPT TO:<after-restart@{DOMAIN}>"));
    assert_eq!(reply.code, 451, "the history did not survive the restart: `{reply}`");
    let (code, live) = throttle_cli(&server, &["show", "127.0.0.1"]);
    assert!(
        code == Some(0) && !live.contains("from the saved history"),
        "show should ask the live server:\n{live}"
    );
}

#[test]
fn each_ip_has_its_own_history_and_the_allow_list_is_per_network() {
    let server = Server::start_with(Settings::default().throttled());
    let (code, out) = throttle_cli(&server, &["allow", "127.0.0.2/32", "--note", "partner"]);
    assert_eq!(code, Some(0), "{out}");
    server.wait_log_count("throttle allow list reloaded", 1);
    let (accepted, refusal) = blast(&mut server.connect_from("127.0.0.2"));
    assert!(refusal.is_none(), "allow-listed 127.0.0.2 deferred after {accepted}: {refusal:?}");
    let (_, refusal) = blast(&mut server.connect_from("127.0.0.3"));
    let reply = refusal.expect("127.0.0.3 is not on the allow list and sends a blast");
    assert!(reply.text().contains("[127.0.0.3]"), "the deferral names the client IP: `{reply}`");
}

/// `sluice throttle stats` as `name value` pairs.
fn stats(server: &Server) -> HashMap<String, u64> {
    let (code, text) = throttle_cli(server, &["stats"]);
    assert_eq!(code, Some(0), "sluice throttle stats:\n{text}");
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

const ACCEPTED: &str = "throttle_recipients_accepted";
const DEFERRED_AS501: &str = "throttle_recipients_deferred{token=\"AS501\"}";
const WOULD_DEFER_AS501: &str = "throttle_recipients_would_defer{token=\"AS501\"}";

/// `sluice throttle list --throttled --json`.
fn throttled(server: &Server) -> serde_json::Value {
    let text = server.cli_ok(&["throttle", "list", "--throttled", "--json"]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON ({e}):\n{text}"))
}

/// Observe mode over SMTP: a blast is accepted whole, while the counters, the throttled list
/// and the log say what enforcing would have deferred (one log line, not one per recipient);
/// a reload to enforce defers at once; the JSON log replays the would-defers as attempts.
#[test]
fn observe_mode_accepts_what_it_would_defer_and_a_reload_enforces() {
    let settings = Settings::default()
        .throttled()
        .key("throttle", "mode", "\"observe\"")
        .key("log", "format", "\"json\"");
    let mut server = Server::start_with(settings);
    let mut client = server.connect();
    client.greet();
    let started = Instant::now();
    let (accepted, refusal) = blast(&mut client);
    let minutes = started.elapsed().as_secs() / 60 + 1;
    assert!(refusal.is_none(), "observe mode deferred after {accepted}: {refusal:?}");

    let counts = stats(&server);
    let would = counts[WOULD_DEFER_AS501];
    assert_eq!(counts["throttle_observe_mode"], 1, "{counts:?}");
    assert!(would > 100, "a blast from a new IP would have been deferred: {counts:?}");
    assert_eq!(counts[ACCEPTED] + would, BLAST_RECIPIENTS as u64, "{counts:?}");
    assert_eq!(counts[DEFERRED_AS501], 0, "nothing was deferred: {counts:?}");
    let list = throttled(&server);
    assert_eq!(list[0]["key"], "127.0.0.1", "{list}");
    assert_eq!((list[0]["would_defer"].as_u64(), list[0]["deferred"].as_u64()), (Some(would), Some(0)));
    assert_eq!(list[0]["would_defer_by_token"]["AS501"].as_u64(), Some(would), "{list}");
    let log = server.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("would defer recipient")).collect();
    assert!(lines[0].contains("(AS501)") && lines[0].contains("[127.0.0.1]"), "{}", lines[0]);
    assert!(lines.len() as u64 <= 2 * minutes, "{would} would-defers wrote {} lines:\n{log}", lines.len());

    let config = std::fs::read_to_string(server.config_path()).expect("config");
    let enforcing = config.replace("mode = \"observe\"", "mode = \"enforce\"");
    std::fs::write(server.config_path(), enforcing).expect("rewrite config");
    let hup = std::process::Command::new("kill").args(["-HUP", &server.pid().to_string()]).status();
    assert!(hup.is_ok_and(|s| s.success()), "kill -HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut client = server.connect();
    client.greet();
    client.expect("MAIL FROM:<blaster@it.test>", 250);
    loop {
        let reply = client.cmd(&format!("RCPT TO:<after-reload@{DOMAIN}>"));
        if reply.code == 451 {
            assert!(reply.text().contains("(AS501)"), "{reply}");
            break;
        }
        assert!(Instant::now() < deadline, "still accepting after the reload to enforce: {reply}");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(client);
    // Recipients tried before the reload took hold were would-defers too.
    let (would, deferred) = {
        let counts = stats(&server);
        (counts[WOULD_DEFER_AS501], counts[DEFERRED_AS501])
    };
    let status = server.terminate(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sluice.log");
    std::fs::write(&path, server.log()).expect("write log");
    let replay = crate::simulate::simulate_json(&["--log", path.to_str().expect("utf-8")]);
    assert_eq!(replay["groups"]["would defer AS501"]["recipients"].as_u64(), Some(would), "{replay}");
    assert_eq!(replay["groups"]["deferred AS501"]["recipients"].as_u64(), Some(deferred), "{replay}");
}

/// Gives the test tenant acme a partner connector for `ip`/32 (plain text allowed).
fn add_partner_connector(server: &Server, ip: &str) {
    use directory::{Cidr, Connector, ConnectorKind, DirectoryStore, DomainName, NewTenant, TenantId};
    let mut store = directory_store(server);
    let service = DomainName::parse("service", "sluice.test").expect("service domain");
    store.add_tenant(&NewTenant::new("acme", "Acme Corp", "en").expect("tenant"), &service).expect("tenant");
    add_acme_test(&mut store);
    let mut partner =
        Connector::new(TenantId::parse("acme").expect("id"), "partner relay", ConnectorKind::Partner);
    partner.ip_ranges = vec![Cidr::parse("ip", &format!("{ip}/32")).expect("cidr")];
    partner.require_tls = false;
    store.add_connector(&partner).expect("add connector");
}

/// `count` recipients for `to` in one transaction from a greeted client: the replies' codes.
fn recipients(client: &mut Client, to: &str, count: usize) -> Vec<u16> {
    client.expect("MAIL FROM:<sender@partner.test>", 250);
    let codes = (0..count).map(|_| client.cmd(&format!("RCPT TO:<{to}>")).code).collect();
    client.expect("RSET", 250);
    codes
}

/// Waits (bounded) until `sluice throttle show IP` says `text`: the running server has
/// picked up a change.
fn wait_for_show(server: &Server, ip: &str, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, out) = throttle_cli(server, &["show", ip]);
        if code == Some(0) && out.contains(text) {
            return out;
        }
        assert!(Instant::now() < deadline, "throttle show {ip} never said {text:?}:\n{out}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The counters per verdict and token survive a restart; recipients through a tenant's
/// connector and from the allow list count as bypassed; `throttle show` names both; the
/// throttled list shows the IP deferred, with its count per token.
#[test]
fn counters_survive_a_restart_and_bypasses_are_counted_and_explained() {
    let mut server = Server::start_with(Settings::default().throttled());
    add_partner_connector(&server, "127.0.0.2");
    let show = wait_for_show(&server, "127.0.0.2", "connector \"partner relay\" of tenant acme");
    assert!(
        show.contains(
            "(partner, IP range 127.0.0.2/32): mail from this IP to acme's recipients is never throttled"
        ),
        "{show}"
    );
    let codes = recipients(&mut server.connect_from("127.0.0.2"), "user@acme.test", 400);
    assert!(codes.iter().all(|c| *c == 250), "the connector's recipients were throttled: {codes:?}");
    server.cli_ok(&["throttle", "allow", "127.0.0.4/32", "--note", "it relay"]);
    wait_for_show(&server, "127.0.0.4", "accept (operator allow list: 127.0.0.4/32, \"it relay\"");
    let codes = recipients(&mut server.connect_from("127.0.0.4"), &format!("a@{DOMAIN}"), 5);
    assert_eq!(codes, [250; 5]);
    let (_, refusal) = blast(&mut server.connect_from("127.0.0.3"));
    let deferral = refusal.expect("a blast from 127.0.0.3 is deferred");

    let before = stats(&server);
    assert!(before["throttle_recipients_bypassed{via=\"connector\"}"] >= 400, "{before:?}");
    assert_eq!(before["throttle_recipients_bypassed{via=\"allow_list\"}"], 5, "{before:?}");
    assert_eq!(before[DEFERRED_AS501], 1, "{deferral} {before:?}");
    let (code, table) = throttle_cli(&server, &["list", "--throttled", "--since", "10m"]);
    assert_eq!(code, Some(0), "{table}");
    let row = table.lines().find(|l| l.starts_with("127.0.0.3 ")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains(" ip ") && row.contains("1 (AS501 1)") && row.contains("deferring"), "{table}");
    assert!(
        !table.contains("127.0.0.2") && !table.contains("127.0.0.4"),
        "bypasses are not deferrals:\n{table}"
    );
    let (code, out) = throttle_cli(&server, &["list", "--throttled", "--since", "2d"]);
    assert!(code != Some(0) && out.contains("throttle.since") && out.contains("24h"), "{out}");

    let status = server.terminate(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    server.spawn();
    let after = stats(&server);
    for (name, value) in before
        .iter()
        .filter(|(n, _)| n.starts_with("throttle_recipients_") || n.starts_with("throttle_counters_"))
    {
        assert_eq!(after.get(name), Some(value), "{name} after the restart: {after:?}");
    }
}
