//! The open-relay suite over SMTP: a running Sluice with a tenant directory (an
//! authoritative domain with recipients, an internal-relay domain, an unverified domain, an
//! accepted IDN and an on-premises connector on 127.0.0.2) and every classic way of sneaking
//! mail through a gateway, each a row with the reply it must get. swaks for the ASCII
//! addresses, Python's smtplib for the SMTPUTF8 ones.

use std::time::{Duration, Instant};

use directory::{
    Cidr, Connector, ConnectorKind, DeliveryTarget, DirectoryStore, DomainKind, DomainName, NewDomain,
    NewTenant, Recipient, TenantId,
};
use serde_json::Value;
use store::SqliteStore;

use crate::harness::{Server, ToolRun, require_tool, run_tool, swaks_from};

/// An unknown client: no connector, not on any list.
const INTERNET: &str = "127.0.0.3";

fn add_domain(store: &mut SqliteStore, id: &TenantId, name: &str, kind: DomainKind, verified: bool) {
    let domain =
        NewDomain { name: DomainName::parse("domain", name).expect("domain"), kind, match_subdomains: false };
    store.add_domain(id, &domain).expect("add domain");
    if verified {
        store.mark_domain_verified(id, &domain.name).expect("verify");
    }
}

fn provision(server: &Server) {
    let mut store = SqliteStore::open(&server.data_dir().join("sluice.db")).expect("open the directory");
    let service = DomainName::parse("service", "sluice.test").expect("service domain");
    store.add_tenant(&NewTenant::new("acme", "Acme", "en").expect("tenant"), &service).expect("add tenant");
    let id = TenantId::parse("acme").expect("id");
    add_domain(&mut store, &id, "accepted.test", DomainKind::Authoritative, true);
    add_domain(&mut store, &id, "internal.test", DomainKind::InternalRelay, true);
    add_domain(&mut store, &id, "pending.test", DomainKind::Authoritative, false);
    // bücher.test, stored (and only storable) in its A-label form.
    add_domain(&mut store, &id, "bücher.test", DomainKind::Authoritative, true);
    for address in ["user@accepted.test", "postmaster@accepted.test", "user@xn--bcher-kva.test"] {
        let r = Recipient::new(id.clone(), address, &[], DeliveryTarget::Maildir).expect("recipient");
        store.add_recipient(&r).expect("add recipient");
    }
    let mut onprem = Connector::new(id, "hq", ConnectorKind::OnPremises);
    onprem.ip_ranges = vec![Cidr::parse("ip", "127.0.0.2/32").expect("cidr")];
    store.add_connector(&onprem).expect("add connector");
}

/// swaks from `local`: MAIL, one RCPT TO:<rcpt> exactly as given, then QUIT.
fn swaks_rcpt(server: &Server, local: &str, rcpt: &str) -> ToolRun {
    let args = [
        "--helo",
        "relay-test.it.test",
        "--from",
        "probe@outside.test",
        "--to",
        rcpt,
        "--quit-after",
        "RCPT",
    ];
    swaks_from(server, local, &args)
}

/// The reply to the RCPT TO (or to whatever swaks sent last when the server refused earlier).
fn rcpt_reply(run: &ToolRun) -> String {
    let out = run.output();
    let lines: Vec<&str> = out.lines().collect();
    let at =
        lines.iter().position(|l| l.contains("RCPT TO:")).unwrap_or_else(|| panic!("no RCPT sent:\n{run}"));
    lines
        .get(at + 1)
        .map(|l| crate::harness::one_line(l.trim_start_matches(['<', '*', '-', ' '])))
        .unwrap_or_default()
}

