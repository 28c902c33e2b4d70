//! The immutable, indexed form of the directory. Built once from [`DirectoryData`] (which
//! it checks for consistency), shared behind an `Arc`, and replaced as a whole when the
//! store's generation changes: readers never lock and never wait.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use crate::cidr::{Cidr, CidrTable};
use crate::error::DirectoryError;
use crate::model::{
    AcceptedDomain, Connector, DirectoryData, OutboundBlock, Recipient, ReputationEntry, ReputationKind,
    Tenant, VerificationState,
};
use crate::names::{CertName, DomainName, TenantId};
use crate::outbound::OutboundConnector;

/// What a domain lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainLookup<'a> {
    /// A verified accepted domain covers the name (exactly or as a sub-domain).
    Accepted(&'a AcceptedDomain),
    /// Only unverified entries cover it: not accepted, but worth saying why.
    Unverified,
    NotAccepted,
}

/// Whether a tenant may use a sender domain for outbound mail (the gateway counts the
/// `5.7.750` allowance for the last two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderDomain<'a> {
    /// Covered by a verified accepted domain of the tenant.
    Verified(&'a AcceptedDomain),
    /// Added by the tenant but not verified: cannot be used to send yet.
    Unverified(&'a AcceptedDomain),
    /// Not one of the tenant's domains.
    NotRegistered,
}

/// The directory as the hot path sees it.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub(crate) generation: u64,
    pub(crate) tenants: HashMap<TenantId, Tenant>,
    pub(crate) domains: HashMap<DomainName, AcceptedDomain>,
    /// `(domain, local part)` of every recipient and alias -> the recipient.
    pub(crate) recipients: HashMap<(DomainName, String), Arc<Recipient>>,
    /// Enabled connectors sorted by (tenant, name): an index into this list is also the
    /// tie-break order, the lowest wins.
    pub(crate) connectors: Vec<Arc<Connector>>,
    pub(crate) by_ip: CidrTable<(Cidr, Vec<usize>)>,
    pub(crate) by_cert_exact: HashMap<DomainName, Vec<usize>>,
    /// Keyed by the part after `*.`.
    pub(crate) by_cert_wildcard: HashMap<DomainName, Vec<usize>>,
    /// Sender domain -> connectors that restrict it to themselves.
    pub(crate) restricted_senders: HashMap<DomainName, Vec<usize>>,
    /// Sender domain -> domain-only connectors (no IP, no certificate) that carry it.
    pub(crate) domain_only: HashMap<DomainName, Vec<usize>>,
    /// Each tenant's enabled connectors: a run of `connectors` (sorted by tenant).
    pub(crate) tenant_connectors: HashMap<TenantId, std::ops::Range<usize>>,
    /// Low-reputation ranges and exceptions, each with its expiry (Unix seconds).
    pub(crate) blocked: CidrTable<Option<u64>>,
    pub(crate) outbound_blocks: HashMap<TenantId, OutboundBlock>,
    pub(crate) excepted: CidrTable<Option<u64>>,
    /// Every reputation entry, for the follower that removes expired ones.
    pub(crate) reputation: Vec<ReputationEntry>,
    /// Each tenant's enabled outbound connectors, indexed by recipient domain.
    pub(crate) outbound: HashMap<TenantId, OutboundIndex>,
}

/// One tenant's outbound routing table. Built from connectors in (lower-case name) order
/// and keeping the first per key, so ties go to the lowest name.
#[derive(Debug, Default)]
pub(crate) struct OutboundIndex {
    by_domain: HashMap<DomainName, Arc<OutboundConnector>>,
    all_domains: Option<Arc<OutboundConnector>>,
}

