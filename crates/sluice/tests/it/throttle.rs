//! Adaptive IP throttling seen from a client: a blast from a new IP is
//! deferred with `451 4.7.5xx ... from [IP] ... (ASnnn)`, and an IP on the
//! operator allow list (`sluice throttle allow`) never is.

use crate::harness::{Client, DOMAIN, Reply, Server, Settings};

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
