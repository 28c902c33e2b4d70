//! A partner connector recognised by its TLS client certificate, end to end: a CA, the
//! gateway's certificate and client certificates generated here (rcgen); the connector added
//! with `sluice connector add --cert-name '*.mail.partner.test'`. A client presenting a
//! certificate of that CA with a matching name is trusted (never throttled, the log names
//! the connector); without a certificate, with one from another CA or with another name it
//! is an ordinary internet client (throttled); in its IP range without TLS it is refused by
//! the connector's "reject mail not sent over TLS" rule, naming it.

use std::path::Path;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;

use crate::harness::{
    HOSTNAME, Server, Settings, ToolRun, add_acme_test, directory_store, require_tool, run_tool,
};

/// PEM files of one test PKI, in a temporary directory.
pub(crate) struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    fn write(&self, name: &str, pem: &str) {
        std::fs::write(self.dir.path().join(name), pem).expect("write PEM");
    }
}

pub(crate) fn ca(common_name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA certificate")
}

/// Writes `<name>.pem` and `<name>.key`: a leaf for `names`, signed by `issuer`, with
/// `adjust` applied to its parameters (e.g. its validity).
pub(crate) fn leaf(
    pki: &Pki,
    name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &CertifiedIssuer<'_, KeyPair>,
    adjust: impl FnOnce(&mut CertificateParams),
) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, names[0].clone());
    params.extended_key_usages = vec![usage];
    adjust(&mut params);
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, issuer).expect("sign leaf");
    pki.write(&format!("{name}.pem"), &cert.pem());
    pki.write(&format!("{name}.key"), &key.serialize_pem());
}

/// A temporary directory for PEM files.
pub(crate) fn empty_pki() -> Pki {
    Pki { dir: tempfile::Builder::new().prefix("sluice-pki-").tempdir().expect("temp dir") }
}

/// The partners' CA (trusted by the gateway) and a rogue one, the gateway's certificate
/// (also valid for 127.0.0.1, so clients can verify it), and four client certificates (one of
/// them of the trusted CA with the right name, but expired).
pub(crate) fn pki() -> Pki {
    let pki = empty_pki();
    let trusted = ca("Sluice partners CA");
    let rogue = ca("Someone else's CA");
    pki.write("ca.pem", &trusted.pem());
    let server = ExtendedKeyUsagePurpose::ServerAuth;
    let client = || ExtendedKeyUsagePurpose::ClientAuth;
    leaf(&pki, "server", &[HOSTNAME, "127.0.0.1"], server, &trusted, |_| {});
    leaf(&pki, "partner", &["relay.mail.partner.test"], client(), &trusted, |_| {});
    leaf(&pki, "rogue", &["relay.mail.partner.test"], client(), &rogue, |_| {});
    leaf(&pki, "other", &["relay.other.test"], client(), &trusted, |_| {});
    leaf(&pki, "expired", &["relay.mail.partner.test"], client(), &trusted, |params| {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    pki
}

fn provision(server: &Server) {
    let cli = |args: &[&str]| server.cli_ok(args);
    cli(&["tenant", "add", "acme"]);
    // TLS required is the partner default; the IP range lets a plain client meet the rule.
    let added = cli(&[
        "connector",
        "add",
        "partner-cert",
        "--tenant",
        "acme",
        "--kind",
        "partner",
        "--cert-name",
        "*.mail.partner.test",
        "--ip",
        "127.0.0.6/32",
    ]);
    assert!(added.contains("require tls:    yes"), "{added}");
    add_acme_test(&mut directory_store(server));
}

/// swaks from `local` over STARTTLS with `extra`, MAIL then `count` recipients, no DATA.
fn swaks_rcpts(server: &Server, local: &str, count: usize, extra: &[&str]) -> ToolRun {
    let port = server.port.to_string();
    let to = vec!["user@acme.test"; count].join(",");
    let mut args = vec![
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--local-interface",
        local,
        "--helo",
        "relay.mail.partner.test",
        "--from",
        "news@partner.test",
        "--to",
        &to,
        "--quit-after",
        "RCPT",
        "--timeout",
        "20",
    ];
    args.extend_from_slice(extra);
    run_tool(&require_tool("swaks"), &args)
}

/// The server's replies to RCPT TO in a swaks transcript.
pub(crate) fn rcpt_replies(run: &ToolRun) -> Vec<String> {
    let out = run.output();
    let lines: Vec<&str> = out.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].contains("RCPT TO:"))
        .map(|w| crate::harness::one_line(w[1].trim_start_matches(['<', '~', '*', '-', ' '])))
        .collect()
}

