//! Every decision path of the snapshot: connector precedence, client rules, restricted
//! senders, relay control (the whole open-relay list) and routes.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::Arc;

use directory::{
    AcceptedDomain, CertName, Cidr, ClientCert, Connector, ConnectorKind, DeliveryTarget, DirectoryData,
    DirectoryError, DomainKind, DomainName, MatchedBy, NextHop, Recipient, Refusal, RefusalKind,
    ReputationEntry, ReputationKind, RouteTarget, SessionContext, Snapshot, Tenant, TenantId, TenantStatus,
    Transport, VerificationState,
};

fn d(name: &str) -> DomainName {
    DomainName::parse("test", name).unwrap()
}

fn t(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cidr(s: &str) -> Cidr {
    Cidr::parse("test", s).unwrap()
}

fn tenant(id: &str, status: TenantStatus) -> Tenant {
    Tenant { id: t(id), display_name: id.to_uppercase(), status, language: "en".into() }
}

fn domain(name: &str, tenant: &str, kind: DomainKind, subs: bool, verified: bool) -> AcceptedDomain {
    AcceptedDomain {
        name: d(name),
        tenant: t(tenant),
        kind,
        match_subdomains: subs,
        token: format!("token-{name}"),
        verification: if verified { VerificationState::Verified } else { VerificationState::Pending },
        service: false,
    }
}

fn connector(tenant: &str, name: &str, kind: ConnectorKind) -> Connector {
    Connector::new(t(tenant), name, kind)
}

/// acme: authoritative acme.test (+ sub-domains), internal relay relay.acme.test, an
/// unverified pending.test, listed recipients, an on-premises connector (IP) and a partner
/// connector (certificate, restricting partner.example). globex: suspended, owns globex.test.
/// initech: another active tenant, with bob@initech.test.
fn data() -> DirectoryData {
    let mut onprem = connector("acme", "hq", ConnectorKind::OnPremises);
    onprem.ip_ranges = vec![cidr("192.0.2.0/24"), cidr("2001:db8:1::/48")];
    let mut onprem_host = connector("acme", "hq-mx1", ConnectorKind::OnPremises);
    onprem_host.ip_ranges = vec![cidr("192.0.2.10/32")];
    let mut partner = connector("acme", "partner", ConnectorKind::Partner);
    partner.certificate_names = vec![CertName::parse("*.mail.partner.example").unwrap()];
    partner.ip_ranges = vec![cidr("198.51.100.0/24")];
    partner.sender_domains = vec![d("partner.example")];
    partner.restrict_sender_domains = true;
    let mut exact = connector("acme", "partner-exact", ConnectorKind::Partner);
    exact.certificate_names = vec![CertName::parse("mx.mail.partner.example").unwrap()];
    exact.require_tls = false;
    let mut domain_only = connector("acme", "bank", ConnectorKind::Partner);
    domain_only.sender_domains = vec![d("bank.example")];
    let mut disabled = connector("acme", "old", ConnectorKind::OnPremises);
    disabled.ip_ranges = vec![cidr("203.0.113.0/24")];
    disabled.enabled = false;
    let mut suspended = connector("globex", "hq", ConnectorKind::OnPremises);
    suspended.ip_ranges = vec![cidr("192.0.2.128/25")];
    suspended.require_tls = false;

    let mailbox = Recipient::new(t("acme"), "alice@acme.test", &["ali"], DeliveryTarget::Maildir).unwrap();
    let lmtp = DeliveryTarget::Lmtp(NextHop::parse("t", "mbox.acme.test:24", 24).unwrap());
    let bob = Recipient::new(t("acme"), "bob@sales.acme.test", &[], lmtp).unwrap();
    let smtp = DeliveryTarget::Smtp(NextHop::parse("t", "exchange.acme.test", 25).unwrap());
    let carol = Recipient::new(t("acme"), "carol@relay.acme.test", &[], smtp).unwrap();
    let initech = Recipient::new(t("initech"), "bob@initech.test", &[], DeliveryTarget::Maildir).unwrap();
    DirectoryData {
        generation: 7,
        tenants: vec![
            tenant("acme", TenantStatus::Active),
            tenant("globex", TenantStatus::Suspended),
            tenant("initech", TenantStatus::Active),
        ],
        domains: vec![
            domain("acme.test", "acme", DomainKind::Authoritative, true, true),
            domain("relay.acme.test", "acme", DomainKind::InternalRelay, false, true),
            domain("pending.test", "acme", DomainKind::Authoritative, false, false),
            domain("globex.test", "globex", DomainKind::Authoritative, false, true),
            domain("initech.test", "initech", DomainKind::Authoritative, false, true),
        ],
        recipients: vec![mailbox, bob, carol, initech],
        connectors: vec![onprem, onprem_host, partner, exact, domain_only, disabled, suspended],
        reputation: vec![
            ReputationEntry {
                cidr: cidr("100.64.0.0/10"),
                kind: ReputationKind::Block,
                note: "list".into(),
                expires_at_unix_s: None,
            },
            ReputationEntry {
                cidr: cidr("100.64.1.0/24"),
                kind: ReputationKind::Exception,
                note: "ok".into(),
                expires_at_unix_s: None,
            },
            ReputationEntry {
                cidr: cidr("2001:db8:bad::/48"),
                kind: ReputationKind::Block,
                note: "v6".into(),
                expires_at_unix_s: None,
            },
        ],
        outbound_blocks: Vec::new(),
        outbound_connectors: Vec::new(),
    }
}

/// The sessions' clock (Unix seconds).
const NOW: u64 = 1_800_000_000;

fn snapshot() -> Arc<Snapshot> {
    Snapshot::build(data()).unwrap()
}

fn internet(s: &Snapshot) -> SessionContext {
    s.session(ip("203.0.113.250"), Transport::Plain, NOW)
}

fn code(r: Refusal) -> String {
    let (a, b, c) = r.enhanced;
    format!("{} {a}.{b}.{c}", r.code)
}

fn rcpt(s: &Snapshot, ctx: &SessionContext, address: &str) -> Result<RouteTarget, String> {
    let (local, domain) = address.rsplit_once('@').unwrap();
    s.check_recipient(ctx, None, local, domain).map(|r| r.target).map_err(code)
}

fn cert(names: &[&str]) -> ClientCert {
    ClientCert { names: names.iter().map(|n| n.to_string()).collect() }
}

fn matched(s: &Snapshot, client: &str, c: Option<&ClientCert>) -> Option<(String, MatchedBy)> {
    s.connector_for(ip(client), c).map(|m| (m.connector.name.clone(), m.by))
}

#[test]
fn connector_precedence() {
    let s = snapshot();
    // Longest IP prefix wins.
    assert_eq!(
        matched(&s, "192.0.2.10", None),
        Some(("hq-mx1".into(), MatchedBy::IpRange(cidr("192.0.2.10/32"))))
    );
    assert_eq!(
        matched(&s, "192.0.2.11", None),
        Some(("hq".into(), MatchedBy::IpRange(cidr("192.0.2.0/24"))))
    );
    assert_eq!(matched(&s, "2001:db8:1::25", None).map(|m| m.0), Some("hq".into()));
    assert_eq!(matched(&s, "::ffff:192.0.2.11", None).map(|m| m.0), Some("hq".into()));
    // The certificate beats the IP range of another connector.
    let wild = cert(&["mx2.mail.partner.example"]);
    assert_eq!(
        matched(&s, "192.0.2.11", Some(&wild)),
        Some((
            "partner".into(),
            MatchedBy::CertificateWildcard {
                parent: d("mail.partner.example"),
                name: d("mx2.mail.partner.example")
            }
        ))
    );
    // An exact name beats a wildcard, whatever the order of names in the certificate.
    let both = cert(&["mx2.mail.partner.example", "MX.mail.partner.example."]);
    assert_eq!(
        matched(&s, "203.0.113.1", Some(&both)),
        Some(("partner-exact".into(), MatchedBy::CertificateExact(d("mx.mail.partner.example"))))
    );
    // Wildcards stand for one label only; presented wildcards prove nothing.
    assert_eq!(matched(&s, "203.0.113.1", Some(&cert(&["a.b.mail.partner.example"]))), None);
    assert_eq!(matched(&s, "203.0.113.1", Some(&cert(&["mail.partner.example"]))), None);
    assert_eq!(matched(&s, "203.0.113.1", Some(&cert(&["*.mail.partner.example"]))), None);
    // A certificate that matches nothing falls back to the IP.
    assert_eq!(
        matched(&s, "198.51.100.5", Some(&cert(&["unknown.example"]))).map(|m| m.0),
        Some("partner".into())
    );
    // Disabled connectors never match.
    assert_eq!(matched(&s, "203.0.113.7", None), None);
}

#[test]
fn equal_ranges_go_to_the_first_tenant_and_name() {
    let mut data = data();
    let mut twin = connector("acme", "aaa-twin", ConnectorKind::Partner);
    twin.ip_ranges = vec![cidr("192.0.2.0/24")];
    data.connectors.push(twin);
    let s = Snapshot::build(data).unwrap();
    assert_eq!(matched(&s, "192.0.2.11", None).map(|m| m.0), Some("aaa-twin".into()));
}

/// 192.0.2.200 is in the on-premises ranges of acme (192.0.2.0/24) and globex
/// (192.0.2.128/25, suspended): the sender domain says whose mail it is.
#[test]
fn suspended_tenant_connector_is_recognised_but_not_trusted() {
    let s = snapshot();
    let m = s.connector_for(ip("192.0.2.200"), None).unwrap();
    assert_eq!((m.connector.tenant.as_str(), m.is_trusted()), ("globex", false));
    let ctx = s.session(ip("192.0.2.200"), Transport::Plain, NOW);
    let r = s.check_recipient(&ctx, Some("globex.test"), "x", "elsewhere.example").unwrap_err();
    assert_eq!(code(r.clone()), "550 5.7.705");
    assert!(r.text.contains("suspended") && !r.text.contains("globex"), "{}", r.text);
    let acme = s.check_recipient(&ctx, Some("acme.test"), "x", "elsewhere.example").unwrap();
    assert_eq!(acme.outbound.map(|o| o.tenant), Some(t("acme")));
}

#[test]
fn on_premises_connector_relays_outbound() {
    let s = snapshot();
    let ctx = s.session(ip("192.0.2.11"), Transport::Plain, NOW);
    assert_eq!(
        rcpt(&s, &ctx, "x@elsewhere.example"),
        Ok(RouteTarget::OutboundRelay { connector: "hq".into() })
    );
    let route = s.check_recipient(&ctx, None, "x", "elsewhere.example").unwrap();
    assert_eq!((route.tenant, route.accepted_domain), (t("acme"), None));
    // Mail from the tenant's own server to an accepted domain is routed inbound.
    assert!(matches!(rcpt(&s, &ctx, "alice@acme.test"), Ok(RouteTarget::Recipient { .. })));
    // Never to an address literal, whoever asks.
    assert_eq!(rcpt(&s, &ctx, "x@[198.51.100.1]"), Err("550 5.7.1".into()));
}

/// Callers act on what a refusal is about, not on its code: every form of relay attempt
/// says `RelayDenied`, and other refusals of the same class do not.
#[test]
fn relay_refusals_are_one_kind() {
    let s = snapshot();
    let ctx = internet(&s);
    let kind = |address: &str| {
        let (local, domain) = address.rsplit_once('@').unwrap();
        s.check_recipient(&ctx, None, local, domain).map(|_| ()).map_err(|r| r.kind)
    };
    for relay in ["x@elsewhere.example", "x@[198.51.100.1]", "x@pending.test", "x@bad..name"] {
        assert_eq!(kind(relay), Err(RefusalKind::RelayDenied), "{relay}");
    }
    assert_eq!(kind("nobody@acme.test"), Err(RefusalKind::UnknownUser));
    assert_eq!(kind("x%y@acme.test"), Err(RefusalKind::RoutingLocalPart));
}

#[test]
fn partner_connector_does_not_relay() {
    let s = snapshot();
    let c = cert(&["mx2.mail.partner.example"]);
    let ctx = s.session(ip("198.51.100.5"), Transport::Tls { client_cert: Some(&c) }, NOW);
    assert_eq!(rcpt(&s, &ctx, "x@elsewhere.example"), Err("550 5.7.1".into()));
    assert!(matches!(rcpt(&s, &ctx, "alice@acme.test"), Ok(RouteTarget::Recipient { .. })));
}

/// RCPT with a sender domain.
fn from(s: &Snapshot, ctx: &SessionContext, sender: &str, address: &str) -> Result<RouteTarget, Refusal> {
    let (local, domain) = address.rsplit_once('@').unwrap();
    s.check_recipient(ctx, Some(sender), local, domain).map(|r| r.target)
}

#[test]
fn partner_connector_requiring_tls_refuses_plain_sessions_for_its_tenant() {
    let s = snapshot();
    let plain = s.session(ip("198.51.100.5"), Transport::Plain, NOW);
    assert_eq!(s.check_client(&plain), Ok(()), "a partner's rules wait for the recipient");
    let refusal = from(&s, &plain, "partner.example", "alice@acme.test").unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "550 5.7.10 Mail for acme.test from [198.51.100.5] must be sent over TLS: the recipient's organisation \
         requires it for mail from this server (rule \"reject mail not sent over TLS\"); issue STARTTLS before MAIL \
         FROM, or ask the acme.test administrator to change the rule"
    );
    assert_eq!(rcpt(&s, &plain, "alice@acme.test"), Err("550 5.7.10".into()), "whatever the sender");
    // Another tenant's recipients are not bound by acme's connector.
    assert!(matches!(
        from(&s, &plain, "partner.example", "bob@initech.test"),
        Ok(RouteTarget::Recipient { .. })
    ));
    // The connector also names its servers' certificates: from its addresses, over TLS,
    // one of them must be presented.
    let tls = s.session(ip("198.51.100.5"), Transport::Tls { client_cert: None }, NOW);
    let refusal = from(&s, &tls, "partner.example", "alice@acme.test").unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "550 5.7.10 Mail for acme.test from [198.51.100.5] must come over TLS with a client certificate for \
         *.mail.partner.example: the recipient's organisation identifies this server by it (rule \"reject mail not \
         sent over TLS\"); present that certificate at STARTTLS, or ask the acme.test administrator to change the rule"
    );
    let other = cert(&["mx.elsewhere.example"]);
    let wrong = s.session(ip("198.51.100.5"), Transport::Tls { client_cert: Some(&other) }, NOW);
    assert_eq!(
        from(&s, &wrong, "partner.example", "alice@acme.test").map_err(code),
        Err("550 5.7.10".into())
    );
    let right = cert(&["mx1.mail.partner.example"]);
    let tls = s.session(ip("198.51.100.5"), Transport::Tls { client_cert: Some(&right) }, NOW);
    assert!(from(&s, &tls, "partner.example", "alice@acme.test").is_ok());
}

