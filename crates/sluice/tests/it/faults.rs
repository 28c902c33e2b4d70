//! Failures made on purpose, through the test-only fault points of the binary `cargo test`
//! builds (the gateway's `fault` module, armed by `SLUICE_FAULTS`): a panic in one session or
//! one delivery attempt never takes the process down, and a `kill -9` between a bounce being
//! spooled and its recipient being recorded done loses nothing. Production builds have none
//! of the points.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::delivery::{TENANT_DOMAIN, mailbox, start, swaks};
use crate::harness::{DOMAIN, Next, Server, Settings, maildir_files, queued_id};
use crate::peers::check_dsn;

#[test]
fn a_panicking_session_ends_only_itself() {
    let settings = Settings::default().smtp("connections_per_ip_max", 1).faults("session-panic");
    let server = Server::start_with(settings);
    // Other addresses than the harness's own readiness probe (127.0.0.1).
    let mut bystander = server.connect_from("127.0.0.10");
    let mut victim = server.connect_from("127.0.0.9");
    victim.expect("MAIL FROM:<fault-panic@it.test>", 250);
    victim.expect(&format!("RCPT TO:<victim@{DOMAIN}>"), 250);
    victim.expect("DATA", 354);
    victim.send_raw(b"Subject: doomed\r\n\r\nthis session panics\r\n.\r\n");
    assert!(matches!(victim.read(), Next::Closed), "the panicking session ends without a reply");

    // Its connection slot is free again (one per IP): the next client from its address is
    // served, and the accept loop reports the panic.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = server.connect_from_ungreeted("127.0.0.9").reply();
        if reply.code == 220 {
            break;
        }
        assert!(Instant::now() < deadline, "the panicked session's slot was not released: {reply}");
    }
    server.wait_log_count("session task panicked; the process continues", 1);

    // The session that was open all along goes on.
    let rcpt = format!("bystander@{DOMAIN}");
    let reply = bystander.send_message("sender@it.test", &[&rcpt], "Subject: fine\r\n\r\nstill here\r\n");
    assert!(queued_id(&reply).is_some(), "{reply}");
    server.wait_for_mail("bystander", 1);
    assert_eq!(server.settled_mail_count("victim"), 0, "the unacknowledged message was delivered");
}

#[test]
fn a_panicking_delivery_attempt_is_retried_later_and_the_process_continues() {
    let mut fixture = start(Settings::default().faults("delivery-panic"));
    let alice = format!("alice@{TENANT_DOMAIN}");
    swaks(&fixture.server, "127.0.0.2", &alice, "fault-panic@remote.test", "doomed");
    swaks(&fixture.server, "127.0.0.2", &alice, "ok@remote.test", "fine");
    let delivered = fixture.mx.wait_for_messages(1);
    assert_eq!(delivered[0].1, ["ok@remote.test"]);
    fixture.server.wait_idle();
    let log = fixture.server.log();
    assert!(log.contains("fault injection: delivery-panic"), "the fault point fired:\n{log}");
    assert!(log.contains("delivery attempt failed"), "{log}");
    let queue = fixture.server.cli_ok(&["queue", "list"]);
    assert!(queue.starts_with("1 messages: 1 waiting"), "the panicked attempt is deferred:\n{queue}");
    assert!(queue.contains("attempts 1") && queue.contains("-> fault-panic@remote.test"), "{queue}");
    assert!(fixture.server.is_running(), "the process went down:\n{log}");
    swaks(&fixture.server, "127.0.0.2", &alice, "ok@remote.test", "after the panic");
    fixture.mx.wait_for_messages(2);
}

/// The queue manager finishes a failed recipient only once its bounce is durable. Killed
/// right after the bounce is spooled, the next start delivers that bounce, and the recipient,
/// not yet done, is tried again (and bounces again): a duplicate bounce, never a lost one. Had
/// the recipient been recorded done first, it would not be tried again.
#[test]
fn a_kill_between_a_bounce_and_its_done_record_loses_no_bounce() {
    let mut fixture = start(Settings::default().faults("stall-after-notification"));
    let alice = format!("alice@{TENANT_DOMAIN}");
    swaks(&fixture.server, "127.0.0.2", &alice, "fail@remote.test", "doomed");
    fixture.server.wait_log_count("fault injection: stall-after-notification", 1);
    fixture.server.kill9();
    fixture.server.disarm_faults();
    fixture.server.spawn();
    fixture.server.wait_idle();

    let attempts = fixture.mx.rcpts().iter().filter(|(a, _)| a == "fail@remote.test").count();
    assert_eq!(attempts, 2, "the failed recipient was not pending after the kill:\n{}", fixture.server.log());
    let bounces = maildir_files(&mailbox(&fixture.server, "alice"));
    assert_eq!(bounces.len(), 2, "the spooled bounce and the retry's:\n{}", fixture.server.log());
    for report in check_dsn(&bounces.iter().map(PathBuf::as_path).collect::<Vec<&Path>>()) {
        assert_eq!(report["permanent"], serde_json::json!(["fail@remote.test"]), "{report}");
    }
    let status = fixture.server.status().expect("status");
    assert_eq!(status.get("queue_messages").map(String::as_str), Some("0"), "{status:?}");
}

/// The fault points are compiled in only for tests: the feature that carries them is not
/// part of the gateway a normal build of the binary links.
#[test]
fn production_builds_have_no_fault_points() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tree = |edges: &str| {
        let out = Command::new(&cargo)
            .current_dir(&workspace)
            .args(["tree", "--offline", "-p", "sluice", "-i", "gateway", "-e", edges])
            .output()
            .expect("run cargo tree");
        assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let production = tree("normal,features");
    assert!(production.contains("gateway feature \"default\""), "{production}");
    assert!(!production.contains("fault-injection"), "a normal build has the fault points:\n{production}");
    assert!(tree("normal,dev,features").contains("fault-injection"), "the tests would have no fault points");
}
