//! Outbound protection end to end with swaks through the tenant's on-premises connector
//! (127.0.0.2): the unregistered sender domain allowance (5.7.750), the service domain's
//! daily limit (5.7.751), and the tenant threshold (5.7.705) that holds across a restart
//! until `sluice tenant release`.

use std::time::Duration;

use crate::delivery::{TENANT_DOMAIN, start, swaks_run};
use crate::harness::{Server, Settings, ToolRun};
use crate::peers::wait_until;

fn policy(keys: &[(&str, u32)]) -> Settings {
    keys.iter().fold(Settings::default(), |s, (k, v)| s.key("protection.policy", k, v))
}

pub(crate) fn send(server: &Server, from: &str, to: &str, body: &str) -> ToolRun {
    swaks_run(server, "127.0.0.2", from, to, "outbound", body)
}

/// `sluice <args>` against the server's config: (success, output).
fn cli(server: &Server, args: &[&str]) -> (bool, String) {
    let (code, text) = server.cli(args);
    (code == Some(0), text)
}

pub(crate) fn accepted(run: &ToolRun) -> bool {
    run.code == Some(0) && run.output().contains("250 2.0.0 Ok: queued")
}

#[test]
fn unregistered_sender_domains_get_a_small_allowance_then_5_7_750() {
    let fixture = start(policy(&[("unregistered_sender_messages_per_day", 2)]));
    for n in 0..2 {
        let run = send(&fixture.server, "it@not-ours.test", "ok@remote.test", &format!("message {n}"));
        assert!(accepted(&run), "within the allowance:\n{run}");
    }
    let run = send(&fixture.server, "it@not-ours.test", "ok@remote.test", "one too many");
    assert!(run.output().contains("550 5.7.750"), "over the allowance:\n{run}");
    assert!(run.output().contains("not-ours.test"), "the reply names the domain:\n{run}");
    // The tenant's own domain is not limited by it.
    let own = send(&fixture.server, &format!("alice@{TENANT_DOMAIN}"), "ok@remote.test", "fine");
    assert!(accepted(&own), "{own}");
}

#[test]
fn the_service_domain_has_a_daily_limit_5_7_751() {
    let fixture = start(policy(&[("service_domain_recipients_per_day", 3)]));
    let alice = format!("alice@{TENANT_DOMAIN}");
    for n in 0..3 {
        let run = send(&fixture.server, &alice, &format!("r{n}@remote.test"), "hello");
        assert!(accepted(&run), "within the limit:\n{run}");
    }
    let run = send(&fixture.server, &alice, "r3@remote.test", "hello");
    assert!(run.output().contains("550 5.7.751"), "over the service domain's limit:\n{run}");
    assert!(run.output().to_lowercase().contains("domain"), "the reply names the fix:\n{run}");
}

/// Sends bulk mail as alice until it is refused: the tenant trips after three messages, so
/// the fourth gets `550 5.7.705`.
pub(crate) fn trip_by_bulk(server: &Server) {
    let alice = format!("alice@{TENANT_DOMAIN}");
    let body = "WIN BIG NOW!!! Click here to claim your prize: http://prize.example/claim";
    let mut refused = None;
    for n in 0..10 {
        let run = send(server, &alice, "a@remote.test,b@remote.test,c@remote.test", body);
        if !accepted(&run) {
            refused = Some((n, run));
            break;
        }
    }
    let (n, run) = refused.expect("ten bulk messages and no block");
    assert_eq!(n, 3, "three bulk messages trip the tenant; the fourth is refused:\n{run}\n{}", server.log());
    assert!(run.output().contains("550 5.7.705"), "{run}");
}

pub(crate) fn bulk_settings() -> Settings {
    policy(&[("threshold_messages_min", 3), ("bulk_recipients_min", 3)])
}

#[test]
fn bulk_mail_trips_the_tenant_until_an_operator_releases_it() {
    let mut fixture = start(bulk_settings());
    let alice = format!("alice@{TENANT_DOMAIN}");
    trip_by_bulk(&fixture.server);
    // Everything of the tenant is refused now, not only the bulk.
    let other = send(&fixture.server, &alice, "friend@remote.test", "lunch tomorrow?");
    assert!(other.output().contains("550 5.7.705"), "{other}");

    // The block is in the directory: it survives a restart.
    let (ok, show) = cli(&fixture.server, &["tenant", "show", "acme"]);
    assert!(ok && show.contains("BLOCKED (5.7.705)"), "{show}");
    fixture.server.terminate(Duration::from_secs(10));
    fixture.server.spawn();
    let still = send(&fixture.server, &alice, "friend@remote.test", "still blocked?");
    assert!(still.output().contains("550 5.7.705"), "{still}");

    let (ok, refused) = cli(&fixture.server, &["tenant", "release", "acme", "--by", "", "--reason", "x"]);
    assert!(!ok && refused.contains("release.by"), "who released must be given:\n{refused}");
    let (ok, out) =
        cli(&fixture.server, &["tenant", "release", "acme", "--by", "ops", "--reason", "cleaned up"]);
    assert!(ok, "{out}");
    let flowing = wait_until(Duration::from_secs(10), || {
        let run = send(&fixture.server, &alice, "friend@remote.test", "lunch tomorrow?");
        accepted(&run).then_some(())
    });
    assert!(flowing.is_some(), "still refused after the release:\n{}", fixture.server.log());
    let (_, show) = cli(&fixture.server, &["tenant", "show", "acme"]);
    assert!(show.contains("outbound:     allowed") && show.contains("by ops: cleaned up"), "{show}");
}

/// SIGHUP reloads the outbound protection policy.
#[test]
fn a_reload_applies_new_protection_limits() {
    let fixture = start(policy(&[("service_domain_recipients_per_day", 1)]));
    let alice = format!("alice@{TENANT_DOMAIN}");
    assert!(accepted(&send(&fixture.server, &alice, "r0@remote.test", "one")));
    let over = send(&fixture.server, &alice, "r1@remote.test", "two");
    assert!(over.output().contains("550 5.7.751"), "{over}");
    let config = std::fs::read_to_string(fixture.server.config_path()).expect("read config");
    let raised =
        config.replace("service_domain_recipients_per_day = 1", "service_domain_recipients_per_day = 50");
    assert_ne!(config, raised, "the test config holds the limit");
    // The file keeps its modification time: only the signal can apply the change.
    fixture.server.rewrite_config_unseen(&raised);
    fixture.server.sighup_and_wait_reload();
    assert_eq!(fixture.server.log_count("outbound protection policy reloaded"), 1);
    let raised = send(&fixture.server, &alice, "r2@remote.test", "three");
    assert!(accepted(&raised), "the raised limit was not applied:\n{raised}\n{}", fixture.server.log());
}

/// A release issued the moment the tenant tripped (before the node could have seen the
/// block in a directory snapshot) lifts it on the node too.
#[test]
fn a_release_right_after_the_trip_lets_the_tenants_mail_flow() {
    let fixture = start(bulk_settings());
    trip_by_bulk(&fixture.server);
    let (ok, out) =
        cli(&fixture.server, &["tenant", "release", "acme", "--by", "ops", "--reason", "at once"]);
    assert!(ok, "{out}");
    let alice = format!("alice@{TENANT_DOMAIN}");
    let flowing = wait_until(Duration::from_secs(10), || {
        accepted(&send(&fixture.server, &alice, "friend@remote.test", "lunch tomorrow?")).then_some(())
    });
    assert!(flowing.is_some(), "still refused after the release:\n{}", fixture.server.log());
}
