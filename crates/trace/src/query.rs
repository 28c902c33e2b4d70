//! Reading the trace back: searches, one message's timeline, refusal rows, and pruning.

use std::fmt;
use std::net::IpAddr;

use directory::TenantId;
use serde::{Deserialize, Serialize};

use crate::event::{Direction, Outcome, Received};

/// Rows one page holds at most.
pub const PAGE_MAX: usize = 200;

/// Where one recipient stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecipientStatus {
    /// Accepted, no attempt finished yet.
    Pending,
    /// The last attempt failed temporarily; it will be retried.
    Deferred,
    Delivered,
    Bounced,
    Expired,
}

impl RecipientStatus {
    /// After `outcome`, from `self`.
    pub fn after(self, outcome: &Outcome) -> RecipientStatus {
        match outcome {
            Outcome::Deferred { .. } => RecipientStatus::Deferred,
            Outcome::Delivered { .. } => RecipientStatus::Delivered,
            Outcome::Bounced { .. } => RecipientStatus::Bounced,
            Outcome::Expired { .. } => RecipientStatus::Expired,
            Outcome::Routed { .. } | Outcome::Notified { .. } => self,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecipientStatus::Pending => "pending",
            RecipientStatus::Deferred => "deferred",
            RecipientStatus::Delivered => "delivered",
            RecipientStatus::Bounced => "bounced",
            RecipientStatus::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<RecipientStatus> {
        [Self::Pending, Self::Deferred, Self::Delivered, Self::Bounced, Self::Expired]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// A message's status, summing up its recipients'.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageStatus {
    /// Accepted; no recipient finished nor deferred yet.
    Received,
    /// Some recipient waits for a retry.
    Deferred,
    /// Every recipient delivered.
    Delivered,
    /// Every recipient finished, some bounced or expired.
    Failed,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 4] =
        [MessageStatus::Received, MessageStatus::Deferred, MessageStatus::Delivered, MessageStatus::Failed];

    /// The message's status given its recipients'.
    pub fn of(recipients: &[RecipientStatus]) -> MessageStatus {
        use RecipientStatus::*;
        if recipients.contains(&Deferred) {
            MessageStatus::Deferred
        } else if recipients.contains(&Pending) || recipients.is_empty() {
            MessageStatus::Received
        } else if recipients.iter().all(|s| *s == Delivered) {
            MessageStatus::Delivered
        } else {
            MessageStatus::Failed
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Received => "received",
            MessageStatus::Deferred => "deferred",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<MessageStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the next page starts: the last row's time and id. Opaque to clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub at: u64,
    pub id: u64,
}

impl Cursor {
    pub fn encode(self) -> String {
        format!("{}.{}", self.at, self.id)
    }

    pub fn decode(text: &str) -> Result<Cursor, TraceError> {
        let parsed = text
            .split_once('.')
            .and_then(|(at, id)| Some(Cursor { at: at.parse().ok()?, id: id.parse().ok()? }));
        parsed.ok_or_else(|| TraceError::Invalid {
            field: "cursor",
            value: text.to_string(),
            reason: "not a cursor this server handed out; start from the first page".into(),
        })
    }
}

/// A search over messages, newest first. Text filters match case-insensitively and
/// exactly (an address, a Message-ID with or without angle brackets, or the spool id).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceQuery {
    /// Only messages this tenant may see.
    pub tenant: Option<TenantId>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub message_id: Option<String>,
    pub client_ip: Option<IpAddr>,
    pub status: Option<MessageStatus>,
    pub direction: Option<Direction>,
    pub since_unix_ms: Option<u64>,
    pub until_unix_ms: Option<u64>,
    pub cursor: Option<Cursor>,
    /// Capped at [`PAGE_MAX`].
    pub limit: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Give this back as the cursor for the next page; absent on the last page.
    pub next: Option<String>,
}

/// One line of a search result: how the message arrived and where it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSummary {
    pub received: Received,
    pub status: MessageStatus,
}

/// One step of a message's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at_unix_ms: u64,
    pub recipient: String,
    pub outcome: Outcome,
}

/// A message in full: how it arrived, then every recipient step in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageTrace {
    pub received: Received,
    pub status: MessageStatus,
    /// Each recipient with its current status, in envelope order.
    pub recipients: Vec<(String, RecipientStatus)>,
    pub timeline: Vec<TimelineEntry>,
}