#[test]
fn on_premises_connector_requiring_tls_refuses_plain_sessions() {
    let s = snapshot();
    let hq = s.session(ip("192.0.2.11"), Transport::Plain, NOW);
    assert!(rcpt(&s, &hq, "x@elsewhere.example").is_ok(), "off by default for on-premises connectors");
    let mut data = data();
    for c in &mut data.connectors {
        c.require_tls = c.name == "hq";
    }
    let s = Snapshot::build(data).unwrap();
    let hq = s.session(ip("192.0.2.11"), Transport::Plain, NOW);
    assert_eq!(s.check_client(&hq), Ok(()), "each recipient is decided at RCPT");
    let refusal = s.check_recipient(&hq, Some("acme.test"), "x", "elsewhere.example").unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "550 5.7.10 Mail relayed from [192.0.2.11] must be sent over TLS: your organisation's on-premises connector \
         requires it (rule \"reject mail not sent over TLS\"); issue STARTTLS before MAIL FROM, or have your email \
         administrator change the connector"
    );
    // The tenant's own recipients: its connector's rule, worded for an inbound sender.
    assert_eq!(rcpt(&s, &hq, "alice@acme.test"), Err("550 5.7.10".into()));
    // Another tenant's recipients: acme's own server, acme's outbound rule.
    let other = s.check_recipient(&hq, Some("acme.test"), "bob", "initech.test").unwrap_err();
    assert!(other.text.starts_with("Mail relayed from [192.0.2.11]"), "{}", other.text);
    let tls = s.session(ip("192.0.2.11"), Transport::Tls { client_cert: None }, NOW);
    assert!(rcpt(&s, &tls, "x@elsewhere.example").is_ok());
}

