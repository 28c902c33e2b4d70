//! The storage interface. The embedded backend is `store::SqliteStore`; a PostgreSQL
//! backend for fleet mode implements the same trait. The conflict rules every backend must
//! apply inside its transaction are pure functions here, so backends cannot drift apart.

use std::sync::Arc;

use crate::cidr::Cidr;
use crate::error::{DirectoryError, StoreError};
use crate::model::{
    AcceptedDomain, Connector, DirectoryData, NewDomain, NewTenant, OutboundBlock, OutboundRelease,
    Recipient, ReputationEntry, Tenant, TenantStatus, VerificationState,
};
use crate::names::{DomainName, TenantId};
use crate::outbound::OutboundConnector;
use crate::snapshot::Snapshot;

/// Where the directory lives. Reads take `&self`, mutations `&mut self`; every mutation is
/// atomic and changes [`DirectoryStore::generation`] in the same transaction, so a server
/// that polls the generation and rebuilds its snapshot never misses a change.
pub trait DirectoryStore {
    /// Everything, consistently (one read transaction), for [`Snapshot::build`].
    fn load(&self) -> Result<DirectoryData, StoreError>;
    /// A counter that changes on every mutation; cheap enough to poll every second.
    fn generation(&self) -> Result<u64, StoreError>;

    /// Creates the tenant (active) and its verified service domain `<id>.<service_domain>`.
    fn add_tenant(&mut self, tenant: &NewTenant, service_domain: &DomainName) -> Result<Tenant, StoreError>;
    fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    /// Suspend or resume.
    fn set_tenant_status(&mut self, id: &TenantId, status: TenantStatus) -> Result<Tenant, StoreError>;

    /// Adds a pending claim of `tenant` on a domain, with a fresh verification token. A name
    /// another tenant has verified is refused; a name other tenants have only claimed may be
    /// claimed too (a pending claim never blocks the real owner): the first to verify wins.
    fn add_domain(&mut self, tenant: &TenantId, domain: &NewDomain) -> Result<AcceptedDomain, StoreError>;
    /// Records that the TXT record of `tenant`'s claim was seen (the DNS check is the
    /// caller's), after [`check_domain_verification`]. Other tenants' pending claims of the
    /// name stay, and can no longer be verified (their admins are told why); recipients they
    /// listed under it are removed.
    fn mark_domain_verified(
        &mut self,
        tenant: &TenantId,
        domain: &DomainName,
    ) -> Result<AcceptedDomain, StoreError>;
    /// The domains and pending claims of `tenant` (of every tenant with `None`: a name may
    /// then appear once per claiming tenant).
    fn list_domains(&self, tenant: Option<&TenantId>) -> Result<Vec<AcceptedDomain>, StoreError>;
    /// Removes `tenant`'s domain (with its recipients) or pending claim. A service domain
    /// cannot be removed.
    fn remove_domain(&mut self, tenant: &TenantId, domain: &DomainName) -> Result<(), StoreError>;

    fn add_recipient(&mut self, recipient: &Recipient) -> Result<(), StoreError>;
    fn list_recipients(&self, tenant: &TenantId) -> Result<Vec<Recipient>, StoreError>;
    /// Removes a recipient (given by its primary address) with its aliases.
    fn remove_recipient(&mut self, local_part: &str, domain: &DomainName) -> Result<(), StoreError>;

    fn add_connector(&mut self, connector: &Connector) -> Result<(), StoreError>;
    fn list_connectors(&self, tenant: Option<&TenantId>) -> Result<Vec<Connector>, StoreError>;
    fn connector(&self, tenant: &TenantId, name: &str) -> Result<Connector, StoreError>;
    fn set_connector_enabled(
        &mut self,
        tenant: &TenantId,
        name: &str,
        enabled: bool,
    ) -> Result<Connector, StoreError>;
    /// Replaces the connector `connector.tenant`/`connector.name` with `connector` (its lists,
    /// rules and change record; the creation time and author stay those stored).
    fn update_connector(&mut self, connector: &Connector) -> Result<Connector, StoreError>;
    fn remove_connector(&mut self, tenant: &TenantId, name: &str) -> Result<(), StoreError>;

