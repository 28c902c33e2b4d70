//! The content scanner's verdict. Sluice speaks rspamd's HTTP protocol (`POST /checkv2`
//! with the message as the body and the envelope in request headers); the answer is JSON:
//! `{"action": "reject", "score": 1000.0, "required_score": 15.0, "symbols": {...}}`. This
//! module parses that answer into a [`ScanVerdict`] and writes the `X-Spam-*` headers.

use serde::Deserialize;
use std::collections::BTreeMap;

use crate::header::sanitise;

/// Symbols named in the header and the log, highest score first; the rest are counted.
pub const SYMBOLS_MAX: usize = 20;
/// An answer longer than this is not read (a real one is a few KiB).
pub const RESPONSE_BYTES_MAX: usize = 1024 * 1024;

/// rspamd's action names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanAction {
    NoAction,
    Greylist,
    AddHeader,
    RewriteSubject,
    SoftReject,
    Reject,
}

impl ScanAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanAction::NoAction => "no action",
            ScanAction::Greylist => "greylist",
            ScanAction::AddHeader => "add header",
            ScanAction::RewriteSubject => "rewrite subject",
            ScanAction::SoftReject => "soft reject",
            ScanAction::Reject => "reject",
        }
    }

    fn parse(text: &str) -> Option<ScanAction> {
        Some(match text {
            "no action" => ScanAction::NoAction,
            "greylist" => ScanAction::Greylist,
            "add header" | "add_header" => ScanAction::AddHeader,
            "rewrite subject" | "rewrite_subject" => ScanAction::RewriteSubject,
            "soft reject" | "soft_reject" => ScanAction::SoftReject,
            "reject" => ScanAction::Reject,
            _ => return None,
        })
    }

    /// Whether the verdict calls the message spam (for headers and outbound protection).
    pub fn is_spam(self) -> bool {
        matches!(self, ScanAction::AddHeader | ScanAction::RewriteSubject | ScanAction::Reject)
    }
}

/// What the scanner said about one message.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanVerdict {
    pub action: ScanAction,
    pub score: f64,
    /// The score at which the scanner's `reject` action starts.
    pub required: f64,
    /// Symbols that fired, highest score first, at most [`SYMBOLS_MAX`].
    pub symbols: Vec<String>,
}

/// Why an answer could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScanParseError {
    #[error("the scanner's answer is not the JSON of rspamd's protocol: {0}")]
    Json(String),
    #[error("the scanner answered with an unknown action {0:?}")]
    Action(String),
    #[error("the scanner's answer is larger than {RESPONSE_BYTES_MAX} bytes")]
    TooLarge,
}

#[derive(Deserialize)]
struct Answer {
    action: String,
    #[serde(default)]
    score: f64,
    #[serde(default)]
    required_score: f64,
    #[serde(default)]
    symbols: BTreeMap<String, Symbol>,
}

#[derive(Deserialize)]
struct Symbol {
    #[serde(default)]
    score: f64,
}

impl ScanVerdict {
    /// Parses rspamd's `/checkv2` answer.
    pub fn parse(body: &[u8]) -> Result<ScanVerdict, ScanParseError> {
        if body.len() > RESPONSE_BYTES_MAX {
            return Err(ScanParseError::TooLarge);
        }
        let answer: Answer = serde_json::from_slice(body).map_err(|e| ScanParseError::Json(e.to_string()))?;
        let action = ScanAction::parse(&answer.action)
            .ok_or_else(|| ScanParseError::Action(sanitise(&answer.action)))?;
        let mut symbols: Vec<(String, f64)> =
            answer.symbols.into_iter().map(|(name, s)| (sanitise(&name), s.score)).collect();
        symbols.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(ScanVerdict {
            action,
            score: finite(answer.score),
            required: finite(answer.required_score),
            symbols: symbols.into_iter().take(SYMBOLS_MAX).map(|(name, _)| name).collect(),
        })
    }

    /// The score as outbound protection's spam signal (0.0 ham .. 1.0 spam): the share of
    /// the reject threshold reached, so a `reject` verdict is 1.0 and `add header` (at
    /// about half the threshold by rspamd's defaults) is over protection's 0.5 default.
    pub fn spam_signal(&self) -> f32 {
        if self.action == ScanAction::Reject {
            return 1.0;
        }
        let share = if self.required > 0.0 { self.score / self.required } else { 0.0 };
        let signal = share.clamp(0.0, 1.0) as f32;
        if self.action.is_spam() { signal.max(0.6) } else { signal.min(0.59) }
    }

