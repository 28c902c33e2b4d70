//! The config file: a raw serde shape (every key optional, unknown keys refused) resolved
//! into the gateway's typed configuration, with errors that name the field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use directory::DomainName;
use gateway::dns::dnsbl::{Dnsbl, DnsblConfig};
use gateway::domains::StaticDomains;
use gateway::fleet::FleetConfig;
use gateway::settings::ClientChecks;
use gateway::tls::{ClientCa, TlsSource};
use gateway::{
    ConnectionLimits, DeliveryConfig, GatewayConfig, Settings, ThrottleConfig, ThrottleMode, Timeouts,
};
use serde::Deserialize;
use smtp_wire::{BareNewline, SessionConfig};

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    pub data_dir: Option<PathBuf>,
    pub hostname: Option<String>,
    pub smtp: RawSmtp,
    pub tls: RawTls,
    pub delivery: RawDelivery,
    pub dns: RawDns,
    pub protection: RawProtection,
    pub throttle: RawThrottle,
    pub log: RawLog,
    pub directory: RawDirectory,
    pub reputation: RawReputation,
    pub admin: RawAdmin,
    pub trace: RawTrace,
    pub store: RawStore,
    pub auth: crate::screening_config::RawAuth,
    pub scanner: crate::screening_config::RawScanner,
    pub quarantine: crate::screening_config::RawQuarantine,
    /// What is done with a DMARC failure, a spoofed own domain or spam, with tenants'
    /// overrides under `[policy.tenants.<id>]`.
    pub policy: crate::screening_config::RawPolicy,
}

/// `[store]`: where the directory, admin records and trace are kept.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawStore {
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`: one database for a fleet. Absent:
    /// SQLite files in `data_dir`.
    pub url: Option<String>,
    /// CA certificates (PEM) that may sign the PostgreSQL server's certificate, besides
    /// the public roots.
    pub ca_file: Option<PathBuf>,
    /// Apply missing schema migrations when starting; `false`: refuse to start on an older
    /// schema until `sluice migrate` has run (a fleet upgraded node by node).
    pub migrate_at_start: bool,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore { url: None, ca_file: None, migrate_at_start: true }
    }
}

fn resolve_store(
    raw: &RawStore,
    base: Option<&Path>,
    data_dir: &Path,
) -> Result<store::StoreConfig, ConfigError> {
    let migrate = if raw.migrate_at_start { store::Migrate::Apply } else { store::Migrate::Check };
    let location = match (&raw.url, &raw.ca_file) {
        (None, None) => store::Location::Embedded { data_dir: data_dir.to_path_buf() },
        (None, Some(_)) => return Err(invalid("store.ca_file", "is used only with store.url")),
        (Some(url), ca_file) => {
            let ca_file = ca_file.as_deref().map(|p| resolve_path(base, p));
            let target = store::PgTarget::parse(url, ca_file.as_deref()).map_err(|e| {
                let field = if e.to_string().contains("CA file") { "store.ca_file" } else { "store.url" };
                invalid(field, e.to_string())
            })?;
            store::Location::Postgres(Box::new(target))
        }
    };
    Ok(store::StoreConfig { location, migrate })
}

/// `[admin]`: the HTTP listener of the admin API and help pages.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAdmin {
    pub enabled: bool,
    pub listen: String,
    /// Serve HTTPS: with `cert_file`/`key_file`, else with the SMTP certificate.
    pub tls: bool,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Trace searches per token and minute (a burst of as many).
    pub trace_searches_per_minute: u32,
}

impl Default for RawAdmin {
    fn default() -> Self {
        RawAdmin {
            enabled: true,
            listen: "127.0.0.1:8025".into(),
            tls: false,
            cert_file: None,
            key_file: None,
            trace_searches_per_minute: 20,
        }
    }
}

/// `[trace]`: the message trace store (`<data_dir>/trace.db`).
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTrace {
    pub enabled: bool,
    pub retention_days: u64,
    /// Oldest rows are pruned first beyond this size.
    pub max_mb: u64,
}

impl Default for RawTrace {
    fn default() -> Self {
        RawTrace { enabled: true, retention_days: 10, max_mb: 2048 }
    }
}

/// The admin listener, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub tls: Option<TlsSource>,
    pub trace_limit: admin::http::RateLimit,
}

/// The trace store, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceConfig {
    pub db: PathBuf,
    pub retention: trace::Retention,
}

fn resolve_admin(
    raw: &RawConfig,
    base: Option<&Path>,
    smtp_tls: Option<&TlsSource>,
) -> Result<Option<AdminConfig>, ConfigError> {
    let a = &raw.admin;
    if !a.enabled {
        return Ok(None);
    }
    let listen = a.listen.parse::<SocketAddr>().map_err(|_| {
        invalid("admin.listen", format!("{:?} is not an address:port, e.g. 127.0.0.1:8025", a.listen))
    })?;
    let tls = match (a.tls, &a.cert_file, &a.key_file) {
        (false, None, None) => None,
        (false, _, _) => {
            return Err(invalid("admin.tls", "cert_file and key_file are used only with tls = true"));
        }
        (true, Some(cert), Some(key)) => {
            Some(TlsSource::Files { cert_file: resolve_path(base, cert), key_file: resolve_path(base, key) })
        }
        (true, None, None) => match smtp_tls {
            Some(source) => Some(source.clone()),
            None => {
                return Err(invalid("admin.cert_file", "needed for admin.tls = true when [tls] is disabled"));
            }
        },
        (true, Some(_), None) => return Err(invalid("admin.key_file", "needed when admin.cert_file is set")),
        (true, None, Some(_)) => return Err(invalid("admin.cert_file", "needed when admin.key_file is set")),
    };
    let per_minute = a.trace_searches_per_minute;
    if per_minute == 0 {
        return Err(invalid("admin.trace_searches_per_minute", "must be at least 1"));
    }
    let trace_limit = admin::http::RateLimit {
        burst: per_minute,
        every: Duration::from_secs_f64(60.0 / f64::from(per_minute)),
    };
    Ok(Some(AdminConfig { listen, tls, trace_limit }))
}

fn resolve_trace(raw: &RawTrace, data_dir: &Path) -> Result<Option<TraceConfig>, ConfigError> {
    if !raw.enabled {
        return Ok(None);
    }
    if raw.retention_days == 0 {
        return Err(invalid("trace.retention_days", "must be at least 1"));
    }
    if raw.max_mb == 0 {
        return Err(invalid("trace.max_mb", "must be at least 1"));
    }
    Ok(Some(TraceConfig {
        db: data_dir.join("trace.db"),
        retention: trace::Retention {
            max_age_s: raw.retention_days.saturating_mul(86_400),
            max_bytes: raw.max_mb.saturating_mul(1 << 20),
        },
    }))
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDirectory {
    /// Every tenant gets `<tenant>.<service_domain>` when it is added.
    pub service_domain: String,
}

impl Default for RawDirectory {
    fn default() -> Self {
        RawDirectory { service_domain: "sluice.test".into() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawReputation {
    /// DNS blocklist zones asked about every client (RFC 5782), e.g. `zen.spamhaus.org`.
    pub dnsbl_zones: Vec<String>,
    /// Per DNSBL query; a list that does not answer in time counts as "not listed".
    pub dnsbl_timeout_ms: u64,
}

impl Default for RawReputation {
    fn default() -> Self {
        RawReputation { dnsbl_zones: Vec::new(), dnsbl_timeout_ms: 2000 }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawThrottle {
    pub enabled: bool,
    /// "enforce" (defer) or "observe" (decide, log and count, but accept). Reloadable.
    pub mode: String,
    /// How often changed throttle history is saved.
    pub save_interval_s: u64,
    /// A full snapshot every this many saves (deltas in between).
    pub full_save_every: u32,
    /// The engine's policy; see the throttle crate for every field and its default.
    pub policy: throttle::Policy,
    /// Fleet mode: `redis://host:port[/db]` (or `rediss://`) shared by every node.
    pub redis_url: Option<String>,
    /// How often a node publishes its counts and reads the others' (fleet mode).
    pub exchange_interval_ms: u64,
    /// How long Redis keeps a key's shared record after its last update (fleet mode).
    pub redis_history_ttl_days: u64,
}