    /// Outbound connectors share the inbound ones' namespace: a name is taken in a tenant
    /// whatever the direction of the connector holding it.
    fn add_outbound_connector(&mut self, connector: &OutboundConnector) -> Result<(), StoreError>;
    fn list_outbound_connectors(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<OutboundConnector>, StoreError>;
    fn outbound_connector(&self, tenant: &TenantId, name: &str) -> Result<OutboundConnector, StoreError>;
    fn set_outbound_connector_enabled(
        &mut self,
        tenant: &TenantId,
        name: &str,
        enabled: bool,
    ) -> Result<OutboundConnector, StoreError>;
    /// As [`DirectoryStore::update_connector`], for an outbound connector.
    fn update_outbound_connector(
        &mut self,
        connector: &OutboundConnector,
    ) -> Result<OutboundConnector, StoreError>;
    fn remove_outbound_connector(&mut self, tenant: &TenantId, name: &str) -> Result<(), StoreError>;

    /// Adds or replaces the block or exception for `entry.cidr`.
    fn set_reputation(&mut self, entry: &ReputationEntry) -> Result<(), StoreError>;
    fn remove_reputation(&mut self, cidr: &Cidr) -> Result<(), StoreError>;
    fn list_reputation(&self) -> Result<Vec<ReputationEntry>, StoreError>;
    /// Removes the entries whose expiry is at or before `now_unix_s` and returns them, in one
    /// transaction: of several nodes removing at once, each entry is returned to one only.
    fn remove_expired_reputation(&mut self, now_unix_s: u64) -> Result<Vec<ReputationEntry>, StoreError>;

    /// Blocks the tenant's outbound mail; a tenant already blocked keeps its first block
    /// (the reason that tripped first is the one to investigate).
    fn block_outbound(&mut self, block: &OutboundBlock) -> Result<OutboundBlock, StoreError>;
    /// Releases the tenant's block, recording who and why; an error when it is not blocked.
    fn release_outbound(
        &mut self,
        tenant: &TenantId,
        released_by: &str,
        reason: &str,
        now_unix_s: u64,
    ) -> Result<OutboundRelease, StoreError>;
    /// Released blocks of a tenant, newest first.
    fn outbound_releases(&self, tenant: &TenantId) -> Result<Vec<OutboundRelease>, StoreError>;

    /// Loads and builds a snapshot.
    fn snapshot(&self) -> Result<Arc<Snapshot>, StoreError> {
        Ok(Snapshot::build(self.load()?)?)
    }
}

/// Whether `tenant` may claim `new` given every existing domain and claim: a name another
/// tenant has verified is taken, and a sub-domain-matching entry must not overlap another
/// tenant's verified domains in either direction. Other tenants' pending claims do not
/// count: whoever verifies first owns the name ([`check_domain_verification`]).
pub fn check_domain_claim(
    existing: &[AcceptedDomain],
    tenant: &TenantId,
    new: &NewDomain,
) -> Result<(), DirectoryError> {
    for other in existing {
        if other.name == new.name && &other.tenant == tenant {
            return Err(DirectoryError::DuplicateDomain { domain: new.name.clone(), owner: tenant.clone() });
        }
    }
    check_overlaps(existing, tenant, &new.name, new.match_subdomains)
}

/// Whether `tenant`'s pending claim on `name` may become verified: no other tenant verified
/// the name first, and the claim overlaps no other tenant's verified domains.
pub fn check_domain_verification(
    existing: &[AcceptedDomain],
    tenant: &TenantId,
    name: &DomainName,
) -> Result<(), DirectoryError> {
    let claim = existing
        .iter()
        .find(|d| &d.name == name && &d.tenant == tenant)
        .ok_or_else(|| DirectoryError::UnknownDomain { domain: name.to_string() })?;
    check_overlaps(existing, tenant, name, claim.match_subdomains)
}

fn check_overlaps(
    existing: &[AcceptedDomain],
    tenant: &TenantId,
    name: &DomainName,
    match_subdomains: bool,
) -> Result<(), DirectoryError> {
    let others_verified =
        existing.iter().filter(|d| &d.tenant != tenant && d.verification == VerificationState::Verified);
    for other in others_verified {
        if other.name == *name || (other.match_subdomains && name.is_within(&other.name)) {
            return Err(DirectoryError::DuplicateDomain {
                domain: name.clone(),
                owner: other.tenant.clone(),
            });
        }
        if match_subdomains && other.name.is_within(name) {
            return Err(DirectoryError::invalid(
                "domain.match_subdomains",
                name.as_str(),
                format!("its sub-domain {} belongs to tenant {}", other.name, other.tenant),
            ));
        }
    }
    Ok(())
}

/// Names under the deployment's service domain are reserved for tenants' service domains
/// (`<tenant>.<service domain>`): a tenant may not claim one, nor squat the id of a tenant
/// yet to come. The service domain is the parent of any existing service domain.
pub fn check_not_reserved(existing: &[AcceptedDomain], new: &NewDomain) -> Result<(), DirectoryError> {
    let reserved = existing.iter().filter(|d| d.service).find_map(|d| d.name.parent());
    match reserved {
        Some(parent) if new.name.is_within(&parent) => Err(DirectoryError::invalid(
            "domain.name",
            new.name.as_str(),
            format!("names under {parent} are reserved for tenants' service domains"),
        )),
        _ => Ok(()),
    }
}

/// The accepted domain of `recipient.tenant` that the recipient's domain falls under
/// (itself, or a parent matching sub-domains), or an error naming the field.
pub fn recipient_domain<'a>(
    domains: &'a [AcceptedDomain],
    recipient: &Recipient,
) -> Result<&'a AcceptedDomain, DirectoryError> {
    let own = domains.iter().filter(|d| d.tenant == recipient.tenant);
    let exact = own.clone().find(|d| d.name == recipient.domain);
    let covering = || {
        own.filter(|d| d.match_subdomains && recipient.domain.is_within(&d.name))
            .max_by_key(|d| d.name.as_str().len())
    };
    exact.or_else(covering).ok_or_else(|| {
        DirectoryError::invalid(
            "recipient.address",
            recipient.address(),
            format!("{} is not an accepted domain of tenant {}", recipient.domain, recipient.tenant),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeliveryTarget, DomainKind, VerificationState};

    fn d(name: &str) -> DomainName {
        DomainName::parse("d", name).unwrap()
    }

    fn t(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    fn accepted(name: &str, tenant: &str, subs: bool) -> AcceptedDomain {
        AcceptedDomain {
            name: d(name),
            tenant: t(tenant),
            kind: DomainKind::Authoritative,
            match_subdomains: subs,
            token: "tok".into(),
            verification: VerificationState::Verified,
            service: false,
        }
    }

    fn new(name: &str, subs: bool) -> NewDomain {
        NewDomain { name: d(name), kind: DomainKind::Authoritative, match_subdomains: subs }
    }

    #[test]
    fn domain_claims() {
        let existing = vec![accepted("example.com", "a", true), accepted("other.test", "b", false)];
        match check_domain_claim(&existing, &t("b"), &new("example.com", false)) {
            Err(DirectoryError::DuplicateDomain { owner, .. }) => assert_eq!(owner, t("a")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check_domain_claim(&existing, &t("b"), &new("x.example.com", false)),
            Err(DirectoryError::DuplicateDomain { .. })
        ));
        assert!(check_domain_claim(&existing, &t("a"), &new("x.example.com", false)).is_ok());
        assert!(
            matches!(
                check_domain_claim(&existing, &t("b"), &new("other.test", false)),
                Err(DirectoryError::DuplicateDomain { .. })
            ),
            "a tenant claims a name once"
        );
        let parent_of_b =
            check_domain_claim(&[accepted("x.other.test", "b", false)], &t("a"), &new("other.test", true));
        assert!(matches!(parent_of_b, Err(DirectoryError::Invalid { field: "domain.match_subdomains", .. })));
    }

    /// A pending claim blocks nobody: the real owner claims the same name, and whoever
    /// verifies first owns it; the other claim can then no longer be verified.
    #[test]
    fn pending_claims_never_block_and_the_first_to_verify_wins() {
        let mut squatter = accepted("shop.example", "a", true);
        squatter.verification = VerificationState::Pending;
        let mut existing = vec![squatter];
        assert!(check_domain_claim(&existing, &t("b"), &new("shop.example", false)).is_ok());
        assert!(check_domain_claim(&existing, &t("b"), &new("x.shop.example", true)).is_ok());
        let mut owner = accepted("shop.example", "b", false);
        owner.verification = VerificationState::Pending;
        existing.push(owner);
        assert!(check_domain_verification(&existing, &t("b"), &d("shop.example")).is_ok());
        existing[1].verification = VerificationState::Verified;
        assert_eq!(
            check_domain_verification(&existing, &t("a"), &d("shop.example")),
            Err(DirectoryError::DuplicateDomain { domain: d("shop.example"), owner: t("b") })
        );
        assert!(matches!(
            check_domain_verification(&existing, &t("c"), &d("shop.example")),
            Err(DirectoryError::UnknownDomain { .. })
        ));
    }

    #[test]
    fn service_names_are_reserved() {
        let mut svc = accepted("acme.sluice.example", "acme", false);
        svc.service = true;
        let existing = vec![svc, accepted("example.com", "acme", false)];
        for name in ["newco.sluice.example", "sluice.example", "a.b.sluice.example"] {
            assert!(matches!(
                check_not_reserved(&existing, &new(name, false)),
                Err(DirectoryError::Invalid { field: "domain.name", .. })
            ));
        }
        assert!(check_not_reserved(&existing, &new("sub.example.com", false)).is_ok());
        assert!(check_not_reserved(&[], &new("newco.sluice.example", false)).is_ok());
    }

    #[test]
    fn recipient_domains() {
        let domains = vec![accepted("example.com", "a", true), accepted("b.test", "b", false)];
        let r = Recipient::new(t("a"), "x@sub.example.com", &[], DeliveryTarget::Maildir).unwrap();
        assert_eq!(recipient_domain(&domains, &r).unwrap().name, d("example.com"));
        let foreign = Recipient::new(t("a"), "x@b.test", &[], DeliveryTarget::Maildir).unwrap();
        assert!(matches!(
            recipient_domain(&domains, &foreign),
            Err(DirectoryError::Invalid { field: "recipient.address", .. })
        ));
    }
}
