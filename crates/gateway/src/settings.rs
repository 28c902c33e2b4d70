//! The gateway's resolved configuration. `Settings` is the part that can change while the
//! server runs (a reload swaps the whole snapshot; sessions keep the one they started with).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use smtp_wire::SessionConfig;

pub use crate::delivery::schedule::RetryTiming;
use crate::dns::dnsbl::Dnsbl;
use crate::domains::StaticDomains;
use crate::tls::{ClientCa, TlsSource};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Wait before the banner; a client that talks first is refused (pre-greet).
    pub greeting_delay: Duration,
    /// Waiting for a command line.
    pub command: Duration,
    /// Waiting for more message content during DATA.
    pub data_idle: Duration,
    /// The whole of one DATA transfer.
    pub data_total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        // RFC 5321 4.5.3.2 minimums: 5 minutes for commands, 3 minutes per data block.
        Timeouts {
            greeting_delay: Duration::ZERO,
            command: Duration::from_secs(300),
            data_idle: Duration::from_secs(180),
            data_total: Duration::from_secs(600),
        }
    }
}

/// Caps on connections: all at once, and from one client IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub connections_max: usize,
    pub connections_per_ip_max: usize,
}

/// What a reload may change.
#[derive(Clone, Debug)]
pub struct Settings {
    pub session: Arc<SessionConfig>,
    pub static_domains: Arc<StaticDomains>,
    pub limits: ConnectionLimits,
    pub timeouts: Timeouts,
    pub client_checks: ClientChecks,
    /// The PROXY protocol from trusted load balancers (`[smtp] proxy_protocol`); `None`: off.
    pub proxy: Option<Arc<crate::inbound::proxy::ProxyProtocol>>,
}

/// What the gateway learns about a client beyond its SMTP dialogue. Both are live objects
/// built from the config: a reload builds new ones (and starts an empty DNSBL cache).
#[derive(Clone, Debug, Default)]
pub struct ClientChecks {
    /// The bundle a client certificate must chain to for its names to identify a connector
    /// (`[tls] client_ca_file`); `None`: no certificate is trusted.
    pub client_ca: Option<Arc<ClientCa>>,
    /// DNS blocklists (`[reputation] dnsbl_zones`); `None`: none are asked.
    pub dnsbl: Option<Arc<Dnsbl>>,
}

/// Delivery: the queue manager, local Maildir folders and remote servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// `<maildir_root>/<domain>/<mailbox>/{tmp,new,cur}`.
    pub maildir_root: PathBuf,
    /// Delivery attempts running at once (Maildir batches and remote deliveries).
    pub concurrency: usize,
    /// Delivery attempts to one destination (one domain's MX hosts, one host list) at once.
    pub destination_concurrency: usize,
    pub retry: RetryTiming,
    /// How long a destination that asked Sluice to slow down (`421`, `4.7.x`) is left alone.
    pub destination_pause: Duration,
    /// Messages loaded for delivery at once; the others wait on disk.
    pub active_messages_max: usize,
    /// The port of MX hosts (25; tests point it elsewhere).
    pub mx_port: u16,
    /// A DNS server instead of the system's resolver (tests run one on loopback).
    pub dns_resolver: Option<SocketAddr>,
    /// Where the admin center serves help pages; bounces link to `<admin_url>/help/<code>`.
    pub admin_url: String,
    /// Extra CAs (PEM) trusted, besides the webpki roots, when outbound TLS verifies the
    /// server (verify-certificate, verify-domain); see `outbound::trust_roots`.
    pub tls_ca_file: Option<PathBuf>,
}

impl DeliveryConfig {
    /// The defaults for Maildir folders under `maildir_root`.
    pub fn new(maildir_root: PathBuf) -> DeliveryConfig {
        DeliveryConfig {
            maildir_root,
            concurrency: 32,
            destination_concurrency: 4,
            retry: RetryTiming {
                first: Duration::from_secs(300),
                max: Duration::from_secs(3600),
                max_age: Duration::from_secs(5 * 86_400),
                delay_notice: Some(Duration::from_secs(4 * 3600)),
            },
            destination_pause: Duration::from_secs(120),
            active_messages_max: 2000,
            mx_port: 25,
            dns_resolver: None,
            admin_url: "https://localhost".into(),
            tls_ca_file: None,
        }
    }
}

/// Whether throttling defers, or only says what it would defer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThrottleMode {
    /// Deferrals get `451 4.7.5xx`.
    #[default]
    Enforce,
    /// Everything is decided, recorded, counted and logged as if enforcing, but accepted: a
    /// new site runs this for weeks before enforcing.
    Observe,
}

impl std::fmt::Display for ThrottleMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ThrottleMode::Enforce => "enforce",
            ThrottleMode::Observe => "observe",
        })
    }
}

/// Adaptive IP throttling.
#[derive(Clone, Debug)]
pub struct ThrottleConfig {
    pub policy: throttle::Policy,
    /// Reloadable.
    pub mode: ThrottleMode,
    /// Where the history is saved (snapshot and deltas).
    pub history_dir: PathBuf,
    /// The operator allow list file.
    pub allow_file: PathBuf,
    /// How often changed history is saved.
    pub save_interval: Duration,
    /// A full snapshot replaces the deltas every this many saves.
    pub full_save_every: u32,
}

/// Everything the gateway needs to start.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    pub hostname: String,
    pub listen: Vec<SocketAddr>,
    pub spool_dir: PathBuf,
    /// `None`: STARTTLS is not offered.
    pub tls: Option<TlsSource>,
    /// CA bundle (PEM) for client certificates; `None`: none are asked for.
    pub tls_client_ca_file: Option<PathBuf>,
    pub settings: Settings,
    pub delivery: DeliveryConfig,
    /// How long SIGTERM waits for sessions and deliveries to finish.
    pub drain: Duration,
    /// `None`: no throttling.
    pub throttle: Option<ThrottleConfig>,
    /// The control socket for `sluice throttle show`; `None`: none.
    pub control_socket: Option<PathBuf>,
    /// Outbound protection of tenants' mail (needs the directory store); `None` turns it off.
    pub protection: Option<protection::Policy>,
}