/// A search over refusal rows, newest minute first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefusalQuery {
    /// Only refusals of this tenant's recipient domains.
    pub tenant: Option<TenantId>,
    pub client_ip: Option<IpAddr>,
    pub sender: Option<String>,
    pub recipient_domain: Option<String>,
    pub since_unix_ms: Option<u64>,
    pub until_unix_ms: Option<u64>,
    pub cursor: Option<Cursor>,
    pub limit: usize,
}

/// Refusals counted under one [`crate::RefusalKey`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalRow {
    pub minute_unix_s: u64,
    pub client_ip: IpAddr,
    pub sender: String,
    pub recipient_domain: String,
    pub reply: String,
    pub tenant: Option<TenantId>,
    pub direction: Direction,
    pub count: u64,
    pub first_at_unix_ms: u64,
    pub last_at_unix_ms: u64,
}

/// Buckets a [`FlowQuery`] may ask for at most (a chart's bars).
pub const FLOW_BUCKETS_MAX: u64 = 2_000;

/// Mail flow counted per time bucket, for charts: a tenant's (or everyone's) traffic, or
/// one client network's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowQuery {
    /// Only what this tenant may see.
    pub tenant: Option<TenantId>,
    /// Only clients in this network (an address is a /32 or /128).
    pub network: Option<directory::Cidr>,
    /// The first bucket starts here; buckets are `bucket_ms` long up to `until_unix_ms`.
    pub since_unix_ms: u64,
    pub until_unix_ms: u64,
    pub bucket_ms: u64,
}

impl FlowQuery {
    /// How many buckets the query covers, checked against [`FLOW_BUCKETS_MAX`].
    pub fn buckets(&self) -> Result<u64, TraceError> {
        let invalid = |reason: &str| TraceError::Invalid {
            field: "flow",
            value: format!("{}..{} by {} ms", self.since_unix_ms, self.until_unix_ms, self.bucket_ms),
            reason: reason.into(),
        };
        if self.bucket_ms == 0 || self.until_unix_ms <= self.since_unix_ms {
            return Err(invalid("an empty range or a zero bucket"));
        }
        let n = (self.until_unix_ms - self.since_unix_ms).div_ceil(self.bucket_ms);
        if n > FLOW_BUCKETS_MAX {
            return Err(invalid(&format!("more than {FLOW_BUCKETS_MAX} buckets")));
        }
        Ok(n)
    }

    /// Empty buckets covering the query, for a backend to fill.
    pub fn empty(&self) -> Result<Vec<FlowBucket>, TraceError> {
        Ok((0..self.buckets()?)
            .map(|n| FlowBucket {
                start_unix_ms: self.since_unix_ms + n * self.bucket_ms,
                ..FlowBucket::default()
            })
            .collect())
    }

    /// The bucket `at` falls in, if any.
    pub fn index(&self, at_unix_ms: u64) -> Option<usize> {
        if at_unix_ms < self.since_unix_ms || at_unix_ms >= self.until_unix_ms || self.bucket_ms == 0 {
            return None;
        }
        usize::try_from((at_unix_ms - self.since_unix_ms) / self.bucket_ms).ok()
    }
}

/// What happened in one bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowBucket {
    pub start_unix_ms: u64,
    /// Messages accepted (their `250` sent), and their recipients.
    pub accepted: u64,
    pub accepted_recipients: u64,
    /// Recipients deferred by IP throttling (`451 4.7.5xx` / `4.7.6xx`).
    pub throttled: u64,
    /// Other refusals at SMTP time.
    pub refused: u64,
    /// Recipients delivered.
    pub delivered: u64,
    /// Recipients bounced or expired.
    pub bounced: u64,
}

/// Client addresses a query lists at most.
pub const CLIENTS_MAX: usize = 500;

/// The client addresses that sent mail (accepted or refused), busiest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientQuery {
    /// Only what this tenant may see.
    pub tenant: Option<TenantId>,
    /// Only clients in this network.
    pub network: Option<directory::Cidr>,
    pub since_unix_ms: u64,
    /// Capped at [`CLIENTS_MAX`].
    pub limit: usize,
}

