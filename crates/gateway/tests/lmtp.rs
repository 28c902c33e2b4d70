//! LMTP delivery (RFC 2033) against a real LMTP server: Python's aiosmtpd `LMTP` class
//! (run scripts/install-test-deps.sh), answering scripted per-recipient replies.

mod common;

use std::net::SocketAddr;

use gateway::delivery::outbound::{ClientConfig, RecipientOutcome, deliver_lmtp};
use smtp_wire::{Envelope, Recipient};

struct LmtpServer {
    _peer: common::PythonPeer,
    addr: SocketAddr,
    record: tempfile::NamedTempFile,
}

fn start(script: &str) -> LmtpServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let record = tempfile::NamedTempFile::new().expect("record file");
    let server = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/lmtp_server.py");
    let peer =
        common::PythonPeer::start(server, &[&port.to_string(), script, &record.path().to_string_lossy()]);
    LmtpServer { _peer: peer, addr: SocketAddr::from(([127, 0, 0, 1], port)), record }
}

fn envelope(locals: &[&str]) -> Envelope {
    let recipients =
        locals.iter().map(|l| Recipient { notify: None, ..common::recipient(l, "mbox.test") }).collect();
    common::envelope(recipients)
}

fn client() -> ClientConfig {
    common::client("gw.sluice.test")
}

fn code(outcome: &RecipientOutcome) -> (&'static str, String) {
    match outcome {
        RecipientOutcome::Delivered(r) => ("delivered", r.summary()),
        RecipientOutcome::Deferred(r) => ("deferred", r.summary()),
        RecipientOutcome::Failed(r) => ("failed", r.summary()),
    }
}

#[tokio::test]
async fn one_reply_per_accepted_recipient_after_the_data() {
    let server = start(
        r#"{"ok@mbox.test": {},
            "gone@mbox.test": {"data": "550 5.1.1 <gone@mbox.test> no such mailbox"},
            "full@mbox.test": {"data": "452 4.2.2 <full@mbox.test> mailbox full"},
            "refused@mbox.test": {"rcpt": "550 5.1.1 <refused@mbox.test> unknown at RCPT"}}"#,
    );
    let env = envelope(&["ok", "gone", "refused", "full"]);
    let data = b"Subject: lmtp\r\n\r\n.dot line\r\nbody\r\n";
    let outcomes = deliver_lmtp(server.addr, &client(), &env, &[0, 1, 2, 3], data).await.expect("attempt");
    let got: Vec<(u32, (&str, String))> = outcomes.iter().map(|(i, o)| (*i, code(o))).collect();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[0].1.0, "delivered", "{got:?}");
    assert!(got[1].1.0 == "failed" && got[1].1.1.starts_with("550 5.1.1 <gone@"), "{got:?}");
    assert!(got[2].1.0 == "failed" && got[2].1.1.contains("unknown at RCPT"), "{got:?}");
    assert!(got[3].1.0 == "deferred" && got[3].1.1.starts_with("452 4.2.2"), "{got:?}");

    let record = std::fs::read_to_string(server.record.path()).expect("record");
    let lines: Vec<&str> = record.lines().collect();
    assert_eq!(lines.len(), 1, "one transaction:\n{record}");
    assert!(lines[0].contains(r#""lhlo": "gw.sluice.test""#), "greeted with LHLO:\n{record}");
    assert!(
        lines[0].contains(r#""rcpt_tos": ["ok@mbox.test", "gone@mbox.test", "full@mbox.test"]"#),
        "{record}"
    );
    assert!(lines[0].contains(r"\r\n.dot line\r\n"), "dot-stuffing undone by the server:\n{record}");
}

#[tokio::test]
async fn no_accepted_recipient_sends_no_data() {
    let server = start(r#"{"refused@mbox.test": {"rcpt": "550 5.1.1 unknown"}}"#);
    let outcomes =
        deliver_lmtp(server.addr, &client(), &envelope(&["refused"]), &[0], b"x\r\n").await.expect("attempt");
    assert!(matches!(&outcomes[..], [(0, RecipientOutcome::Failed(_))]), "{outcomes:?}");
    assert_eq!(std::fs::read_to_string(server.record.path()).expect("record"), "");
}
