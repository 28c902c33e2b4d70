//! Traces from a Postfix maillog: what a Postfix MX received, as transactions the engine
//! can judge.
//!
//! Read lines (from any `.../smtpd` and `.../qmgr` program name, so `postfix/smtpd`,
//! `postfix-in/smtpd` and `postfix/submission/smtpd` all count):
//! * `smtpd: connect from host[IP]`: counted, for the summary.
//! * `smtpd: QUEUEID: client=host[IP]`: a message was started from IP at this time.
//! * `qmgr: QUEUEID: from=<...>, size=N, nrcpt=K (queue active)`: the message was queued with
//!   K recipients: one transaction of K recipients from the client of `client=`, at the time
//!   of the `client=` line (smtpd writes it at the first accepted recipient, when Sluice's
//!   throttle would decide), labelled `accepted by Postfix`. Later `qmgr` lines of the same queue id
//!   (retries) are not counted again; messages Postfix did not receive over SMTP (pickup)
//!   have no `client=` line and are skipped.
//! * `smtpd: NOQUEUE: reject: RCPT from host[IP]: 4xx ...` (or with a queue id instead of
//!   `NOQUEUE`): one recipient refused temporarily, which a sender retries, labelled
//!   `deferred by Postfix`. A `5xx` refusal (unknown user, relay denied) is counted in the
//!   summary only: it never reaches Sluice's throttle, which runs after relay control.
//!
//! Time stamps: RFC 3339 (rsyslog's default, `journalctl -o short-iso`'s `+hhmm` offsets too)
//! or the classic `May  1 10:00:00` of syslog and Postfix's own `maillog_file`, which has no
//! year: the caller gives it, and a month smaller than the previous line's starts the next
//! year. Several processes write a maillog, so the trace is put in time order.

use std::collections::HashMap;
use std::net::IpAddr;

use super::Trace;
use super::time::{parse_rfc3339, parse_syslog};

/// What was read from a maillog.
#[derive(Debug, Clone, PartialEq)]
pub struct PostfixLog {
    /// One transaction per queued message and per temporarily refused recipient.
    pub trace: Trace,
    /// Lines read.
    pub lines: usize,
    /// `connect from` lines.
    pub connections: usize,
    /// Messages queued from SMTP clients.
    pub messages: usize,
    /// Recipients refused with a `4xx` at RCPT.
    pub temporary_rejects: usize,
    /// Recipients refused with a `5xx` at RCPT (not in the trace).
    pub permanent_rejects: usize,
}

/// A maillog line that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct PostfixLogError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

/// Label of queued messages.
pub const ACCEPTED: &str = "accepted by Postfix";
/// Label of recipients refused with a 4xx.
pub const DEFERRED: &str = "deferred by Postfix";

/// Reads a maillog; `year` is the year of the first line when time stamps have none.
pub fn parse(text: &str, year: i64) -> Result<PostfixLog, PostfixLogError> {
    let mut reader = Reader {
        log: PostfixLog {
            trace: Trace::new(),
            lines: 0,
            connections: 0,
            messages: 0,
            temporary_rejects: 0,
            permanent_rejects: 0,
        },
        year,
        last_month: None,
        clients: HashMap::new(),
    };
    for (i, line) in text.lines().enumerate() {
        reader.log.lines += 1;
        reader.line(i + 1, line)?;
    }
    let mut log = reader.log;
    log.trace.sort();
    Ok(log)
}

struct Reader {
    log: PostfixLog,
    year: i64,
    last_month: Option<u32>,
    /// Queue ids of messages started over SMTP and not yet queued: their client and time.
    clients: HashMap<String, (IpAddr, u64)>,
}

/// A line split into its parts: time text, program (`postfix/smtpd`), message.
struct Line<'a> {
    time: &'a str,
    program: &'a str,
    message: &'a str,
}

/// Splits `<time> <host> <program>[<pid>]: <message>`; None for lines of another shape.
fn split(line: &str) -> Option<Line<'_>> {
    let (time, rest) = if line.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        line.split_once(' ')?
    } else {
        // `May  1 10:00:00 host ...`: the time stamp is 15 characters.
        (line.get(..15)?, line.get(15..)?)
    };
    let rest = rest.trim_start();
    let (_host, rest) = rest.split_once(' ')?;
    let (program, rest) = rest.split_once('[')?;
    let (_pid, message) = rest.split_once("]: ")?;
    Some(Line { time, program, message })
}

