//! Outbound connectors from the command line: `sluice connector add --direction outbound`
//! with errors naming the field, list/show/enable/disable/remove across both directions, and
//! `sluice connector validate` against a running Sluice gateway as the smart host, and the
//! queue manager delivering through a connector's smart host.

use crate::harness::{DOMAIN, Server, Settings, free_port, swaks_from};
use crate::peers::{DnsServer, MxServer};

fn ok(server: &Server, args: &[&str]) -> String {
    server.cli_ok(args)
}

fn fails(server: &Server, args: &[&str], needles: &[&str]) -> String {
    let (code, text) = server.cli(args);
    assert!(code.is_some_and(|c| c != 0), "`sluice {}` should fail:\n{text}", args.join(" "));
    for needle in needles {
        assert!(text.contains(needle), "`sluice {}`: expected {needle:?} in:\n{text}", args.join(" "));
    }
    text
}

fn add_outbound(server: &Server, name: &str, extra: &[&str]) {
    let mut args = vec!["connector", "add", name, "--tenant", "acme", "--direction", "outbound"];
    args.extend_from_slice(extra);
    ok(server, &args);
}

#[test]
fn outbound_connectors_are_added_listed_and_refused_by_field() {
    let server = Server::start();
    ok(&server, &["tenant", "add", "acme"]);
    add_outbound(
        &server,
        "partner",
        &["--recipient-domain", "partner.example", "--smart-host", "relay.partner.example:587"],
    );
    let show = ok(&server, &["connector", "show", "partner", "--tenant", "acme"]);
    for needle in [
        "direction:      outbound",
        "partner.example",
        "smart-hosts relay.partner.example:587",
        "tls:            opportunistic",
    ] {
        assert!(show.contains(needle), "{needle:?} in:\n{show}");
    }
    add_outbound(
        &server,
        "all-mx",
        &["--tls", "verify-domain", "--tls-domain", "Mail.Example.COM", "--disabled"],
    );
    let list = ok(&server, &["connector", "list", "--tenant", "acme"]);
    assert!(
        list.lines().any(|l| l.contains("all-mx")
            && l.contains("disabled")
            && l.contains("tls-verify-domain mail.example.com")
            && l.contains(" mx")),
        "{list}"
    );
    ok(&server, &["connector", "enable", "all-mx", "--tenant", "acme"]);
    assert!(
        ok(&server, &["connector", "list"]).lines().any(|l| l.contains("all-mx") && l.contains("enabled"))
    );
    ok(
        &server,
        &["connector", "add", "hq", "--tenant", "acme", "--kind", "on-premises", "--ip", "192.0.2.0/24"],
    );
    assert!(ok(&server, &["tenant", "show", "acme"]).contains("all-mx (outbound, enabled)"));

    let add = ["connector", "add", "x", "--tenant", "acme", "--direction", "outbound"];
    let with = |extra: &[&'static str]| [&add[..], extra].concat();
    fails(&server, &with(&["--tls", "verify-domain"]), &["connector.tls_domain"]);
    fails(&server, &with(&["--tls", "strict"]), &["connector.tls", "verify-certificate"]);
    fails(&server, &with(&["--smart-host", "relay.example:0"]), &["connector.smart_host", "port"]);
    fails(&server, &with(&["--recipient-domain", "not a domain"]), &["connector.recipient_domain"]);
    fails(&server, &with(&["--ip", "192.0.2.0/24"]), &["connector.ip", "only inbound"]);
    fails(
        &server,
        &["connector", "add", "x", "--tenant", "acme", "--kind", "partner", "--smart-host", "a.example"],
        &["connector.smart_host", "--direction outbound"],
    );
    fails(
        &server,
        &["connector", "add", "x", "--tenant", "acme", "--direction", "sideways"],
        &["connector.direction"],
    );
    fails(
        &server,
        &["connector", "add", "HQ", "--tenant", "acme", "--direction", "outbound"],
        &["already has a connector named"],
    );
    // An inbound connector is validated against a described client: without one, that is
    // what is missing.
    fails(
        &server,
        &["connector", "validate", "hq", "--tenant", "acme"],
        &["validate.client_ip", "describe the client"],
    );
    fails(&server, &["connector", "validate", "all-mx", "--tenant", "acme"], &["validate.to"]);

    ok(&server, &["connector", "remove", "partner", "--tenant", "acme"]);
    ok(&server, &["connector", "remove", "hq", "--tenant", "acme"]);
    let list = ok(&server, &["connector", "list"]);
    assert!(!list.contains("partner") && !list.contains("hq") && list.contains("all-mx"), "{list}");
}

#[test]
fn validate_walks_every_step_and_delivers_a_test_message() {
    let server = Server::start();
    ok(&server, &["tenant", "add", "acme"]);
    let smart_host = format!("127.0.0.1:{}", server.port);
    add_outbound(&server, "relay", &["--smart-host", &smart_host, "--tls", "required"]);
    let to = format!("bob@{DOMAIN}");
    let out = ok(&server, &["connector", "validate", "relay", "--tenant", "acme", "--to", &to]);
    for step in ["resolve", "connect", "banner", "ehlo", "starttls", "mail", "rcpt", "data", "quit"] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(&format!("ok   {step} "))),
            "step {step} passed in:\n{out}"
        );
    }
    assert!(out.contains("STARTTLS") && out.contains("PIPELINING"), "EHLO capabilities shown:\n{out}");
    assert!(out.contains("TLSv1_3") && out.contains("not verified (TLS mode required"), "{out}");
    assert!(out.contains("250 2.0.0 Ok: queued as"), "the queued-as reply:\n{out}");
    assert!(out.contains("passed every step"), "{out}");
    let mail = server.wait_for_mail("bob", 1);
    assert!(mail[0].contains("Subject: Sluice connector validation: relay of tenant acme"), "{}", mail[0]);
    assert!(mail[0].contains("with ESMTPS"), "sent over STARTTLS:\n{}", mail[0]);

    // The gateway's certificate is self-signed: verify-certificate must stop at STARTTLS.
    add_outbound(&server, "strict", &["--smart-host", &smart_host, "--tls", "verify-certificate"]);
    let out = fails(
        &server,
        &["connector", "validate", "strict", "--tenant", "acme"],
        &["failed validation at step starttls"],
    );
    assert!(
        out.contains("FAIL starttls") && out.contains("trusted root") && out.contains("tls_ca_file"),
        "{out}"
    );
}

