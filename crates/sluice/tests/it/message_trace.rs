//! The message trace as the running server records it: a message sent with swaks, deferred
//! once by a scripted remote server (aiosmtpd) and then delivered, shows every step in
//! order through the API and `sluice trace`; a throttled blast is a few aggregated refusal
//! rows whose counts add up to the deferrals the client saw; a tenant finds its own
//! messages and refusals and never another tenant's.

use std::time::Duration;

use serde_json::{Value, json};

use crate::admin_api::{Api, cli_token};
use crate::delivery::{TENANT_DOMAIN, swaks};
use crate::harness::{DELIVERY_TIMEOUT, DOMAIN, Server, Settings, swaks_from};
use crate::peers::wait_until;

/// The queue id swaks was given (`queued as <id>`).
fn queued_as(transcript: &str) -> String {
    transcript
        .lines()
        .find_map(|l| l.split("queued as ").nth(1))
        .map(|id| id.trim().to_string())
        .unwrap_or_else(|| panic!("no queue id in:\n{transcript}"))
}

/// The message's trace once `done` holds for it (the writer batches, delivery takes time).
fn trace_when(api: &Api, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/api/v1/trace/messages/{id}");
    wait_until(DELIVERY_TIMEOUT, || {
        let answer = api.get(&path, token);
        (answer.status == 200 && done(&answer.body)).then_some(answer.body)
    })
    .unwrap_or_else(|| panic!("{path}: {}", api.get(&path, token).text))
}

fn steps(detail: &Value) -> Vec<(String, String)> {
    let timeline = detail["timeline"].as_array().cloned().unwrap_or_default();
    timeline
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap_or("?").to_string(),
                s["recipient"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_message_deferred_once_then_delivered_shows_every_step_in_order() {
    let settings = Settings::default().key("delivery", "retry_first_s", 1).key("delivery", "retry_max_s", 1);
    let fixture = crate::delivery::start(settings);
    let server = &fixture.server;
    let api = Api::new(server);
    let operator = cli_token(server, &["--role", "operator"]);
    let alice = format!("alice@{TENANT_DOMAIN}");
    let transcript = swaks(server, "127.0.0.2", &alice, "once@remote.test", "figures for the trace");
    let id = queued_as(&transcript);

    let detail = trace_when(&api, &operator, &id, |d| d["summary"]["status"] == "delivered");
    let rcpt = "once@remote.test".to_string();
    let expected = [("routed", &rcpt), ("deferred", &rcpt), ("routed", &rcpt), ("delivered", &rcpt)];
    let expected: Vec<(String, String)> =
        expected.iter().map(|(s, r)| (s.to_string(), r.to_string())).collect();
    assert_eq!(steps(&detail), expected, "{detail:#}");
    let timeline = &detail["timeline"];
    assert_eq!(timeline[0]["detail"], "mx:remote.test", "{detail:#}");
    let deferral = &timeline[1];
    assert!(
        deferral["detail"].as_str().is_some_and(|d| d.starts_with("451 4.3.0 Mailbox busy")),
        "{deferral}"
    );
    let next = deferral["next_attempt_unix_ms"].as_u64().expect("the next attempt is announced");
    let retried = timeline[2]["at_unix_ms"].as_u64().unwrap_or_default();
    assert!(next <= retried + 1000, "announced for {next}, retried at {retried}");
    let delivered = timeline[3]["detail"].as_str().unwrap_or_default();
    assert!(delivered.starts_with("mx.remote.test: 250"), "{delivered}");
    let at: Vec<u64> =
        timeline.as_array().into_iter().flatten().filter_map(|s| s["at_unix_ms"].as_u64()).collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "in time order: {at:?}");

    let summary = &detail["summary"];
    assert_eq!(
        (summary["direction"].as_str(), summary["tenant"].as_str(), summary["sender"].as_str()),
        (Some("outbound"), Some("acme"), Some(alice.as_str())),
        "{summary}"
    );
    assert_eq!(summary["subject"], "figures for the trace");
    assert!(summary["message_id"].as_str().is_some_and(|m| !m.is_empty() && !m.contains('<')), "{summary}");
    assert_eq!(
        (summary["client_ip"].as_str(), detail["connector"].as_str()),
        (Some("127.0.0.2"), Some("head office"))
    );
    assert_eq!(detail["helo"], "onprem.acme.test");
    assert_eq!(detail["recipients"], json!([{"address": "once@remote.test", "status": "delivered"}]));

    // The CLI shows the same steps, in the same order.
    let cli = server.cli_ok(&["trace", "--message-id", &id]);
    let order: Vec<&str> = cli
        .lines()
        .filter(|l| l.starts_with("    "))
        .filter_map(|l| {
            ["routed", "deferred", "delivered"].into_iter().find(|s| l.contains(&format!("  {s} ")))
        })
        .collect();
    assert_eq!(order, ["routed", "deferred", "routed", "delivered"], "{cli}");
    assert!(cli.contains("connector head office") && cli.contains("(next attempt "), "{cli}");
    let json_cli: Value =
        serde_json::from_str(&server.cli_ok(&["trace", "--message-id", &id, "--json"])).expect("JSON");
    assert_eq!(steps(&json_cli[0]), expected, "{json_cli:#}");
}

/// A new IP blasting recipients: each refused RCPT is counted, in a handful of rows (per
/// client, sender, domain, reply and minute), however many there were.
#[test]
fn a_throttled_blast_is_counted_in_aggregated_refusal_rows() {
    let server = Server::start_with(Settings::default().throttled());
    let api = Api::new(&server);
    let operator = cli_token(&server, &["--role", "operator"]);
    let mut client = server.connect();
    client.greet();
    client.expect("EHLO blaster.example", 250);
    let mut refused = 0u64;
    'blast: for batch in 0..40 {
        client.expect("MAIL FROM:<bulk@blaster.example>", 250);
        for n in 0..100 {
            let reply = client.cmd(&format!("RCPT TO:<r{batch}x{n}@{DOMAIN}>"));
            if reply.code == 451 {
                refused += 1;
            }
            if refused >= 300 {
                break 'blast;
            }
        }
        client.expect("RSET", 250);
    }
    assert_eq!(refused, 300, "the blast was not throttled:\n{}", server.log());
    client.cmd("QUIT");
    let rows = wait_until(DELIVERY_TIMEOUT, || {
        let page = api.ok("GET", "/api/v1/trace/refusals?ip=127.0.0.1", &operator, None);
        let rows = page["items"].as_array().cloned().unwrap_or_default();
        let counted: u64 = rows.iter().filter_map(|r| r["count"].as_u64()).sum();
        (counted == refused).then_some(rows)
    })
    .unwrap_or_else(|| panic!("{}", api.get("/api/v1/trace/refusals?ip=127.0.0.1", &operator).text));
    // Two minutes at most, each with at most two retry hints ("in N minutes" ticks over).
    assert!(rows.len() <= 4, "{} rows for {refused} refusals: {rows:#?}", rows.len());
    for row in &rows {
        assert_eq!(
            (row["sender"].as_str(), row["recipient_domain"].as_str()),
            (Some("bulk@blaster.example"), Some(DOMAIN))
        );
        let reply = row["reply"].as_str().unwrap_or_default();
        assert!(reply.starts_with("451 4.7.5") && reply.contains("(AS5"), "{reply}");
    }
    let cli = server.cli_ok(&["trace", "--refusals", "--ip", "127.0.0.1"]);
    assert!(cli.contains("bulk@blaster.example -> @example.test: 451 4.7.5"), "{cli}");
}

