//! What the operations need from outside the databases, as traits the binary implements:
//! [`LiveState`] asks the running server (over its control socket) about throttling and
//! the queue; [`Network`] checks a domain's TXT record and probes an outbound connector;
//! [`MetricsSource`] renders the server's metrics for `GET /metrics`.
//! So the admin plane never depends on the gateway, and tests can stand in a real server.
//!
//! Both are blocking: the HTTP layer calls operations on a blocking thread.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why the running server could not answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    /// No server answers (not running, or another data directory).
    #[error("the running server does not answer: {0}")]
    NotRunning(String),
    /// The server answered with an error (throttling disabled, unknown message, ...).
    #[error("{0}")]
    Refused(String),
    /// The server answered something this program cannot read.
    #[error("unexpected answer from the server: {0}")]
    Garbled(String),
}

/// What the next recipient from an IP would get, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ThrottleView {
    #[schema(value_type = String)]
    pub ip: IpAddr,
    /// accept, defer, or bypass (a policy bypass range).
    pub verdict: String,
    /// On the operator allow list: never throttled.
    pub allow_listed: bool,
    /// The AS token a deferral would carry (`AS501`).
    pub token: Option<String>,
    pub reason: Option<String>,
    pub retry_after_s: Option<u32>,
    /// Attempted recipients per hour of the key that decides, its usual volume and its
    /// allowance now.
    pub observed_per_hour: Option<f32>,
    pub baseline_per_hour: Option<f32>,
    pub allowance_per_hour: Option<f32>,
    /// The whole explanation as `sluice throttle show` prints it, without the connectors
    /// (they are in `connectors`).
    pub explanation: String,
    /// enforce, or observe (decisions logged and counted, nothing deferred).
    #[serde(default)]
    pub mode: String,
    /// The operator allow-list entry holding the IP.
    #[serde(default)]
    pub allow_entry: Option<String>,
    /// Inbound connectors whose IP ranges hold the IP: mail through one to its tenant's
    /// recipients is never throttled. A tenant sees its own only.
    #[serde(default)]
    pub connectors: Vec<ConnectorCoverView>,
    /// The IP's own history and its network prefix's (absent from older servers).
    #[serde(default)]
    pub ip_state: Option<KeyStateView>,
    #[serde(default)]
    pub prefix_state: Option<KeyStateView>,
    /// Whether the prefix's allowance still applies to the IP (until it is established).
    #[serde(default)]
    pub prefix_applies: Option<bool>,
    /// How long a new sender is on probation (the policy's `probation_hours`).
    #[serde(default)]
    pub probation_hours: Option<u32>,
}

/// One throttle key (an IP, or its /24 or /64 prefix) as the engine sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyStateView {
    pub key: String,
    /// Whether the engine holds history for it (false: a newcomer).
    pub tracked: bool,
    /// Hours since first seen.
    pub age_hours: u32,
    /// Past probation with a real volume: judged on its own history only.
    pub established: bool,
    pub observed_per_hour: f32,
    pub baseline_per_hour: f32,
    pub allowance_per_hour: f32,
    /// Recipients that may be accepted right now.
    pub available_now: u32,
    pub accepted_this_hour: u32,
    /// Hours since it was last deferred by its own allowance.
    pub deferred_hours_ago: Option<u32>,
}

/// An inbound connector whose IP ranges hold a client IP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConnectorCoverView {
    pub tenant: String,
    pub name: String,
    /// partner or on-premises.
    pub kind: String,
    /// Its longest range holding the IP.
    pub range: String,
    /// In force (not while its tenant is suspended).
    pub trusted: bool,
    pub require_tls: bool,
    /// One line, as `sluice throttle show` prints it.
    pub description: String,
}

/// A client IP, or a network prefix whose own allowance was spent (AS503, AS505), deferred
/// recently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ThrottledIp {
    /// The client IP; for a prefix, the IP of its latest deferral.
    #[schema(value_type = String)]
    pub ip: IpAddr,
    /// Deferrals (and would-defers) in the last hour and the last day, whatever the window.
    pub deferred_last_hour: u64,
    pub deferred_last_day: u64,
    /// The token of its latest deferral.
    pub last_token: String,
    pub last_deferred_at_unix_s: u64,
    /// Whether its next recipient would be deferred now (by the prefix, for a prefix).
    pub throttled_now: bool,
    /// The IP, or the prefix (`203.0.113.0/24`).
    #[serde(default)]
    pub key: String,
    /// ip or prefix.
    #[serde(default)]
    pub kind: String,
    /// The window the counts below cover, in seconds.
    #[serde(default)]
    pub window_s: u64,
    /// Recipients deferred in the window, and per AS token.
    #[serde(default)]
    pub deferred: u64,
    #[serde(default)]
    pub deferred_by_token: BTreeMap<String, u64>,
    /// Observe mode: recipients accepted in the window that enforcing would have deferred.
    #[serde(default)]
    pub would_defer: u64,
    #[serde(default)]
    pub would_defer_by_token: BTreeMap<String, u64>,
}

/// A message in the running server's queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueueEntryView {
    pub id: String,
    /// waiting, ready, active or settling.
    pub state: String,
    pub received_at_unix_ms: u64,
    pub attempts: u32,
    pub next_attempt_unix_ms: Option<u64>,
    /// Recipients not yet delivered or bounced.
    pub pending: usize,
    pub sender: Option<String>,
    pub recipients: Vec<String>,
}

