//! A Python peer for the test suites (a dnslib DNS server, aiosmtpd SMTP and LMTP servers):
//! its script runs with `python3`, is ready once it prints `ready`, and is killed when the
//! value is dropped. The gateway's tests and the binary's integration tests both include
//! this one file (`#[path]`), so every suite starts its peers the same way.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running Python peer.
#[derive(Debug)]
pub struct PythonPeer {
    child: Child,
}

impl PythonPeer {
    /// Runs `script` with `args` and waits for its `ready` line; a missing interpreter or
    /// module fails the test with the remedy.
    pub fn start(script: &str, args: &[&str]) -> PythonPeer {
        PythonPeer::try_start(script, args)
            .unwrap_or_else(|| panic!("{script} did not start (run scripts/install-test-deps.sh)"))
    }

    /// `None` when the script ends before saying `ready` (its port was taken, say).
    pub fn try_start(script: &str, args: &[&str]) -> Option<PythonPeer> {
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 (run scripts/install-test-deps.sh)");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("read ready");
        let peer = PythonPeer { child };
        (line.trim() == "ready").then_some(peer)
    }

    /// Starts `script` on a port `pick` found free (`args` gets the port), and on another one
    /// when something took that port meanwhile: tests and other programs bind ports in
    /// parallel. The peer and its port.
    pub fn start_on_free_port(
        script: &str,
        pick: fn() -> u16,
        args: impl Fn(&str) -> Vec<String>,
    ) -> (PythonPeer, u16) {
        for _ in 0..5 {
            let port = pick();
            let args = args(&port.to_string());
            if let Some(peer) =
                PythonPeer::try_start(script, &args.iter().map(String::as_str).collect::<Vec<_>>())
            {
                return (peer, port);
            }
        }
        panic!("{script} did not start on any of five free ports (run scripts/install-test-deps.sh)")
    }
}

/// A loopback port free for both UDP and TCP right now (the DNS server listens on both).
pub fn free_udp_and_tcp_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
        let port = udp.local_addr().expect("local addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Drop for PythonPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