/// Waits until the server has picked the directory up (it polls every second).
fn wait_for_directory(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !rcpt_reply(&swaks_rcpt(server, INTERNET, "user@accepted.test")).starts_with("250") {
        assert!(Instant::now() < deadline, "the directory was not picked up:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn open_relay_attempts_over_smtp_are_refused() {
    let server = Server::start();
    provision(&server);
    wait_for_directory(&server);
    // (recipient as sent, reply prefix, a phrase the text must hold)
    let rows: &[(&str, &str, &str)] = &[
        ("user%other.test@accepted.test", "550 5.1.3", "routing characters"), // percent hack
        ("user%other.test@internal.test", "550 5.1.3", "routing characters"), // ... internal relay too
        ("other.test!user@accepted.test", "550 5.1.3", "routing characters"), // bang path
        ("\"user@other.test\"@accepted.test", "550 5.1.3", "routing characters"), // quoted @
        ("@accepted.test:user@other.test", "550 5.7.1", "for other.test"),    // source route
        // A trailing dot is not RFC 5321 syntax: the parser refuses it before relay control
        // (the directory would treat it as the same domain, see its tests).
        ("user@other.test.", "501 5.1.3", "Bad address syntax"),
        ("USER@OTHER.TEST", "550 5.7.1", "for other.test;"), // upper case
        ("USER@ACCEPTED.TEST", "250", ""),                   // accepted, any case
        ("user@accepted.test.", "501 5.1.3", "Bad address syntax"),
        ("nobody@accepted.test", "550 5.1.1", "does not exist in accepted.test"),
        ("user@xn--mller-kva.test", "550 5.7.1", "xn--mller-kva.test"), // IDN, not accepted
        ("user@xn--bcher-kva.test", "250", ""),                         // IDN, accepted
        ("user@[127.0.0.1]", "550 5.7.1", "address literals"),
        ("user@[IPv6:::1]", "550 5.7.1", "address literals"),
        ("user@pending.test", "550 5.7.1", "pending.test is not verified"), // unverified domain
        ("user@sub.accepted.test", "550 5.7.1", "for sub.accepted.test"),   // no sub-domain matching
        ("user@accepted.test.other.test", "550 5.7.1", "for accepted.test.other.test"),
    ];
    let mut failures = Vec::new();
    for (rcpt, code, phrase) in rows {
        let run = swaks_rcpt(&server, INTERNET, rcpt);
        let reply = rcpt_reply(&run);
        if !reply.starts_with(code) || !reply.contains(phrase) {
            failures.push(format!("RCPT TO:<{rcpt}>: expected `{code} ...{phrase}...`, got `{reply}`"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let stray = server.data_dir().join("mail").join("other.test");
    assert!(!stray.exists(), "a relay attempt created {}", stray.display());
}

/// SMTPUTF8: a U-label domain nobody accepts is relay (in either form), and an accepted
/// IDN is one domain whether written as U-label or A-label.
#[test]
fn smtputf8_idn_recipients_are_one_domain_in_either_form() {
    let server = Server::start();
    provision(&server);
    wait_for_directory(&server);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/py/smtp_client.py");
    let port = server.port.to_string();
    let rcpts = [
        "user@müller.test",
        "user@xn--mller-kva.test",
        "user@bücher.test",
        "user@BÜCHER.test",
        "nobody@bücher.test",
    ];
    let mut args = vec![script, "rcpt_utf8", &port, INTERNET];
    args.extend(rcpts);
    let run = run_tool(&require_tool("python3"), &args);
    assert_eq!(run.code, Some(0), "{run}");
    let out: Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}:\n{run}"));
    assert_eq!(out["smtputf8"], true, "{out}");
    assert_eq!(out["mail"][0], 250, "{out}");
    let reply = |rcpt: &str| {
        let r = &out["rcpt"][rcpt];
        format!("{} {}", r[0], r[1].as_str().unwrap_or_default())
    };
    for rcpt in ["user@müller.test", "user@xn--mller-kva.test"] {
        let r = reply(rcpt);
        assert!(r.starts_with("550 5.7.1") && r.contains("xn--mller-kva.test"), "{rcpt}: {r}");
    }
    for rcpt in ["user@bücher.test", "user@BÜCHER.test"] {
        assert!(reply(rcpt).starts_with("250"), "{rcpt}: {}", reply(rcpt));
    }
    let unknown = reply("nobody@bücher.test");
    assert!(unknown.starts_with("550 5.1.1") && unknown.contains("xn--bcher-kva.test"), "{unknown}");
}

/// The tenant's own server (on-premises connector, 127.0.0.2) may send to any domain: the
/// RCPT is accepted, not a relay denial. Its delivery through MX is tested with the outbound
/// work (`delivery::outbound_mail_reaches_the_mx_and_failures_bounce_to_the_sender`).
#[test]
fn on_premises_connector_may_relay_outbound() {
    let server = Server::start();
    provision(&server);
    wait_for_directory(&server);
    let reply = rcpt_reply(&swaks_rcpt(&server, "127.0.0.2", "someone@outside.test"));
    assert!(reply.starts_with("250"), "outbound relay from the on-premises connector: {reply}");
    // The same recipient from the internet is relay.
    let reply = rcpt_reply(&swaks_rcpt(&server, INTERNET, "someone@outside.test"));
    assert!(reply.starts_with("550 5.7.1"), "{reply}");
}