impl Reader {
    fn line(&mut self, n: usize, text: &str) -> Result<(), PostfixLogError> {
        let Some(line) = split(text) else { return Ok(()) };
        let smtpd = line.program.ends_with("/smtpd");
        if !smtpd && !line.program.ends_with("/qmgr") {
            return Ok(());
        }
        let time_ms = self.time(n, line.time)?;
        if smtpd {
            self.smtpd(n, time_ms, line.message)
        } else {
            self.qmgr(line.message);
            Ok(())
        }
    }

    fn time(&mut self, n: usize, text: &str) -> Result<u64, PostfixLogError> {
        if let Some(ms) = parse_rfc3339(text).or_else(|| parse_rfc3339(&colon_offset(text))) {
            return Ok(ms);
        }
        let err = || PostfixLogError {
            line: n,
            problem: format!("{text:?} is not a time stamp (RFC 3339 or \"May  1 10:00:00\")"),
        };
        let (_, month) = parse_syslog(text, self.year).ok_or_else(err)?;
        if self.last_month.is_some_and(|m| month < m) {
            self.year += 1;
        }
        self.last_month = Some(month);
        parse_syslog(text, self.year).map(|(ms, _)| ms).ok_or_else(err)
    }

    fn smtpd(&mut self, n: usize, time_ms: u64, message: &str) -> Result<(), PostfixLogError> {
        if message.starts_with("connect from ") {
            self.log.connections += 1;
            return Ok(());
        }
        let Some((queue_id, rest)) = message.split_once(": ") else { return Ok(()) };
        if let Some(client) = rest.strip_prefix("client=") {
            let ip = bracketed_ip(client).ok_or_else(|| bad_client(n, client))?;
            self.clients.insert(queue_id.to_string(), (ip, time_ms));
        } else if let Some(reject) = rest.strip_prefix("reject: RCPT from ") {
            self.reject(n, time_ms, reject)?;
        }
        Ok(())
    }

    /// `host[IP]: 450 4.7.1 <...>: ...; from=<...> to=<...> ...`
    fn reject(&mut self, n: usize, time_ms: u64, text: &str) -> Result<(), PostfixLogError> {
        let (client, reply) = text.split_once("]: ").ok_or_else(|| bad_client(n, text))?;
        let ip = bracketed_ip(&format!("{client}]")).ok_or_else(|| bad_client(n, client))?;
        match reply.as_bytes().first() {
            Some(b'4') => {
                self.log.temporary_rejects += 1;
                let label = self.log.trace.label(DEFERRED);
                self.log.trace.push_ms(time_ms, ip, 1, Some(label));
            }
            Some(b'5') => self.log.permanent_rejects += 1,
            _ => {}
        }
        Ok(())
    }

    /// `QUEUEID: from=<...>, size=N, nrcpt=K (queue active)`
    fn qmgr(&mut self, message: &str) {
        let Some((queue_id, rest)) = message.split_once(": ") else { return };
        let Some(nrcpt) = rest.split(", ").find_map(|f| f.strip_prefix("nrcpt=")) else { return };
        let count = nrcpt.split(' ').next().and_then(|k| k.parse::<u32>().ok()).filter(|k| *k > 0);
        let (Some(count), Some((ip, time_ms))) = (count, self.clients.remove(queue_id)) else { return };
        self.log.messages += 1;
        let label = self.log.trace.label(ACCEPTED);
        self.log.trace.push_ms(time_ms, ip, count, Some(label));
    }
}

/// `+hhmm` offsets (journalctl) as RFC 3339's `+hh:mm`.
fn colon_offset(text: &str) -> String {
    let b = text.as_bytes();
    if b.len() > 5 && matches!(b[b.len() - 5], b'+' | b'-') && b[b.len() - 4..].iter().all(u8::is_ascii_digit)
    {
        let (head, tail) = text.split_at(text.len() - 2);
        return format!("{head}:{tail}");
    }
    text.to_string()
}

/// The IP in `host[IP]` (Postfix writes IPv6 plainly or with an `ipv6:` prefix).
fn bracketed_ip(text: &str) -> Option<IpAddr> {
    let (_, rest) = text.split_once('[')?;
    let (inside, _) = rest.split_once(']')?;
    let inside = inside.strip_prefix("ipv6:").or_else(|| inside.strip_prefix("IPv6:")).unwrap_or(inside);
    inside.parse().ok()
}

