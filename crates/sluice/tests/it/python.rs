//! Python's smtplib (an independently written client): EHLO extensions, DSN
//! parameters, SMTPUTF8, SIZE and STARTTLS.

use serde_json::Value;

use crate::harness::{
    DOMAIN, HOSTNAME, Server, Settings, header_block, require_tool, run_tool, self_signed, token,
};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/py/smtp_client.py");

fn smtplib(server: &Server, mode: &str, args: &[&str]) -> Value {
    let python = require_tool("python3");
    let port = server.port.to_string();
    let mut argv = vec![SCRIPT, mode, &port];
    argv.extend_from_slice(args);
    let run = run_tool(&python, &argv);
    assert_eq!(run.code, Some(0), "smtplib client failed:\n{run}");
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{run}"))
}

/// `[code, text]` from the script's JSON.
fn code_text(v: &Value) -> (u64, String) {
    let code = v[0].as_u64().unwrap_or_else(|| panic!("no reply code in {v}"));
    (code, v[1].as_str().unwrap_or_default().to_owned())
}

fn assert_sent(result: &Value, what: &str) {
    let (code, text) = code_text(&result["mail"]);
    assert_eq!(code, 250, "{what}: MAIL refused: {code} {text}\n{result:#}");
    for rcpt in result["rcpt"].as_array().expect("rcpt replies") {
        let (code, text) = code_text(rcpt);
        assert_eq!(code, 250, "{what}: RCPT refused: {code} {text}\n{result:#}");
    }
    let (code, text) = code_text(&result["data"]);
    assert_eq!(code, 250, "{what}: DATA refused: {code} {text}\n{result:#}");
    assert!(
        text.starts_with("2.0.0 Ok: queued as "),
        "{what}: end-of-DATA reply text {text:?} is not `2.0.0 Ok: queued as <id>`"
    );
}

#[test]
fn smtplib_ehlo_advertises_the_promised_extensions() {
    let server = Server::start_with(Settings::default().smtp("message_bytes_max", 1_000_000));
    let out = smtplib(&server, "ehlo", &[]);
    let features = out["features"].as_object().expect("features");
    let missing: Vec<&str> =
        ["pipelining", "size", "8bitmime", "smtputf8", "enhancedstatuscodes", "dsn", "starttls"]
            .into_iter()
            .filter(|ext| !features.contains_key(*ext))
            .collect();
    assert!(missing.is_empty(), "EHLO does not advertise {missing:?}; reply was {}", out["ehlo"]);
    assert_eq!(
        features["size"].as_str(),
        Some("1000000"),
        "SIZE should advertise message_bytes_max; reply was {}",
        out["ehlo"]
    );
}

#[test]
fn smtplib_dsn_parameters_are_accepted() {
    let server = Server::start();
    let subject = token("py-dsn");
    let out = smtplib(&server, "dsn", &[&subject]);
    assert_sent(&out, "DSN parameters");
    let mail = server.wait_for_mail("user", 1);
    assert!(mail[0].contains(&subject), "delivered message:\n{}", mail[0]);
}

#[test]
fn smtplib_smtputf8_address_accepted_with_smtputf8_refused_without() {
    let server = Server::start();
    let subject = token("py-utf8");
    let rcpt = format!("üser@{DOMAIN}");
    let out = smtplib(&server, "smtputf8", &[&subject, "sénder@it.test", &rcpt]);
    assert_sent(&out["with"], "SMTPUTF8");
    let mail = server.wait_for_mail("üser", 1);
    assert!(mail[0].contains("héllo wörld"), "UTF-8 body mangled:\n{}", mail[0]);

    let (code, text) = code_text(&out["without_mail"]);
    assert!(
        (500..600).contains(&code),
        "non-ASCII MAIL FROM without SMTPUTF8 must be refused (5xx), got {code} {text}"
    );
    let (code, text) = code_text(&out["ascii_mail"]);
    assert_eq!(code, 250, "plain MAIL FROM after RSET: {code} {text}");
    let (code, text) = code_text(&out["without_rcpt"]);
    assert!(
        (500..600).contains(&code),
        "non-ASCII RCPT TO without SMTPUTF8 must be refused (5xx), got {code} {text}"
    );
}

#[test]
fn smtplib_size_over_limit_is_refused_552_5_3_4() {
    let limit = 20_000;
    let server = Server::start_with(Settings::default().smtp("message_bytes_max", limit));
    let out = smtplib(&server, "size", &[&limit.to_string()]);
    let (code, text) = code_text(&out["size_param"]);
    assert!(
        code == 552 && text.starts_with("5.3.4"),
        "MAIL FROM with SIZE over the limit: expected 552 5.3.4, got {code} {text}"
    );
    let data = &out["oversize_data"];
    let (code, text) = code_text(&data["mail"]);
    assert_eq!(code, 250, "MAIL without SIZE: {code} {text}");
    let (code, text) = code_text(&data["data"]);
    assert!(
        code == 552 && text.starts_with("5.3.4"),
        "DATA over the limit (no SIZE given): expected 552 5.3.4, got {code} {text}"
    );
    assert_eq!(server.settled_mail_count("big"), 0, "an oversize message was delivered");
}

#[test]
fn smtplib_starttls_then_send() {
    let server = Server::start();
    let subject = token("py-tls");
    let out = smtplib(&server, "starttls", &[&subject]);
    let (code, text) = code_text(&out["starttls"]);
    assert_eq!(code, 220, "STARTTLS: {code} {text}");
    assert!(
        out["after"].get("starttls").is_none(),
        "EHLO after STARTTLS still advertises STARTTLS (RFC 3207 4.2): {}",
        out["after"]
    );
    assert_sent(&out["send"], "after STARTTLS");
    let mail = server.wait_for_mail("tls-py", 1);
    let received = header_block(&mail[0]);
    assert!(mail[0].contains(&subject), "delivered message:\n{}", mail[0]);
    assert!(received.contains("Received:"), "no Received:\n{}", mail[0]);
}

#[test]
fn smtplib_starttls_presents_the_configured_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert_s, key_s) = self_signed(dir.path(), "tls-it.test");
    let server = Server::start_with(Settings::default().key("tls", "cert_file", format!("{cert_s:?}")).key(
        "tls",
        "key_file",
        format!("{key_s:?}"),
    ));
    let out = smtplib(&server, "peercert", &[&cert_s]);
    let (code, text) = code_text(&out["starttls"]);
    assert_eq!(code, 220, "STARTTLS: {code} {text}");
    assert_eq!(out["matches"], Value::Bool(true), "the server did not present [tls] cert_file: {out}");
}

/// Commands pipelined after STARTTLS in plaintext must be thrown away, not
/// run inside the TLS session (the CVE-2011-0411 class of bug).
#[test]
fn plaintext_pipelined_after_starttls_is_not_executed() {
    let server = Server::start();
    let out = smtplib(&server, "starttls_injection", &[]);
    // The precondition: STARTTLS was accepted with the injected line behind it and the
    // handshake completed, so the injected NOOP had its chance to run inside TLS.
    let starttls = out["starttls"].as_str().unwrap_or_default();
    assert!(starttls.starts_with("220 2.0.0"), "STARTTLS with a pipelined line behind it: {out}");
    assert!(out.get("handshake").is_none(), "the TLS handshake after STARTTLS failed: {out}");
    let first = out["first_tls_reply"].as_str().unwrap_or_default();
    assert!(
        first.starts_with("250") && first.contains(HOSTNAME),
        "the first reply inside TLS should answer our EHLO (`250-{HOSTNAME} ...`), not the injected NOOP: {out}"
    );
}
