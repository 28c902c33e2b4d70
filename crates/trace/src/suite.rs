//! The behaviour every trace store must show. A backend's tests call each function with a
//! fresh, empty store; `store` runs them on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use directory::TenantId;

use crate::{
    Cursor, Direction, MessageStatus, Outcome, Received, RecipientEvent, RecipientStatus, Refusal,
    RefusalQuery, Retention, TraceEvent, TraceQuery, TraceStore,
};

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// A message from `client` to `rcpts`, visible to `owner`.
pub fn received(id: &str, at: u64, client: &str, owner: &str, rcpts: &[&str]) -> Received {
    Received {
        message: id.into(),
        at_unix_ms: at,
        client_ip: ip(client),
        helo: "mail.sender.example".into(),
        tls: Some(crate::TlsInfo { version: "TLSv1.3".into(), cipher: "TLS13_AES_256_GCM_SHA384".into() }),
        client_cert: None,
        connector: None,
        tenant: None,
        tenants: vec![tenant(owner)],
        direction: Direction::Inbound,
        sender: format!("Sender-{id}@Sender.example"),
        recipients: rcpts.iter().map(|r| r.to_string()).collect(),
        size_bytes: 4096,
        message_id: Some(format!("{id}@sender.example")),
        subject: Some(format!("subject {id}")),
    }
}

fn step(id: &str, at: u64, rcpt: &str, outcome: Outcome) -> TraceEvent {
    TraceEvent::Recipient(RecipientEvent {
        message: id.into(),
        at_unix_ms: at,
        recipient: rcpt.into(),
        outcome,
    })
}

fn deferred() -> Outcome {
    Outcome::Deferred { reply: "451 4.7.1 try later".into(), next_attempt_unix_ms: Some(400_000) }
}

fn delivered() -> Outcome {
    Outcome::Delivered { host: "mx.acme.example".into(), reply: "250 2.0.0 ok".into() }
}

fn ids<S: TraceStore>(store: &S, query: TraceQuery) -> Vec<String> {
    let query = TraceQuery { limit: 50, ..query };
    store.search(&query).unwrap().items.into_iter().map(|m| m.received.message).collect()
}

/// A message's events come back as a timeline in order, and its status follows its
/// recipients.
pub fn timeline<S: TraceStore>(store: &mut S) {
    let m = received("m1", 100_000, "192.0.2.1", "acme", &["a@acme.example", "b@acme.example"]);
    store.record(&[TraceEvent::Received(m.clone())]).unwrap();
    assert_eq!(store.message("m1", None).unwrap().unwrap().status, MessageStatus::Received);
    store
        .record(&[
            step("m1", 100_001, "a@acme.example", Outcome::Routed { to: "mx acme.example".into() }),
            step("m1", 100_001, "b@acme.example", Outcome::Routed { to: "mx acme.example".into() }),
            step("m1", 100_002, "a@acme.example", delivered()),
            step("m1", 100_002, "b@acme.example", deferred()),
        ])
        .unwrap();
    let trace = store.message("m1", None).unwrap().unwrap();
    assert_eq!(trace.received, m);
    assert_eq!(trace.status, MessageStatus::Deferred);
    assert_eq!(
        trace.recipients,
        vec![
            ("a@acme.example".to_string(), RecipientStatus::Delivered),
            ("b@acme.example".to_string(), RecipientStatus::Deferred)
        ]
    );
    store.record(&[step("m1", 400_000, "b@acme.example", delivered())]).unwrap();
    let trace = store.message("m1", None).unwrap().unwrap();
    assert_eq!(trace.status, MessageStatus::Delivered);
    let kinds: Vec<(u64, &str, &str)> = trace
        .timeline
        .iter()
        .map(|t| {
            let kind = match t.outcome {
                Outcome::Routed { .. } => "routed",
                Outcome::Deferred { .. } => "deferred",
                Outcome::Delivered { .. } => "delivered",
                _ => "other",
            };
            (t.at_unix_ms, t.recipient.as_str(), kind)
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (100_001, "a@acme.example", "routed"),
            (100_001, "b@acme.example", "routed"),
            (100_002, "a@acme.example", "delivered"),
            (100_002, "b@acme.example", "deferred"),
            (400_000, "b@acme.example", "delivered"),
        ]
    );
    assert_eq!(trace.timeline[3].outcome, deferred(), "the reply and next attempt are kept");
    // Steps of a message the store does not hold are dropped, not an error.
    store.record(&[step("gone", 1, "x@acme.example", delivered())]).unwrap();
    assert_eq!(store.message("gone", None).unwrap(), None);
    let mut failed = received("m2", 100_500, "192.0.2.1", "acme", &["c@acme.example"]);
    failed.direction = Direction::Outbound;
    store
        .record(&[
            TraceEvent::Received(failed),
            step("m2", 100_600, "c@acme.example", Outcome::Bounced { reply: "550 5.1.1 no".into() }),
        ])
        .unwrap();
    assert_eq!(store.message("m2", None).unwrap().unwrap().status, MessageStatus::Failed);
}