#[test]
fn domain_only_connector_requires_tls_for_its_domains() {
    let s = snapshot();
    let plain = internet(&s);
    let refusal = from(&s, &plain, "Bank.Example", "alice@acme.test").unwrap_err();
    assert_eq!(code(refusal.clone()), "550 5.7.10");
    assert!(
        refusal.text.starts_with("Mail from bank.example to acme.test must be sent over TLS"),
        "{}",
        refusal.text
    );
    let tls = s.session(ip("203.0.113.250"), Transport::Tls { client_cert: None }, NOW);
    assert!(from(&s, &tls, "bank.example", "alice@acme.test").is_ok());
    assert!(tls.connectors.is_empty(), "a domain-only connector grants no trust");
    assert!(from(&s, &plain, "other.example", "alice@acme.test").is_ok());
    assert!(from(&s, &plain, "bank.example", "bob@initech.test").is_ok(), "acme's rule, acme's mail");
}

#[test]
fn restricted_sender_domain_from_elsewhere_is_refused() {
    let s = snapshot();
    let ctx = internet(&s);
    let refusal = from(&s, &ctx, "PARTNER.example.", "alice@acme.test").unwrap_err();
    assert_eq!(code(refusal.clone()), "550 5.7.51");
    assert!(refusal.is_permanent());
    assert_eq!(
        refusal.text,
        "Sender domain partner.example may send to acme.test only through the servers the recipient's organisation \
         declared for it (rule \"reject mail for these sender domains unless it comes through this connector\"), and \
         [203.0.113.250] is not one of them; send through those servers, or ask the acme.test administrator to add \
         [203.0.113.250] to them"
    );
    // Another connector, even of the same tenant, is "elsewhere" too.
    let hq = s.session(ip("192.0.2.11"), Transport::Plain, NOW);
    assert_eq!(from(&s, &hq, "partner.example", "alice@acme.test").map_err(code), Err("550 5.7.51".into()));
    // Through the connector, by its certificate from anywhere, it passes; from its
    // addresses it needs that certificate too (the connector requires TLS and names it).
    let c = cert(&["mx2.mail.partner.example"]);
    let through = s.session(ip("203.0.113.1"), Transport::Tls { client_cert: Some(&c) }, NOW);
    assert!(from(&s, &through, "partner.example", "alice@acme.test").is_ok());
    let by_ip = s.session(ip("198.51.100.9"), Transport::Tls { client_cert: None }, NOW);
    assert_eq!(
        from(&s, &by_ip, "partner.example", "alice@acme.test").map_err(code),
        Err("550 5.7.10".into())
    );
    // The null sender and sub-domains are not restricted.
    assert!(s.check_recipient(&ctx, None, "alice", "acme.test").is_ok());
    assert!(from(&s, &ctx, "x.partner.example", "alice@acme.test").is_ok());
    // A tenant restricts a domain for its own recipients only.
    assert!(matches!(
        from(&s, &ctx, "partner.example", "bob@initech.test"),
        Ok(RouteTarget::Recipient { .. })
    ));
}