impl Snapshot {
    /// Checks `data` for consistency (the rules a store enforces, checked again because a
    /// snapshot must never hold contradictions) and builds the indexes.
    pub fn build(data: DirectoryData) -> Result<Arc<Snapshot>, DirectoryError> {
        let mut snapshot = Snapshot { generation: data.generation, ..Snapshot::default() };
        snapshot.add_tenants(data.tenants)?;
        snapshot.add_domains(data.domains)?;
        snapshot.add_recipients(data.recipients)?;
        // One namespace for both directions (see `outbound.rs`).
        let inbound_names =
            data.connectors.iter().map(|c| (c.tenant.clone(), c.name.to_ascii_lowercase())).collect();
        snapshot.add_connectors(data.connectors)?;
        for block in data.outbound_blocks {
            snapshot.known_tenant(&block.tenant)?;
            snapshot.outbound_blocks.insert(block.tenant.clone(), block);
        }
        snapshot.add_outbound_connectors(data.outbound_connectors, inbound_names)?;
        for entry in &data.reputation {
            let table = match entry.kind {
                ReputationKind::Block => &mut snapshot.blocked,
                ReputationKind::Exception => &mut snapshot.excepted,
            };
            *table.entry(entry.cidr, || None) = entry.expires_at_unix_s;
        }
        snapshot.reputation = data.reputation;
        Ok(Arc::new(snapshot))
    }

    fn add_tenants(&mut self, tenants: Vec<Tenant>) -> Result<(), DirectoryError> {
        for tenant in tenants {
            match self.tenants.entry(tenant.id.clone()) {
                Entry::Occupied(_) => return Err(DirectoryError::DuplicateTenant { id: tenant.id }),
                Entry::Vacant(v) => v.insert(tenant),
            };
        }
        Ok(())
    }

    fn known_tenant(&self, id: &TenantId) -> Result<(), DirectoryError> {
        match self.tenants.contains_key(id) {
            true => Ok(()),
            false => Err(DirectoryError::UnknownTenant { id: id.to_string() }),
        }
    }

    fn add_domains(&mut self, domains: Vec<AcceptedDomain>) -> Result<(), DirectoryError> {
        for domain in domains {
            self.known_tenant(&domain.tenant)?;
            if let Some(owner) = self.domains.get(&domain.name) {
                return Err(DirectoryError::DuplicateDomain {
                    domain: domain.name,
                    owner: owner.tenant.clone(),
                });
            }
            self.domains.insert(domain.name.clone(), domain);
        }
        Ok(())
    }

    fn add_recipients(&mut self, recipients: Vec<Recipient>) -> Result<(), DirectoryError> {
        for recipient in recipients {
            self.known_tenant(&recipient.tenant)?;
            let owner = self.covering_domain(&recipient.domain, |_| true).map(|d| &d.tenant);
            if owner != Some(&recipient.tenant) {
                return Err(DirectoryError::invalid(
                    "recipient.address",
                    recipient.address(),
                    format!("{} is not an accepted domain of tenant {}", recipient.domain, recipient.tenant),
                ));
            }
            let recipient = Arc::new(recipient);
            let locals = std::iter::once(&recipient.local_part).chain(&recipient.aliases);
            for local in locals {
                let key = (recipient.domain.clone(), local.clone());
                if self.recipients.insert(key, Arc::clone(&recipient)).is_some() {
                    return Err(DirectoryError::DuplicateRecipient {
                        address: format!("{local}@{}", recipient.domain),
                    });
                }
            }
        }
        Ok(())
    }

