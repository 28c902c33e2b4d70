//! A damaged tenant directory (`sluice.db`): emptied or replaced by an older copy, the
//! server refuses to start (and the CLI to work) until it is restored from `sluice backup`
//! or accepted; unreadable while running, the server keeps its last good snapshot and
//! answers tenants' mail with `451 4.3.0`; unreadable at start, it still serves the static
//! accepted domains. Tenants' mail is never refused for good because of the damage.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{DOMAIN, Reply, Server, add_acme_test, directory_store, message};

const STOP: Duration = Duration::from_secs(30);

/// A server with tenant `acme` (`user@acme.test`), its directory's watermark written.
fn server_with_acme() -> Server {
    let server = Server::start();
    server.cli_ok(&["tenant", "add", "acme", "--name", "Acme"]);
    add_acme_test(&mut directory_store(&server));
    wait_watermark(&server, "tenants = 1");
    server
}

/// Waits until the server's watermark file says `line` (the follower wrote it).
fn wait_watermark(server: &Server, line: &str) {
    let path = server.data_dir().join("directory-watermark");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = fs::read_to_string(&path).unwrap_or_default();
        if text.lines().any(|l| l == line) {
            return;
        }
        assert!(Instant::now() < deadline, "{} never said `{line}`:\n{text}", path.display());
        thread::sleep(Duration::from_millis(100));
    }
}

/// Replaces `sluice.db` with `contents`, and removes the old database's WAL files (which
/// SQLite would otherwise apply to the new file).
fn replace_database(server: &Server, contents: &[u8]) {
    let db = server.data_dir().join("sluice.db");
    fs::write(&db, contents).expect("write sluice.db");
    for wal in ["sluice.db-wal", "sluice.db-shm"] {
        let _ = fs::remove_file(server.data_dir().join(wal));
    }
}

/// The reply to `RCPT TO:<rcpt>` in a fresh transaction.
fn rcpt_reply(server: &Server, rcpt: &str) -> Reply {
    let mut client = server.connect();
    client.greet();
    client.expect("MAIL FROM:<sender@it.test>", 250);
    client.cmd(&format!("RCPT TO:<{rcpt}>"))
}

fn assert_deferred(reply: &Reply, what: &str) {
    assert_eq!(reply.code, 451, "{what}: `{reply}`");
    assert!(reply.text().starts_with("4.3.0") && reply.text().contains("directory"), "{what}: `{reply}`");
}

#[test]
fn an_emptied_directory_stops_the_start_until_it_is_restored_from_a_backup() {
    let mut server = server_with_acme();
    let backup = server.data_dir().join("..").join("directory-backup.db");
    let backup = backup.to_string_lossy().into_owned();
    let done = server.cli_ok(&["backup", &backup]);
    assert!(done.contains("backed up") && done.contains("tenants 1"), "{done}");
    let (code, text) = server.cli(&["restore", &backup]);
    assert!(code != Some(0) && text.contains("stop it first"), "restore while running:\n{text}");
    assert!(server.terminate(STOP).is_some_and(|s| s.success()), "clean stop");

    replace_database(&server, b"");
    let (code, text) = server.serve_refused();
    assert_eq!(code, Some(1), "serve on an emptied directory:\n{text}");
    for needle in ["holds no tenant", "sluice restore", "--accept-directory"] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
    let (code, text) = server.cli(&["tenant", "list"]);
    assert!(code != Some(0) && text.contains("sluice restore"), "the CLI on an emptied directory:\n{text}");

    let restored = server.cli_ok(&["restore", &backup]);
    assert!(restored.contains("restored") && restored.contains("tenants 1"), "{restored}");
    server.spawn();
    let mut client = server.connect();
    client.greet();
    let reply = client.send_message(
        "s@it.test",
        &["user@acme.test"],
        &message("s@it.test", "user@acme.test", "back", "x"),
    );
    assert_eq!(reply.code, 250, "tenant mail after the restore: `{reply}`");
}

