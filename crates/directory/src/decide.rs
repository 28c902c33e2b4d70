//! The pure decisions the gateway's `Policy` calls on the hot path. Each reads only the
//! snapshot and the session's facts; the order of checks is documented in the crate root.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::cidr::Cidr;
use crate::model::{AcceptedDomain, Connector, ConnectorKind, DeliveryTarget, DomainKind, TenantStatus};
use crate::names::{DomainName, TenantId};
use crate::refusal::{self, Refusal};
use crate::snapshot::{DomainLookup, Snapshot};

/// Names of a TLS client certificate that the gateway has already verified (subject CN and
/// SAN DNS names, as presented).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientCert {
    pub names: Vec<String>,
}

/// How the session's client is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport<'a> {
    Plain,
    Tls { client_cert: Option<&'a ClientCert> },
}

/// Why a connector matched, most trusted first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatchedBy {
    /// A certificate name equal to one of the connector's exact names.
    CertificateExact(DomainName),
    /// A certificate name under one of the connector's wildcards (the part after `*.`).
    CertificateWildcard(DomainName),
    /// The client IP is in this range of the connector (the longest that matched).
    IpRange(Cidr),
}

impl std::fmt::Display for MatchedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MatchedBy::CertificateExact(name) => write!(f, "certificate name {name}"),
            MatchedBy::CertificateWildcard(parent) => write!(f, "certificate name under *.{parent}"),
            MatchedBy::IpRange(cidr) => write!(f, "IP range {cidr}"),
        }
    }
}

/// The connector a session's client was recognised as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectorMatch {
    pub connector: Arc<Connector>,
    pub by: MatchedBy,
    /// A suspended tenant's connector is still recognised, so its refusals can say why.
    pub tenant_status: TenantStatus,
}

impl ConnectorMatch {
    /// Whether mail through it may be attributed to its tenant (see
    /// [`RecipientRoute::connector`]): not while the tenant is suspended.
    pub fn is_trusted(&self) -> bool {
        self.tenant_status == TenantStatus::Active
    }

    fn is(&self, connector: &Connector) -> bool {
        self.connector.tenant == connector.tenant && self.connector.name == connector.name
    }
}

/// What the decisions need to know about a session, computed once after the handshake
/// (and again after STARTTLS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionContext {
    pub client_ip: IpAddr,
    pub tls: bool,
    pub connector: Option<ConnectorMatch>,
}

/// Where an accepted recipient's mail goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientRoute {
    pub tenant: TenantId,
    /// The accepted domain that matched and its kind; `None` for outbound relay.
    pub accepted_domain: Option<(DomainName, DomainKind)>,
    /// The connector this recipient's mail is attributed to: the session's connector when
    /// it is trusted and belongs to the recipient's tenant (always, for outbound relay).
    /// The gateway skips IP throttling for the recipient when this is set.
    pub connector: Option<String>,
    pub target: RouteTarget,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteTarget {
    /// A listed recipient or alias: deliver to `address` (the canonical, lower-case
    /// address) at `target`.
    Recipient { address: String, target: DeliveryTarget },
    /// An unlisted recipient of an internal-relay domain: pass it on to the tenant's server.
    InternalRelay,
    /// Outbound mail from the tenant's on-premises connector, to any domain.
    OutboundRelay { connector: String },
}

/// Characters that turn a local part into a route to somewhere else (percent hack, bang
/// path, quoted `@`); a quoted local part keeps its quotes from the parser.
const ROUTING_CHARS: &[char] = &['%', '!', '@', '"', '\\'];

/// Certificate names looked at per session: a certificate is remote input, and real ones
/// carry a handful of names.
const CERTIFICATE_NAMES_MAX: usize = 100;

/// A connector's "reject mail not sent over TLS": plain text is refused; and when the
/// connector also names its servers' certificates, a session recognised only by its address
/// must present one of them (a matching certificate would have been recognised by name,
/// which takes precedence over addresses).
fn tls_rule(ctx: &SessionContext, m: &ConnectorMatch) -> Result<(), Refusal> {
    if !m.connector.require_tls {
        return Ok(());
    }
    if !ctx.tls {
        return Err(refusal::tls_required(&m.connector));
    }
    if matches!(m.by, MatchedBy::IpRange(_)) && !m.connector.certificate_names.is_empty() {
        return Err(refusal::certificate_required(&m.connector));
    }
    Ok(())
}

