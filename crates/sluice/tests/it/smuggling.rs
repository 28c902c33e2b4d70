//! SMTP smuggling: end-of-data look-alikes made with bare CR or bare LF must
//! never end the message, so the commands hidden after them can never create
//! a second message. Sluice refuses the whole message instead.

use std::time::Duration;

use crate::harness::{DOMAIN, Next, Server, token};

fn smuggle(separator: &str, label: &str) {
    let server = Server::start();
    let outer = format!("outer-{label}");
    let smuggled = format!("smuggled-{label}");
    let mut client = server.connect();
    client.greet();
    client.expect("MAIL FROM:<sender@it.test>", 250);
    client.expect(&format!("RCPT TO:<{outer}@{DOMAIN}>"), 250);
    client.expect("DATA", 354);
    let content = format!(
        "Subject: {t1}\r\n\r\nouter body{separator}MAIL FROM:<evil@it.test>\r\n\
         RCPT TO:<{smuggled}@{DOMAIN}>\r\nDATA\r\nSubject: {t2}\r\n\r\nsmuggled body\r\n.\r\n",
        t1 = token("outer"),
        t2 = token("smuggled"),
    );
    client.send_raw(content.as_bytes());

    // Everything the server says until it falls silent or hangs up.
    let mut replies = Vec::new();
    client.set_read_timeout(Duration::from_secs(3));
    while let Next::Reply(reply) = client.read() {
        replies.push(reply);
        if replies.len() > 10 {
            break;
        }
    }
    let shown: Vec<String> = replies.iter().map(ToString::to_string).collect();
    assert!(
        replies.len() <= 1,
        "separator {separator:?}: the server answered the hidden commands, replies: {shown:#?}"
    );
    let refusal = replies
        .first()
        .unwrap_or_else(|| panic!("separator {separator:?}: no reply at all to the end of DATA"));
    assert!(
        (500..600).contains(&refusal.code),
        "separator {separator:?}: a message with bare CR/LF must be refused (5xx), got `{refusal}`"
    );
    assert_eq!(
        server.settled_mail_count(&smuggled),
        0,
        "separator {separator:?}: a SMUGGLED second message was delivered"
    );
    assert_eq!(
        server.settled_mail_count(&outer),
        0,
        "separator {separator:?}: the refused outer message was delivered anyway"
    );
}

#[test]
fn smuggling_lf_dot_lf_creates_no_second_message() {
    smuggle("\n.\n", "lf-lf");
}

#[test]
fn smuggling_cr_dot_cr_creates_no_second_message() {
    smuggle("\r.\r", "cr-cr");
}

#[test]
fn smuggling_crlf_dot_cr_creates_no_second_message() {
    smuggle("\r\n.\r", "crlf-cr");
}

#[test]
fn smuggling_lf_dot_crlf_creates_no_second_message() {
    smuggle("\n.\r\n", "lf-crlf");
}

#[test]
fn dot_stuffed_lines_are_unstuffed_and_do_not_end_data() {
    let server = Server::start();
    let mut client = server.connect();
    client.greet();
    let subject = token("dots");
    let body = format!("Subject: {subject}\r\n\r\nfirst\r\n..\r\n..leading dot\r\nlast line");
    let reply = client.send_message("sender@it.test", &[&format!("dots@{DOMAIN}")], &body);
    assert_eq!(reply.code, 250, "end of DATA: `{reply}`");
    client.expect("QUIT", 221);
    let mail = server.wait_for_mail("dots", 1);
    // Maildir files may store CRLF or LF line endings; compare on LF.
    let m = mail[0].replace("\r\n", "\n");
    assert!(m.contains("first\n.\n.leading dot\nlast line"), "dot-unstuffing wrong:\n{m:?}");
}
