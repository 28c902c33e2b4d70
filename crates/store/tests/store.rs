//! The directory store's behaviour on both backends (SQLite and a private PostgreSQL
//! cluster): round trips of every entity, uniqueness with typed errors, cascades,
//! generation changes, reopening and schema versions.

#![allow(clippy::unwrap_used)]

use directory::{
    CertName, Cidr, Connector, ConnectorKind, DeliveryTarget, DirectoryError, DirectoryStore, DomainKind,
    DomainName, NewDomain, NewTenant, NextHop, Recipient, ReputationEntry, ReputationKind, RouteTarget,
    StoreError, TenantId, TenantStatus, Transport, VerificationState,
};
use store::test_cluster::PgCluster;
use store::{Migrate, PgStore, PgTarget, SqliteStore};

/// A fresh, empty directory on one backend, and how to open it again.
struct Fixture<S> {
    store: S,
    reopen: Box<dyn Fn() -> S>,
    /// Runs SQL on the database behind the store's back (to age or damage it).
    raw: Box<dyn Fn(&str)>,
    /// Opens the database again, only checking its schema; the error's text.
    check: Box<dyn Fn() -> String>,
    _dir: Option<tempfile::TempDir>,
}

/// What the tests need beyond the trait.
trait Backend: DirectoryStore + 'static {
    fn version(&self) -> i64;
}

impl Backend for SqliteStore {
    fn version(&self) -> i64 {
        self.schema_version().unwrap()
    }
}

impl Backend for PgStore {
    fn version(&self) -> i64 {
        self.schema_version().unwrap()
    }
}

fn sqlite() -> Fixture<SqliteStore> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sluice.db");
    let store = SqliteStore::open(&path).unwrap();
    let (reopen, raw, check) = (path.clone(), path.clone(), path);
    Fixture {
        store,
        reopen: Box::new(move || SqliteStore::open(&reopen).unwrap()),
        raw: Box::new(move |sql| rusqlite::Connection::open(&raw).unwrap().execute_batch(sql).unwrap()),
        check: Box::new(move || {
            SqliteStore::open_with(&check, Migrate::Check).err().map(|e| e.to_string()).unwrap_or_default()
        }),
        _dir: Some(dir),
    }
}

fn postgres() -> Fixture<PgStore> {
    let url = PgCluster::shared().fresh_database();
    let target = PgTarget::parse(&url, None).unwrap();
    let (store, _) = PgStore::connect(&target, Migrate::Apply).unwrap();
    let check = target.clone();
    Fixture {
        store,
        reopen: Box::new(move || PgStore::connect(&target, Migrate::Apply).unwrap().0),
        raw: Box::new(move |sql| {
            ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap().batch_execute(sql).unwrap()
        }),
        check: Box::new(move || {
            PgStore::connect(&check, Migrate::Check).err().map(|e| e.to_string()).unwrap_or_default()
        }),
        _dir: None,
    }
}

/// Each test function runs on SQLite and on PostgreSQL, as `sqlite::NAME` and
/// `postgres::NAME`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&mut super::sqlite()); } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(&mut super::postgres()); } )*
        }
    };
}

on_both_backends!(
    tenants_round_trip_with_their_service_domain,
    domains_round_trip_and_verify,
    a_domain_belongs_to_one_tenant,
    recipients_round_trip,
    recipients_only_in_the_tenants_domains,
    removing_a_domain_removes_its_recipients,
    connectors_round_trip,
    reputation_round_trip,
    generation_changes_on_every_mutation_only,
    reopening_keeps_everything,
    a_newer_schema_is_refused,
    a_schema_behind_is_refused_when_only_checking,
    the_snapshot_of_a_store_decides,
    a_shared_snapshot_follows_the_store,
    a_failed_mutation_leaves_nothing_behind,
    outbound_blocks_hold_until_released_with_who_and_why,
    pending_claims_and_the_first_to_verify,
    connectors_are_edited_in_place_with_their_record,
    expired_reputation_entries_are_removed_once,
);

fn d(name: &str) -> DomainName {
    DomainName::parse("test", name).unwrap()
}

