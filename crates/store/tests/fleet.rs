//! Several nodes on one PostgreSQL database: a change made through one store handle is in
//! force through another at its next poll of the generation, conflicting writers on two
//! nodes cannot both pass a rule, and a lost connection is replaced.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Barrier};

use directory::{
    DirectoryError, DirectoryStore, DomainKind, DomainName, NewDomain, NewTenant, Refresh, SharedSnapshot,
    StoreError, TenantId, Transport,
};
use store::test_cluster::PgCluster;
use store::{Migrate, PgStore, PgTarget};

fn d(name: &str) -> DomainName {
    DomainName::parse("test", name).unwrap()
}

fn t(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn node(target: &PgTarget) -> PgStore {
    PgStore::connect(target, Migrate::Apply).unwrap().0
}

fn add_tenant(store: &mut PgStore, id: &str) {
    store.add_tenant(&NewTenant::new(id, id, "en").unwrap(), &d("sluice.example")).unwrap();
}

#[test]
fn a_change_on_one_node_is_in_force_on_another_at_its_next_poll() {
    let target = PgCluster::shared().fresh_target();
    let (mut a, b) = (node(&target), node(&target));
    let shared_b = SharedSnapshot::new(b.snapshot().unwrap());
    let before = b.generation().unwrap();
    assert_eq!(shared_b.refresh(&b).unwrap(), Refresh::Unchanged { generation: before });

    add_tenant(&mut a, "acme");
    let domain = NewDomain { name: d("acme.test"), kind: DomainKind::Authoritative, match_subdomains: false };
    a.add_domain(&t("acme"), &domain).unwrap();
    a.mark_domain_verified(&t("acme"), &d("acme.test")).unwrap();

    let after = a.generation().unwrap();
    assert_eq!(b.generation().unwrap(), after, "one counter for the whole fleet");
    assert_eq!(shared_b.refresh(&b).unwrap(), Refresh::Replaced { from: before, to: after });
    let snapshot = shared_b.current();
    let ctx = snapshot.session("203.0.113.1".parse().unwrap(), Transport::Plain, 0);
    let refusal = snapshot.check_recipient(&ctx, None, "nobody", "acme.test").unwrap_err();
    assert_eq!(refusal.enhanced, (5, 1, 1), "node B now decides for acme.test: an unknown user, not relay");
}

#[test]
fn two_nodes_racing_for_one_domain_cannot_both_win() {
    let target = PgCluster::shared().fresh_target();
    let mut setup = node(&target);
    add_tenant(&mut setup, "acme");
    add_tenant(&mut setup, "globex");
    for round in 0..5 {
        // Both claim the name (a pending claim blocks no one); then both verify at once.
        let name = format!("contested{round}.test");
        let domain = NewDomain { name: d(&name), kind: DomainKind::Authoritative, match_subdomains: true };
        for tenant in ["acme", "globex"] {
            setup.add_domain(&t(tenant), &domain).unwrap();
        }
        let start = Arc::new(Barrier::new(2));
        let racers: Vec<_> = ["acme", "globex"]
            .into_iter()
            .map(|tenant| {
                let (target, start, name) = (target.clone(), Arc::clone(&start), name.clone());
                std::thread::spawn(move || {
                    let mut store = node(&target);
                    start.wait();
                    store.mark_domain_verified(&t(tenant), &d(&name)).map(|_| ())
                })
            })
            .collect();
        let results: Vec<Result<(), StoreError>> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {results:?}");
        let lost = results.into_iter().find_map(Result::err).unwrap();
        assert!(
            matches!(lost, StoreError::Directory(DirectoryError::DuplicateDomain { .. })),
            "the loser gets the rule's error, not a database error: {lost:?}"
        );
    }
}

/// Ends every other session of `store`'s database, as a server restart would.
fn cut_connections(target: &PgTarget, url: &str) {
    let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let db = target.describe().rsplit('/').next().unwrap().to_string();
    let cut = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND application_name = 'sluice' AND pid <> pg_backend_pid()",
            &[&db],
        )
        .unwrap();
    assert!(!cut.is_empty(), "the store had a connection to cut");
}

#[test]
fn a_lost_connection_is_replaced_for_reads_and_writes() {
    let url = PgCluster::shared().fresh_database();
    let target = PgTarget::parse(&url, None).unwrap();
    let mut store = node(&target);
    add_tenant(&mut store, "acme");

    cut_connections(&target, &url);
    assert_eq!(store.list_tenants().unwrap().len(), 1, "a read reconnects and is retried");
    cut_connections(&target, &url);
    add_tenant(&mut store, "globex");
    assert_eq!(store.list_tenants().unwrap().len(), 2, "a write checks its connection first");
}

#[test]
fn an_unreachable_server_is_an_error_naming_it_without_the_password() {
    let url = format!(
        "postgres://sluice:secret@127.0.0.1:{}/nothing?connect_timeout=5",
        PgCluster::shared().port() + 1
    );
    let target = PgTarget::parse(&url, None).unwrap();
    let err = PgStore::connect(&target, Migrate::Apply).unwrap_err().to_string();
    assert!(err.contains("connecting to postgres://sluice@127.0.0.1:"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}

#[test]
fn urls_that_cannot_work_are_refused_with_the_remedy() {
    for (url, says) in [
        ("mysql://x", "not a PostgreSQL URL"),
        ("postgres://127.0.0.1:5432", "names no database"),
        ("postgres://u@127.0.0.1/db?sslmode=verify-all", "not a PostgreSQL URL"),
    ] {
        let err = PgTarget::parse(url, None).unwrap_err().to_string();
        assert!(err.contains(says), "{url}: {err}");
    }
    let missing_ca =
        PgTarget::parse("postgres://u@db.example/sluice", Some(std::path::Path::new("/nonexistent/ca.pem")));
    assert!(missing_ca.unwrap_err().to_string().contains("cannot read the CA file /nonexistent/ca.pem"));
}