/// Two tenants receive mail; each one's admin finds its own message and refusal, gets 404
/// for the other's message, and sees nothing of the other's in any search.
#[test]
fn a_tenant_finds_its_own_messages_and_never_another_tenants() {
    let server = Server::start();
    let api = Api::new(&server);
    let operator = cli_token(&server, &["--role", "operator"]);
    for tenant in ["acme", "globex"] {
        api.ok("POST", "/api/v1/tenants", &operator, Some(json!({"id": tenant})));
        let bob = json!({"address": format!("bob@{tenant}.sluice.test")});
        api.ok("POST", &format!("/api/v1/tenants/{tenant}/recipients"), &operator, Some(bob));
    }
    let mut ids = Vec::new();
    for tenant in ["acme", "globex"] {
        let to = format!("bob@{tenant}.sluice.test");
        let subject = format!("Subject: for {tenant}");
        // The server picks the directory up within a second.
        let run = wait_until(Duration::from_secs(10), || {
            let args = ["--to", &to, "--from", "partner@far.example", "--header", &subject];
            let run = swaks_from(&server, "127.0.0.1", &args);
            (run.code == Some(0)).then_some(run)
        })
        .unwrap_or_else(|| panic!("{to} never accepted:\n{}", server.log()));
        ids.push(queued_as(&run.output()));
        let unknown = format!("nobody@{tenant}.sluice.test");
        let refused = swaks_from(&server, "127.0.0.1", &["--to", &unknown, "--from", "partner@far.example"]);
        assert!(refused.output().contains("550 5.1.1"), "{refused}");
    }
    let acme = cli_token(&server, &["--role", "tenant-admin", "--tenant", "acme"]);
    let globex = cli_token(&server, &["--role", "tenant-reader", "--tenant", "globex"]);
    for (token, own, other) in [(&acme, &ids[0], &ids[1]), (&globex, &ids[1], &ids[0])] {
        let detail = trace_when(&api, token, own, |d| d["summary"]["status"] == "delivered");
        assert_eq!(detail["summary"]["direction"], "inbound");
        let search = api.ok("GET", "/api/v1/trace/messages", token, None);
        let found: Vec<&str> =
            search["items"].as_array().into_iter().flatten().filter_map(|m| m["message"].as_str()).collect();
        assert_eq!(found, [own.as_str()], "{search}");
        assert_eq!(api.get(&format!("/api/v1/trace/messages/{other}"), token).status, 404);
        let by_sender = api.ok("GET", "/api/v1/trace/messages?sender=partner@far.example", token, None);
        assert_eq!(by_sender["items"].as_array().map(Vec::len), Some(1), "{by_sender}");
        let refusals = wait_until(DELIVERY_TIMEOUT, || {
            let page = api.ok("GET", "/api/v1/trace/refusals", token, None);
            let rows = page["items"].as_array().cloned().unwrap_or_default();
            (!rows.is_empty()).then_some(rows)
        })
        .unwrap_or_default();
        let domains: Vec<&str> = refusals.iter().filter_map(|r| r["recipient_domain"].as_str()).collect();
        let tenant = if token == &acme { "acme" } else { "globex" };
        assert_eq!(domains, [format!("{tenant}.sluice.test")], "{refusals:#?}");
    }
    // The operator sees both.
    let all = api.ok("GET", "/api/v1/trace/messages", &operator, None);
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2), "{all}");
}
