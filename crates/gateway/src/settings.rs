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

/// How long a client may take. Each is a deadline, not an idle timer that every byte
/// restarts: a client dripping one byte at a time still runs out of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Wait before the banner; a client that talks first is refused (pre-greet).
    pub greeting_delay: Duration,
    /// A whole command line, from when the server is ready for it to its line end (and
    /// writing a reply to a client that does not read).
    pub command: Duration,
    /// The command line deadline, and the longest wait for DATA content, while the server
    /// is under stress (near its connection cap), as Postfix's `smtpd_timeout` under stress.
    pub stress_command: Duration,
    /// Waiting for more message content during DATA.
    pub data_idle: Duration,
    /// The whole of one DATA transfer.
    pub data_total: Duration,
    /// The TLS handshake after `220 Ready to start TLS`.
    pub tls_handshake: Duration,
    /// A whole session; when it has passed, the next command gets `421 4.4.2`. A DATA
    /// transfer under way is let finish (it has its own deadline).
    pub session: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        // RFC 5321 4.5.3.2 minimums: 5 minutes for commands, 3 minutes per data block.
        Timeouts {
            greeting_delay: Duration::ZERO,
            command: Duration::from_secs(300),
            stress_command: Duration::from_secs(10),
            data_idle: Duration::from_secs(180),
            data_total: Duration::from_secs(600),
            tls_handshake: Duration::from_secs(10),
            session: Duration::from_secs(3600),
        }
    }
}

/// Caps on connections: all at once, from one client IP and from one client network, and
/// when the server counts as under stress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub connections_max: usize,
    pub connections_per_ip_max: usize,
    /// Connections from one network: an IPv4 address's /`ipv4_prefix_len`, an IPv6
    /// address's /`ipv6_prefix_len`. A prefix of the whole address (32, 128) is not counted
    /// apart from the per-IP cap.
    pub connections_per_network_max: usize,
    pub ipv4_prefix_len: u8,
    pub ipv6_prefix_len: u8,
    /// At this share of `connections_max` (percent) sessions get the stress timeouts and
    /// limits ([`Timeouts::stress_command`], `SessionConfig`'s stress limits).
    pub stress_connections_percent: u8,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            connections_max: 1000,
            connections_per_ip_max: 50,
            connections_per_network_max: 50,
            // One IPv6 /64 is one site (the throttle's key too); an IPv4 /24 holds many
            // unrelated senders, so IPv4 is counted per address unless configured.
            ipv4_prefix_len: 32,
            ipv6_prefix_len: 64,
            stress_connections_percent: 80,
        }
    }
}

/// How much memory DATA transfers may hold. A message larger than `transfer_bytes_max`
/// streams into the spool as it arrives; what every transfer holds together is bounded by
/// `total_bytes_max` (a DATA command that would pass it gets `452 4.3.1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataMemory {
    /// Content one transfer keeps in memory before it streams into the spool (less when
    /// the client declared a smaller SIZE).
    pub transfer_bytes_max: usize,
    /// What all transfers together may hold, each counted for its in-memory part plus its
    /// buffers (see `inbound::memory`).
    pub total_bytes_max: usize,
}

impl Default for DataMemory {
    fn default() -> Self {
        DataMemory { transfer_bytes_max: 256 << 10, total_bytes_max: 256 << 20 }
    }
}

/// What a reload may change.
#[derive(Clone, Debug)]
pub struct Settings {
    pub session: Arc<SessionConfig>,
    pub static_domains: Arc<StaticDomains>,
    pub limits: ConnectionLimits,
    pub timeouts: Timeouts,
    pub data_memory: DataMemory,
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
    /// Where the admin center serves help pages; bounces link to `<admin_url>/help/<code>`,
    /// or carry no link when there is none reachable from outside.
    pub admin_url: Option<String>,
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
            admin_url: None,
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
    /// Fleet mode: throttle history, outbound counters and DNSBL verdicts shared through
    /// Redis (`[throttle] redis_url`); `None`: this node decides on its own traffic.
    pub fleet: Option<crate::fleet::FleetConfig>,
    /// Sender authentication, the content scanner and the quarantine.
    pub screening: ScreeningConfig,
}

/// What the end of DATA checks before the `250` (see `inbound::screen`).
#[derive(Clone, Debug, PartialEq)]
pub struct ScreeningConfig {
    /// SPF, DKIM, ARC, DMARC and `Authentication-Results:`; `None`: off.
    pub auth: Option<crate::inbound::authenticate::AuthConfig>,
    /// rspamd; `None`: no content scanning.
    pub scanner: Option<crate::inbound::scanner::ScannerConfig>,
    /// What tenants want done with a finding: the deployment's policy and tenants' overrides.
    pub policy: verdict::Policies,
    /// Where held messages are kept.
    pub quarantine_dir: PathBuf,
    /// How long they are kept.
    pub quarantine_retention: Duration,
}

impl ScreeningConfig {
    /// Nothing checked; held messages (none) would go to `quarantine_dir`.
    pub fn off(quarantine_dir: PathBuf) -> ScreeningConfig {
        ScreeningConfig {
            auth: None,
            scanner: None,
            policy: verdict::Policies::default(),
            quarantine_dir,
            quarantine_retention: Duration::from_secs(15 * 86_400),
        }
    }
}
