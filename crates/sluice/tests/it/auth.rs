//! Sender authentication and the quarantine against real peers: a dnslib DNS server
//! publishing SPF, DKIM keys and DMARC policies, messages signed by dkimpy (a signer nobody
//! here wrote), `Authentication-Results:` parsed by Python's `email` package, spoofing of a
//! tenant's own domain refused or marked per policy, and a DMARC `p=quarantine` failure
//! held, listed, previewed, released exactly once and deleted with `sluice quarantine`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use directory::{Cidr, Connector, ConnectorKind, DirectoryStore, DomainName, NewTenant, TenantId};

use crate::harness::{
    Client, DOMAIN, HOSTNAME, Server, Settings, add_acme_test, add_verified_domain, directory_store,
    maildir_files, read_lossy, token, unfolded_headers,
};
use crate::peers::DnsServer;

const DKIM_TOOL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/py/dkim_tool.py");

/// Runs `python3 py/dkim_tool.py args` with `input` on stdin; its stdout.
pub fn dkim_tool(args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new("python3")
        .arg(DKIM_TOOL)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (run scripts/install-test-deps.sh)");
    child.stdin.take().expect("stdin").write_all(input).expect("write to dkim_tool.py");
    let out = child.wait_with_output().expect("dkim_tool.py");
    assert!(
        out.status.success(),
        "dkim_tool.py {args:?} failed (dkimpy missing? run scripts/install-test-deps.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A new RSA-2048 key in `dir`: (PEM file, the base64 public key for `p=`).
pub fn rsa_key(dir: &Path) -> (String, String) {
    let pem = dir.join("dkim.pem");
    let made = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&pem)
        .output()
        .expect("openssl (run scripts/install-test-deps.sh)");
    assert!(made.status.success(), "openssl genpkey: {}", String::from_utf8_lossy(&made.stderr));
    let public =
        Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&pem).output().expect("openssl");
    assert!(public.status.success(), "openssl pkey: {}", String::from_utf8_lossy(&public.stderr));
    let text = String::from_utf8(public.stdout).expect("PEM");
    let base64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    (pem.to_string_lossy().into_owned(), base64)
}

/// The DNS of the test domains: `sender.test` (SPF for 127.0.0.6, a DKIM key, `p=reject`),
/// `forger.test` (`p=reject`, SPF elsewhere), `careful.test` (`p=quarantine`, SPF
/// elsewhere); acme.test publishes nothing.
fn records(dkim_public: &str) -> String {
    serde_json::json!({
        "sender.test": ["v=spf1 ip4:127.0.0.6 -all"],
        "sel._domainkey.sender.test": [format!("v=DKIM1; k=rsa; p={dkim_public}")],
        "_dmarc.sender.test": ["v=DMARC1; p=reject"],
        "forger.test": ["v=spf1 ip4:192.0.2.1 -all"],
        "_dmarc.forger.test": ["v=DMARC1; p=reject"],
        "careful.test": ["v=spf1 ip4:192.0.2.1 -all"],
        "_dmarc.careful.test": ["v=DMARC1; p=quarantine"],
    })
    .to_string()
}

fn auth_settings(dns: &DnsServer) -> Settings {
    Settings::default().key("dns", "resolver", format!("\"{}\"", dns.addr)).key("auth", "enabled", true)
}

/// A message from `from` to `to` with the headers a DKIM signer covers.
fn plain_message(from: &str, to: &str, subject: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n\
         Message-ID: <{subject}@it.test>\r\n\r\nQuarterly figures attached.\r\n"
    )
}

/// Sends `content` (dot-stuffing not needed) from `local_ip`: the reply to the end of DATA.
fn send_from(server: &Server, local_ip: &str, from: &str, to: &str, content: &str) -> String {
    let mut client: Client = server.connect_from(local_ip);
    client.expect("EHLO client.it.test", 250);
    client.send_message(from, &[to], content.trim_end_matches("\r\n")).to_string()
}

