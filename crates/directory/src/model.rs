//! The directory's entities as plain data, each with the validation its constructor or
//! `validate` applies. Storage backends persist these; the snapshot indexes them.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::cidr::Cidr;
use crate::error::DirectoryError;
use crate::names::{CertName, DomainName, TenantId, normalise_local_part, validate_language};

const CONNECTOR_NAME_CHARS_MAX: usize = 64;
const DISPLAY_NAME_CHARS_MAX: usize = 200;
/// Connector ranges broader than these would hand connector trust (no throttling, outbound
/// relay for on-premises) to a large part of the internet: almost surely a typo.
const CONNECTOR_V4_PREFIX_MIN: u8 = 8;
const CONNECTOR_V6_PREFIX_MIN: u8 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TenantStatus {
    Active,
    Suspended,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub display_name: String,
    pub status: TenantStatus,
    /// Language of bounces when the original message does not say (`en`, `fr`, ...).
    pub language: String,
}

/// What an admin supplies to create a tenant; the store adds the status and the service
/// domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTenant {
    pub id: TenantId,
    pub display_name: String,
    pub language: String,
}

impl NewTenant {
    pub fn new(id: &str, display_name: &str, language: &str) -> Result<NewTenant, DirectoryError> {
        let display_name = display_name.trim();
        if display_name.is_empty()
            || display_name.chars().count() > DISPLAY_NAME_CHARS_MAX
            || display_name.chars().any(char::is_control)
        {
            return Err(DirectoryError::invalid(
                "tenant.display_name",
                display_name,
                "must be 1 to 200 characters without control characters",
            ));
        }
        Ok(NewTenant {
            id: TenantId::parse(id)?,
            display_name: display_name.to_string(),
            language: validate_language(language)?,
        })
    }
}

/// How unknown recipients of an accepted domain are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DomainKind {
    /// Every mailbox is listed in the directory: unknown recipients are refused at RCPT.
    Authoritative,
    /// Some mailboxes live on the tenant's own server: unknown recipients are passed on.
    InternalRelay,
}

impl fmt::Display for DomainKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DomainKind::Authoritative => "authoritative",
            DomainKind::InternalRelay => "internal-relay",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerificationState {
    /// The TXT record has not been seen: the domain can neither receive nor send.
    Pending,
    Verified,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedDomain {
    pub name: DomainName,
    pub tenant: TenantId,
    pub kind: DomainKind,
    /// Whether `x.<name>` (any depth) is accepted too.
    pub match_subdomains: bool,
    /// The value proving ownership, published as `sluice-verification=<token>`.
    pub token: String,
    pub verification: VerificationState,
    /// The tenant's initial `<tenant>.<service domain>`: verified from birth, never removed.
    pub service: bool,
}

impl AcceptedDomain {
    /// The TXT record the tenant must publish at the domain's apex.
    pub fn txt_record(&self) -> String {
        format!("sluice-verification={}", self.token)
    }
}

/// What an admin supplies to add a domain; the store adds the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDomain {
    pub name: DomainName,
    pub kind: DomainKind,
    pub match_subdomains: bool,
}

/// A host (name or IP) and port that mail is handed to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NextHop {
    pub host: String,
    pub port: u16,
}

impl NextHop {
    /// `host`, `host:port`, `ip`, `[ipv6]:port`; `default_port` when none is given.
    pub fn parse(field: &'static str, text: &str, default_port: u16) -> Result<NextHop, DirectoryError> {
        let text = text.trim();
        let (host, port) = split_host_port(text);
        let port = match port {
            None => default_port,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| DirectoryError::invalid(field, text, "the port must be 1 to 65535"))?,
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(NextHop { host: ip.to_string(), port });
        }
        let name = DomainName::parse(field, host)?;
        Ok(NextHop { host: name.to_string(), port })
    }
}

