//! SMTP smuggling: end-of-data look-alikes made with bare CR, bare LF or NUL must never end
//! the message, so the commands hidden after them can never create a second message. With
//! `[smtp] bare_newline = "reject"` (the default) Sluice refuses the whole message; with
//! `"normalize"` it accepts one message whose content holds the hidden commands as text. A
//! NUL is refused in both modes. An HTTP request carrying SMTP commands is refused and the
//! connection closed before its body is read.
//!
//! Every payload is followed by `QUIT` in the same write: the replies up to the `221` are all
//! the server said, so a hidden transaction would show as extra replies without any waiting;
//! mailboxes are counted once the server reports its queue idle.

use crate::harness::{Client, DOMAIN, Next, Server, Settings, maildir_files, token};

/// The classic look-alikes (SEC Consult's SMTP smuggling research), labelled for addresses.
const LOOK_ALIKES: [(&str, &str); 7] = [
    ("\n.\n", "lf-lf"),
    ("\r.\r", "cr-cr"),
    ("\r\n.\r", "crlf-cr"),
    ("\n.\r\n", "lf-crlf"),
    ("\r.\r\n", "cr-crlf"),
    ("\n.\r", "lf-cr"),
    ("\r\n.\n", "crlf-lf"),
];
const NUL_LOOK_ALIKE: (&str, &str) = ("\r\n\0.\r\n", "crlf-nul");

/// Sends one outer message with `separator` and a hidden transaction inside, then QUIT;
/// returns every reply from the end of DATA to the close.
fn smuggle(server: &Server, separator: &str, label: &str) -> Vec<String> {
    let mut client = server.connect();
    client.greet();
    client.expect("MAIL FROM:<sender@it.test>", 250);
    client.expect(&format!("RCPT TO:<outer-{label}@{DOMAIN}>"), 250);
    client.expect("DATA", 354);
    let content = format!(
        "Subject: {t1}\r\n\r\nouter body{separator}MAIL FROM:<evil@it.test>\r\n\
         RCPT TO:<smuggled-{label}@{DOMAIN}>\r\nDATA\r\nSubject: {t2}\r\n\r\nsmuggled body\r\n.\r\nQUIT\r\n",
        t1 = token("outer"),
        t2 = token("smuggled"),
    );
    client.send_raw(content.as_bytes());
    replies_until_close(&mut client, separator)
}

/// Every reply until the server closes; `what` names the payload in failures.
fn replies_until_close(client: &mut Client, what: &str) -> Vec<String> {
    let mut replies = Vec::new();
    loop {
        match client.read() {
            Next::Reply(reply) => replies.push(reply.to_string()),
            Next::Closed => return replies,
            Next::Silent => {
                panic!("{what:?}: the server did not close; replies so far {replies:#?}")
            }
        }
        assert!(replies.len() <= 10, "{what:?}: the server answered the hidden commands: {replies:#?}");
    }
}

fn mail_count(server: &Server, local_part: &str) -> usize {
    maildir_files(&server.maildir_new(local_part)).len()
}

#[test]
fn smuggling_is_refused_when_rejecting_bare_newlines() {
    let server = Server::start();
    for (separator, label) in LOOK_ALIKES.into_iter().chain([NUL_LOOK_ALIKE]) {
        let replies = smuggle(&server, separator, label);
        assert_eq!(
            replies.len(),
            2,
            "separator {separator:?}: one reply to the data, one to QUIT: {replies:#?}"
        );
        assert!(
            replies[0].starts_with("554 5.6.0"),
            "separator {separator:?}: the message must be refused, got {replies:#?}"
        );
        assert!(replies[1].starts_with("221"), "separator {separator:?}: {replies:#?}");
    }
    // Everything the server accepted is delivered or waiting: nothing can arrive later.
    server.wait_idle();
    for (separator, label) in LOOK_ALIKES.into_iter().chain([NUL_LOOK_ALIKE]) {
        assert_eq!(mail_count(&server, &format!("smuggled-{label}")), 0, "{separator:?}: a SMUGGLED message");
        assert_eq!(mail_count(&server, &format!("outer-{label}")), 0, "{separator:?}: the refused message");
    }
}

