//! The operator CLI that cannot mislead: which config a command uses (`--config`,
//! `SLUICE_CONFIG`, `./sluice.toml`) and a reading command that never creates an empty
//! database; `connector edit` with its change record; `connector validate` of an inbound
//! connector; `connector audit` and its exit status; reputation entries that expire on a
//! running server; `[tls] client_ca_file` applied on reload.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rcgen::ExtendedKeyUsagePurpose;
use serde_json::Value;

use crate::cert_connector::{ca, empty_pki, leaf, rcpt_replies, tight_throttle_with_tls};
use crate::harness::{HOSTNAME, Server, add_acme_test, directory_store, swaks_from};

/// `sluice <args>` run in `cwd` with `env` (and never the caller's `SLUICE_CONFIG`):
/// (exit code, stdout, stderr).
fn run_in(cwd: &Path, env: &[(&str, &Path)], args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command.current_dir(cwd).env_remove("SLUICE_CONFIG").args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().expect("run sluice");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A directory holding `sluice.toml` (data in `data/`).
fn config_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new().prefix("sluice-cli-").tempdir().expect("temp dir");
    let config = dir.path().join("sluice.toml");
    fs::write(&config, format!("data_dir = {:?}\n", dir.path().join("data").display().to_string()))
        .expect("config");
    (dir, config)
}

