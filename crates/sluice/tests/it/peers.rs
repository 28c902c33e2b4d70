//! Servers the tests run beside Sluice, written by others: a DNS server (Python dnslib)
//! that serves MX and A records, and remote mail servers (Python aiosmtpd) with scripted
//! replies. Both on loopback, killed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{DELIVERY_TIMEOUT, free_port, read_lossy};

#[path = "../../../gateway/tests/support/python_peer.rs"]
mod python_peer;
use python_peer::{PythonPeer, free_udp_and_tcp_port};

/// dnslib serving `records` (see crates/gateway/tests/py/dns_server.py for the format).
#[derive(Debug)]
pub struct DnsServer {
    _peer: PythonPeer,
    pub addr: SocketAddr,
}

impl DnsServer {
    pub fn start(records: &str) -> DnsServer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../gateway/tests/py/dns_server.py");
        let (peer, port) = PythonPeer::start_on_free_port(script, free_udp_and_tcp_port, |port| {
            vec![port.to_owned(), records.to_owned()]
        });
        DnsServer { _peer: peer, addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }

    /// On a port chosen earlier (a server configured with it before the records are known).
    pub fn start_on(port: u16, records: &str) -> DnsServer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../gateway/tests/py/dns_server.py");
        let peer = PythonPeer::start(script, &[&port.to_string(), records]);
        DnsServer { _peer: peer, addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }
}

/// aiosmtpd answering RCPT (and the end of data) by the local part: `fail*` 550 5.1.1,
/// `later*` 451 4.3.0, `throttle*` 451 4.7.500, `busy*` 421 4.3.2, the refusals of
/// py/mx_server.py's tables, else 250; a message to `slow*` is accepted once
/// [`MxServer::release`] is called.
#[derive(Debug)]
pub struct MxServer {
    _peer: PythonPeer,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl MxServer {
    pub fn start() -> MxServer {
        MxServer::start_with(&[])
    }

    /// A server whose STARTTLS handshake always fails (py/mx_server.py with a certificate).
    pub fn with_broken_tls() -> MxServer {
        let certs = tempfile::Builder::new().prefix("sluice-mx-tls-").tempdir().expect("temp dir");
        let (cert, key) = crate::harness::self_signed(certs.path(), "mx.remote.test");
        let server = MxServer::start_with(&[&cert, &key]);
        // The files are read at start: the directory may go.
        drop(certs);
        server
    }

    fn start_with(extra: &[&str]) -> MxServer {
        let dir = tempfile::Builder::new().prefix("sluice-mx-").tempdir().expect("temp dir");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/py/mx_server.py");
        let dir_text = dir.path().to_string_lossy().into_owned();
        let (peer, port) = PythonPeer::start_on_free_port(script, free_port, |port| {
            [port, dir_text.as_str()].iter().chain(extra).map(|a| (*a).to_owned()).collect()
        });
        MxServer { _peer: peer, port, dir }
    }

    /// Lets the server accept the messages to `slow*` it holds (and any later ones).
    pub fn release(&self) {
        std::fs::write(self.dir.path().join("release"), b"").expect("write the release file");
    }

    /// Every RCPT the server saw, as `(address, code)`.
    pub fn rcpts(&self) -> Vec<(String, u16)> {
        std::fs::read_to_string(self.dir.path().join("rcpt.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (address, code) = l.rsplit_once(' ')?;
                Some((address.to_string(), code.parse().ok()?))
            })
            .collect()
    }

    /// The client port of each accepted message: one port, one connection.
    pub fn message_ports(&self) -> Vec<u64> {
        self.records().iter().filter_map(|v| v["peer_port"].as_u64()).collect()
    }

    fn records(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "json"));
        files.sort();
        files.iter().filter_map(|p| serde_json::from_str(&read_lossy(p)).ok()).collect()
    }

    /// The messages accepted so far: `(mail_from, rcpt_tos, data)`.
    pub fn messages(&self) -> Vec<(String, Vec<String>, String)> {
        self.records()
            .iter()
            .filter_map(|value| {
                let rcpts = value["rcpt_tos"].as_array()?.iter().filter_map(|r| r.as_str().map(String::from));
                Some((
                    value["mail_from"].as_str()?.to_string(),
                    rcpts.collect(),
                    value["data"].as_str()?.into(),
                ))
            })
            .collect()
    }

    /// Waits for at least `count` accepted messages.
    pub fn wait_for_messages(&self, count: usize) -> Vec<(String, Vec<String>, String)> {
        wait_until(DELIVERY_TIMEOUT, || {
            let messages = self.messages();
            (messages.len() >= count).then_some(messages)
        })
        .unwrap_or_else(|| panic!("the remote server holds {} of {count} messages", self.messages().len()))
    }
}

/// Polls `check` every 50 ms until it returns something or `timeout` passes.
pub fn wait_until<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Python's `email` package and flufl.bounce on notification files (py/dsn_check.py):
/// one JSON value per file.
pub fn check_dsn(files: &[&Path]) -> Vec<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/py/dsn_check.py");
    json_lines("python3", script, files, "flufl.bounce")
}

/// Sisimai, the reference bounce parser (crates/bounce/tests/parsers/sisimai_check.pl), on
/// notification files: one JSON value per file, `results` one per recipient it found.
pub fn check_sisimai(files: &[&Path]) -> Vec<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../bounce/tests/parsers/sisimai_check.pl");
    json_lines("perl", script, files, "libsisimai-perl")
}

/// `program script files...`, which prints one JSON value per line.
fn json_lines(program: &str, script: &str, files: &[&Path], package: &str) -> Vec<serde_json::Value> {
    let output = Command::new(program)
        .arg(script)
        .args(files)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (run scripts/install-test-deps.sh for {package})"));
    assert!(output.status.success(), "{script} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{script} printed {l:?}: {e}")))
        .collect()
}

/// aiosmtpd's LMTP server answering per `script` (crates/gateway/tests/py/lmtp_server.py):
/// a tenant's mailbox server.
#[derive(Debug)]
pub struct LmtpServer {
    _peer: PythonPeer,
    pub port: u16,
    record: PathBuf,
    _dir: tempfile::TempDir,
}

impl LmtpServer {
    pub fn start(script: &str) -> LmtpServer {
        let dir = tempfile::Builder::new().prefix("sluice-lmtp-").tempdir().expect("temp dir");
        let record = dir.path().join("record.jsonl");
        let server = concat!(env!("CARGO_MANIFEST_DIR"), "/../gateway/tests/py/lmtp_server.py");
        let record_text = record.to_string_lossy().into_owned();
        let (peer, port) = PythonPeer::start_on_free_port(server, free_port, |port| {
            vec![port.to_owned(), script.to_owned(), record_text.clone()]
        });
        LmtpServer { _peer: peer, port, record, _dir: dir }
    }

    /// The transactions so far, one JSON value each (`lhlo`, `mail_from`, `rcpt_tos`, `data`).
    pub fn transactions(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}