impl Snapshot {
    /// The connector the client is recognised as. Precedence: a certificate name equal to
    /// an exact connector name, then a certificate name under a wildcard, then the longest
    /// IP range containing the client; equal candidates go to the lowest (tenant, name).
    /// Disabled connectors are never matched.
    pub fn connector_for(&self, ip: IpAddr, cert: Option<&ClientCert>) -> Option<ConnectorMatch> {
        let by_cert = cert.and_then(|c| self.match_certificate(c));
        let (index, by) = by_cert.or_else(|| {
            let (cidr, indexes) = self.by_ip.longest_match(ip)?;
            Some((*indexes.first()?, MatchedBy::IpRange(*cidr)))
        })?;
        let connector = Arc::clone(self.connectors.get(index)?);
        let tenant_status = self.tenants.get(&connector.tenant).map_or(TenantStatus::Suspended, |t| t.status);
        Some(ConnectorMatch { connector, by, tenant_status })
    }

    fn match_certificate(&self, cert: &ClientCert) -> Option<(usize, MatchedBy)> {
        // A presented wildcard name proves nothing about this particular client.
        let names: Vec<DomainName> = cert
            .names
            .iter()
            .take(CERTIFICATE_NAMES_MAX)
            .filter(|n| !n.contains('*'))
            .filter_map(|n| DomainName::for_lookup(n))
            .collect();
        let exact = names
            .iter()
            .filter_map(|n| Some((*self.by_cert_exact.get(n)?.first()?, n)))
            .min_by_key(|(i, _)| *i)
            .map(|(i, n)| (i, MatchedBy::CertificateExact(n.clone())));
        exact.or_else(|| {
            names
                .iter()
                .filter_map(|n| {
                    let parent = n.parent()?;
                    Some((*self.by_cert_wildcard.get(&parent)?.first()?, parent))
                })
                .min_by_key(|(i, _)| *i)
                .map(|(i, parent)| (i, MatchedBy::CertificateWildcard(parent)))
        })
    }

    /// The context of a session: its client, transport and connector.
    pub fn session(&self, client_ip: IpAddr, transport: Transport<'_>) -> SessionContext {
        let (tls, cert) = match transport {
            Transport::Plain => (false, None),
            Transport::Tls { client_cert } => (true, client_cert),
        };
        SessionContext { client_ip, tls, connector: self.connector_for(client_ip, cert) }
    }

    /// Rules about the client alone, for MAIL FROM (and again at each RCPT): an
    /// on-premises connector's TLS requirement (all its mail is its tenant's), then, for a
    /// client that is no connector, the low-reputation list. A partner's rules depend on
    /// the recipient's tenant and wait for RCPT.
    pub fn check_client(&self, ctx: &SessionContext) -> Result<(), Refusal> {
        match &ctx.connector {
            Some(m) if m.connector.kind == ConnectorKind::OnPremises => tls_rule(ctx, m),
            Some(_) => Ok(()),
            None if self.blocked.longest_match(ctx.client_ip).is_some()
                && self.excepted.longest_match(ctx.client_ip).is_none() =>
            {
                Err(refusal::low_reputation(ctx.client_ip))
            }
            None => Ok(()),
        }
    }

    /// For a client a DNS blocklist `zone` lists (the gateway looks it up): refused with
    /// `550 5.7.708` naming the zone, unless the client came through a connector (a tenant
    /// vouches for it; its own rules apply, as for the operator's list) or an operator
    /// exception covers it. An exception overrides every DNSBL, as it overrides blocks.
    pub fn check_dnsbl_listed(&self, ctx: &SessionContext, zone: &str) -> Result<(), Refusal> {
        if ctx.connector.is_some() || self.excepted.longest_match(ctx.client_ip).is_some() {
            return Ok(());
        }
        Err(refusal::dnsbl_listed(ctx.client_ip, zone))
    }

    /// At RCPT TO: the client rules, relay control, the rules of the recipient's tenant,
    /// then the recipient's route. `sender_domain` is the MAIL FROM domain (`None` for the
    /// null sender); `domain` is as received (any case, address literal possible). The
    /// gateway maps a bare `postmaster` to its own postmaster address before calling.
    pub fn check_recipient(
        &self,
        ctx: &SessionContext,
        sender_domain: Option<&str>,
        local_part: &str,
        domain: &str,
    ) -> Result<RecipientRoute, Refusal> {
        self.check_client(ctx)?;
        if domain.starts_with('[') {
            return Err(refusal::relay_denied_literal(domain));
        }
        let Some(name) = DomainName::for_lookup(domain) else {
            // Odd syntax or an invalid IDN: no accepted domain has this form.
            return self.outbound_or(ctx, || refusal::relay_denied(&domain.to_lowercase()));
        };
        match self.find_domain(&name) {
            DomainLookup::Accepted(accepted) => {
                let sender = sender_domain.and_then(DomainName::for_lookup);
                self.inbound_route(ctx, accepted, &name, sender.as_ref(), local_part)
            }
            DomainLookup::Unverified => {
                self.outbound_or(ctx, || refusal::relay_denied_unverified(name.as_str()))
            }
            DomainLookup::NotAccepted => self.outbound_or(ctx, || refusal::relay_denied(name.as_str())),
        }
    }

