//! Delivery end to end: Sluice relays a tenant's outbound mail to the recipient domain's MX
//! (found through a real DNS server) and hands inbound mail to a tenant's own server; remote
//! servers (aiosmtpd) answer with scripted 2xx/4xx/5xx; failures come back to the sender as
//! RFC 3464 bounces that Python's `email` package and flufl.bounce read; delays are
//! announced, old mail expires, a throttling destination is left alone, and the retry
//! schedule survives a restart.

use std::path::PathBuf;
use std::time::Duration;

use directory::{
    Cidr, Connector, ConnectorKind, DeliveryTarget, DirectoryStore, DomainName, NewTenant, NextHop,
    Recipient, TenantId,
};
use store::SqliteStore;

use crate::harness::{DELIVERY_TIMEOUT, Server, Settings, ToolRun, maildir_files, read_lossy, swaks_from};
use crate::peers::{DnsServer, LmtpServer, MxServer, check_dsn, wait_until};

/// The tenant's own mail domain (its service domain, verified from birth).
pub const TENANT_DOMAIN: &str = "acme.sluice.test";

pub struct Fixture {
    pub server: Server,
    pub mx: MxServer,
    _dns: DnsServer,
}

/// DNS: `remote.test` and `throttle.test` have an MX on loopback (the same server: two
/// destinations, so pausing one leaves the other alone), `nullmx.test` publishes a null MX,
/// `nowhere.test` does not exist, `down.test`'s MX is an address where nothing listens.
pub fn start(extra: Settings) -> Fixture {
    start_with_mx(extra, MxServer::start())
}

fn start_with_mx(extra: Settings, mx: MxServer) -> Fixture {
    let (server, dns) = start_sluice(extra, mx.port);
    Fixture { server, mx, _dns: dns }
}

/// Sluice provisioned as for [`start`], with the DNS server and the MX hosts' SMTP port
/// `mx_port`, for a remote server the caller runs (or starts later).
pub fn start_sluice(extra: Settings, mx_port: u16) -> (Server, DnsServer) {
    let (settings, dns) = sluice_settings(extra, mx_port);
    let server = Server::start_with(settings);
    provision(&server, mx_port);
    (server, dns)
}

/// The settings [`start_sluice`] starts Sluice with, and the DNS server they name.
pub fn sluice_settings(extra: Settings, mx_port: u16) -> (Settings, DnsServer) {
    let dns = DnsServer::start(
        r#"{"remote.test": {"MX": [[10, "mx.remote.test"]]},
            "throttle.test": {"MX": [[10, "mx.remote.test"]]},
            "mx.remote.test": {"A": ["127.0.0.1"]},
            "down.test": {"MX": [[10, "mx.down.test"]]},
            "mx.down.test": {"A": ["127.0.0.9"]},
            "nullmx.test": {"MX": [[0, "."]]}}"#,
    );
    let settings = extra
        .key("delivery", "mx_port", mx_port)
        .key("dns", "resolver", format!("\"{}\"", dns.addr))
        .key("delivery", "admin_url", "\"https://admin.sluice.test\"");
    (settings, dns)
}

/// Tenant acme: alice and carol (alias `info`) keep mail in Sluice, bob's mailbox is on
/// the tenant's own server (the aiosmtpd peer), and its on-premises server is 127.0.0.2.
fn provision(server: &Server, mailbox_port: u16) {
    let mut store = SqliteStore::open(&server.data_dir().join("sluice.db")).expect("open the directory");
    provision_store(&mut store, mailbox_port);
    server.wait_directory_current();
}

