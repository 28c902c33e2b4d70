//! The command line: `sluice check-config`, SIGTERM handling and output into a closed pipe.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Client, DOMAIN, HOSTNAME, Next, Server, message, queued_id, token};

fn check_config(toml: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    check_config_in(dir.path(), toml)
}

/// `sluice check-config DIR/sluice.toml`: relative paths in `toml` are under `dir`.
fn check_config_in(dir: &Path, toml: &str) -> (Option<i32>, String) {
    let path = dir.join("sluice.toml");
    fs::write(&path, toml).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run sluice check-config");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

#[test]
fn check_config_accepts_a_full_valid_config() {
    let (code, text) = check_config(
        r#"
data_dir = "./sluice-data"
hostname = "mx.example.test"
[smtp]
listen = ["127.0.0.1:2525", "[::1]:2525"]
greeting_delay_ms = 0
command_line_bytes_max = 2048
message_bytes_max = 52428800
recipients_per_message_max = 1000
errors_per_session_max = 10
connections_max = 1000
connections_per_ip_max = 50
command_timeout_s = 300
data_idle_timeout_s = 180
data_total_timeout_s = 600
[delivery]
accepted_domains = ["example.test"]
"#,
    );
    assert_eq!(code, Some(0), "valid config refused:\n{text}");
}

#[test]
fn check_config_accepts_an_empty_config() {
    let (code, text) = check_config("");
    assert_eq!(code, Some(0), "empty config (all keys optional) refused:\n{text}");
}

#[test]
fn check_config_names_the_bad_field() {
    for (toml, field) in [
        ("[smtp]\nlisten = [\"not an address\"]\n", "listen"),
        ("[smtp]\nmessage_bytes_max = \"big\"\n", "message_bytes_max"),
        ("[smtp]\nrecipients_per_message_max = -1\n", "recipients_per_message_max"),
        ("[delivery]\ntls_ca_file = \"/nonexistent/ca.pem\"\n", "delivery.tls_ca_file"),
    ] {
        let (code, text) = check_config(toml);
        assert!(code.is_some_and(|c| c != 0), "bad config accepted (exit {code:?}):\n{toml}\n{text}");
        assert!(text.contains(field), "error does not name `{field}`:\n{toml}\n--- output ---\n{text}");
    }
}

/// Issue seen: `check-config` said ok for a `data_dir` that is a file, and `serve` then failed
/// with `spool I/O error: Not a directory (os error 20)`, naming no path. Every path the
/// config names is checked, and the error names the field, the path and what to do.
#[test]
fn check_config_checks_every_path_and_names_field_path_and_remedy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    fs::write(d.join("a-file"), "not a directory").expect("write a file");
    fs::create_dir_all(d.join("state")).expect("state dir");
    fs::write(d.join("state/spool"), "not the spool").expect("write a file");
    let one = rcgen::generate_simple_self_signed(vec!["one.test".to_string()]).expect("cert");
    let two = rcgen::generate_simple_self_signed(vec!["two.test".to_string()]).expect("cert");
    fs::write(d.join("cert.pem"), one.cert.pem()).expect("write cert");
    fs::write(d.join("key.pem"), one.signing_key.serialize_pem()).expect("write key");
    fs::write(d.join("other-key.pem"), two.signing_key.serialize_pem()).expect("write key");
    let long = "x".repeat(120);
    for (toml, field, words) in [
        ("data_dir = \"a-file\"", "data_dir:", &["a-file", "not a directory"][..]),
        ("data_dir = \"a-file/data\"", "data_dir:", &["a-file/data", "cannot be created", "choose another"]),
        ("data_dir = \"state\"", "data_dir:", &["state/spool", "is a file", "move it away"]),
        (&format!("data_dir = \"{long}\""), "data_dir:", &["control.sock", "shorter data_dir"]),
        ("[delivery]\nmaildir_root = \"a-file\"", "delivery.maildir_root:", &["a-file", "not a directory"]),
        (
            "[tls]\ncert_file = \"missing.pem\"\nkey_file = \"key.pem\"",
            "tls.cert_file:",
            &["missing.pem", "No such file", "PEM certificate"],
        ),
        (
            "[tls]\ncert_file = \"cert.pem\"\nkey_file = \"a-file\"",
            "tls.key_file:",
            &["a-file", "no private key", "PEM private key"],
        ),
        (
            "[tls]\ncert_file = \"cert.pem\"\nkey_file = \"other-key.pem\"",
            "tls.key_file:",
            &["other-key.pem", "does not belong to the certificate"],
        ),
        (
            "[tls]\nclient_ca_file = \"a-file\"",
            "tls.client_ca_file:",
            &["a-file", "no certificate", "PEM bundle"],
        ),
    ] {
        let (code, text) = check_config_in(d, toml);
        assert_eq!(code, Some(1), "bad paths accepted:\n{toml}\n{text}");
        assert!(text.starts_with(&format!("sluice: {field}")), "names `{field}`:\n{toml}\n{text}");
        for word in words {
            assert!(text.contains(word), "says `{word}`:\n{toml}\n{text}");
        }
        assert!(!text.contains("Os {") && !text.contains("Error("), "debug text:\n{text}");
    }
    let (code, text) = check_config_in(
        d,
        "data_dir = \"new/data\"\n[tls]\ncert_file = \"cert.pem\"\nkey_file = \"key.pem\"",
    );
    assert_eq!(code, Some(0), "a data_dir that can be created and a matching key:\n{text}");
    assert!(!d.join("new").exists(), "check-config creates nothing");
}

