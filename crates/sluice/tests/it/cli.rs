//! The command line: `sluice check-config`, SIGTERM handling and output into a closed pipe.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{DOMAIN, Server, message, token};

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

/// SIGTERM in the middle of a DATA phase: the session may finish (250, and the
/// message is then delivered) or be told to come back (4xx); a 250 is never
/// lost, and the process still exits 0.
#[test]
fn sigterm_mid_data_drains_the_session() {
    let mut server = Server::start();
    let mut client = server.connect();
    client.greet();
    let subject = token("drain");
    let rcpt = format!("drain@{DOMAIN}");
    client.expect("MAIL FROM:<sender@it.test>", 250);
    client.expect(&format!("RCPT TO:<{rcpt}>"), 250);
    client.expect("DATA", 354);
    client.send_raw(format!("Subject: {subject}\r\n\r\nfirst half\r\n").as_bytes());
    let pid = server.pid();
    let status = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().expect("run kill");
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(300));
    // Finishing the message may fail if the server chose to close; both are
    // allowed, a lost 250 is not.
    let finished = client.try_send_raw(b"second half\r\n.\r\n");
    let reply = finished.ok().and_then(|()| client.try_reply().ok().flatten());
    let accepted = match &reply {
        Some(r) if r.code == 250 => true,
        Some(r) => {
            assert!((400..500).contains(&r.code), "end of DATA during drain: `{r}` (want 250 or 4xx)");
            false
        }
        None => false,
    };
    eprintln!("drain: end-of-DATA reply during drain: {reply:?}");
    let _ = client.try_send_raw(b"QUIT\r\n");
    drop(client);
    let status =
        server.wait_exit(Duration::from_secs(20)).expect("sluice did not exit within 20 s of SIGTERM");
    assert!(status.success(), "exit status after SIGTERM with a session open: {status}");
    server.spawn();
    let expected = usize::from(accepted);
    if accepted {
        server.wait_for_mail("drain", 1);
    }
    assert_eq!(
        server.settled_mail_count("drain"),
        expected,
        "end-of-DATA reply was {reply:?}; delivered copies must match"
    );
}

/// Saving the config file (or SIGHUP) applies accepted domains and limits to new sessions,
/// and a broken file keeps the running settings.
#[test]
fn config_change_and_sighup_reload_without_restart() {
    let server = Server::start();
    let path = server.config_path();
    let original = fs::read_to_string(&path).expect("config");
    let refused = {
        let mut c = server.connect();
        c.greet();
        c.expect("EHLO reload.test", 250);
        c.expect("MAIL FROM:<a@it.test>", 250);
        c.cmd("RCPT TO:<x@added.test>")
    };
    assert_eq!(refused.code, 550, "added.test is not accepted yet: `{refused}`");

    // A file change: added.test becomes an accepted domain.
    let changed = original.replace(&format!("\"{DOMAIN}\""), &format!("\"{DOMAIN}\", \"added.test\""));
    assert_ne!(changed, original, "the harness config lists the accepted domain");
    std::thread::sleep(Duration::from_millis(1100)); // a distinct mtime
    fs::write(&path, &changed).expect("rewrite config");
    let accepted = |server: &Server| {
        let mut c = server.connect();
        c.greet();
        c.expect("EHLO reload.test", 250);
        c.expect("MAIL FROM:<a@it.test>", 250);
        c.cmd("RCPT TO:<x@added.test>").code == 250
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !accepted(&server) {
        assert!(std::time::Instant::now() < deadline, "config change not applied:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }

    // A broken file is refused and the running settings stay.
    fs::write(&path, "[smtp]\nlisten = 12\n").expect("break config");
    std::thread::sleep(Duration::from_secs(3));
    assert!(accepted(&server), "a broken config file must not replace the running settings");
    assert!(server.log().contains("config reload failed"), "the failed reload is logged:\n{}", server.log());

    // SIGHUP re-reads the (restored) original: added.test is refused again.
    fs::write(&path, &original).expect("restore config");
    let status = Command::new("kill").arg("-HUP").arg(server.pid().to_string()).status().expect("kill -HUP");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while accepted(&server) {
        assert!(std::time::Instant::now() < deadline, "SIGHUP reload not applied:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
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
