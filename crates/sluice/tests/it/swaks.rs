//! swaks (a real, independently written SMTP client): plain, STARTTLS,
//! PIPELINING and a relay attempt.

use crate::harness::{
    DOMAIN, HOSTNAME, Server, Settings, ToolRun, header_block, one_line, openssl, require_tool, run_tool,
    token, unfolded_headers,
};

fn swaks(server: &Server, to: &str, subject: &str, body: &str, extra: &[&str]) -> ToolRun {
    let swaks = require_tool("swaks");
    let port = server.port.to_string();
    let header = format!("Subject: {subject}");
    let mut args = vec![
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--helo",
        "swaks.it.test",
        "--from",
        "sender@it.test",
        "--to",
        to,
        "--header",
        &header,
        "--body",
        body,
        "--timeout",
        "20",
    ];
    args.extend_from_slice(extra);
    run_tool(&swaks, &args)
}

fn assert_delivered(server: &Server, user: &str, subject: &str, body: &str) -> String {
    let mail = server.wait_for_mail(user, 1);
    assert_eq!(mail.len(), 1, "exactly one message for {user}");
    let message = &mail[0];
    let headers = header_block(message);
    assert!(
        headers.lines().any(|l| l.starts_with("Received:")),
        "no Received: header in the delivered message:\n{message}"
    );
    assert!(headers.contains(subject), "subject {subject} not in the headers:\n{message}");
    assert!(message.contains(body), "body {body} not delivered:\n{message}");
    message.clone()
}

#[test]
fn swaks_plain_message_lands_in_maildir_with_received_header() {
    let server = Server::start();
    let subject = token("swaks-plain");
    let body = token("swaks-plain-body");
    let run = swaks(&server, &format!("user@{DOMAIN}"), &subject, &body, &[]);
    assert_eq!(run.code, Some(0), "swaks failed:\n{run}");
    assert!(
        run.output().contains(&format!("220 {HOSTNAME}")),
        "banner does not start with the configured hostname {HOSTNAME}:\n{run}"
    );
    let message = assert_delivered(&server, "user", &subject, &body);
    let received =
        unfolded_headers(&message).into_iter().find(|l| l.starts_with("Received:")).unwrap_or_default();
    assert!(
        received.contains(HOSTNAME),
        "Received: does not name the configured hostname {HOSTNAME}: {received}"
    );
}

#[test]
fn swaks_starttls_message_is_delivered() {
    require_tool("swaks");
    let server = Server::start();
    let subject = token("swaks-tls");
    let body = token("swaks-tls-body");
    let run = swaks(&server, &format!("tls@{DOMAIN}"), &subject, &body, &["-tls"]);
    assert_eq!(run.code, Some(0), "swaks -tls failed:\n{run}");
    let out = run.output();
    assert!(out.contains("STARTTLS") && out.contains("TLS started"), "swaks did not negotiate TLS:\n{run}");
    assert_delivered(&server, "tls", &subject, &body);
}

#[test]
fn swaks_pipelined_message_is_delivered() {
    let server = Server::start();
    let subject = token("swaks-pipe");
    let body = token("swaks-pipe-body");
    let run = swaks(&server, &format!("pipe@{DOMAIN}"), &subject, &body, &["--pipeline"]);
    assert_eq!(run.code, Some(0), "swaks --pipeline failed:\n{run}");
    assert_delivered(&server, "pipe", &subject, &body);
}

#[test]
fn swaks_relay_to_other_domain_is_refused_550_5_7_1() {
    let server = Server::start();
    let run = swaks(&server, "someone@other.test", &token("swaks-relay"), "relay attempt", &[]);
    // swaks exit code 24: every recipient was refused at RCPT TO.
    assert_eq!(run.code, Some(24), "swaks should fail at RCPT TO:\n{run}");
    let rcpt_reply = run
        .output()
        .lines()
        .skip_while(|l| !l.contains("RCPT TO:<someone@other.test>"))
        .nth(1)
        .map(|l| one_line(l.trim_start_matches("<** ")))
        .unwrap_or_default();
    assert!(
        rcpt_reply.starts_with("550 5.7.1"),
        "relay attempt not refused with 550 5.7.1; reply was {rcpt_reply:?}\n{run}"
    );
    let other = server.data_dir().join("mail").join("other.test");
    assert!(!other.exists(), "a relay attempt created {}", other.display());
}

/// With `[tls] client_ca_file` the server asks for a client certificate during STARTTLS: a
/// certificate chaining to the bundle is verified and its names are known to the session
/// (for certificate-recognised connectors); a client without one is still served.
#[test]
fn swaks_client_certificate_is_verified_and_optional() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let (ca, ca_key, csr, cert, key, ext) =
        (path("ca.pem"), path("ca.key"), path("c.csr"), path("c.pem"), path("c.key"), path("ext.cnf"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Sluice test CA",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=relay.partner.test",
        "-keyout",
        &key,
        "-out",
        &csr,
    ]);
    std::fs::write(
        &ext,
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:mx1.partner.test\n",
    )
    .expect("write extensions");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &ext,
        "-out",
        &cert,
    ]);
    let server = Server::start_with(Settings::default().key("tls", "client_ca_file", format!("{ca:?}")));

    let subject = token("client-cert");
    let run = swaks(
        &server,
        &format!("cert@{DOMAIN}"),
        &subject,
        "with a certificate",
        &["-tls", "--tls-cert", &cert, "--tls-key", &key],
    );
    assert_eq!(run.code, Some(0), "swaks with a client certificate:\n{run}");
    assert_delivered(&server, "cert", &subject, "with a certificate");
    let log = server.log();
    assert!(
        log.contains("client_cert=mx1.partner.test,relay.partner.test"),
        "the verified names (SAN, then CN) should be logged:\n{log}"
    );

    let subject = token("no-client-cert");
    let run = swaks(&server, &format!("nocert@{DOMAIN}"), &subject, "without a certificate", &["-tls"]);
    assert_eq!(run.code, Some(0), "a client without a certificate must still be served:\n{run}");
    assert_delivered(&server, "nocert", &subject, "without a certificate");
}
