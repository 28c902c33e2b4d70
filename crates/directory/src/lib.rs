//! The tenant directory: tenants, accepted domains, recipients, inbound and outbound
//! connectors and the operator's low-reputation list, as an immutable [`Snapshot`] with the
//! pure decisions the gateway's SMTP policy calls for every session, sender and recipient.
//!
//! Invariants: **no I/O, no clock, no async, no panics on any input.** Lookups on the hot
//! path take no lock: a server keeps a [`SharedSnapshot`], each session takes its
//! `Arc<Snapshot>` once, and [`SharedSnapshot::refresh`] (polling
//! [`DirectoryStore::generation`]) builds a new snapshot and swaps the `Arc`; sessions keep
//! the one they started with. Storage sits behind [`DirectoryStore`]: SQLite on one node (crate `store`),
//! PostgreSQL in fleet mode. Every name is compared in one normal form ([`DomainName`]:
//! lower case, no trailing dot, IDN as `xn--` A-labels; U-labels, in a config, the CLI or an
//! SMTPUTF8 address, are converted with UTS #46, so `müller.test` and `xn--mller-kva.test`
//! are one domain).
//!
//! # Entities
//! - **Tenant**: id (one DNS label), display name, active or suspended, bounce language.
//!   Created with its verified service domain `<id>.<service domain>`.
//! - **Accepted domain**: owned by one tenant only (a sub-domain-matching entry may not
//!   overlap another tenant's domains, [`check_domain_claim`]); *authoritative* (every
//!   mailbox listed, unknown recipients refused) or *internal relay* (unlisted recipients
//!   passed on to the tenant's server); optionally matching sub-domains at any depth.
//!   Ownership is proven by the TXT record `sluice-verification=<token>`; until then the
//!   domain neither receives nor relays.
//! - **Recipient**: a listed address with aliases (other local parts of the same domain)
//!   and its delivery target: Maildir, SMTP or LMTP to the tenant's mailbox server.
//! - **Connector** (inbound): partner or on-premises, recognised by IP ranges (IPv4/IPv6
//!   CIDR) or TLS client-certificate names (exact, or `*.` standing for exactly one label).
//!   A partner connector may instead list only sender domains ("domain-only"): it is then
//!   recognised by the MAIL FROM domain, and can only add requirements (TLS), never trust.
//!   Connector names are unique per tenant ignoring ASCII case, across both directions.
//! - **Outbound connector**: a tenant's route for mail to some recipient domains (or all):
//!   smart hosts or MX, with a TLS mode. Precedence and the shared name space are in
//!   `outbound.rs` ([`Snapshot::outbound_connector_for`]).
//! - **Reputation**: operator CIDRs, blocks and exceptions; any exception covering the IP
//!   overrides any block.
//!
//! # Connector precedence ([`Snapshot::connector_for`])
//! 1. A certificate name equal to a connector's exact name.
//! 2. A certificate name under a connector's wildcard (`*.mail.example.com` matches
//!    `mx1.mail.example.com`, not `mail.example.com` nor `a.b.mail.example.com`; names that
//!    the certificate itself presents as wildcards match nothing).
//! 3. The longest IP range containing the client (IPv4-mapped IPv6 counts as IPv4).
//! 4. Domain-only connectors, by the sender domain, only when 1-3 found nothing, and only
//!    for their TLS requirement.
//!
//! Certificate or IP recognition always beats domain-only. Among equal candidates the
//! lowest (tenant id, connector name in lower case) wins. Disabled connectors never match.
//! A suspended tenant's connector still matches (so refusals can say why) but is not
//! trusted ([`ConnectorMatch::is_trusted`]). A connector is global to the session (it is
//! recognised before any recipient), but what it grants or requires applies to its own
//! tenant's recipients, except an on-premises connector's TLS requirement, since all mail
//! from a tenant's own server is that tenant's.
//!
//! # Decisions, in the order they apply
//! [`Snapshot::check_client`] (at MAIL FROM, and again first thing at each RCPT):
//! 1. The session came through an on-premises connector that requires TLS and the session
//!    is plain: `550 5.7.10`, naming the connector and its rule; or it was recognised by
//!    one of the connector's IP ranges, the connector also names certificates, and the
//!    session presented none of them (a matching one would have been recognised by name):
//!    `550 5.7.10` naming the connector and the certificate names.
//! 2. No connector, and the IP is in a blocked range not covered by any exception:
//!    `550 5.7.708`, telling the sender's admin to ask the operator for an exception.
//!
//! [`Snapshot::check_dnsbl_listed`] (at MAIL FROM, when the gateway's DNSBL lookup found
//! the client listed): `550 5.7.708` naming the zone and the operator's exception command,
//! unless the client came through a connector or an exception covers it.
//!
//! [`Snapshot::check_recipient`] (RCPT TO), relay control before anything else:
//! 3. An address literal (`[192.0.2.1]`, `[IPv6:...]`): `550 5.7.1`, for everyone.
//! 4. The domain (normalised) is covered by a verified accepted domain, exactly or via the
//!    nearest parent matching sub-domains (unverified entries are skipped, so they cannot
//!    shadow a verified parent). Then, in order:
//!    - the tenant is suspended: `550 5.2.1`;
//!    - the tenant's own rules, which apply to **that tenant's recipients only** (a
//!      tenant's connector never changes what another tenant receives, else one tenant
//!      could restrict `gmail.com` for all):
//!      - the session came through the tenant's partner connector that requires TLS and
//!        is plain, or came by its IP range without one of the certificates it names:
//!        `550 5.7.10` naming the connector (as in 1);
//!      - the sender domain (exactly, not its sub-domains) is restricted to some of the
//!        tenant's connectors and the session came through none of them: `550 5.7.51`,
//!        naming the domain, the connector, the rule and the client IP;
//!      - no connector, a plain session, and a domain-only connector of the tenant for the
//!        sender domain requires TLS: `550 5.7.10` naming it;
//!    - a local part with routing characters (`%` percent hack, `!` bang path, `@`,
//!      quotes, backslash): `550 5.1.3`, whatever the domain kind;
//!    - a listed recipient or alias: its [`RouteTarget::Recipient`];
//!    - else internal relay: [`RouteTarget::InternalRelay`]; authoritative: `550 5.1.1`.
//!
//!    The route names the session's connector when it is trusted and the tenant's: the
//!    mail is attributed to the tenant and skips IP throttling.
//! 5. Not accepted, and the session came through an on-premises connector: outbound relay
//!    ([`RouteTarget::OutboundRelay`]) for an active tenant, `550 5.7.705` for a suspended
//!    one. The gateway checks the sender domain with [`Snapshot::sender_domain`] for the
//!    `5.7.750` allowance (an unverified domain cannot be used to send).
//! 6. Otherwise `550 5.7.1`: relay denied (a domain known but unverified says so, and
//!    what its admin must publish). Source routes never reach here (the parser drops
//!    them); upper case, a trailing dot and the U-label form of an IDN are the same domain.
//!
//! The texts are in `refusal.rs`, each covered by a test in `tests/decisions.rs`.
mod cidr;
mod decide;
mod error;
mod model;
mod names;
mod outbound;
mod refusal;
mod shared;
mod snapshot;
mod store;

pub use cidr::Cidr;
pub use decide::{
    ClientCert, ConnectorMatch, MatchedBy, RecipientRoute, RouteTarget, SessionContext, Transport,
};
pub use error::{DirectoryError, StoreError};
pub use model::{
    AcceptedDomain, Connector, ConnectorKind, DeliveryTarget, DirectoryData, DomainKind, NewDomain,
    NewTenant, NextHop, OutboundBlock, OutboundRelease, Recipient, ReputationEntry, ReputationKind, Tenant,
    TenantStatus, VerificationState,
};
pub use names::{CertName, DomainName, TenantId, normalise_local_part};
pub use outbound::{OutboundConnector, OutboundRoute, OutboundTls, SMART_HOST_PORT_DEFAULT};
pub use refusal::{Refusal, RefusalKind};
pub use shared::{Refresh, SharedSnapshot};
pub use snapshot::{DomainLookup, SenderDomain, Snapshot};
pub use store::{DirectoryStore, check_domain_claim, check_not_reserved, recipient_domain};
