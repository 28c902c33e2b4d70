//! The pure decisions the gateway's session checks call on the hot path. Each reads only
//! the snapshot and the session's facts; the order of checks is documented in the crate root.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::cidr::Cidr;
use crate::model::{AcceptedDomain, Connector, ConnectorKind, DeliveryTarget, DomainKind, TenantStatus};
use crate::names::{CertName, DomainName, TenantId};
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
    /// A certificate name under one of the connector's wildcards (the part after `*.`);
    /// `name` is the certificate's name that matched.
    CertificateWildcard { parent: DomainName, name: DomainName },
    /// The client IP is in this range of the connector (the longest that matched).
    IpRange(Cidr),
}

impl MatchedBy {
    /// Precedence within one tenant: an exact certificate name, then a wildcard, then the
    /// longest IP range.
    fn rank(&self) -> (u8, u8) {
        match self {
            MatchedBy::CertificateExact(_) => (0, 0),
            MatchedBy::CertificateWildcard { .. } => (1, 0),
            MatchedBy::IpRange(cidr) => (2, u8::MAX - cidr.prefix_len()),
        }
    }

    /// The certificate name that matched, when the certificate did.
    pub fn certificate_name(&self) -> Option<&DomainName> {
        match self {
            MatchedBy::CertificateExact(name) | MatchedBy::CertificateWildcard { name, .. } => Some(name),
            MatchedBy::IpRange(_) => None,
        }
    }
}

impl std::fmt::Display for MatchedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MatchedBy::CertificateExact(name) => write!(f, "certificate name {name}"),
            MatchedBy::CertificateWildcard { parent, name } => {
                write!(f, "certificate name {name} under *.{parent}")
            }
            MatchedBy::IpRange(cidr) => write!(f, "IP range {cidr}"),
        }
    }
}

/// One connector the session's client matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectorMatch {
    pub connector: Arc<Connector>,
    pub by: MatchedBy,
    /// A suspended tenant's connector is still recognised, so its refusals can say why.
    pub tenant_status: TenantStatus,
}

impl ConnectorMatch {
    /// Whether mail through it may be attributed to its tenant: not while the tenant is
    /// suspended.
    pub fn is_trusted(&self) -> bool {
        self.tenant_status == TenantStatus::Active
    }

    fn is(&self, connector: &Connector) -> bool {
        self.connector.tenant == connector.tenant && self.connector.name == connector.name
    }

    fn order_key(&self) -> (&TenantId, (u8, u8), &str) {
        (&self.connector.tenant, self.by.rank(), &self.connector.name)
    }
}

/// Connector matches a session keeps (of all tenants together). A client address can be
/// declared by many tenants (a shared filtering service, a hosting provider); beyond this
/// many, the matches of the remaining tenants are not kept but looked up again when one of
/// their recipients comes (the same answer, computed at RCPT instead of once), so the cap
/// bounds a session's memory and never changes a decision.
pub const SESSION_CONNECTORS_MAX: usize = 64;

/// What the decisions need to know about a session, computed once after the handshake
/// (and again after STARTTLS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionContext {
    pub client_ip: IpAddr,
    pub tls: bool,
    /// The verified certificate's usable names (normalised, without presented wildcards, at
    /// most [`CERTIFICATE_NAMES_MAX`]).
    pub certificate_names: Vec<DomainName>,
    /// Every enabled connector of every tenant the client matches, grouped by tenant (tenant
    /// id order), each tenant's most specific first. Whole tenants only, at most
    /// [`SESSION_CONNECTORS_MAX`] matches.
    pub connectors: Vec<ConnectorMatch>,
    /// Some tenants' matches did not fit: they are looked up again when needed.
    pub overflow: bool,
    /// The DNS blocklist zone that lists the client, once the gateway's lookup has said so.
    pub dnsbl_zone: Option<String>,
    /// When the session started (Unix seconds): reputation entries past their expiry no
    /// longer apply.
    pub now_unix_s: u64,
}

impl SessionContext {
    /// The session's matches of `tenant`'s connectors, most specific first, if they were kept.
    fn kept(&self, tenant: &TenantId) -> Option<&[ConnectorMatch]> {
        let start = self.connectors.iter().position(|m| &m.connector.tenant == tenant)?;
        let len = self.connectors[start..].iter().take_while(|m| &m.connector.tenant == tenant).count();
        Some(&self.connectors[start..start + len])
    }

