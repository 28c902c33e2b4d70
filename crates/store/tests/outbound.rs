//! Outbound connectors in the store, on SQLite and PostgreSQL: round trip, one namespace
//! with inbound connectors, generation bumps, the snapshot's routing; and migration 3 on a
//! version-2 SQLite file.

#![allow(clippy::unwrap_used)]

use directory::{
    Connector, ConnectorKind, DirectoryError, DirectoryStore, DomainName, NewTenant, NextHop,
    OutboundConnector, OutboundRoute, OutboundTls, StoreError, TenantId,
};
use store::test_cluster::PgCluster;
use store::{Migrate, PgStore, SqliteStore};

fn d(name: &str) -> DomainName {
    DomainName::parse("test", name).unwrap()
}

fn t(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn directory_error(r: Result<impl std::fmt::Debug, StoreError>) -> DirectoryError {
    match r {
        Err(StoreError::Directory(e)) => e,
        other => panic!("expected a directory error, got {other:?}"),
    }
}

/// A store with tenant acme, on SQLite; the folder must outlive it.
fn sqlite() -> (Option<tempfile::TempDir>, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("sluice.db")).unwrap();
    store.add_tenant(&NewTenant::new("acme", "Acme", "en").unwrap(), &d("sluice.example")).unwrap();
    (Some(dir), store)
}

/// A store with tenant acme, in a fresh PostgreSQL database.
fn postgres() -> (Option<tempfile::TempDir>, PgStore) {
    let (mut store, _) = PgStore::connect(&PgCluster::shared().fresh_target(), Migrate::Apply).unwrap();
    store.add_tenant(&NewTenant::new("acme", "Acme", "en").unwrap(), &d("sluice.example")).unwrap();
    (None, store)
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&mut super::sqlite().1); } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(&mut super::postgres().1); } )*
        }
    };
}

on_both_backends!(
    outbound_connectors_round_trip,
    one_name_space_for_both_directions,
    every_change_bumps_the_generation_and_the_snapshot_routes,
);

fn relay() -> OutboundConnector {
    let hosts = vec![
        NextHop::parse("h", "relay1.partner.example:587", 25).unwrap(),
        NextHop::parse("h", "[2001:db8::25]", 25).unwrap(),
    ];
    let mut c = OutboundConnector::new(
        t("acme"),
        "Partner Relay",
        OutboundRoute::SmartHosts(hosts),
        OutboundTls::VerifyDomain(d("partner.example")),
    );
    c.recipient_domains = vec![d("partner.example"), d("partner-mail.example")];
    c
}

fn outbound_connectors_round_trip<S: DirectoryStore>(store: &mut S) {
    let c = relay();
    store.add_outbound_connector(&c).unwrap();
    let mut mx =
        OutboundConnector::new(t("acme"), "all-mx", OutboundRoute::Mx, OutboundTls::VerifyCertificate);
    mx.enabled = false;
    store.add_outbound_connector(&mx).unwrap();
    assert_eq!(store.outbound_connector(&t("acme"), "partner relay").unwrap(), c, "order and case kept");
    assert_eq!(store.list_outbound_connectors(Some(&t("acme"))).unwrap(), vec![mx.clone(), c.clone()]);
    assert!(store.list_connectors(None).unwrap().is_empty(), "inbound list unaffected");

    assert!(store.set_outbound_connector_enabled(&t("acme"), "all-mx", true).unwrap().enabled);
    assert!(!store.set_outbound_connector_enabled(&t("acme"), "Partner Relay", false).unwrap().enabled);
    store.remove_outbound_connector(&t("acme"), "PARTNER RELAY").unwrap();
    assert_eq!(store.list_outbound_connectors(None).unwrap().len(), 1);
    let gone = store.outbound_connector(&t("acme"), "Partner Relay");
    assert!(matches!(directory_error(gone), DirectoryError::UnknownConnector { .. }));
    let unknown = store.remove_outbound_connector(&t("acme"), "nope");
    assert!(matches!(directory_error(unknown), DirectoryError::UnknownConnector { .. }));

    let mut invalid = relay();
    invalid.route = OutboundRoute::SmartHosts(Vec::new());
    let err = directory_error(store.add_outbound_connector(&invalid));
    assert!(matches!(err, DirectoryError::Invalid { field: "connector.smart_host", .. }), "{err}");
    let mut ghost = relay();
    ghost.tenant = t("ghost");
    assert!(matches!(
        directory_error(store.add_outbound_connector(&ghost)),
        DirectoryError::UnknownTenant { .. }
    ));
}

