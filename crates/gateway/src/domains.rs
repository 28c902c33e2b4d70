//! "Is this domain ours, and whose?", answered in one place for the session's relay control,
//! routing and the outbound guard: a domain a tenant accepted and verified is that tenant's
//! (the directory snapshot's answer, [`directory::Snapshot::accepting`]); else one of the
//! config's static accepted domains is Sluice's own (local Maildir folders); else it is
//! nobody's here, and mail for it leaves Sluice (or is a relay attempt).

use std::collections::HashSet;

use directory::{AcceptedDomain, Snapshot};

/// Who receives mail for a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'d> {
    /// A tenant's verified accepted domain.
    Tenant(&'d AcceptedDomain),
    /// One of the config's static accepted domains, or the empty domain of a bare
    /// `<postmaster>` (RFC 5321 4.5.1): Sluice's own mailboxes.
    Local,
    /// Nobody's here.
    Foreign,
}

/// Who receives mail for `domain` (as received: any case, IDN in either form).
pub fn owner<'d>(directory: Option<&'d Snapshot>, local: &StaticDomains, domain: &str) -> Owner<'d> {
    if let Some(accepted) = directory.and_then(|d| d.accepting(domain)) {
        return Owner::Tenant(accepted);
    }
    if domain.is_empty() || local.accepts_domain(domain) {
        return Owner::Local;
    }
    Owner::Foreign
}

/// Accepted domains from the config, as an immutable snapshot.
#[derive(Debug, Clone)]
pub struct StaticDomains {
    accepted: HashSet<String>,
    /// Where `<postmaster>` without a domain is delivered.
    postmaster_domain: Option<String>,
}

impl StaticDomains {
    pub fn new(accepted_domains: &[String]) -> StaticDomains {
        let accepted: HashSet<String> =
            accepted_domains.iter().map(|d| d.trim_end_matches('.').to_ascii_lowercase()).collect();
        let postmaster_domain = accepted_domains.first().map(|d| d.to_ascii_lowercase());
        StaticDomains { accepted, postmaster_domain }
    }

    pub fn accepts_domain(&self, domain: &str) -> bool {
        self.accepted.contains(&domain.to_ascii_lowercase())
    }

    pub fn postmaster_domain(&self) -> Option<&str> {
        self.postmaster_domain.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{acme, acme_domain, acme_tenant};
    use directory::{DirectoryData, DomainKind, VerificationState};

    #[test]
    fn a_tenant_domain_then_a_static_one_then_nobody() {
        let data = DirectoryData {
            tenants: vec![acme_tenant()],
            domains: vec![
                acme_domain("acme.test", DomainKind::Authoritative, VerificationState::Verified),
                acme_domain("example.test", DomainKind::Authoritative, VerificationState::Verified),
                acme_domain("pending.test", DomainKind::Authoritative, VerificationState::Pending),
            ],
            ..DirectoryData::default()
        };
        let directory = Snapshot::build(data).expect("snapshot");
        let local = StaticDomains::new(&["example.test".into(), "pending.test".into(), "mine.test".into()]);
        let owner = |domain| owner(Some(&directory), &local, domain);
        assert!(matches!(owner("ACME.test."), Owner::Tenant(d) if d.tenant == acme()));
        assert!(matches!(owner("example.test"), Owner::Tenant(_)), "the directory answers first");
        assert_eq!(owner("pending.test"), Owner::Local, "an unverified claim takes nothing from the config");
        assert_eq!(owner("Mine.Test"), Owner::Local);
        assert_eq!(owner(""), Owner::Local, "a bare <postmaster>");
        assert_eq!(owner("gmail.com"), Owner::Foreign);
        assert_eq!(owner("[192.0.2.1]"), Owner::Foreign);
        assert_eq!(super::owner(None, &local, "acme.test"), Owner::Foreign, "no directory: the config alone");
    }
}
