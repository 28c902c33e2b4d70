//! One plain transaction over a raw TcpStream: reply texts, the Maildir
//! layout and the per-transaction log line.

use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{DOMAIN, HOSTNAME, Server, message, queued_id, token};

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
    let rcpt = format!("Raw.User@{DOMAIN}");
    let body = message("sender@it.test", &rcpt, &subject, "raw body\r\n");
    let reply = client.send_message("sender@it.test", &[&rcpt], &body);
    let id = queued_id(&reply)
        .unwrap_or_else(|| panic!("expected `250 2.0.0 Ok: queued as <16 hex>`, got `{reply}`"));
    let quit = client.cmd("QUIT");
    assert_eq!(quit.code, 221, "QUIT: `{quit}`");

    // Local part kept as given, domain lowercased.
    let mail = server.wait_for_mail("Raw.User", 1);
    assert!(mail[0].contains(&subject), "delivered:\n{}", mail[0]);

    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let log = server.log();
        if let Some(line) = log.lines().find(|l| l.contains(&format!("msg_id={id}"))) {
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
fn spool_is_empty_after_delivery() {
    let server = Server::start();
    let mut client = server.connect();
    client.greet();
    let subject = token("spool");
    let rcpt = format!("spool@{DOMAIN}");
    let body = message("sender@it.test", &rcpt, &subject, "spool body\r\n");
    let reply = client.send_message("sender@it.test", &[&rcpt], &body);
    assert_eq!(reply.code, 250, "end of DATA: `{reply}`");
    server.wait_for_mail("spool", 1);
    let spool = server.data_dir().join("spool");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Whatever the record format, the message's content must be gone.
        let holding: Vec<_> = files_under(&spool)
            .into_iter()
            .filter(|f| std::fs::read(f).is_ok_and(|b| contains(&b, subject.as_bytes())))
            .collect();
        if holding.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "spool still holds the delivered message 10 s after delivery: {holding:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
