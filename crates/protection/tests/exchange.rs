//! Fleet mode: counts one node makes reach another's windows, so every limit and the
//! threshold hold for the fleet as a whole.

use protection::exchange::CountEvent;
use protection::{HeuristicScorer, Policy, Protection, SenderDomainClass};

const T0: u64 = 1_800_000_000;

fn node(policy: Policy) -> Protection {
    let p = Protection::new(policy, Box::new(HeuristicScorer));
    p.enable_exchange(10_000);
    p
}

/// Moves `from`'s events into `to`; returns the trips they caused there.
fn ship(from: &Protection, to: &Protection, now: u64) -> Vec<protection::Trip> {
    let mut events = Vec::new();
    assert_eq!(from.take_events(&mut events), 0);
    to.merge_events(&events, now)
}

#[test]
fn the_unregistered_allowance_is_the_fleets() {
    let (a, b) = (node(Policy::default()), node(Policy::default()));
    let class = SenderDomainClass::Unregistered;
    for i in 0..6 {
        a.check_sender(T0 + i, "acme", "x@elsewhere.example", class).unwrap();
        a.count_unregistered_message(T0 + i, "acme");
    }
    for i in 0..4 {
        b.check_sender(T0 + i, "acme", "x@elsewhere.example", class).unwrap();
        b.count_unregistered_message(T0 + i, "acme");
    }
    ship(&a, &b, T0 + 10);
    let refused = b.check_sender(T0 + 11, "acme", "x@elsewhere.example", class).unwrap_err();
    assert!(refused.to_string().starts_with("550 5.7.750"), "{refused}");
    ship(&b, &a, T0 + 10);
    assert!(a.check_sender(T0 + 11, "acme", "y@elsewhere.example", class).is_err(), "both nodes: 6 + 4");
}

#[test]
fn sender_rate_and_service_domain_limits_are_the_fleets() {
    let policy =
        Policy { sender_recipients_per_hour: 10, service_domain_recipients_per_day: 15, ..Policy::default() };
    let (a, b) = (node(policy.clone()), node(policy));
    let service = SenderDomainClass::Service;
    for i in 0..8 {
        a.check_recipient(T0 + i, "acme", "Bob+x@acme.sluice.test", service).unwrap();
    }
    ship(&a, &b, T0 + 9);
    b.check_recipient(T0 + 10, "acme", "bob@acme.sluice.test", service).unwrap();
    b.check_recipient(T0 + 11, "acme", "bob@acme.sluice.test", service).unwrap();
    let rate = b.check_recipient(T0 + 12, "acme", "bob@acme.sluice.test", service).unwrap_err();
    assert!(rate.to_string().starts_with("451 4.7.752"), "{rate}");
    for i in 0..5 {
        b.check_recipient(T0 + 20 + i, "acme", &format!("u{i}@acme.sluice.test"), service).unwrap();
    }
    ship(&b, &a, T0 + 30);
    let day = a.check_recipient(T0 + 31, "acme", "other@acme.sluice.test", service).unwrap_err();
    assert!(day.to_string().starts_with("550 5.7.751"), "8 + 2 + 5 = 15: {day}");
}

#[test]
fn merged_messages_trip_the_tenant_over_the_fleets_threshold() {
    let (a, b) = (node(Policy::default()), node(Policy::default()));
    // The same bulk body from both nodes: neither alone reaches 50 messages.
    let body = b"Subject: offer\r\n\r\nBuy the amazing product now at a price you cannot refuse today.\r\n";
    for i in 0..30 {
        assert!(a.record_message(T0 + i, "acme", 10, body).is_none());
        assert!(b.record_message(T0 + i, "acme", 10, body).is_none());
    }
    let trips = ship(&a, &b, T0 + 40);
    assert_eq!(trips.len(), 1, "60 messages, most of them bulk, on b's view");
    assert_eq!(trips[0].tenant, "acme");
    assert!(b.tripped("acme").is_some());
    assert!(ship(&b, &a, T0 + 40).len() == 1, "and on a's");
}

#[test]
fn outcomes_from_other_nodes_count_for_the_bounce_rate() {
    let (a, b) = (node(Policy::default()), node(Policy::default()));
    a.record_outcomes(T0, "acme", 10, 40);
    let mut events = Vec::new();
    a.take_events(&mut events);
    assert_eq!(
        events,
        [CountEvent::Outcomes { tenant: "acme".into(), at_unix_s: T0, delivered: 10, bounced: 40 }]
    );
    b.merge_events(&events, T0 + 1);
    // With the bounce rate over its maximum, every message b judges carries the signal.
    let body = b"Subject: hello\r\n\r\nA perfectly ordinary letter about the weather and the garden.\r\n";
    let trip = (0..60).find_map(|i| b.record_message(T0 + 2 + i, "acme", 1, body));
    assert!(trip.is_some_and(|t| t.reason.contains("bounce rate")));
}

#[test]
fn counts_older_than_their_window_are_ignored_and_the_outbox_is_bounded() {
    let a = Protection::new(Policy::default(), Box::new(HeuristicScorer));
    a.enable_exchange(3);
    for i in 0..5 {
        a.count_unregistered_message(T0 + i, "acme");
    }
    let mut events = Vec::new();
    assert_eq!(a.take_events(&mut events), 2, "two dropped");
    assert_eq!(events.len(), 3);
    let b = node(Policy::default());
    let old: Vec<CountEvent> = (0..20)
        .map(|_| CountEvent::Unregistered { tenant: "acme".into(), at_unix_s: T0 - 2 * 86_400 })
        .collect();
    b.merge_events(&old, T0);
    b.check_sender(T0, "acme", "x@elsewhere.example", SenderDomainClass::Unregistered).unwrap();
    let json = serde_json::to_string(&events[0]).unwrap();
    assert_eq!(json, format!(r#"{{"kind":"unregistered","tenant":"acme","at_unix_s":{T0}}}"#));
}