    /// Whether the client matched any connector at all.
    pub fn matches_any_connector(&self) -> bool {
        self.overflow || !self.connectors.is_empty()
    }
}

/// Which tenant relayed mail (recipients outside Sluice, and Sluice's other tenants' recipients
/// as that tenant's outbound mail) is attributed to, for one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relay {
    /// No on-premises connector matched: this client relays for nobody.
    Nobody,
    /// This tenant's on-premises connector: the certificate's name is one of its domains, or
    /// the sender's domain is, or it is the only tenant whose on-premises connector matched.
    Tenant(ConnectorMatch),
    /// On-premises connectors of several tenants match and neither the certificate nor the
    /// sender domain tells which one sends.
    Ambiguous { tenants: usize },
}

/// Where an accepted recipient's mail goes, and how it was admitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientRoute {
    /// The recipient's tenant; for outbound relay, the sending tenant.
    pub tenant: TenantId,
    /// The accepted domain that matched and its kind; `None` for outbound relay.
    pub accepted_domain: Option<(DomainName, DomainKind)>,
    /// The connector of `tenant` the recipient was accepted through (the recipient's
    /// tenant's own connector, or the sending tenant's on-premises connector for outbound
    /// relay). The gateway does not throttle such a recipient.
    pub connector: Option<String>,
    /// The recipient is outbound mail of this tenant's on-premises connector (outbound relay,
    /// or mail to another tenant of this service): outbound protection counts it, and the
    /// gateway does not throttle it.
    pub outbound: Option<OutboundOf>,
    pub target: RouteTarget,
}

impl RecipientRoute {
    /// Whether IP throttling applies: not to what a connector vouches for.
    pub fn is_throttled(&self) -> bool {
        self.connector.is_none() && self.outbound.is_none()
    }
}

/// The tenant whose outbound mail a recipient is, and the on-premises connector it came through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundOf {
    pub tenant: TenantId,
    pub connector: String,
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
pub const CERTIFICATE_NAMES_MAX: usize = 100;

/// Whose rule is being applied: the recipient's tenant (inbound) or the sending tenant's
/// own server (outbound). The refusal texts differ: an outside sender is told about the
/// recipient's organisation, a tenant's server about its own.
#[derive(Clone, Copy, Debug)]
enum Side<'a> {
    Inbound { domain: &'a str },
    Outbound,
}

/// A connector's "reject mail not sent over TLS": plain text is refused; and when the
/// connector also names its servers' certificates, a session recognised only by its address
/// must present one of them (a matching certificate would have been recognised by name,
/// which takes precedence over addresses).
fn tls_rule(ctx: &SessionContext, m: &ConnectorMatch, side: Side<'_>) -> Result<(), Refusal> {
    if !m.connector.require_tls {
        return Ok(());
    }
    let ip = ctx.client_ip;
    if !ctx.tls {
        return Err(match side {
            Side::Inbound { domain } => refusal::tls_required(domain, ip),
            Side::Outbound => refusal::tls_required_outbound(ip),
        });
    }
    if matches!(m.by, MatchedBy::IpRange(_)) && !m.connector.certificate_names.is_empty() {
        let names = &m.connector.certificate_names;
        return Err(match side {
            Side::Inbound { domain } => refusal::certificate_required(domain, ip, names),
            Side::Outbound => refusal::certificate_required_outbound(ip, names),
        });
    }
    Ok(())
}

/// The usable names of a verified certificate: a presented wildcard proves nothing about
/// this particular client.
fn usable_names(cert: &ClientCert) -> Vec<DomainName> {
    cert.names
        .iter()
        .take(CERTIFICATE_NAMES_MAX)
        .filter(|n| !n.contains('*'))
        .filter_map(|n| DomainName::for_lookup(n))
        .collect()
}

