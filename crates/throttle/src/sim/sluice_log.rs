//! Traces from Sluice's own JSON log (`[log] format = "json"`), so that a site can replay
//! what its gateway judged through another policy.
//!
//! Every line is one JSON object with `timestamp` (RFC 3339) and the event's fields, under
//! `fields` or at the top level. Two kinds of line make transactions:
//! * `message` (a message the gateway received), with `client_ip` and `throttle_accepted`:
//!   the recipients of the message that the throttle engine judged and accepted (those that
//!   came through a connector or the allow list are not judged, so not counted). Labelled
//!   `accepted`.
//! * `recipient deferred by throttling`, with `client_ip`, `rcpt_count` (recipients the line
//!   stands for; 1 when absent) and the `reply`, whose `(ASnnn)` token labels it
//!   (`deferred AS501`). The gateway writes the first deferral of a client IP and token in a
//!   minute in full and the others of that minute as one line with their count
//!   (`repeated`), at the end of the minute.
//! * `would defer recipient (observe mode: accepted)`: the same for a gateway in observe
//!   mode, whose would-be deferrals were accepted (labelled `would defer AS501`). The
//!   recipients were attempts the engine did not accept, so they replay as attempts, like
//!   deferrals.
//!
//! Other lines are skipped; so are lines without a `{` (text a log collector put between
//! JSON lines). A line that starts a JSON object but is not one, or lacks a field the replay
//! needs, is an error naming the line. The gateway writes a message line when the message
//! is stored, after its recipients were judged, so the trace is put in time order.

use std::net::IpAddr;

use serde_json::Value;

use super::Trace;
use super::time::parse_rfc3339;

/// The `message` field of a received message's line.
pub const MESSAGE_LINE: &str = "message";
/// The `message` field of a throttling deferral's line.
pub const DEFERRAL_LINE: &str = "recipient deferred by throttling";
/// The `message` field of observe mode's line for a recipient it accepted that enforcing
/// would have deferred.
pub const WOULD_DEFER_LINE: &str = "would defer recipient (observe mode: accepted)";
/// Label of recipients the gateway's throttle accepted.
pub const ACCEPTED: &str = "accepted";

/// What was read from a log.
#[derive(Debug, Clone, PartialEq)]
pub struct SluiceLog {
    /// One transaction per message line and per deferral line.
    pub trace: Trace,
    /// Lines read.
    pub lines: usize,
    /// Message lines with recipients judged by the throttle.
    pub messages: usize,
    /// Recipients deferred by throttling, or that observe mode would have deferred.
    pub deferred: u64,
}

/// A log line that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct SluiceLogError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

/// Reads a Sluice JSON log.
pub fn parse(text: &str) -> Result<SluiceLog, SluiceLogError> {
    let mut log = SluiceLog { trace: Trace::new(), lines: 0, messages: 0, deferred: 0 };
    for (i, line) in text.lines().enumerate() {
        log.lines += 1;
        read_line(&mut log, line).map_err(|problem| SluiceLogError { line: i + 1, problem })?;
    }
    log.trace.sort();
    Ok(log)
}

fn read_line(log: &mut SluiceLog, line: &str) -> Result<(), String> {
    let Some(start) = line.find('{') else { return Ok(()) };
    let value: Value = serde_json::from_str(&line[start..]).map_err(|e| {
        format!("not a JSON log line ({e}); --log reads the log Sluice writes with [log] format = \"json\"")
    })?;
    let fields = value.get("fields").unwrap_or(&value);
    let kind = fields.get("message").and_then(Value::as_str).unwrap_or("");
    if kind != MESSAGE_LINE && kind != DEFERRAL_LINE && kind != WOULD_DEFER_LINE {
        return Ok(());
    }
    let field = |name: &str| fields.get(name).or_else(|| value.get(name));
    let time = value.get("timestamp").and_then(Value::as_str).ok_or("no \"timestamp\" field")?;
    let time_ms = parse_rfc3339(time).ok_or_else(|| format!("timestamp {time:?} is not RFC 3339"))?;
    let ip_text = field("client_ip").and_then(Value::as_str).ok_or("no \"client_ip\" field")?;
    let ip: IpAddr = ip_text.parse().map_err(|_| format!("client_ip {ip_text:?} is not an IP address"))?;
    if kind == MESSAGE_LINE {
        let judged = count(field("throttle_accepted"))
            .ok_or("no \"throttle_accepted\" field (a log written before Sluice logged it)")?;
        if judged > 0 {
            log.messages += 1;
            let label = log.trace.label(ACCEPTED);
            log.trace.push_ms(time_ms, ip, judged, Some(label));
        }
        return Ok(());
    }
    let deferred = match field("rcpt_count") {
        None => 1,
        some => count(some).ok_or("rcpt_count is not a count")?,
    };
    let reply = field("reply").and_then(Value::as_str).unwrap_or("");
    let verdict = if kind == WOULD_DEFER_LINE { "would defer" } else { "deferred" };
    let label = log.trace.label(&format!("{verdict} {}", token(reply).unwrap_or("(no token)")));
    log.deferred += u64::from(deferred);
    if deferred > 0 {
        log.trace.push_ms(time_ms, ip, deferred, Some(label));
    }
    Ok(())
}