#[test]
fn validate_names_the_failing_step_and_what_to_check() {
    let server = Server::start();
    ok(&server, &["tenant", "add", "acme"]);
    let closed = format!("127.0.0.1:{}", free_port());
    add_outbound(&server, "dead", &["--smart-host", &closed]);
    let out = fails(
        &server,
        &["connector", "validate", "dead", "--tenant", "acme", "--to", "bob@example.test"],
        &["failed validation at step connect", &closed],
    );
    assert!(out.lines().any(|l| l.contains("ok   resolve")), "{out}");
    assert!(out.lines().any(|l| l.contains("FAIL connect")), "{out}");
    assert!(out.contains("check: that the server runs and accepts connections on port"), "{out}");
    assert!(!out.contains(" banner "), "no step after the failed one:\n{out}");
}

/// The queue manager routes a tenant's outbound mail through the connector for the
/// recipient domain: `partner.test` is unknown to DNS, so only the smart host can take it.
#[test]
fn a_tenants_outbound_mail_takes_its_connector_to_the_smart_host() {
    let smart_host = MxServer::start();
    let dns = DnsServer::start(r#"{"remote.test": {"MX": [[10, "mx.remote.test"]]}}"#);
    let server = Server::start_with(Settings::default().key("dns", "resolver", format!("\"{}\"", dns.addr)));
    ok(&server, &["tenant", "add", "acme"]);
    ok(
        &server,
        &["connector", "add", "hq", "--tenant", "acme", "--kind", "on-premises", "--ip", "127.0.0.2/32"],
    );
    let hop = format!("127.0.0.1:{}", smart_host.port);
    add_outbound(&server, "partner", &["--recipient-domain", "partner.test", "--smart-host", &hop]);
    server.wait_directory_current();
    let args = [
        "--from",
        "alice@acme.sluice.test",
        "--to",
        "bob@eu.partner.test",
        "--header",
        "Subject: via connector",
    ];
    let run = swaks_from(&server, "127.0.0.2", &args);
    assert_eq!(run.code, Some(0), "swaks failed:\n{run}");
    let messages = smart_host.wait_for_messages(1);
    let (mail_from, rcpts, data) = &messages[0];
    assert_eq!(
        (mail_from.as_str(), rcpts.as_slice()),
        ("alice@acme.sluice.test", &["bob@eu.partner.test".to_string()][..])
    );
    assert!(data.contains("Subject: via connector"), "{data}");
}

/// An MX connector is validated through the configured resolver and MX port, as delivery
/// would go: here to an aiosmtpd server without STARTTLS, fine for opportunistic TLS.
#[test]
fn validate_by_mx_uses_the_configured_resolver() {
    let mx = MxServer::start();
    let dns = DnsServer::start(
        r#"{"remote.test": {"MX": [[10, "mx.remote.test"]]}, "mx.remote.test": {"A": ["127.0.0.1"]}}"#,
    );
    let settings = Settings::default()
        .key("dns", "resolver", format!("\"{}\"", dns.addr))
        .key("delivery", "mx_port", mx.port);
    let server = Server::start_with(settings);
    ok(&server, &["tenant", "add", "acme"]);
    add_outbound(&server, "remote", &["--recipient-domain", "remote.test"]);
    let out = ok(&server, &["connector", "validate", "remote", "--tenant", "acme", "--to", "ok@remote.test"]);
    assert!(out.lines().any(|l| l.contains("ok   resolve") && l.contains("MX mx.remote.test")), "{out}");
    assert!(out.contains("not offered: mail goes in plain text (opportunistic)"), "{out}");
    let messages = mx.wait_for_messages(1);
    assert_eq!(messages[0].1, vec!["ok@remote.test".to_string()]);

    add_outbound(&server, "strict", &["--recipient-domain", "strict.remote.test", "--tls", "required"]);
    let out = fails(
        &server,
        &["connector", "validate", "strict", "--tenant", "acme", "--to", "ok@remote.test"],
        &["failed validation at step starttls", "not offered, and the TLS mode is required"],
    );
    assert!(out.contains("check: enable STARTTLS on the server"), "{out}");
}