/// [`provision`] into any directory store (a fleet's PostgreSQL database).
pub fn provision_store(store: &mut dyn DirectoryStore, mailbox_port: u16) {
    let tenant = NewTenant::new("acme", "Acme Corp", "en").expect("tenant");
    store.add_tenant(&tenant, &DomainName::parse("service", "sluice.test").expect("domain")).expect("tenant");
    let id = TenantId::parse("acme").expect("id");
    let add = |store: &mut dyn DirectoryStore, address: &str, aliases: &[&str], target: DeliveryTarget| {
        let recipient = Recipient::new(id.clone(), address, aliases, target).expect("recipient");
        store.add_recipient(&recipient).expect("add recipient");
    };
    add(store, &format!("alice@{TENANT_DOMAIN}"), &[], DeliveryTarget::Maildir);
    add(store, &format!("carol@{TENANT_DOMAIN}"), &["info"], DeliveryTarget::Maildir);
    let server_hop = NextHop { host: "127.0.0.1".into(), port: mailbox_port };
    add(store, &format!("bob@{TENANT_DOMAIN}"), &[], DeliveryTarget::Smtp(server_hop));
    let mut on_premises = Connector::new(id, "head office", ConnectorKind::OnPremises);
    on_premises.ip_ranges = vec![Cidr::parse("ip", "127.0.0.2/32").expect("cidr")];
    on_premises.require_tls = false;
    store.add_connector(&on_premises).expect("add connector");
}

/// swaks from `local_ip` with `body`.
pub fn swaks_run(
    server: &Server,
    local_ip: &str,
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
) -> ToolRun {
    let header = format!("Subject: {subject}");
    let args =
        ["--helo", "onprem.acme.test", "--from", from, "--to", to, "--header", &header, "--body", body];
    swaks_from(server, local_ip, &args)
}

/// swaks from `local_ip`, which must succeed; returns its transcript.
pub fn swaks(server: &Server, local_ip: &str, from: &str, to: &str, subject: &str) -> String {
    let run = swaks_run(server, local_ip, from, to, subject, "Quarterly figures attached.");
    assert_eq!(run.code, Some(0), "swaks failed:\n{run}");
    run.output()
}

/// A tenant mailbox's `new/` folder in Sluice's Maildir.
pub fn mailbox(server: &Server, local: &str) -> PathBuf {
    server.data_dir().join("mail").join(TENANT_DOMAIN).join(local).join("new")
}

/// Waits for `count` messages in a tenant mailbox.
fn wait_for_mailbox(fixture: &Fixture, local: &str, count: usize) -> Vec<PathBuf> {
    let dir = mailbox(&fixture.server, local);
    wait_until(DELIVERY_TIMEOUT, || {
        let files = maildir_files(&dir);
        (files.len() >= count).then_some(files)
    })
    .unwrap_or_else(|| {
        panic!(
            "{} holds {} of {count} messages\n{}",
            dir.display(),
            maildir_files(&dir).len(),
            fixture.server.log()
        )
    })
}

#[test]
fn outbound_mail_reaches_the_mx_and_failures_bounce_to_the_sender() {
    let fixture = start(Settings::default());
    let alice = format!("alice@{TENANT_DOMAIN}");
    let to = "ok@remote.test,fail@remote.test,user@nullmx.test";
    let transcript = swaks(&fixture.server, "127.0.0.2", &alice, to, "figures");
    assert!(transcript.contains("250 2.0.0 Ok: queued"), "{transcript}");

    let messages = fixture.mx.wait_for_messages(1);
    let (mail_from, rcpts, data) = &messages[0];
    assert_eq!(mail_from, &alice);
    assert_eq!(rcpts, &["ok@remote.test".to_string()]);
    assert!(data.contains("Subject: figures") && data.contains("Received: from onprem.acme.test"), "{data}");

    // One bounce for the two failed recipients, in alice's mailbox.
    let bounce = wait_for_mailbox(&fixture, "alice", 1);
    let text = read_lossy(&bounce[0]);
    assert!(text.starts_with("Return-Path: <>"), "a bounce has the null sender:\n{text}");
    let report = &check_dsn(&[bounce[0].as_path()])[0];
    assert_eq!(report["content_type"], "multipart/report", "{report}");
    assert_eq!(report["report_type"], "delivery-status", "{report}");
    assert_eq!(report["auto_submitted"], "auto-replied", "{report}");
    assert_eq!(report["permanent"], serde_json::json!(["fail@remote.test", "user@nullmx.test"]), "{report}");
    let recipients = report["recipients"].as_array().expect("recipients");
    assert_eq!(recipients.len(), 2, "{report}");
    let failed = &recipients[0];
    assert_eq!(failed["Final-Recipient"], "rfc822; fail@remote.test", "{report}");
    assert_eq!(failed["Action"], "failed");
    assert_eq!(failed["Status"], "5.1.1");
    assert_eq!(failed["Remote-MTA"], "dns; mx.remote.test", "{report}");
    assert!(failed["Diagnostic-Code"].as_str().is_some_and(|d| d.contains("550 5.1.1")), "{report}");
    assert_eq!(recipients[1]["Status"], "5.1.10", "null MX (RFC 7505): {report}");
    assert!(
        text.contains("https://admin.sluice.test/help/5.1.1"),
        "the bounce links to the help page:\n{text}"
    );
}

