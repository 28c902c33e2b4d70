//! The content scanner against a real rspamd (Debian's 3.4): a private instance with its own
//! config directory, port and one worker, no Redis. GTUBE is rejected or held per policy, a
//! clean message passes with its verdict in the headers and the log, and rspamd stopped
//! mid-run loses nothing: the message is accepted and marked unscanned, or deferred with
//! `451 4.7.1` when so configured, and the outage is counted.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{DOMAIN, Server, Settings, free_port, require_tool, token, unfolded_headers};

/// rspamd's GTUBE test string: any rspamd answers `reject` for a message containing it.
const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
/// rspamd compiles its rules at start; on a loaded 2-core machine that takes a while.
const RSPAMD_START_TIMEOUT: Duration = Duration::from_secs(180);

/// A private rspamd, killed when dropped.
#[derive(Debug)]
struct Rspamd {
    child: Option<Child>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Rspamd {
    fn start() -> Rspamd {
        let program = require_tool("rspamd");
        let dir = tempfile::Builder::new().prefix("sluice-rspamd-").tempdir().expect("temp dir");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let config = dir.path().join("rspamd.conf");
        std::fs::write(&config, rspamd_config(dir.path(), addr)).expect("write rspamd.conf");
        std::fs::create_dir(dir.path().join("db")).expect("db dir");
        let log = std::fs::File::create(dir.path().join("stderr.log")).expect("log");
        // --insecure: the tests may run as root, and rspamd's workers then stay root.
        let child = Command::new(program)
            .args(["--no-fork", "--insecure", "--config"])
            .process_group(0)
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn rspamd");
        let mut rspamd = Rspamd { child: Some(child), addr, dir };
        rspamd.wait_ready();
        rspamd
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + RSPAMD_START_TIMEOUT;
        while !http_get(self.addr, "/ping").is_some_and(|body| body.contains("pong")) {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("rspamd exited with {status}:\n{}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "rspamd not ready after {RSPAMD_START_TIMEOUT:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}\n{}", read("stderr.log"), read("rspamd.log"))
    }

    /// Kills it (SIGKILL to its process group: the main process and its worker) and waits
    /// until nothing answers on its port.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let group = format!("-{}", child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = child.kill();
        let _ = child.wait();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
            assert!(Instant::now() < deadline, "rspamd still answers on {}", self.addr);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Rspamd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Debian's rules and modules with this instance's files, port and a single worker; DNS
/// goes to a closed loopback port so that lookups fail at once instead of timing out.
fn rspamd_config(dir: &Path, addr: SocketAddr) -> String {
    let d = dir.display();
    let mut config = String::from(".include \"$CONFDIR/common.conf\"\n");
    let _ = writeln!(
        config,
        "options {{\n  pidfile = \"{d}/rspamd.pid\";\n  dbdir = \"{d}/db\";\n  hs_cache_dir = \"{d}/db\";\n  \
         dns {{ nameserver = [\"127.0.0.1:9\"]; timeout = 0.2s; retransmits = 1; }}\n}}"
    );
    let _ = writeln!(
        config,
        "logging {{ type = \"file\"; filename = \"{d}/rspamd.log\"; level = \"warning\"; }}"
    );
    let _ =
        writeln!(config, "worker \"normal\" {{ bind_socket = \"{addr}\"; count = 1; task_timeout = 8s; }}");
    config
}

/// A plain HTTP/1.0 GET; the body, `None` when nothing answers.
fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

fn scanning(rspamd: &Rspamd) -> Settings {
    Settings::default().key("scanner", "rspamd_url", format!("\"http://{}\"", rspamd.addr))
}

/// Sends one message with `body`; the reply to the end of DATA and how long it took.
fn send(server: &Server, subject: &str, body: &str) -> (String, Duration) {
    let to = format!("user@{DOMAIN}");
    let content = format!(
        "From: <news@sender.test>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@it.test>\r\n\
         Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n\r\n{body}"
    );
    let mut client = server.connect_from("127.0.0.1");
    client.expect("EHLO client.it.test", 250);
    client.expect("MAIL FROM:<news@sender.test>", 250);
    client.expect(&format!("RCPT TO:<{to}>"), 250);
    client.expect("DATA", 354);
    client.send_raw(content.as_bytes());
    let started = Instant::now();
    client.send_raw(b"\r\n.\r\n");
    let reply = client.reply().to_string();
    (reply, started.elapsed())
}

fn delivered_with(server: &Server, subject: &str) -> Vec<String> {
    let messages = server.wait_for_mail("user", 1);
    let text =
        messages.iter().find(|m| m.contains(subject)).unwrap_or_else(|| panic!("{subject} not delivered"));
    unfolded_headers(text)
}

#[test]
fn rspamd_verdicts_reject_hold_or_pass_and_an_outage_loses_nothing() {
    let mut rspamd = Rspamd::start();
    let rejecting = Server::start_with(scanning(&rspamd).key("policy", "spam", "\"reject\""));
    let holding = Server::start_with(scanning(&rspamd).key("scanner", "on_failure", "\"defer\""));
    let unscanned = Server::start();

    let (reply, _) = send(&rejecting, &token("gtube"), &format!("{GTUBE}\r\n"));
    assert!(
        reply.starts_with("550 5.7.520 ") && reply.contains("help: 5.7.520"),
        "{reply}\n{}",
        rejecting.log()
    );

    let subject = token("gtube-held");
    let (reply, _) = send(&holding, &subject, &format!("{GTUBE}\r\n"));
    assert!(reply.starts_with("250 "), "{reply}\n{}", holding.log());
    let held: Vec<serde_json::Value> =
        serde_json::from_str(&holding.cli_ok(&["quarantine", "list", "--json"])).expect("JSON");
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["subject"], subject);
    assert!(
        held[0]["reasons"][0].as_str().is_some_and(|r| r.starts_with("spam action=\"reject\"")),
        "{held:?}"
    );
    assert_eq!(holding.settled_mail_count("user"), 0, "held, not delivered");

    // A clean message passes with the verdict in its headers and the log line; the time to
    // the 250 with and without the scanner is printed for the record (not asserted).
    let subject = token("clean");
    let (reply, scanned_in) = send(&rejecting, &subject, "Lunch tomorrow at noon?\r\n");
    assert!(reply.starts_with("250 "), "{reply}");
    let headers = delivered_with(&rejecting, &subject);
    assert!(headers.iter().any(|h| h.starts_with("X-Spam-Status: No, score=")), "{headers:?}");
    assert!(!headers.iter().any(|h| h.starts_with("X-Spam-Flag")), "{headers:?}");
    assert!(rejecting.log().contains(r#"scan="action=\"no action\" score="#), "{}", rejecting.log());
    let median = |server: &Server| {
        let mut times: Vec<Duration> =
            (0..5).map(|_| send(server, &token("timed"), "Lunch at noon?\r\n").1).collect();
        times.sort();
        times[2]
    };
    let (with, without) = (median(&rejecting), median(&unscanned));
    eprintln!(
        "end of DATA to 250, median of 5: {with:?} with rspamd, {without:?} without (first: {scanned_in:?})"
    );

    rspamd.stop();
    let subject = token("outage");
    let (reply, _) = send(&rejecting, &subject, "Are you there?\r\n");
    assert!(reply.starts_with("250 "), "an outage with on_failure = accept accepts: {reply}");
    rejecting.wait_idle();
    let headers = delivered_with(&rejecting, &subject);
    assert!(
        headers
            .iter()
            .any(|h| h.starts_with("X-Spam-Status: Unscanned (scanner unavailable: cannot connect")),
        "{headers:?}"
    );
    let (reply, _) = send(&holding, &token("deferred"), "Are you there?\r\n");
    assert!(reply.starts_with("451 4.7.1 ") && reply.contains("scanner-unavailable"), "{reply}");
    for server in [&rejecting, &holding] {
        assert!(server.log().contains("content scanner unavailable"), "{}", server.log());
        let stats = server.cli_ok(&["scanner", "stats"]);
        assert!(stats.contains("unavailable 1\n"), "{stats}");
    }
}