/// How `connector` recognises a client with `ip` and certificate `names`, its best way.
fn match_one(connector: &Connector, ip: IpAddr, names: &[DomainName]) -> Option<MatchedBy> {
    let exact = names.iter().find(|n| connector.certificate_names.contains(&CertName::Exact((*n).clone())));
    if let Some(name) = exact {
        return Some(MatchedBy::CertificateExact(name.clone()));
    }
    let wildcard = names.iter().find_map(|n| {
        let parent = n.parent()?;
        connector
            .certificate_names
            .contains(&CertName::Wildcard(parent.clone()))
            .then(|| MatchedBy::CertificateWildcard { parent, name: n.clone() })
    });
    if wildcard.is_some() {
        return wildcard;
    }
    let longest = connector.ip_ranges.iter().filter(|c| c.contains(ip)).max_by_key(|c| c.prefix_len());
    longest.map(|c| MatchedBy::IpRange(*c))
}

impl Snapshot {
    /// The connector a client is recognised as when only one can be named (the most
    /// specific of all tenants' matches: certificate, then the longest range, then the
    /// lowest tenant and name). Decisions use [`Snapshot::session`] and the per-tenant
    /// matches; this is for tools that explain one client.
    pub fn connector_for(&self, ip: IpAddr, cert: Option<&ClientCert>) -> Option<ConnectorMatch> {
        let names = cert.map(usable_names).unwrap_or_default();
        let mut all = self.all_matches(ip, &names);
        all.sort_by(|a, b| {
            (a.by.rank(), &a.connector.tenant, &a.connector.name).cmp(&(
                b.by.rank(),
                &b.connector.tenant,
                &b.connector.name,
            ))
        });
        all.into_iter().next()
    }

    /// Every enabled connector matching the client, grouped by tenant, each tenant's most
    /// specific first.
    fn all_matches(&self, ip: IpAddr, names: &[DomainName]) -> Vec<ConnectorMatch> {
        let mut best: HashMap<usize, MatchedBy> = HashMap::new();
        let mut offer = |index: usize, by: MatchedBy| match best.get(&index) {
            Some(known) if known.rank() <= by.rank() => {}
            _ => {
                best.insert(index, by);
            }
        };
        for name in names {
            for &i in self.by_cert_exact.get(name).into_iter().flatten() {
                offer(i, MatchedBy::CertificateExact(name.clone()));
            }
            let Some(parent) = name.parent() else { continue };
            for &i in self.by_cert_wildcard.get(&parent).into_iter().flatten() {
                offer(i, MatchedBy::CertificateWildcard { parent: parent.clone(), name: name.clone() });
            }
        }
        for (cidr, indexes) in self.by_ip.matches(ip) {
            for &i in indexes {
                offer(i, MatchedBy::IpRange(*cidr));
            }
        }
        let mut matches: Vec<ConnectorMatch> =
            best.into_iter().filter_map(|(i, by)| self.connector_match(i, by)).collect();
        matches.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        matches
    }

    fn connector_match(&self, index: usize, by: MatchedBy) -> Option<ConnectorMatch> {
        let connector = Arc::clone(self.connectors.get(index)?);
        let tenant_status = self.tenants.get(&connector.tenant).map_or(TenantStatus::Suspended, |t| t.status);
        Some(ConnectorMatch { connector, by, tenant_status })
    }

    /// The session's matches of `tenant`'s connectors, most specific first (for tools that
    /// explain a client; decisions use them internally).
    pub fn tenant_matches(&self, ctx: &SessionContext, tenant: &TenantId) -> Vec<ConnectorMatch> {
        self.tenant_matches_cow(ctx, tenant).into_owned()
    }

