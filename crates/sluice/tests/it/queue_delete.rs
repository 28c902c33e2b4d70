//! The operator deletes queued mail through the queue manager that owns it: over the API
//! with a bounce that reaches the sender's own server and reads as an RFC 3464 DSN with
//! status `5.3.0`, and from the CLI one recipient at a time, silently. Tenants cannot.

use serde_json::Value;

use crate::admin_api::{Api, cli_token};
use crate::delivery::{Fixture, TENANT_DOMAIN, start, swaks};
use crate::harness::{DELIVERY_TIMEOUT, Settings};
use crate::peers::{check_dsn, wait_until};

/// The one queued message once its first attempt failed: its id and its queue entry.
fn waiting_message(api: &Api, op: &str) -> (String, Value) {
    wait_until(DELIVERY_TIMEOUT, || {
        let queue = api.ok("GET", "/api/v1/queue", op, None);
        let m = queue["messages"].get(0)?.clone();
        let id = m["id"].as_str()?.to_string();
        (m["state"] == "waiting" && m["attempts"].as_u64() >= Some(1)).then_some((id, m))
    })
    .unwrap_or_else(|| panic!("no waiting message: {}", api.ok("GET", "/api/v1/queue", op, None)))
}

fn operator(fixture: &Fixture) -> (Api, String) {
    (Api::new(&fixture.server), cli_token(&fixture.server, &["--role", "operator"]))
}

#[test]
fn a_message_deleted_through_the_api_bounces_to_its_sender_as_removed_by_an_administrator() {
    let fixture = start(Settings::default());
    let (api, op) = operator(&fixture);
    // bob's mailbox is on the tenant's own server: the test MX, where his bounce arrives.
    let bob = format!("bob@{TENANT_DOMAIN}");
    swaks(&fixture.server, "127.0.0.2", &bob, "someone@down.test", "stuck");
    let (id, entry) = waiting_message(&api, &op);
    assert_eq!(entry["recipients"], serde_json::json!(["someone@down.test"]), "{entry}");
    let path = format!("/api/v1/queue/{id}");

    let tenant = cli_token(&fixture.server, &["--role", "tenant-admin", "--tenant", "acme"]);
    let refused = api.call("DELETE", &path, Some(&tenant), None);
    assert_eq!(
        (refused.status, &refused.body["error"]["code"]),
        (404, &Value::from("not_found")),
        "{}",
        refused.text
    );
    let stranger = api.call("DELETE", &format!("{path}?recipients=nobody@else.test"), Some(&op), None);
    assert_eq!(stranger.status, 400, "{}", stranger.text);
    assert_eq!(stranger.body["error"]["field"], "queue.recipients", "{}", stranger.text);

    let deleted = api.ok("DELETE", &path, &op, None);
    assert_eq!(deleted["bounced"], true, "{deleted}");
    assert!(deleted["message"].as_str().is_some_and(|m| m.contains("someone@down.test")), "{deleted}");

    let messages = fixture.mx.wait_for_messages(1);
    let (from, rcpts, data) = &messages[0];
    assert_eq!((from.as_str(), rcpts.as_slice()), ("<>", [bob.clone()].as_slice()), "a bounce to bob");
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), data).expect("write the bounce");
    let report = &check_dsn(&[file.path()])[0];
    assert_eq!(report["report_type"], "delivery-status", "{report}");
    assert_eq!(report["permanent"], serde_json::json!(["someone@down.test"]), "{report}");
    assert_eq!(report["recipients"][0]["Status"], "5.3.0", "{report}");
    assert_eq!(report["recipients"][0]["Action"], "failed", "{report}");
    let human = report["human_text"].as_str().unwrap_or("");
    assert!(human.contains("An administrator of this mail system removed the message"), "{human}");
    assert!(human.contains("https://admin.sluice.test/help/5.3.0"), "links its help page: {human}");

    fixture.server.wait_idle();
    assert_eq!(api.ok("GET", "/api/v1/queue", &op, None)["total"], 0, "the message is gone");
    let again = api.call("DELETE", &path, Some(&op), None);
    assert_eq!(again.status, 404, "{}", again.text);
    let audit = api.ok("GET", "/api/v1/audit?action=queue.delete", &op, None);
    assert_eq!(audit.as_array().map(Vec::len), Some(1), "{audit}");
    assert_eq!(audit[0]["object"], id.as_str(), "{audit}");
}

#[test]
fn the_cli_deletes_recipients_one_by_one_without_a_bounce() {
    let fixture = start(Settings::default());
    let (api, op) = operator(&fixture);
    let bob = format!("bob@{TENANT_DOMAIN}");
    swaks(&fixture.server, "127.0.0.2", &bob, "one@down.test,two@down.test", "two recipients");
    let (id, _) = waiting_message(&api, &op);

    let first =
        fixture.server.cli_ok(&["queue", "delete", &id, "--no-bounce", "--recipient", "one@down.test"]);
    assert!(first.contains("removed 1 recipients") && first.contains("without a bounce"), "{first}");
    let queue = api.ok("GET", "/api/v1/queue", &op, None);
    assert_eq!(queue["messages"][0]["pending"], 1, "two@down.test is still queued: {queue}");
    let (code, twice) =
        fixture.server.cli(&["queue", "delete", &id, "--no-bounce", "--recipient", "one@down.test"]);
    assert_ne!(code, Some(0), "{twice}");
    assert!(twice.contains("queue.recipients") && twice.contains("already delivered or bounced"), "{twice}");

    let rest = fixture.server.cli_ok(&["queue", "delete", &id, "--no-bounce"]);
    assert!(rest.contains("two@down.test"), "{rest}");
    fixture.server.wait_idle();
    assert_eq!(api.ok("GET", "/api/v1/queue", &op, None)["total"], 0);
    assert!(fixture.mx.messages().is_empty(), "no bounce was sent: {:?}", fixture.mx.messages());
    let audit = fixture.server.cli_ok(&["audit", "--action", "queue.delete"]);
    assert_eq!(audit.matches("queue.delete").count(), 2, "{audit}");
}
