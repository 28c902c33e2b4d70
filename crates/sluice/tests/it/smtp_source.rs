//! Postfix's smtp-source (an independently written load client).

use crate::harness::{DOMAIN, Server, require_tool, run_tool};

#[test]
fn smtp_source_200_messages_over_10_sessions_all_reach_maildir() {
    let smtp_source = require_tool("smtp-source");
    let server = Server::start();
    let target = format!("127.0.0.1:{}", server.port);
    let rcpt = format!("bulk@{DOMAIN}");
    let run = run_tool(
        &smtp_source,
        &["-s", "10", "-m", "200", "-l", "1024", "-f", "sender@it.test", "-t", &rcpt, &target],
    );
    assert_eq!(run.code, Some(0), "smtp-source failed:\n{run}");
    assert!(
        !run.output().contains("smtp-source: fatal") && !run.output().contains("error"),
        "smtp-source reported an error:\n{run}"
    );
    let mail = server.wait_for_mail("bulk", 200);
    assert_eq!(mail.len(), 200, "exactly 200 messages expected");
    assert_eq!(server.settled_mail_count("bulk"), 200, "more than 200 delivered");
}