/// The running server's answers.
pub trait LiveState: Send + Sync {
    fn throttle_explain(&self, ip: IpAddr) -> Result<ThrottleView, LiveError>;
    /// IPs and prefixes deferred within the last `window_s` seconds (at most a day), most
    /// deferred in the window first.
    fn throttled(&self, window_s: u64) -> Result<Vec<ThrottledIp>, LiveError>;
    /// Decision counters (`name value` pairs, as Prometheus names them).
    fn throttle_counters(&self) -> Result<Vec<(String, u64)>, LiveError>;
    /// The queue, oldest first, at most `limit` messages; and the total.
    fn queue_list(&self, limit: usize) -> Result<(usize, Vec<QueueEntryView>), LiveError>;
    /// Makes every waiting message due now; how many there were.
    fn queue_flush(&self) -> Result<usize, LiveError>;
    /// Makes one waiting message due now.
    fn queue_retry(&self, id: &str) -> Result<(), LiveError>;
    /// Removes a queued message (only `recipients` of it, when some are named) through the
    /// queue manager, bouncing them to the sender first when `bounce`; answers once the
    /// removal is durable, with what was removed.
    fn queue_delete(&self, id: &str, recipients: &[String], bounce: bool) -> Result<String, LiveError>;
}

/// A message held in the quarantine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeldMessageView {
    pub id: String,
    pub held_at_unix_s: u64,
    /// When retention removes it.
    pub expires_at_unix_s: u64,
    /// The tenants of its held recipients.
    pub tenants: Vec<String>,
    pub sender: String,
    pub recipients: Vec<String>,
    pub client_ip: String,
    pub subject: String,
    pub size: u64,
    /// What the policy acted on.
    pub reasons: Vec<String>,
    /// held, releasing or released.
    pub state: String,
    pub released_by: Option<String>,
    pub released_at_unix_s: Option<u64>,
    /// The queue id of the released message.
    pub queue_id: Option<String>,
}

/// The quarantine in the data directory; a release goes through the running server (only
/// it writes to the spool).
pub trait QuarantineAccess: Send + Sync {
    fn list(&self) -> Result<Vec<HeldMessageView>, LiveError>;
    fn entry(&self, id: &str) -> Result<HeldMessageView, LiveError>;
    /// The message's headers and the start of its text.
    fn preview(&self, id: &str) -> Result<String, LiveError>;
    /// The message as held, its first `bytes_max` bytes.
    fn message(&self, id: &str, bytes_max: usize) -> Result<Vec<u8>, LiveError>;
    fn delete(&self, id: &str) -> Result<HeldMessageView, LiveError>;
    /// Delivers it to its held recipients, once; `by` is recorded with the release.
    fn release(&self, id: &str, by: &str) -> Result<HeldMessageView, LiveError>;
}

/// What a domain's TXT records showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxtCheck {
    /// The expected record is there.
    Found,
    /// No TXT records at all.
    NoRecords,
    /// TXT records, none the expected one (the `sluice-verification` ones are listed).
    Missing { found: Vec<String> },
}

/// One step of an outbound connector's validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProbeStepView {
    /// resolve, connect, banner, ehlo, starttls, mail, rcpt, data, quit.
    pub step: String,
    pub target: String,
    pub passed: bool,
    pub detail: String,
    /// The server's reply, when the step got one.
    pub reply: Option<String>,
    /// For a failed step: what to check.
    pub check: Option<String>,
}

/// What a probe needs to know about the connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeTarget {
    pub connector: directory::OutboundConnector,
    /// The test message's recipient; without one, no message is sent.
    pub to: Option<String>,
    pub from: Option<String>,
}

/// What a client certificate shows, for the validation of an inbound connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateCheck {
    /// Its subject CN and DNS names.
    pub names: Vec<String>,
    /// `None`: it chains to the configured client CA bundle and is valid now, so its names
    /// count; else why a session presenting it would be an ordinary client.
    pub untrusted: Option<String>,
}

/// DNS, outbound SMTP and the server's client CA, for domain verification and connector
/// validation.
pub trait Network: Send + Sync {
    fn check_txt(&self, domain: &str, token: &str) -> Result<TxtCheck, String>;
    fn probe(&self, target: &ProbeTarget) -> Result<Vec<ProbeStepView>, String>;
    /// Reads a client certificate (PEM: end entity first, then its chain) and judges it as
    /// the server would after STARTTLS. The error says what is wrong with the PEM.
    fn client_certificate(&self, pem: &str) -> Result<CertificateCheck, String> {
        let _ = pem;
        Err("this server has no client CA bundle to judge certificates by".into())
    }
}

/// The running server's metrics, rendered in the Prometheus text format for `GET /metrics`.
pub trait MetricsSource: Send + Sync {
    fn render(&self) -> String;
}

/// The throttle's operator allow list (networks never throttled nor counted), kept where
/// the running server re-reads it.
pub trait AllowList: Send + Sync {
    fn entries(&self) -> Result<Vec<(throttle::Cidr, String)>, String>;
    fn replace(&self, entries: &[(throttle::Cidr, String)]) -> Result<(), String>;
}
