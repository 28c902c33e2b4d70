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
//! # Connectors belong to the recipient's tenant
//! A session computes, once after the handshake and again after STARTTLS
//! ([`Snapshot::session`]), every enabled connector of every tenant that recognises the
//! client: by a verified certificate name (exact, or under a `*.` wildcard: one label;
//! names the certificate itself presents as wildcards match nothing) or by an IP range
//! (IPv4-mapped IPv6 counts as IPv4). Within one tenant the most specific match counts
//! first: an exact certificate name, then a wildcard, then the longest range, then the
//! lowest name. Disabled connectors never match; a suspended tenant's connector matches
//! (so its refusals can say why) but grants nothing. Many tenants may declare the same
//! address; a session keeps at most [`SESSION_CONNECTORS_MAX`] matches (whole tenants), and
//! the connectors of further tenants are looked up at RCPT for their recipients, so the cap
//! bounds memory and never changes an answer.
//!
//! **Inbound trust is per recipient**: the connectors that count for a recipient are those
//! of the tenant owning its domain. Their rules (TLS, certificate, restricted sender
//! domains) apply to that tenant's recipients only, and their trust (no IP throttling, no
//! low-reputation refusal) too; a client that matches no connector of the recipient's
//! tenant is an ordinary client for that recipient, whatever other tenants declared. One
//! transaction can mix outcomes.
//!
//! **Relayed mail is attributed to exactly one tenant** ([`Snapshot::relay`], per
//! transaction): the on-premises connectors recognised by the certificate count before those
//! recognised by address; one tenant among them is the one; among several, the tenant whose
//! verified domain is (or holds) the certificate's matching name, else the one whose
//! verified domain is (or holds) the MAIL FROM domain; no such tenant, no relay (`550 5.7.1`
//! saying why and what to do).
//! Domain-only connectors (a partner connector listing only sender domains) never
//! recognise a client: they add a TLS requirement for their sender domains.
//!
//! **Mail between tenants** is inbound for the recipient's tenant (its connectors decide
//! trust and rules) and, when the transaction is attributed to another tenant's on-premises
//! connector, outbound mail of that tenant too ([`RecipientRoute::outbound`]): its outbound
//! protection counts it, its connector's TLS rule applies, and it is not IP-throttled.
//!
//! # Decisions, in the order they apply
//! [`Snapshot::check_client`] (MAIL FROM): a client that matches no connector of any tenant
//! and is in a blocked range not covered by an exception, or listed by a DNS blocklist the
//! gateway asked (the context's `dnsbl_zone`), is refused: `550 5.7.708`. Entries past their
//! expiry do not apply. A client some tenant vouches for waits for RCPT.
//!
//! [`Snapshot::check_recipient`] (RCPT TO), relay control before anything else:
//! 1. An address literal (`[192.0.2.1]`, `[IPv6:...]`): `550 5.7.1`, for everyone.
//! 2. The domain (normalised) is covered by a verified accepted domain, exactly or via the
//!    nearest parent matching sub-domains (unverified entries are skipped, so they cannot
//!    shadow a verified parent). Then, in order:
//!    - the tenant is suspended: `451 4.2.1` (temporary: the sender keeps the mail and
//!      retries while the operator sorts it out);
//!    - no connector of the tenant matches and the transaction is not another tenant's
//!      outbound mail: the low-reputation rule (`550 5.7.708`);
//!    - another tenant's outbound mail: that tenant suspended (`550 5.7.705`), its
//!      on-premises connector's TLS rule (`550 5.7.10`);
//!    - the tenant's own rules, for **that tenant's recipients only**: the TLS rule of its
//!      connector the client matches (plain text, or an address match without one of the
//!      certificates the connector names: `550 5.7.10`); a sender domain (exactly, not its
//!      sub-domains) restricted to some of its connectors that the client matches none of
//!      (`550 5.7.51`); no connector of the tenant, plain text, and a domain-only connector
//!      of the tenant requiring TLS for the sender domain (`550 5.7.10`);
//!    - a local part with routing characters (`%` percent hack, `!` bang path, `@`,
//!      quotes, backslash): `550 5.1.3`, whatever the domain kind;
//!    - a listed recipient or alias: its [`RouteTarget::Recipient`];
//!    - else internal relay: [`RouteTarget::InternalRelay`]; authoritative: `550 5.1.1`.
//! 3. Not accepted: the transaction's [`Relay`] tenant gets outbound relay
//!    ([`RouteTarget::OutboundRelay`]) after its connector's TLS rule, or `550 5.7.705` when
//!    suspended; several tenants and no attribution: `550 5.7.1` saying so. The gateway
//!    checks the sender domain with [`Snapshot::sender_domain`] for the `5.7.750` allowance.
//! 4. Otherwise the low-reputation rule, then `550 5.7.1`: relay denied (a domain known but
//!    unverified says so, and what its admin must publish). Source routes never reach here
//!    (the parser drops them); upper case, a trailing dot and the U-label form of an IDN
//!    are the same domain.
//!
//! Replies name no tenant, connector or operator command: they speak of the recipient's
//! organisation (by its domain) or the sender's own, and say what its administrator can do.
//! //! The texts are in `refusal.rs`, each covered by a test in `tests/decisions.rs`.
pub mod audit;
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
    CERTIFICATE_NAMES_MAX, ClientCert, ConnectorMatch, MatchedBy, OutboundOf, RecipientRoute, Relay,
    RouteTarget, SESSION_CONNECTORS_MAX, SessionContext, Transport,
};
pub use error::{DirectoryError, StoreError};
pub use model::{
    AcceptedDomain, ChangeRecord, Connector, ConnectorKind, DeliveryTarget, DirectoryData, DomainKind,
    NewDomain, NewTenant, NextHop, OutboundBlock, OutboundRelease, Recipient, ReputationEntry,
    ReputationKind, Tenant, TenantStatus, VerificationState,
};
pub use names::{CertName, DomainName, TenantId, normalise_local_part};
pub use outbound::{OutboundConnector, OutboundRoute, OutboundTls, SMART_HOST_PORT_DEFAULT};
pub use refusal::{Refusal, RefusalKind};
pub use shared::{Refresh, SharedSnapshot};
pub use snapshot::{DomainLookup, SenderDomain, Snapshot};
pub use store::{
    DirectoryStore, check_domain_claim, check_domain_verification, check_not_reserved, recipient_domain,
};