fn split_host_port(text: &str) -> (&str, Option<&str>) {
    if let Some(rest) = text.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (text, None),
        };
    }
    match text.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (text, None),
    }
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Where a listed recipient's mail goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryTarget {
    /// A Maildir kept by Sluice (`<data_dir>/mail/<domain>/<local part>/`).
    Maildir,
    /// The tenant's mailbox server over SMTP.
    Smtp(NextHop),
    /// The tenant's mailbox server over LMTP.
    Lmtp(NextHop),
}

/// A valid address of an accepted domain, with aliases (other local parts of the same
/// domain delivered to it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub tenant: TenantId,
    /// The address's domain: an accepted domain of the tenant or, when that matches
    /// sub-domains, one of its sub-domains.
    pub domain: DomainName,
    /// Lower case, see [`normalise_local_part`].
    pub local_part: String,
    pub aliases: Vec<String>,
    pub target: DeliveryTarget,
}

impl Recipient {
    /// Validates `address` (`local@domain`) and the aliases (local parts).
    pub fn new(
        tenant: TenantId,
        address: &str,
        aliases: &[&str],
        target: DeliveryTarget,
    ) -> Result<Recipient, DirectoryError> {
        let (local, domain) = address.trim().rsplit_once('@').ok_or_else(|| {
            DirectoryError::invalid("recipient.address", address, "expected local-part@domain")
        })?;
        let local_part = normalise_local_part("recipient.address", local)?;
        let domain = DomainName::parse("recipient.address", domain)?;
        let mut normal_aliases = Vec::with_capacity(aliases.len());
        for alias in aliases {
            let alias = normalise_local_part("recipient.alias", alias)?;
            if alias == local_part || normal_aliases.contains(&alias) {
                return Err(DirectoryError::invalid("recipient.alias", alias, "listed twice"));
            }
            normal_aliases.push(alias);
        }
        Ok(Recipient { tenant, domain, local_part, aliases: normal_aliases, target })
    }

    pub fn address(&self) -> String {
        format!("{}@{}", self.local_part, self.domain)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectorKind {
    /// Another organisation that exchanges mail with the tenant.
    Partner,
    /// The tenant's own mail server: may send outbound to any domain.
    OnPremises,
}

impl fmt::Display for ConnectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectorKind::Partner => "partner",
            ConnectorKind::OnPremises => "on-premises",
        })
    }
}

/// Who made a connector and who changed it last, when and why: the record an audit of
/// connectors reads (an attacker who takes over an admin account creates or widens a
/// connector to relay spam). Times are Unix seconds, set by whoever makes the change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub created_at_unix_s: u64,
    pub created_by: String,
    pub changed_at_unix_s: u64,
    pub changed_by: String,
    /// What the last change was and why, in the words of whoever made it.
    pub change_note: String,
}

impl ChangeRecord {
    /// A record for something created now by `by`.
    pub fn created(at_unix_s: u64, by: &str, note: &str) -> ChangeRecord {
        ChangeRecord {
            created_at_unix_s: at_unix_s,
            created_by: by.to_string(),
            changed_at_unix_s: at_unix_s,
            changed_by: by.to_string(),
            change_note: note.to_string(),
        }
    }

    /// The record after a change made now by `by`.
    pub fn changed(&self, at_unix_s: u64, by: &str, note: &str) -> ChangeRecord {
        ChangeRecord {
            changed_at_unix_s: at_unix_s,
            changed_by: by.to_string(),
            change_note: note.to_string(),
            ..self.clone()
        }
    }
}

/// An inbound connector: how Sluice recognises mail from a partner or from the tenant's own
/// server, and what it then requires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connector {
    pub tenant: TenantId,
    pub name: String,
    pub enabled: bool,
    pub kind: ConnectorKind,
    /// Sender IP ranges that identify the connector.
    pub ip_ranges: Vec<Cidr>,
    /// TLS client certificate names (subject CN or SAN) that identify the connector.
    pub certificate_names: Vec<CertName>,
    /// Sender domains the connector carries. Alone (no IP, no certificate) they identify a
    /// partner connector at MAIL FROM ("domain-only"), which can only add requirements.
    pub sender_domains: Vec<DomainName>,
    /// "Reject mail for these sender domains unless it comes through this connector."
    pub restrict_sender_domains: bool,
    /// "Reject mail not sent over TLS."
    pub require_tls: bool,
    pub record: ChangeRecord,
}