/// Every search filter, tenant visibility and pagination.
pub fn search<S: TraceStore>(store: &mut S) {
    let mut events = Vec::new();
    for (n, owner) in [(1, "acme"), (2, "globex"), (3, "acme"), (4, "acme")] {
        let mut m = received(
            &format!("s{n}"),
            1_000 * n,
            &format!("192.0.2.{n}"),
            owner,
            &[&format!("r{n}@{owner}.example")],
        );
        if n == 4 {
            m.direction = Direction::Outbound;
            m.tenants.push(tenant("globex"));
        }
        events.push(TraceEvent::Received(m));
    }
    events.push(step("s3", 3_500, "r3@acme.example", delivered()));
    store.record(&events).unwrap();

    assert_eq!(ids(store, TraceQuery::default()), ["s4", "s3", "s2", "s1"], "newest first");
    let by = |q: TraceQuery| ids(store, q);
    assert_eq!(by(TraceQuery { tenant: Some(tenant("acme")), ..Default::default() }), ["s4", "s3", "s1"]);
    assert_eq!(by(TraceQuery { tenant: Some(tenant("globex")), ..Default::default() }), ["s4", "s2"]);
    assert_eq!(
        by(TraceQuery { sender: Some("sender-s2@sender.EXAMPLE".into()), ..Default::default() }),
        ["s2"]
    );
    assert_eq!(by(TraceQuery { recipient: Some("R3@acme.example".into()), ..Default::default() }), ["s3"]);
    assert_eq!(
        by(TraceQuery { message_id: Some("<s1@sender.example>".into()), ..Default::default() }),
        ["s1"]
    );
    assert_eq!(
        by(TraceQuery { message_id: Some("s2".into()), ..Default::default() }),
        ["s2"],
        "or the spool id"
    );
    assert_eq!(by(TraceQuery { client_ip: Some(ip("192.0.2.3")), ..Default::default() }), ["s3"]);
    assert_eq!(by(TraceQuery { status: Some(MessageStatus::Delivered), ..Default::default() }), ["s3"]);
    assert_eq!(by(TraceQuery { direction: Some(Direction::Outbound), ..Default::default() }), ["s4"]);
    let window = TraceQuery { since_unix_ms: Some(2_000), until_unix_ms: Some(3_000), ..Default::default() };
    assert_eq!(by(window), ["s3", "s2"]);

    let first = store.search(&TraceQuery { limit: 3, ..Default::default() }).unwrap();
    assert_eq!(first.items.len(), 3);
    let cursor = Cursor::decode(first.next.as_deref().unwrap()).unwrap();
    let rest = store.search(&TraceQuery { limit: 3, cursor: Some(cursor), ..Default::default() }).unwrap();
    assert_eq!(rest.items.iter().map(|m| m.received.message.as_str()).collect::<Vec<_>>(), ["s1"]);
    assert_eq!(rest.next, None);

    assert!(
        store.message("s2", Some(&tenant("acme"))).unwrap().is_none(),
        "another tenant's message is not found"
    );
    assert!(store.message("s2", Some(&tenant("globex"))).unwrap().is_some());
    assert!(store.ip_seen_by(ip("192.0.2.2"), &tenant("globex"), 0).unwrap());
    assert!(!store.ip_seen_by(ip("192.0.2.2"), &tenant("acme"), 0).unwrap());
    assert!(!store.ip_seen_by(ip("192.0.2.2"), &tenant("globex"), 2_001).unwrap(), "only since");
}