impl Default for RawThrottle {
    fn default() -> Self {
        RawThrottle {
            enabled: true,
            mode: "enforce".into(),
            save_interval_s: 60,
            full_save_every: 60,
            policy: throttle::Policy::default(),
            redis_url: None,
            exchange_interval_ms: 250,
            redis_history_ttl_days: 30,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSmtp {
    pub listen: Vec<String>,
    pub greeting_delay_ms: u64,
    pub command_line_bytes_max: usize,
    pub message_bytes_max: usize,
    pub recipients_per_message_max: usize,
    pub errors_per_session_max: u32,
    pub junk_commands_max: u32,
    /// `errors_per_session_max` and `junk_commands_max` under stress.
    pub stress_errors_per_session_max: u32,
    pub stress_junk_commands_max: u32,
    pub connections_max: usize,
    pub connections_per_ip_max: usize,
    /// Connections from one network (IPv4 /`ipv4_prefix_len`, IPv6 /`ipv6_prefix_len`).
    pub connections_per_network_max: usize,
    pub ipv4_prefix_len: u8,
    pub ipv6_prefix_len: u8,
    /// At this share of `connections_max` (percent), sessions get the stress limits.
    pub stress_connections_percent: u8,
    pub command_timeout_s: u64,
    /// The command line deadline and longest DATA pause under stress.
    pub stress_command_timeout_s: u64,
    pub data_idle_timeout_s: u64,
    pub data_total_timeout_s: u64,
    pub tls_handshake_timeout_s: u64,
    pub session_timeout_s: u64,
    /// A message larger than this streams into the spool as it arrives.
    pub data_memory_bytes_max: usize,
    /// What all DATA transfers together may hold in memory; more gets 452 4.3.1.
    pub data_memory_total_bytes_max: usize,
    pub shutdown_drain_s: u64,
    /// `reject` (refuse a message with a bare CR or LF) or `normalize` (store CRLF instead).
    pub bare_newline: String,
    /// Connections from `proxy_trusted` start with a PROXY protocol header (v1 or v2).
    pub proxy_protocol: bool,
    /// The load balancers (CIDRs) whose connections must carry a PROXY header.
    pub proxy_trusted: Vec<String>,
    /// How long a trusted connection may take to send its header.
    pub proxy_header_timeout_s: u64,
}

impl Default for RawSmtp {
    fn default() -> Self {
        let session = SessionConfig::default();
        let timeouts = Timeouts::default();
        let limits = ConnectionLimits::default();
        let memory = gateway::DataMemory::default();
        RawSmtp {
            listen: vec!["127.0.0.1:2525".into()],
            greeting_delay_ms: 0,
            command_line_bytes_max: session.command_line_bytes_max,
            message_bytes_max: session.message_bytes_max,
            recipients_per_message_max: session.recipients_per_message_max,
            errors_per_session_max: session.errors_per_session_max,
            junk_commands_max: session.junk_commands_max,
            stress_errors_per_session_max: session.stress_errors_per_session_max,
            stress_junk_commands_max: session.stress_junk_commands_max,
            connections_max: limits.connections_max,
            connections_per_ip_max: limits.connections_per_ip_max,
            connections_per_network_max: limits.connections_per_network_max,
            ipv4_prefix_len: limits.ipv4_prefix_len,
            ipv6_prefix_len: limits.ipv6_prefix_len,
            stress_connections_percent: limits.stress_connections_percent,
            command_timeout_s: timeouts.command.as_secs(),
            stress_command_timeout_s: timeouts.stress_command.as_secs(),
            data_idle_timeout_s: timeouts.data_idle.as_secs(),
            data_total_timeout_s: timeouts.data_total.as_secs(),
            tls_handshake_timeout_s: timeouts.tls_handshake.as_secs(),
            session_timeout_s: timeouts.session.as_secs(),
            data_memory_bytes_max: memory.transfer_bytes_max,
            data_memory_total_bytes_max: memory.total_bytes_max,
            shutdown_drain_s: 30,
            bare_newline: "reject".into(),
            proxy_protocol: false,
            proxy_trusted: Vec::new(),
            proxy_header_timeout_s: 5,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTls {
    /// `false` turns STARTTLS off.
    pub enabled: bool,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// PEM bundle of CAs for client certificates (certificate-recognised connectors).
    pub client_ca_file: Option<PathBuf>,
}

impl Default for RawTls {
    fn default() -> Self {
        RawTls { enabled: true, cert_file: None, key_file: None, client_ca_file: None }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDelivery {
    pub accepted_domains: Vec<String>,
    pub maildir_root: Option<PathBuf>,
    pub concurrency: usize,
    pub destination_concurrency: usize,
    pub retry_first_s: u64,
    pub retry_max_s: u64,
    /// Undelivered mail is bounced this long after it arrived.
    pub max_age_s: u64,
    /// The sender is told about a delay this long after arrival; 0 turns it off.
    pub delay_notice_s: u64,
    pub destination_pause_s: u64,
    pub active_messages_max: usize,
    pub mx_port: u16,
    /// Where bounces link help pages; when not set, the admin listener's address if it
    /// listens beyond this machine, else no link (`""`: never a link).
    pub admin_url: Option<String>,
    /// Extra CAs (PEM) to trust when outbound TLS verifies servers (verify-certificate,
    /// verify-domain), besides the public webpki roots: e.g. a partner's private CA.
    pub tls_ca_file: Option<PathBuf>,
}

impl Default for RawDelivery {
    fn default() -> Self {
        let defaults = DeliveryConfig::new(PathBuf::new());
        RawDelivery {
            accepted_domains: vec!["example.test".into()],
            maildir_root: None,
            concurrency: defaults.concurrency,
            destination_concurrency: defaults.destination_concurrency,
            retry_first_s: defaults.retry.first.as_secs(),
            retry_max_s: defaults.retry.max.as_secs(),
            max_age_s: defaults.retry.max_age.as_secs(),
            delay_notice_s: defaults.retry.delay_notice.map_or(0, |d| d.as_secs()),
            destination_pause_s: defaults.destination_pause.as_secs(),
            active_messages_max: defaults.active_messages_max,
            mx_port: defaults.mx_port,
            admin_url: None,
            tls_ca_file: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawProtection {
    pub enabled: bool,
    /// The limits and thresholds; see the protection crate for every field and its default.
    pub policy: protection::Policy,
}

impl Default for RawProtection {
    fn default() -> Self {
        RawProtection { enabled: true, policy: protection::Policy::default() }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDns {
    /// `ADDR:PORT` of a DNS server to use instead of the system's resolver.
    pub resolver: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLog {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `gateway=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog { format: "text".into(), level: "info".into() }
    }
}

/// A config problem, naming the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field: field.into(), message: message.into() }
}

/// The resolved configuration of the whole program.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where Sluice keeps its state (spool, directory, history, generated certificate).
    pub data_dir: PathBuf,
    pub gateway: GatewayConfig,
    pub log_format: LogFormat,
    pub log_level: String,
    /// The deployment's service domain (`[directory] service_domain`).
    pub service_domain: DomainName,
    /// `[dns] resolver`: `None` is the system's resolver.
    pub resolver: Option<SocketAddr>,
    /// `None` when `[admin] enabled = false`.
    pub admin: Option<AdminConfig>,
    /// `None` when `[trace] enabled = false`.
    pub trace: Option<TraceConfig>,
    /// `[store]`: the embedded files or the fleet's PostgreSQL.
    pub store: store::StoreConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let raw = match path {
        None => RawConfig::default(),
        Some(path) => parse(path)?,
    };
    resolve(raw, path.and_then(Path::parent))
}

pub fn parse(path: &Path) -> Result<RawConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| ConfigError::Read { path: path.to_path_buf(), error })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_path_buf(), message: e.to_string() })
}

/// Relative paths in a config file are relative to the file's folder.
fn resolve_path(base: Option<&Path>, p: &Path) -> PathBuf {
    match base {
        Some(base) if p.is_relative() && !base.as_os_str().is_empty() => base.join(p),
        _ => p.to_path_buf(),
    }
}

pub fn resolve(raw: RawConfig, base: Option<&Path>) -> Result<Config, ConfigError> {
    let data_dir =
        resolve_path(base, &raw.data_dir.clone().unwrap_or_else(|| PathBuf::from("./sluice-data")));
    let hostname = match raw.hostname.clone() {
        Some(h) => validate_domain("hostname", &h)?,
        None => system_hostname(),
    };
    let listen = raw
        .smtp
        .listen
        .iter()
        .enumerate()
        .map(|(i, a)| {
            a.parse::<SocketAddr>()
                .map_err(|_| invalid(format!("smtp.listen[{i}]"), format!("{a:?} is not an address:port")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if listen.is_empty() {
        return Err(invalid("smtp.listen", "at least one address:port is needed"));
    }
    let tls = resolve_tls(&raw.tls, base, &data_dir, &hostname)?;
    let settings = resolve_settings(&raw, &hostname, base)?;
    let service_domain = DomainName::parse("directory.service_domain", &raw.directory.service_domain)
        .map_err(|e| invalid("directory.service_domain", directory_reason(e)))?;
    let admin = resolve_admin(&raw, base, tls.as_ref())?;
    let delivery = resolve_delivery(&raw, base, &data_dir, &hostname, admin.as_ref())?;
    let log_format = match raw.log.format.as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => return Err(invalid("log.format", format!("{other:?} is not \"text\" or \"json\""))),
    };
    let throttle = resolve_throttle(&raw.throttle, &data_dir)?;
    let fleet = resolve_fleet(&raw.throttle, &hostname)?;
    let trace = resolve_trace(&raw.trace, &data_dir)?;
    let store = resolve_store(&raw.store, base, &data_dir)?;
    let gateway = GatewayConfig {
        tls_client_ca_file: raw.tls.client_ca_file.as_deref().map(|p| resolve_path(base, p)),
        throttle,
        control_socket: Some(data_dir.join("control.sock")),
        protection: resolve_protection(&raw.protection)?,
        fleet,
        hostname,
        listen,
        spool_dir: data_dir.join("spool"),
        tls,
        settings,
        delivery,
        drain: Duration::from_secs(raw.smtp.shutdown_drain_s),
        screening: crate::screening_config::resolve(
            &raw.auth,
            &raw.scanner,
            &raw.quarantine,
            &raw.policy,
            &data_dir,
        )?,
    };
    let resolver = resolve_resolver(&raw.dns)?;
    Ok(Config {
        gateway,
        log_format,
        log_level: raw.log.level,
        service_domain,
        resolver,
        data_dir,
        admin,
        trace,
        store,
    })
}

/// The directory's own reason, without its field name (the config's field is named instead).
fn directory_reason(e: directory::DirectoryError) -> String {
    match e {
        directory::DirectoryError::Invalid { value, reason, .. } => format!("{value:?}: {reason}"),
        other => other.to_string(),
    }
}

fn resolve_resolver(raw: &RawDns) -> Result<Option<SocketAddr>, ConfigError> {
    raw.resolver
        .as_deref()
        .map(|r| {
            r.parse().map_err(|_| {
                invalid("dns.resolver", format!("{r:?} is not ADDR:PORT, e.g. 127.0.0.1:53 or [::1]:53"))
            })
        })
        .transpose()
}

/// `[reputation]` DNSBL zones, validated as domain names; `None` when there are none.
fn resolve_dnsbl(raw: &RawConfig) -> Result<Option<Arc<Dnsbl>>, ConfigError> {
    let rep = &raw.reputation;
    if rep.dnsbl_zones.is_empty() {
        return Ok(None);
    }
    let zones = rep
        .dnsbl_zones
        .iter()
        .enumerate()
        .map(|(i, zone)| {
            DomainName::parse("zone", zone)
                .map(String::from)
                .map_err(|e| invalid(format!("reputation.dnsbl_zones[{i}]"), directory_reason(e)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let timeout_ms = positive("reputation.dnsbl_timeout_ms", rep.dnsbl_timeout_ms as usize)?;
    let config = DnsblConfig {
        zones,
        timeout: Duration::from_millis(timeout_ms as u64),
        resolver: resolve_resolver(&raw.dns)?,
    };
    let dnsbl = Dnsbl::new(config).map_err(|e| invalid("dns.resolver", e.to_string()))?;
    Ok(Some(Arc::new(dnsbl)))
}

/// `[tls] client_ca_file`, loaded now so that a bad bundle is reported naming the field.
fn resolve_client_ca(raw: &RawTls, base: Option<&Path>) -> Result<Option<Arc<ClientCa>>, ConfigError> {
    let Some(path) = raw.client_ca_file.as_deref().filter(|_| raw.enabled) else { return Ok(None) };
    let ca = ClientCa::load(&resolve_path(base, path)).map_err(|e| {
        let remedy = "give a PEM bundle of the CA certificates that issue partners' client certificates";
        invalid("tls.client_ca_file", format!("{e}; {remedy}"))
    })?;
    Ok(Some(Arc::new(ca)))
}

fn resolve_delivery(
    raw: &RawConfig,
    base: Option<&Path>,
    data_dir: &Path,
    hostname: &str,
    admin: Option<&AdminConfig>,
) -> Result<DeliveryConfig, ConfigError> {
    let d = &raw.delivery;
    let seconds = |field: &str, value: u64| -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(positive(field, usize::try_from(value).unwrap_or(usize::MAX))? as u64))
    };
    let retry_first = seconds("delivery.retry_first_s", d.retry_first_s)?;
    let max_age = seconds("delivery.max_age_s", d.max_age_s)?;
    let dns_resolver = resolve_resolver(&raw.dns)?;
    let admin_url = resolve_admin_url(d.admin_url.as_deref(), admin, hostname)?;
    Ok(DeliveryConfig {
        maildir_root: d
            .maildir_root
            .as_deref()
            .map_or_else(|| data_dir.join("mail"), |p| resolve_path(base, p)),
        concurrency: positive("delivery.concurrency", d.concurrency)?,
        destination_concurrency: positive("delivery.destination_concurrency", d.destination_concurrency)?,
        retry: gateway::RetryTiming {
            first: retry_first,
            max: Duration::from_secs(d.retry_max_s).max(retry_first),
            max_age,
            delay_notice: (d.delay_notice_s > 0).then(|| Duration::from_secs(d.delay_notice_s)),
        },
        destination_pause: Duration::from_secs(d.destination_pause_s),
        active_messages_max: positive("delivery.active_messages_max", d.active_messages_max)?,
        tls_ca_file: d.tls_ca_file.as_deref().map(|p| resolve_path(base, p)),
        mx_port: match d.mx_port {
            0 => return Err(invalid("delivery.mx_port", "must be 1 to 65535")),
            port => port,
        },
        dns_resolver,
        admin_url,
    })
}

/// Where bounces link help pages: `[delivery] admin_url` when set (`""`: nowhere), else the
/// admin listener's address when it listens beyond this machine (on every address: by the
/// hostname; on one address: by that address), else nowhere, since a link to a loopback
/// listener would reach no reader of a bounce.
fn resolve_admin_url(
    explicit: Option<&str>,
    admin: Option<&AdminConfig>,
    hostname: &str,
) -> Result<Option<String>, ConfigError> {
    let url = match (explicit, admin) {
        (Some(""), _) => return Ok(None),
        (Some(url), _) => url.to_string(),
        (None, Some(admin)) if !admin.listen.ip().is_loopback() => {
            let scheme = if admin.tls.is_some() { "https" } else { "http" };
            let host = match admin.listen.ip() {
                ip if ip.is_unspecified() => hostname.to_string(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            };
            match (scheme, admin.listen.port()) {
                ("https", 443) | ("http", 80) => format!("{scheme}://{host}"),
                (_, port) => format!("{scheme}://{host}:{port}"),
            }
        }
        (None, _) => return Ok(None),
    };
    if !(url.starts_with("https://") || url.starts_with("http://"))
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid("delivery.admin_url", format!("{url:?} is not an http(s) URL")));
    }
    Ok(Some(url.trim_end_matches('/').to_string()))
}

fn resolve_protection(raw: &RawProtection) -> Result<Option<protection::Policy>, ConfigError> {
    if !raw.enabled {
        return Ok(None);
    }
    raw.policy.validate().map_err(|e| invalid(format!("protection.policy.{}", e.field), e.to_string()))?;
    Ok(Some(raw.policy.clone()))
}

fn resolve_throttle(raw: &RawThrottle, data_dir: &Path) -> Result<Option<ThrottleConfig>, ConfigError> {
    if !raw.enabled {
        return Ok(None);
    }
    raw.policy.validate().map_err(|e| invalid(format!("throttle.policy.{}", e.field), e.to_string()))?;
    Ok(Some(ThrottleConfig {
        policy: raw.policy.clone(),
        mode: resolve_throttle_mode(&raw.mode)?,
        history_dir: data_dir.join("throttle"),
        allow_file: gateway::allow_list::path_in(data_dir),
        save_interval: Duration::from_secs(
            positive("throttle.save_interval_s", raw.save_interval_s as usize)? as u64,
        ),
        full_save_every: positive("throttle.full_save_every", raw.full_save_every as usize)? as u32,
    }))
}

fn resolve_fleet(raw: &RawThrottle, hostname: &str) -> Result<Option<FleetConfig>, ConfigError> {
    let Some(url) = &raw.redis_url else { return Ok(None) };
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) || redis_url_host(url).is_empty() {
        return Err(invalid(
            "throttle.redis_url",
            format!("{:?} is not a Redis URL; expected redis://host:port[/db] or rediss://...", redact(url)),
        ));
    }
    let interval = at_least("throttle.exchange_interval_ms", raw.exchange_interval_ms as usize, 10)?;
    if interval > 2_000 {
        return Err(invalid(
            "throttle.exchange_interval_ms",
            "at most 2000: nodes would decide on counts more than a few seconds old",
        ));
    }
    let days = positive("throttle.redis_history_ttl_days", raw.redis_history_ttl_days as usize)? as u64;
    let mut fleet = FleetConfig::new(url.clone(), gateway::fleet::node_name(hostname));
    fleet.exchange_interval = Duration::from_millis(interval as u64);
    fleet.history_ttl = Duration::from_secs(days * 86_400);
    Ok(Some(fleet))
}

/// The host part of a `redis://[user:password@]host...` URL.
fn redis_url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or("")
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match url.split_once("://").and_then(|(scheme, rest)| Some((scheme, rest.rsplit_once('@')?))) {
        Some((scheme, (_, host))) => format!("{scheme}://***@{host}"),
        None => url.to_string(),
    }
}

fn resolve_tls(
    raw: &RawTls,
    base: Option<&Path>,
    data_dir: &Path,
    hostname: &str,
) -> Result<Option<TlsSource>, ConfigError> {
    if !raw.enabled {
        return Ok(None);
    }
    match (&raw.cert_file, &raw.key_file) {
        (Some(cert), Some(key)) => Ok(Some(TlsSource::Files {
            cert_file: resolve_path(base, cert),
            key_file: resolve_path(base, key),
        })),
        (None, None) => {
            Ok(Some(TlsSource::SelfSigned { dir: data_dir.join("tls"), hostname: hostname.to_string() }))
        }
        (Some(_), None) => Err(invalid("tls.key_file", "needed when tls.cert_file is set")),
        (None, Some(_)) => Err(invalid("tls.cert_file", "needed when tls.key_file is set")),
    }
}

/// The reloadable part.
pub fn resolve_settings(
    raw: &RawConfig,
    hostname: &str,
    base: Option<&Path>,
) -> Result<Settings, ConfigError> {
    let smtp = &raw.smtp;
    let session = SessionConfig {
        hostname: hostname.to_string(),
        message_bytes_max: positive("smtp.message_bytes_max", smtp.message_bytes_max)?,
        recipients_per_message_max: positive(
            "smtp.recipients_per_message_max",
            smtp.recipients_per_message_max,
        )?,
        command_line_bytes_max: at_least("smtp.command_line_bytes_max", smtp.command_line_bytes_max, 512)?,
        errors_per_session_max: positive("smtp.errors_per_session_max", smtp.errors_per_session_max as usize)?
            as u32,
        junk_commands_max: positive("smtp.junk_commands_max", smtp.junk_commands_max as usize)? as u32,
        stress_errors_per_session_max: positive(
            "smtp.stress_errors_per_session_max",
            smtp.stress_errors_per_session_max as usize,
        )? as u32,
        stress_junk_commands_max: positive(
            "smtp.stress_junk_commands_max",
            smtp.stress_junk_commands_max as usize,
        )? as u32,
        starttls: raw.tls.enabled,
        bare_newline: resolve_bare_newline(&smtp.bare_newline)?,
        ..SessionConfig::default()
    };
    let domains = raw
        .delivery
        .accepted_domains
        .iter()
        .enumerate()
        .map(|(i, d)| validate_domain(&format!("delivery.accepted_domains[{i}]"), d))
        .collect::<Result<Vec<_>, _>>()?;
    let limits = resolve_limits(smtp)?;
    let seconds = |field: &str, value: u64| -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(positive(field, usize::try_from(value).unwrap_or(usize::MAX))? as u64))
    };
    let timeouts = Timeouts {
        greeting_delay: Duration::from_millis(smtp.greeting_delay_ms),
        command: seconds("smtp.command_timeout_s", smtp.command_timeout_s)?,
        stress_command: seconds("smtp.stress_command_timeout_s", smtp.stress_command_timeout_s)?,
        data_idle: seconds("smtp.data_idle_timeout_s", smtp.data_idle_timeout_s)?,
        data_total: seconds("smtp.data_total_timeout_s", smtp.data_total_timeout_s)?,
        tls_handshake: seconds("smtp.tls_handshake_timeout_s", smtp.tls_handshake_timeout_s)?,
        session: seconds("smtp.session_timeout_s", smtp.session_timeout_s)?,
    };
    let data_memory = resolve_data_memory(smtp)?;
    Ok(Settings {
        session: Arc::new(session),
        static_domains: Arc::new(StaticDomains::new(&domains)),
        limits,
        timeouts,
        data_memory,
        client_checks: ClientChecks {
            client_ca: resolve_client_ca(&raw.tls, base)?,
            dnsbl: resolve_dnsbl(raw)?,
        },
        proxy: resolve_proxy(smtp)?.map(Arc::new),
    })
}

fn resolve_proxy(smtp: &RawSmtp) -> Result<Option<gateway::inbound::proxy::ProxyProtocol>, ConfigError> {
    if !smtp.proxy_protocol {
        if !smtp.proxy_trusted.is_empty() {
            return Err(invalid("smtp.proxy_trusted", "is used only with smtp.proxy_protocol = true"));
        }
        return Ok(None);
    }
    if smtp.proxy_trusted.is_empty() {
        return Err(invalid(
            "smtp.proxy_trusted",
            "list the load balancers' addresses (e.g. [\"10.0.0.5/32\"]) when smtp.proxy_protocol = true",
        ));
    }
    let trusted = smtp
        .proxy_trusted
        .iter()
        .enumerate()
        .map(|(i, c)| {
            directory::Cidr::parse("smtp.proxy_trusted", c)
                .map_err(|e| invalid(format!("smtp.proxy_trusted[{i}]"), directory_reason(e)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let timeout = positive("smtp.proxy_header_timeout_s", smtp.proxy_header_timeout_s as usize)? as u64;
    Ok(Some(gateway::inbound::proxy::ProxyProtocol {
        trusted,
        header_timeout: Duration::from_secs(timeout),
        v2_bytes_max: smtp_wire::proxy::V2_BYTES_MAX_DEFAULT,
    }))
}

fn resolve_throttle_mode(value: &str) -> Result<ThrottleMode, ConfigError> {
    match value {
        "enforce" => Ok(ThrottleMode::Enforce),
        "observe" => Ok(ThrottleMode::Observe),
        other => Err(invalid(
            "throttle.mode",
            format!(
                "{other:?} is not \"enforce\" (defer) or \"observe\" (log what would be deferred, accept it)"
            ),
        )),
    }
}

/// The memory of DATA transfers: the budget must hold at least one transfer.
fn resolve_data_memory(smtp: &RawSmtp) -> Result<gateway::DataMemory, ConfigError> {
    let transfer = at_least("smtp.data_memory_bytes_max", smtp.data_memory_bytes_max, 64 << 10)?;
    let total = smtp.data_memory_total_bytes_max;
    let one_transfer = transfer + (144 << 10);
    if total < one_transfer {
        return Err(invalid(
            "smtp.data_memory_total_bytes_max",
            format!(
                "must hold at least one transfer (data_memory_bytes_max + 144 KiB of buffers = {one_transfer}), got {total}"
            ),
        ));
    }
    Ok(gateway::DataMemory { transfer_bytes_max: transfer, total_bytes_max: total })
}

fn resolve_limits(smtp: &RawSmtp) -> Result<ConnectionLimits, ConfigError> {
    let prefix = |field: &str, value: u8, max: u8| {
        if value == 0 || value > max {
            Err(invalid(field, format!("must be 1 to {max}, got {value}")))
        } else {
            Ok(value)
        }
    };
    let percent = smtp.stress_connections_percent;
    if percent == 0 || percent > 100 {
        return Err(invalid("smtp.stress_connections_percent", format!("must be 1 to 100, got {percent}")));
    }
    Ok(ConnectionLimits {
        connections_max: positive("smtp.connections_max", smtp.connections_max)?,
        connections_per_ip_max: positive("smtp.connections_per_ip_max", smtp.connections_per_ip_max)?,
        connections_per_network_max: positive(
            "smtp.connections_per_network_max",
            smtp.connections_per_network_max,
        )?,
        ipv4_prefix_len: prefix("smtp.ipv4_prefix_len", smtp.ipv4_prefix_len, 32)?,
        ipv6_prefix_len: prefix("smtp.ipv6_prefix_len", smtp.ipv6_prefix_len, 128)?,
        stress_connections_percent: percent,
    })
}

fn resolve_bare_newline(value: &str) -> Result<BareNewline, ConfigError> {
    match value {
        "reject" => Ok(BareNewline::Reject),
        "normalize" => Ok(BareNewline::Normalize),
        other => Err(invalid("smtp.bare_newline", format!("{other:?} is not \"reject\" or \"normalize\""))),
    }
}

fn positive(field: &str, value: usize) -> Result<usize, ConfigError> {
    at_least(field, value, 1)
}

fn at_least(field: &str, value: usize, min: usize) -> Result<usize, ConfigError> {
    if value < min { Err(invalid(field, format!("must be at least {min}, got {value}"))) } else { Ok(value) }
}

fn validate_domain(field: &str, domain: &str) -> Result<String, ConfigError> {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(d)
    } else {
        Err(invalid(field, format!("{domain:?} is not a valid domain name (use A-labels for IDNs)")))
    }
}

fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| validate_domain("hostname", h).is_ok())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_str(text: &str) -> Result<Config, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        resolve(raw, None).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_the_embedded_ones() {
        let c = from_str("").unwrap();
        assert_eq!(c.gateway.listen, vec!["127.0.0.1:2525".parse::<SocketAddr>().unwrap()]);
        assert_eq!(c.gateway.spool_dir, PathBuf::from("./sluice-data/spool"));
        assert!(c.gateway.settings.static_domains.accepts_domain("example.test"));
        assert!(matches!(c.gateway.tls, Some(TlsSource::SelfSigned { .. })));
    }

    /// Bounces link to the admin listener when it listens beyond this machine, to what
    /// `admin_url` says when set, and nowhere when nothing outside could reach the link.
    #[test]
    fn bounces_link_to_the_admin_listener_only_when_it_is_reachable() {
        let cases: &[(&str, Option<&str>)] = &[
            ("", None),
            ("[admin]\nlisten = \"0.0.0.0:8025\"", Some("http://mx.example.test:8025")),
            ("[admin]\nlisten = \"[::]:443\"\ntls = true", Some("https://mx.example.test")),
            ("[admin]\nlisten = \"192.0.2.4:80\"", Some("http://192.0.2.4")),
            ("[admin]\nlisten = \"[2001:db8::4]:8443\"\ntls = true", Some("https://[2001:db8::4]:8443")),
            ("[admin]\nlisten = \"0.0.0.0:8025\"\nenabled = false", None),
            ("[delivery]\nadmin_url = \"https://admin.example.test/\"", Some("https://admin.example.test")),
            ("[delivery]\nadmin_url = \"\"\n[admin]\nlisten = \"0.0.0.0:8025\"", None),
        ];
        for (text, expected) in cases {
            let c = from_str(&format!("hostname = \"mx.example.test\"\n{text}")).unwrap();
            assert_eq!(c.gateway.delivery.admin_url.as_deref(), *expected, "{text}");
        }
        let bad = from_str("[delivery]\nadmin_url = \"ftp://x\"").unwrap_err();
        assert!(bad.starts_with("delivery.admin_url:"), "{bad}");
    }

    #[test]
    fn admin_and_trace_sections() {
        let c = from_str("").unwrap();
        let admin = c.admin.clone().unwrap();
        assert_eq!((admin.listen, admin.tls), ("127.0.0.1:8025".parse().unwrap(), None));
        assert_eq!(c.trace.unwrap().retention.max_age_s, 10 * 86_400);
        let off = from_str("[admin]\nenabled = false\n[trace]\nenabled = false").unwrap();
        assert!(off.admin.is_none() && off.trace.is_none());
        let https = from_str("[admin]\ntls = true").unwrap().admin.unwrap();
        assert!(matches!(https.tls, Some(TlsSource::SelfSigned { .. })), "the SMTP certificate");
        for (text, field) in [
            ("[admin]\nlisten = \"8025\"", "admin.listen:"),
            ("[admin]\ncert_file = \"c.pem\"", "admin.tls:"),
            ("[admin]\ntls = true\ncert_file = \"c.pem\"", "admin.key_file:"),
            ("[admin]\ntls = true\n[tls]\nenabled = false", "admin.cert_file:"),
            ("[admin]\ntrace_searches_per_minute = 0", "admin.trace_searches_per_minute:"),
            ("[trace]\nretention_days = 0", "trace.retention_days:"),
            ("[trace]\nmax_mb = 0", "trace.max_mb:"),
        ] {
            let err = from_str(text).unwrap_err();
            assert!(err.starts_with(field), "{text}: {err}");
        }
    }

    #[test]
    fn store_and_proxy_sections() {
        let c = from_str("").unwrap();
        assert!(matches!(c.store.location, store::Location::Embedded { .. }));
        assert_eq!(c.store.migrate, store::Migrate::Apply);
        assert!(c.gateway.settings.proxy.is_none());
        let fleet = from_str(
            "[store]\nurl = \"postgres://sluice:pw@db.example:5432/sluice\"\nmigrate_at_start = false\n\
             [smtp]\nproxy_protocol = true\nproxy_trusted = [\"10.0.0.5/32\", \"2001:db8::/64\"]",
        )
        .unwrap();
        assert_eq!(fleet.store.describe(), "postgres://sluice@db.example:5432/sluice");
        assert_eq!(fleet.store.migrate, store::Migrate::Check);
        let proxy = fleet.gateway.settings.proxy.unwrap();
        assert!(proxy.trusts("10.0.0.5".parse().unwrap()) && !proxy.trusts("10.0.0.6".parse().unwrap()));
        assert_eq!(proxy.header_timeout, Duration::from_secs(5));
        for (text, field) in [
            ("[store]\nurl = \"mysql://x/y\"", "store.url: not a PostgreSQL URL"),
            ("[store]\nurl = \"postgres://h\"", "store.url: the URL names no database"),
            ("[store]\nca_file = \"ca.pem\"", "store.ca_file: is used only with store.url"),
            ("[store]\nurl = \"postgres://h/d\"\nca_file = \"/none/ca.pem\"", "store.ca_file: cannot read"),
            ("[smtp]\nproxy_protocol = true", "smtp.proxy_trusted: list the load balancers"),
            ("[smtp]\nproxy_trusted = [\"10.0.0.5\"]", "smtp.proxy_trusted: is used only with"),
            ("[smtp]\nproxy_protocol = true\nproxy_trusted = [\"10.0.0.5/8\"]", "smtp.proxy_trusted[0]:"),
            ("[smtp]\nproxy_protocol = true\nproxy_trusted = [\"x\"]\n", "smtp.proxy_trusted[0]:"),
        ] {
            let err = from_str(text).unwrap_err();
            assert!(err.starts_with(field), "{text}: {err}");
        }
    }

    #[test]
    fn screening_sections_and_tenant_policies() {
        let c = from_str("").unwrap().gateway.screening;
        assert!(c.auth.is_none() && c.scanner.is_none());
        assert_eq!(c.quarantine_retention, Duration::from_secs(15 * 86_400));
        let c = from_str(
            "[auth]\nenabled = true\n[scanner]\nrspamd_url = \"http://127.0.0.1:11333\"\non_failure = \"defer\"\n\
             [policy]\nspam = \"reject\"\n[policy.tenants.acme]\nspoofing = \"mark\"",
        )
        .unwrap()
        .gateway
        .screening;
        assert!(c.auth.is_some());
        assert_eq!(c.scanner.unwrap().authority, "127.0.0.1:11333");
        let acme = c.policy.for_tenant(Some("acme"));
        assert_eq!((acme.spoofing, acme.spam), (verdict::Action::Mark, verdict::Action::Reject));
        assert_eq!(c.policy.for_tenant(Some("globex")).spoofing, verdict::Action::Reject);
        for (text, field) in [
            ("[auth]\nenabled = true\ntimeout_ms = 0", "auth.timeout_ms:"),
            ("[scanner]\nrspamd_url = \"ftp://x\"", "scanner.rspamd_url:"),
            ("[scanner]\nrspamd_url = \"http://x:1\"\non_failure = \"drop\"", "scanner.on_failure:"),
            ("[quarantine]\nretention_days = 0", "quarantine.retention_days:"),
            ("[policy.tenants.\"Not An Id\"]\nspam = \"mark\"", "policy.tenants.Not An Id:"),
        ] {
            let err = from_str(text).unwrap_err();
            assert!(err.starts_with(field), "{text}: {err}");
        }
        let unknown = from_str("[policy]\nspam = \"drop\"").unwrap_err();
        assert!(unknown.contains("drop"), "{unknown}");
    }

    #[test]
    fn errors_name_the_field() {
        assert!(from_str("[smtp]\nlisten = [\"nope\"]").unwrap_err().starts_with("smtp.listen[0]:"));
        assert!(
            from_str("[smtp]\nmessage_bytes_max = 0").unwrap_err().starts_with("smtp.message_bytes_max:")
        );
        assert!(
            from_str("[delivery]\naccepted_domains = [\"ok.test\", \"bad domain\"]")
                .unwrap_err()
                .starts_with("delivery.accepted_domains[1]:")
        );
        assert!(from_str("[tls]\ncert_file = \"c.pem\"").unwrap_err().starts_with("tls.key_file:"));
        assert!(from_str("[log]\nformat = \"xml\"").unwrap_err().starts_with("log.format:"));
        for (text, field) in [
            ("[directory]\nservice_domain = \"not a domain\"", "directory.service_domain:"),
            ("[directory]\nservice_domain = \"localhost\"", "directory.service_domain:"),
            ("[reputation]\ndnsbl_zones = [\"ok.test\", \"bad zone\"]", "reputation.dnsbl_zones[1]:"),
            (
                "[reputation]\ndnsbl_zones = [\"ok.test\"]\ndnsbl_timeout_ms = 0",
                "reputation.dnsbl_timeout_ms:",
            ),
            ("[dns]\nresolver = \"127.0.0.1\"", "dns.resolver:"),
            ("[tls]\nclient_ca_file = \"/nonexistent/ca.pem\"", "tls.client_ca_file:"),
            ("[smtp]\nbare_newline = \"strip\"", "smtp.bare_newline:"),
            ("[throttle]\nmode = \"audit\"", "throttle.mode:"),
            ("[throttle]\nredis_url = \"http://cache:6379\"", "throttle.redis_url:"),
            ("[throttle]\nredis_url = \"redis://\"", "throttle.redis_url:"),
            (
                "[throttle]\nredis_url = \"redis://r:6379\"\nexchange_interval_ms = 5000",
                "throttle.exchange_interval_ms:",
            ),
        ] {
            let err = from_str(text).unwrap_err();
            assert!(err.starts_with(field), "{text}: {err}");
        }
        let unknown = from_str("[smtp]\nlisen = []").unwrap_err();
        assert!(unknown.contains("lisen"), "{unknown}");
        let wrong_type = from_str("[smtp]\nconnections_max = \"many\"").unwrap_err();
        assert!(wrong_type.contains("connections_max"), "{wrong_type}");
    }

    #[test]
    fn throttling_enforces_unless_observe_is_asked_for() {
        let mode = |text: &str| from_str(text).unwrap().gateway.throttle.map(|t| t.mode);
        assert_eq!(mode(""), Some(ThrottleMode::Enforce));
        assert_eq!(mode("[throttle]\nmode = \"observe\""), Some(ThrottleMode::Observe));
        assert_eq!(mode("[throttle]\nmode = \"enforce\""), Some(ThrottleMode::Enforce));
    }

    #[test]
    fn fleet_mode_comes_from_the_redis_url_and_never_shows_its_password() {
        assert!(from_str("").expect("defaults").gateway.fleet.is_none());
        let config = from_str("[throttle]\nredis_url = \"redis://:secret@10.0.0.20:6379/2\"").expect("fleet");
        let fleet = config.gateway.fleet.expect("fleet mode");
        assert_eq!(fleet.exchange_interval, Duration::from_millis(250));
        assert_eq!(fleet.shown_url().expect("url"), "redis://10.0.0.20:6379/2");
        let err = from_str("[throttle]\nredis_url = \"http://:secret@cache\"").unwrap_err();
        assert!(err.contains("throttle.redis_url") && !err.contains("secret"), "{err}");
    }

    #[test]
    fn bare_newline_is_rejected_unless_normalize_is_asked_for() {
        let session = |text: &str| from_str(text).unwrap().gateway.settings.session;
        assert_eq!(session("").bare_newline, BareNewline::Reject);
        assert_eq!(session("[smtp]\nbare_newline = \"normalize\"").bare_newline, BareNewline::Normalize);
        assert_eq!(session("[smtp]\nbare_newline = \"reject\"").bare_newline, BareNewline::Reject);
    }

    #[test]
    fn directory_reputation_and_dns_sections() {
        let defaults = from_str("").unwrap();
        assert_eq!(defaults.service_domain.as_str(), "sluice.test");
        assert_eq!(defaults.resolver, None);
        assert!(defaults.gateway.settings.client_checks.dnsbl.is_none(), "no zones, no lookups");
        let c = from_str(
            "[directory]\nservice_domain = \"Sluice.Example.\"\n[dns]\nresolver = \"127.0.0.1:5353\"\n\
             [reputation]\ndnsbl_zones = [\"ZEN.example.test.\", \"bl.example.test\"]",
        )
        .unwrap();
        assert_eq!(c.service_domain.as_str(), "sluice.example");
        assert_eq!(c.resolver, Some("127.0.0.1:5353".parse().unwrap()));
        let dnsbl = c.gateway.settings.client_checks.dnsbl.expect("DNSBL configured");
        assert_eq!(dnsbl.zones(), ["zen.example.test", "bl.example.test"]);
    }
}
