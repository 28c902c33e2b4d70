//! Risk flags on connectors: what an operator or a tenant's admin should look at first.
//! Attackers who take over an admin account create or widen connectors to relay spam (the
//! advice behind `5.7.750`), so the audit looks for the shapes that hand out trust too
//! widely, and for recent changes with who made them. Pure: the connectors and the clock
//! are passed in.

use std::fmt;

use crate::cidr::Cidr;
use crate::model::{ChangeRecord, Connector, ConnectorKind};
use crate::names::{CertName, DomainName, TenantId};
use crate::outbound::OutboundConnector;

/// How urgently a flag needs a look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Risk {
    High,
    Medium,
    Low,
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Risk::High => "high",
            Risk::Medium => "medium",
            Risk::Low => "low",
        })
    }
}

/// One finding, with the reason in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    pub risk: Risk,
    /// `broad-range`, `overlaps-other-tenant`, `on-premises-without-tls`, `recently-created`,
    /// `recently-changed`, `disabled`, `wildcard-public-suffix`.
    pub flag: &'static str,
    pub reason: String,
}

/// A connector of either direction, as audited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditedConnector {
    pub tenant: TenantId,
    pub name: String,
    /// `None` for an outbound connector.
    pub kind: Option<ConnectorKind>,
    pub enabled: bool,
    pub record: ChangeRecord,
    /// Most urgent first.
    pub flags: Vec<Flag>,
}

/// What the audit is run over, and for whom.
#[derive(Debug)]
pub struct AuditScope<'a> {
    /// Every tenant's inbound connectors (overlaps are found across tenants).
    pub inbound: &'a [Connector],
    pub outbound: &'a [OutboundConnector],
    /// Only these tenant's connectors are reported (`None`: all).
    pub tenant: Option<&'a TenantId>,
    pub now_unix_s: u64,
    /// Whether reasons may name other tenants (operators) or only count them (tenants).
    pub name_other_tenants: bool,
}

/// Changes within this long are "recent".
pub const RECENT_S: u64 = 7 * 86_400;
/// Ranges broader than these trust a large network.
const IPV4_PREFIX_NARROW: u8 = 24;
const IPV6_PREFIX_NARROW: u8 = 48;

/// Second-level labels under which country-code registries sell names (`co.uk`,
/// `com.au`, `ac.jp`, ...): with a two-letter top-level domain, such a pair is a public
/// suffix. A heuristic standing for the Public Suffix List's common cases.
const REGISTRY_LABELS: &[&str] = &[
    "ac", "co", "com", "edu", "gob", "go", "gov", "gv", "ltd", "me", "mil", "ne", "net", "nhs", "nic", "nom",
    "or", "org", "plc", "sch",
];

/// Whether `name` is itself a public suffix (`co.uk`, `com.au`): a wildcard just under it
/// covers every registrant's names.
pub fn is_public_suffix(name: &DomainName) -> bool {
    let labels: Vec<&str> = name.as_str().split('.').collect();
    matches!(labels.as_slice(), [second, top] if top.len() == 2 && REGISTRY_LABELS.contains(second))
}

/// Audits every connector in `scope`; connectors are listed by tenant and name.
pub fn audit(scope: &AuditScope<'_>) -> Vec<AuditedConnector> {
    let wanted = |t: &TenantId| scope.tenant.is_none_or(|w| w == t);
    let mut out: Vec<AuditedConnector> = Vec::new();
    for c in scope.inbound.iter().filter(|c| wanted(&c.tenant)) {
        let mut flags = inbound_flags(c, scope);
        flags.extend(common_flags(
            &c.record,
            c.enabled,
            c.kind == ConnectorKind::OnPremises,
            scope.now_unix_s,
        ));
        flags.sort_by_key(|f| f.risk);
        out.push(AuditedConnector {
            tenant: c.tenant.clone(),
            name: c.name.clone(),
            kind: Some(c.kind),
            enabled: c.enabled,
            record: c.record.clone(),
            flags,
        });
    }
    for c in scope.outbound.iter().filter(|c| wanted(&c.tenant)) {
        let flags = common_flags(&c.record, c.enabled, false, scope.now_unix_s);
        out.push(AuditedConnector {
            tenant: c.tenant.clone(),
            name: c.name.clone(),
            kind: None,
            enabled: c.enabled,
            record: c.record.clone(),
            flags,
        });
    }
    out.sort_by(|a, b| {
        (&a.tenant, a.name.to_ascii_lowercase()).cmp(&(&b.tenant, b.name.to_ascii_lowercase()))
    });
    out
}

fn inbound_flags(c: &Connector, scope: &AuditScope<'_>) -> Vec<Flag> {
    let on_premises = c.kind == ConnectorKind::OnPremises;
    let mut flags: Vec<Flag> = c.ip_ranges.iter().filter_map(|r| broad_range(r, on_premises)).collect();
    if let Some(flag) = overlaps(c, scope) {
        flags.push(flag);
    }
    if on_premises && !c.require_tls {
        flags.push(Flag {
            risk: Risk::Medium,
            flag: "on-premises-without-tls",
            reason:
                "accepts the tenant's own server in plain text: mail it relays can be read or altered on \
                     the way, and anyone on the network path can send as it; require TLS"
                    .into(),
        });
    }
    for name in &c.certificate_names {
        if let CertName::Wildcard(parent) = name
            && is_public_suffix(parent)
        {
            flags.push(Flag {
                risk: Risk::High,
                flag: "wildcard-public-suffix",
                reason: format!(
                    "certificate name {name} covers every name directly under the public suffix {parent}: \
                     anyone who gets a certificate for one such name is trusted; name the servers' own domain"
                ),
            });
        }
    }
    flags
}

