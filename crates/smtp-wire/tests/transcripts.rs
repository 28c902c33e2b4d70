//! Runs every `tests/transcripts/*.txt` through the session state machine.
//!
//! Format: `C: text` is a client line (CRLF appended), `C~ text` raw client bytes (no CRLF);
//! both understand `\r`, `\n`, `\\`. `S: text` lines are the expected server output, in
//! order, after the preceding client lines were fed at once (as a pipelining client would).
//! `S: [closed]` means the session closed the connection. Directives: `@config key=value`
//! (before the first line), `@store-fails` (storage answers 451 4.3.0), `@expect-messages N`
//! (messages handed to storage so far), `@expect-content TEXT` (the last stored message,
//! its pieces joined), `@expect-pieces N` (the pieces it came in, the last included),
//! `@feed` (the client lines so far arrive before the next ones), `@data-refused` (the driver refuses the next DATA with `452 4.3.1`), `@stress` (the
//! server is under stress from here on), `@reconnect` (a new session with the same config;
//! its greeting is expected next).
//! `#` starts a comment.

#[path = "support/escapes.rs"]
mod escapes;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use smtp_wire::command::RcptTo;
use smtp_wire::{
    Action, BareNewline, EnvelopeChecks, Reply, ReversePath, Session, SessionConfig, SessionInfo, replies,
};

struct TestChecks;

impl EnvelopeChecks for TestChecks {
    fn check_recipient(&self, _: &SessionInfo, _: &ReversePath, rcpt: &RcptTo) -> Result<(), Reply> {
        let domain = rcpt.recipient.domain_lowercase();
        if domain != "example.test" {
            return Err(replies::relay_denied(&domain));
        }
        if rcpt.recipient.local_part == "unknown" {
            return Err(replies::unknown_user(&rcpt.recipient.to_string()));
        }
        Ok(())
    }
}

/// A transcript line's bytes; a bad escape is a broken test file.
fn unescape(s: &str) -> Vec<u8> {
    escapes::unescape(s).unwrap_or_else(|e| panic!("{e} in {s:?}"))
}

fn apply_config(config: &mut SessionConfig, setting: &str) {
    let (key, value) = setting.split_once('=').expect("@config key=value");
    let number = || value.parse::<usize>().expect("number");
    match key {
        "recipients_per_message_max" => config.recipients_per_message_max = number(),
        "message_bytes_max" => config.message_bytes_max = number(),
        "command_line_bytes_max" => config.command_line_bytes_max = number(),
        "errors_per_session_max" => config.errors_per_session_max = number() as u32,
        "junk_commands_max" => config.junk_commands_max = number() as u32,
        "starttls" => config.starttls = value == "true",
        "data_chunk_bytes" => config.data_chunk_bytes = number(),
        "stress_errors_per_session_max" => config.stress_errors_per_session_max = number() as u32,
        "stress_junk_commands_max" => config.stress_junk_commands_max = number() as u32,
        "bare_newline" => {
            config.bare_newline = match value {
                "reject" => BareNewline::Reject,
                "normalize" => BareNewline::Normalize,
                other => panic!("bare_newline={other}: reject or normalize"),
            }
        }
        _ => panic!("unknown config key {key}"),
    }
}

struct Runner {
    session: Session,
    input: Vec<u8>,
    output: Vec<u8>,
    closed: bool,
    store_fails: bool,
    refuse_next_data: bool,
    /// Content pieces of the transfer under way.
    pieces: Vec<Vec<u8>>,
    /// Each stored message's pieces.
    messages: Vec<Vec<Vec<u8>>>,
}

impl Runner {
    fn run_until_input(&mut self) {
        while !self.closed {
            let step = self.session.step(&self.input, &TestChecks);
            self.input.drain(..step.consumed);
            match step.action {
                Action::Reply(r) => r.write_to(&mut self.output),
                Action::NeedInput => break,
                Action::StartTls(r) => {
                    r.write_to(&mut self.output);
                    assert!(self.input.is_empty(), "input must be discarded at STARTTLS");
                    self.session.tls_established("TLSv1.3 TEST".into(), Vec::new());
                }
                Action::StartData(envelope) => {
                    assert!(!envelope.recipients.is_empty(), "DATA without recipients");
                    let admitted = if std::mem::take(&mut self.refuse_next_data) {
                        Err(replies::data_memory_exhausted())
                    } else {
                        Ok(())
                    };
                    self.session.data_admitted(admitted).write_to(&mut self.output);
                }
                Action::Content(piece) => self.pieces.push(piece),
                Action::DataRefused(r) => {
                    self.pieces.clear();
                    r.write_to(&mut self.output);
                }
                Action::Message(m) => {
                    let mut pieces = std::mem::take(&mut self.pieces);
                    pieces.push(m.content);
                    self.messages.push(pieces);
                    let outcome = if self.store_fails {
                        Err(replies::spool_unavailable())
                    } else {
                        Ok(format!("{:016x}", self.messages.len()))
                    };
                    self.session.message_stored(outcome).write_to(&mut self.output);
                }
                Action::Close(r) => {
                    r.write_to(&mut self.output);
                    self.output.extend_from_slice(b"[closed]\r\n");
                    self.closed = true;
                }
            }
        }
    }

