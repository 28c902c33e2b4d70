//! The events the gateway records.

use std::fmt;
use std::net::IpAddr;

use directory::TenantId;
use serde::{Deserialize, Serialize};

/// Longest reply text kept (a remote server's reply can be long).
pub const REPLY_BYTES_MAX: usize = 512;
/// Longest other text kept (sender, recipient, HELO, Message-ID, Subject, host names).
pub const TEXT_BYTES_MAX: usize = 998;
/// Recipients of one message kept in its received event.
const RECIPIENTS_MAX: usize = 1000;

/// Which way a message goes through Sluice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// From anywhere to a tenant's accepted domain.
    Inbound,
    /// From a tenant's own server to the outside world.
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    pub fn parse(text: &str) -> Option<Direction> {
        match text {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// `TLSv1.3`
    pub version: String,
    pub cipher: String,
}

/// A message accepted (its `250` sent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    /// The spool id, which every later event names.
    pub message: String,
    pub at_unix_ms: u64,
    pub client_ip: IpAddr,
    pub helo: String,
    pub tls: Option<TlsInfo>,
    /// The verified client certificate's name, if any.
    pub client_cert: Option<String>,
    /// The inbound connector the session was recognised as.
    pub connector: Option<String>,
    /// The tenant the message is attributed to (through a connector), if any.
    pub tenant: Option<TenantId>,
    /// Every tenant that may see the message: the attributed one and the owners of its
    /// recipients' domains.
    pub tenants: Vec<TenantId>,
    pub direction: Direction,
    /// The envelope sender (empty for a bounce).
    pub sender: String,
    pub recipients: Vec<String>,
    pub size_bytes: u64,
    /// The `Message-ID:` header, without angle brackets.
    pub message_id: Option<String>,
    pub subject: Option<String>,
}

/// What happened to one recipient at one step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Outcome {
    /// Routed to a destination (`maildir`, `mx example.com`, `smart-host relay:25`, ...).
    Routed {
        to: String,
    },
    /// An attempt failed temporarily.
    Deferred {
        reply: String,
        next_attempt_unix_ms: Option<u64>,
    },
    Delivered {
        host: String,
        reply: String,
    },
    Bounced {
        reply: String,
    },
    /// Gave up after the maximum age.
    Expired {
        reply: String,
    },
    /// A notification went to the sender (`bounce`, `delay`, `success`).
    Notified {
        notification: String,
    },
}

impl Outcome {
    /// Whether the recipient is finished after this.
    pub fn is_final(&self) -> bool {
        matches!(self, Outcome::Delivered { .. } | Outcome::Bounced { .. } | Outcome::Expired { .. })
    }

    /// The kind as serialized (the `kind` tag), which stores keep in a column of its own.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Routed { .. } => "routed",
            Outcome::Deferred { .. } => "deferred",
            Outcome::Delivered { .. } => "delivered",
            Outcome::Bounced { .. } => "bounced",
            Outcome::Expired { .. } => "expired",
            Outcome::Notified { .. } => "notified",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientEvent {
    pub message: String,
    pub at_unix_ms: u64,
    pub recipient: String,
    pub outcome: Outcome,
}

/// A refused MAIL or RCPT at SMTP time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub at_unix_ms: u64,
    pub client_ip: IpAddr,
    pub sender: String,
    /// The recipient's domain (empty when MAIL was refused).
    pub recipient_domain: String,
    /// The whole reply: `451 4.7.501 Deferred: ... (AS501) ...`.
    pub reply: String,
    /// The tenant owning the recipient domain, when known.
    pub tenant: Option<TenantId>,
    pub direction: Direction,
}

/// What refusals are counted under: one row per client IP, sender, recipient domain,
/// reply and minute.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefusalKey {
    pub minute_unix_s: u64,
    pub client_ip: IpAddr,
    pub sender: String,
    pub recipient_domain: String,
    pub reply: String,
}

