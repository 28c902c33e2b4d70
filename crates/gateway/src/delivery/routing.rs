//! Where each recipient of a spooled message goes, decided when delivery is attempted (not
//! when the message was received), so a directory change between the two applies: a moved
//! mailbox is delivered to its new server, a removed one bounces.
//!
//! Order: the tenant directory first (a listed recipient's target, an internal-relay
//! domain's connector), then the config's static accepted domains (local Maildir), then
//! everything else leaves Sluice: through the sending tenant's outbound connector for the
//! domain when it has one, else to the domain's MX hosts.

use std::path::PathBuf;
use std::sync::Arc;

use bounce::ProblemKind;
use directory::{
    DeliveryTarget, DomainName, NextHop, OutboundConnector, OutboundRoute, SharedSnapshot, Snapshot, TenantId,
};
use smtp_wire::reply::code;
use smtp_wire::{Address, EnhancedCode, Envelope};

use crate::delivery::Protocol;
use crate::delivery::maildir::MaildirDelivery;
use crate::delivery::outbound::TlsMode;
use crate::domains::{Owner, StaticDomains, owner};
use crate::follower::DirectoryHealth;

/// Where a group of recipients is delivered; the key of per-destination concurrency and
/// slow-down.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Destination {
    /// Sluice's own Maildir folders.
    Maildir,
    /// The MX hosts of a domain (or its address literal).
    Mx { domain: String, tls: TlsMode },
    /// Fixed hosts, tried in order: a tenant's mailbox server or an outbound connector's
    /// smart hosts.
    Hosts { hosts: Vec<NextHop>, protocol: Protocol, tls: TlsMode },
}

impl Destination {
    /// The destination as people name it, for texts outside Sluice: the domain, or the
    /// hosts (the `Display` form with its scheme is Sluice's internal key).
    pub fn name(&self) -> String {
        match self {
            Destination::Maildir => "the local mailboxes".to_owned(),
            Destination::Mx { domain, .. } => domain.clone(),
            Destination::Hosts { hosts, .. } => {
                hosts.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            }
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Maildir => f.write_str("maildir"),
            Destination::Mx { domain, .. } => write!(f, "mx:{domain}"),
            Destination::Hosts { hosts, protocol, .. } => {
                let scheme = match protocol {
                    Protocol::Smtp => "smtp",
                    Protocol::Lmtp => "lmtp",
                };
                let hosts: Vec<String> = hosts.iter().map(ToString::to_string).collect();
                write!(f, "{scheme}:{}", hosts.join(","))
            }
        }
    }
}

/// The route of one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub destination: Destination,
    /// For Maildir: the folder (the canonical mailbox when the recipient was an alias).
    pub mailbox: Option<PathBuf>,
}

/// A recipient that cannot be routed now: permanently (bounce) or for the moment (retry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoRoute {
    pub status: EnhancedCode,
    /// What a bounce tells people (the reason is for logs and the operator).
    pub kind: ProblemKind,
    pub reason: String,
}

impl NoRoute {
    fn permanent(status: EnhancedCode, kind: ProblemKind, reason: impl Into<String>) -> NoRoute {
        NoRoute { status, kind, reason: reason.into() }
    }

    pub fn is_permanent(&self) -> bool {
        self.status.class == 5
    }
}

/// Decides routes; cheap to share between delivery tasks.
#[derive(Debug)]
pub struct Router {
    pub(crate) directory: Option<Arc<SharedSnapshot>>,
    /// Whether a snapshot was ever loaded: until one is, only the static domains are known.
    pub(crate) health: Arc<DirectoryHealth>,
    pub(crate) static_domains: Arc<StaticDomains>,
    pub(crate) maildir: Arc<MaildirDelivery>,
}

impl Router {
    /// The route of recipient `index` of `envelope`, by who receives mail for its domain.
    pub fn route(&self, envelope: &Envelope, index: u32) -> Result<Route, NoRoute> {
        let address = envelope.recipients.get(index as usize).map(|r| &r.address).ok_or_else(|| {
            NoRoute::permanent(code(5, 1, 0), ProblemKind::Internal, "no such recipient in the envelope")
        })?;
        let snapshot = self.directory.as_ref().map(|shared| shared.current());
        let directory = snapshot.as_deref();
        match owner(directory, &self.static_domains, &address.domain) {
            Owner::Local => self.static_maildir(address),
            // Without a snapshot, a tenant's domain would look like anyone's: wait for it.
            _ if !self.health.loaded() => Err(NoRoute {
                status: code(4, 3, 0),
                kind: ProblemKind::Internal,
                reason: "the tenant directory is unavailable; the message waits until it can be read".into(),
            }),
            Owner::Tenant(domain) => self.tenant_route(directory, envelope, domain, address),
            Owner::Foreign => Ok(self.outbound_route(directory, envelope, address)),
        }
    }