/// A non-negative count, written as a number or a string.
fn count(v: Option<&Value>) -> Option<u32> {
    match v? {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The `ASnnn` of a reply text `... (AS501) ...`.
fn token(reply: &str) -> Option<&str> {
    let at = reply.find("(AS")?;
    let t = reply.get(at + 1..at + 6)?;
    (t[2..].bytes().all(|b| b.is_ascii_digit()) && reply[at + 6..].starts_with(')')).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_message_and_deferral_lines() {
        let log = r#"{"timestamp":"2026-11-23T10:00:00.500000Z","level":"INFO","fields":{"message":"message","msg_id":"1","client_ip":"198.51.100.7","rcpt_count":3,"throttle_accepted":2,"outcome":"queued"},"target":"gateway::enqueue"}
{"timestamp":"2026-11-23T10:00:00.100000Z","level":"INFO","fields":{"message":"recipient deferred by throttling","client_ip":"198.51.100.7","rcpt_count":1,"reply":"451 4.7.501 Deferred: new sender over probation allowance from [198.51.100.7]. (AS501) Try again in 10 minutes"}}
{"timestamp":"2026-11-23T10:00:01Z","level":"INFO","fields":{"message":"message","client_ip":"203.0.113.5","rcpt_count":4,"throttle_accepted":0}}
{"timestamp":"2026-11-23T10:00:02Z","level":"INFO","fields":{"message":"connection refused","client_ip":"203.0.113.5"}}
Nov 23 10:00:03 host sluice[7]: {"timestamp":"2026-11-23T10:00:03Z","message":"recipient deferred by throttling","client_ip":"2001:db8::1","reply":"451 4.7.503 ... (AS503) ..."}
a line of text
"#;
        let log = parse(log).unwrap();
        assert_eq!((log.lines, log.messages, log.deferred), (6, 1, 2));
        let t = &log.trace;
        assert_eq!(t.events.len(), 3, "connector-only messages are not judged: {t:?}");
        assert_eq!(t.labels[t.events[0].label.unwrap() as usize], "deferred AS501", "sorted by time");
        assert_eq!((t.events[1].recipients, t.events[1].time_ms), (2, 1_795_428_000_500));
        assert_eq!(t.labels[t.events[2].label.unwrap() as usize], "deferred AS503");
    }

    #[test]
    fn observe_mode_lines_replay_as_attempts_with_their_own_label() {
        let log = r#"{"timestamp":"2026-11-23T10:00:00Z","fields":{"message":"would defer recipient (observe mode: accepted)","client_ip":"198.51.100.7","rcpt_count":1,"reply":"451 4.7.501 Deferred ... (AS501) Try again in 10 minutes"}}
{"timestamp":"2026-11-23T10:01:00Z","fields":{"message":"would defer recipient (observe mode: accepted)","client_ip":"198.51.100.7","rcpt_count":41,"repeated":true,"reply":"451 4.7.501 Deferred ... (AS501) Try again in 9 minutes"}}
"#;
        let log = parse(log).unwrap();
        assert_eq!(log.deferred, 42);
        let t = &log.trace;
        assert_eq!((t.events.len(), t.events[1].recipients), (2, 41));
        assert_eq!(t.labels[t.events[1].label.unwrap() as usize], "would defer AS501");
    }

    #[test]
    fn unusable_lines_name_their_number() {
        let e = parse("{\"timestamp\":\"x\"\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.problem.contains("format = \"json\""), "{e}");
        let old = r#"{"timestamp":"2026-11-23T10:00:00Z","fields":{"message":"message","client_ip":"198.51.100.7"}}"#;
        let e = parse(&format!("\n{old}\n")).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.problem.contains("throttle_accepted"), "{e}");
        let bad_ip = r#"{"timestamp":"2026-11-23T10:00:00Z","fields":{"message":"recipient deferred by throttling","client_ip":"nope"}}"#;
        assert!(parse(bad_ip).unwrap_err().problem.contains("client_ip"));
        let no_time =
            r#"{"fields":{"message":"recipient deferred by throttling","client_ip":"198.51.100.7"}}"#;
        assert!(parse(no_time).unwrap_err().problem.contains("timestamp"));
    }

    #[test]
    fn tokens_come_from_the_reply() {
        assert_eq!(token("451 4.7.502 Deferred ... (AS502) Try again"), Some("AS502"));
        assert_eq!(token("(ASx01)"), None);
        assert_eq!(token("(AS50"), None);
        assert_eq!(token("no token"), None);
    }
}