/// The delivered message containing `needle` in `dir`, waiting for it.
fn delivered(dir: &Path, needle: &str) -> String {
    let deadline = Instant::now() + crate::harness::DELIVERY_TIMEOUT;
    loop {
        if let Some(text) = maildir_files(dir).iter().map(|f| read_lossy(f)).find(|t| t.contains(needle)) {
            return text;
        }
        assert!(Instant::now() < deadline, "no message with {needle:?} in {}", dir.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Our `Authentication-Results:` parsed by Python's `email`: (method, result, props).
fn results_of(message: &str) -> Vec<serde_json::Value> {
    serde_json::from_str(&dkim_tool(&["results", HOSTNAME], message.as_bytes())).expect("results JSON")
}

fn result_of<'a>(results: &'a [serde_json::Value], method: &str) -> &'a serde_json::Value {
    results.iter().find(|r| r["method"] == method).unwrap_or_else(|| panic!("no {method} in {results:?}"))
}

/// (method, result) pairs expected in `Authentication-Results:`.
type Methods = &'static [(&'static str, &'static str)];

#[test]
fn dkimpy_signatures_spf_and_dmarc_decide_and_forged_results_are_removed() {
    let keys = tempfile::tempdir().expect("temp dir");
    let (pem, public) = rsa_key(keys.path());
    let dns = DnsServer::start(&records(&public));
    let server = Server::start_with(auth_settings(&dns));
    let to = format!("user@{DOMAIN}");
    let signed = |subject: &str| {
        let forged = format!("Authentication-Results: {HOSTNAME}; dkim=pass header.d=bank.test\r\n");
        let message = forged + &plain_message("news@sender.test", &to, subject);
        dkim_tool(&["sign", &pem, "sel", "sender.test"], message.as_bytes())
    };

    // (client IP, the body changed after signing, expected reply, expected results)
    let cases: &[(&str, bool, &str, Methods)] = &[
        ("127.0.0.6", false, "250 ", &[("spf", "pass"), ("dkim", "pass"), ("dmarc", "pass")]),
        // Not SPF's IP: the DKIM signature alone authenticates sender.test.
        ("127.0.0.7", false, "250 ", &[("spf", "fail"), ("dkim", "pass"), ("dmarc", "pass")]),
        // Neither: p=reject applies.
        ("127.0.0.7", true, "550 5.7.509 ", &[]),
    ];
    for (i, (ip, tamper, reply, expected)) in cases.iter().enumerate() {
        let subject = token("signed");
        let mut content = signed(&subject);
        if *tamper {
            content = content.replace("Quarterly figures", "Changed figures");
        }
        let got = send_from(&server, ip, "news@sender.test", &to, &content);
        assert!(got.starts_with(reply), "case {i}: {got}\n{}", server.log());
        if expected.is_empty() {
            assert!(got.contains("sender.test") && got.contains("help: 5.7.509"), "case {i}: {got}");
            continue;
        }
        let text = delivered(&server.maildir_new("user"), &subject);
        let results = results_of(&text);
        for (method, result) in *expected {
            assert_eq!(result_of(&results, method)["result"], *result, "case {i}, {method}: {results:?}");
        }
        assert_eq!(result_of(&results, "dkim")["props"]["header.d"], "sender.test", "{results:?}");
        assert_eq!(result_of(&results, "dmarc")["props"]["header.from"], "sender.test", "{results:?}");
        let ours = unfolded_headers(&text)
            .iter()
            .filter(|h| h.to_ascii_lowercase().starts_with(&format!("authentication-results: {HOSTNAME}")))
            .count();
        assert_eq!(ours, 1, "case {i}: the forged header must be gone:\n{text}");
        assert!(!text.contains("bank.test"), "case {i}: forged header kept:\n{text}");
        // What Sluice added and removed leaves the signature verifiable by dkimpy.
        let published =
            serde_json::json!({ "sel._domainkey.sender.test": [format!("v=DKIM1; k=rsa; p={public}")] });
        assert_eq!(
            dkim_tool(&["verify", &published.to_string()], text.as_bytes()).trim(),
            "pass",
            "case {i}"
        );
    }
    assert!(server.log().contains("spf=pass dkim=pass arc=none dmarc=pass"), "{}", server.log());

    // A domain that publishes p=reject, from a server it did not authorise, unsigned.
    let got =
        send_from(&server, "127.0.0.8", "ceo@forger.test", &to, &plain_message("ceo@forger.test", &to, "x"));
    assert!(got.starts_with("550 5.7.509 ") && got.contains("forger.test"), "{got}");
}

/// Tenant `acme` with `acme.test` and an on-premises connector at 127.0.0.9; tenant `beta`
/// with `beta.test` and no connector.
fn provision_acme(server: &Server) {
    let mut store = directory_store(server);
    let service = DomainName::parse("service", "sluice.test").expect("service domain");
    for (id, name) in [("acme", "Acme Corp"), ("beta", "Beta Ltd")] {
        store.add_tenant(&NewTenant::new(id, name, "en").expect("tenant"), &service).expect("add tenant");
    }
    add_acme_test(&mut store);
    add_verified_domain(&mut store, "beta", "beta.test");
    let mut hq = Connector::new(TenantId::parse("acme").expect("id"), "hq", ConnectorKind::OnPremises);
    hq.ip_ranges = vec![Cidr::parse("ip", "127.0.0.9/32").expect("cidr")];
    hq.require_tls = false;
    store.add_connector(&hq).expect("add connector");
    server.wait_directory_current();
}

#[test]
fn spoofing_a_tenants_domain_is_refused_or_marked_per_tenant_policy_and_only_its_own_connector_is_trusted() {
    let dns = DnsServer::start(&records("AAAA"));
    let dir = |server: &Server| server.data_dir().join("mail/acme.test/user/new");
    let spoof = |server: &Server, ip: &str, subject: &str| {
        let content = plain_message("ceo@acme.test", "user@acme.test", subject);
        send_from(server, ip, "ceo@acme.test", "user@acme.test", &content)
    };

    let strict = Server::start_with(auth_settings(&dns));
    provision_acme(&strict);
    let got = spoof(&strict, "127.0.0.8", &token("spoof"));
    assert!(
        got.starts_with("550 5.7.510 ") && got.contains("acme.test") && got.contains("help: 5.7.510"),
        "{got}"
    );
    // The tenant's own server need not pass SPF for its own domain.
    let subject = token("hq");
    let got = spoof(&strict, "127.0.0.9", &subject);
    assert!(got.starts_with("250 "), "{got}\n{}", strict.log());
    let text = delivered(&dir(&strict), &subject);
    assert!(!text.contains("X-Sluice-Verdict"), "{text}");
    // Trust is the recipient's tenant's: acme's server vouches for nothing at beta, so its
    // mail (acme's envelope sender) claiming beta's domain is beta's spoofing.
    let content = plain_message("ceo@beta.test", "user@beta.test", &token("cross"));
    let got = send_from(&strict, "127.0.0.9", "ceo@acme.test", "user@beta.test", &content);
    assert!(got.starts_with("550 5.7.510 ") && got.contains("beta.test"), "{got}\n{}", strict.log());

    // The tenant's own policy overrides the deployment's reject.
    let marking = Server::start_with(auth_settings(&dns).key(
        "policy",
        "tenants",
        "{ acme = { spoofing = \"mark\" } }",
    ));
    provision_acme(&marking);
    let subject = token("marked");
    let got = spoof(&marking, "127.0.0.8", &subject);
    assert!(got.starts_with("250 "), "{got}");
    let text = delivered(&dir(&marking), &subject);
    assert!(
        unfolded_headers(&text).iter().any(|h| h == "X-Sluice-Verdict: spoofed header.from=acme.test"),
        "{text}"
    );
}

fn quarantine_list(server: &Server) -> Vec<serde_json::Value> {
    serde_json::from_str(&server.cli_ok(&["quarantine", "list", "--json"])).expect("list JSON")
}

#[test]
fn a_dmarc_quarantine_failure_is_held_listed_released_exactly_once_and_deleted() {
    let dns = DnsServer::start(&records("AAAA"));
    let server = Server::start_with(auth_settings(&dns));
    let to = format!("user@{DOMAIN}");
    let mut ids = Vec::new();
    for subject in ["held-one", "held-two"] {
        let content = plain_message("billing@careful.test", &to, subject);
        let got = send_from(&server, "127.0.0.8", "billing@careful.test", &to, &content);
        assert!(got.starts_with("250 "), "held messages are accepted: {got}");
    }
    let listed = quarantine_list(&server);
    assert_eq!(listed.len(), 2, "{listed:?}");
    for entry in &listed {
        assert_eq!(entry["state"], "held");
        assert_eq!(entry["recipients"], serde_json::json!([to]));
        assert_eq!(
            entry["reasons"],
            serde_json::json!(["dmarc=fail (p=quarantine) header.from=careful.test"])
        );
        ids.push((
            entry["subject"].as_str().expect("subject").to_owned(),
            entry["id"].as_str().expect("id").to_owned(),
        ));
    }
    assert!(server.log().contains("message held in the quarantine"), "{}", server.log());
    server.wait_idle();
    assert_eq!(server.settled_mail_count("user"), 0, "a held message is not delivered");

    let (_, release_id) = ids.iter().find(|(s, _)| s == "held-one").expect("held-one").clone();
    let (_, delete_id) = ids.iter().find(|(s, _)| s == "held-two").expect("held-two").clone();
    let shown = server.cli_ok(&["quarantine", "show", &release_id]);
    assert!(shown.contains("Subject: held-one") && shown.contains("Quarterly figures"), "{shown}");

    let released = server.cli_ok(&["quarantine", "release", &release_id]);
    assert!(released.contains("queued as"), "{released}");
    let (code, again) = server.cli(&["quarantine", "release", &release_id]);
    assert_ne!(code, Some(0), "a second release must fail: {again}");
    assert!(again.contains("already released"), "{again}");
    let text = delivered(&server.maildir_new("user"), "held-one");
    assert!(text.contains("X-Sluice-Verdict: dmarc=fail (p=quarantine)"), "{text}");
    server.wait_idle();
    assert_eq!(server.settled_mail_count("user"), 1, "released exactly once");

    let deleted = server.cli_ok(&["quarantine", "delete", &delete_id]);
    assert!(deleted.contains("deleted"), "{deleted}");
    let (code, missing) = server.cli(&["quarantine", "show", &delete_id]);
    assert_ne!(code, Some(0), "{missing}");
    let states: Vec<_> = quarantine_list(&server).iter().map(|e| e["state"].clone()).collect();
    assert_eq!(states, vec![serde_json::json!("released")]);
    let audit = server.cli_ok(&["audit"]);
    assert!(audit.contains("quarantine.release") && audit.contains("quarantine.delete"), "{audit}");
}

#[test]
fn a_tenant_admin_manages_its_own_quarantine_through_the_api_and_no_one_elses() {
    use crate::admin_api::{Api, cli_token};
    let dns = DnsServer::start(&records("AAAA"));
    let held = auth_settings(&dns).key("policy", "tenants", "{ acme = { spoofing = \"quarantine\" } }");
    let server = Server::start_with(held);
    provision_acme(&server);
    let mut store = directory_store(&server);
    let service = DomainName::parse("service", "sluice.test").expect("service domain");
    store
        .add_tenant(&NewTenant::new("globex", "Globex", "en").expect("tenant"), &service)
        .expect("add tenant");
    let content = plain_message("ceo@acme.test", "user@acme.test", "api-held");
    let got = send_from(&server, "127.0.0.8", "ceo@acme.test", "user@acme.test", &content);
    assert!(got.starts_with("250 "), "{got}");

    let api = Api::new(&server);
    let acme = cli_token(&server, &["--role", "tenant-admin", "--tenant", "acme"]);
    let globex = cli_token(&server, &["--role", "tenant-admin", "--tenant", "globex"]);
    let listed = api.ok("GET", "/api/v1/quarantine", &acme, None);
    let id = listed[0]["id"].as_str().expect("a held message").to_owned();
    assert_eq!(listed[0]["tenants"], serde_json::json!(["acme"]));
    assert_eq!(api.ok("GET", "/api/v1/quarantine", &globex, None), serde_json::json!([]));
    for (method, path) in
        [("GET", format!("/api/v1/quarantine/{id}")), ("POST", format!("/api/v1/quarantine/{id}/release"))]
    {
        let answer = api.call(method, &path, Some(&globex), None);
        assert_eq!(
            answer.status, 404,
            "another tenant's held message does not exist for it: {}",
            answer.text
        );
    }
    let preview = api.ok("GET", &format!("/api/v1/quarantine/{id}"), &acme, None);
    assert!(preview["preview"].as_str().is_some_and(|p| p.contains("Subject: api-held")), "{preview}");
    let released = api.ok("POST", &format!("/api/v1/quarantine/{id}/release"), &acme, None);
    assert_eq!(released["state"], "released");
    let again = api.call("POST", &format!("/api/v1/quarantine/{id}/release"), Some(&acme), None);
    assert_eq!(again.status, 409, "{}", again.text);
    let text = delivered(&server.data_dir().join("mail/acme.test/user/new"), "api-held");
    assert!(text.contains("X-Sluice-Verdict: spoofed header.from=acme.test"), "{text}");
    server.wait_idle();
    assert_eq!(maildir_files(&server.data_dir().join("mail/acme.test/user/new")).len(), 1, "released once");
}

#[test]
fn a_message_too_large_to_hold_in_memory_is_marked_not_checked_and_its_forged_results_removed() {
    let dns = DnsServer::start(&records("AAAA"));
    let server = Server::start_with(auth_settings(&dns).smtp("data_memory_bytes_max", 65_536));
    let to = format!("user@{DOMAIN}");
    let forged = format!("Authentication-Results: {HOSTNAME}; dmarc=pass header.from=bank.test\r\n");
    let line = "Quarterly figures, line after line of them, for the whole year.\r\n";
    let content = forged + &plain_message("ceo@forger.test", &to, "large") + &line.repeat(4000);
    // forger.test publishes p=reject and this client is not its server: only a message that
    // was not checked can pass.
    let got = send_from(&server, "127.0.0.8", "ceo@forger.test", &to, &content);
    assert!(got.starts_with("250 "), "{got}\n{}", server.log());
    let text = delivered(&server.maildir_new("user"), "Subject: large");
    let ours: Vec<_> = unfolded_headers(&text)
        .into_iter()
        .filter(|h| h.to_ascii_lowercase().starts_with("authentication-results:"))
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert!(ours[0].contains("none (larger than") && ours[0].contains("not checked"), "{ours:?}");
    assert!(!text.contains("bank.test"), "the forged header is gone");
    assert!(server.log().contains("auth=\"skipped (larger than"), "{}", server.log());
}