#[test]
fn routes_name_the_connector_only_for_its_own_tenant() {
    let s = snapshot();
    let c = cert(&["mx2.mail.partner.example"]);
    let ctx = s.session(ip("203.0.113.1"), Transport::Tls { client_cert: Some(&c) }, NOW);
    let own = s.check_recipient(&ctx, Some("partner.example"), "alice", "acme.test").unwrap();
    assert_eq!(own.connector.as_deref(), Some("partner"));
    let other = s.check_recipient(&ctx, Some("partner.example"), "bob", "initech.test").unwrap();
    assert_eq!((other.tenant, other.connector), (t("initech"), None));
    let hq = s.session(ip("192.0.2.11"), Transport::Plain, NOW);
    let out = s.check_recipient(&hq, Some("acme.test"), "x", "elsewhere.example").unwrap();
    assert_eq!(out.connector.as_deref(), Some("hq"));
    assert_eq!(s.check_recipient(&internet(&s), None, "alice", "acme.test").unwrap().connector, None);
}

#[test]
fn low_reputation_ips_are_refused_unless_excepted_or_connector() {
    let s = snapshot();
    let bad = s.session(ip("100.64.9.9"), Transport::Plain, NOW);
    let refusal = s.check_client(&bad).unwrap_err();
    assert_eq!(code(refusal.clone()), "550 5.7.708");
    assert!(refusal.text.contains("request an exception for [100.64.9.9]"), "{}", refusal.text);
    assert!(!refusal.text.contains("connector"), "never an invitation to add a connector: {}", refusal.text);
    assert_eq!(rcpt(&s, &bad, "alice@acme.test"), Err("550 5.7.708".into()));
    let v6 = s.session(ip("2001:db8:bad::1"), Transport::Plain, NOW);
    assert_eq!(s.check_client(&v6).map_err(code), Err("550 5.7.708".into()));
    let excepted = s.session(ip("100.64.1.9"), Transport::Plain, NOW);
    assert_eq!(s.check_client(&excepted), Ok(()));
    // A connector's own range is not "non-connector traffic" for its tenant's recipients;
    // for another tenant's recipients the client is an ordinary one.
    let mut data = data();
    data.reputation.push(ReputationEntry {
        cidr: cidr("198.51.100.0/24"),
        kind: ReputationKind::Block,
        note: String::new(),
        expires_at_unix_s: None,
    });
    let s = Snapshot::build(data).unwrap();
    let c = cert(&["mx2.mail.partner.example"]);
    let partner = s.session(ip("198.51.100.5"), Transport::Tls { client_cert: Some(&c) }, NOW);
    assert_eq!(s.check_client(&partner), Ok(()));
    assert!(rcpt(&s, &partner, "alice@acme.test").is_ok());
    assert_eq!(rcpt(&s, &partner, "bob@initech.test"), Err("550 5.7.708".into()));
}