fn broad_range(range: &Cidr, on_premises: bool) -> Option<Flag> {
    let narrow = if range.is_ipv4() { IPV4_PREFIX_NARROW } else { IPV6_PREFIX_NARROW };
    if range.prefix_len() >= narrow {
        return None;
    }
    let what = if on_premises {
        "every address in it may relay mail as this tenant to any domain"
    } else {
        "every address in it is trusted (never throttled) for this tenant's recipients"
    };
    let size = if range.prefix_len() == 0 {
        "the whole internet".to_string()
    } else {
        let family = if range.is_ipv4() { "IPv4" } else { "IPv6" };
        format!("broader than an {family} /{narrow}")
    };
    Some(Flag {
        risk: if on_premises || range.prefix_len() == 0 { Risk::High } else { Risk::Medium },
        flag: "broad-range",
        reason: format!("range {range} is {size}: {what}; list the servers' own addresses"),
    })
}

/// Ranges shared with other tenants' connectors: normal for a shared filtering service or
/// host, worth knowing for the tenant's own servers (relayed mail is then attributed by
/// certificate or sender domain).
fn overlaps(c: &Connector, scope: &AuditScope<'_>) -> Option<Flag> {
    let mut others: Vec<String> = Vec::new();
    for other in scope.inbound.iter().filter(|o| o.tenant != c.tenant && o.enabled) {
        if c.ip_ranges.iter().any(|mine| other.ip_ranges.iter().any(|theirs| mine.overlaps(theirs))) {
            let label = format!("{}/{}", other.tenant, other.name);
            if !others.contains(&label) {
                others.push(label);
            }
        }
    }
    if others.is_empty() {
        return None;
    }
    let whom = if scope.name_other_tenants {
        format!("connectors of other tenants: {}", others.join(", "))
    } else {
        format!("{} connector(s) of other tenants", others.len())
    };
    let consequence = match c.kind {
        ConnectorKind::OnPremises => {
            "relayed mail from the shared addresses is attributed by certificate or sender domain, and refused \
             when neither tells"
        }
        ConnectorKind::Partner => {
            "normal for a shared filtering service or host; each tenant's rules hold for its own recipients"
        }
    };
    Some(Flag {
        risk: Risk::Medium,
        flag: "overlaps-other-tenant",
        reason: format!("its ranges overlap {whom}: {consequence}"),
    })
}

/// Flags about the record and the state, for both directions.
fn common_flags(record: &ChangeRecord, enabled: bool, relays: bool, now_unix_s: u64) -> Vec<Flag> {
    let mut flags = Vec::new();
    let recent = |at: u64| at > 0 && now_unix_s.saturating_sub(at) < RECENT_S;
    let risk = if relays { Risk::High } else { Risk::Medium };
    let note = |n: &str| if n.is_empty() { String::new() } else { format!(": {n}") };
    if recent(record.created_at_unix_s) && record.created_at_unix_s == record.changed_at_unix_s {
        flags.push(Flag {
            risk,
            flag: "recently-created",
            reason: format!(
                "created {} by {}{}; make sure the tenant asked for it",
                age(now_unix_s, record.created_at_unix_s),
                record.created_by,
                note(&record.change_note)
            ),
        });
    } else if recent(record.changed_at_unix_s) {
        flags.push(Flag {
            risk,
            flag: "recently-changed",
            reason: format!(
                "changed {} by {}{}; make sure the tenant asked for it",
                age(now_unix_s, record.changed_at_unix_s),
                record.changed_by,
                note(&record.change_note)
            ),
        });
    }
    if !enabled {
        flags.push(Flag {
            risk: Risk::Low,
            flag: "disabled",
            reason:
                "disabled but present: enabling it restores its trust at once; remove it if it is no longer \
                     needed"
                    .into(),
        });
    }
    flags
}

/// "3 h ago", "2 d ago".
pub fn age(now_unix_s: u64, at_unix_s: u64) -> String {
    let s = now_unix_s.saturating_sub(at_unix_s);
    match s {
        0..60 => format!("{s} s ago"),
        60..3_600 => format!("{} min ago", s / 60),
        3_600..172_800 => format!("{} h ago", s / 3_600),
        _ => format!("{} d ago", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_suffixes_by_their_shape() {
        let d = |n: &str| DomainName::parse("t", n).unwrap();
        assert!(is_public_suffix(&d("co.uk")) && is_public_suffix(&d("com.au")));
        assert!(!is_public_suffix(&d("example.com")) && !is_public_suffix(&d("mail.co.uk")));
        assert!(!is_public_suffix(&d("co.example")), "a registry label needs a country code");
    }

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(age(100, 100), "0 s ago");
        assert_eq!(age(10_800, 0), "3 h ago");
        assert_eq!(age(3 * 86_400, 0), "3 d ago");
        assert_eq!(age(0, 50), "0 s ago", "a clock behind the record is no panic");
    }
}
