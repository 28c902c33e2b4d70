//! The tenant directory in the SMTP session: the server picks up a change to its database
//! (written here through the store, as the CLI does) without a restart; a partner connector
//! recognised by IP is never throttled while the same traffic from another IP is; unknown
//! recipients of an authoritative domain are refused with the directory's text.

use std::time::{Duration, Instant};

use directory::{Cidr, Connector, ConnectorKind, DirectoryStore, DomainName, NewTenant, TenantId};
use store::SqliteStore;

use crate::harness::{Client, Server, Settings, add_acme_test, directory_store, maildir_files, read_lossy};

fn provision(server: &Server) {
    let mut store = directory_store(server);
    let tenant = NewTenant::new("acme", "Acme Corp", "en").expect("tenant");
    let service = DomainName::parse("service", "sluice.test").expect("service domain");
    store.add_tenant(&tenant, &service).expect("add tenant");
    add_acme_test(&mut store);
    let id = TenantId::parse("acme").expect("id");
    let mut partner = Connector::new(id, "partner relay", ConnectorKind::Partner);
    partner.ip_ranges = vec![Cidr::parse("ip", "127.0.0.2/32").expect("cidr")];
    partner.require_tls = false;
    store.add_connector(&partner).expect("add connector");
}

/// A greeted client from `local` that has said EHLO.
fn connect_from(server: &Server, local: &str) -> Client {
    let mut client = server.connect_from(local);
    client.expect("EHLO partner.test", 250);
    client
}

/// Recipients accepted before the first refusal, up to `count`.
fn burst(client: &mut Client, count: usize) -> (usize, Option<String>) {
    client.expect("MAIL FROM:<news@partner.test>", 250);
    for n in 0..count {
        let reply = client.cmd("RCPT TO:<user@acme.test>");
        if reply.code != 250 {
            return (n, Some(reply.first_line()));
        }
    }
    client.expect("RSET", 250);
    (count, None)
}