/// Reputation entries stop applying at their expiry, without waiting for anyone to remove
/// them; the snapshot lists the expired ones for the gateway to remove and log.
#[test]
fn reputation_entries_expire() {
    let mut data = data();
    data.reputation[0].expires_at_unix_s = Some(NOW + 60);
    data.reputation[1].expires_at_unix_s = Some(NOW - 1);
    let s = Snapshot::build(data).unwrap();
    // The exception for 100.64.1.0/24 expired: the block covering it applies again.
    let once_excepted = s.session(ip("100.64.1.9"), Transport::Plain, NOW);
    assert_eq!(s.check_client(&once_excepted).map_err(code), Err("550 5.7.708".into()));
    let later = s.session(ip("100.64.9.9"), Transport::Plain, NOW + 60);
    assert_eq!(s.check_client(&later), Ok(()), "the block expired too");
    let expired: Vec<String> = s.expired_reputation(NOW).map(|e| e.cidr.to_string()).collect();
    assert_eq!(expired, vec!["100.64.1.0/24".to_string()]);
    assert_eq!(s.expired_reputation(NOW + 60).count(), 2);
}

#[test]
fn dnsbl_listed_ips_are_refused_unless_excepted_or_connector() {
    let s = snapshot();
    let listed = |client: &str| {
        let mut ctx = s.session(ip(client), Transport::Plain, NOW);
        ctx.dnsbl_zone = Some("zen.example.test".into());
        ctx
    };
    let refused = s.check_client(&listed("203.0.113.250")).unwrap_err();
    assert_eq!(code(refused.clone()), "550 5.7.708");
    assert!(refused.text.contains("DNS blocklist zen.example.test"), "{}", refused.text);
    // An operator exception overrides the DNSBL as it overrides operator blocks.
    assert_eq!(s.check_client(&listed("100.64.1.9")), Ok(()));
    // A connector's client is its tenant's to judge, for that tenant's recipients.
    let onprem = listed("192.0.2.11");
    assert_eq!(s.check_client(&onprem), Ok(()));
    assert!(rcpt(&s, &onprem, "alice@acme.test").is_ok());
    let v6 = s.session(ip("2001:db8:bad::1"), Transport::Plain, NOW);
    assert!(s.check_client(&v6).unwrap_err().text.contains("[2001:db8:bad::1]"));
}

