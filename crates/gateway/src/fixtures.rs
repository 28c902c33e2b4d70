//! What the gateway's unit tests build again and again: the tenant `acme`, its accepted
//! domains, and a message from its own server (outbound relay).

use directory::{AcceptedDomain, DomainKind, DomainName, Tenant, TenantId, TenantStatus, VerificationState};
use smtp_wire::{Address, Attribution, ClientInfo, Envelope, Recipient, ReversePath};

pub(crate) fn acme() -> TenantId {
    TenantId::parse("acme").expect("tenant id")
}

/// Tenant `acme`, active, writing in English.
pub(crate) fn acme_tenant() -> Tenant {
    Tenant { id: acme(), display_name: "Acme".into(), status: TenantStatus::Active, language: "en".into() }
}

/// An accepted domain of `acme`, matching no sub-domains.
pub(crate) fn acme_domain(name: &str, kind: DomainKind, verification: VerificationState) -> AcceptedDomain {
    AcceptedDomain {
        name: DomainName::parse("domain", name).expect("domain"),
        tenant: acme(),
        kind,
        match_subdomains: false,
        token: "token".into(),
        verification,
        service: false,
    }
}

/// A message from `sender` to `recipients` through acme's on-premises connector `hq`.
pub(crate) fn acme_outbound(sender: Address, recipients: &[Address]) -> Envelope {
    let client = ClientInfo {
        attribution: Some(Attribution {
            tenant: "acme".into(),
            connector: "hq".into(),
            outbound_relay: true,
        }),
        ..ClientInfo::new("127.0.0.5".parse().expect("ip"), "hq.acme.test")
    };
    let recipients = recipients.iter().cloned().map(Recipient::new).collect();
    Envelope::new(ReversePath::Mailbox(sender), recipients, client)
}