fn one_name_space_for_both_directions<S: DirectoryStore>(store: &mut S) {
    store.add_outbound_connector(&relay()).unwrap();
    let mut inbound = Connector::new(t("acme"), "partner relay", ConnectorKind::Partner);
    inbound.sender_domains = vec![d("partner.example")];
    assert!(matches!(
        directory_error(store.add_connector(&inbound)),
        DirectoryError::DuplicateConnector { .. }
    ));
    inbound.name = "hq".into();
    store.add_connector(&inbound).unwrap();
    let clash = OutboundConnector::new(t("acme"), "HQ", OutboundRoute::Mx, OutboundTls::Opportunistic);
    assert!(matches!(
        directory_error(store.add_outbound_connector(&clash)),
        DirectoryError::DuplicateConnector { .. }
    ));
}

fn every_change_bumps_the_generation_and_the_snapshot_routes<S: DirectoryStore>(store: &mut S) {
    let mut last = store.generation().unwrap();
    let mut bumped = |store: &S| {
        let now = store.generation().unwrap();
        let moved = now != last;
        last = now;
        moved
    };
    store.add_outbound_connector(&relay()).unwrap();
    assert!(bumped(store));
    let snapshot = store.snapshot().unwrap();
    let chosen = snapshot.outbound_connector_for(&t("acme"), "mx.partner-mail.example").unwrap();
    assert_eq!(chosen.name, "Partner Relay");
    assert!(snapshot.outbound_connector_for(&t("acme"), "gmail.com").is_none());
    assert!(store.add_outbound_connector(&relay()).is_err());
    assert!(!bumped(store), "a failed mutation changes nothing");
    store.set_outbound_connector_enabled(&t("acme"), "Partner Relay", false).unwrap();
    assert!(bumped(store));
    assert!(store.snapshot().unwrap().outbound_connector_for(&t("acme"), "partner.example").is_none());
    store.remove_outbound_connector(&t("acme"), "Partner Relay").unwrap();
    assert!(bumped(store));
}

#[test]
fn a_version_2_database_gains_the_outbound_connector_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sluice.db");
    let mut store = SqliteStore::open(&path).unwrap();
    store.add_tenant(&NewTenant::new("acme", "Acme", "en").unwrap(), &d("sluice.example")).unwrap();
    drop(store);
    // What a database written by the previous release looks like.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE outbound_connector_smart_hosts; DROP TABLE outbound_connector_domains;
         DROP TABLE outbound_connectors; DROP TABLE tokens; DROP TABLE audit; DROP TABLE requests;
         DROP TABLE domain_claims; ALTER TABLE reputation DROP COLUMN expires_at;
         ALTER TABLE connectors DROP COLUMN created_at; ALTER TABLE connectors DROP COLUMN created_by;
         ALTER TABLE connectors DROP COLUMN changed_at; ALTER TABLE connectors DROP COLUMN changed_by;
         ALTER TABLE connectors DROP COLUMN change_note;
         UPDATE schema_version SET version = 2;",
    )
    .unwrap();
    drop(conn);
    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 5);
    assert_eq!(store.list_tenants().unwrap().len(), 1, "data kept");
    store.add_outbound_connector(&relay()).unwrap();
}