#[test]
fn routes_for_listed_recipients() {
    let s = snapshot();
    let ctx = internet(&s);
    let alice = RouteTarget::Recipient { address: "alice@acme.test".into(), target: DeliveryTarget::Maildir };
    assert_eq!(rcpt(&s, &ctx, "alice@acme.test"), Ok(alice.clone()));
    assert_eq!(rcpt(&s, &ctx, "ALI@acme.test"), Ok(alice), "aliases and case");
    let route = s.check_recipient(&ctx, None, "bob", "sales.acme.test").unwrap();
    assert_eq!(route.accepted_domain, Some((d("acme.test"), DomainKind::Authoritative)));
    assert!(matches!(route.target, RouteTarget::Recipient { target: DeliveryTarget::Lmtp(_), .. }));
    assert!(matches!(
        rcpt(&s, &ctx, "carol@relay.acme.test"),
        Ok(RouteTarget::Recipient { target: DeliveryTarget::Smtp(_), .. })
    ));
}

#[test]
fn unknown_recipients() {
    let s = snapshot();
    let ctx = internet(&s);
    let refusal = s.check_recipient(&ctx, None, "nobody", "acme.test").unwrap_err();
    assert_eq!(code(refusal.clone()), "550 5.1.1");
    assert_eq!(
        refusal.text,
        "Recipient address rejected: <nobody@acme.test> does not exist in acme.test; check the address, or ask the \
         acme.test administrator to add it"
    );
    assert_eq!(rcpt(&s, &ctx, "nobody@x.acme.test"), Err("550 5.1.1".into()));
    // Internal relay: passed on to the tenant's server.
    let route = s.check_recipient(&ctx, None, "dave", "relay.acme.test").unwrap();
    assert_eq!(route.target, RouteTarget::InternalRelay);
    assert_eq!(route.accepted_domain, Some((d("relay.acme.test"), DomainKind::InternalRelay)));
}

