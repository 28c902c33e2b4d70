//! Connectors belong to the recipient's tenant: several tenants declaring the same client,
//! per-recipient trust and rules, relay attribution to exactly one tenant, mail between
//! tenants, and the session's cap on kept matches. One table of cases over one directory.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::Arc;

use directory::{
    AcceptedDomain, CertName, Cidr, ClientCert, Connector, ConnectorKind, DirectoryData, DomainKind,
    DomainName, Relay, SESSION_CONNECTORS_MAX, Snapshot, Tenant, TenantId, TenantStatus, Transport,
    VerificationState,
};

const NOW: u64 = 1_800_000_000;

fn t(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn d(name: &str) -> DomainName {
    DomainName::parse("test", name).unwrap()
}

fn domain(name: &str, tenant: &str) -> AcceptedDomain {
    AcceptedDomain {
        name: d(name),
        tenant: t(tenant),
        kind: DomainKind::InternalRelay,
        match_subdomains: false,
        token: "token".into(),
        verification: VerificationState::Verified,
        service: false,
    }
}

fn connector(tenant: &str, name: &str, kind: ConnectorKind, ips: &[&str], certs: &[&str]) -> Connector {
    let mut c = Connector::new(t(tenant), name, kind);
    c.ip_ranges = ips.iter().map(|i| Cidr::parse("test", i).unwrap()).collect();
    c.certificate_names = certs.iter().map(|n| CertName::parse(n).unwrap()).collect();
    c
}

/// alpha, beta and gamma own a.example, b.example and c.example.
/// - 203.0.113.10, a filtering service both alpha and beta declared: alpha accepts plain
///   text, beta requires TLS.
/// - certificate mx.b.example: beta's partner (TLS); from 198.51.100.20 beta requires it.
///   Certificate mx.a.example: alpha's partner.
/// - 192.0.2.0/28, a hosting provider running alpha's and beta's own servers (on-premises
///   connectors of both); alpha also knows its server by the certificate mta.a.example,
///   and both by the provider's *.hosting.example.
/// - beta restricts sender domain bank.example to its certificate connector.
fn directory() -> Arc<Snapshot> {
    let mut alpha_filter = connector("alpha", "filter", ConnectorKind::Partner, &["203.0.113.10"], &[]);
    alpha_filter.require_tls = false;
    let beta_filter = connector("beta", "filter", ConnectorKind::Partner, &["203.0.113.10"], &[]);
    let mut beta_cert =
        connector("beta", "b-cert", ConnectorKind::Partner, &["198.51.100.20"], &["mx.b.example"]);
    beta_cert.sender_domains = vec![d("bank.example")];
    beta_cert.restrict_sender_domains = true;
    let alpha_cert = connector("alpha", "a-cert", ConnectorKind::Partner, &[], &["mx.a.example"]);
    let alpha_hq = connector(
        "alpha",
        "hq",
        ConnectorKind::OnPremises,
        &["192.0.2.0/28"],
        &["mta.a.example", "*.hosting.example"],
    );
    let beta_hq =
        connector("beta", "hq", ConnectorKind::OnPremises, &["192.0.2.0/28"], &["*.hosting.example"]);
    let tenant = |id: &str| Tenant {
        id: t(id),
        display_name: id.into(),
        status: TenantStatus::Active,
        language: "en".into(),
    };
    let data = DirectoryData {
        tenants: vec![tenant("alpha"), tenant("beta"), tenant("gamma")],
        domains: vec![
            domain("a.example", "alpha"),
            domain("b.example", "beta"),
            domain("c.example", "gamma"),
        ],
        connectors: vec![alpha_filter, beta_filter, beta_cert, alpha_cert, alpha_hq, beta_hq],
        ..DirectoryData::default()
    };
    Snapshot::build(data).unwrap()
}

/// How one recipient was decided, in a word: `connector NAME` (its tenant's connector
/// vouches), `outbound TENANT/NAME` (another tenant's own server: its outbound mail),
/// `relay TENANT/NAME`, `ordinary` (throttled like any client), or the refusal's code.
fn outcome(s: &Snapshot, client: &str, tls: Option<&[&str]>, sender: Option<&str>, rcpt: &str) -> String {
    let ip: IpAddr = client.parse().unwrap();
    let cert = tls.map(|names| ClientCert { names: names.iter().map(|n| n.to_string()).collect() });
    // TLS with no names given: a session without a (trusted) client certificate.
    let transport = match tls {
        None => Transport::Plain,
        Some([]) => Transport::Tls { client_cert: None },
        Some(_) => Transport::Tls { client_cert: cert.as_ref() },
    };
    let ctx = s.session(ip, transport, NOW);
    let (local, domain) = rcpt.rsplit_once('@').unwrap();
    match s.check_recipient(&ctx, sender, local, domain) {
        Err(r) => {
            let (a, b, c) = r.enhanced;
            format!("{} {a}.{b}.{c}", r.code)
        }
        Ok(route) if route.accepted_domain.is_none() => {
            format!("relay {}/{}", route.tenant, route.connector.unwrap_or_default())
        }
        Ok(route) => match (route.connector, route.outbound) {
            (Some(name), None) => format!("connector {name}"),
            (Some(name), Some(o)) => format!("connector {name}, outbound {}/{}", o.tenant, o.connector),
            (None, Some(o)) => format!("outbound {}/{}", o.tenant, o.connector),
            (None, None) => "ordinary".into(),
        },
    }
}

/// (what, client IP, TLS with these certificate names, sender domain, recipient, outcome).
type Case<'a> = (&'a str, &'a str, Option<&'a [&'a str]>, Option<&'a str>, &'a str, &'a str);

#[test]
fn every_case_of_the_issue() {
    let s = directory();
    let plain = None;
    let no_cert: Option<&[&str]> = Some(&[]);
    let cases: &[Case] = &[
        // Two tenants share a sending IP with different rules: each tenant's own rule holds.
        (
            "shared IP, alpha's rule allows plain text",
            "203.0.113.10",
            plain,
            Some("news.example"),
            "ann@a.example",
            "connector filter",
        ),
        (
            "shared IP, beta's rule wants TLS",
            "203.0.113.10",
            plain,
            Some("news.example"),
            "bob@b.example",
            "550 5.7.10",
        ),
        (
            "shared IP over TLS: both un-throttled",
            "203.0.113.10",
            no_cert,
            Some("news.example"),
            "bob@b.example",
            "connector filter",
        ),
        (
            "shared IP: a third tenant's recipient is ordinary",
            "203.0.113.10",
            plain,
            Some("news.example"),
            "cat@c.example",
            "ordinary",
        ),
        // A certificate of one tenant presented to another's recipients opens nothing.
        (
            "alpha's certificate to alpha",
            "203.0.113.50",
            Some(&["mx.a.example"]),
            Some("x.example"),
            "ann@a.example",
            "connector a-cert",
        ),
        (
            "alpha's certificate to beta",
            "203.0.113.50",
            Some(&["mx.a.example"]),
            Some("x.example"),
            "bob@b.example",
            "ordinary",
        ),
        (
            "alpha's certificate from beta's address",
            "198.51.100.20",
            Some(&["mx.a.example"]),
            Some("x.example"),
            "bob@b.example",
            "550 5.7.10",
        ),
        (
            "beta's certificate from beta's address",
            "198.51.100.20",
            Some(&["mx.b.example"]),
            Some("x.example"),
            "bob@b.example",
            "connector b-cert",
        ),
        (
            "beta's restricted sender through its connector",
            "203.0.113.50",
            Some(&["mx.b.example"]),
            Some("bank.example"),
            "bob@b.example",
            "connector b-cert",
        ),
        (
            "beta's restricted sender through alpha's certificate",
            "203.0.113.50",
            Some(&["mx.a.example"]),
            Some("bank.example"),
            "bob@b.example",
            "550 5.7.51",
        ),
        (
            "beta's restriction is beta's only",
            "203.0.113.50",
            Some(&["mx.a.example"]),
            Some("bank.example"),
            "ann@a.example",
            "connector a-cert",
        ),
        // Relay attribution: by the certificate's domain, by the sender's domain, or none.
        (
            "relay by certificate domain",
            "192.0.2.5",
            Some(&["mta.a.example", "mta1.hosting.example"]),
            Some("x.example"),
            "z@gmail.example",
            "relay alpha/hq",
        ),
        (
            "relay by a shared certificate, then sender domain",
            "192.0.2.5",
            Some(&["mta1.hosting.example"]),
            Some("b.example"),
            "z@gmail.example",
            "relay beta/hq",
        ),
        (
            "relay by a shared certificate, sender of nobody",
            "192.0.2.5",
            Some(&["mta1.hosting.example"]),
            Some("x.example"),
            "z@gmail.example",
            "550 5.7.1",
        ),
        (
            "relay by sender domain (alpha)",
            "192.0.2.5",
            plain,
            Some("a.example"),
            "z@gmail.example",
            "relay alpha/hq",
        ),
        (
            "relay by sender domain (beta)",
            "192.0.2.5",
            plain,
            Some("b.example"),
            "z@gmail.example",
            "relay beta/hq",
        ),
        (
            "relay, sender domain of nobody here",
            "192.0.2.5",
            plain,
            Some("other.example"),
            "z@gmail.example",
            "550 5.7.1",
        ),
        ("relay, null sender from a shared server", "192.0.2.5", plain, None, "z@gmail.example", "550 5.7.1"),
        // Mail between tenants: outbound for the sender's tenant, inbound for the recipient's.
        (
            "alpha's server to gamma",
            "192.0.2.5",
            plain,
            Some("a.example"),
            "cat@c.example",
            "outbound alpha/hq",
        ),
        (
            "alpha's server to beta, who also declared it",
            "192.0.2.5",
            plain,
            Some("a.example"),
            "bob@b.example",
            "connector hq, outbound alpha/hq",
        ),
        ("alpha's server to alpha", "192.0.2.5", plain, Some("a.example"), "ann@a.example", "connector hq"),
        (
            "shared server, unattributed, to gamma",
            "192.0.2.5",
            plain,
            Some("other.example"),
            "cat@c.example",
            "ordinary",
        ),
    ];
    let mut failures = Vec::new();
    for (what, client, tls, sender, rcpt, want) in cases {
        let got = outcome(&s, client, *tls, *sender, rcpt);
        if &got != want {
            failures.push(format!("{what}: expected {want}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// A mixed transaction: one client, one sender, recipients of three tenants, three outcomes.
#[test]
fn one_transaction_carries_different_outcomes() {
    let s = directory();
    let ctx = s.session("203.0.113.10".parse().unwrap(), Transport::Plain, NOW);
    let decide = |local, domain| s.check_recipient(&ctx, Some("news.example"), local, domain);
    assert!(!decide("ann", "a.example").unwrap().is_throttled());
    assert_eq!(decide("bob", "b.example").unwrap_err().code, 550);
    assert!(decide("cat", "c.example").unwrap().is_throttled());
}

#[test]
fn relay_names_the_tenant_or_why_not() {
    let s = directory();
    let ctx = s.session("192.0.2.5".parse().unwrap(), Transport::Plain, NOW);
    assert!(matches!(s.relay(&ctx, Some("b.example")), Relay::Tenant(m) if m.connector.tenant == t("beta")));
    assert_eq!(s.relay(&ctx, Some("other.example")), Relay::Ambiguous { tenants: 2 });
    let stranger = s.session("198.18.0.1".parse().unwrap(), Transport::Plain, NOW);
    assert_eq!(s.relay(&stranger, Some("a.example")), Relay::Nobody);
    let refusal = s.check_recipient(&ctx, Some("other.example"), "z", "gmail.example").unwrap_err();
    assert!(refusal.text.contains("several organisations"), "{}", refusal.text);
}

/// Many tenants declaring the same address: the session keeps a bounded number of
/// matches, and every tenant's recipient is still decided by its own connector.
#[test]
fn the_session_cap_bounds_memory_not_answers() {
    let tenants = SESSION_CONNECTORS_MAX + 10;
    let mut data = DirectoryData::default();
    for n in 0..tenants {
        let id = format!("t{n:03}");
        data.tenants.push(Tenant {
            id: t(&id),
            display_name: id.clone(),
            status: TenantStatus::Active,
            language: "en".into(),
        });
        data.domains.push(domain(&format!("{id}.example"), &id));
        let mut c = connector(&id, "relay-service", ConnectorKind::Partner, &["203.0.113.99"], &[]);
        // Every other tenant requires TLS: the rules of tenants beyond the cap hold too.
        c.require_tls = n % 2 == 0;
        data.connectors.push(c);
    }
    let s = Snapshot::build(data).unwrap();
    let ctx = s.session("203.0.113.99".parse().unwrap(), Transport::Plain, NOW);
    assert!(ctx.overflow && ctx.connectors.len() <= SESSION_CONNECTORS_MAX);
    for n in 0..tenants {
        let decided = s.check_recipient(&ctx, Some("x.example"), "u", &format!("t{n:03}.example"));
        match n % 2 {
            0 => assert_eq!(decided.map_err(|r| r.code).unwrap_err(), 550, "t{n:03}"),
            _ => assert_eq!(decided.unwrap().connector.as_deref(), Some("relay-service"), "t{n:03}"),
        }
    }
}
