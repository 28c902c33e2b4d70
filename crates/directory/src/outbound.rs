//! Outbound connectors: how a tenant's mail for some recipient domains leaves Sluice (through
//! smart hosts or by MX) and how much TLS it demands of the next hop.
//!
//! Inbound and outbound connectors share **one namespace per tenant** (names unique ignoring
//! ASCII case across both directions), so `sluice connector show|enable|disable|remove NAME`
//! never needs a direction and an admin never meets two different connectors called `hq`.
//!
//! # Which connector carries a recipient ([`crate::Snapshot::outbound_connector_for`])
//! Only the tenant's own enabled connectors are considered. A listed recipient domain covers
//! itself and its sub-domains at any depth; then:
//! 1. a connector listing the recipient domain itself;
//! 2. else one listing its nearest parent (`eu.partner.example` before `partner.example`);
//! 3. else a connector listing no domain at all (it carries every domain);
//! 4. else none: the caller's default route (MX, opportunistic TLS).
//!
//! Among equal candidates the lowest name (ASCII case-insensitive) wins, so the choice never
//! depends on storage order.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DirectoryError;
use crate::model::{NextHop, validate_connector_name};
use crate::names::{DomainName, TenantId};

/// The port smart hosts get when none is given (RFC 5321 relaying between MTAs).
pub const SMART_HOST_PORT_DEFAULT: u16 = 25;
/// More smart hosts than this is almost surely a paste error; delivery tries them in order.
const SMART_HOSTS_MAX: usize = 16;
/// Bounds the snapshot's per-tenant index; far above any real partner list.
const RECIPIENT_DOMAINS_MAX: usize = 1000;

/// Where the mail a connector carries goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutboundRoute {
    /// These hosts, tried in order.
    SmartHosts(Vec<NextHop>),
    /// The recipient domain's MX hosts (RFC 5321 5.1).
    Mx,
}

/// How much TLS the next hop must offer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutboundTls {
    /// STARTTLS when offered, without authenticating the server (RFC 7435).
    Opportunistic,
    /// STARTTLS must succeed; the certificate is not checked.
    Required,
    /// STARTTLS with a certificate that chains to a trusted root and is valid for the host
    /// connected to (the smart host or MX host name).
    VerifyCertificate,
    /// As [`OutboundTls::VerifyCertificate`], and the certificate must be valid for this
    /// domain whatever host was connected to.
    VerifyDomain(DomainName),
}

impl OutboundTls {
    /// From the admin's words: `mode` is `opportunistic`, `required`, `verify-certificate`
    /// or `verify-domain`; `domain` is needed by, and only allowed with, `verify-domain`.
    pub fn parse(mode: &str, domain: Option<&str>) -> Result<OutboundTls, DirectoryError> {
        let tls = match (mode.trim().to_ascii_lowercase().as_str(), domain) {
            ("opportunistic", None) => OutboundTls::Opportunistic,
            ("required", None) => OutboundTls::Required,
            ("verify-certificate", None) => OutboundTls::VerifyCertificate,
            ("verify-domain", Some(d)) => {
                OutboundTls::VerifyDomain(DomainName::parse("connector.tls_domain", d)?)
            }
            ("verify-domain", None) => {
                return Err(DirectoryError::invalid(
                    "connector.tls_domain",
                    "",
                    "verify-domain needs the domain the certificate must be valid for",
                ));
            }
            ("opportunistic" | "required" | "verify-certificate", Some(d)) => {
                return Err(DirectoryError::invalid(
                    "connector.tls_domain",
                    d,
                    format!("only verify-domain takes a domain, the mode is {mode}"),
                ));
            }
            _ => {
                return Err(DirectoryError::invalid(
                    "connector.tls",
                    mode,
                    "expected opportunistic, required, verify-certificate or verify-domain",
                ));
            }
        };
        Ok(tls)
    }

    /// The mode's name as the CLI and the schema spell it.
    pub fn mode_name(&self) -> &'static str {
        match self {
            OutboundTls::Opportunistic => "opportunistic",
            OutboundTls::Required => "required",
            OutboundTls::VerifyCertificate => "verify-certificate",
            OutboundTls::VerifyDomain(_) => "verify-domain",
        }
    }

    pub fn domain(&self) -> Option<&DomainName> {
        match self {
            OutboundTls::VerifyDomain(d) => Some(d),
            _ => None,
        }
    }
}