#[test]
fn smuggling_stays_inside_one_message_when_normalizing_bare_newlines() {
    let server = Server::start_with(Settings::default().smtp("bare_newline", "\"normalize\""));
    for (separator, label) in LOOK_ALIKES {
        let replies = smuggle(&server, separator, label);
        assert_eq!(
            replies.len(),
            2,
            "separator {separator:?}: one reply to the data, one to QUIT: {replies:#?}"
        );
        assert!(replies[0].starts_with("250 2.0.0"), "separator {separator:?}: {replies:#?}");
        let outer = server.wait_for_mail(&format!("outer-{label}"), 1);
        // Maildir files may store CRLF or LF line endings; compare on LF.
        let text = outer[0].replace("\r\n", "\n");
        assert!(
            text.contains("\nouter body\n.\nMAIL FROM:<evil@it.test>\nRCPT TO:<smuggled-"),
            "separator {separator:?}: the hidden commands must stay text of the one message:\n{text}"
        );
        assert!(!text.contains('\r'), "separator {separator:?}: a bare CR was stored:\n{text:?}");
    }
    let (separator, label) = NUL_LOOK_ALIKE;
    let replies = smuggle(&server, separator, label);
    assert!(replies[0].starts_with("554 5.6.0"), "NUL must be refused when normalizing too: {replies:#?}");
    // Everything the server accepted is delivered or waiting: nothing can arrive later.
    server.wait_idle();
    for (separator, label) in LOOK_ALIKES.into_iter().chain([NUL_LOOK_ALIKE]) {
        assert_eq!(mail_count(&server, &format!("smuggled-{label}")), 0, "{separator:?}: a SMUGGLED message");
    }
    assert_eq!(mail_count(&server, &format!("outer-{label}")), 0, "the refused NUL message was delivered");
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

/// `bare_newline` is reloadable: after SIGHUP, new sessions take a command ended by a bare
/// LF (as in normalize mode) that the running sessions refused.
#[test]
fn a_reload_switches_bare_newline_handling_for_new_sessions() {
    let server = Server::start();
    let bare_lf_noop = |server: &Server| {
        let mut client = server.connect();
        client.greet();
        client.send_raw(b"NOOP\n");
        client.reply()
    };
    let refused = bare_lf_noop(&server);
    assert!(refused.to_string().starts_with("500 5.5.2"), "reject mode: {refused}");
    let config = std::fs::read_to_string(server.config_path()).expect("config");
    let normalize = config.replacen("[smtp]\n", "[smtp]\nbare_newline = \"normalize\"\n", 1);
    assert_ne!(config, normalize, "the harness config has an [smtp] section");
    server.rewrite_config_unseen(&normalize);
    server.sighup_and_wait_reload();
    let accepted = bare_lf_noop(&server);
    assert_eq!(accepted.code, 250, "bare_newline reload not applied: {accepted}\n{}", server.log());
}

/// Cross-protocol request forgery: an HTTP POST whose body is an SMTP transaction gets one
/// `554 5.7.0` and the connection closes; nothing of the body is run or delivered.
#[test]
fn an_http_post_carrying_smtp_commands_is_refused_and_closed() {
    let server = Server::start();
    let mut client = server.connect();
    assert_eq!(client.reply().code, 220, "banner");
    let body = format!(
        "EHLO evil.test\r\nMAIL FROM:<evil@it.test>\r\nRCPT TO:<forged@{DOMAIN}>\r\nDATA\r\n\
         Subject: forged\r\n\r\nforged\r\n.\r\nQUIT\r\n"
    );
    let request = format!(
        "POST /submit HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        server.port,
        body.len()
    );
    client.send_raw(request.as_bytes());
    let replies = replies_until_close(&mut client, "POST");
    assert_eq!(replies.len(), 1, "one refusal, then the close: {replies:#?}");
    assert!(replies[0].starts_with("554 5.7.0"), "{replies:#?}");
    // Everything the server accepted is delivered or waiting: nothing can arrive later.
    server.wait_idle();
    assert_eq!(mail_count(&server, "forged"), 0, "the forged message was delivered");
}
