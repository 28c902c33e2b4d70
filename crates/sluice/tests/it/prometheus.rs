//! `GET /metrics` of a running server after real traffic (swaks, a raw client blasting
//! recipients at the throttle): `promtool check metrics` accepts the scrape, every count is
//! what the clients saw, and the totals survive a restart while latencies start afresh.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::admin_api::Api;
use crate::harness::{DELIVERY_TIMEOUT, DOMAIN, Server, Settings, require_tool, swaks_from};
use crate::peers::wait_until;

fn scrape(api: &Api) -> String {
    let answer = api.call("GET", "/metrics", None, None);
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.text
}

/// The value of one series (`name{labels}` exactly as rendered).
fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn count(scrape: &str, series: &str) -> u64 {
    value(scrape, series).unwrap_or_else(|| panic!("no {series} in:\n{scrape}")) as u64
}

fn promtool_accepts(scrape: &str) {
    let mut child = Command::new(require_tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), scrape.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("promtool");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool: {said}\n{scrape}");
}

#[test]
fn metrics_after_traffic_pass_promtool_and_count_what_happened() {
    let mut server = Server::start_with(Settings::default().throttled());
    let api = Api::new(&server);
    // The harness connected once to see the server listen: the baseline once the server has
    // taken that connection and seen it close (it may not have when the port answered).
    let connections_before = wait_until(DELIVERY_TIMEOUT, || {
        let text = scrape(&api);
        let (total, open) =
            (value(&text, "sluice_connections_total")?, value(&text, "sluice_connections_open")?);
        (total >= 1.0 && open == 0.0).then_some(total as u64)
    })
    .unwrap_or_else(|| panic!("the harness's connection was never counted:\n{}", scrape(&api)));
    for n in 0..3 {
        let run = swaks_from(&server, "127.0.0.1", &["--to", &format!("m{n}@{DOMAIN}")]);
        assert_eq!(run.code, Some(0), "{run}");
    }
    let relay = swaks_from(&server, "127.0.0.1", &["--to", "someone@elsewhere.test"]);
    assert!(relay.output().contains("550 5.7.1"), "{relay}");
    // A blast from the same new IP, until the throttle has deferred 50 recipients.
    let mut client = server.connect();
    client.greet();
    client.expect("EHLO blaster.example", 250);
    client.expect("MAIL FROM:<bulk@blaster.example>", 250);
    let (mut accepted, mut deferred) = (3u64, 0u64);
    for n in 0..5000 {
        match client.cmd(&format!("RCPT TO:<b{n}@{DOMAIN}>")).code {
            250 => accepted += 1,
            451 => deferred += 1,
            other => panic!("RCPT answered {other}"),
        }
        if deferred == 50 {
            break;
        }
        if n % 900 == 899 {
            client.expect("RSET", 250);
            client.expect("MAIL FROM:<bulk@blaster.example>", 250);
        }
    }
    assert_eq!(deferred, 50, "the blast was not throttled");
    client.cmd("QUIT");
    drop(client);

    let delivered = "sluice_deliveries_total{direction=\"inbound\",outcome=\"delivered\"}";
    let text = wait_until(DELIVERY_TIMEOUT, || {
        let text = scrape(&api);
        let settled =
            value(&text, delivered) == Some(3.0) && value(&text, "sluice_connections_open") == Some(0.0);
        settled.then_some(text)
    })
    .unwrap_or_else(|| panic!("never settled:\n{}", scrape(&api)));
    promtool_accepts(&text);
    let expect = |series: &str, n: u64| assert_eq!(count(&text, series), n, "{series}\n{text}");
    expect("sluice_messages_accepted_total{direction=\"inbound\"}", 3);
    expect("sluice_messages_accepted_total{direction=\"outbound\"}", 0);
    expect("sluice_connections_total", connections_before + 5);
    expect("sluice_smtp_replies_total{class=\"5\",code=\"550\",enhanced=\"5.7.1\"}", 1);
    expect("sluice_throttle_decisions_total{verdict=\"accept\"}", accepted);
    let tokens = ["AS501", "AS502", "AS503", "AS504", "AS505"];
    let by_token: u64 = tokens
        .iter()
        .filter_map(|t| {
            value(&text, &format!("sluice_throttle_decisions_total{{verdict=\"defer\",token=\"{t}\"}}"))
        })
        .map(|v| v as u64)
        .sum();
    assert_eq!(by_token, deferred, "{text}");
    let replies_451: u64 = text
        .lines()
        .filter(|l| l.starts_with("sluice_smtp_replies_total{class=\"4\",code=\"451\",enhanced=\"4.7.5"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum();
    assert_eq!(replies_451, deferred, "{text}");
    expect("sluice_smtp_accept_seconds_count", 3);
    assert!(count(&text, "sluice_spool_sync_seconds_count") >= 1, "{text}");
    assert!(count(&text, "sluice_delivery_attempt_seconds_count{kind=\"maildir\"}") >= 1, "{text}");
    let traced = wait_until(DELIVERY_TIMEOUT, || {
        let text = scrape(&api);
        // Each message: arrival, routed, delivered; each refusal: one event.
        (count(&text, "sluice_trace_events_total{result=\"recorded\"}") >= 9 + 1 + deferred).then_some(text)
    });
    assert!(traced.is_some(), "the trace writer fell behind:\n{}", scrape(&api));
    expect("sluice_trace_events_total{result=\"dropped\"}", 0);

    // Totals survive a restart; what is measured anew (latencies, open connections) does not.
    server.terminate(Duration::from_secs(10));
    server.spawn();
    let api = Api::new(&server);
    let after = scrape(&api);
    promtool_accepts(&after);
    let again = |series: &str| count(&after, series);
    assert_eq!(again("sluice_messages_accepted_total{direction=\"inbound\"}"), 3, "{after}");
    assert_eq!(again("sluice_throttle_decisions_total{verdict=\"accept\"}"), accepted, "{after}");
    assert_eq!(again("sluice_smtp_replies_total{class=\"5\",code=\"550\",enhanced=\"5.7.1\"}"), 1, "{after}");
    assert_eq!(again(delivered), 3, "{after}");
    assert_eq!(again("sluice_smtp_accept_seconds_count"), 0, "{after}");
    assert_eq!(again("sluice_connections_open"), 0, "{after}");
    assert!(again("sluice_connections_total") >= connections_before + 5, "{after}");
    assert!(server.log().contains("metric totals restored"), "{}", server.log());
}