/// The server polls the directory every second: waits until the trusted client is trusted.
fn wait_trusted(server: &Server, tls: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let run = swaks_rcpts(server, "127.0.0.2", 1, tls);
        if run.code == Some(0)
            && server.log().contains("recipient accepted through its tenant's inbound connector")
        {
            return;
        }
        assert!(Instant::now() < deadline, "the connector was never recognised:\n{run}\n{}", server.log());
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A throttle that lets a newcomer send about two recipients before it defers, and TLS with
/// the PKI's `server.pem`; with `client_ca`, client certificates are asked for and checked
/// against its `ca.pem`.
pub(crate) fn tight_throttle_with_tls(pki: &Pki, client_ca: bool) -> Settings {
    let quoted = |name: &str| format!("{:?}", pki.path(name));
    let settings = Settings::default()
        .throttled()
        .key("throttle.policy", "ip_floor_per_hour", "2.0")
        .key("throttle.policy", "ip_burst_min", "2.0")
        .key("throttle.policy", "burst_minutes", "1.0")
        .key("tls", "cert_file", quoted("server.pem"))
        .key("tls", "key_file", quoted("server.key"));
    if client_ca { settings.key("tls", "client_ca_file", quoted("ca.pem")) } else { settings }
}

fn throttled_server(pki: &Pki) -> Server {
    let server = Server::start_with(tight_throttle_with_tls(pki, true));
    provision(&server);
    server
}

#[test]
fn certificate_connector_is_trusted_only_with_a_trusted_matching_certificate() {
    let pki = pki();
    let server = throttled_server(&pki);
    let (cert, key) = (pki.path("partner.pem"), pki.path("partner.key"));
    let trusted_tls = ["-tls", "--tls-cert", &cert, "--tls-key", &key];
    wait_trusted(&server, &trusted_tls);

    // Trusted: twenty recipients from one address, none deferred.
    let run = swaks_rcpts(&server, "127.0.0.2", 20, &trusted_tls);
    let replies = rcpt_replies(&run);
    assert_eq!(replies.len(), 20, "{run}");
    assert!(replies.iter().all(|r| r.starts_with("250")), "the certificate connector was throttled:\n{run}");
    let log = server.log();
    assert!(log.contains("client_cert=relay.mail.partner.test"), "verified names logged:\n{log}");
    let recognised = log
        .lines()
        .find(|l| l.contains("client recognised by inbound connectors") && l.contains("127.0.0.2"))
        .unwrap_or_else(|| panic!("no recognition logged:\n{log}"));
    let needle = "acme/partner-cert (certificate name relay.mail.partner.test under *.mail.partner.test)";
    assert!(recognised.contains(needle), "{needle:?} in {recognised}");
    let attributed = log
        .lines()
        .find(|l| {
            l.contains("recipient accepted through its tenant's inbound connector") && l.contains("127.0.0.2")
        })
        .unwrap_or_else(|| panic!("no attribution logged:\n{log}"));
    for needle in ["connector=partner-cert", "tenant=acme"] {
        assert!(attributed.contains(needle), "{needle:?} in {attributed}");
    }

    // Not attributed: no certificate, another CA's, another name, an expired one. Each an
    // ordinary newcomer.
    let (rogue, rogue_key) = (pki.path("rogue.pem"), pki.path("rogue.key"));
    let (other, other_key) = (pki.path("other.pem"), pki.path("other.key"));
    let (expired, expired_key) = (pki.path("expired.pem"), pki.path("expired.key"));
    let cases: [(&str, &str, Vec<&str>); 4] = [
        ("127.0.0.3", "no certificate", vec!["-tls"]),
        ("127.0.0.4", "another CA", vec!["-tls", "--tls-cert", &rogue, "--tls-key", &rogue_key]),
        ("127.0.0.5", "a non-matching name", vec!["-tls", "--tls-cert", &other, "--tls-key", &other_key]),
        (
            "127.0.0.8",
            "an expired certificate",
            vec!["-tls", "--tls-cert", &expired, "--tls-key", &expired_key],
        ),
    ];
    for (ip, what, tls) in cases {
        let run = swaks_rcpts(&server, ip, 20, &tls);
        assert!(run.output().contains("TLS started"), "{what}: TLS must still work:\n{run}");
        let replies = rcpt_replies(&run);
        let deferred = replies.iter().find(|r| !r.starts_with("250"));
        let deferred = deferred.unwrap_or_else(|| panic!("{what}: 20 recipients and no deferral:\n{run}"));
        assert!(
            deferred.starts_with("451 4.7.5") && deferred.contains(&format!("[{ip}]")),
            "{what}: {deferred}"
        );
    }
    let log = server.log();
    let untrusted = |ip: &str| {
        log.lines()
            .find(|l| l.contains("client certificate not trusted") && l.contains(&format!("client_ip={ip}")))
    };
    assert!(untrusted("127.0.0.4").is_some(), "the rogue certificate is logged:\n{log}");
    let logged =
        untrusted("127.0.0.8").unwrap_or_else(|| panic!("the expired certificate is logged:\n{log}"));
    assert!(logged.contains("the certificate has expired"), "{logged}");

    // In the connector's IP range without TLS: its rule refuses (naming the domain, not the
    // connector: the reply goes to an outside sender).
    let run = swaks_rcpts(&server, "127.0.0.6", 1, &[]);
    let replies = rcpt_replies(&run);
    let refusal = replies.first().unwrap_or_else(|| panic!("no RCPT reply:\n{run}"));
    assert!(refusal.starts_with("550 5.7.10") && refusal.contains("Mail for acme.test"), "{refusal}\n{run}");
    // ... and with TLS but an expired certificate, too.
    let run =
        swaks_rcpts(&server, "127.0.0.6", 1, &["-tls", "--tls-cert", &expired, "--tls-key", &expired_key]);
    let refusal = rcpt_replies(&run).into_iter().next().unwrap_or_else(|| panic!("no RCPT reply:\n{run}"));
    assert!(refusal.starts_with("550 5.7.10") && refusal.contains("Mail for acme.test"), "{refusal}\n{run}");
}

/// Python's ssl module as the partner: verifies the gateway against the CA, presents its
/// certificate, and is never throttled.
#[test]
fn smtplib_with_a_client_certificate_is_trusted() {
    let pki = pki();
    let server = throttled_server(&pki);
    let (cert, key) = (pki.path("partner.pem"), pki.path("partner.key"));
    wait_trusted(&server, &["-tls", "--tls-cert", &cert, "--tls-key", &key]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/py/smtp_client.py");
    let port = server.port.to_string();
    let ca = pki.path("ca.pem");
    let args = [
        &script.to_string_lossy(),
        "client_cert",
        &port,
        "127.0.0.7",
        &ca,
        &cert,
        &key,
        "20",
        "user@acme.test",
    ];
    let run = run_tool(&require_tool("python3"), &args.iter().map(|s| s.as_ref()).collect::<Vec<&str>>());
    assert_eq!(run.code, Some(0), "{run}");
    let out: Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}:\n{run}"));
    assert_eq!(out["starttls"][0], 220, "{out}");
    let rcpts = out["rcpt"].as_array().expect("rcpt replies");
    assert_eq!(rcpts.len(), 20, "{out}");
    assert!(rcpts.iter().all(|r| r[0] == 250), "smtplib with the partner certificate was throttled: {out}");
    assert_eq!(out["data"][0], 250, "{out}");
    let log = server.log();
    assert!(
        log.lines().any(|l| l.contains("recipient accepted through its tenant's inbound connector")
            && l.contains("127.0.0.7")),
        "{log}"
    );
}
