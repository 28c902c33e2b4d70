//! One plain transaction over a raw TcpStream: reply texts, the Maildir
//! layout and the per-transaction log line.

use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{DELIVERY_TIMEOUT, DOMAIN, HOSTNAME, Server, maildir_files, message, queued_id, token};

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

#[test]
fn maildir_path_lowercases_the_domain_and_keeps_the_local_part() {
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
        if !maildir_files(&server.maildir_new("Mixed.Case")).is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let found: Vec<String> = std::fs::read_dir(&domain_dir)
                .map(|d| {
                    d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
                })
                .unwrap_or_default();
            panic!(
                "no message in {}/Mixed.Case/new (local part as given); mailboxes under {}: {found:?}",
                domain_dir.display(),
                domain_dir.display()
            );
        }
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
    thread::sleep(Duration::from_millis(500));
    server.kill9();
    server.spawn();
    assert_eq!(server.settled_mail_count("once"), 1, "delivered again after kill -9 and restart");
}