    /// The enabled connectors of `tenant` listed under `domain` in `map`.
    fn tenant_connectors<'s>(
        &'s self,
        map: &'s HashMap<DomainName, Vec<usize>>,
        domain: &DomainName,
        tenant: &'s TenantId,
    ) -> impl Iterator<Item = &'s Arc<Connector>> + Clone + 's {
        let indexes = map.get(domain).map_or(&[][..], Vec::as_slice);
        indexes.iter().filter_map(|&i| self.connectors.get(i)).filter(move |c| &c.tenant == tenant)
    }

    /// The rules a tenant set for its inbound mail, applied to that tenant's recipients
    /// only: one tenant's connector never changes what another tenant receives (else a
    /// tenant could restrict `gmail.com` for everyone). In order: the TLS requirement of
    /// the tenant's connector the session came through, restricted sender domains, the TLS
    /// requirement of domain-only connectors.
    fn check_tenant_rules(
        &self,
        ctx: &SessionContext,
        tenant: &TenantId,
        sender: Option<&DomainName>,
    ) -> Result<(), Refusal> {
        let own = ctx.connector.as_ref().filter(|m| &m.connector.tenant == tenant);
        if let Some(m) = own {
            tls_rule(ctx, m)?;
        }
        let Some(sender) = sender else { return Ok(()) };
        let mut restricting = self.tenant_connectors(&self.restricted_senders, sender, tenant);
        if let Some(first) = restricting.clone().next()
            && !own.is_some_and(|m| restricting.any(|c| m.is(c)))
        {
            return Err(refusal::restricted_sender(sender.as_str(), first, ctx.client_ip));
        }
        if ctx.connector.is_none()
            && !ctx.tls
            && let Some(c) = self.tenant_connectors(&self.domain_only, sender, tenant).find(|c| c.require_tls)
        {
            return Err(refusal::tls_required(c));
        }
        Ok(())
    }

    fn inbound_route(
        &self,
        ctx: &SessionContext,
        accepted: &AcceptedDomain,
        name: &DomainName,
        sender: Option<&DomainName>,
        local_part: &str,
    ) -> Result<RecipientRoute, Refusal> {
        if self.tenants.get(&accepted.tenant).is_none_or(|t| t.status == TenantStatus::Suspended) {
            return Err(refusal::tenant_suspended_inbound(accepted.name.as_str()));
        }
        self.check_tenant_rules(ctx, &accepted.tenant, sender)?;
        let address = format!("{local_part}@{name}");
        if local_part.is_empty() || local_part.contains(ROUTING_CHARS) {
            return Err(refusal::routing_local_part(&address));
        }
        let target = match (self.recipient(local_part, name), accepted.kind) {
            (Some(r), _) => RouteTarget::Recipient { address: r.address(), target: r.target.clone() },
            (None, DomainKind::InternalRelay) => RouteTarget::InternalRelay,
            (None, DomainKind::Authoritative) => {
                return Err(refusal::unknown_user(&address, name.as_str()));
            }
        };
        let connector = ctx
            .connector
            .as_ref()
            .filter(|m| m.is_trusted() && m.connector.tenant == accepted.tenant)
            .map(|m| m.connector.name.clone());
        Ok(RecipientRoute {
            tenant: accepted.tenant.clone(),
            accepted_domain: Some((accepted.name.clone(), accepted.kind)),
            connector,
            target,
        })
    }

    /// A domain no verified entry accepts: outbound relay for an on-premises connector of
    /// an active tenant, else the refusal `deny` builds.
    fn outbound_or(
        &self,
        ctx: &SessionContext,
        deny: impl FnOnce() -> Refusal,
    ) -> Result<RecipientRoute, Refusal> {
        match &ctx.connector {
            Some(m) if m.connector.kind == ConnectorKind::OnPremises => match m.tenant_status {
                TenantStatus::Suspended => Err(refusal::tenant_suspended_outbound(&m.connector)),
                TenantStatus::Active => Ok(RecipientRoute {
                    tenant: m.connector.tenant.clone(),
                    accepted_domain: None,
                    connector: Some(m.connector.name.clone()),
                    target: RouteTarget::OutboundRelay { connector: m.connector.name.clone() },
                }),
            },
            _ => Err(deny()),
        }
    }
}