impl fmt::Display for OutboundTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutboundTls::VerifyDomain(d) => write!(f, "verify-domain {d}"),
            other => f.write_str(other.mode_name()),
        }
    }
}

/// A tenant's route for outbound mail to some (or all) recipient domains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundConnector {
    pub tenant: TenantId,
    pub name: String,
    pub enabled: bool,
    /// Recipient domains it carries mail for, each with its sub-domains; empty = all domains.
    pub recipient_domains: Vec<DomainName>,
    pub route: OutboundRoute,
    pub tls: OutboundTls,
    pub record: crate::model::ChangeRecord,
}

impl OutboundConnector {
    /// An enabled connector for all domains.
    pub fn new(tenant: TenantId, name: &str, route: OutboundRoute, tls: OutboundTls) -> OutboundConnector {
        OutboundConnector {
            tenant,
            name: name.trim().to_string(),
            enabled: true,
            recipient_domains: Vec::new(),
            route,
            tls,
            record: crate::model::ChangeRecord::default(),
        }
    }

    /// Whether it carries every recipient domain.
    pub fn all_domains(&self) -> bool {
        self.recipient_domains.is_empty()
    }

    pub fn validate(&self) -> Result<(), DirectoryError> {
        validate_connector_name(&self.name)?;
        check_unique("connector.recipient_domain", &self.recipient_domains, RECIPIENT_DOMAINS_MAX)?;
        if let OutboundRoute::SmartHosts(hosts) = &self.route {
            if hosts.is_empty() {
                return Err(DirectoryError::invalid(
                    "connector.smart_host",
                    "",
                    "a smart-host route needs at least one host (or route by MX instead)",
                ));
            }
            check_unique("connector.smart_host", hosts, SMART_HOSTS_MAX)?;
        }
        Ok(())
    }
}

fn check_unique<T: PartialEq + fmt::Display>(
    field: &'static str,
    items: &[T],
    max: usize,
) -> Result<(), DirectoryError> {
    if items.len() > max {
        return Err(DirectoryError::invalid(
            field,
            items.len().to_string(),
            format!("at most {max} allowed"),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(DirectoryError::invalid(field, item.to_string(), "listed twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: Result<impl fmt::Debug, DirectoryError>) -> &'static str {
        match e {
            Err(DirectoryError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    fn hop(text: &str) -> NextHop {
        NextHop::parse("connector.smart_host", text, SMART_HOST_PORT_DEFAULT).unwrap()
    }

    #[test]
    fn tls_modes_parse_with_errors_naming_the_field() {
        assert_eq!(OutboundTls::parse("Required", None).unwrap(), OutboundTls::Required);
        let d = OutboundTls::parse("verify-domain", Some("Partner.Example")).unwrap();
        assert_eq!(d.to_string(), "verify-domain partner.example");
        assert_eq!(field(OutboundTls::parse("strict", None)), "connector.tls");
        assert_eq!(field(OutboundTls::parse("verify-domain", None)), "connector.tls_domain");
        assert_eq!(field(OutboundTls::parse("required", Some("x.example"))), "connector.tls_domain");
        assert_eq!(field(OutboundTls::parse("verify-domain", Some("not a domain"))), "connector.tls_domain");
    }

    #[test]
    fn connectors_validate() {
        let t = TenantId::parse("acme").unwrap();
        let mut c =
            OutboundConnector::new(t, "relay", OutboundRoute::SmartHosts(vec![]), OutboundTls::Required);
        assert_eq!(field(c.validate()), "connector.smart_host");
        c.route = OutboundRoute::SmartHosts(vec![hop("relay.example:587"), hop("relay.example:587")]);
        assert_eq!(field(c.validate()), "connector.smart_host");
        c.route = OutboundRoute::SmartHosts(vec![hop("relay.example:587"), hop("relay.example")]);
        assert!(c.validate().is_ok());
        let d = DomainName::parse("d", "partner.example").unwrap();
        c.recipient_domains = vec![d.clone(), d];
        assert_eq!(field(c.validate()), "connector.recipient_domain");
        c.recipient_domains.pop();
        c.name = String::new();
        assert_eq!(field(c.validate()), "connector.name");
    }
}
