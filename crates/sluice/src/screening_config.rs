//! `[auth]`, `[scanner]`, `[quarantine]` and `[policy]`: what the end of DATA checks before
//! the `250` (sender authentication, the content scanner) and what is done with findings.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use directory::TenantId;
use gateway::ScreeningConfig;
use gateway::inbound::authenticate::AuthConfig;
use gateway::inbound::scanner::{OnFailure, ScannerConfig};
use serde::Deserialize;
use verdict::{Action, MailPolicy, Policies, PolicyOverride};

use crate::config::{ConfigError, invalid};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAuth {
    /// SPF, DKIM, ARC, DMARC and `Authentication-Results:` on inbound mail.
    pub enabled: bool,
    /// The most the end of DATA waits for all lookups of a message.
    pub timeout_ms: u64,
    /// Per DNS query.
    pub dns_timeout_ms: u64,
    pub dns_cache_entries: u64,
}

impl Default for RawAuth {
    fn default() -> Self {
        RawAuth { enabled: false, timeout_ms: 8000, dns_timeout_ms: 3000, dns_cache_entries: 10_000 }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawScanner {
    /// rspamd's normal worker, e.g. `http://127.0.0.1:11333`; absent: no content scanning.
    pub rspamd_url: Option<String>,
    pub timeout_ms: u64,
    /// `accept` (marked unscanned) or `defer` (`451 4.7.1`) when the scanner cannot answer.
    pub on_failure: String,
    pub scan_bytes_max: usize,
}

impl Default for RawScanner {
    fn default() -> Self {
        RawScanner {
            rspamd_url: None,
            timeout_ms: 10_000,
            on_failure: "accept".into(),
            scan_bytes_max: 20 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawQuarantine {
    pub retention_days: u64,
}

impl Default for RawQuarantine {
    fn default() -> Self {
        RawQuarantine { retention_days: 15 }
    }
}

/// `[policy]`: the deployment's actions, and each tenant's changes to them.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawPolicy {
    pub dmarc_reject: Action,
    pub dmarc_quarantine: Action,
    pub spoofing: Action,
    pub spam: Action,
    /// `[policy.tenants.<tenant id>]`: the fields set there replace the deployment's.
    pub tenants: BTreeMap<String, PolicyOverride>,
}

impl Default for RawPolicy {
    fn default() -> Self {
        let d = MailPolicy::default();
        RawPolicy {
            dmarc_reject: d.dmarc_reject,
            dmarc_quarantine: d.dmarc_quarantine,
            spoofing: d.spoofing,
            spam: d.spam,
            tenants: BTreeMap::new(),
        }
    }
}

fn resolve_policy(raw: &RawPolicy) -> Result<Policies, ConfigError> {
    for id in raw.tenants.keys() {
        TenantId::parse(id).map_err(|e| {
            invalid(format!("policy.tenants.{id}"), format!("{id:?} is not a tenant id: {e}"))
        })?;
    }
    let default = MailPolicy {
        dmarc_reject: raw.dmarc_reject,
        dmarc_quarantine: raw.dmarc_quarantine,
        spoofing: raw.spoofing,
        spam: raw.spam,
    };
    Ok(Policies { default, tenants: raw.tenants.clone() })
}

/// Resolves the four sections; held messages go to `<data_dir>/quarantine`.
pub fn resolve(
    auth: &RawAuth,
    scanner: &RawScanner,
    quarantine: &RawQuarantine,
    policy: &RawPolicy,
    data_dir: &Path,
) -> Result<ScreeningConfig, ConfigError> {
    let positive_ms = |field: &str, ms: u64| match ms {
        0 => Err(invalid(field, "must be more than 0")),
        ms => Ok(Duration::from_millis(ms)),
    };
    let auth = match auth.enabled {
        true => Some(AuthConfig {
            timeout: positive_ms("auth.timeout_ms", auth.timeout_ms)?,
            dns_timeout: positive_ms("auth.dns_timeout_ms", auth.dns_timeout_ms)?,
            cache_entries: auth.dns_cache_entries,
        }),
        false => None,
    };
    let scanner = match &scanner.rspamd_url {
        Some(url) => {
            Some(resolve_scanner(url, scanner, positive_ms("scanner.timeout_ms", scanner.timeout_ms)?)?)
        }
        None => None,
    };
    if quarantine.retention_days == 0 {
        return Err(invalid("quarantine.retention_days", "must be at least 1"));
    }
    Ok(ScreeningConfig {
        auth,
        scanner,
        policy: resolve_policy(policy)?,
        quarantine_dir: data_dir.join("quarantine"),
        quarantine_retention: Duration::from_secs(quarantine.retention_days * 86_400),
    })
}

fn resolve_scanner(url: &str, raw: &RawScanner, timeout: Duration) -> Result<ScannerConfig, ConfigError> {
    let (authority, base_path) = ScannerConfig::parse_url(url)
        .map_err(|reason| invalid("scanner.rspamd_url", format!("{url:?} {reason}")))?;
    let on_failure = match raw.on_failure.as_str() {
        "accept" => OnFailure::Accept,
        "defer" => OnFailure::Defer,
        other => {
            return Err(invalid("scanner.on_failure", format!("{other:?} is not \"accept\" or \"defer\"")));
        }
    };
    if raw.scan_bytes_max == 0 {
        return Err(invalid("scanner.scan_bytes_max", "must be more than 0"));
    }
    Ok(ScannerConfig { authority, base_path, timeout, on_failure, scan_bytes_max: raw.scan_bytes_max })
}
