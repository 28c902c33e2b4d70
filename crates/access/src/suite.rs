//! The behaviour every storage backend of tokens, the audit log and requests must show.
//! A backend's tests call each function with a fresh, empty store; SQLite runs them in
//! `store`, and PostgreSQL will run the same functions unchanged.

#![allow(clippy::unwrap_used)]

use directory::{Cidr, TenantId};

use crate::{
    AUDIT_PAGE_MAX, AccessError, AuditQuery, AuditStore, NewAuditEntry, NewRequest, RequestDecision,
    RequestKind, RequestQuery, RequestStatus, RequestStore, Role, TOKEN_RANDOM_BYTES, TokenId, TokenRecord,
    TokenSecret, TokenStore,
};

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn record(seed: u8, role: Role, tenant: Option<TenantId>) -> (TokenSecret, TokenRecord) {
    let secret = TokenSecret::from_random([seed; TOKEN_RANDOM_BYTES]);
    let record = TokenRecord {
        id: secret.id().unwrap(),
        hash: secret.hash(),
        role,
        tenant,
        note: format!("token {seed}"),
        created_at_unix_s: 1000 + u64::from(seed),
        created_by: "os:root".into(),
        expires_at_unix_s: Some(9_999),
        revoked_at_unix_s: None,
    };
    (secret, record)
}

/// Tokens round-trip, ids are unique, revocation keeps its first time.
pub fn tokens<S: TokenStore>(store: &mut S) {
    let (secret, admin) = record(1, Role::TenantAdmin, Some(tenant("acme")));
    let (_, operator) = record(2, Role::Operator, None);
    store.insert_token(&admin).unwrap();
    store.insert_token(&operator).unwrap();
    let found = store.token(&secret.id().unwrap()).unwrap().unwrap();
    assert_eq!(found, admin);
    assert!(found.admits(&secret, 2000));
    assert!(store.insert_token(&admin).is_err(), "an id is stored once");
    assert_eq!(store.list_tokens().unwrap(), vec![admin.clone(), operator.clone()]);
    assert_eq!(store.token(&TokenId::parse("00000000000000ff").unwrap()).unwrap(), None);

    let revoked = store.revoke_token(&admin.id, 3000).unwrap();
    assert_eq!(revoked.revoked_at_unix_s, Some(3000));
    let again = store.revoke_token(&admin.id, 4000).unwrap();
    assert_eq!(again.revoked_at_unix_s, Some(3000), "the first revocation stands");
    assert!(!store.token(&admin.id).unwrap().unwrap().admits(&secret, 3001));
    let unknown = store.revoke_token(&TokenId::parse("00000000000000ff").unwrap(), 1);
    assert!(matches!(unknown, Err(AccessError::UnknownToken { .. })));
}

fn entry(at: u64, tenant_id: Option<&str>, action: &str) -> NewAuditEntry {
    NewAuditEntry {
        at_unix_s: at,
        actor: if at.is_multiple_of(2) { "token:00000000000000aa".into() } else { "os:root".into() },
        tenant: tenant_id.map(tenant),
        action: action.into(),
        object: format!("object {at}"),
        before: at.is_multiple_of(3).then(|| serde_json::json!({ "enabled": true })),
        after: Some(serde_json::json!({ "enabled": false, "list": [1, 2] })),
        source: "127.0.0.1:40000".into(),
    }
}