fn refusal(at: u64, client: &str, domain: &str, reply: &str, owner: Option<&str>) -> TraceEvent {
    TraceEvent::Refused(Refusal {
        at_unix_ms: at,
        client_ip: ip(client),
        sender: "blaster@spam.example".into(),
        recipient_domain: domain.into(),
        reply: reply.into(),
        tenant: owner.map(tenant),
        direction: Direction::Inbound,
    })
}

/// Refusals are counted per client IP, sender, recipient domain, reply and minute.
pub fn refusals<S: TraceStore>(store: &mut S) {
    const THROTTLED: &str = "451 4.7.501 Deferred: new sender over its allowance from [203.0.113.7]. (AS501) Try again in 10 minutes";
    let mut events: Vec<TraceEvent> = (0..500)
        .map(|i| refusal(120_000 + i * 100, "203.0.113.7", "acme.example", THROTTLED, Some("acme")))
        .collect();
    events.push(refusal(120_000, "203.0.113.7", "globex.example", THROTTLED, Some("globex")));
    store.record(&events[..250]).unwrap();
    store.record(&events[250..]).unwrap();
    let page = store.refusals(&RefusalQuery { limit: 50, ..Default::default() }).unwrap();
    // 500 refusals over 50 s from 120 s: minutes 120 and 180 (0.1 s apart: 120..170 s).
    let acme: Vec<(u64, u64)> = page
        .items
        .iter()
        .filter(|r| r.recipient_domain == "acme.example")
        .map(|r| (r.minute_unix_s, r.count))
        .collect();
    assert_eq!(acme, vec![(120, 500)], "one row for the minute");
    let row = page.items.iter().find(|r| r.recipient_domain == "acme.example").unwrap();
    assert_eq!((row.first_at_unix_ms, row.last_at_unix_ms), (120_000, 120_000 + 499 * 100));
    assert_eq!(row.reply, THROTTLED);
    store.record(&[refusal(185_000, "203.0.113.7", "acme.example", THROTTLED, Some("acme"))]).unwrap();
    let only_acme = store
        .refusals(&RefusalQuery { tenant: Some(tenant("acme")), limit: 50, ..Default::default() })
        .unwrap();
    assert_eq!(
        only_acme.items.iter().map(|r| (r.minute_unix_s, r.count)).collect::<Vec<_>>(),
        vec![(180, 1), (120, 500)]
    );
    let by_ip = RefusalQuery { client_ip: Some(ip("198.51.100.1")), limit: 50, ..Default::default() };
    assert!(store.refusals(&by_ip).unwrap().items.is_empty());
    assert!(store.ip_seen_by(ip("203.0.113.7"), &tenant("globex"), 0).unwrap(), "refused IPs count as seen");
    let paged = store.refusals(&RefusalQuery { limit: 1, ..Default::default() }).unwrap();
    assert_eq!(paged.items.len(), 1);
    let next = Cursor::decode(paged.next.as_deref().unwrap()).unwrap();
    let rest = store.refusals(&RefusalQuery { limit: 50, cursor: Some(next), ..Default::default() }).unwrap();
    assert_eq!(rest.items.len(), 2);
}