    fn static_maildir(&self, address: &Address) -> Result<Route, NoRoute> {
        let recipient = smtp_wire::Recipient::new(address.clone());
        let mailbox = self
            .maildir
            .mailbox_dir(&recipient)
            .map_err(|e| NoRoute::permanent(code(5, 1, 1), ProblemKind::UnknownRecipient, e.to_string()))?;
        Ok(Route { destination: Destination::Maildir, mailbox: Some(mailbox) })
    }

    /// A recipient of a tenant's domain: a listed recipient's target; an unlisted one of an
    /// internal-relay domain (or a notification to an unlisted user of the tenant) goes to
    /// the tenant's server; any other unlisted one of an authoritative domain, nowhere.
    fn tenant_route(
        &self,
        directory: Option<&Snapshot>,
        envelope: &Envelope,
        domain: &directory::AcceptedDomain,
        address: &Address,
    ) -> Result<Route, NoRoute> {
        let name = DomainName::for_lookup(&address.domain);
        let listed =
            directory.zip(name).and_then(|(snapshot, name)| snapshot.recipient(&address.local_part, &name));
        let Some(recipient) = listed else {
            return match domain.kind {
                directory::DomainKind::InternalRelay => self.tenant_server(directory, domain, address),
                // The tenant's own users need not be listed to send through Sluice: their
                // bounces go back through the tenant's route to its own server.
                directory::DomainKind::Authoritative if is_tenant_notification(envelope, domain) => {
                    self.tenant_server(directory, domain, address)
                }
                directory::DomainKind::Authoritative => Err(NoRoute::permanent(
                    code(5, 1, 1),
                    ProblemKind::UnknownRecipient,
                    format!("<{address}> is no longer a recipient of {}", domain.name),
                )),
            };
        };
        Ok(match &recipient.target {
            DeliveryTarget::Maildir => {
                let canonical = Address::new(recipient.local_part.clone(), recipient.domain.to_string());
                return self.static_maildir(&canonical);
            }
            DeliveryTarget::Smtp(hop) => mailbox_server(hop, Protocol::Smtp, TlsMode::Opportunistic),
            // LMTP runs inside the tenant's network, next to its mailbox server.
            DeliveryTarget::Lmtp(hop) => mailbox_server(hop, Protocol::Lmtp, TlsMode::Off),
        })
    }

    /// An unlisted recipient of an internal-relay domain, or a notification to an unlisted
    /// user of the tenant, goes to the tenant's own server, which the tenant names with an
    /// outbound connector for the domain. Its MX points at Sluice, so without a connector
    /// there is nowhere to send it: the message waits (the admin can add the connector),
    /// shows in the queue with the reason, and expires like any undeliverable mail.
    fn tenant_server(
        &self,
        directory: Option<&Snapshot>,
        domain: &directory::AcceptedDomain,
        address: &Address,
    ) -> Result<Route, NoRoute> {
        // Only a connector that names the domain (or a parent) with smart hosts: the
        // domain's MX is Sluice itself, and an all-domains connector is for the internet, so
        // either would send the mail round in a loop or to a stranger.
        let named = directory
            .and_then(|snapshot| snapshot.outbound_connector_for(&domain.tenant, &address.domain))
            .filter(|c| !c.recipient_domains.is_empty() && matches!(c.route, OutboundRoute::SmartHosts(_)));
        match named {
            Some(connector) => {
                Ok(Route { destination: destination_of(connector, &address.domain), mailbox: None })
            }
            None => Err(NoRoute {
                status: code(4, 4, 4),
                kind: ProblemKind::NoTenantRoute,
                reason: format!(
                    "no route to the own server of tenant {} for {}: the tenant has no outbound connector with smart hosts for the domain",
                    domain.tenant, domain.name
                ),
            }),
        }
    }

    /// Mail leaving Sluice: the sending tenant's connector for the domain, else MX.
    fn outbound_route(&self, directory: Option<&Snapshot>, envelope: &Envelope, address: &Address) -> Route {
        let tenant = envelope.client.attribution.as_ref().and_then(|a| TenantId::parse(&a.tenant).ok());
        let by_connector = match (directory, tenant) {
            (Some(snapshot), Some(tenant)) => connector_destination(snapshot, &tenant, &address.domain),
            _ => None,
        };
        let destination = by_connector.unwrap_or_else(|| Destination::Mx {
            domain: address.domain_lowercase(),
            tls: TlsMode::Opportunistic,
        });
        Route { destination, mailbox: None }
    }
}