#[test]
fn relay_is_denied_with_a_clear_text() {
    let s = snapshot();
    let ctx = internet(&s);
    let refusal = s.check_recipient(&ctx, None, "x", "Other.Example").unwrap_err();
    assert_eq!(code(refusal.clone()), "550 5.7.1");
    assert_eq!(
        refusal.text,
        "Relay access denied: this server does not accept mail for other.example; if other.example should receive \
         mail here, its administrator must add it as an accepted domain"
    );
}

#[test]
fn unverified_domain_is_not_accepted() {
    let s = snapshot();
    let refusal = s.check_recipient(&internet(&s), None, "x", "pending.test").unwrap_err();
    assert_eq!(code(refusal.clone()), "550 5.7.1");
    assert!(
        refusal.text.contains("pending.test is not verified")
            && refusal.text.contains("sluice-verification=")
    );
    // An unverified claim on a sub-domain does not shadow a verified parent.
    let mut data = data();
    data.domains.push(domain("new.acme.test", "acme", DomainKind::InternalRelay, false, false));
    let s = Snapshot::build(data).unwrap();
    assert_eq!(rcpt(&s, &internet(&s), "nobody@new.acme.test"), Err("550 5.1.1".into()));
}

/// Temporary, so nothing is lost while the operator sorts the suspension out.
#[test]
fn suspended_tenant_receives_nothing_for_now() {
    let s = snapshot();
    let refusal = s.check_recipient(&internet(&s), None, "x", "globex.test").unwrap_err();
    assert_eq!(code(refusal.clone()), "451 4.2.1");
    assert!(!refusal.is_permanent());
    assert!(refusal.text.contains("globex.test is not accepted at the moment"), "{}", refusal.text);
}

#[test]
fn open_relay_attempts_are_refused() {
    let s = snapshot();
    let ctx = internet(&s);
    let cases = [
        ("user%other.example@acme.test", "550 5.1.3"),     // percent hack
        ("other.example!user@acme.test", "550 5.1.3"),     // bang path
        ("\"user@other.example\"@acme.test", "550 5.1.3"), // quoted local part with @
        ("\"user\"@acme.test", "550 5.1.3"),               // any quoted local part
        ("user%other.example@relay.acme.test", "550 5.1.3"), // ... also for internal relay
        ("user@[192.0.2.1]", "550 5.7.1"),                 // IP literal
        ("user@[IPv6:2001:db8::1]", "550 5.7.1"),          // IPv6 literal
        ("user@acme.test.other.example", "550 5.7.1"),     // accepted name as a prefix
        ("user@other.example.", "550 5.7.1"),              // trailing dot, foreign
        ("user@xn--mnchen-3ya.de", "550 5.7.1"),           // punycode, not accepted
        ("user@münchen.de", "550 5.7.1"),                  // U-label, not accepted either
        ("user@badacme.test", "550 5.7.1"),                // suffix without a dot
        ("user@", "550 5.7.1"),                            // empty domain
    ];
    for (address, expected) in cases {
        assert_eq!(rcpt(&s, &ctx, address), Err(expected.to_string()), "{address}");
    }
    let refusal = s.check_recipient(&ctx, None, "user%x", "acme.test").unwrap_err();
    assert_eq!(
        refusal.text,
        "Recipient address rejected: <user%x@acme.test> contains routing characters (% ! @ or quotes) that this \
         server never relays; send to the final address directly"
    );
    assert!(s.check_recipient(&ctx, None, "u", "[192.0.2.1]").unwrap_err().text.contains("address literals"));
}