fn bad_client(line: usize, text: &str) -> PostfixLogError {
    PostfixLogError { line, problem: format!("no client address in {text:?} (expected host[IP])") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
Dec 31 23:59:58 mx postfix/smtpd[812]: connect from unknown[198.51.100.7]
Dec 31 23:59:58 mx postfix/smtpd[812]: 4F1A2B3C: client=unknown[198.51.100.7]
Dec 31 23:59:58 mx postfix/cleanup[813]: 4F1A2B3C: message-id=<a@b>
Dec 31 23:59:59 mx postfix/qmgr[700]: 4F1A2B3C: from=<a@example.org>, size=812, nrcpt=3 (queue active)
Jan  1 00:00:01 mx postfix/smtpd[812]: NOQUEUE: reject: RCPT from unknown[198.51.100.7]: 450 4.7.1 <b@x.test>: Recipient address rejected: try later; from=<a@example.org> to=<b@x.test> proto=ESMTP helo=<h>
Jan  1 00:00:01 mx postfix/smtpd[812]: NOQUEUE: reject: RCPT from unknown[2001:db8::5]: 550 5.1.1 <c@x.test>: Recipient address rejected: User unknown; from=<> to=<c@x.test> proto=ESMTP helo=<h>
Jan  1 00:00:02 mx postfix/qmgr[700]: 4F1A2B3C: from=<a@example.org>, size=812, nrcpt=3 (queue active)
Jan  1 00:00:03 mx postfix/pickup[701]: 5A: uid=0 from=<root>
Jan  1 00:00:03 mx postfix/qmgr[700]: 5A: from=<root@mx>, size=300, nrcpt=1 (queue active)
";

    #[test]
    fn reads_queued_messages_and_temporary_rejects() {
        let log = parse(LOG, 2025).unwrap();
        assert_eq!((log.lines, log.connections, log.messages), (9, 1, 1));
        assert_eq!((log.temporary_rejects, log.permanent_rejects), (1, 1));
        let e = &log.trace.events;
        assert_eq!(e.len(), 2, "the retry and the pickup message are not counted: {e:?}");
        assert_eq!(e[0].recipients, 3);
        assert_eq!(e[0].time_ms, parse_rfc3339("2025-12-31T23:59:58Z").unwrap());
        assert_eq!(log.trace.labels[e[0].label.unwrap() as usize], ACCEPTED);
        assert_eq!(e[1].time_ms, parse_rfc3339("2026-01-01T00:00:01Z").unwrap(), "the year rolls over");
        assert_eq!(log.trace.labels[e[1].label.unwrap() as usize], DEFERRED);
    }

    /// A maillog written by a real Postfix 3.7 (the sluice integration test
    /// `postfix_maillog_replays_through_simulate` writes it with `UPDATE_SAMPLES=1`).
    #[test]
    fn reads_a_real_postfix_maillog() {
        let log = parse(include_str!("../../tests/data/postfix-maillog.txt"), 2026).unwrap();
        assert_eq!((log.connections, log.messages), (5, 4));
        assert_eq!((log.temporary_rejects, log.permanent_rejects), (1, 1));
        let from = |ip: &str| {
            let ip: IpAddr = ip.parse().unwrap();
            log.trace.events.iter().filter(|e| e.ip == ip).map(|e| e.recipients).collect::<Vec<_>>()
        };
        assert_eq!(from("127.0.0.2"), vec![1, 1, 3]);
        assert_eq!(from("127.0.0.3").iter().sum::<u32>(), 2, "one queued, one deferred");
    }

    #[test]
    fn rfc3339_stamps_and_other_program_names() {
        let log = "2024-05-01T10:00:00.250+02:00 mx postfix-in/smtpd[5]: 7B: client=mail.example[2001:db8::9]\n\
                   2024-05-01T10:00:01+0200 mx postfix-in/qmgr[6]: 7B: from=<a@b>, size=1, nrcpt=2 (queue active)\n";
        let log = parse(log, 1999).unwrap();
        let e = log.trace.events[0];
        assert_eq!(e.ip, "2001:db8::9".parse::<IpAddr>().unwrap());
        assert_eq!(e.time_ms, 1_714_550_400_250);
        assert_eq!(e.recipients, 2);
    }

    #[test]
    fn unreadable_lines_name_their_number() {
        let e = parse("mx postfix/smtpd[1]: 7B: client=x[1.2.3.4]\n", 2024).unwrap();
        assert!(e.trace.events.is_empty(), "lines of another shape are skipped");
        let e = parse("Foo 31 10:00:00 mx postfix/smtpd[1]: connect from x[1.2.3.4]\n", 2024).unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("May  1 10:00:00 mx postfix/smtpd[1]: connect from x[1.2.3.4]\nMay  1 10:00:00 mx postfix/smtpd[1]: 7B: client=x[nonsense]\n", 2024)
            .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.problem.contains("client address"), "{e}");
    }
}