impl Connector {
    /// A connector with the defaults of the wizard: enabled, TLS required for partners.
    pub fn new(tenant: TenantId, name: &str, kind: ConnectorKind) -> Connector {
        Connector {
            tenant,
            name: name.trim().to_string(),
            enabled: true,
            kind,
            ip_ranges: Vec::new(),
            certificate_names: Vec::new(),
            sender_domains: Vec::new(),
            restrict_sender_domains: false,
            require_tls: kind == ConnectorKind::Partner,
            record: ChangeRecord::default(),
        }
    }

    /// Whether it is recognised by the connection itself (IP or certificate), the kind of
    /// recognition that can grant trust.
    pub fn identifies_connection(&self) -> bool {
        !self.ip_ranges.is_empty() || !self.certificate_names.is_empty()
    }

    pub fn validate(&self) -> Result<(), DirectoryError> {
        validate_connector_name(&self.name)?;
        for cidr in &self.ip_ranges {
            let (min, family) = if cidr.is_ipv4() {
                (CONNECTOR_V4_PREFIX_MIN, "IPv4")
            } else {
                (CONNECTOR_V6_PREFIX_MIN, "IPv6")
            };
            if cidr.prefix_len() < min {
                return Err(DirectoryError::invalid(
                    "connector.ip",
                    cidr.to_string(),
                    format!("too broad: an {family} range must be /{min} or longer"),
                ));
            }
        }
        if self.kind == ConnectorKind::OnPremises && !self.identifies_connection() {
            return Err(DirectoryError::invalid(
                "connector.ip",
                "",
                "an on-premises connector may relay to any domain, so it must be recognised by IP ranges or a certificate name",
            ));
        }
        if !self.identifies_connection() && self.sender_domains.is_empty() {
            return Err(DirectoryError::invalid(
                "connector.ip",
                "",
                "give IP ranges, certificate names or (partner) sender domains to recognise the connector",
            ));
        }
        if self.restrict_sender_domains && (self.sender_domains.is_empty() || !self.identifies_connection()) {
            return Err(DirectoryError::invalid(
                "connector.restrict_sender_domains",
                "on",
                "restricting sender domains needs sender domains and IP ranges or a certificate name",
            ));
        }
        Ok(())
    }
}

