//! One plain transaction over a raw TcpStream: reply texts, the Maildir
//! layout and the per-transaction log line.

use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{
    DELIVERY_TIMEOUT, DOMAIN, HOSTNAME, Server, Settings, maildir_files, message, queued_id, token,
};

#[test]
fn queued_reply_names_a_16_hex_digit_id_and_the_log_line_matches() {
    let server = Server::start();
    let mut client = server.connect();
    let banner = client.reply();
    assert!(
        banner.code == 220 && banner.lines[0].starts_with(HOSTNAME),
        "banner should start with the configured hostname: `{banner}`"
    );
    let ehlo = client.cmd("EHLO raw.it.test");
    assert_eq!(ehlo.code, 250, "EHLO: `{ehlo}`");
    let subject = token("raw");
    let rcpt = format!("raw@{DOMAIN}");
    let body = message("sender@it.test", &rcpt, &subject, "raw body\r\n");
    let reply = client.send_message("sender@it.test", &[&rcpt], &body);
    let id = queued_id(&reply)
        .unwrap_or_else(|| panic!("expected `250 2.0.0 Ok: queued as <16 hex>`, got `{reply}`"));
    let quit = client.cmd("QUIT");
    assert_eq!(quit.code, 221, "QUIT: `{quit}`");

    let mail = server.wait_for_mail("raw", 1);
    assert!(mail[0].contains(&subject), "delivered:\n{}", mail[0]);

    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let log = server.log();
        // tracing prints `msg_id=ID` for Display fields, `msg_id="ID"` for Debug ones.
        let tagged = [format!("msg_id={id}"), format!("msg_id=\"{id}\"")];
        if let Some(line) = log.lines().find(|l| tagged.iter().any(|t| l.contains(t))) {
            break line.to_owned();
        }
        assert!(Instant::now() < deadline, "no log line with msg_id={id} within 5 s");
        thread::sleep(Duration::from_millis(100));
    };
    for field in ["client_ip=127.0.0.1", "sender=", "recipients=", "size=", "outcome=", "queue_us="] {
        assert!(line.contains(field), "log line lacks `{field}`: {line}");
    }
}

/// `[log] format = "json"`: every line the server writes is one JSON object with a timestamp,
/// a level and the event's fields, and the per-message line carries what the README promises.
#[test]
fn json_log_lines_parse_and_carry_the_promised_fields() {
    let server = Server::start_with(Settings::default().key("log", "format", "\"json\""));
    let mut client = server.connect();
    client.greet();
    let rcpt = format!("json@{DOMAIN}");
    let body = message("sender@it.test", &rcpt, &token("json"), "json body\r\n");
    let reply = client.send_message("sender@it.test", &[&rcpt], &body);
    let id = queued_id(&reply).unwrap_or_else(|| panic!("end of DATA: `{reply}`"));
    client.expect("QUIT", 221);
    server.wait_for_mail("json", 1);
    server.wait_idle();

    let log = server.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("--- sluice run"))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{log}");
    for line in &lines {
        assert!(line["timestamp"].is_string() && line["level"].is_string(), "{line}");
        assert!(line["fields"]["message"].is_string(), "{line}");
    }
    let event = |name: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["message"] == name)
            .map(|l| &l["fields"])
            .unwrap_or_else(|| panic!("no {name:?} line:\n{log}"))
    };
    let accepted = event("message");
    assert_eq!(accepted["msg_id"], id.as_str(), "{accepted}");
    assert_eq!(accepted["client_ip"], "127.0.0.1", "{accepted}");
    assert_eq!(accepted["sender"], "<sender@it.test>", "{accepted}");
    assert_eq!(accepted["recipients"], rcpt.as_str(), "{accepted}");
    assert_eq!(accepted["outcome"], "queued", "{accepted}");
    assert!(accepted["size"].as_u64().is_some_and(|n| n > 0), "{accepted}");
    assert!(accepted["queue_us"].is_u64(), "{accepted}");
    let delivered = event("delivered");
    assert_eq!(delivered["msg_id"], id.as_str(), "{delivered}");
    assert_eq!(delivered["recipient"], rcpt.as_str(), "{delivered}");
}