#[test]
fn inbound_mail_goes_to_the_tenant_server_and_aliases_to_their_mailbox() {
    let fixture = start(Settings::default());
    // From an ordinary sender on the internet (not the tenant's connector).
    swaks(&fixture.server, "127.0.0.3", "news@partner.test", &format!("bob@{TENANT_DOMAIN}"), "to bob");
    let messages = fixture.mx.wait_for_messages(1);
    assert_eq!(messages[0].1, [format!("bob@{TENANT_DOMAIN}")], "handed to the tenant's server as addressed");
    assert!(messages[0].2.contains("Subject: to bob"));

    swaks(&fixture.server, "127.0.0.3", "news@partner.test", &format!("info@{TENANT_DOMAIN}"), "to info");
    let files = wait_for_mailbox(&fixture, "carol", 1);
    let text = read_lossy(&files[0]);
    assert!(text.contains("Subject: to info"), "{text}");
    assert!(
        text.contains(&format!("Delivered-To: info@{TENANT_DOMAIN}")),
        "the envelope keeps the alias:\n{text}"
    );
}

#[test]
fn a_delay_is_announced_then_the_message_expires_and_bounces() {
    let settings = Settings::default()
        .key("delivery", "retry_first_s", 1)
        .key("delivery", "retry_max_s", 1)
        .key("delivery", "delay_notice_s", 2)
        .key("delivery", "max_age_s", 6);
    let fixture = start(settings);
    swaks(&fixture.server, "127.0.0.2", &format!("alice@{TENANT_DOMAIN}"), "later@remote.test", "slow");
    let files = wait_for_mailbox(&fixture, "alice", 2);
    let reports = check_dsn(&files.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    let actions: Vec<&str> =
        reports.iter().map(|r| r["recipients"][0]["Action"].as_str().unwrap_or("?")).collect();
    assert_eq!(actions, ["delayed", "failed"], "{reports:?}");
    let delayed = &reports[0]["recipients"][0];
    assert!(delayed["Will-Retry-Until"].is_string(), "{delayed}");
    assert!(delayed["Diagnostic-Code"].as_str().is_some_and(|d| d.contains("451 4.3.0")), "{delayed}");
    let expired = &reports[1];
    // Expiry is reported as Exchange and sendmail do (4.4.7), with the last real reply.
    assert_eq!(expired["recipients"][0]["Status"], "4.4.7", "{expired}");
    let diagnostic = expired["recipients"][0]["Diagnostic-Code"].as_str().unwrap_or_default();
    assert!(diagnostic.starts_with("smtp; 451 4.3.0"), "{expired}");
    assert_eq!(expired["permanent"], serde_json::json!(["later@remote.test"]), "{expired}");
    // The delay notice and the expiry came from two attempts after the first.
    let attempts = fixture.mx.rcpts().iter().filter(|(a, _)| a == "later@remote.test").count();
    assert!(attempts >= 2, "retried until expiry, got {attempts} attempts");
    // Expired means finished: once the queue is idle no attempt can follow.
    fixture.server.wait_idle();
    assert_eq!(fixture.mx.rcpts().iter().filter(|(a, _)| a == "later@remote.test").count(), attempts);
}

/// The delay notice goes out once: the schedule in the spool remembers that it was sent, so
/// the attempts after a restart do not repeat it.
#[test]
fn a_delay_notice_is_not_repeated_after_a_restart() {
    let settings = Settings::default()
        .key("delivery", "retry_first_s", 1)
        .key("delivery", "retry_max_s", 1)
        .key("delivery", "delay_notice_s", 1)
        .key("delivery", "max_age_s", 3600);
    let mut fixture = start(settings);
    swaks(&fixture.server, "127.0.0.2", &format!("alice@{TENANT_DOMAIN}"), "later@remote.test", "slow");
    let notices = wait_for_mailbox(&fixture, "alice", 1);
    let report = &check_dsn(&[notices[0].as_path()])[0];
    assert_eq!(report["recipients"][0]["Action"], "delayed", "{report}");
    let attempts = || fixture.mx.rcpts().iter().filter(|(a, _)| a == "later@remote.test").count();
    let before = attempts();
    fixture.server.terminate(Duration::from_secs(20)).expect("exit after SIGTERM");
    fixture.server.spawn();
    // Two more attempts, each old enough for a notice had the first one been forgotten.
    let retried = wait_until(DELIVERY_TIMEOUT, || (attempts() >= before + 2).then_some(()));
    assert!(retried.is_some(), "not retried after the restart:\n{}", fixture.server.log());
    fixture.server.wait_idle();
    let notices = maildir_files(&mailbox(&fixture.server, "alice"));
    assert_eq!(notices.len(), 1, "the delay notice was sent again after the restart");
}

/// A `4.7.x` throttling reply and a `421` both pause the destination: the messages behind
/// the first one are deferred unsent, and none is tried again within the pause.
#[test]
fn a_destination_that_asks_to_slow_down_is_left_alone() {
    for (local, code) in [("throttle", 451), ("busy", 421)] {
        let settings = Settings::default()
            .key("delivery", "retry_first_s", 1)
            .key("delivery", "destination_concurrency", 1)
            .key("delivery", "destination_pause_s", 300);
        let fixture = start(settings);
        let alice = format!("alice@{TENANT_DOMAIN}");
        let to = format!("{local}@remote.test");
        for n in 0..5 {
            swaks(&fixture.server, "127.0.0.2", &alice, &to, &format!("batch {n}"));
        }
        fixture.server.wait_log_count("asked Sluice to slow down", 4);
        // Every message is back waiting (not before the pause ends): nothing else can go out.
        fixture.server.wait_idle();
        let answered: Vec<u16> = fixture.mx.rcpts().iter().map(|(_, c)| *c).collect();
        assert_eq!(answered, [code], "one {code} answer paused the destination:\n{}", fixture.server.log());
    }
}

#[test]
fn the_retry_schedule_survives_a_restart() {
    let settings = Settings::default().key("delivery", "retry_first_s", 3600);
    let mut fixture = start(settings);
    swaks(&fixture.server, "127.0.0.2", &format!("alice@{TENANT_DOMAIN}"), "later@remote.test", "once");
    let first = wait_until(DELIVERY_TIMEOUT, || (!fixture.mx.rcpts().is_empty()).then_some(()));
    assert!(first.is_some(), "no first attempt:\n{}", fixture.server.log());
    // Let the deferral and its schedule reach the spool, then restart.
    fixture.server.wait_log_count("delivery deferred", 1);
    // Waiting again: its schedule is on its way to the spool (a clean stop writes it).
    fixture.server.wait_idle();
    fixture.server.terminate(Duration::from_secs(10));
    fixture.server.spawn();
    // Recovered and waiting for its hour (a lost schedule would have been retried by now).
    fixture.server.wait_idle();
    assert_eq!(
        fixture.mx.rcpts().len(),
        1,
        "the restart retried at once instead of in an hour:\n{}",
        fixture.server.log()
    );
    assert!(fixture.server.log().contains("spool recovered"));
}

#[test]
fn a_backlog_for_one_destination_shares_one_connection() {
    // One delivery at a time to remote.test, and the server holds the first message until
    // the test releases it: the messages sent meanwhile queue up and then go out together
    // over one connection.
    let settings = Settings::default().key("delivery", "destination_concurrency", 1);
    let fixture = start(settings);
    let alice = format!("alice@{TENANT_DOMAIN}");
    swaks(&fixture.server, "127.0.0.2", &alice, "slow@remote.test", "slow");
    let held = wait_until(DELIVERY_TIMEOUT, || (!fixture.mx.rcpts().is_empty()).then_some(()));
    assert!(held.is_some(), "the first message did not reach the server:\n{}", fixture.server.log());
    for n in 0..5 {
        swaks(&fixture.server, "127.0.0.2", &alice, &format!("ok{n}@remote.test"), &format!("backlog {n}"));
    }
    let queued = wait_until(DELIVERY_TIMEOUT, || {
        let list = fixture.server.cli_ok(&["queue", "list"]);
        list.starts_with("6 messages: 6 active").then_some(())
    });
    assert!(queued.is_some(), "the backlog did not queue up:\n{}", fixture.server.cli_ok(&["queue", "list"]));
    fixture.mx.release();
    let messages = fixture.mx.wait_for_messages(6);
    assert_eq!(messages[0].1, ["slow@remote.test"], "the slow one was first");
    let ports = fixture.mx.message_ports();
    assert!(
        ports[1..].iter().all(|p| *p == ports[1]),
        "the backlog went over several connections: {ports:?}"
    );
}

#[test]
fn lmtp_mailboxes_get_one_answer_each() {
    let lmtp =
        LmtpServer::start(&format!(r#"{{"full@{TENANT_DOMAIN}": {{"data": "452 4.2.2 Mailbox full"}}}}"#));
    let fixture = start(Settings::default().key("delivery", "retry_first_s", 3600));
    let mut store =
        SqliteStore::open(&fixture.server.data_dir().join("sluice.db")).expect("open the directory");
    let id = TenantId::parse("acme").expect("id");
    for local in ["dave", "full"] {
        let target = DeliveryTarget::Lmtp(NextHop { host: "127.0.0.1".into(), port: lmtp.port });
        let recipient =
            Recipient::new(id.clone(), &format!("{local}@{TENANT_DOMAIN}"), &[], target).expect("recipient");
        store.add_recipient(&recipient).expect("add recipient");
    }
    fixture.server.wait_directory_current();
    let to = format!("dave@{TENANT_DOMAIN},full@{TENANT_DOMAIN}");
    swaks(&fixture.server, "127.0.0.3", "news@partner.test", &to, "over lmtp");
    let transactions = wait_until(DELIVERY_TIMEOUT, || {
        let t = lmtp.transactions();
        (!t.is_empty()).then_some(t)
    })
    .unwrap_or_else(|| panic!("nothing reached the LMTP server\n{}", fixture.server.log()));
    assert_eq!(transactions[0]["lhlo"], "mx.sluice-it.test", "{transactions:?}");
    assert_eq!(
        transactions[0]["rcpt_tos"],
        serde_json::json!([format!("dave@{TENANT_DOMAIN}"), format!("full@{TENANT_DOMAIN}")])
    );
    let settled = wait_until(DELIVERY_TIMEOUT, || {
        let log = fixture.server.log();
        (log.contains("delivered") && log.contains("delivery deferred")).then_some(log)
    })
    .unwrap_or_else(|| panic!("no outcomes logged\n{}", fixture.server.log()));
    let line = |needle: &str| settled.lines().find(|l| l.contains(needle)).unwrap_or("").to_string();
    assert!(line(" delivered").contains(&format!("dave@{TENANT_DOMAIN}")), "{settled}");
    let deferred = line("delivery deferred");
    assert!(
        deferred.contains(&format!("full@{TENANT_DOMAIN}")) && deferred.contains("452 4.2.2"),
        "{deferred}"
    );
}

#[test]
fn shutdown_does_not_wait_for_a_server_that_never_answers() {
    let mut fixture = start(Settings::default());
    swaks(&fixture.server, "127.0.0.2", &format!("alice@{TENANT_DOMAIN}"), "hang@remote.test", "stuck");
    let stuck = wait_until(DELIVERY_TIMEOUT, || (!fixture.mx.rcpts().is_empty()).then_some(()));
    assert!(stuck.is_some(), "{}", fixture.server.log());
    let started = std::time::Instant::now();
    let status = fixture.server.terminate(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "no clean exit:\n{}", fixture.server.log());
    assert!(started.elapsed() < Duration::from_secs(20), "shutdown waited {:?}", started.elapsed());
    assert!(fixture.server.log().contains("were cut off"), "{}", fixture.server.log());
    // The message was not lost: the next start tries it again.
    fixture.server.spawn();
    let retried = wait_until(DELIVERY_TIMEOUT, || (fixture.mx.rcpts().len() >= 2).then_some(()));
    assert!(retried.is_some(), "not retried after the restart:\n{}", fixture.server.log());
}

#[test]
fn the_operator_sees_the_queue_and_can_flush_it() {
    let fixture = start(Settings::default().key("delivery", "retry_first_s", 3600));
    swaks(
        &fixture.server,
        "127.0.0.2",
        &format!("alice@{TENANT_DOMAIN}"),
        "later@remote.test,ok@remote.test",
        "q",
    );
    let deferred =
        wait_until(DELIVERY_TIMEOUT, || fixture.server.log().contains("delivery deferred").then_some(()));
    assert!(deferred.is_some(), "{}", fixture.server.log());
    let listed = wait_until(DELIVERY_TIMEOUT, || {
        let out = fixture.server.cli_ok(&["queue", "list"]);
        out.contains("waiting").then_some(out)
    })
    .unwrap_or_else(|| panic!("no waiting message listed\n{}", fixture.server.log()));
    assert!(listed.starts_with("1 messages: 1 waiting\nactivity: idle"), "{listed}");
    let line = listed.lines().nth(2).unwrap_or_default();
    assert!(
        line.contains("attempts 1") && line.contains("next in 60m") && line.contains("pending 1"),
        "{line}"
    );
    assert!(line.contains(&format!("<alice@{TENANT_DOMAIN}> -> later@remote.test (+1)")), "{line}");

    assert_eq!(fixture.server.cli_ok(&["queue", "flush"]), "1 waiting messages are due now\n");
    let retried = wait_until(DELIVERY_TIMEOUT, || {
        (fixture.mx.rcpts().iter().filter(|(a, _)| a == "later@remote.test").count() >= 2).then_some(())
    });
    assert!(retried.is_some(), "the flush did not retry at once:\n{}", fixture.server.log());
}

#[test]
fn a_server_with_broken_tls_still_gets_its_mail_in_plain_text() {
    // Opportunistic TLS must not make delivery worse than none (RFC 7435).
    let fixture = start_with_mx(Settings::default(), MxServer::with_broken_tls());
    swaks(&fixture.server, "127.0.0.2", &format!("alice@{TENANT_DOMAIN}"), "ok@remote.test", "no tls");
    let messages = fixture.mx.wait_for_messages(1);
    assert_eq!(messages[0].1, ["ok@remote.test"]);
    let log = fixture.server.log();
    assert!(log.contains("STARTTLS failed; trying again without TLS"), "{log}");
}