    fn take_output_lines(&mut self) -> Vec<String> {
        let text = String::from_utf8(std::mem::take(&mut self.output)).expect("utf-8 output");
        text.split("\r\n").filter(|l| !l.is_empty()).map(str::to_string).collect()
    }
}

fn run_transcript(path: &Path) {
    let text = std::fs::read_to_string(path).expect("read transcript");
    let mut config = SessionConfig { hostname: "mx.sluice.test".into(), ..SessionConfig::default() };
    let mut lines = text.lines().enumerate().peekable();
    while let Some((_, line)) = lines.peek() {
        match line.strip_prefix("@config ") {
            Some(setting) => apply_config(&mut config, setting),
            None if line.starts_with('#') || line.trim().is_empty() => {}
            None => break,
        }
        lines.next();
    }
    let config = Arc::new(config);
    let client_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let session = Session::new(Arc::clone(&config), client_ip);
    let mut runner = Runner {
        session,
        input: Vec::new(),
        output: Vec::new(),
        closed: false,
        store_fails: false,
        refuse_next_data: false,
        pieces: Vec::new(),
        messages: Vec::new(),
    };
    let greeting = runner.session.greeting();
    greeting.write_to(&mut runner.output);
    let mut expected: Vec<(usize, String)> = Vec::new();
    let check = |runner: &mut Runner, expected: &mut Vec<(usize, String)>| {
        let got = runner.take_output_lines();
        let want: Vec<String> = expected.iter().map(|(_, l)| l.clone()).collect();
        let at = expected.first().map(|(n, _)| n + 1).unwrap_or(0);
        assert_eq!(got, want, "{}: server output differs at line {at}", path.display());
        expected.clear();
    };
    // Client lines up to the next server line are sent at once, as a pipelining client does.
    let mut pending = false;
    for (n, line) in lines {
        if let Some(client) = line.strip_prefix("C: ") {
            if !expected.is_empty() {
                check(&mut runner, &mut expected);
            }
            assert!(!runner.closed, "{}:{}: client line after close", path.display(), n + 1);
            runner.input.extend_from_slice(&unescape(client));
            runner.input.extend_from_slice(b"\r\n");
            pending = true;
        } else if let Some(raw) = line.strip_prefix("C~ ") {
            if !expected.is_empty() {
                check(&mut runner, &mut expected);
            }
            runner.input.extend_from_slice(&unescape(raw));
            pending = true;
        } else if let Some(server) = line.strip_prefix("S: ") {
            if std::mem::take(&mut pending) {
                runner.run_until_input();
            }
            expected.push((n, server.to_string()));
        } else if line == "@reconnect" {
            if pending {
                runner.run_until_input();
                pending = false;
            }
            check(&mut runner, &mut expected);
            runner.session = Session::new(Arc::clone(&config), client_ip);
            runner.input.clear();
            runner.closed = false;
            runner.session.greeting().write_to(&mut runner.output);
        } else if line == "@store-fails" {
            runner.store_fails = true;
        } else if line == "@feed" {
            // The client's lines so far reach the server before the rest (a slow sender).
            runner.run_until_input();
            pending = false;
        } else if line == "@data-refused" {
            runner.refuse_next_data = true;
        } else if line == "@stress" {
            runner.session.set_stress(true);
        } else if let Some(count) = line.strip_prefix("@expect-pieces ") {
            check(&mut runner, &mut expected);
            let count: usize = count.trim().parse().expect("count");
            let last = runner.messages.last().expect("a stored message");
            assert_eq!(last.len(), count, "{}:{}: pieces of the last message", path.display(), n + 1);
        } else if let Some(count) = line.strip_prefix("@expect-messages ") {
            check(&mut runner, &mut expected);
            let count: usize = count.trim().parse().expect("count");
            assert_eq!(runner.messages.len(), count, "{}:{}: messages stored", path.display(), n + 1);
        } else if let Some(content) = line.strip_prefix("@expect-content ") {
            check(&mut runner, &mut expected);
            let last = runner.messages.last().expect("a stored message").concat();
            assert_eq!(
                String::from_utf8_lossy(&last),
                String::from_utf8_lossy(&unescape(content)),
                "{}:{}",
                path.display(),
                n + 1
            );
        } else if !(line.starts_with('#') || line.trim().is_empty()) {
            panic!("{}:{}: unknown line {line:?}", path.display(), n + 1);
        }
    }
    if pending {
        runner.run_until_input();
    }
    check(&mut runner, &mut expected);
}

#[test]
fn transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut paths: Vec<_> =
        std::fs::read_dir(&dir).expect("transcripts dir").map(|e| e.expect("entry").path()).collect();
    paths.sort();
    assert!(paths.len() >= 10, "transcripts missing");
    for path in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "txt")) {
        run_transcript(path);
    }
}
