//! What operations take and give: plain data with serde and OpenAPI schemas, the same for
//! the CLI (which builds inputs from flags), the HTTP API (JSON bodies and query strings)
//! and the web pages to come. Input keys are the names errors use after the object
//! (`connector.ip` is the `ip` key of a connector input); list keys are singular, like the
//! repeatable CLI flags they mirror.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use directory::{
    AcceptedDomain, Connector, DeliveryTarget, OutboundBlock, OutboundConnector, OutboundRelease,
    OutboundRoute, Recipient, ReputationEntry, ReputationKind, Tenant, TenantStatus, VerificationState,
};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantView {
    pub id: String,
    pub name: String,
    /// active or suspended.
    pub status: String,
    pub language: String,
}

impl From<&Tenant> for TenantView {
    fn from(t: &Tenant) -> TenantView {
        TenantView {
            id: t.id.to_string(),
            name: t.display_name.clone(),
            status: match t.status {
                TenantStatus::Active => "active",
                TenantStatus::Suspended => "suspended",
            }
            .into(),
            language: t.language.clone(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantInput {
    /// One DNS label: letters, digits, hyphens.
    pub id: String,
    /// Display name (defaults to the id).
    #[serde(default)]
    pub name: Option<String>,
    /// Language of bounces: en, fr, ...
    #[serde(default)]
    pub language: Option<String>,
    /// Instead of the deployment's service domain.
    #[serde(default)]
    pub service_domain: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainView {
    pub name: String,
    pub tenant: String,
    /// authoritative or internal-relay.
    pub kind: String,
    pub match_subdomains: bool,
    /// pending or verified.
    pub verification: String,
    /// The tenant's initial service domain (never removed).
    pub service: bool,
    /// The TXT record to publish at the domain's apex.
    pub txt_record: String,
    /// For a pending claim that others share: who verifies first owns the name, or another
    /// tenant already did (then this claim can no longer be verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl From<&AcceptedDomain> for DomainView {
    fn from(d: &AcceptedDomain) -> DomainView {
        DomainView {
            name: d.name.to_string(),
            tenant: d.tenant.to_string(),
            kind: d.kind.to_string(),
            match_subdomains: d.match_subdomains,
            verification: match d.verification {
                VerificationState::Pending => "pending",
                VerificationState::Verified => "verified",
            }
            .into(),
            service: d.service,
            txt_record: d.txt_record(),
            note: None,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainInput {
    pub name: String,
    /// authoritative (default) or internal-relay.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub match_subdomains: bool,
}

/// The outcome of a verification: the domain, and what DNS showed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerifyView {
    pub domain: DomainView,
    pub verified: bool,
    /// What was expected, and the `sluice-verification` records found instead.
    pub expected: String,
    pub found: Vec<String>,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecipientView {
    pub address: String,
    pub tenant: String,
    pub aliases: Vec<String>,
    /// maildir, smtp HOST:PORT or lmtp HOST:PORT.
    pub target: String,
}

impl From<&Recipient> for RecipientView {
    fn from(r: &Recipient) -> RecipientView {
        RecipientView {
            address: r.address(),
            tenant: r.tenant.to_string(),
            aliases: r.aliases.clone(),
            target: match &r.target {
                DeliveryTarget::Maildir => "maildir".into(),
                DeliveryTarget::Smtp(hop) => format!("smtp {hop}"),
                DeliveryTarget::Lmtp(hop) => format!("lmtp {hop}"),
            },
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientInput {
    /// local-part@domain of one of the tenant's accepted domains.
    pub address: String,
    /// Other local parts of the same domain delivered to it.
    #[serde(default)]
    pub alias: Vec<String>,
    /// Deliver to HOST[:PORT] over SMTP instead of a Maildir.
    #[serde(default)]
    pub smtp: Option<String>,
    /// Deliver to HOST[:PORT] over LMTP instead of a Maildir.
    #[serde(default)]
    pub lmtp: Option<String>,
}

/// A connector of either direction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConnectorView {
    pub name: String,
    pub tenant: String,
    /// inbound or outbound.
    pub direction: String,
    pub enabled: bool,
    /// Inbound: partner or on-premises.
    pub kind: Option<String>,
    pub ip: Vec<String>,
    pub certificate_name: Vec<String>,
    pub sender_domain: Vec<String>,
    pub restrict_sender_domains: bool,
    pub require_tls: bool,
    /// Outbound: the recipient domains it carries (none: all).
    pub recipient_domain: Vec<String>,
    /// Outbound: smart hosts in order (none: by MX).
    pub smart_host: Vec<String>,
    /// Outbound: opportunistic, required, verify-certificate or verify-domain.
    pub tls: Option<String>,
    pub tls_domain: Option<String>,
    /// Unix seconds; 0 for a connector made before changes were recorded.
    pub created_at_unix_s: u64,
    pub created_by: String,
    pub changed_at_unix_s: u64,
    pub changed_by: String,
    /// What the last change was, and why.
    pub change_note: String,
}

fn texts<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

impl From<&Connector> for ConnectorView {
    fn from(c: &Connector) -> ConnectorView {
        ConnectorView {
            name: c.name.clone(),
            tenant: c.tenant.to_string(),
            direction: "inbound".into(),
            enabled: c.enabled,
            kind: Some(c.kind.to_string()),
            ip: texts(&c.ip_ranges),
            certificate_name: texts(&c.certificate_names),
            sender_domain: texts(&c.sender_domains),
            restrict_sender_domains: c.restrict_sender_domains,
            require_tls: c.require_tls,
            recipient_domain: Vec::new(),
            smart_host: Vec::new(),
            tls: None,
            tls_domain: None,
            created_at_unix_s: c.record.created_at_unix_s,
            created_by: c.record.created_by.clone(),
            changed_at_unix_s: c.record.changed_at_unix_s,
            changed_by: c.record.changed_by.clone(),
            change_note: c.record.change_note.clone(),
        }
    }
}

impl From<&OutboundConnector> for ConnectorView {
    fn from(c: &OutboundConnector) -> ConnectorView {
        let (tls, tls_domain) = match &c.tls {
            directory::OutboundTls::VerifyDomain(d) => ("verify-domain".to_string(), Some(d.to_string())),
            other => (other.to_string(), None),
        };
        ConnectorView {
            name: c.name.clone(),
            tenant: c.tenant.to_string(),
            direction: "outbound".into(),
            enabled: c.enabled,
            kind: None,
            ip: Vec::new(),
            certificate_name: Vec::new(),
            sender_domain: Vec::new(),
            restrict_sender_domains: false,
            require_tls: false,
            recipient_domain: texts(&c.recipient_domains),
            smart_host: match &c.route {
                OutboundRoute::Mx => Vec::new(),
                OutboundRoute::SmartHosts(hosts) => texts(hosts),
            },
            tls: Some(tls),
            tls_domain,
            created_at_unix_s: c.record.created_at_unix_s,
            created_by: c.record.created_by.clone(),
            changed_at_unix_s: c.record.changed_at_unix_s,
            changed_by: c.record.changed_by.clone(),
            change_note: c.record.change_note.clone(),
        }
    }
}

/// A new connector. Each direction refuses the other's keys, naming them.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorInput {
    pub name: String,
    /// inbound (default) or outbound.
    #[serde(default)]
    pub direction: Option<String>,
    /// Inbound: partner or on-premises.
    #[serde(default)]
    pub kind: Option<String>,
    /// Inbound: sender IP ranges (CIDR) that identify it.
    #[serde(default)]
    pub ip: Vec<String>,
    /// Inbound: TLS client-certificate names that identify it (`*.` for one label).
    #[serde(default)]
    pub certificate_name: Vec<String>,
    /// Inbound: sender domains it carries.
    #[serde(default)]
    pub sender_domain: Vec<String>,
    /// Inbound: sender domains accepted only through this connector.
    #[serde(default)]
    pub restrict_sender_domain: Vec<String>,
    /// Inbound: refuse mail not sent over TLS (default: yes for partners, no for on-premises).
    #[serde(default)]
    pub require_tls: Option<bool>,
    /// Outbound: recipient domains it carries (none: all).
    #[serde(default)]
    pub recipient_domain: Vec<String>,
    /// Outbound: HOST[:PORT] smart hosts in order (none: by MX).
    #[serde(default)]
    pub smart_host: Vec<String>,
    /// Outbound: opportunistic (default), required, verify-certificate, verify-domain.
    #[serde(default)]
    pub tls: Option<String>,
    #[serde(default)]
    pub tls_domain: Option<String>,
    /// Created enabled unless false.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Why the connector exists (kept in its change record).
    #[serde(default)]
    pub note: Option<String>,
    /// Who creates it, for the record (default: the caller; the audit log names the caller
    /// either way).
    #[serde(default)]
    pub by: Option<String>,
}

/// A change to a connector: lists to add to or remove from, settings to set. Each
/// direction refuses the other's keys; a change that changes nothing is refused.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorEdit {
    /// Inbound: sender IP ranges (CIDR) to add.
    #[serde(default)]
    pub add_ip: Vec<String>,
    #[serde(default)]
    pub remove_ip: Vec<String>,
    /// Inbound: TLS client-certificate names to add (`*.` for one label).
    #[serde(default)]
    pub add_certificate_name: Vec<String>,
    #[serde(default)]
    pub remove_certificate_name: Vec<String>,
    /// Inbound: sender domains to add to those the connector carries.
    #[serde(default)]
    pub add_sender_domain: Vec<String>,
    #[serde(default)]
    pub remove_sender_domain: Vec<String>,
    /// Inbound: reject mail for the connector's sender domains unless it comes through it.
    #[serde(default)]
    pub restrict_sender_domains: Option<bool>,
    /// Inbound: reject mail not sent over TLS.
    #[serde(default)]
    pub require_tls: Option<bool>,
    /// Outbound: recipient domains to add (none left: all domains).
    #[serde(default)]
    pub add_recipient_domain: Vec<String>,
    #[serde(default)]
    pub remove_recipient_domain: Vec<String>,
    /// Outbound: smart hosts HOST[:PORT] to add at the end of the list.
    #[serde(default)]
    pub add_smart_host: Vec<String>,
    #[serde(default)]
    pub remove_smart_host: Vec<String>,
    /// Outbound: opportunistic, required, verify-certificate or verify-domain.
    #[serde(default)]
    pub tls: Option<String>,
    #[serde(default)]
    pub tls_domain: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Why (kept in the change record with what changed).
    #[serde(default)]
    pub note: Option<String>,
    /// Who changes it, for the record (default: the caller).
    #[serde(default)]
    pub by: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateInput {
    /// Outbound: also send a test message to this address. Inbound: the recipient whose
    /// exact reply to report (nothing is sent).
    #[serde(default)]
    pub to: Option<String>,
    /// Outbound: the test message's sender (default postmaster@<hostname>). Inbound: the
    /// MAIL FROM to judge (restricted sender domains, relay attribution).
    #[serde(default)]
    pub from: Option<String>,
    /// Inbound: the client's address.
    #[serde(default)]
    pub client_ip: Option<String>,
    /// Inbound: the client's TLS certificate (PEM, end entity first, then its chain).
    #[serde(default)]
    pub client_cert: Option<String>,
}

/// A connector to check before it is saved.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInput {
    pub connector: ConnectorInput,
    /// Outbound: also send a test message to this address.
    #[serde(default)]
    pub to: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ValidationView {
    pub connector: String,
    pub passed: bool,
    pub steps: Vec<crate::live::ProbeStepView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReputationView {
    pub cidr: String,
    /// block or exception.
    pub kind: String,
    pub note: String,
    /// Unix seconds after which it no longer applies (the running server then removes it
    /// and logs it once); none: until removed.
    pub expires_at_unix_s: Option<u64>,
}

impl From<&ReputationEntry> for ReputationView {
    fn from(e: &ReputationEntry) -> ReputationView {
        ReputationView {
            cidr: e.cidr.to_string(),
            kind: match e.kind {
                ReputationKind::Block => "block",
                ReputationKind::Exception => "exception",
            }
            .into(),
            note: e.note.clone(),
            expires_at_unix_s: e.expires_at_unix_s,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReputationInput {
    pub cidr: String,
    /// block or exception.
    pub kind: String,
    #[serde(default)]
    pub note: Option<String>,
    /// A lifetime such as 30d or 12h: the entry stops applying then (default: none).
    #[serde(default)]
    pub expires: Option<String>,
}

/// One risk an audit found on a connector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RiskView {
    /// high, medium or low.
    pub risk: String,
    /// broad-range, overlaps-other-tenant, on-premises-without-tls, recently-created,
    /// recently-changed, disabled, wildcard-public-suffix.
    pub flag: String,
    pub reason: String,
}

/// A connector as the audit sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConnectorAuditView {
    pub tenant: String,
    pub name: String,
    /// inbound or outbound.
    pub direction: String,
    /// Inbound: partner or on-premises.
    pub kind: Option<String>,
    pub enabled: bool,
    pub created_at_unix_s: u64,
    pub created_by: String,
    pub changed_at_unix_s: u64,
    pub changed_by: String,
    pub change_note: String,
    pub flags: Vec<RiskView>,
}

/// The audit of every connector the caller sees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditReportView {
    /// Whether any connector carries a high-risk flag (`sluice connector audit` then exits 1).
    pub high_risk: bool,
    pub connectors: Vec<ConnectorAuditView>,
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConnectorAuditParams {
    /// Operators and support: only this tenant's connectors.
    pub tenant: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockView {
    pub blocked_at_unix_s: u64,
    /// The signal that tripped, with its figures.
    pub reason: String,
}

impl From<&OutboundBlock> for BlockView {
    fn from(b: &OutboundBlock) -> BlockView {
        BlockView { blocked_at_unix_s: b.blocked_at_unix_s, reason: b.reason.clone() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReleaseView {
    pub block: BlockView,
    pub released_at_unix_s: u64,
    pub released_by: String,
    pub reason: String,
}

impl From<&OutboundRelease> for ReleaseView {
    fn from(r: &OutboundRelease) -> ReleaseView {
        ReleaseView {
            block: (&r.block).into(),
            released_at_unix_s: r.released_at_unix_s,
            released_by: r.released_by.clone(),
            reason: r.release_reason.clone(),
        }
    }
}

/// A tenant's outbound protection state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OutboundView {
    pub tenant: String,
    /// The 5.7.705 block in force, if any.
    pub block: Option<BlockView>,
    /// Earlier releases, newest first.
    pub releases: Vec<ReleaseView>,
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInput {
    /// Why it is safe to release (kept on record).
    pub reason: String,
    /// Who releases, for the record (default: the token; the audit log names the token
    /// either way).
    #[serde(default)]
    pub by: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub role: String,
    pub tenant: Option<String>,
    pub note: String,
    pub created_at_unix_s: u64,
    pub created_by: String,
    pub expires_at_unix_s: Option<u64>,
    pub revoked_at_unix_s: Option<u64>,
}

impl From<&access::TokenRecord> for TokenView {
    fn from(t: &access::TokenRecord) -> TokenView {
        TokenView {
            id: t.id.to_string(),
            role: t.role.to_string(),
            tenant: t.tenant.as_ref().map(ToString::to_string),
            note: t.note.clone(),
            created_at_unix_s: t.created_at_unix_s,
            created_by: t.created_by.clone(),
            expires_at_unix_s: t.expires_at_unix_s,
            revoked_at_unix_s: t.revoked_at_unix_s,
        }
    }
}

/// A new token: `token` is shown this once and never again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    pub token: String,
    #[serde(flatten)]
    pub record: TokenView,
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    /// operator, support, tenant-admin or tenant-reader.
    pub role: String,
    /// For tenant roles: the tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Lifetime such as 90d, 12h (default: 90d; `never` for none).
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    pub id: u64,
    pub at_unix_s: u64,
    pub actor: String,
    pub tenant: Option<String>,
    pub action: String,
    pub object: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub source: String,
}

impl From<&access::AuditEntry> for AuditView {
    fn from(e: &access::AuditEntry) -> AuditView {
        AuditView {
            id: e.id,
            at_unix_s: e.entry.at_unix_s,
            actor: e.entry.actor.clone(),
            tenant: e.entry.tenant.as_ref().map(ToString::to_string),
            action: e.entry.action.clone(),
            object: e.entry.object.clone(),
            before: e.entry.before.clone(),
            after: e.entry.after.clone(),
            source: e.entry.source.clone(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only entries about this tenant's objects (tenant tokens see only their own).
    pub tenant: Option<String>,
    /// `token:<id>` or `os:<user>`.
    pub actor: Option<String>,
    /// An action or its prefix: `domain`, `domain.add`.
    pub action: Option<String>,
    /// Unix seconds, or an age such as 2h, 7d.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Entries older than this id (the next page).
    pub before: Option<u64>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    pub id: u64,
    pub tenant: String,
    /// reputation-exception or outbound-release.
    pub kind: String,
    /// For a reputation exception: the range.
    pub cidr: Option<String>,
    pub justification: String,
    pub requested_by: String,
    pub requested_at_unix_s: u64,
    /// pending, approved or denied.
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at_unix_s: Option<u64>,
    pub note: Option<String>,
}

impl From<&access::Request> for RequestView {
    fn from(r: &access::Request) -> RequestView {
        RequestView {
            id: r.id,
            tenant: r.tenant.to_string(),
            kind: r.kind.name().into(),
            cidr: match &r.kind {
                access::RequestKind::ReputationException { cidr } => Some(cidr.to_string()),
                access::RequestKind::OutboundRelease => None,
            },
            justification: r.justification.clone(),
            requested_by: r.requested_by.clone(),
            requested_at_unix_s: r.requested_at_unix_s,
            status: r.status.to_string(),
            decided_by: r.decided_by.clone(),
            decided_at_unix_s: r.decided_at_unix_s,
            note: r.note.clone(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestInput {
    /// reputation-exception or outbound-release.
    pub kind: String,
    /// For reputation-exception: the range refused with 5.7.708.
    #[serde(default)]
    pub cidr: Option<String>,
    pub justification: String,
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// For the requester: why.
    pub note: String,
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RequestParams {
    /// pending, approved or denied.
    pub status: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TraceParams {
    pub sender: Option<String>,
    pub recipient: Option<String>,
    /// The Message-ID header (with or without angle brackets) or the queue id.
    pub message_id: Option<String>,
    /// The client IP.
    pub ip: Option<String>,
    /// received, deferred, delivered or failed.
    pub status: Option<String>,
    /// inbound or outbound.
    pub direction: Option<String>,
    /// Unix seconds, or an age such as 2h, 7d (default: 48h).
    pub since: Option<String>,
    pub until: Option<String>,
    /// From the previous page's `next`.
    pub cursor: Option<String>,
    /// Rows per page (default 50, at most 200).
    pub limit: Option<usize>,
    /// Operators and support: only this tenant's messages.
    pub tenant: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TraceMessageView {
    pub message: String,
    pub received_at_unix_ms: u64,
    pub client_ip: String,
    pub direction: String,
    pub tenant: Option<String>,
    pub sender: String,
    pub recipients: Vec<String>,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub size_bytes: u64,
    /// received, deferred, delivered or failed.
    pub status: String,
}

impl From<&trace::MessageSummary> for TraceMessageView {
    fn from(m: &trace::MessageSummary) -> TraceMessageView {
        TraceMessageView::new(&m.received, m.status)
    }
}

impl TraceMessageView {
    fn new(r: &trace::Received, status: trace::MessageStatus) -> TraceMessageView {
        TraceMessageView {
            message: r.message.clone(),
            received_at_unix_ms: r.at_unix_ms,
            client_ip: r.client_ip.to_string(),
            direction: r.direction.to_string(),
            tenant: r.tenant.as_ref().map(ToString::to_string),
            sender: r.sender.clone(),
            recipients: r.recipients.clone(),
            message_id: r.message_id.clone(),
            subject: r.subject.clone(),
            size_bytes: r.size_bytes,
            status: status.to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TracePage {
    pub items: Vec<TraceMessageView>,
    /// The cursor of the next page; absent on the last.
    pub next: Option<String>,
}

/// A message in full: how it arrived and every step of each recipient, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TraceDetailView {
    pub summary: TraceMessageView,
    pub helo: String,
    /// TLS version and cipher, when the session used TLS.
    pub tls: Option<String>,
    pub client_cert: Option<String>,
    pub connector: Option<String>,
    pub recipients: Vec<RecipientStatusView>,
    pub timeline: Vec<TimelineView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecipientStatusView {
    pub address: String,
    /// pending, deferred, delivered, bounced or expired.
    pub status: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TimelineView {
    pub at_unix_ms: u64,
    pub recipient: String,
    /// routed, deferred, delivered, bounced, expired or notified.
    pub step: String,
    /// Where it was routed or delivered, the reply, the notification kind.
    pub detail: String,
    pub next_attempt_unix_ms: Option<u64>,
}

impl From<&trace::MessageTrace> for TraceDetailView {
    fn from(t: &trace::MessageTrace) -> TraceDetailView {
        let r = &t.received;
        TraceDetailView {
            summary: TraceMessageView::new(r, t.status),
            helo: r.helo.clone(),
            tls: r.tls.as_ref().map(|tls| format!("{} {}", tls.version, tls.cipher)),
            client_cert: r.client_cert.clone(),
            connector: r.connector.clone(),
            recipients: t
                .recipients
                .iter()
                .map(|(address, status)| RecipientStatusView {
                    address: address.clone(),
                    status: status.as_str().into(),
                })
                .collect(),
            timeline: t.timeline.iter().map(timeline).collect(),
        }
    }
}

fn timeline(t: &trace::TimelineEntry) -> TimelineView {
    use trace::Outcome;
    let (step, detail, next) = match &t.outcome {
        Outcome::Routed { to } => ("routed", to.clone(), None),
        Outcome::Deferred { reply, next_attempt_unix_ms } => {
            ("deferred", reply.clone(), *next_attempt_unix_ms)
        }
        Outcome::Delivered { host, reply } => ("delivered", format!("{host}: {reply}"), None),
        Outcome::Bounced { reply } => ("bounced", reply.clone(), None),
        Outcome::Expired { reply } => ("expired", reply.clone(), None),
        Outcome::Notified { notification } => ("notified", notification.clone(), None),
    };
    TimelineView {
        at_unix_ms: t.at_unix_ms,
        recipient: t.recipient.clone(),
        step: step.into(),
        detail,
        next_attempt_unix_ms: next,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefusalView {
    pub minute_unix_s: u64,
    pub client_ip: String,
    pub sender: String,
    pub recipient_domain: String,
    pub reply: String,
    pub tenant: Option<String>,
    pub direction: String,
    /// Refusals counted in this minute.
    pub count: u64,
    pub first_at_unix_ms: u64,
    pub last_at_unix_ms: u64,
}

impl From<&trace::RefusalRow> for RefusalView {
    fn from(r: &trace::RefusalRow) -> RefusalView {
        RefusalView {
            minute_unix_s: r.minute_unix_s,
            client_ip: r.client_ip.to_string(),
            sender: r.sender.clone(),
            recipient_domain: r.recipient_domain.clone(),
            reply: r.reply.clone(),
            tenant: r.tenant.as_ref().map(ToString::to_string),
            direction: r.direction.to_string(),
            count: r.count,
            first_at_unix_ms: r.first_at_unix_ms,
            last_at_unix_ms: r.last_at_unix_ms,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefusalPage {
    pub items: Vec<RefusalView>,
    pub next: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueueView {
    /// Messages in the queue (the list may show fewer).
    pub total: usize,
    pub messages: Vec<crate::live::QueueEntryView>,
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueueParams {
    /// Show at most this many (default 100).
    pub limit: Option<usize>,
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ThrottledParams {
    /// Deferrals within this age, such as 1h or 30m (at most 24h, the default).
    pub since: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CounterView {
    pub name: String,
    pub value: u64,
}

/// How `DELETE /api/v1/queue/{id}` removes a message.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueueDeleteParams {
    /// Send the sender a bounce (a DSN saying an administrator removed the message, `5.3.0`);
    /// default true. `false` removes it silently.
    pub bounce: Option<bool>,
    /// Remove only these recipients (addresses, comma-separated); default every recipient
    /// not yet delivered or bounced.
    pub recipients: Option<String>,
}

/// What an operator's removal did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueueDeleted {
    pub id: String,
    /// Whether the sender was sent a bounce.
    pub bounced: bool,
    /// The running server's account of it: the recipients removed.
    pub message: String,
}

/// The answer of an action that returns nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Done {
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AllowView {
    pub cidr: String,
    pub note: String,
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowInput {
    /// A network never throttled nor counted (e.g. a partner's relay).
    pub cidr: String,
    /// Why, for the next operator.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FlowParams {
    /// Operators and support: only this tenant's mail (tenant roles: always their own).
    pub tenant: Option<String>,
    /// Only clients in this network: an address or a CIDR.
    pub network: Option<String>,
    /// How far back: an age such as 24h, 7d (default 24h).
    pub since: Option<String>,
    /// Bucket width: 1h (default), 6h, 1d, ...
    pub bucket: Option<String>,
}

/// How far back `GET /api/v1/throttle/ips/{ip}/history` looks.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// Days, 1 to 28 (default 7).
    pub days: Option<u32>,
}

/// One client address's (or network's) history, hour by hour: its volume, what throttling
/// deferred, and its allowance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ThrottleHistoryView {
    /// The address or network asked about.
    pub network: String,
    pub days: u32,
    /// Recipients per hour the engine allows it now; none while it is not tracked (or the
    /// server does not answer).
    pub allowance_per_hour_now: Option<f32>,
    /// Whether the hours carry the allowance of their time. Sluice keeps no past allowance:
    /// only the current one is known (drawn as a line across the chart).
    pub past_allowance_kept: bool,
    /// Recipients accepted and deferred over the whole period, and the deferred share.
    pub accepted: u64,
    pub deferred: u64,
    pub deferred_percent: u32,
    /// Oldest first, one per hour.
    pub hours: Vec<HistoryHourView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HistoryHourView {
    pub start_unix_s: u64,
    /// Recipients accepted from the network in the hour.
    pub accepted: u64,
    /// Recipients deferred by IP throttling (451 4.7.5xx) in the hour.
    pub deferred: u64,
    /// Deferred among accepted and deferred, rounded (0 for an hour with neither).
    pub deferred_percent: u32,
}

/// Mail flow per bucket, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FlowView {
    pub bucket_s: u64,
    pub buckets: Vec<FlowBucketView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FlowBucketView {
    pub start_unix_s: u64,
    /// Messages accepted, and their recipients.
    pub accepted: u64,
    pub accepted_recipients: u64,
    /// Recipients deferred by IP throttling (451 4.7.5xx).
    pub throttled: u64,
    /// Other refusals at SMTP time.
    pub refused: u64,
    /// Recipients delivered, and bounced or expired.
    pub delivered: u64,
    pub bounced: u64,
}

impl From<&trace::FlowBucket> for FlowBucketView {
    fn from(b: &trace::FlowBucket) -> FlowBucketView {
        FlowBucketView {
            start_unix_s: b.start_unix_ms / 1000,
            accepted: b.accepted,
            accepted_recipients: b.accepted_recipients,
            throttled: b.throttled,
            refused: b.refused,
            delivered: b.delivered,
            bounced: b.bounced,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ClientParams {
    /// Operators and support: only this tenant's mail (tenant roles: always their own).
    pub tenant: Option<String>,
    /// Only clients in this network: an address or a CIDR.
    pub network: Option<String>,
    /// How far back: an age such as 24h, 7d (default 10d).
    pub since: Option<String>,
    /// At most this many (default 50, at most 500).
    pub limit: Option<usize>,
}

/// What one client address sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClientView {
    pub ip: String,
    pub accepted: u64,
    /// Of the accepted messages, those that came over TLS.
    pub accepted_tls: u64,
    /// Recipients deferred by IP throttling.
    pub throttled: u64,
    pub refused: u64,
    pub last_seen_unix_s: u64,
}

impl From<&trace::ClientActivity> for ClientView {
    fn from(c: &trace::ClientActivity) -> ClientView {
        ClientView {
            ip: c.client_ip.to_string(),
            accepted: c.accepted,
            accepted_tls: c.accepted_tls,
            throttled: c.throttled,
            refused: c.refused,
            last_seen_unix_s: c.last_seen_unix_ms / 1000,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QuarantineParams {
    /// Only this tenant's held messages (a tenant role sees its own whatever this says).
    pub tenant: Option<String>,
}

/// What a held message holds, decoded for reading (never for running): its headers, its
/// text (an HTML-only message turned into plain text), its attachments by name and size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeldMessageContent {
    /// The top-level headers as sent (unfolded), at most 200.
    pub headers: Vec<(String, String)>,
    /// The Subject, decoded.
    pub subject: String,
    /// The first text part, decoded, at most 64 Ki characters.
    pub text: String,
    /// The text was made from the HTML part (the message has no plain-text part).
    pub text_from_html: bool,
    /// The text, the headers or the attachments list were cut at their bound.
    pub cut: bool,
    /// Only the message's first 16 MiB were read.
    pub partly_read: bool,
    pub attachments: Vec<AttachmentView>,
}

/// An attachment of a held message: listed, never served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentView {
    pub name: String,
    pub content_type: String,
    /// Decoded bytes.
    pub size: u64,
}

/// A held message with its headers and the start of its text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeldMessagePreview {
    pub message: crate::live::HeldMessageView,
    pub preview: String,
}