fn t(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn service() -> DomainName {
    d("sluice.example")
}

fn directory_error(r: Result<impl std::fmt::Debug, StoreError>) -> DirectoryError {
    match r {
        Err(StoreError::Directory(e)) => e,
        other => panic!("expected a directory error, got {other:?}"),
    }
}

fn new_domain(name: &str, kind: DomainKind, subs: bool) -> NewDomain {
    NewDomain { name: d(name), kind, match_subdomains: subs }
}

/// acme with a verified authoritative acme.test (+ sub-domains).
fn with_acme<S: Backend>(f: &mut Fixture<S>) {
    f.store.add_tenant(&NewTenant::new("acme", "Acme Corp", "fr").unwrap(), &service()).unwrap();
    f.store.add_domain(&t("acme"), &new_domain("acme.test", DomainKind::Authoritative, true)).unwrap();
    f.store.mark_domain_verified(&t("acme"), &d("acme.test")).unwrap();
}

fn tenants_round_trip_with_their_service_domain<S: Backend>(f: &mut Fixture<S>) {
    assert_eq!(f.store.version(), 5);
    let tenant = f.store.add_tenant(&NewTenant::new("Acme", "Acme Corp", "fr").unwrap(), &service()).unwrap();
    assert_eq!(
        (tenant.id.as_str(), tenant.status, tenant.language.as_str()),
        ("acme", TenantStatus::Active, "fr")
    );
    let domains = f.store.list_domains(Some(&t("acme"))).unwrap();
    assert_eq!(domains.len(), 1);
    assert_eq!(domains[0].name, d("acme.sluice.example"));
    assert!(domains[0].service);
    assert_eq!(domains[0].verification, VerificationState::Verified);

    let suspended = f.store.set_tenant_status(&t("acme"), TenantStatus::Suspended).unwrap();
    assert_eq!(suspended.status, TenantStatus::Suspended);
    assert_eq!(f.store.list_tenants().unwrap(), vec![suspended]);
    let resumed = f.store.set_tenant_status(&t("acme"), TenantStatus::Active).unwrap();
    assert_eq!(resumed.status, TenantStatus::Active);

    let dup = f.store.add_tenant(&NewTenant::new("acme", "Other", "en").unwrap(), &service());
    assert_eq!(directory_error(dup), DirectoryError::DuplicateTenant { id: t("acme") });
    let unknown = f.store.set_tenant_status(&t("nobody"), TenantStatus::Suspended);
    assert_eq!(directory_error(unknown), DirectoryError::UnknownTenant { id: "nobody".into() });
}

fn domains_round_trip_and_verify<S: Backend>(f: &mut Fixture<S>) {
    f.store.add_tenant(&NewTenant::new("acme", "Acme", "en").unwrap(), &service()).unwrap();
    let added =
        f.store.add_domain(&t("acme"), &new_domain("acme.test", DomainKind::InternalRelay, true)).unwrap();
    assert_eq!(added.verification, VerificationState::Pending);
    assert_eq!((added.kind, added.match_subdomains, added.service), (DomainKind::InternalRelay, true, false));
    assert_eq!(added.token.len(), 32);
    assert!(added.token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(added.txt_record(), format!("sluice-verification={}", added.token));
    let other =
        f.store.add_domain(&t("acme"), &new_domain("acme2.test", DomainKind::Authoritative, false)).unwrap();
    assert_ne!(added.token, other.token, "tokens are random");

    let verified = f.store.mark_domain_verified(&t("acme"), &d("acme.test")).unwrap();
    assert_eq!(verified.verification, VerificationState::Verified);
    assert_eq!(verified.token, added.token);
    assert_eq!(f.store.list_domains(None).unwrap().len(), 3);

    let unknown = f.store.mark_domain_verified(&t("acme"), &d("nothing.test"));
    assert_eq!(directory_error(unknown), DirectoryError::UnknownDomain { domain: "nothing.test".into() });
    let no_tenant =
        f.store.add_domain(&t("ghost"), &new_domain("ghost.test", DomainKind::Authoritative, false));
    assert_eq!(directory_error(no_tenant), DirectoryError::UnknownTenant { id: "ghost".into() });
}

fn a_domain_belongs_to_one_tenant<S: Backend>(f: &mut Fixture<S>) {
    with_acme(f);
    f.store.add_tenant(&NewTenant::new("globex", "Globex", "en").unwrap(), &service()).unwrap();
    let dup = f.store.add_domain(&t("globex"), &new_domain("ACME.test.", DomainKind::Authoritative, false));
    assert_eq!(
        directory_error(dup),
        DirectoryError::DuplicateDomain { domain: d("acme.test"), owner: t("acme") }
    );
    // acme.test matches sub-domains, so its sub-domains are acme's too.
    let sub = f.store.add_domain(&t("globex"), &new_domain("x.acme.test", DomainKind::Authoritative, false));
    assert!(
        matches!(directory_error(sub), DirectoryError::DuplicateDomain { owner, .. } if owner == t("acme"))
    );
    // Names under the service domain are reserved, taken or not.
    for name in ["acme.sluice.example", "newco.sluice.example"] {
        let svc = f.store.add_domain(&t("globex"), &new_domain(name, DomainKind::Authoritative, false));
        assert!(
            matches!(directory_error(svc), DirectoryError::Invalid { field: "domain.name", .. }),
            "{name}"
        );
    }
    let msg = directory_error(
        f.store.add_domain(&t("globex"), &new_domain("acme.test", DomainKind::Authoritative, false)),
    )
    .to_string();
    assert_eq!(msg, "domain acme.test is already an accepted domain of tenant acme");
}

fn recipients_round_trip<S: Backend>(f: &mut Fixture<S>) {
    with_acme(f);
    let lmtp = DeliveryTarget::Lmtp(NextHop::parse("t", "[2001:db8::5]:24", 24).unwrap());
    let alice =
        Recipient::new(t("acme"), "Alice@acme.test", &["ali", "a.smith"], DeliveryTarget::Maildir).unwrap();
    let bob = Recipient::new(t("acme"), "bob@sales.acme.test", &[], lmtp).unwrap();
    let smtp = DeliveryTarget::Smtp(NextHop::parse("t", "mx.acme.test:2525", 25).unwrap());
    let carol = Recipient::new(t("acme"), "carol@acme.sluice.example", &[], smtp).unwrap();
    for r in [&alice, &bob, &carol] {
        f.store.add_recipient(r).unwrap();
    }
    let mut listed = f.store.list_recipients(&t("acme")).unwrap();
    listed.sort_by_key(Recipient::address);
    let mut expected = vec![alice, bob, carol];
    expected.sort_by_key(Recipient::address);
    for r in &mut expected {
        r.aliases.sort();
    }
    assert_eq!(listed, expected);

    // An alias or address taken is a duplicate, whichever form takes it.
    let clash = Recipient::new(t("acme"), "ali@acme.test", &[], DeliveryTarget::Maildir).unwrap();
    assert_eq!(
        directory_error(f.store.add_recipient(&clash)),
        DirectoryError::DuplicateRecipient { address: "ali@acme.test".into() }
    );
    let clash = Recipient::new(t("acme"), "zed@acme.test", &["alice"], DeliveryTarget::Maildir).unwrap();
    assert!(matches!(
        directory_error(f.store.add_recipient(&clash)),
        DirectoryError::DuplicateRecipient { .. }
    ));

    f.store.remove_recipient("ALICE", &d("acme.test")).unwrap();
    assert_eq!(f.store.list_recipients(&t("acme")).unwrap().len(), 2);
    // Its aliases went with it.
    f.store
        .add_recipient(&Recipient::new(t("acme"), "ali@acme.test", &[], DeliveryTarget::Maildir).unwrap())
        .unwrap();
    let gone = f.store.remove_recipient("alice", &d("acme.test"));
    assert_eq!(directory_error(gone), DirectoryError::UnknownRecipient { address: "alice@acme.test".into() });
}

fn recipients_only_in_the_tenants_domains<S: Backend>(f: &mut Fixture<S>) {
    with_acme(f);
    f.store.add_tenant(&NewTenant::new("globex", "Globex", "en").unwrap(), &service()).unwrap();
    let foreign = Recipient::new(t("globex"), "x@acme.test", &[], DeliveryTarget::Maildir).unwrap();
    assert!(matches!(
        directory_error(f.store.add_recipient(&foreign)),
        DirectoryError::Invalid { field: "recipient.address", .. }
    ));
    let nowhere = Recipient::new(t("acme"), "x@elsewhere.test", &[], DeliveryTarget::Maildir).unwrap();
    assert!(matches!(directory_error(f.store.add_recipient(&nowhere)), DirectoryError::Invalid { .. }));
    let ghost = Recipient::new(t("ghost"), "x@acme.test", &[], DeliveryTarget::Maildir).unwrap();
    assert!(matches!(directory_error(f.store.add_recipient(&ghost)), DirectoryError::UnknownTenant { .. }));
}

fn removing_a_domain_removes_its_recipients<S: Backend>(f: &mut Fixture<S>) {
    with_acme(f);
    f.store
        .add_recipient(&Recipient::new(t("acme"), "a@acme.test", &["b"], DeliveryTarget::Maildir).unwrap())
        .unwrap();
    f.store
        .add_recipient(&Recipient::new(t("acme"), "c@x.acme.test", &[], DeliveryTarget::Maildir).unwrap())
        .unwrap();
    f.store
        .add_recipient(
            &Recipient::new(t("acme"), "d@acme.sluice.example", &[], DeliveryTarget::Maildir).unwrap(),
        )
        .unwrap();
    f.store.remove_domain(&t("acme"), &d("acme.test")).unwrap();
    let left: Vec<String> =
        f.store.list_recipients(&t("acme")).unwrap().iter().map(Recipient::address).collect();
    assert_eq!(left, vec!["d@acme.sluice.example".to_string()]);
    // The alias is free again once the domain is back.
    f.store.add_domain(&t("acme"), &new_domain("acme.test", DomainKind::Authoritative, false)).unwrap();
    f.store
        .add_recipient(&Recipient::new(t("acme"), "b@acme.test", &[], DeliveryTarget::Maildir).unwrap())
        .unwrap();

    let svc = f.store.remove_domain(&t("acme"), &d("acme.sluice.example"));
    assert!(matches!(directory_error(svc), DirectoryError::Invalid { field: "domain.name", .. }));
    let unknown = f.store.remove_domain(&t("acme"), &d("nothing.test"));
    assert!(matches!(directory_error(unknown), DirectoryError::UnknownDomain { .. }));
}

fn partner() -> Connector {
    let mut c = Connector::new(t("acme"), "Partner Bank", ConnectorKind::Partner);
    c.ip_ranges =
        vec![Cidr::parse("c", "198.51.100.0/24").unwrap(), Cidr::parse("c", "2001:db8:2::/48").unwrap()];
    c.certificate_names =
        vec![CertName::parse("*.mail.bank.example").unwrap(), CertName::parse("mx.bank.example").unwrap()];
    c.sender_domains = vec![d("bank.example"), d("bank-mail.example")];
    c.restrict_sender_domains = true;
    c
}

fn connectors_round_trip<S: Backend>(f: &mut Fixture<S>) {
    with_acme(f);
    let c = partner();
    f.store.add_connector(&c).unwrap();
    assert_eq!(f.store.connector(&t("acme"), "Partner Bank").unwrap(), c);
    assert_eq!(f.store.list_connectors(Some(&t("acme"))).unwrap(), vec![c.clone()]);
    assert_eq!(f.store.list_connectors(None).unwrap().len(), 1);

    let disabled = f.store.set_connector_enabled(&t("acme"), "Partner Bank", false).unwrap();
    assert!(!disabled.enabled);
    assert!(f.store.set_connector_enabled(&t("acme"), "Partner Bank", true).unwrap().enabled);

    assert_eq!(
        directory_error(f.store.add_connector(&c)),
        DirectoryError::DuplicateConnector { tenant: t("acme"), name: "Partner Bank".into() }
    );
    let mut shouting = c.clone();
    shouting.name = "PARTNER BANK".into();
    assert!(matches!(
        directory_error(f.store.add_connector(&shouting)),
        DirectoryError::DuplicateConnector { .. }
    ));
    assert_eq!(f.store.connector(&t("acme"), "partner bank").unwrap().name, "Partner Bank");
    let mut bad = Connector::new(t("acme"), "bad", ConnectorKind::OnPremises);
    bad.sender_domains = vec![d("acme.test")];
    assert!(matches!(
        directory_error(f.store.add_connector(&bad)),
        DirectoryError::Invalid { field: "connector.ip", .. }
    ));
    let mut ghost = partner();
    ghost.tenant = t("ghost");
    assert!(matches!(directory_error(f.store.add_connector(&ghost)), DirectoryError::UnknownTenant { .. }));

    f.store.remove_connector(&t("acme"), "Partner Bank").unwrap();
    assert!(f.store.list_connectors(None).unwrap().is_empty());
    let gone = f.store.connector(&t("acme"), "Partner Bank");
    assert!(matches!(directory_error(gone), DirectoryError::UnknownConnector { .. }));
    assert!(matches!(
        directory_error(f.store.remove_connector(&t("acme"), "x")),
        DirectoryError::UnknownConnector { .. }
    ));
}

fn reputation_round_trip<S: Backend>(f: &mut Fixture<S>) {
    let block = ReputationEntry {
        cidr: Cidr::parse("c", "100.64.0.0/10").unwrap(),
        kind: ReputationKind::Block,
        note: "list".into(),
        expires_at_unix_s: None,
    };
    let except = ReputationEntry {
        cidr: Cidr::parse("c", "2001:db8::/32").unwrap(),
        kind: ReputationKind::Exception,
        note: "ticket 12".into(),
        expires_at_unix_s: Some(1_900_000_000),
    };
    f.store.set_reputation(&block).unwrap();
    f.store.set_reputation(&except).unwrap();
    assert_eq!(f.store.list_reputation().unwrap(), vec![block.clone(), except.clone()]);
    let replaced =
        ReputationEntry { kind: ReputationKind::Exception, note: "cleared".into(), ..block.clone() };
    f.store.set_reputation(&replaced).unwrap();
    assert_eq!(f.store.list_reputation().unwrap().len(), 2);
    assert!(f.store.list_reputation().unwrap().contains(&replaced));
    f.store.remove_reputation(&block.cidr).unwrap();
    assert!(matches!(
        directory_error(f.store.remove_reputation(&block.cidr)),
        DirectoryError::UnknownReputationEntry { .. }
    ));
}

fn generation_changes_on_every_mutation_only<S: Backend>(f: &mut Fixture<S>) {
    let mut last = f.store.generation().unwrap();
    let mut changed = |store: &S| {
        let now = store.generation().unwrap();
        let moved = now != last;
        last = now;
        moved
    };
    f.store.add_tenant(&NewTenant::new("acme", "Acme", "en").unwrap(), &service()).unwrap();
    assert!(changed(&f.store));
    f.store.add_domain(&t("acme"), &new_domain("acme.test", DomainKind::Authoritative, false)).unwrap();
    assert!(changed(&f.store));
    f.store.mark_domain_verified(&t("acme"), &d("acme.test")).unwrap();
    assert!(changed(&f.store));
    f.store.add_connector(&partner()).unwrap();
    assert!(changed(&f.store));
    // Reads and failed mutations leave it alone.
    f.store.load().unwrap();
    f.store.list_domains(None).unwrap();
    assert!(f.store.add_connector(&partner()).is_err());
    assert!(!changed(&f.store));
    f.store.set_tenant_status(&t("acme"), TenantStatus::Suspended).unwrap();
    assert!(changed(&f.store));
    assert_eq!(f.store.load().unwrap().generation, last);
}

fn reopening_keeps_everything<S: Backend>(f: &mut Fixture<S>) {
    with_acme(f);
    f.store.add_connector(&partner()).unwrap();
    f.store
        .add_recipient(&Recipient::new(t("acme"), "a@acme.test", &["b"], DeliveryTarget::Maildir).unwrap())
        .unwrap();
    let before = f.store.load().unwrap();
    let reopened = (f.reopen)();
    assert_eq!(reopened.load().unwrap(), before);
    assert_eq!(reopened.version(), 5);
}

fn a_newer_schema_is_refused<S: Backend>(f: &mut Fixture<S>) {
    (f.raw)("UPDATE schema_version SET version = 99");
    let refused = (f.check)();
    assert!(refused.contains("version 99, newer than the 5"), "{refused}");
    assert!(refused.contains("upgrade Sluice"), "{refused}");
}

fn a_schema_behind_is_refused_when_only_checking<S: Backend>(f: &mut Fixture<S>) {
    (f.raw)("UPDATE schema_version SET version = 5");
    assert_eq!((f.check)(), "", "an up-to-date schema passes the check");
    // Pretend the last migration has not run: drop what it made, and its version; a
    // connector and a reputation entry of that older release are kept.
    with_acme(f);
    f.store.add_connector(&partner()).unwrap();
    f.store
        .set_reputation(&ReputationEntry {
            cidr: Cidr::parse("c", "198.51.100.0/24").unwrap(),
            kind: ReputationKind::Block,
            note: "old".into(),
            expires_at_unix_s: None,
        })
        .unwrap();
    let mut undo = String::from("DROP TABLE domain_claims; ALTER TABLE reputation DROP COLUMN expires_at;");
    for table in ["connectors", "outbound_connectors"] {
        for column in ["created_at", "created_by", "changed_at", "changed_by", "change_note"] {
            undo.push_str(&format!(" ALTER TABLE {table} DROP COLUMN {column};"));
        }
    }
    undo.push_str(" UPDATE schema_version SET version = 4");
    (f.raw)(&undo);
    let refused = (f.check)();
    assert!(refused.contains("at version 4, older than the 5"), "{refused}");
    assert!(refused.contains("run `sluice migrate`"), "{refused}");
    let mut reopened = (f.reopen)();
    assert_eq!(reopened.version(), 5, "opening applies what is missing");
    let kept = reopened.connector(&t("acme"), "partner bank").unwrap();
    assert_eq!(kept.record, directory::ChangeRecord::default(), "an empty change record");
    assert_eq!(reopened.list_reputation().unwrap()[0].expires_at_unix_s, None);
    reopened.add_domain(&t("acme"), &new_domain("claims.test", DomainKind::Authoritative, false)).unwrap();
    reopened.mark_domain_verified(&t("acme"), &d("claims.test")).unwrap();
}

fn the_snapshot_of_a_store_decides<S: Backend>(f: &mut Fixture<S>) {
    with_acme(f);
    f.store
        .add_recipient(&Recipient::new(t("acme"), "a@acme.test", &["b"], DeliveryTarget::Maildir).unwrap())
        .unwrap();
    f.store.add_domain(&t("acme"), &new_domain("pending.test", DomainKind::Authoritative, false)).unwrap();
    let s = f.store.snapshot().unwrap();
    assert_eq!(s.generation(), f.store.generation().unwrap());
    let ctx = s.session("203.0.113.1".parse().unwrap(), Transport::Plain, 0);
    let route = s.check_recipient(&ctx, None, "B", "Acme.Test").unwrap();
    assert_eq!(
        route.target,
        RouteTarget::Recipient { address: "a@acme.test".into(), target: DeliveryTarget::Maildir }
    );
    assert_eq!(s.check_recipient(&ctx, None, "a", "pending.test").unwrap_err().enhanced, (5, 7, 1));
    assert!(s.check_recipient(&ctx, Some("bank.example"), "a", "acme.test").is_ok());
    f.store.add_connector(&partner()).unwrap();
    let s = f.store.snapshot().unwrap();
    let refusal = s.check_recipient(&ctx, Some("bank.example"), "a", "acme.test").unwrap_err();
    assert_eq!(refusal.enhanced, (5, 7, 51));
}

fn a_shared_snapshot_follows_the_store<S: Backend>(f: &mut Fixture<S>) {
    use directory::{Refresh, SharedSnapshot};
    let shared = SharedSnapshot::new(f.store.snapshot().unwrap());
    let start = f.store.generation().unwrap();
    assert_eq!(shared.refresh(&f.store).unwrap(), Refresh::Unchanged { generation: start });
    let session = shared.current();
    with_acme(f);
    let to = f.store.generation().unwrap();
    assert_eq!(shared.refresh(&f.store).unwrap(), Refresh::Replaced { from: start, to });
    assert_eq!(shared.current().generation(), to);
    // A session keeps the snapshot it started with.
    assert_eq!(session.generation(), start);
    let ctx = shared.current().session("203.0.113.1".parse().unwrap(), Transport::Plain, 0);
    assert_eq!(
        shared.current().check_recipient(&ctx, None, "x", "acme.test").unwrap_err().enhanced,
        (5, 1, 1)
    );
    // Works through a trait object too, as fleet mode will use it.
    let dynamic: &dyn DirectoryStore = &f.store;
    assert_eq!(shared.refresh(dynamic).unwrap(), Refresh::Unchanged { generation: to });
}

fn a_failed_mutation_leaves_nothing_behind<S: Backend>(f: &mut Fixture<S>) {
    // Before any tenant exists nothing is reserved yet: "late" can be squatted and verified,
    // and then the tenant "late" cannot be created; the tenant row must not survive its
    // domain's failure. (A squatter's pending claim alone would not stop it.)
    f.store
        .add_tenant(&NewTenant::new("early", "Early", "en").unwrap(), &d("other-service.example"))
        .unwrap();
    f.store
        .add_domain(&t("early"), &new_domain("late.sluice.example", DomainKind::Authoritative, false))
        .unwrap();
    f.store.mark_domain_verified(&t("early"), &d("late.sluice.example")).unwrap();
    let before = f.store.load().unwrap();
    let late = f.store.add_tenant(&NewTenant::new("late", "Late", "en").unwrap(), &service());
    assert!(
        matches!(directory_error(late), DirectoryError::DuplicateDomain { owner, .. } if owner == t("early"))
    );
    assert_eq!(f.store.load().unwrap(), before);
}

#[test]
fn the_sqlite_file_is_in_wal_mode() {
    let f = sqlite();
    let path = f._dir.as_ref().unwrap().path().join("sluice.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

fn outbound_blocks_hold_until_released_with_who_and_why<S: Backend>(f: &mut Fixture<S>) {
    with_acme(f);
    let block = directory::OutboundBlock {
        tenant: t("acme"),
        blocked_at_unix_s: 1_000,
        reason: "bulk: 80% of 120 messages in the last hour".into(),
    };
    let generation = f.store.generation().unwrap();
    assert_eq!(f.store.block_outbound(&block).unwrap(), block);
    assert!(f.store.generation().unwrap() > generation, "a block changes the generation");
    // A second trip while blocked keeps the first reason.
    let again =
        directory::OutboundBlock { blocked_at_unix_s: 2_000, reason: "volume".into(), ..block.clone() };
    assert_eq!(f.store.block_outbound(&again).unwrap(), block);
    let snapshot = f.store.snapshot().unwrap();
    assert_eq!(snapshot.outbound_block(&t("acme")), Some(&block));

    let missing = directory_error(f.store.release_outbound(&t("acme"), " ", "checked", 3_000));
    assert!(matches!(missing, DirectoryError::Invalid { field: "release.by", .. }), "{missing:?}");
    let release =
        f.store.release_outbound(&t("acme"), "ops@sluice", "customer cleaned its server", 3_000).unwrap();
    assert_eq!(release.block, block);
    assert_eq!((release.released_by.as_str(), release.released_at_unix_s), ("ops@sluice", 3_000));
    assert!(f.store.snapshot().unwrap().outbound_block(&t("acme")).is_none());
    let twice = directory_error(f.store.release_outbound(&t("acme"), "ops", "again", 4_000));
    assert_eq!(twice, DirectoryError::NotBlocked { tenant: t("acme") });
    assert_eq!(f.store.outbound_releases(&t("acme")).unwrap(), vec![release]);

    // Blocks survive a reopen; an unknown tenant cannot be blocked.
    f.store.block_outbound(&again).unwrap();
    let reopened = (f.reopen)();
    assert_eq!(reopened.snapshot().unwrap().outbound_block(&t("acme")), Some(&again));
    let unknown = directory::OutboundBlock { tenant: t("nobody"), ..block };
    assert!(matches!(
        directory_error(f.store.block_outbound(&unknown)),
        DirectoryError::UnknownTenant { .. }
    ));
}

/// A pending claim never blocks the real owner: both claim, the first to verify wins, the
/// other's claim stays (its admin is told) and the recipients it listed under it go.
fn pending_claims_and_the_first_to_verify<S: Backend>(f: &mut Fixture<S>) {
    with_acme(f);
    f.store.add_tenant(&NewTenant::new("globex", "Globex", "en").unwrap(), &service()).unwrap();
    let shop = || new_domain("shop.test", DomainKind::Authoritative, false);
    let squat = f.store.add_domain(&t("acme"), &shop()).unwrap();
    f.store
        .add_recipient(&Recipient::new(t("acme"), "x@shop.test", &[], DeliveryTarget::Maildir).unwrap())
        .unwrap();
    let claim = f.store.add_domain(&t("globex"), &shop()).unwrap();
    assert_eq!((claim.tenant.clone(), claim.verification), (t("globex"), VerificationState::Pending));
    assert_ne!(claim.token, squat.token, "each claim proves itself with its own token");
    assert!(matches!(
        directory_error(f.store.add_domain(&t("globex"), &shop())),
        DirectoryError::DuplicateDomain { .. }
    ));
    let listed = |f: &Fixture<S>, tenant: &str| -> Vec<(String, VerificationState)> {
        f.store
            .list_domains(Some(&t(tenant)))
            .unwrap()
            .into_iter()
            .map(|d| (d.name.to_string(), d.verification))
            .collect()
    };
    assert!(listed(f, "globex").contains(&("shop.test".into(), VerificationState::Pending)));

    let won = f.store.mark_domain_verified(&t("globex"), &d("shop.test")).unwrap();
    assert_eq!(
        (won.tenant, won.verification, won.token),
        (t("globex"), VerificationState::Verified, claim.token)
    );
    assert_eq!(
        directory_error(f.store.mark_domain_verified(&t("acme"), &d("shop.test"))),
        DirectoryError::DuplicateDomain { domain: d("shop.test"), owner: t("globex") }
    );
    assert!(
        listed(f, "acme").contains(&("shop.test".into(), VerificationState::Pending)),
        "told, not erased"
    );
    let acme_recipients = f.store.list_recipients(&t("acme")).unwrap();
    assert!(acme_recipients.iter().all(|r| r.domain != d("shop.test")), "{acme_recipients:?}");
    let snapshot = f.store.snapshot().unwrap();
    assert_eq!(snapshot.accepting("shop.test").map(|a| a.tenant.clone()), Some(t("globex")));

    // The owner leaves: the oldest remaining claim takes the name, still to be verified.
    f.store.remove_domain(&t("globex"), &d("shop.test")).unwrap();
    let back = f.store.mark_domain_verified(&t("acme"), &d("shop.test")).unwrap();
    assert_eq!((back.tenant, back.token), (t("acme"), squat.token));
    f.store.remove_domain(&t("acme"), &d("shop.test")).unwrap();
    assert!(f.store.list_domains(None).unwrap().iter().all(|x| x.name != d("shop.test")));
}

/// An edit replaces lists and rules and records who changed it, when and why; the creation
/// stays as it was.
fn connectors_are_edited_in_place_with_their_record<S: Backend>(f: &mut Fixture<S>) {
    with_acme(f);
    let mut c = partner();
    c.record = directory::ChangeRecord::created(1_000, "os:ann", "partner bank relays");
    f.store.add_connector(&c).unwrap();
    let mut edited = c.clone();
    edited.ip_ranges = vec![Cidr::parse("c", "203.0.113.0/24").unwrap()];
    edited.require_tls = false;
    edited.record = c.record.changed(2_000, "os:bob", "new relay address");
    edited.record.created_by = "someone else".into();
    let stored = f.store.update_connector(&edited).unwrap();
    assert_eq!(stored.ip_ranges, edited.ip_ranges);
    assert!(!stored.require_tls);
    assert_eq!(
        stored.record,
        directory::ChangeRecord { created_by: "os:ann".into(), ..edited.record.clone() }
    );
    assert_eq!(f.store.connector(&t("acme"), "partner bank").unwrap(), stored);
    let mut ghost = edited.clone();
    ghost.name = "ghost".into();
    assert!(matches!(
        directory_error(f.store.update_connector(&ghost)),
        DirectoryError::UnknownConnector { .. }
    ));
    let mut broken = edited.clone();
    broken.ip_ranges.clear();
    broken.certificate_names.clear();
    assert!(matches!(directory_error(f.store.update_connector(&broken)), DirectoryError::Invalid { .. }));
    assert_eq!(
        f.store.connector(&t("acme"), "partner bank").unwrap(),
        stored,
        "a refused edit changes nothing"
    );
}

/// Expired entries are removed once, in one transaction, and only then is the generation
/// moved (the follower asks every second).
fn expired_reputation_entries_are_removed_once<S: Backend>(f: &mut Fixture<S>) {
    let entry = |cidr: &str, expires: Option<u64>| ReputationEntry {
        cidr: Cidr::parse("c", cidr).unwrap(),
        kind: ReputationKind::Exception,
        note: String::new(),
        expires_at_unix_s: expires,
    };
    f.store.set_reputation(&entry("192.0.2.1/32", Some(100))).unwrap();
    f.store.set_reputation(&entry("192.0.2.2/32", Some(200))).unwrap();
    f.store.set_reputation(&entry("192.0.2.3/32", None)).unwrap();
    let generation = f.store.generation().unwrap();
    assert!(f.store.remove_expired_reputation(99).unwrap().is_empty());
    assert_eq!(f.store.generation().unwrap(), generation, "nothing removed, nothing changed");
    let removed = f.store.remove_expired_reputation(150).unwrap();
    assert_eq!(removed, vec![entry("192.0.2.1/32", Some(100))]);
    assert_ne!(f.store.generation().unwrap(), generation);
    assert!(f.store.remove_expired_reputation(150).unwrap().is_empty(), "reported once");
    assert_eq!(f.store.list_reputation().unwrap().len(), 2);
}