/// What one client address sent since the query's start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientActivity {
    pub client_ip: IpAddr,
    /// Messages accepted, and how many of them arrived over TLS.
    pub accepted: u64,
    pub accepted_tls: u64,
    /// Recipients deferred by IP throttling, and other refusals.
    pub throttled: u64,
    pub refused: u64,
    pub last_seen_unix_ms: u64,
}

impl ClientActivity {
    pub fn total(&self) -> u64 {
        self.accepted + self.throttled + self.refused
    }
}

/// Whether a refusal's reply is an IP throttling deferral (`451 4.7.500`-`4.7.699`).
pub fn is_throttling_reply(reply: &str) -> bool {
    reply.starts_with("451 4.7.5") || reply.starts_with("451 4.7.6")
}

/// How much trace is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub max_age_s: u64,
    /// Oldest rows go first until the store is under this size.
    pub max_bytes: u64,
}

impl Default for Retention {
    /// Ten days, 2 GiB.
    fn default() -> Retention {
        Retention { max_age_s: 10 * 86_400, max_bytes: 2 << 30 }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub messages: u64,
    pub refusals: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid { field: &'static str, value: String, reason: String },
    /// The database failed; `operation` says what was being done. The text holds the
    /// cause, which is therefore not also the `source()` (a chain printer would repeat it).
    #[error("trace storage failed while {operation}: {cause}")]
    Backend { operation: String, cause: Box<dyn std::error::Error + Send + Sync> },
}

/// Where the running server records trace events: it must never block nor fail the caller
/// (an SMTP session, the queue manager). An event it cannot take now is dropped and
/// counted, never waited for: the trace is an account of the mail, never a condition of it.
pub trait TraceSink: Send + Sync + fmt::Debug {
    fn record(&self, event: crate::TraceEvent);
}

/// Where the trace lives.
pub trait TraceStore {
    /// Records a batch in one transaction. Recipient events of a message the store does not
    /// hold (pruned, or recorded before the trace was on) are dropped; refusals add to their
    /// [`crate::RefusalKey`]'s row.
    fn record(&mut self, events: &[crate::TraceEvent]) -> Result<(), TraceError>;
    fn search(&self, query: &TraceQuery) -> Result<Page<MessageSummary>, TraceError>;
    /// One message by spool id, when `tenant` (if given) may see it.
    fn message(&self, id: &str, tenant: Option<&TenantId>) -> Result<Option<MessageTrace>, TraceError>;
    fn refusals(&self, query: &RefusalQuery) -> Result<Page<RefusalRow>, TraceError>;
    /// Whether `ip` sent anything (accepted or refused) that `tenant` may see since `since`.
    fn ip_seen_by(&self, ip: IpAddr, tenant: &TenantId, since_unix_ms: u64) -> Result<bool, TraceError>;
    /// Mail flow per bucket ([`FlowQuery::empty`] filled): messages by the time they were
    /// received, recipient steps by the time they happened, refusals by their minute.
    fn flow(&self, query: &FlowQuery) -> Result<Vec<FlowBucket>, TraceError>;
    /// The busiest client addresses (accepted messages plus refusals), at most the limit.
    fn clients(&self, query: &ClientQuery) -> Result<Vec<ClientActivity>, TraceError>;
    /// Drops what is older than the retention, then the oldest until under the size cap.
    fn prune(&mut self, retention: Retention, now_unix_ms: u64) -> Result<PruneReport, TraceError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use RecipientStatus::*;

    #[test]
    fn message_status_sums_up_recipients() {
        let cases: &[(&[RecipientStatus], MessageStatus)] = &[
            (&[], MessageStatus::Received),
            (&[Pending, Delivered], MessageStatus::Received),
            (&[Deferred, Delivered], MessageStatus::Deferred),
            (&[Delivered, Delivered], MessageStatus::Delivered),
            (&[Delivered, Bounced], MessageStatus::Failed),
            (&[Expired], MessageStatus::Failed),
        ];
        for (recipients, expected) in cases {
            assert_eq!(MessageStatus::of(recipients), *expected, "{recipients:?}");
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor { at: 17, id: 4 };
        assert_eq!(Cursor::decode(&c.encode()).ok(), Some(c));
        assert!(matches!(Cursor::decode("x.1"), Err(TraceError::Invalid { field: "cursor", .. })));
    }
}