    fn add_connectors(&mut self, mut connectors: Vec<Connector>) -> Result<(), DirectoryError> {
        // Names are unique per tenant ignoring ASCII case, as the embedded store enforces.
        let key = |c: &Connector| (c.tenant.clone(), c.name.to_ascii_lowercase());
        connectors.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.name.cmp(&b.name)));
        for pair in connectors.windows(2) {
            if let [a, b] = pair
                && key(a) == key(b)
            {
                return Err(DirectoryError::DuplicateConnector {
                    tenant: b.tenant.clone(),
                    name: b.name.clone(),
                });
            }
        }
        for connector in connectors {
            self.known_tenant(&connector.tenant)?;
            connector.validate()?;
            if connector.enabled {
                self.index_connector(Arc::new(connector));
            }
        }
        Ok(())
    }

    /// Checks outbound connectors (valid, known tenant, names unique per tenant across
    /// both directions) and indexes the enabled ones.
    fn add_outbound_connectors(
        &mut self,
        mut connectors: Vec<OutboundConnector>,
        mut taken: HashSet<(TenantId, String)>,
    ) -> Result<(), DirectoryError> {
        let key = |c: &OutboundConnector| (c.tenant.clone(), c.name.to_ascii_lowercase());
        connectors.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.name.cmp(&b.name)));
        for connector in connectors {
            self.known_tenant(&connector.tenant)?;
            connector.validate()?;
            if !taken.insert(key(&connector)) {
                return Err(DirectoryError::DuplicateConnector {
                    tenant: connector.tenant,
                    name: connector.name,
                });
            }
            if connector.enabled {
                let index = self.outbound.entry(connector.tenant.clone()).or_default();
                let connector = Arc::new(connector);
                if connector.all_domains() && index.all_domains.is_none() {
                    index.all_domains = Some(Arc::clone(&connector));
                }
                for domain in &connector.recipient_domains {
                    index.by_domain.entry(domain.clone()).or_insert_with(|| Arc::clone(&connector));
                }
            }
        }
        Ok(())
    }

    fn index_connector(&mut self, connector: Arc<Connector>) {
        let i = self.connectors.len();
        let run = self.tenant_connectors.entry(connector.tenant.clone()).or_insert(i..i);
        run.end = i + 1;
        for cidr in &connector.ip_ranges {
            self.by_ip.entry(*cidr, || (*cidr, Vec::new())).1.push(i);
        }
        for name in &connector.certificate_names {
            let (map, key) = match name {
                CertName::Exact(d) => (&mut self.by_cert_exact, d),
                CertName::Wildcard(d) => (&mut self.by_cert_wildcard, d),
            };
            map.entry(key.clone()).or_default().push(i);
        }
        let senders = if connector.restrict_sender_domains {
            Some(&mut self.restricted_senders)
        } else if !connector.identifies_connection() {
            Some(&mut self.domain_only)
        } else {
            None
        };
        if let Some(map) = senders {
            for domain in &connector.sender_domains {
                map.entry(domain.clone()).or_default().push(i);
            }
        }
        self.connectors.push(connector);
    }

    /// The most specific accepted domain covering `name` that satisfies `usable`: the name
    /// itself, else the nearest parent that matches sub-domains.
    fn covering_domain(
        &self,
        name: &DomainName,
        usable: impl Fn(&AcceptedDomain) -> bool,
    ) -> Option<&AcceptedDomain> {
        if let Some(d) = self.domains.get(name).filter(|d| usable(d)) {
            return Some(d);
        }
        let mut current = name.parent();
        while let Some(parent) = current {
            if let Some(d) = self.domains.get(&parent).filter(|d| d.match_subdomains && usable(d)) {
                return Some(d);
            }
            current = parent.parent();
        }
        None
    }

    /// The verified accepted domain that receives mail for `name`. Unverified entries are
    /// skipped, so an unverified claim on a sub-domain cannot shadow a verified parent.
    pub fn find_domain(&self, name: &DomainName) -> DomainLookup<'_> {
        let verified = |d: &AcceptedDomain| d.verification == VerificationState::Verified;
        match self.covering_domain(name, verified) {
            Some(d) => DomainLookup::Accepted(d),
            None if self.covering_domain(name, |_| true).is_some() => DomainLookup::Unverified,
            None => DomainLookup::NotAccepted,
        }
    }

    /// The verified accepted domain that receives mail for `domain` as received (any case,
    /// a trailing dot, an IDN in either form): "is this domain ours, and whose?". `None` for
    /// an address literal or a name no tenant has accepted and verified.
    pub fn accepting(&self, domain: &str) -> Option<&AcceptedDomain> {
        match self.find_domain(&DomainName::for_lookup(domain)?) {
            DomainLookup::Accepted(accepted) => Some(accepted),
            DomainLookup::Unverified | DomainLookup::NotAccepted => None,
        }
    }

    /// Whether `name` is one of `tenant`'s verified domains or under one (whether or not
    /// that domain accepts mail for its sub-domains): `mx1.acme.example` is acme's name
    /// when acme verified `acme.example`.
    pub fn is_verified_within(&self, tenant: &TenantId, name: &DomainName) -> bool {
        let mut current = Some(name.clone());
        while let Some(n) = current {
            if self
                .domains
                .get(&n)
                .is_some_and(|d| &d.tenant == tenant && d.verification == VerificationState::Verified)
            {
                return true;
            }
            current = n.parent();
        }
        false
    }

    /// How `domain` (as received in MAIL FROM) stands for outbound mail of `tenant`.
    pub fn sender_domain(&self, tenant: &TenantId, domain: &str) -> SenderDomain<'_> {
        let Some(name) = DomainName::for_lookup(domain) else { return SenderDomain::NotRegistered };
        let verified =
            |d: &AcceptedDomain| &d.tenant == tenant && d.verification == VerificationState::Verified;
        if let Some(d) = self.covering_domain(&name, verified) {
            return SenderDomain::Verified(d);
        }
        match self.covering_domain(&name, |d| &d.tenant == tenant) {
            Some(d) => SenderDomain::Unverified(d),
            None => SenderDomain::NotRegistered,
        }
    }

    /// The enabled outbound connector of `tenant` that carries mail for `recipient_domain`
    /// (as received, any case): the connector listing the domain itself, else its nearest
    /// listed parent, else one for all domains; ties go to the lowest name. `None`: the
    /// default route (MX, opportunistic TLS). Precedence is documented in `outbound.rs`.
    pub fn outbound_connector_for(
        &self,
        tenant: &TenantId,
        recipient_domain: &str,
    ) -> Option<&Arc<OutboundConnector>> {
        let index = self.outbound.get(tenant)?;
        let mut current = DomainName::for_lookup(recipient_domain);
        while let Some(name) = current {
            if let Some(c) = index.by_domain.get(&name) {
                return Some(c);
            }
            current = name.parent();
        }
        index.all_domains.as_ref()
    }

    /// Reputation entries past their expiry at `now_unix_s`: they no longer apply, and the
    /// gateway removes them from the store (and logs each once).
    pub fn expired_reputation(&self, now_unix_s: u64) -> impl Iterator<Item = &ReputationEntry> {
        self.reputation.iter().filter(move |e| !e.applies_at(now_unix_s))
    }

    /// The store generation this snapshot was built from: rebuild when the store's differs.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The tenant's outbound block, while it is not released.
    pub fn outbound_block(&self, id: &TenantId) -> Option<&OutboundBlock> {
        self.outbound_blocks.get(id)
    }

    /// Tenants whose outbound mail is blocked.
    pub fn outbound_blocked_tenants(&self) -> impl Iterator<Item = &TenantId> {
        self.outbound_blocks.keys()
    }

    pub fn tenant(&self, id: &TenantId) -> Option<&Tenant> {
        self.tenants.get(id)
    }

    /// The listed recipient (or alias) `local@domain`, with the local part in any case.
    pub fn recipient(&self, local_part: &str, domain: &DomainName) -> Option<&Arc<Recipient>> {
        self.recipients.get(&(domain.clone(), local_part.to_lowercase()))
    }

    /// Every enabled inbound connector, of any tenant, with an IP range containing `ip`, and
    /// its longest such range, in (tenant, name) order: for explanations ("is this IP a
    /// connector's, and whose?"), not for sessions, which [`Snapshot::connector_for`]
    /// decides. It scans every connector.
    pub fn connectors_covering(&self, ip: IpAddr) -> Vec<(Arc<Connector>, Cidr)> {
        self.connectors
            .iter()
            .filter_map(|c| {
                let range = c.ip_ranges.iter().filter(|r| r.contains(ip)).max_by_key(|r| r.prefix_len())?;
                Some((Arc::clone(c), *range))
            })
            .collect()
    }
}
