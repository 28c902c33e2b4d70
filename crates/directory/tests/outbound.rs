//! Outbound connector precedence ([`Snapshot::outbound_connector_for`]) and the snapshot's
//! consistency checks for outbound connectors.

#![allow(clippy::unwrap_used)]

use directory::{
    Connector, ConnectorKind, DirectoryData, DirectoryError, DomainName, NextHop, OutboundConnector,
    OutboundRoute, OutboundTls, Snapshot, Tenant, TenantId, TenantStatus,
};

fn d(name: &str) -> DomainName {
    DomainName::parse("test", name).unwrap()
}

fn t(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn tenant(id: &str) -> Tenant {
    Tenant { id: t(id), display_name: id.into(), status: TenantStatus::Active, language: "en".into() }
}

fn outbound(tenant: &str, name: &str, domains: &[&str]) -> OutboundConnector {
    let hop = NextHop::parse("test", &format!("{}.relay.example", name.to_ascii_lowercase()), 25).unwrap();
    let mut c =
        OutboundConnector::new(t(tenant), name, OutboundRoute::SmartHosts(vec![hop]), OutboundTls::Required);
    c.recipient_domains = domains.iter().map(|x| d(x)).collect();
    c
}

fn build(outbound_connectors: Vec<OutboundConnector>) -> Result<std::sync::Arc<Snapshot>, DirectoryError> {
    Snapshot::build(DirectoryData {
        tenants: vec![tenant("acme"), tenant("globex")],
        outbound_connectors,
        ..DirectoryData::default()
    })
}

fn chosen(s: &Snapshot, tenant: &str, domain: &str) -> Option<String> {
    s.outbound_connector_for(&t(tenant), domain).map(|c| c.name.clone())
}

#[test]
fn exact_domain_then_nearest_parent_then_all_domains() {
    let mut disabled = outbound("acme", "aaa-disabled", &["eu.partner.example"]);
    disabled.enabled = false;
    let s = build(vec![
        outbound("acme", "partner", &["partner.example"]),
        outbound("acme", "partner-eu", &["eu.partner.example"]),
        outbound("acme", "everything", &[]),
        disabled,
        outbound("globex", "globex-all", &[]),
    ])
    .unwrap();
    assert_eq!(chosen(&s, "acme", "partner.example").as_deref(), Some("partner"));
    assert_eq!(chosen(&s, "acme", "PARTNER.example.").as_deref(), Some("partner"), "normal form");
    assert_eq!(chosen(&s, "acme", "eu.partner.example").as_deref(), Some("partner-eu"), "exact beats parent");
    assert_eq!(chosen(&s, "acme", "mx.eu.partner.example").as_deref(), Some("partner-eu"), "nearest parent");
    assert_eq!(chosen(&s, "acme", "us.partner.example").as_deref(), Some("partner"), "parent beats all");
    assert_eq!(chosen(&s, "acme", "gmail.com").as_deref(), Some("everything"));
    assert_eq!(chosen(&s, "acme", "[192.0.2.1]").as_deref(), Some("everything"), "literal: all-domains only");
    assert_eq!(chosen(&s, "globex", "partner.example").as_deref(), Some("globex-all"), "tenants never mix");
}

#[test]
fn ties_go_to_the_lowest_name_and_disabled_never_match() {
    let mut disabled_all = outbound("acme", "a-off", &[]);
    disabled_all.enabled = false;
    let s = build(vec![
        outbound("acme", "Zed", &["partner.example"]),
        outbound("acme", "beta", &["partner.example"]),
        outbound("acme", "z-all", &[]),
        outbound("acme", "m-all", &[]),
        disabled_all,
    ])
    .unwrap();
    assert_eq!(chosen(&s, "acme", "partner.example").as_deref(), Some("beta"));
    assert_eq!(chosen(&s, "acme", "other.example").as_deref(), Some("m-all"));
    let none = build(vec![outbound("acme", "partner", &["partner.example"])]).unwrap();
    assert_eq!(chosen(&none, "acme", "other.example"), None, "no all-domains connector: default route");
    assert_eq!(chosen(&none, "globex", "partner.example"), None);
}

#[test]
fn names_are_one_namespace_across_directions() {
    let mut inbound = Connector::new(t("acme"), "HQ", ConnectorKind::Partner);
    inbound.sender_domains = vec![d("partner.example")];
    let data = DirectoryData {
        tenants: vec![tenant("acme")],
        connectors: vec![inbound],
        outbound_connectors: vec![outbound("acme", "hq", &[])],
        ..DirectoryData::default()
    };
    assert!(matches!(Snapshot::build(data), Err(DirectoryError::DuplicateConnector { .. })));
    let twice = build(vec![outbound("acme", "relay", &[]), outbound("acme", "Relay", &[])]);
    assert!(matches!(twice, Err(DirectoryError::DuplicateConnector { .. })));
    let unknown = build(vec![outbound("initech", "relay", &[])]);
    assert!(matches!(unknown, Err(DirectoryError::UnknownTenant { .. })));
    let mut invalid = outbound("acme", "relay", &[]);
    invalid.route = OutboundRoute::SmartHosts(Vec::new());
    assert!(matches!(
        build(vec![invalid]),
        Err(DirectoryError::Invalid { field: "connector.smart_host", .. })
    ));
}