/// Old rows go; a size cap drops the oldest first.
pub fn pruning<S: TraceStore>(store: &mut S) {
    let day = 86_400_000;
    let mut events = Vec::new();
    for n in 0..6_u64 {
        events.push(TraceEvent::Received(received(
            &format!("p{n}"),
            n * day,
            "192.0.2.9",
            "acme",
            &["x@acme.example"],
        )));
        events.push(step(&format!("p{n}"), n * day + 1, "x@acme.example", delivered()));
        events.push(refusal(n * day, "192.0.2.9", "acme.example", "550 5.7.1 no", Some("acme")));
    }
    store.record(&events).unwrap();
    let keep_three_days = Retention { max_age_s: 3 * 86_400, max_bytes: u64::MAX };
    let report = store.prune(keep_three_days, 5 * day - 10).unwrap();
    assert_eq!((report.messages, report.refusals), (2, 2), "days 0 and 1 are older than 3 days at day 5");
    assert_eq!(ids(store, TraceQuery::default()), ["p5", "p4", "p3", "p2"]);
    assert_eq!(store.refusals(&RefusalQuery { limit: 50, ..Default::default() }).unwrap().items.len(), 4);
    assert_eq!(store.message("p0", None).unwrap(), None);
    let nothing = store.prune(Retention { max_age_s: 30 * 86_400, max_bytes: u64::MAX }, 5 * day).unwrap();
    assert_eq!((nothing.messages, nothing.refusals), (0, 0));
    let capped = store.prune(Retention { max_age_s: 30 * 86_400, max_bytes: 0 }, 5 * day).unwrap();
    assert!(capped.messages >= 1, "a cap below the size drops rows");
    let left = ids(store, TraceQuery::default());
    assert!(
        left.len() < 4 && ["p5", "p4", "p3"][..left.len()] == left[..],
        "the newest are kept longest: {left:?}"
    );
}

/// Mail flow per bucket: accepted messages and their recipients, throttling deferrals apart
/// from other refusals, deliveries and bounces; by tenant and by client network.
pub fn flow<S: TraceStore>(store: &mut S) {
    use crate::{FlowBucket, FlowQuery};
    const THROTTLED: &str = "451 4.7.501 Deferred: new sender over its allowance from [203.0.113.7]. (AS501) Try again in 10 minutes";
    let hour = 3_600_000;
    let mut events = vec![
        TraceEvent::Received(received(
            "f1",
            10 * hour + 5,
            "203.0.113.7",
            "acme",
            &["a@acme.example", "b@acme.example"],
        )),
        TraceEvent::Received(received("f2", 11 * hour, "203.0.113.9", "acme", &["a@acme.example"])),
        TraceEvent::Received(received("f3", 11 * hour + 1, "198.51.100.1", "globex", &["g@globex.example"])),
        step("f1", 10 * hour + 6, "a@acme.example", delivered()),
        step("f1", 11 * hour + 6, "b@acme.example", Outcome::Bounced { reply: "550 5.1.1 no".into() }),
        step("f2", 11 * hour + 7, "a@acme.example", deferred()),
        step("f3", 11 * hour + 8, "g@globex.example", delivered()),
        refusal(12 * hour, "203.0.113.7", "acme.example", "550 5.7.1 Relay access denied", Some("acme")),
    ];
    events.extend(
        (0..3).map(|n| refusal(10 * hour + n, "203.0.113.7", "acme.example", THROTTLED, Some("acme"))),
    );
    store.record(&events).unwrap();
    let query = FlowQuery {
        tenant: None,
        network: None,
        since_unix_ms: 10 * hour,
        until_unix_ms: 13 * hour,
        bucket_ms: hour,
    };
    let all = store.flow(&query).unwrap();
    let b = |start, accepted, accepted_recipients, throttled, refused, delivered, bounced| FlowBucket {
        start_unix_ms: start,
        accepted,
        accepted_recipients,
        throttled,
        refused,
        delivered,
        bounced,
    };
    assert_eq!(
        all,
        vec![b(10 * hour, 1, 2, 3, 0, 1, 0), b(11 * hour, 2, 2, 0, 0, 1, 1), b(12 * hour, 0, 0, 0, 1, 0, 0)]
    );
    let acme = store.flow(&FlowQuery { tenant: Some(tenant("acme")), ..query.clone() }).unwrap();
    assert_eq!(acme[1], b(11 * hour, 1, 1, 0, 0, 0, 1), "globex's message is not acme's");
    let network = directory::Cidr::parse("flow", "203.0.113.0/24").unwrap();
    let prefix = store.flow(&FlowQuery { network: Some(network), ..query.clone() }).unwrap();
    assert_eq!(prefix.iter().map(|b| b.accepted).collect::<Vec<_>>(), [1, 1, 0]);
    assert_eq!(prefix[1].delivered, 0, "198.51.100.1's delivery is outside the network");
    let one = directory::Cidr::parse("flow", "203.0.113.7").unwrap();
    let single = store.flow(&FlowQuery { network: Some(one), ..query.clone() }).unwrap();
    assert_eq!(
        single.iter().map(|b| (b.accepted, b.throttled, b.refused)).collect::<Vec<_>>(),
        [(1, 3, 0), (0, 0, 0), (0, 0, 1)]
    );
    let later = store
        .flow(&FlowQuery { since_unix_ms: 20 * hour, until_unix_ms: 22 * hour, ..query.clone() })
        .unwrap();
    assert_eq!(later, vec![b(20 * hour, 0, 0, 0, 0, 0, 0), b(21 * hour, 0, 0, 0, 0, 0, 0)]);
    assert!(store.flow(&FlowQuery { bucket_ms: 1, ..query }).is_err(), "too many buckets");
}

