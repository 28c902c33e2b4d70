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
        assert_eq!(line.trim(), "ready", "{script} did not start (run scripts/install-test-deps.sh)");
        PythonPeer { child }
    }
}

impl Drop for PythonPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