    /// The session's matches of `tenant`'s connectors: kept in the context, or (for a
    /// tenant beyond the cap) looked up among that tenant's connectors now.
    fn tenant_matches_cow<'c>(
        &self,
        ctx: &'c SessionContext,
        tenant: &TenantId,
    ) -> Cow<'c, [ConnectorMatch]> {
        if let Some(kept) = ctx.kept(tenant) {
            return Cow::Borrowed(kept);
        }
        if !ctx.overflow {
            return Cow::Borrowed(&[]);
        }
        let range = self.tenant_connectors.get(tenant).cloned().unwrap_or(0..0);
        let mut found: Vec<ConnectorMatch> = range
            .filter_map(|i| {
                let by = match_one(self.connectors.get(i)?, ctx.client_ip, &ctx.certificate_names)?;
                self.connector_match(i, by)
            })
            .collect();
        found.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        Cow::Owned(found)
    }

    /// The context of a session: its client, transport and every connector it matches, at
    /// `now_unix_s` (for reputation entries that expire).
    pub fn session(&self, client_ip: IpAddr, transport: Transport<'_>, now_unix_s: u64) -> SessionContext {
        let (tls, cert) = match transport {
            Transport::Plain => (false, None),
            Transport::Tls { client_cert } => (true, client_cert),
        };
        let certificate_names = cert.map(usable_names).unwrap_or_default();
        let all = self.all_matches(client_ip, &certificate_names);
        let (connectors, overflow) = keep_whole_tenants(all, SESSION_CONNECTORS_MAX);
        SessionContext {
            client_ip,
            tls,
            certificate_names,
            connectors,
            overflow,
            dnsbl_zone: None,
            now_unix_s,
        }
    }

    /// Which tenant this transaction's relayed mail belongs to (see [`Relay`]). Precedence:
    /// on-premises connectors recognised by the certificate before those recognised by
    /// address; one tenant alone needs no tie-break; among several, the one whose verified
    /// domain is (or holds) the certificate's matching name, else the one whose verified
    /// domain is (or holds) the sender's domain; else nobody can be told.
    pub fn relay(&self, ctx: &SessionContext, sender_domain: Option<&str>) -> Relay {
        let all;
        let candidates: &[ConnectorMatch] = if ctx.overflow {
            all = self.all_matches(ctx.client_ip, &ctx.certificate_names);
            &all
        } else {
            &ctx.connectors
        };
        let on_premises = |by_certificate: bool| {
            candidates
                .iter()
                .filter(move |m| m.connector.kind == ConnectorKind::OnPremises)
                .filter(move |m| m.by.certificate_name().is_some() == by_certificate)
        };
        let by_certificate = on_premises(true).next().is_some();
        let mut tenants: Vec<&ConnectorMatch> = Vec::new();
        for m in on_premises(by_certificate) {
            if tenants.iter().all(|t| t.connector.tenant != m.connector.tenant) {
                tenants.push(m);
            }
        }
        match tenants.as_slice() {
            [] => Relay::Nobody,
            [only] => Relay::Tenant((*only).clone()),
            several => {
                let sender = sender_domain.and_then(DomainName::for_lookup);
                let by_certificate = |m: &&&ConnectorMatch| {
                    m.by.certificate_name().is_some_and(|n| self.is_verified_within(&m.connector.tenant, n))
                };
                let by_sender = |m: &&&ConnectorMatch| {
                    sender.as_ref().is_some_and(|n| self.is_verified_within(&m.connector.tenant, n))
                };
                let one = |proven: Vec<&&ConnectorMatch>| match proven.as_slice() {
                    [m] => Some((**m).clone()),
                    _ => None,
                };
                one(several.iter().filter(by_certificate).collect())
                    .or_else(|| one(several.iter().filter(by_sender).collect()))
                    .map_or(Relay::Ambiguous { tenants: several.len() }, Relay::Tenant)
            }
        }
    }

    /// The low-reputation rule for a client no connector vouches for: the operator's list
    /// (an exception covering the address overrides any block), then a DNS blocklist
    /// listing (exceptions override it too). Entries past their expiry do not apply.
    fn check_reputation(&self, ctx: &SessionContext) -> Result<(), Refusal> {
        let now = ctx.now_unix_s;
        let in_force = |table: &crate::cidr::CidrTable<Option<u64>>| {
            table.matches(ctx.client_ip).any(|expires| expires.is_none_or(|at| now < at))
        };
        if in_force(&self.excepted) {
            return Ok(());
        }
        if in_force(&self.blocked) {
            return Err(refusal::low_reputation(ctx.client_ip));
        }
        match &ctx.dnsbl_zone {
            Some(zone) => Err(refusal::dnsbl_listed(ctx.client_ip, zone)),
            None => Ok(()),
        }
    }

    /// Rules about the client alone, for MAIL FROM: a client that matches no connector of
    /// any tenant and is in a low-reputation range (or listed by a DNS blocklist) is
    /// refused now. A client some tenant vouches for waits for RCPT, where each
    /// recipient's tenant decides.
    pub fn check_client(&self, ctx: &SessionContext) -> Result<(), Refusal> {
        if ctx.matches_any_connector() {
            return Ok(());
        }
        self.check_reputation(ctx)
    }

    /// At RCPT TO: relay control, the rules of the recipient's tenant, then the
    /// recipient's route. `sender_domain` is the MAIL FROM domain (`None` for the null
    /// sender); `domain` is as received (any case, address literal possible). The gateway
    /// maps a bare `postmaster` to its own postmaster address before calling.
    pub fn check_recipient(
        &self,
        ctx: &SessionContext,
        sender_domain: Option<&str>,
        local_part: &str,
        domain: &str,
    ) -> Result<RecipientRoute, Refusal> {
        if domain.starts_with('[') {
            return Err(refusal::relay_denied_literal(domain));
        }
        let relay = self.relay(ctx, sender_domain);
        let Some(name) = DomainName::for_lookup(domain) else {
            // Odd syntax or an invalid IDN: no accepted domain has this form.
            return self
                .outbound_or(ctx, &relay, sender_domain, || refusal::relay_denied(&domain.to_lowercase()));
        };
        match self.find_domain(&name) {
            DomainLookup::Accepted(accepted) => {
                let sender = sender_domain.and_then(DomainName::for_lookup);
                let facts = Inbound { accepted, name: &name, sender: sender.as_ref(), relay: &relay };
                self.inbound_route(ctx, &facts, local_part)
            }
            DomainLookup::Unverified => self
                .outbound_or(ctx, &relay, sender_domain, || refusal::relay_denied_unverified(name.as_str())),
            DomainLookup::NotAccepted => {
                self.outbound_or(ctx, &relay, sender_domain, || refusal::relay_denied(name.as_str()))
            }
        }
    }

    /// The enabled connectors of `tenant` listed under `domain` in `map`.
    fn listed_connectors<'s>(
        &'s self,
        map: &'s HashMap<DomainName, Vec<usize>>,
        domain: &DomainName,
        tenant: &'s TenantId,
    ) -> impl Iterator<Item = &'s Arc<Connector>> + Clone + 's {
        let indexes = map.get(domain).map_or(&[][..], Vec::as_slice);
        indexes.iter().filter_map(|&i| self.connectors.get(i)).filter(move |c| &c.tenant == tenant)
    }

    /// The rules the recipient's tenant set for its inbound mail, applied to that tenant's
    /// recipients only (one tenant's connector never changes what another tenant receives,
    /// else a tenant could restrict `gmail.com` for everyone). In order: the TLS rule of the
    /// tenant's connector the client matches, restricted sender domains, the TLS rule of
    /// domain-only connectors.
    fn check_tenant_rules(
        &self,
        ctx: &SessionContext,
        facts: &Inbound<'_>,
        own: &[ConnectorMatch],
    ) -> Result<(), Refusal> {
        let (tenant, domain) = (&facts.accepted.tenant, facts.name.as_str());
        if let Some(best) = own.first() {
            tls_rule(ctx, best, Side::Inbound { domain })?;
        }
        let Some(sender) = facts.sender else { return Ok(()) };
        let mut restricting = self.listed_connectors(&self.restricted_senders, sender, tenant);
        if let Some(first) = restricting.clone().next()
            && !own.iter().any(|m| restricting.any(|c| m.is(c)))
        {
            let by_certificate = first.ip_ranges.is_empty() && !first.certificate_names.is_empty();
            return Err(refusal::restricted_sender(sender.as_str(), domain, ctx.client_ip, by_certificate));
        }
        if own.is_empty()
            && !ctx.tls
            && self.listed_connectors(&self.domain_only, sender, tenant).any(|c| c.require_tls)
        {
            return Err(refusal::tls_required_for_sender(sender.as_str(), domain, ctx.client_ip));
        }
        Ok(())
    }

    /// A recipient of an accepted domain: suspended tenant, then (for a client neither the
    /// tenant's connectors nor a sending tenant's on-premises connector vouch for) the
    /// low-reputation rule, the sending tenant's own TLS rule, the recipient tenant's rules,
    /// routing characters, then the recipient itself.
    fn inbound_route(
        &self,
        ctx: &SessionContext,
        facts: &Inbound<'_>,
        local_part: &str,
    ) -> Result<RecipientRoute, Refusal> {
        let accepted = facts.accepted;
        if self.tenants.get(&accepted.tenant).is_none_or(|t| t.status == TenantStatus::Suspended) {
            return Err(refusal::tenant_suspended_inbound(facts.name.as_str()));
        }
        let own = self.tenant_matches_cow(ctx, &accepted.tenant);
        // Mail of another tenant's own server is that tenant's outbound mail too.
        let outbound = match facts.relay {
            Relay::Tenant(m) if m.connector.tenant != accepted.tenant => Some(m),
            _ => None,
        };
        if own.is_empty() && outbound.is_none() {
            self.check_reputation(ctx)?;
        }
        if let Some(m) = outbound {
            if !m.is_trusted() {
                return Err(refusal::tenant_suspended_outbound(ctx.client_ip));
            }
            tls_rule(ctx, m, Side::Outbound)?;
        }
        self.check_tenant_rules(ctx, facts, &own)?;
        let address = format!("{local_part}@{}", facts.name);
        if local_part.is_empty() || local_part.contains(ROUTING_CHARS) {
            return Err(refusal::routing_local_part(&address));
        }
        let target = match (self.recipient(local_part, facts.name), accepted.kind) {
            (Some(r), _) => RouteTarget::Recipient { address: r.address(), target: r.target.clone() },
            (None, DomainKind::InternalRelay) => RouteTarget::InternalRelay,
            (None, DomainKind::Authoritative) => {
                return Err(refusal::unknown_user(&address, facts.name.as_str()));
            }
        };
        Ok(RecipientRoute {
            tenant: accepted.tenant.clone(),
            accepted_domain: Some((accepted.name.clone(), accepted.kind)),
            connector: own.first().map(|m| m.connector.name.clone()),
            outbound: outbound.map(|m| OutboundOf {
                tenant: m.connector.tenant.clone(),
                connector: m.connector.name.clone(),
            }),
            target,
        })
    }

    /// A domain no verified entry accepts: outbound relay for the tenant this transaction is
    /// attributed to (an active tenant's on-premises connector whose TLS rule holds), a
    /// refusal saying why when several tenants' servers share the client and none can be
    /// told, else the refusal `deny` builds (after the low-reputation rule).
    fn outbound_or(
        &self,
        ctx: &SessionContext,
        relay: &Relay,
        sender_domain: Option<&str>,
        deny: impl FnOnce() -> Refusal,
    ) -> Result<RecipientRoute, Refusal> {
        match relay {
            Relay::Tenant(m) if !m.is_trusted() => Err(refusal::tenant_suspended_outbound(ctx.client_ip)),
            Relay::Tenant(m) => {
                tls_rule(ctx, m, Side::Outbound)?;
                let (tenant, connector) = (m.connector.tenant.clone(), m.connector.name.clone());
                Ok(RecipientRoute {
                    tenant: tenant.clone(),
                    accepted_domain: None,
                    connector: Some(connector.clone()),
                    outbound: Some(OutboundOf { tenant, connector: connector.clone() }),
                    target: RouteTarget::OutboundRelay { connector },
                })
            }
            Relay::Ambiguous { .. } => Err(refusal::relay_unattributed(ctx.client_ip, sender_domain)),
            Relay::Nobody => {
                self.check_reputation(ctx)?;
                Err(deny())
            }
        }
    }
}

/// What an inbound recipient's decision is about.
struct Inbound<'a> {
    accepted: &'a AcceptedDomain,
    name: &'a DomainName,
    sender: Option<&'a DomainName>,
    relay: &'a Relay,
}

/// The first matches, whole tenants at a time, up to `max`; and whether any were left out.
fn keep_whole_tenants(all: Vec<ConnectorMatch>, max: usize) -> (Vec<ConnectorMatch>, bool) {
    if all.len() <= max {
        return (all, false);
    }
    let mut cut = 0;
    let mut i = 0;
    while i < all.len() {
        let tenant = &all[i].connector.tenant;
        let end = i + all[i..].iter().take_while(|m| &m.connector.tenant == tenant).count();
        if end > max {
            break;
        }
        cut = end;
        i = end;
    }
    let mut all = all;
    all.truncate(cut);
    (all, true)
}