#[test]
fn accepted_names_are_normalised_not_relayed() {
    let s = snapshot();
    let ctx = internet(&s);
    // Upper case and a trailing dot name the same accepted domain: delivered, not relayed.
    for address in ["alice@ACME.TEST", "alice@acme.test.", "Alice@Acme.Test."] {
        assert!(matches!(rcpt(&s, &ctx, address), Ok(RouteTarget::Recipient { .. })), "{address}");
    }
    // An accepted IDN is one domain in both forms: A-label (any case) and U-label.
    let mut data = data();
    data.domains.push(domain("xn--mnchen-3ya.de", "acme", DomainKind::InternalRelay, false, true));
    let s = Snapshot::build(data).unwrap();
    for address in ["x@XN--MNCHEN-3YA.DE", "x@münchen.de", "x@MÜNCHEN.de."] {
        assert_eq!(rcpt(&s, &internet(&s), address), Ok(RouteTarget::InternalRelay), "{address}");
    }
}

#[test]
fn build_rejects_inconsistent_data() {
    let mut dup = data();
    dup.domains.push(domain("acme.test", "globex", DomainKind::Authoritative, false, true));
    assert_eq!(
        Snapshot::build(dup).unwrap_err(),
        DirectoryError::DuplicateDomain { domain: d("acme.test"), owner: t("acme") }
    );
    let mut orphan = data();
    orphan.domains.push(domain("x.example", "nobody", DomainKind::Authoritative, false, true));
    assert!(matches!(Snapshot::build(orphan), Err(DirectoryError::UnknownTenant { .. })));
    let mut foreign = data();
    foreign
        .recipients
        .push(Recipient::new(t("acme"), "x@globex.test", &[], DeliveryTarget::Maildir).unwrap());
    assert!(matches!(
        Snapshot::build(foreign),
        Err(DirectoryError::Invalid { field: "recipient.address", .. })
    ));
    let mut twice = data();
    twice.recipients.push(Recipient::new(t("acme"), "ali@acme.test", &[], DeliveryTarget::Maildir).unwrap());
    assert!(matches!(Snapshot::build(twice), Err(DirectoryError::DuplicateRecipient { .. })));
    let mut conn = data();
    conn.connectors.push(connector("acme", "HQ", ConnectorKind::Partner));
    assert!(matches!(Snapshot::build(conn), Err(DirectoryError::DuplicateConnector { .. })));
    let mut tenants = data();
    tenants.tenants.push(tenant("acme", TenantStatus::Active));
    assert!(matches!(Snapshot::build(tenants), Err(DirectoryError::DuplicateTenant { .. })));
    assert_eq!(snapshot().generation(), 7);
}

#[test]
fn sender_domains_for_outbound() {
    use directory::SenderDomain;
    let s = snapshot();
    assert!(matches!(s.sender_domain(&t("acme"), "ACME.test"), SenderDomain::Verified(_)));
    assert!(matches!(s.sender_domain(&t("acme"), "news.acme.test"), SenderDomain::Verified(_)));
    assert!(matches!(s.sender_domain(&t("acme"), "pending.test"), SenderDomain::Unverified(_)));
    assert_eq!(s.sender_domain(&t("acme"), "globex.test"), SenderDomain::NotRegistered);
    assert_eq!(s.sender_domain(&t("acme"), "[192.0.2.1]"), SenderDomain::NotRegistered);
}

/// The decisions take remote input: none of it may panic, whatever the bytes.
#[test]
fn odd_input_never_panics() {
    let s = snapshot();
    let pieces = [
        "",
        ".",
        "..",
        "@",
        "%",
        "!",
        "\"",
        "\\",
        "[",
        "]",
        ":",
        "*",
        "-",
        "xn--",
        "acme",
        "test",
        "é",
        "\u{0}",
        "ß",
        "a",
        "IPv6:",
        "1",
        "192.0.2.1",
    ];
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        usize::try_from(seed >> 33).unwrap() % n
    };
    for _ in 0..20_000 {
        let mut text = String::new();
        for _ in 0..next(6) {
            text.push_str(pieces[next(pieces.len())]);
            if next(3) == 0 {
                text.push('.');
            }
        }
        let ctx = s.session(ip("192.0.2.11"), Transport::Plain, NOW);
        let _ = s.check_recipient(&ctx, None, &text, &text);
        let _ = s.check_recipient(&internet(&s), None, "user", &text);
        let _ = s.check_recipient(&internet(&s), Some(&text), "alice", "acme.test");
        let _ = s.connector_for(ip("203.0.113.1"), Some(&cert(&[&text])));
        let _ = s.sender_domain(&t("acme"), &text);
        let _ = DomainName::parse("f", &text);
        let _ = Cidr::parse("f", &text);
        let _ = CertName::parse(&text);
    }
}