/// `serve` checks the same before it starts, so it never fails half-way with a bare OS error.
#[test]
fn serve_refuses_a_data_dir_that_is_a_file_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("a-file"), "not a directory").expect("write a file");
    fs::write(dir.path().join("sluice.toml"), "data_dir = \"a-file\"\n[smtp]\nlisten = [\"127.0.0.1:0\"]\n")
        .expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "-c"])
        .arg(dir.path().join("sluice.toml"))
        .output()
        .expect("run sluice serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("sluice: data_dir: ") && stderr.contains("a-file is a file"), "{stderr}");
}

#[test]
fn sigterm_after_a_message_exits_zero_and_keeps_the_message() {
    let mut server = Server::start();
    let mut client = server.connect();
    client.greet();
    let subject = token("term");
    let rcpt = format!("term@{DOMAIN}");
    let body = message("sender@it.test", &rcpt, &subject, "before SIGTERM\r\n");
    let reply = client.send_message("sender@it.test", &[&rcpt], &body);
    assert_eq!(reply.code, 250, "end of DATA: `{reply}`");
    client.expect("QUIT", 221);
    drop(client);
    let status =
        server.terminate(Duration::from_secs(20)).expect("sluice did not exit within 20 s of SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    // Delivered before exit, or after the next start: never lost.
    server.spawn();
    let mail = server.wait_for_mail("term", 1);
    assert!(mail[0].contains(&subject));
    assert_eq!(server.settled_mail_count("term"), 1, "delivered twice");
}

/// SIGTERM with one idle session and one in the middle of DATA: the idle one is told
/// `421 4.3.2` and closed at once; the transfer in progress finishes with its `250`, then
/// that session gets the same `421 4.3.2`; the process exits 0 and the message is delivered
/// once after the next start.
#[test]
fn sigterm_tells_idle_sessions_421_4_3_2_and_lets_a_transfer_finish() {
    let mut server = Server::start();
    let mut idle = server.connect();
    idle.greet();
    let mut busy = server.connect();
    busy.greet();
    let subject = token("drain");
    let rcpt = format!("drain@{DOMAIN}");
    busy.expect("MAIL FROM:<sender@it.test>", 250);
    busy.expect(&format!("RCPT TO:<{rcpt}>"), 250);
    busy.expect("DATA", 354);
    busy.send_raw(format!("Subject: {subject}\r\n\r\nfirst half\r\n").as_bytes());

    let status = Command::new("kill").arg("-TERM").arg(server.pid().to_string()).status().expect("kill");
    assert!(status.success());
    server.wait_log_count("stopping: draining sessions", 1);
    let shutting_down = format!("421 4.3.2 {HOSTNAME} Service shutting down, try again later");
    let told = idle.reply();
    assert_eq!(told.to_string(), shutting_down, "the idle session");
    assert!(matches!(idle.read(), Next::Closed), "the idle session is closed after its 421");

    busy.send_raw(b"second half\r\n.\r\n");
    let end = busy.reply();
    assert!(queued_id(&end).is_some(), "the transfer in progress finishes: `{end}`");
    let told = busy.reply();
    assert_eq!(told.to_string(), shutting_down, "the session after its transfer");
    assert!(matches!(busy.read(), Next::Closed), "closed after its 421");

    let status =
        server.wait_exit(Duration::from_secs(30)).expect("sluice did not exit within 30 s of SIGTERM");
    assert!(status.success(), "exit status after SIGTERM with sessions open: {status}");
    server.spawn();
    let mail = server.wait_for_mail("drain", 1);
    assert!(mail[0].contains(&subject) && mail[0].contains("second half"), "{}", mail[0]);
    assert_eq!(server.settled_mail_count("drain"), 1, "delivered exactly once");
}

/// A session on the running server: greeted, MAIL accepted.
fn in_transaction(server: &Server) -> Client {
    let mut client = server.connect();
    client.greet();
    client.expect("MAIL FROM:<a@it.test>", 250);
    client
}

/// SIGHUP alone (the file's modification time is kept, so the watcher cannot see the change)
/// applies accepted domains, limits and timeouts to new sessions; a session already open
/// keeps the settings it started with.
#[test]
fn sighup_alone_reloads_domains_limits_and_timeouts_for_new_sessions() {
    let server = Server::start();
    let mut before = in_transaction(&server);
    let refused = before.cmd("RCPT TO:<x@added.test>");
    assert_eq!(refused.code, 550, "added.test is not accepted yet: `{refused}`");

    let original = fs::read_to_string(server.config_path()).expect("config");
    let changed = original
        .replace(&format!("\"{DOMAIN}\""), &format!("\"{DOMAIN}\", \"added.test\""))
        .replacen("[smtp]\n", "[smtp]\nrecipients_per_message_max = 2\ncommand_timeout_s = 1\n", 1);
    assert_ne!(changed, original, "the harness config lists the accepted domain");
    server.rewrite_config_unseen(&changed);
    server.sighup_and_wait_reload();

    let mut after = in_transaction(&server);
    after.expect("RCPT TO:<x@added.test>", 250);
    after.expect(&format!("RCPT TO:<y@{DOMAIN}>"), 250);
    let over = after.cmd(&format!("RCPT TO:<z@{DOMAIN}>"));
    assert!(over.to_string().starts_with("452 4.5.3"), "recipients_per_message_max = 2: `{over}`");
    // Idle now: command_timeout_s = 1 closes it (the default would wait five minutes).
    after.set_read_timeout(Duration::from_secs(30));
    let closing = after.reply();
    assert_eq!(closing.code, 421, "the new command timeout: `{closing}`");
    assert!(matches!(after.read(), Next::Closed), "closed after the timeout");

    // The session opened before the reload has been idle longer and is still served, with
    // its own accepted domains and recipient limit.
    let still = before.cmd("RCPT TO:<x@added.test>");
    assert_eq!(still.code, 550, "a running session keeps its settings: `{still}`");
    for n in 0..3 {
        before.expect(&format!("RCPT TO:<r{n}@{DOMAIN}>"), 250);
    }
}

/// Saving the config file, with no signal, applies it; a broken file is refused (logged) and
/// the running settings stay.
#[test]
fn a_saved_config_file_is_reloaded_without_a_signal() {
    let server = Server::start();
    let path = server.config_path();
    let original = fs::read_to_string(&path).expect("config");
    let changed = original.replace(&format!("\"{DOMAIN}\""), &format!("\"{DOMAIN}\", \"added.test\""));
    write_with_new_mtime(&path, &changed);
    server.wait_log_count("settings reloaded", 1);
    in_transaction(&server).expect("RCPT TO:<x@added.test>", 250);

    write_with_new_mtime(&path, "[smtp]\nlisten = 12\n");
    server.wait_log_count("config reload failed", 1);
    assert_eq!(server.log_count("settings reloaded"), 1, "a broken file must not be applied");
    in_transaction(&server).expect("RCPT TO:<x@added.test>", 250);
}

/// Writes `content` and makes sure the modification time differs from the previous one (on
/// a coarse clock two writes can share it).
fn write_with_new_mtime(path: &Path, content: &str) {
    let old = fs::metadata(path).and_then(|m| m.modified()).expect("mtime");
    fs::write(path, content).expect("write config");
    let new = fs::metadata(path).and_then(|m| m.modified()).expect("mtime");
    if new == old {
        let later = old + Duration::from_secs(1);
        fs::File::options().write(true).open(path).and_then(|f| f.set_modified(later)).expect("set mtime");
    }
}

/// `sluice tenant list | head -0`: the reader is gone before the first line is written. The
/// command ends quietly (status 0, or stopped by SIGPIPE as Unix tools are), never with a
/// panic and a backtrace.
#[test]
fn a_closed_stdout_pipe_ends_the_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("sluice.toml");
    fs::write(&config, "data_dir = \"data\"\n").expect("write config");
    let sluice = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command.args(args).arg("-c").arg(&config);
        command
    };
    let added = sluice(&["tenant", "add", "acme"]).output().expect("run sluice tenant add");
    assert!(added.status.success(), "tenant add: {}", String::from_utf8_lossy(&added.stderr));
    for args in [&["tenant", "list"][..], &["throttle", "list"], &["tenant", "show", "acme"]] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = sluice(args).stdout(writer).output().expect("run sluice");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let quiet = out.status.code() == Some(0) || out.status.signal() == Some(libc::SIGPIPE);
        assert!(quiet, "sluice {args:?} into a closed pipe: {}\n{stderr}", out.status);
        assert!(stderr.is_empty(), "sluice {args:?} into a closed pipe wrote to stderr:\n{stderr}");
    }
}

/// Issue seen: `database disk image is malformed: database disk image is malformed`. A
/// damaged directory database is reported once, with its path and what to do.
#[test]
fn a_damaged_directory_database_is_reported_once_with_its_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("sluice.toml");
    fs::write(&config, "data_dir = \"data\"\n").expect("write config");
    fs::create_dir(dir.path().join("data")).expect("data dir");
    let db = dir.path().join("data/sluice.db");
    fs::write(&db, "this is not an SQLite database, it is a damaged file".repeat(100)).expect("damage");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["tenant", "list", "-c"])
        .arg(&config)
        .output()
        .expect("run sluice tenant list");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("file is not a database").count(), 1, "the cause once:\n{stderr}");
    assert!(stderr.contains(&*db.to_string_lossy()), "the path:\n{stderr}");
    assert!(stderr.contains("restore"), "what to do:\n{stderr}");
}