#[test]
fn an_older_directory_stops_the_start_unless_it_is_accepted() {
    let mut server = server_with_acme();
    server.cli_ok(&["tenant", "add", "globex", "--name", "Globex"]);
    wait_watermark(&server, "tenants = 2");
    assert!(server.terminate(STOP).is_some_and(|s| s.success()), "clean stop");
    // An older copy: a database with one tenant at a lower generation.
    let older = server.data_dir().join("..").join("older.db");
    {
        let mut store = store::SqliteStore::open(&older).expect("open");
        let tenant = directory::NewTenant::new("initech", "Initech", "en").expect("tenant");
        let service = directory::DomainName::parse("d", "sluice.test").expect("domain");
        directory::DirectoryStore::add_tenant(&mut store, &tenant, &service).expect("add");
    }
    replace_database(&server, &fs::read(&older).expect("read older copy"));
    let (code, text) = server.serve_refused();
    assert_eq!(code, Some(1), "serve on an older directory:\n{text}");
    assert!(text.contains("is older than generation"), "{text}");
    server.spawn_with(&["--accept-directory"]);
    wait_watermark(&server, "tenants = 1");
    let text = fs::read_to_string(server.data_dir().join("directory-watermark")).expect("watermark");
    assert!(text.contains("generation = 1\n"), "the accepted directory is the new watermark:\n{text}");
}

#[test]
fn a_directory_damaged_while_running_defers_tenants_mail_and_keeps_the_static_domains() {
    let server = server_with_acme();
    let deadline = Instant::now() + Duration::from_secs(20);
    while rcpt_reply(&server, "user@acme.test").code != 250 {
        assert!(Instant::now() < deadline, "acme.test never accepted");
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(rcpt_reply(&server, "nobody@acme.test").code, 550, "an unknown user of acme, before");

    replace_database(&server, b"");
    let deadline = Instant::now() + Duration::from_secs(20);
    let deferred = loop {
        let reply = rcpt_reply(&server, "nobody@acme.test");
        if reply.code != 550 {
            break reply;
        }
        assert!(Instant::now() < deadline, "the emptied directory was not noticed in 20 s");
        thread::sleep(Duration::from_millis(200));
    };
    assert_deferred(&deferred, "an unknown user of acme, directory emptied");
    assert_deferred(&rcpt_reply(&server, "someone@elsewhere.test"), "a relay attempt, directory emptied");

    let mut client = server.connect();
    client.greet();
    let body = message("s@it.test", "user@acme.test", "kept", "last good snapshot");
    assert_eq!(client.send_message("s@it.test", &["user@acme.test"], &body).code, 250);
    let body = message("s@it.test", &format!("bob@{DOMAIN}"), "static", "static domain");
    assert_eq!(client.send_message("s@it.test", &[&format!("bob@{DOMAIN}")], &body).code, 250);
    server.wait_for_mail("bob", 1);
    wait_for_file_in(&server.data_dir().join("mail/acme.test/user/new"));
    let refused = rcpt_reply(&server, &format!("a%b@{DOMAIN}"));
    assert_eq!(refused.code, 550, "a static domain's refusal stays permanent: `{refused}`");
    assert!(server.log().contains("the tenant directory is unavailable"), "said loudly:\n{}", server.log());
}

#[test]
fn an_unreadable_directory_at_start_still_serves_the_static_domains() {
    let mut server = server_with_acme();
    assert!(server.terminate(STOP).is_some_and(|s| s.success()), "clean stop");
    replace_database(&server, &vec![0x5a; 64 * 1024]);
    server.spawn();
    let mut client = server.connect();
    client.greet();
    let body = message("s@it.test", &format!("bob@{DOMAIN}"), "static", "static domain");
    assert_eq!(client.send_message("s@it.test", &[&format!("bob@{DOMAIN}")], &body).code, 250);
    server.wait_for_mail("bob", 1);
    assert_deferred(&rcpt_reply(&server, "user@acme.test"), "a tenant's user, directory unreadable");
    let log = server.log();
    assert!(log.contains("the tenant directory is unavailable") && log.contains("not a database"), "{log}");
}

fn wait_for_file_in(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while crate::harness::maildir_files(dir).is_empty() {
        assert!(Instant::now() < deadline, "nothing delivered into {}", dir.display());
        thread::sleep(Duration::from_millis(100));
    }
}