/// A notification Sluice wrote about a message of the domain's own tenant (its envelope
/// carries the original's attribution, see `notify`).
fn is_tenant_notification(envelope: &Envelope, domain: &directory::AcceptedDomain) -> bool {
    envelope.sender == smtp_wire::ReversePath::Null
        && envelope.client.attribution.as_ref().is_some_and(|a| a.tenant == domain.tenant.as_str())
}

/// A tenant's mailbox server.
fn mailbox_server(hop: &NextHop, protocol: Protocol, tls: TlsMode) -> Route {
    Route { destination: Destination::Hosts { hosts: vec![hop.clone()], protocol, tls }, mailbox: None }
}

/// The destination an outbound connector of `tenant` gives mail for `domain` (the
/// directory's precedence: exact domain, nearest listed parent, all domains).
fn connector_destination(snapshot: &Snapshot, tenant: &TenantId, domain: &str) -> Option<Destination> {
    Some(destination_of(snapshot.outbound_connector_for(tenant, domain)?, domain))
}

/// Where `connector` sends mail for `domain`.
fn destination_of(connector: &OutboundConnector, domain: &str) -> Destination {
    let tls = TlsMode::from(&connector.tls);
    match &connector.route {
        OutboundRoute::SmartHosts(hosts) => {
            Destination::Hosts { hosts: hosts.clone(), protocol: Protocol::Smtp, tls }
        }
        OutboundRoute::Mx => {
            Destination::Mx { domain: domain.trim_end_matches('.').to_ascii_lowercase(), tls }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{acme_domain, acme_tenant};
    use directory::{DirectoryData, OutboundConnector, OutboundTls};

    #[test]
    fn an_outbound_connector_gives_its_hosts_or_mx_with_its_tls_mode() {
        let acme = TenantId::parse("acme").expect("id");
        let hop = NextHop::parse("t", "relay.partner.example:587", 25).expect("hop");
        let mut partner = OutboundConnector::new(
            acme.clone(),
            "partner",
            OutboundRoute::SmartHosts(vec![hop.clone()]),
            OutboundTls::VerifyDomain(DomainName::parse("t", "partner.example").expect("domain")),
        );
        partner.recipient_domains = vec![DomainName::parse("t", "partner.example").expect("domain")];
        let all = OutboundConnector::new(acme.clone(), "all", OutboundRoute::Mx, OutboundTls::Required);
        let tenant = acme_tenant();
        let data = DirectoryData {
            tenants: vec![tenant],
            outbound_connectors: vec![partner, all],
            ..DirectoryData::default()
        };
        let snapshot = Snapshot::build(data).expect("snapshot");
        assert_eq!(
            connector_destination(&snapshot, &acme, "eu.Partner.example"),
            Some(Destination::Hosts {
                hosts: vec![hop],
                protocol: Protocol::Smtp,
                tls: TlsMode::VerifyDomain("partner.example".into())
            })
        );
        assert_eq!(
            connector_destination(&snapshot, &acme, "Gmail.com."),
            Some(Destination::Mx { domain: "gmail.com".into(), tls: TlsMode::Required })
        );
        let other = TenantId::parse("globex").expect("id");
        assert_eq!(connector_destination(&snapshot, &other, "gmail.com"), None);
    }

    /// Tenant acme with its accepted domain `domain` of `kind`, and a router over it with
    /// `connectors`.
    fn acme_router(domain: &str, kind: directory::DomainKind, connectors: Vec<OutboundConnector>) -> Router {
        let tenant = acme_tenant();
        let domain = acme_domain(domain, kind, directory::VerificationState::Verified);
        let data = DirectoryData {
            tenants: vec![tenant],
            domains: vec![domain],
            outbound_connectors: connectors,
            ..DirectoryData::default()
        };
        Router {
            directory: Some(Arc::new(SharedSnapshot::new(Snapshot::build(data).expect("snapshot")))),
            health: Arc::new(DirectoryHealth::without_directory()),
            static_domains: Arc::new(StaticDomains::new(&[])),
            maildir: Arc::new(MaildirDelivery::new("/nonexistent".into(), "mx.test", None)),
        }
    }

    /// Acme's connector sending `domain` to the smart host `exchange.acme.example`.
    fn onprem_connector(domain: &str, tls: OutboundTls) -> (OutboundConnector, NextHop) {
        let hop = NextHop::parse("t", "exchange.acme.example", 25).expect("hop");
        let acme = TenantId::parse("acme").expect("id");
        let mut onprem =
            OutboundConnector::new(acme, "exchange", OutboundRoute::SmartHosts(vec![hop.clone()]), tls);
        onprem.recipient_domains = vec![DomainName::parse("t", domain).expect("domain")];
        (onprem, hop)
    }

    /// A null-sender message to `address` with the given attribution.
    fn notification_to(address: Address, attribution: Option<smtp_wire::Attribution>) -> Envelope {
        let client = smtp_wire::ClientInfo {
            attribution,
            ..smtp_wire::ClientInfo::new("192.0.2.1".parse().expect("ip"), "x")
        };
        Envelope::new(smtp_wire::ReversePath::Null, vec![smtp_wire::Recipient::new(address)], client)
    }

    /// A node that started without being able to read its directory knows only the static
    /// domains: everything else waits (temporary, never a route by MX that could be wrong).
    #[test]
    fn without_a_directory_snapshot_only_static_domains_are_routed() {
        let authoritative = directory::DomainKind::Authoritative;
        let router = Router {
            health: Arc::new(DirectoryHealth::unloaded()),
            static_domains: Arc::new(StaticDomains::new(&["example.test".to_string()])),
            ..acme_router("acme.test", authoritative, Vec::new())
        };
        for domain in ["acme.test", "gmail.com"] {
            let envelope = notification_to(Address::new("bob", domain), None);
            let waits = router.route(&envelope, 0).expect_err(domain);
            assert_eq!(waits.status, code(4, 3, 0), "{domain}: {waits:?}");
        }
        let envelope = notification_to(Address::new("bob", "example.test"), None);
        let local = router.route(&envelope, 0).expect("a static domain");
        assert_eq!(local.destination, Destination::Maildir);
    }

    /// An internal-relay domain's MX is Sluice: only a connector naming the domain with
    /// smart hosts may carry its unlisted recipients, never the all-domains MX connector.
    #[test]
    fn internal_relay_never_goes_by_mx_back_to_sluice() {
        let acme = TenantId::parse("acme").expect("id");
        let all = OutboundConnector::new(acme, "all", OutboundRoute::Mx, OutboundTls::Opportunistic);
        let relay = directory::DomainKind::InternalRelay;
        let address = Address::new("someone", "relay.acme.example");
        let envelope = notification_to(address, None);
        let no_route = acme_router("relay.acme.example", relay, vec![all.clone()])
            .route(&envelope, 0)
            .expect_err("no connector names the domain");
        assert_eq!(no_route.status, code(4, 4, 4));
        let (onprem, hop) = onprem_connector("relay.acme.example", OutboundTls::Required);
        let route =
            acme_router("relay.acme.example", relay, vec![all, onprem]).route(&envelope, 0).expect("routed");
        assert_eq!(
            route.destination,
            Destination::Hosts { hosts: vec![hop], protocol: Protocol::Smtp, tls: TlsMode::Required }
        );
    }

    /// A bounce of a tenant's outbound message to the tenant's own unlisted user goes to
    /// the tenant's server through its connector for the domain, or waits with the reason;
    /// other mail for an unlisted user of an authoritative domain still fails 5.1.1.
    #[test]
    fn a_tenant_notification_to_an_unlisted_user_goes_to_the_tenant_server() {
        let authoritative = directory::DomainKind::Authoritative;
        let attribution = |tenant: &str| smtp_wire::Attribution {
            tenant: tenant.into(),
            connector: "head office".into(),
            outbound_relay: false,
        };
        let dave = || Address { local_part: "dave".into(), domain: "acme.example".into() };
        let ours = notification_to(dave(), Some(attribution("acme")));
        let (onprem, hop) = onprem_connector("acme.example", OutboundTls::Opportunistic);
        let route = acme_router("acme.example", authoritative, vec![onprem])
            .route(&ours, 0)
            .expect("routed to the tenant's server");
        let expected =
            Destination::Hosts { hosts: vec![hop], protocol: Protocol::Smtp, tls: TlsMode::Opportunistic };
        assert_eq!(route.destination, expected);
        let waiting =
            acme_router("acme.example", authoritative, Vec::new()).route(&ours, 0).expect_err("no route yet");
        assert_eq!((waiting.status, waiting.kind), (code(4, 4, 4), ProblemKind::NoTenantRoute));
        for other in [notification_to(dave(), None), notification_to(dave(), Some(attribution("globex")))] {
            let refused = acme_router("acme.example", authoritative, Vec::new())
                .route(&other, 0)
                .expect_err("not the tenant's notification");
            assert_eq!((refused.status, refused.kind), (code(5, 1, 1), ProblemKind::UnknownRecipient));
        }
    }
}
