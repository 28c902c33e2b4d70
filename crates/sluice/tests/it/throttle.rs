//! Adaptive IP throttling seen from a client: a blast from a new IP is
//! deferred with `451 4.7.5xx ... from [IP] ... (ASnnn)`, and an IP on the
//! operator allow list (`sluice throttle allow`) never is.

use std::process::Command;

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

fn sluice_cli(server: &Server, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("throttle")
        .arg("--config")
        .arg(server.config_path())
        .args(args)
        .output()
        .expect("run sluice throttle");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
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

    let (code, out) = sluice_cli(&server, &["show", "127.0.0.1"]);
    assert_eq!(code, Some(0), "sluice throttle show 127.0.0.1:\n{out}");
    assert!(out.contains("127.0.0.1"), "throttle show does not mention the IP:\n{out}");
}

#[test]
fn allow_listed_ip_is_never_deferred() {
    let server = Server::start_with(Settings::default().throttled());
    let (code, out) = sluice_cli(&server, &["allow", "127.0.0.0/8", "--note", "integration tests"]);
    assert_eq!(code, Some(0), "sluice throttle allow 127.0.0.0/8:\n{out}");
    let (code, list) = sluice_cli(&server, &["list"]);
    assert!(code == Some(0) && list.contains("127.0.0.0/8"), "allow list after allow:\n{list}");
    // The running server picks the change up; give it a bounded while.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut client = server.connect();
        client.greet();
        let (accepted, refusal) = blast(&mut client);
        match refusal {
            None => break,
            Some(reply) => assert!(
                std::time::Instant::now() < deadline,
                "an allow-listed IP was deferred after {accepted} recipients: `{reply}`"
            ),
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
