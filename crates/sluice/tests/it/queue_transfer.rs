//! Moving a lost node's queue (`sluice queue export` on the stopped node, `sluice queue
//! import` on a running one): every message not yet delivered arrives at the other node with
//! only its pending recipients, and is delivered there; an export of a running node's spool
//! is refused, naming what to do.

use std::time::{Duration, Instant};

use crate::harness::{DELIVERY_TIMEOUT, DOMAIN, Server, maildir_files, message, read_lossy};

/// Messages queued on A that it cannot deliver to `stuck@` (a file where the mailbox folder
/// belongs), each also for `fine@`, which A delivers.
const MESSAGES: usize = 5;

fn subjects(server: &Server, local_part: &str) -> Vec<String> {
    let mut found: Vec<String> = maildir_files(&server.maildir_new(local_part))
        .iter()
        .flat_map(|f| {
            let text = read_lossy(f);
            text.lines().filter_map(|l| l.strip_prefix("Subject: ").map(str::to_string)).collect::<Vec<_>>()
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_stopped_nodes_queue_is_delivered_by_another_node() {
    let mut a = Server::start();
    let blocker = a.data_dir().join("mail").join(DOMAIN).join("stuck");
    std::fs::create_dir_all(blocker.parent().expect("parent")).expect("mail folder");
    std::fs::write(&blocker, "not a folder").expect("blocker");
    let to = [format!("fine@{DOMAIN}"), format!("stuck@{DOMAIN}")];
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let mut client = a.connect();
    client.greet();
    let mut sent = Vec::new();
    for i in 0..MESSAGES {
        let subject = format!("moved-{i}");
        let reply =
            client.send_message("s@queue.test", &to, &message("s@queue.test", to[0], &subject, "body"));
        assert_eq!(reply.code, 250, "{reply}");
        sent.push(subject);
    }
    a.wait_for_mail("fine", MESSAGES);
    let dir = tempfile::tempdir().expect("temp dir");
    let refused = dir.path().join("running.sluiceq");
    let (code, out) = a.cli(&["queue", "export", "--out", refused.to_str().expect("utf-8")]);
    assert!(code != Some(0) && out.contains("stop that node first"), "{out}");
    assert!(!refused.exists() && !refused.with_extension("partial").exists());

    assert!(a.terminate(Duration::from_secs(20)).is_some_and(|s| s.success()));
    let file = dir.path().join("a.sluiceq");
    let file_arg = file.to_str().expect("utf-8");
    let out = a.cli_ok(&["queue", "export", "--out", file_arg]);
    assert!(out.contains(&format!("exported {MESSAGES} messages ({MESSAGES} recipients)")), "{out}");
    let (code, again) = a.cli(&["queue", "export", "--out", file_arg]);
    assert!(code != Some(0) && again.contains("already exists"), "{again}");

    let b = Server::start();
    let out = b.cli_ok(&["queue", "import", file_arg]);
    assert!(out.contains(&format!("imported {MESSAGES} messages ({MESSAGES} recipients)")), "{out}");
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    while subjects(&b, "stuck") != sent {
        assert!(
            Instant::now() < deadline,
            "B delivered {:?} of {sent:?}:\n{}",
            subjects(&b, "stuck"),
            b.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Only the pending recipients moved: what A delivered is not delivered again.
    b.wait_idle();
    assert!(subjects(&b, "fine").is_empty(), "{:?}", subjects(&b, "fine"));
    assert_eq!(b.log_count("message imported from another node's queue"), MESSAGES);
}

#[test]
fn a_damaged_export_is_refused_naming_the_file() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("mbox.txt");
    std::fs::write(&file, "From someone\n").expect("write");
    let (code, out) = server.cli(&["queue", "import", file.to_str().expect("utf-8")]);
    assert_ne!(code, Some(0));
    assert!(out.contains("mbox.txt") && out.contains("not a Sluice queue export"), "{out}");
}