pub(crate) fn validate_connector_name(name: &str) -> Result<(), DirectoryError> {
    if name.is_empty()
        || name.chars().count() > CONNECTOR_NAME_CHARS_MAX
        || name.chars().any(char::is_control)
    {
        return Err(DirectoryError::invalid(
            "connector.name",
            name,
            "must be 1 to 64 characters without control characters",
        ));
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReputationKind {
    /// A low-reputation range: non-connector traffic is refused with `5.7.708`.
    Block,
    /// Overrides any block covering it.
    Exception,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReputationEntry {
    pub cidr: Cidr,
    pub kind: ReputationKind,
    /// Why, for the operator (ticket number, source list).
    pub note: String,
    /// Unix seconds after which the entry no longer applies (`None`: until removed).
    #[serde(default)]
    pub expires_at_unix_s: Option<u64>,
}

impl ReputationEntry {
    /// Whether the entry is in force at `now_unix_s`.
    pub fn applies_at(&self, now_unix_s: u64) -> bool {
        self.expires_at_unix_s.is_none_or(|at| now_unix_s < at)
    }
}

/// A tenant's outbound mail blocked by outbound protection (`5.7.705`) until an operator
/// releases it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundBlock {
    pub tenant: TenantId,
    pub blocked_at_unix_s: u64,
    /// Which signal tripped, with its figures.
    pub reason: String,
}

/// An operator's release of an outbound block: who and why, kept with the block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundRelease {
    pub block: OutboundBlock,
    pub released_at_unix_s: u64,
    pub released_by: String,
    pub release_reason: String,
}

/// Everything a backend stores, as loaded in one go to build a [`crate::Snapshot`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryData {
    /// The store's generation when this was read.
    pub generation: u64,
    pub tenants: Vec<Tenant>,
    pub domains: Vec<AcceptedDomain>,
    pub recipients: Vec<Recipient>,
    pub connectors: Vec<Connector>,
    pub reputation: Vec<ReputationEntry>,
    /// Blocks not yet released, at most one per tenant.
    pub outbound_blocks: Vec<OutboundBlock>,
    pub outbound_connectors: Vec<crate::outbound::OutboundConnector>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    fn field(e: Result<impl fmt::Debug, DirectoryError>) -> &'static str {
        match e {
            Err(DirectoryError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn new_tenant_validates_each_field() {
        assert!(NewTenant::new("acme", "Acme Corp", "fr").is_ok());
        assert_eq!(field(NewTenant::new("a.b", "Acme", "en")), "tenant.id");
        assert_eq!(field(NewTenant::new("acme", " ", "en")), "tenant.display_name");
        assert_eq!(field(NewTenant::new("acme", "Acme", "xx_YY")), "tenant.language");
    }

    #[test]
    fn next_hops() {
        assert_eq!(NextHop::parse("f", "mx.example.com", 25).unwrap().to_string(), "mx.example.com:25");
        assert_eq!(NextHop::parse("f", "mx.example.com:24", 25).unwrap().port, 24);
        assert_eq!(NextHop::parse("f", "[2001:db8::1]:24", 25).unwrap().to_string(), "[2001:db8::1]:24");
        assert_eq!(NextHop::parse("f", "2001:db8::1", 25).unwrap().port, 25);
        assert_eq!(NextHop::parse("f", "192.0.2.1:2525", 25).unwrap().host, "192.0.2.1");
        assert_eq!(field(NextHop::parse("recipient.target", "mx.example.com:0", 25)), "recipient.target");
        assert!(NextHop::parse("f", "mx:99999", 25).is_err());
    }

    #[test]
    fn recipients_validate() {
        let r = Recipient::new(tenant(), "Bob@Example.COM", &["Robert"], DeliveryTarget::Maildir).unwrap();
        assert_eq!(r.address(), "bob@example.com");
        assert_eq!(r.aliases, vec!["robert".to_string()]);
        assert_eq!(field(Recipient::new(tenant(), "bob", &[], DeliveryTarget::Maildir)), "recipient.address");
        assert_eq!(
            field(Recipient::new(tenant(), "a%b@example.com", &[], DeliveryTarget::Maildir)),
            "recipient.address"
        );
        assert_eq!(
            field(Recipient::new(tenant(), "a@example.com", &["a"], DeliveryTarget::Maildir)),
            "recipient.alias"
        );
    }

    #[test]
    fn connectors_validate() {
        let mut c = Connector::new(tenant(), "partner", ConnectorKind::Partner);
        assert!(c.require_tls, "partner connectors require TLS by default");
        assert_eq!(field(c.validate()), "connector.ip");
        c.sender_domains.push(DomainName::parse("d", "partner.example").unwrap());
        assert!(c.validate().is_ok(), "a domain-only partner connector is allowed");
        c.restrict_sender_domains = true;
        assert_eq!(field(c.validate()), "connector.restrict_sender_domains");
        c.ip_ranges.push(Cidr::parse("c", "192.0.2.0/24").unwrap());
        assert!(c.validate().is_ok());
        c.ip_ranges.push(Cidr::parse("c", "0.0.0.0/0").unwrap());
        assert_eq!(field(c.validate()), "connector.ip");

        let mut onprem = Connector::new(tenant(), "hq", ConnectorKind::OnPremises);
        assert!(!onprem.require_tls);
        onprem.sender_domains.push(DomainName::parse("d", "acme.example").unwrap());
        assert_eq!(field(onprem.validate()), "connector.ip");
        onprem.certificate_names.push(CertName::parse("*.mail.acme.example").unwrap());
        assert!(onprem.validate().is_ok());
        onprem.name = String::new();
        assert_eq!(field(onprem.validate()), "connector.name");
    }
}