impl Refusal {
    pub fn key(&self) -> RefusalKey {
        RefusalKey {
            minute_unix_s: self.at_unix_ms / 60_000 * 60,
            client_ip: self.client_ip,
            sender: self.sender.to_ascii_lowercase(),
            recipient_domain: self.recipient_domain.to_ascii_lowercase(),
            reply: self.reply.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "event")]
pub enum TraceEvent {
    Received(Received),
    Recipient(RecipientEvent),
    Refused(Refusal),
}

/// `text` cut to at most `max` bytes on a character boundary.
fn cut(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

fn cut_opt(text: &mut Option<String>, max: usize) {
    if let Some(t) = text {
        cut(t, max);
    }
}

impl TraceEvent {
    /// The event with every remote-filled text within its limit.
    pub fn bounded(mut self) -> TraceEvent {
        match &mut self {
            TraceEvent::Received(r) => {
                for text in [&mut r.message, &mut r.helo, &mut r.sender] {
                    cut(text, TEXT_BYTES_MAX);
                }
                for text in [&mut r.client_cert, &mut r.connector, &mut r.message_id, &mut r.subject] {
                    cut_opt(text, TEXT_BYTES_MAX);
                }
                r.recipients.truncate(RECIPIENTS_MAX);
                r.recipients.iter_mut().for_each(|rcpt| cut(rcpt, TEXT_BYTES_MAX));
            }
            TraceEvent::Recipient(e) => {
                cut(&mut e.message, TEXT_BYTES_MAX);
                cut(&mut e.recipient, TEXT_BYTES_MAX);
                match &mut e.outcome {
                    Outcome::Routed { to: text } | Outcome::Notified { notification: text } => {
                        cut(text, TEXT_BYTES_MAX)
                    }
                    Outcome::Deferred { reply, .. }
                    | Outcome::Bounced { reply }
                    | Outcome::Expired { reply } => cut(reply, REPLY_BYTES_MAX),
                    Outcome::Delivered { host, reply } => {
                        cut(host, TEXT_BYTES_MAX);
                        cut(reply, REPLY_BYTES_MAX);
                    }
                }
            }
            TraceEvent::Refused(r) => {
                cut(&mut r.sender, TEXT_BYTES_MAX);
                cut(&mut r.recipient_domain, TEXT_BYTES_MAX);
                cut(&mut r.reply, REPLY_BYTES_MAX);
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_on_character_boundaries() {
        let refusal = Refusal {
            at_unix_ms: 61_500,
            client_ip: "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            sender: "é".repeat(TEXT_BYTES_MAX),
            recipient_domain: "Example.COM".into(),
            reply: "x".repeat(REPLY_BYTES_MAX + 10),
            tenant: None,
            direction: Direction::Inbound,
        };
        let TraceEvent::Refused(r) = TraceEvent::Refused(refusal).bounded() else { unreachable!() };
        assert!(r.sender.len() <= TEXT_BYTES_MAX && r.sender.chars().all(|c| c == 'é'));
        assert_eq!(r.reply.len(), REPLY_BYTES_MAX);
        let key = r.key();
        assert_eq!((key.minute_unix_s, key.recipient_domain.as_str()), (60, "example.com"));
    }

    #[test]
    fn an_outcome_kind_is_its_serialized_tag() {
        let reply = || "250 ok".to_string();
        let outcomes = [
            Outcome::Routed { to: "maildir".into() },
            Outcome::Deferred { reply: reply(), next_attempt_unix_ms: None },
            Outcome::Delivered { host: "mx".into(), reply: reply() },
            Outcome::Bounced { reply: reply() },
            Outcome::Expired { reply: reply() },
            Outcome::Notified { notification: "bounce".into() },
        ];
        for outcome in outcomes {
            let json = serde_json::to_value(&outcome).unwrap_or_default();
            assert_eq!(json["kind"], outcome.kind(), "{outcome:?}");
        }
    }
}