    /// `X-Spam-Flag:` (spam only) and `X-Spam-Status:`, with their CRLFs.
    pub fn headers(&self) -> String {
        let spam = self.action.is_spam();
        let mut out = String::new();
        if spam {
            out.push_str("X-Spam-Flag: YES\r\n");
        }
        out.push_str(&format!(
            "X-Spam-Status: {}, score={:.2} required={:.2} action=\"{}\"",
            if spam { "Yes" } else { "No" },
            self.score,
            self.required,
            self.action.as_str()
        ));
        if !self.symbols.is_empty() {
            out.push_str(&format!("\r\n\tsymbols={}", self.symbols.join(",")));
        }
        out.push_str("\r\n");
        out
    }

    /// A one-line summary for the log and the trace.
    pub fn summary(&self) -> String {
        format!("action=\"{}\" score={:.2} required={:.2}", self.action.as_str(), self.score, self.required)
    }
}

/// The header of a message the scanner could not judge (down, slow, or too large).
pub fn unscanned_header(why: &str) -> String {
    format!("X-Spam-Status: Unscanned ({})\r\n", sanitise(why))
}

/// Header fields that the scanner's verdict replaces: a message from outside must not
/// carry its own verdict in.
pub fn is_verdict_header(name: &str) -> bool {
    ["X-Spam-Flag", "X-Spam-Status", "X-Sluice-Verdict"].iter().any(|h| h.eq_ignore_ascii_case(name))
}

fn finite(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer of rspamd 3.4 to GTUBE, trimmed.
    const GTUBE: &str = r#"{"is_skipped":false,"score":1000.0,"required_score":15.0,"action":"reject",
        "symbols":{"GTUBE":{"name":"GTUBE","score":1000.0,"metric_score":0.0,"description":"Test spam"},
        "MIME_GOOD":{"name":"MIME_GOOD","score":-0.1}},"messages":{"smtp_message":"Gtube pattern"},
        "message-id":"gtube@test"}"#;

    #[test]
    fn rspamd_answers_parse() {
        let verdict = ScanVerdict::parse(GTUBE.as_bytes()).unwrap();
        assert_eq!(verdict.action, ScanAction::Reject);
        assert_eq!(verdict.symbols, vec!["GTUBE".to_string(), "MIME_GOOD".to_string()]);
        assert_eq!(verdict.spam_signal(), 1.0);
        assert_eq!(
            verdict.headers(),
            "X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=1000.00 required=15.00 action=\"reject\"\r\n\
             \tsymbols=GTUBE,MIME_GOOD\r\n"
        );
        let ham = ScanVerdict::parse(br#"{"action":"no action","score":0.4,"required_score":15}"#).unwrap();
        assert_eq!(ham.headers(), "X-Spam-Status: No, score=0.40 required=15.00 action=\"no action\"\r\n");
        assert!(ham.spam_signal() < 0.1);
    }

    #[test]
    fn bad_answers_are_errors_not_panics() {
        assert!(matches!(ScanVerdict::parse(b"<html>"), Err(ScanParseError::Json(_))));
        assert_eq!(
            ScanVerdict::parse(br#"{"action":"explode\r\n"}"#),
            Err(ScanParseError::Action("explode??".into()))
        );
        assert_eq!(ScanVerdict::parse(&vec![b' '; RESPONSE_BYTES_MAX + 1]), Err(ScanParseError::TooLarge));
        let odd = ScanVerdict::parse(br#"{"action":"add header","score":1e400,"required_score":-1}"#);
        assert!(odd.is_err() || odd.is_ok_and(|v| v.spam_signal() >= 0.6));
    }

    #[test]
    fn symbol_names_cannot_inject_headers() {
        let answer = br#"{"action":"add header","score":7,"required_score":15,"symbols":{"A\r\nX-Evil: 1":{"score":1}}}"#;
        let headers = ScanVerdict::parse(answer).unwrap().headers();
        assert!(!headers.contains("\nX-Evil"), "{headers}");
        assert_eq!(unscanned_header("timeout\r\nX: y"), "X-Spam-Status: Unscanned (timeout??X: y)\r\n");
    }
}
