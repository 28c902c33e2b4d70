//! Connectors belong to the recipient's tenant, over loopback with swaks: two tenants that
//! declared the same sending address (a shared filtering service) both trust its burst;
//! one tenant's TLS rule holds for its own recipients while the other accepts plain text;
//! a certificate that opens one tenant's connector opens nothing at the other's. Tenants and
//! connectors are made with the CLI, as an admin would.

use std::time::{Duration, Instant};

use rcgen::ExtendedKeyUsagePurpose;

use crate::cert_connector::{Pki, ca, empty_pki, leaf, rcpt_replies, tight_throttle_with_tls};
use crate::harness::{HOSTNAME, Server, ToolRun, add_verified_domain, directory_store, swaks_from};

/// The shared filtering service.
const SHARED: &str = "127.0.0.20";
/// Globex's partner address, where globex wants its partner's certificate.
const GLOBEX_PARTNER: &str = "127.0.0.22";
/// Nobody declared it.
const STRANGER: &str = "127.0.0.23";

/// One CA the gateway trusts; the gateway's certificate; acme's partner certificate.
fn shared_pki() -> Pki {
    let pki = empty_pki();
    let trusted = ca("Sluice partners CA");
    std::fs::write(pki.path("ca.pem"), trusted.pem()).expect("write CA");
    leaf(&pki, "server", &[HOSTNAME, "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth, &trusted, |_| {});
    leaf(
        &pki,
        "acme-partner",
        &["relay.mail.acme-partner.test"],
        ExtendedKeyUsagePurpose::ClientAuth,
        &trusted,
        |_| {},
    );
    pki
}

/// A throttled server (a newcomer gets about two recipients) with acme and globex, each
/// with a verified domain, and their connectors: both declared the shared service (acme in
/// plain text, globex with TLS required); acme's partner by certificate; globex's partner
/// at its address with its own certificate name.
fn server(pki: &Pki) -> Server {
    let server = Server::start_with(tight_throttle_with_tls(pki, true));
    for tenant in ["acme", "globex"] {
        server.cli_ok(&["tenant", "add", tenant]);
        add_verified_domain(&mut directory_store(&server), tenant, &format!("{tenant}.test"));
    }
    let add = |tenant: &str, name: &str, flags: &[&str]| {
        let mut args = vec!["connector", "add", name, "--tenant", tenant, "--kind", "partner"];
        args.extend_from_slice(flags);
        server.cli_ok(&args);
    };
    add("acme", "filter", &["--ip", &format!("{SHARED}/32"), "--no-require-tls"]);
    add("globex", "filter", &["--ip", &format!("{SHARED}/32")]);
    add("acme", "acme-partner", &["--cert-name", "*.mail.acme-partner.test"]);
    add(
        "globex",
        "globex-partner",
        &["--ip", &format!("{GLOBEX_PARTNER}/32"), "--cert-name", "mx.globex-partner.test"],
    );
    server
}

/// swaks from `local` to `recipients`, MAIL and RCPT only, with `tls` options.
fn rcpts(server: &Server, local: &str, recipients: &[&str], tls: &[&str]) -> ToolRun {
    let to = recipients.join(",");
    let mut args =
        vec!["--helo", "relay.test", "--from", "news@supplier.test", "--to", &to, "--quit-after", "RCPT"];
    args.extend_from_slice(tls);
    swaks_from(server, local, &args)
}

/// Waits until the server's snapshot holds the last connector (it polls every second): the
/// globex partner's address then meets its rule.
fn wait_for_connectors(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let run = rcpts(server, GLOBEX_PARTNER, &["user@globex.test"], &[]);
        if rcpt_replies(&run).first().is_some_and(|r| r.starts_with("550 5.7.10")) {
            return;
        }
        assert!(Instant::now() < deadline, "the connectors were never picked up:\n{run}\n{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The first case: a burst from the shared service over TLS reaches both tenants
/// un-throttled, while the same burst from an address nobody declared is deferred.
#[test]
fn a_shared_address_bursts_to_both_tenants_unthrottled() {
    let pki = shared_pki();
    let server = server(&pki);
    wait_for_connectors(&server);
    let burst: Vec<&str> = ["user@acme.test", "user@globex.test"].repeat(10);
    let run = rcpts(&server, SHARED, &burst, &["-tls"]);
    let replies = rcpt_replies(&run);
    assert_eq!(replies.len(), 20, "{run}");
    assert!(replies.iter().all(|r| r.starts_with("250")), "a tenant's recipients were throttled:\n{run}");
    let stranger = rcpt_replies(&rcpts(&server, STRANGER, &burst, &["-tls"]));
    assert!(
        stranger.iter().any(|r| r.starts_with("451 4.7.5")),
        "the same burst from a stranger: {stranger:?}"
    );
    let log = server.log();
    for tenant in ["acme", "globex"] {
        let admitted = format!("tenant={tenant} connector=filter");
        assert!(
            log.lines().any(|l| l.contains("recipient accepted through its tenant's inbound connector")
                && l.contains(SHARED)
                && l.contains(&admitted)),
            "{tenant}'s recipients are logged as its own connector's:\n{log}"
        );
    }
}

/// Globex's TLS rule holds for globex's recipients, acme's plain-text allowance for acme's,
/// in one transaction.
#[test]
fn one_tenants_tls_rule_holds_while_the_other_allows_plain_text() {
    let pki = shared_pki();
    let server = server(&pki);
    wait_for_connectors(&server);
    let run = rcpts(&server, SHARED, &["user@acme.test", "user@globex.test"], &[]);
    let replies = rcpt_replies(&run);
    assert_eq!(replies.len(), 2, "{run}");
    assert!(replies[0].starts_with("250"), "acme accepts its partner in plain text:\n{run}");
    assert!(
        replies[1].starts_with("550 5.7.10") && replies[1].contains("Mail for globex.test from [127.0.0.20]"),
        "globex requires TLS for its own recipients:\n{run}"
    );
    assert!(!run.output().contains("tenant "), "no tenant is named to the sender:\n{run}");
}

/// Acme's partner certificate opens acme's connector only: at globex's partner address
/// globex wants its own certificate (550 5.7.10), and from elsewhere globex's recipients
/// are an ordinary client's (throttled) while acme's are not.
#[test]
fn one_tenants_certificate_does_not_open_another() {
    let pki = shared_pki();
    let server = server(&pki);
    wait_for_connectors(&server);
    let (cert, key) = (pki.path("acme-partner.pem"), pki.path("acme-partner.key"));
    let tls = ["-tls", "--tls-cert", &cert, "--tls-key", &key];
    let run = rcpts(&server, GLOBEX_PARTNER, &["user@acme.test", "user@globex.test"], &tls);
    let replies = rcpt_replies(&run);
    assert!(replies.first().is_some_and(|r| r.starts_with("250")), "acme's certificate opens acme:\n{run}");
    assert!(
        replies.get(1).is_some_and(|r| r.starts_with("550 5.7.10") && r.contains("mx.globex-partner.test")),
        "globex wants its own certificate at its partner's address:\n{run}"
    );
    let acme = rcpt_replies(&rcpts(&server, STRANGER, &["user@acme.test"; 10], &tls));
    assert!(acme.len() == 10 && acme.iter().all(|r| r.starts_with("250")), "acme's recipients: {acme:?}");
    let globex = rcpt_replies(&rcpts(&server, STRANGER, &["user@globex.test"; 10], &tls));
    assert!(
        globex.iter().any(|r| r.starts_with("451 4.7.5")),
        "globex's recipients are throttled: {globex:?}"
    );
}