/// The audit log appends with increasing ids and filters by tenant, actor, action prefix,
/// time and page.
pub fn audit<S: AuditStore>(store: &mut S) {
    let mut ids = Vec::new();
    for (at, t, action) in [
        (10, Some("acme"), "domain.add"),
        (11, Some("globex"), "domain.add"),
        (12, Some("acme"), "connector.disable"),
        (13, None, "token.create"),
        (14, Some("acme"), "domain.verify"),
    ] {
        let added = store.append_audit(&entry(at, t, action)).unwrap();
        assert_eq!(added.entry, entry(at, t, action), "stored as given");
        ids.push(added.id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    fn at<S: AuditStore>(store: &S, q: AuditQuery) -> Vec<u64> {
        store.list_audit(&AuditQuery { limit: 100, ..q }).unwrap().iter().map(|e| e.entry.at_unix_s).collect()
    }
    let list = |q| at(store, q);
    assert_eq!(list(AuditQuery::default()), vec![14, 13, 12, 11, 10], "newest first");
    assert_eq!(list(AuditQuery { tenant: Some(tenant("acme")), ..Default::default() }), vec![14, 12, 10]);
    assert_eq!(list(AuditQuery { action: Some("domain".into()), ..Default::default() }), vec![14, 11, 10]);
    assert_eq!(list(AuditQuery { action: Some("domain.add".into()), ..Default::default() }), vec![11, 10]);
    assert_eq!(list(AuditQuery { actor: Some("os:root".into()), ..Default::default() }), vec![13, 11]);
    let window = AuditQuery { since_unix_s: Some(11), until_unix_s: Some(13), ..Default::default() };
    assert_eq!(list(window), vec![13, 12, 11]);
    assert_eq!(list(AuditQuery { before_id: Some(ids[2]), ..Default::default() }), vec![11, 10]);
    let one = store.list_audit(&AuditQuery { limit: 1, ..Default::default() }).unwrap();
    assert_eq!(one.len(), 1);
    let capped = store.list_audit(&AuditQuery { limit: usize::MAX, ..Default::default() }).unwrap();
    assert!(capped.len() <= AUDIT_PAGE_MAX);
    assert_eq!(
        list(AuditQuery { action: Some("domain%".into()), ..Default::default() }),
        Vec::<u64>::new(),
        "a prefix is literal text, not a pattern"
    );
}

/// Requests are created pending, listed newest first per tenant and status, and decided
/// once.
pub fn requests<S: RequestStore>(store: &mut S) {
    let cidr = Cidr::parse("c", "198.51.100.0/24").unwrap();
    let exception = RequestKind::ReputationException { cidr };
    let ask = |t: &str, kind: RequestKind, at: u64| {
        NewRequest::new(tenant(t), kind, "our partner's relay", "token:00000000000000aa", at).unwrap()
    };
    let first = store.create_request(&ask("acme", exception.clone(), 100)).unwrap();
    let second = store.create_request(&ask("globex", RequestKind::OutboundRelease, 101)).unwrap();
    let third = store.create_request(&ask("acme", RequestKind::OutboundRelease, 102)).unwrap();
    assert_eq!(first.status, RequestStatus::Pending);
    assert_eq!((first.kind.clone(), first.decided_by.clone()), (exception, None));
    assert!(first.id < second.id && second.id < third.id);
    assert_eq!(store.request(first.id).unwrap(), Some(first.clone()));
    assert_eq!(store.request(9_999).unwrap(), None);
    fn listed<S: RequestStore>(store: &S, q: RequestQuery) -> Vec<u64> {
        store.list_requests(&q).unwrap().iter().map(|r| r.id).collect()
    }
    assert_eq!(listed(store, RequestQuery::default()), vec![third.id, second.id, first.id]);
    assert_eq!(
        listed(store, RequestQuery { tenant: Some(tenant("acme")), status: None }),
        vec![third.id, first.id]
    );

    let approve = RequestDecision::new(true, "checked with the partner", "os:root", 200).unwrap();
    let decided = store.decide_request(first.id, &approve).unwrap();
    assert_eq!(decided.status, RequestStatus::Approved);
    assert_eq!(
        (decided.decided_by.as_deref(), decided.decided_at_unix_s, decided.note.as_deref()),
        (Some("os:root"), Some(200), Some("checked with the partner"))
    );
    let deny = RequestDecision::new(false, "no", "os:root", 201).unwrap();
    assert!(matches!(
        store.decide_request(first.id, &deny),
        Err(AccessError::AlreadyDecided { status: "approved", .. })
    ));
    assert!(matches!(store.decide_request(9_999, &deny), Err(AccessError::UnknownRequest { id: 9_999 })));
    let pending = RequestQuery { tenant: None, status: Some(RequestStatus::Pending) };
    assert_eq!(listed(store, pending), vec![third.id, second.id]);
}