#[test]
fn the_config_is_found_and_a_reading_command_never_creates_a_database() {
    let empty = tempfile::tempdir().expect("temp dir");
    // Nothing found: the built-in defaults, whose ./sluice-data holds no database.
    let (code, _, err) = run_in(empty.path(), &[], &["domain", "list"]);
    assert_eq!(code, Some(1), "{err}");
    for needle in [
        "no directory database at ./sluice-data/sluice.db",
        "the built-in defaults",
        "--config FILE",
        "SLUICE_CONFIG=FILE",
    ] {
        assert!(err.contains(needle), "{needle:?} in:\n{err}");
    }
    assert!(!err.contains("Os {") && !err.contains("Error {"), "no debug text:\n{err}");
    assert!(!empty.path().join("sluice-data").exists(), "a reading command created a data directory");

    let (dir, config) = config_dir();
    let flag = config.to_str().expect("utf-8 path");
    // --config: the next step printed repeats it.
    let (code, out, err) = run_in(empty.path(), &[], &["tenant", "add", "acme", "--config", flag]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(&format!("--config {flag}")), "the next step carries the flag:\n{out}");
    // SLUICE_CONFIG, from anywhere.
    let (code, out, err) = run_in(empty.path(), &[("SLUICE_CONFIG", &config)], &["tenant", "list"]);
    assert!(code == Some(0) && out.contains("acme"), "{out}{err}");
    // ./sluice.toml in the working directory.
    let (code, out, err) = run_in(dir.path(), &[], &["tenant", "list", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let tenants: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(tenants[0]["id"], "acme", "{tenants}");
    // --config wins over SLUICE_CONFIG; a SLUICE_CONFIG that names nothing says so.
    let missing = empty.path().join("nowhere.toml");
    let (code, out, _) =
        run_in(empty.path(), &[("SLUICE_CONFIG", &missing)], &["tenant", "list", "-c", flag]);
    assert!(code == Some(0) && out.contains("acme"), "{out}");
    let (code, _, err) = run_in(empty.path(), &[("SLUICE_CONFIG", &missing)], &["tenant", "list"]);
    assert!(code == Some(1) && err.contains("SLUICE_CONFIG names") && err.contains("nowhere.toml"), "{err}");
    // A reading command on a config whose data_dir has no database yet: named, not created.
    let (other, other_config) = config_dir();
    let (code, _, err) =
        run_in(empty.path(), &[], &["connector", "list", "-c", other_config.to_str().expect("path")]);
    assert!(code == Some(1) && err.contains("no directory database at") && err.contains("--config"), "{err}");
    assert!(!other.path().join("data").exists(), "a reading command created {}", other.path().display());
}

/// Runs `sluice <args> --config <config>` in a scratch directory: (code, stdout, stderr).
fn cli(config: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = args.to_vec();
    all.extend(["--config", config.to_str().expect("utf-8 path")]);
    run_in(config.parent().expect("config dir"), &[], &all)
}

fn cli_ok(config: &Path, args: &[&str]) -> String {
    let (code, out, err) = cli(config, args);
    assert_eq!(code, Some(0), "`sluice {}`:\n{out}{err}", args.join(" "));
    out
}

#[test]
fn connector_edit_changes_in_place_and_records_who_when_and_what() {
    let (_dir, config) = config_dir();
    cli_ok(&config, &["tenant", "add", "acme"]);
    cli_ok(
        &config,
        &[
            "connector",
            "add",
            "relay",
            "--tenant",
            "acme",
            "--kind",
            "partner",
            "--ip",
            "203.0.113.0/24",
            "--note",
            "ticket 12",
        ],
    );
    let edited = cli_ok(
        &config,
        &[
            "connector",
            "edit",
            "relay",
            "--tenant",
            "acme",
            "--add-ip",
            "198.51.100.7/32",
            "--remove-ip",
            "203.0.113.0/24",
            "--no-require-tls",
            "--note",
            "new relay",
            "--by",
            "ann",
        ],
    );
    for needle in [
        "198.51.100.7/32",
        "require tls:    no",
        "changed:",
        "by ann",
        "added 198.51.100.7/32",
        "removed 203.0.113.0/24",
        "require TLS off (new relay)",
    ] {
        assert!(edited.contains(needle), "{needle:?} in:\n{edited}");
    }
    assert!(!edited.contains("203.0.113.0/24\n"), "{edited}");
    let show: Value =
        serde_json::from_str(&cli_ok(&config, &["connector", "show", "relay", "--tenant", "acme", "--json"]))
            .expect("json");
    assert_eq!(show["ip"], serde_json::json!(["198.51.100.7/32"]), "{show}");
    assert_eq!(show["changed_by"], "ann", "{show}");
    assert!(show["created_by"].as_str().is_some_and(|b| b.starts_with("os:")), "{show}");
    assert!(show["changed_at_unix_s"].as_u64() >= show["created_at_unix_s"].as_u64(), "{show}");
    // Refused edits say which input is wrong and change nothing.
    for (args, needle) in [
        (vec!["--remove-ip", "192.0.2.0/24"], "connector.remove_ip"),
        (vec!["--add-ip", "198.51.100.7/32"], "already listed"),
        (vec!["--no-require-tls"], "nothing to change"),
        (vec!["--add-smart-host", "mx.example"], "connector.add_smart_host"),
        (vec!["--add-ip", "0.0.0.0/1"], "too broad"),
    ] {
        let mut all = vec!["connector", "edit", "relay", "--tenant", "acme"];
        all.extend(args);
        let (code, _, err) = cli(&config, &all);
        assert!(code == Some(1) && err.contains(needle), "{needle:?}: {err}");
    }
    let audit = cli_ok(&config, &["audit", "--action", "connector.edit", "--json"]);
    let entries: Value = serde_json::from_str(&audit).expect("json");
    assert_eq!(entries.as_array().map(Vec::len), Some(1), "one edit, one entry: {entries}");
    assert_eq!(entries[0]["before"]["ip"], serde_json::json!(["203.0.113.0/24"]), "{entries}");
}

#[test]
fn connector_audit_flags_risks_and_exits_1_on_a_high_one() {
    let (_dir, config) = config_dir();
    for tenant in ["acme", "globex"] {
        cli_ok(&config, &["tenant", "add", tenant]);
    }
    // A partner on a shared /24: medium flags only (recent, shared with another tenant).
    cli_ok(
        &config,
        &["connector", "add", "filter", "--tenant", "acme", "--kind", "partner", "--ip", "192.0.2.0/24"],
    );
    cli_ok(
        &config,
        &["connector", "add", "filter", "--tenant", "globex", "--kind", "partner", "--ip", "192.0.2.128/25"],
    );
    let (code, out, err) = cli(&config, &["connector", "audit", "--tenant", "acme"]);
    assert_eq!(code, Some(0), "medium flags only:\n{out}{err}");
    assert!(out.contains("overlaps-other-tenant") && out.contains("globex/filter"), "{out}");
    assert!(out.contains("recently-created"), "{out}");
    // An on-premises connector for a /16 without TLS, and a wildcard on a public suffix.
    cli_ok(
        &config,
        &[
            "connector",
            "add",
            "hq",
            "--tenant",
            "globex",
            "--kind",
            "on-premises",
            "--ip",
            "10.1.0.0/16",
            "--by",
            "mallory",
        ],
    );
    cli_ok(
        &config,
        &["connector", "add", "uk", "--tenant", "globex", "--kind", "partner", "--cert-name", "*.co.uk"],
    );
    cli_ok(&config, &["connector", "disable", "filter", "--tenant", "globex"]);
    let (code, out, err) = cli(&config, &["connector", "audit"]);
    assert_eq!(code, Some(1), "high-risk flags:\n{out}{err}");
    assert!(err.contains("high-risk"), "{err}");
    for needle in [
        "broad-range",
        "10.1.0.0/16",
        "on-premises-without-tls",
        "wildcard-public-suffix",
        "*.co.uk",
        "disabled",
        "by mallory",
    ] {
        assert!(out.contains(needle), "{needle:?} in:\n{out}");
    }
    let (code, json, _) = cli(&config, &["connector", "audit", "--json"]);
    assert_eq!(code, Some(1));
    let report: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(report["high_risk"], true, "{report}");
    let hq = report["connectors"].as_array().expect("list").iter().find(|c| c["name"] == "hq").expect("hq");
    assert!(
        hq["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .any(|f| f["risk"] == "high" && f["flag"] == "broad-range"),
        "{hq}"
    );
}

#[test]
fn validate_an_inbound_connector_step_by_step_without_sending() {
    let pki = empty_pki();
    let trusted = ca("Sluice partners CA");
    let rogue = ca("Someone else's CA");
    fs::write(pki.path("ca.pem"), trusted.pem()).expect("CA");
    leaf(
        &pki,
        "partner",
        &["relay.mail.partner.test"],
        ExtendedKeyUsagePurpose::ClientAuth,
        &trusted,
        |_| {},
    );
    leaf(&pki, "rogue", &["relay.mail.partner.test"], ExtendedKeyUsagePurpose::ClientAuth, &rogue, |_| {});
    let (dir, config) = config_dir();
    let text = fs::read_to_string(&config).expect("config");
    fs::write(&config, format!("{text}[tls]\nclient_ca_file = {:?}\n", pki.path("ca.pem"))).expect("config");
    cli_ok(&config, &["tenant", "add", "acme"]);
    cli_ok(&config, &["tenant", "add", "globex"]);
    add_domain(&dir.path().join("data/sluice.db"), "acme", "acme.test");
    cli_ok(
        &config,
        &[
            "connector",
            "add",
            "partner",
            "--tenant",
            "acme",
            "--kind",
            "partner",
            "--cert-name",
            "*.mail.partner.test",
            "--ip",
            "203.0.113.9/32",
        ],
    );
    cli_ok(
        &config,
        &["connector", "add", "filter", "--tenant", "globex", "--kind", "partner", "--ip", "203.0.113.9/32"],
    );

    let validate = |extra: &[&str]| {
        let mut args = vec!["connector", "validate", "partner", "--tenant", "acme"];
        args.extend_from_slice(extra);
        cli(&config, &args)
    };
    // Validation with `extra` exits with `want` and says each of `needles`.
    let expect = |extra: &[&str], want: i32, needles: &[&str]| {
        let (code, out, err) = validate(extra);
        assert_eq!(code, Some(want), "{out}{err}");
        for needle in needles {
            assert!(out.contains(needle), "{needle:?} in:\n{out}");
        }
    };
    // By address: matches, but the connector names certificates, so plain text and TLS
    // without one of them are refused: the exact replies, and exit status 1.
    expect(
        &["--client-ip", "203.0.113.9", "--to", "user@acme.test"],
        1,
        &[
            "matches by IP range 203.0.113.9/32",
            "also matches globex/filter",
            "RCPT TO:<user@acme.test> in plain text",
            "550 5.7.10 Mail for acme.test from [203.0.113.9] must be sent over TLS",
            "550 5.7.10 Mail for acme.test from [203.0.113.9] must come over TLS with a client certificate for *.mail.partner.test",
            "nothing is sent",
        ],
    );
    // With the partner's certificate: trusted, never throttled, accepted over TLS.
    let cert = pki.path("partner.pem");
    expect(
        &["--client-ip", "203.0.113.9", "--client-cert", &cert, "--to", "user@acme.test"],
        0,
        &[
            "chains to the client CA",
            "certificate name relay.mail.partner.test under *.mail.partner.test",
            "never throttled",
            "250 2.1.5 Ok (through connector \"partner\", not throttled)",
        ],
    );
    // Another CA's certificate counts for nothing, from an address nobody declared.
    let rogue_cert = pki.path("rogue.pem");
    let (code, out, _) =
        validate(&["--client-ip", "198.51.100.1", "--client-cert", &rogue_cert, "--to", "user@acme.test"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("NOT trusted")
            && out.contains("does not match this client")
            && out.contains("throttled like any other"),
        "{out}"
    );
    // Bad input names the flag's field and the file, never debug text.
    let junk = dir.path().join("junk.pem");
    fs::write(&junk, "not a certificate").expect("junk");
    let (code, _, err) = validate(&["--client-cert", junk.to_str().expect("path")]);
    assert!(
        code == Some(1) && err.contains("validate.client_cert") && err.contains("no certificate"),
        "{err}"
    );
    let (code, _, err) = validate(&["--client-ip", "not-an-ip"]);
    assert!(code == Some(1) && err.contains("validate.client_ip"), "{err}");
    let (code, _, err) = validate(&["--client-cert", "/nonexistent.pem"]);
    assert!(code == Some(1) && err.contains("--client-cert") && err.contains("/nonexistent.pem"), "{err}");
    let (code, _, err) = validate(&[]);
    assert!(code == Some(1) && err.contains("describe the client"), "{err}");
}

/// A verified domain with `user@<domain>`, straight into the store (DNS verification is
/// tested in `directory`).
fn add_domain(db: &Path, tenant: &str, domain: &str) {
    let mut store = store::SqliteStore::open(db).expect("open the directory");
    crate::harness::add_verified_domain(&mut store, tenant, domain);
}

/// On a running server: an exception given for a few seconds lets a blocked client in,
/// then stops applying; the server removes it and logs it once.
#[test]
fn reputation_entries_expire_and_are_reported_once() {
    let server = Server::start();
    server.cli_ok(&["tenant", "add", "acme"]);
    add_acme_test(&mut directory_store(&server));
    server.cli_ok(&["reputation", "block", "127.0.0.0/29", "--note", "test range"]);
    let listed = server.cli_ok(&["reputation", "except", "127.0.0.4/32", "--expires", "8s"]);
    assert!(listed.contains("excepted until") && listed.contains("(in "), "{listed}");
    let list = server.cli_ok(&["reputation", "list"]);
    assert!(list.lines().any(|l| l.contains("127.0.0.4/32") && l.contains("expires")), "{list}");
    assert!(list.lines().any(|l| l.contains("127.0.0.0/29") && l.contains("no expiry")), "{list}");
    let mail_from = |ip: &str| {
        let mut client = server.connect_from(ip);
        client.expect("EHLO probe.test", 250);
        client.cmd("MAIL FROM:<a@sender.test>")
    };
    // Excepted (once the server has the entries: it polls every second).
    let deadline = Instant::now() + Duration::from_secs(10);
    while mail_from("127.0.0.3").code == 250 {
        assert!(Instant::now() < deadline, "the block never applied:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(mail_from("127.0.0.4").code, 250, "the exception applies until it expires");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log().contains("reputation exception expired and was removed") {
        assert!(Instant::now() < deadline, "the expiry was never reported:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let refused = mail_from("127.0.0.4");
    assert!(refused.first_line().starts_with("550 5.7.708"), "expired, it no longer applies: {refused}");
    let log = server.log();
    let reports = log
        .lines()
        .filter(|l| l.contains("reputation exception expired") && l.contains("127.0.0.4/32"))
        .count();
    assert_eq!(reports, 1, "reported once:\n{log}");
    assert!(!server.cli_ok(&["reputation", "list"]).contains("127.0.0.4/32"));
}

/// `[tls] client_ca_file` added to the config of a running server: the reload says so, and
/// new sessions ask for client certificates, so a certificate connector starts to match.
#[test]
fn a_client_ca_added_on_reload_applies_to_new_sessions() {
    let pki = empty_pki();
    let trusted = ca("Sluice partners CA");
    fs::write(pki.path("ca.pem"), trusted.pem()).expect("CA");
    leaf(&pki, "server", &[HOSTNAME, "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth, &trusted, |_| {});
    leaf(
        &pki,
        "partner",
        &["relay.mail.partner.test"],
        ExtendedKeyUsagePurpose::ClientAuth,
        &trusted,
        |_| {},
    );
    let quoted = |name: &str| format!("{:?}", pki.path(name));
    let server = Server::start_with(tight_throttle_with_tls(&pki, false));
    server.cli_ok(&["tenant", "add", "acme"]);
    add_acme_test(&mut directory_store(&server));
    server.cli_ok(&[
        "connector",
        "add",
        "partner",
        "--tenant",
        "acme",
        "--kind",
        "partner",
        "--cert-name",
        "*.mail.partner.test",
    ]);
    server.wait_directory_current();
    let (cert, key) = (pki.path("partner.pem"), pki.path("partner.key"));
    let burst = |ip: &str| {
        let to = ["user@acme.test"; 6].join(",");
        let args = [
            "--helo",
            "relay.mail.partner.test",
            "--from",
            "news@partner.test",
            "--to",
            &to,
            "--quit-after",
            "RCPT",
            "-tls",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ];
        rcpt_replies(&swaks_from(&server, ip, &args))
    };
    // Without a client CA the certificate counts for nothing: throttled like anyone.
    assert!(burst("127.0.0.2").iter().any(|r| r.starts_with("451 4.7.5")), "no CA yet: an ordinary client");
    let text = fs::read_to_string(server.config_path()).expect("config");
    let with_ca = text.replacen("[tls]\n", &format!("[tls]\nclient_ca_file = {}\n", quoted("ca.pem")), 1);
    assert_ne!(with_ca, text, "the config has a [tls] section:\n{text}");
    fs::write(server.config_path(), with_ca).expect("config");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.log().contains("TLS reloaded") {
        assert!(Instant::now() < deadline, "no reload logged:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(server.log().contains("ca.pem"), "the reload names the bundle:\n{}", server.log());
    let replies = burst("127.0.0.3");
    assert!(
        replies.len() == 6 && replies.iter().all(|r| r.starts_with("250")),
        "trusted after the reload: {replies:?}"
    );
}