#[test]
fn partner_connector_bypasses_throttling_and_directory_refusals_are_precise() {
    let server = Server::start_with(Settings::default().throttled());
    provision(&server);
    // The server polls the directory's generation every second.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut probe = connect_from(&server, "127.0.0.2");
        probe.expect("MAIL FROM:<a@partner.test>", 250);
        if probe.cmd("RCPT TO:<user@acme.test>").code == 250 {
            break;
        }
        assert!(Instant::now() < deadline, "the directory change was not picked up:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }

    let (accepted, refusal) = burst(&mut connect_from(&server, "127.0.0.2"), 800);
    assert!(refusal.is_none(), "the partner connector was throttled after {accepted}: {refusal:?}");
    let (accepted, refusal) = burst(&mut connect_from(&server, "127.0.0.3"), 800);
    let refusal =
        refusal.unwrap_or_else(|| panic!("{accepted} recipients from a new, unknown IP and no deferral"));
    assert!(refusal.starts_with("451 4.7.5") && refusal.contains("[127.0.0.3]"), "{refusal}");

    let mut client = connect_from(&server, "127.0.0.4");
    client.expect("MAIL FROM:<a@sender.test>", 250);
    let unknown = client.cmd("RCPT TO:<nobody@acme.test>");
    assert_eq!(unknown.code, 550, "{unknown}");
    assert!(unknown.to_string().contains("5.1.1") && unknown.to_string().contains("acme.test"), "{unknown}");
    let relay = client.cmd("RCPT TO:<user@elsewhere.test>");
    assert!(relay.first_line().starts_with("550 5.7.1"), "{relay}");

    // And the message itself reaches the tenant's mailbox.
    client.expect("RSET", 250);
    let reply =
        client.send_message("a@sender.test", &["user@acme.test"], "Subject: to acme\r\n\r\nhello acme\r\n");
    assert_eq!(reply.code, 250, "{reply}");
    let dir = server.data_dir().join("mail/acme.test/user/new");
    let deadline = Instant::now() + Duration::from_secs(20);
    while maildir_files(&dir).is_empty() {
        assert!(Instant::now() < deadline, "nothing delivered to {}", dir.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(read_lossy(&maildir_files(&dir)[0]).contains("hello acme"));
}

#[test]
fn connector_rules_tls_required_and_restricted_sender_domain() {
    let server = Server::start();
    provision(&server);
    let mut store = SqliteStore::open(&server.data_dir().join("sluice.db")).expect("open the directory");
    let id = TenantId::parse("acme").expect("id");
    let mut secure = Connector::new(id, "tls partner", ConnectorKind::Partner);
    secure.ip_ranges = vec![Cidr::parse("ip", "127.0.0.5/32").expect("cidr")];
    secure.sender_domains = vec![DomainName::parse("sender", "bank.test").expect("domain")];
    secure.restrict_sender_domains = true;
    assert!(secure.require_tls, "partner connectors require TLS by default");
    store.add_connector(&secure).expect("add connector");

    // Through the connector but in plain text: refused, naming the recipient's domain and the rule
    // (once the server has picked the change up; it polls every second).
    let deadline = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        let mut plain = connect_from(&server, "127.0.0.5");
        plain.expect("MAIL FROM:<pay@bank.test>", 250);
        let reply = plain.cmd("RCPT TO:<user@acme.test>").first_line();
        // Until the snapshot holds the connector: one taken between the provisioning and
        // the connector's addition knows the domain (250) but not the rule yet.
        if reply.starts_with("550 5.7.10") || Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        reply.starts_with("550 5.7.10") && reply.contains("Mail for acme.test from [127.0.0.5]"),
        "{reply}"
    );

    // The restricted sender domain from anywhere else: refused, naming the rule and the IP.
    let mut other = connect_from(&server, "127.0.0.6");
    other.expect("MAIL FROM:<pay@bank.test>", 250);
    let reply = other.cmd("RCPT TO:<user@acme.test>").first_line();
    assert!(
        reply.starts_with("550 5.7.51") && reply.contains("bank.test") && reply.contains("127.0.0.6"),
        "{reply}"
    );

    // Over STARTTLS through the connector (swaks from 127.0.0.5): accepted and delivered.
    let swaks = crate::harness::require_tool("swaks");
    let port = server.port.to_string();
    let run = crate::harness::run_tool(
        &swaks,
        &[
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--local-interface",
            "127.0.0.5",
            "-tls",
            "--from",
            "pay@bank.test",
            "--to",
            "user@acme.test",
            "--header",
            "Subject: via tls partner",
        ],
    );
    assert_eq!(run.code, Some(0), "swaks over STARTTLS through the connector:\n{run}");
}

#[test]
fn low_reputation_range_is_refused_5_7_708_unless_excepted_or_a_connector() {
    use directory::{ReputationEntry, ReputationKind};
    let server = Server::start();
    provision(&server);
    let mut store = SqliteStore::open(&server.data_dir().join("sluice.db")).expect("open the directory");
    let entry = |cidr: &str, kind| ReputationEntry {
        cidr: Cidr::parse("cidr", cidr).expect("cidr"),
        kind,
        note: "test".into(),
        expires_at_unix_s: None,
    };
    // The whole 127.0.0.0/29 is low-reputation, except 127.0.0.7; 127.0.0.2 is a connector.
    store.set_reputation(&entry("127.0.0.0/29", ReputationKind::Block)).expect("block");
    store.set_reputation(&entry("127.0.0.7/32", ReputationKind::Exception)).expect("exception");
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let mut client = connect_from(&server, "127.0.0.6");
        let reply = client.cmd("MAIL FROM:<a@sender.test>");
        if reply.code != 250 || Instant::now() > deadline {
            break reply.first_line();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(refused.starts_with("550 5.7.708") && refused.contains("[127.0.0.6]"), "{refused}");
    assert!(refused.contains("exception"), "the text tells the admin how to get an exception: {refused}");
    for (ip, who) in [("127.0.0.7", "an exception"), ("127.0.0.2", "a connector")] {
        let mut client = connect_from(&server, ip);
        client.expect("MAIL FROM:<a@sender.test>", 250);
        let reply = client.cmd("RCPT TO:<user@acme.test>");
        assert_eq!(reply.code, 250, "{ip} is {who}: `{reply}`");
    }
}