/// The busiest clients: accepted messages (over TLS or not) and refusals per address, by
/// tenant and network.
pub fn clients<S: TraceStore>(store: &mut S) {
    use crate::ClientQuery;
    const THROTTLED: &str = "451 4.7.501 Deferred: new sender over its allowance from [203.0.113.7]. (AS501) Try again in 10 minutes";
    let mut plain = received("c2", 2_000, "203.0.113.7", "acme", &["a@acme.example"]);
    plain.tls = None;
    let mut events = vec![
        TraceEvent::Received(received("c1", 1_000, "203.0.113.7", "acme", &["a@acme.example"])),
        TraceEvent::Received(plain),
        TraceEvent::Received(received("c3", 3_000, "198.51.100.1", "globex", &["g@globex.example"])),
    ];
    events.extend((0..4).map(|n| refusal(4_000 + n, "203.0.113.7", "acme.example", THROTTLED, Some("acme"))));
    events.push(refusal(5_000, "192.0.2.50", "acme.example", "550 5.7.1 Relay access denied", Some("acme")));
    store.record(&events).unwrap();
    let all =
        store.clients(&ClientQuery { tenant: None, network: None, since_unix_ms: 0, limit: 10 }).unwrap();
    let summary: Vec<(String, u64, u64, u64, u64)> = all
        .iter()
        .map(|c| (c.client_ip.to_string(), c.accepted, c.accepted_tls, c.throttled, c.refused))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("203.0.113.7".into(), 2, 1, 4, 0),
            ("192.0.2.50".into(), 0, 0, 0, 1),
            ("198.51.100.1".into(), 1, 1, 0, 0)
        ],
        "busiest first, ties by address"
    );
    assert_eq!(all[0].last_seen_unix_ms, 4_003);
    let acme = store
        .clients(&ClientQuery { tenant: Some(tenant("acme")), network: None, since_unix_ms: 0, limit: 10 })
        .unwrap();
    assert!(acme.iter().all(|c| c.client_ip != ip("198.51.100.1")), "{acme:?}");
    let network = directory::Cidr::parse("clients", "203.0.113.0/24").unwrap();
    let ranged = store
        .clients(&ClientQuery { tenant: None, network: Some(network), since_unix_ms: 0, limit: 10 })
        .unwrap();
    assert_eq!(ranged.len(), 1);
    let recent =
        store.clients(&ClientQuery { tenant: None, network: None, since_unix_ms: 4_500, limit: 10 }).unwrap();
    assert_eq!(recent.iter().map(|c| c.client_ip.to_string()).collect::<Vec<_>>(), ["192.0.2.50"]);
    let one =
        store.clients(&ClientQuery { tenant: None, network: None, since_unix_ms: 0, limit: 1 }).unwrap();
    assert_eq!(one.len(), 1);
    // A client on a dual-stack listener, recorded as IPv4-mapped IPv6, is in its IPv4 network.
    let mapped = received("c4", 6_000, "::ffff:203.0.113.8", "acme", &["a@acme.example"]);
    store.record(&[TraceEvent::Received(mapped)]).unwrap();
    let ranged = store
        .clients(&ClientQuery { tenant: None, network: Some(network), since_unix_ms: 0, limit: 10 })
        .unwrap();
    let ips: Vec<String> = ranged.iter().map(|c| c.client_ip.to_string()).collect();
    assert_eq!(ips, ["203.0.113.7", "::ffff:203.0.113.8"]);
}
