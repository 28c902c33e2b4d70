//! DNS blocklists against a real DNS server on loopback (dnslib): a listed client is
//! refused at MAIL FROM with `550 5.7.708` naming the zone and the operator's command for an
//! exception; an unlisted one is served; an exception (`sluice reputation except`) lets the
//! listed one through. A list that never answers delays neither the banner nor the mail.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use directory::{DirectoryStore, DomainName, NewTenant};

use crate::harness::{Server, Settings, add_acme_test, directory_store, require_tool, run_tool};
use crate::peers::DnsServer;

pub(crate) const ZONE: &str = "zen.example.test";

pub(crate) fn provision(server: &Server) {
    let mut store = directory_store(server);
    let service = DomainName::parse("service", "sluice.test").expect("service domain");
    store.add_tenant(&NewTenant::new("acme", "Acme", "en").expect("tenant"), &service).expect("add tenant");
    add_acme_test(&mut store);
    server.wait_directory_current();
}

fn dnsbl_server(resolver: &str, timeout_ms: u32) -> Server {
    let settings = Settings::default()
        .key("reputation", "dnsbl_zones", format!("[\"{ZONE}\"]"))
        .key("reputation", "dnsbl_timeout_ms", timeout_ms)
        .key("dns", "resolver", format!("\"{resolver}\""))
        // Refusals link their help page only where the admin center is reachable.
        .key("delivery", "admin_url", "\"https://admin.sluice-it.test\"");
    let server = Server::start_with(settings);
    provision(&server);
    server
}

/// The reply to MAIL FROM from `local` (after the banner and EHLO).
fn mail_from(server: &Server, local: &str) -> String {
    let mut client = server.connect_from(local);
    client.cmd("MAIL FROM:<news@sender.test>").to_string()
}

#[test]
fn dnsbl_listed_client_is_refused_5_7_708_until_excepted() {
    // 127.0.0.2 is listed (RFC 5782's test entry); 127.0.0.3 is not (NXDOMAIN).
    let records = format!(r#"{{"2.0.0.127.{ZONE}": {{"A": ["127.0.0.2"]}}}}"#);
    let dns = DnsServer::start(&records);
    let server = dnsbl_server(&dns.addr.to_string(), 2000);

    let swaks = require_tool("swaks");
    let port = server.port.to_string();
    let run = run_tool(
        &swaks,
        &[
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--local-interface",
            "127.0.0.2",
            "--from",
            "news@sender.test",
            "--to",
            "user@acme.test",
            "--quit-after",
            "RCPT",
            "--timeout",
            "20",
        ],
    );
    let out = run.output();
    let refusal = out.lines().find(|l| l.contains("550")).unwrap_or_else(|| panic!("no refusal:\n{run}"));
    assert!(refusal.contains("550-5.7.708") && refusal.contains("[127.0.0.2]"), "{refusal}");
    assert!(refusal.contains(&format!("listed by the DNS blocklist {ZONE}")), "the zone is named: {refusal}");
    assert!(refusal.contains("request an exception for [127.0.0.2]"), "how to get an exception: {refusal}");
    assert!(!refusal.contains("sluice "), "no operator command in a reply to a sender: {refusal}");
    assert!(out.contains("550 5.7.708 Help: "), "the help page is linked:\n{out}");

    // Unlisted: served.
    let mut client = server.connect_from("127.0.0.3");
    client.expect("MAIL FROM:<news@sender.test>", 250);
    client.expect("RCPT TO:<user@acme.test>", 250);

    server.cli_ok(&["reputation", "except", "127.0.0.2/32", "--note", "delisting pending"]);
    // New sessions use the changed directory; the listing itself stays cached.
    server.wait_directory_current();
    let reply = mail_from(&server, "127.0.0.2");
    assert!(reply.starts_with("250"), "the exception did not apply: {reply}\n{}", server.log());
    assert!(server.log().contains("client listed by a DNSBL"), "the listing is logged");
}

/// A DNS server that never answers: the banner and EHLO come before the lookup gives up
/// (its failure is logged when the timeout fires, so its absence proves the order without
/// a wall-clock bound), MAIL FROM waits for the verdict, and the client counts as not listed.
#[test]
fn dnsbl_timeout_delays_neither_banner_nor_mail() {
    const TIMEOUT_MS: u64 = 3000;
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind a silent DNS port");
    let resolver = silent.local_addr().expect("addr").to_string();
    let server = dnsbl_server(&resolver, TIMEOUT_MS as u32);
    let gave_up = "DNSBL lookup failed; treated as not listed";

    let started = Instant::now();
    let mut client = server.connect_from("127.0.0.4");
    assert_eq!(server.log_count(gave_up), 0, "the banner waited for the lookup:\n{}", server.log());
    let reply = client.cmd("MAIL FROM:<news@sender.test>");
    let waited = started.elapsed();
    assert_eq!(reply.code, 250, "a silent DNSBL must not refuse: {reply}");
    assert_eq!(server.log_count(gave_up), 1, "MAIL FROM waited for the verdict:\n{}", server.log());
    // At most the timeout, with a generous allowance for a loaded machine.
    let bound = Duration::from_millis(TIMEOUT_MS) + Duration::from_secs(10);
    assert!(waited < bound, "MAIL FROM waited {waited:?}");
    drop(silent);
}