#[test]
fn maildir_path_lowercases_the_domain_and_the_mailbox() {
    // Local parts are case-folded for local mailboxes, as every MTA's local delivery does,
    // so Bob@ and bob@ share one mailbox.
    let server = Server::start();
    let mut client = server.connect();
    client.greet();
    let subject = token("case");
    let rcpt = "Mixed.Case@Example.TEST";
    let body = message("sender@it.test", rcpt, &subject, "case body\r\n");
    let reply = client.send_message("sender@it.test", &[rcpt], &body);
    assert_eq!(reply.code, 250, "end of DATA: `{reply}`");
    // Contract: <maildir_root>/<domain lowercase>/<local part>/new.
    let domain_dir = server.data_dir().join("mail").join(DOMAIN);
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    loop {
        if !maildir_files(&server.maildir_new("mixed.case")).is_empty() {
            return;
        }
        // Delivered somewhere else (another spelling of the mailbox)? Say so now.
        let mailboxes: Vec<String> = std::fs::read_dir(&domain_dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let elsewhere = mailboxes.iter().find(|m| {
            maildir_files(&server.maildir_new(m))
                .iter()
                .any(|f| crate::harness::read_lossy(f).contains(&subject))
        });
        if let Some(mailbox) = elsewhere {
            panic!(
                "message for {rcpt} delivered to {}/{mailbox}/new; the contract says {}/mixed.case/new \
                 (domain and mailbox lowercased)",
                domain_dir.display(),
                domain_dir.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no message for {rcpt} in any mailbox under {} after {DELIVERY_TIMEOUT:?}: {mailboxes:?}",
            domain_dir.display()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn delivered_message_is_not_delivered_again_after_restart() {
    let mut server = Server::start();
    let mut client = server.connect();
    client.greet();
    let subject = token("once");
    let rcpt = format!("once@{DOMAIN}");
    let body = message("sender@it.test", &rcpt, &subject, "once body\r\n");
    let reply = client.send_message("sender@it.test", &[&rcpt], &body);
    assert_eq!(reply.code, 250, "end of DATA: `{reply}`");
    client.expect("QUIT", 221);
    server.wait_for_mail("once", 1);
    // Delivered means gone from the spool: recovery must not deliver it again,
    // neither after a clean stop nor after a crash.
    let status = server.terminate(Duration::from_secs(20)).expect("exit within 20 s of SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    server.spawn();
    assert_eq!(server.settled_mail_count("once"), 1, "delivered again after a clean restart");
    server.kill9();
    server.spawn();
    assert_eq!(server.settled_mail_count("once"), 1, "delivered again after kill -9 and restart");
}

/// The stored copy is a `Received:` header followed by exactly the bytes the
/// client sent (after dot-unstuffing), 8-bit content included.
#[test]
fn stored_message_is_received_header_plus_the_exact_content() {
    let server = Server::start();
    let mut client = server.connect();
    client.greet();
    let subject = token("exact");
    let long_line = "L".repeat(998);
    let content = format!(
        "From: <sender@it.test>\r\nTo: <exact@{DOMAIN}>\r\nSubject: {subject}\r\n\
         X-Folded: one\r\n\ttwo\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e \u{1F600}\r\n\r\n\r\ntrailing spaces   \r\n\ttab\r\n{long_line}\r\nend"
    );
    client.expect("MAIL FROM:<sender@it.test> BODY=8BITMIME", 250);
    client.expect(&format!("RCPT TO:<exact@{DOMAIN}>"), 250);
    client.expect("DATA", 354);
    client.send_raw(content.as_bytes());
    client.send_raw(b"\r\n.\r\n");
    let reply = client.reply();
    assert_eq!(reply.code, 250, "end of DATA: `{reply}`");
    let file = &maildir_files(&server.maildir_new("exact"))
        .into_iter()
        .next()
        .map_or_else(|| server.wait_for_mail("exact", 1).remove(0), |f| crate::harness::read_lossy(&f));
    let stored = file.replace("\r\n", "\n");
    let sent = format!("{content}\r\n").replace("\r\n", "\n");
    assert!(
        stored.ends_with(&sent),
        "the stored copy does not end with the exact content sent\n--- sent ---\n{sent}\n--- stored ---\n{stored}"
    );
    // In front: trace fields only (RFC 5321 4.4), a Received: among them.
    let added = &stored[..stored.len() - sent.len()];
    let trace = ["Received:", "Return-Path:", "Delivered-To:"];
    assert!(
        added.lines().all(|l| trace.iter().any(|t| l.starts_with(t)) || l.starts_with([' ', '\t'])),
        "only trace header fields ({trace:?}) should be added in front, got:\n{added}"
    );
    assert!(added.lines().any(|l| l.starts_with("Received:")), "no Received: added:\n{added}");
}

/// PIPELINING: a whole transaction in one write, a refused recipient in the
/// middle; replies come back in order and the good recipients get the mail.
#[test]
fn pipelined_transaction_with_a_refused_recipient() {
    let server = Server::start();
    let mut client = server.connect();
    client.greet();
    let subject = token("pipe-raw");
    client.send_raw(
        format!(
            "MAIL FROM:<sender@it.test>\r\nRCPT TO:<p1@{DOMAIN}>\r\nRCPT TO:<x@other.test>\r\n\
             RCPT TO:<p2@{DOMAIN}>\r\nDATA\r\n"
        )
        .as_bytes(),
    );
    let codes: Vec<String> = (0..5).map(|_| client.reply().first_line()).collect();
    let expected = ["250", "250", "550 5.7.1", "250", "354"];
    for (got, want) in codes.iter().zip(expected) {
        assert!(got.starts_with(want), "pipelined replies {codes:#?}, expected {expected:?}");
    }
    client.send_raw(format!("Subject: {subject}\r\n\r\npipelined\r\n.\r\nQUIT\r\n").as_bytes());
    let end = client.reply();
    assert!(queued_id(&end).is_some(), "end of DATA: `{end}`");
    assert_eq!(client.reply().code, 221, "QUIT after pipelined DATA");
    for user in ["p1", "p2"] {
        let mail = server.wait_for_mail(user, 1);
        assert!(mail[0].contains(&subject));
    }
    assert!(!server.data_dir().join("mail").join("other.test").exists(), "relay copy stored");
}

#[test]
fn commands_out_of_sequence_are_refused_503() {
    let server = Server::start();
    let mut client = server.connect();
    client.greet();
    let rcpt = client.cmd(&format!("RCPT TO:<u@{DOMAIN}>"));
    assert_eq!(rcpt.code, 503, "RCPT before MAIL: `{rcpt}`");
    let data = client.cmd("DATA");
    assert_eq!(data.code, 503, "DATA before MAIL: `{data}`");
    client.expect("MAIL FROM:<sender@it.test>", 250);
    let again = client.cmd("MAIL FROM:<sender@it.test>");
    assert_eq!(again.code, 503, "nested MAIL: `{again}`");
    let data = client.cmd("DATA");
    assert!(matches!(data.code, 503 | 554), "DATA without recipients: `{data}`");
    client.expect("RSET", 250);
    client.expect("MAIL FROM:<sender@it.test>", 250);
    client.expect("QUIT", 221);
}

#[test]
fn a_message_that_passed_too_many_servers_is_refused_as_a_loop() {
    let server = Server::start();
    let mut client = server.connect();
    client.greet();
    client.expect("EHLO client.test", 250);
    let hops: String =
        (0..51).map(|n| format!("Received: from hop{n}.test by hop{}.test\r\n", n + 1)).collect();
    let reply = client.send_message(
        "a@client.test",
        &["user@example.test"],
        &format!("{hops}Subject: loop\r\n\r\nx\r\n"),
    );
    assert_eq!(
        reply.to_string(),
        "554 5.4.6 Routing loop detected: the message has passed 51 mail servers (Received: headers); it is refused to end the loop"
    );
    let fifty: String =
        (0..50).map(|n| format!("Received: from hop{n}.test by hop{}.test\r\n", n + 1)).collect();
    let reply = client.send_message(
        "a@client.test",
        &["user@example.test"],
        &format!("{fifty}Subject: ok\r\n\r\nx\r\n"),
    );
    assert_eq!(reply.code, 250, "{reply}");
}
