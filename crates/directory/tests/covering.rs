//! `Snapshot::connectors_covering`: every tenant's enabled connectors whose ranges hold an IP,
//! as `sluice throttle show` names them.

#![allow(clippy::unwrap_used)]

use directory::{Cidr, Connector, ConnectorKind, DirectoryData, Snapshot, Tenant, TenantId, TenantStatus};

fn t(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn cidr(s: &str) -> Cidr {
    Cidr::parse("test", s).unwrap()
}

fn connector(tenant: &str, name: &str, ranges: &[&str], enabled: bool) -> Connector {
    let mut c = Connector::new(t(tenant), name, ConnectorKind::Partner);
    c.ip_ranges = ranges.iter().map(|r| cidr(r)).collect();
    c.enabled = enabled;
    c
}

#[test]
fn every_tenants_enabled_connectors_with_their_longest_range() {
    let tenant = |id: &str| Tenant {
        id: t(id),
        display_name: id.into(),
        status: TenantStatus::Active,
        language: "en".into(),
    };
    let data = DirectoryData {
        tenants: vec![tenant("acme"), tenant("globex")],
        connectors: vec![
            connector("acme", "relay", &["203.0.113.0/24", "203.0.113.7/32"], true),
            connector("globex", "filtering service", &["203.0.113.0/25"], true),
            connector("globex", "old", &["203.0.113.0/24"], false),
            connector("globex", "elsewhere", &["198.51.100.0/24"], true),
        ],
        ..DirectoryData::default()
    };
    let snapshot = Snapshot::build(data).unwrap();
    let found: Vec<(String, String, String)> = snapshot
        .connectors_covering("203.0.113.7".parse().unwrap())
        .iter()
        .map(|(c, range)| (c.tenant.to_string(), c.name.clone(), range.to_string()))
        .collect();
    assert_eq!(
        found,
        [
            ("acme".into(), "relay".into(), "203.0.113.7/32".into()),
            ("globex".into(), "filtering service".into(), "203.0.113.0/25".into()),
        ]
    );
    assert!(snapshot.connectors_covering("192.0.2.1".parse().unwrap()).is_empty());
}
