//! Each rule through the public API with a controlled clock.

use SenderDomainClass::{Service, Unregistered, Verified};
use protection::{
    HeuristicScorer, Policy, Protection, SenderDomainClass, SpamScorer, Trip, Verdict, body_fingerprint,
    suspended_tenant,
};

/// A Monday 00:00 UTC-ish instant, aligned to every bucket length used.
const T0: u64 = 1_800_000_000;
const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

fn protection() -> Protection {
    Protection::new(Policy::default(), Box::new(HeuristicScorer))
}

fn text(r: Result<(), Verdict>) -> String {
    match r {
        Ok(()) => "accepted".to_string(),
        Err(v) => v.to_string(),
    }
}

/// A distinct word for every `i`, letters only (digits would be folded by the fingerprint).
fn word(mut i: usize) -> String {
    let mut w = String::new();
    loop {
        w.push((b'a' + (i % 26) as u8) as char);
        i /= 26;
        if i == 0 {
            break;
        }
    }
    w
}

/// An ordinary message from a mail client: Date and Message-ID present, nothing shouted.
fn message(id: usize, body: &str) -> Vec<u8> {
    format!(
        "From: Ann <ann@acme.example>\r\nTo: someone@partner.example\r\nSubject: About our project\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{id}@acme.example>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// Normal, varied mail: every body different in its words, not only its numbers.
fn varied(i: usize) -> Vec<u8> {
    let (a, b) = (word(i), word(i * 7 + 3));
    message(i, &format!("Hello {a}, the {b} review moved to Thursday; notes from {a} and {b} attached."))
}

/// The same newsletter, personalised with numbers only.
fn newsletter(i: usize) -> Vec<u8> {
    message(
        i,
        &format!(
            "Dear customer {i}, your order {} ships on 2026-12-{:02}. Track it at https://t.example/{i}x9",
            i * 31,
            i % 28 + 1
        ),
    )
}

#[test]
fn protection_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<Protection>();
}

#[test]
fn unregistered_allowance_is_used_up_then_refused_and_frees_after_24_hours() {
    let p = protection();
    for i in 0..10 {
        assert_eq!(
            p.check_sender(T0 + i * 60, "acme", "ann@shop.example", Unregistered),
            Ok(()),
            "message {i}"
        );
        // Checking alone uses nothing: a transaction that never sends is free.
        assert_eq!(p.check_sender(T0 + i * 60, "acme", "ann@shop.example", Unregistered), Ok(()));
        p.count_unregistered_message(T0 + i * 60, "acme");
        // Verified and service-domain senders never consume the allowance.
        assert_eq!(p.check_sender(T0 + i * 60, "acme", "ann@acme.example", Verified), Ok(()));
        assert_eq!(p.check_sender(T0 + i * 60, "acme", "ann@acme.sluice.example", Service), Ok(()));
    }
    let refused = "550 5.7.750 Sender domain other.example is not verified for tenant acme and its daily allowance \
        of 10 messages from unverified domains is used up; send from a verified domain, or the tenant's administrator \
        must add and verify the domain in the admin center";
    // The allowance is per tenant, whatever the unregistered domain.
    assert_eq!(text(p.check_sender(T0 + 3_600, "acme", "bob@Other.Example", Unregistered)), refused);
    assert_eq!(p.check_sender(T0 + 3_600, "globex", "ann@shop.example", Unregistered), Ok(()));
    assert_eq!(p.check_sender(T0 + 3_600, "acme", "ann@acme.example", Verified), Ok(()));
    // Refused attempts consume nothing: the ten messages leave the window 24 h after they
    // were counted, and ten more pass.
    assert!(p.check_sender(T0 + DAY - 1, "acme", "ann@shop.example", Unregistered).is_err());
    for _ in 0..10 {
        assert_eq!(p.check_sender(T0 + DAY, "acme", "ann@shop.example", Unregistered), Ok(()));
        p.count_unregistered_message(T0 + DAY, "acme");
    }
    assert!(p.check_sender(T0 + DAY, "acme", "ann@shop.example", Unregistered).is_err());
    // Another tenant's domain uses the same allowance, and is never suggested for adding.
    let other = text(p.check_sender(T0 + DAY, "acme", "ann@globex.example", SenderDomainClass::OtherTenant));
    assert!(
        other.starts_with("550 5.7.750 Sender domain globex.example belongs to another organisation"),
        "{other}"
    );
    assert!(!other.contains("add"), "{other}");
}

#[test]
fn service_domain_recipients_are_limited_per_tenant_per_day() {
    let p = protection();
    for i in 0..100u64 {
        // Spread over senders: the limit is the tenant's.
        let sender = format!("user{}@acme.sluice.example", i % 7);
        assert_eq!(p.check_recipient(T0 + i * 300, "acme", &sender, Service), Ok(()), "recipient {i}");
    }
    let refused = "550 5.7.751 Tenant acme has reached the limit of 100 recipients a day for mail from its initial \
        service domain acme.sluice.example; the tenant's administrator must add and verify a custom domain in the \
        admin center and send from it";
    assert_eq!(text(p.check_recipient(T0 + 30_000, "acme", "new@acme.sluice.example", Service)), refused);
    assert!(
        text(p.check_recipient(T0 + 30_000, "acme", "new@acme.sluice.example", Service))
            .starts_with("550 5.7.751")
    );
    // A verified domain of the same tenant, and another tenant, are not limited by it.
    assert_eq!(p.check_recipient(T0 + 30_000, "acme", "ann@acme.example", Verified), Ok(()));
    assert_eq!(p.check_recipient(T0 + 30_000, "globex", "ann@globex.sluice.example", Service), Ok(()));
    // Recipients leave the window 24 h after they were counted (within its 15-minute
    // buckets): three at T0 + 24 h, three more at T0 + 24 h 15 min.
    let again = |now| p.check_recipient(now, "acme", "user0@acme.sluice.example", Service);
    assert!(again(T0 + DAY - 1).is_err());
    assert_eq!([again(T0 + DAY), again(T0 + DAY), again(T0 + DAY)], [Ok(()), Ok(()), Ok(())]);
    assert!(again(T0 + DAY + 1).is_err());
    assert_eq!(
        [again(T0 + DAY + 900), again(T0 + DAY + 900), again(T0 + DAY + 900)],
        [Ok(()), Ok(()), Ok(())]
    );
    assert!(again(T0 + DAY + 900).is_err());
}

#[test]
fn sender_hourly_limit_defers_and_frees_after_the_hour() {
    let p = protection();
    for i in 0..1_000u64 {
        assert_eq!(p.check_recipient(T0 + i, "acme", "ann@acme.example", Verified), Ok(()), "recipient {i}");
    }
    let deferred = "451 4.7.752 Sender <ann@acme.example> of tenant acme has reached its limit of 1000 recipients \
        per hour; more are accepted in about 44 minutes, and the sending server should retry then; if this sender \
        must send more, the tenant's administrator should spread the mail over time or ask the service operator \
        to raise the limit";
    let refusal = p.check_recipient(T0 + 1_000, "acme", "ann@acme.example", Verified);
    assert!(refusal.as_ref().is_err_and(|v| !v.is_permanent() && v.code == 451 && v.enhanced == (4, 7, 752)));
    // The first 300 recipients (T0 .. T0 + 299) leave at T0 + 1 h: 2,600 s from now.
    assert_eq!(text(refusal), deferred);
    assert_eq!(
        text(p.check_recipient(T0 + 1_500, "acme", "ann@acme.example", Verified)),
        deferred.replace("44", "35")
    );
    // Another sender of the same tenant has its own limit.
    assert_eq!(p.check_recipient(T0 + 1_000, "acme", "bob@acme.example", Verified), Ok(()));
    assert!(p.check_recipient(T0 + HOUR - 1, "acme", "ann@acme.example", Verified).is_err());
    assert_eq!(p.check_recipient(T0 + HOUR, "acme", "ann@acme.example", Verified), Ok(()));
}

#[test]
fn sender_daily_limit_defers_until_the_day_has_rolled() {
    let p = protection();
    for hour in 0..10 {
        // All at the top of the hour, so the hourly limit has freed up by the next one.
        for _ in 0..1_000 {
            let now = T0 + hour * HOUR;
            assert_eq!(p.check_recipient(now, "acme", "ann@acme.example", Verified), Ok(()), "hour {hour}");
        }
    }
    let deferred = "451 4.7.752 Sender <ann@acme.example> of tenant acme has reached its limit of 10000 recipients \
        per 24 hours; more are accepted in about 14 hours, and the sending server should retry then; if this sender \
        must send more, the tenant's administrator should spread the mail over time or ask the service operator to \
        raise the limit";
    assert_eq!(text(p.check_recipient(T0 + 10 * HOUR, "acme", "ann@acme.example", Verified)), deferred);
    assert!(p.check_recipient(T0 + 23 * HOUR, "acme", "ann@acme.example", Verified).is_err());
    assert_eq!(p.check_recipient(T0 + DAY, "acme", "ann@acme.example", Verified), Ok(()));
}

#[test]
fn a_sender_is_one_however_it_is_spelled() {
    let p = protection();
    let spellings = ["Bob@X.example", "bob@x.EXAMPLE", "BOB+news@x.example", "<bob@x.example>"];
    for i in 0..1_000 {
        assert_eq!(
            p.check_recipient(T0 + i as u64, "acme", spellings[i % 4], Verified),
            Ok(()),
            "recipient {i}"
        );
    }
    for spelling in spellings {
        let refused = p.check_recipient(T0 + 1_000, "acme", spelling, Verified);
        assert!(refused.is_err_and(|v| v.enhanced == (4, 7, 752)), "{spelling}");
    }
    // The same address at another tenant is another sender.
    assert_eq!(p.check_recipient(T0 + 1_000, "globex", "bob@x.example", Verified), Ok(()));
}

#[test]
fn a_refused_recipient_is_counted_nowhere() {
    let policy =
        Policy { service_domain_recipients_per_day: 5, sender_recipients_per_hour: 3, ..Policy::default() };
    let p = Protection::new(policy, Box::new(HeuristicScorer));
    let svc = "ann@acme.sluice.example";
    for _ in 0..3 {
        assert_eq!(p.check_recipient(T0, "acme", svc, Service), Ok(()));
    }
    // Deferred by the sender limit: the service-domain count stays at 3.
    for _ in 0..10 {
        assert!(p.check_recipient(T0, "acme", svc, Service).is_err_and(|v| v.enhanced == (4, 7, 752)));
    }
    assert_eq!(p.check_recipient(T0, "acme", "bob@acme.sluice.example", Service), Ok(()));
    assert_eq!(p.check_recipient(T0, "acme", "eve@acme.sluice.example", Service), Ok(()));
    assert!(
        p.check_recipient(T0, "acme", "joe@acme.sluice.example", Service)
            .is_err_and(|v| v.enhanced == (5, 7, 751))
    );
}

fn bulk_trip_reason() -> &'static str {
    "100 of the last 199 messages in 60 minutes (50.25%) were judged spam or bulk, over the threshold of 50% \
     (from 50 messages); messages judged by signal: bulk fingerprint 100, volume surge 0, bounce rate 0, spam \
     score 0"
}

#[test]
fn bulk_with_personalised_numbers_trips_the_tenant() {
    let p = protection();
    assert_eq!(body_fingerprint(&newsletter(1)), body_fingerprint(&newsletter(2)));
    let mut trips = Vec::new();
    for i in 0..300 {
        let now = T0 + i as u64 * 10;
        if p.check_sender(now, "acme", "news@acme.example", Verified).is_err() {
            break;
        }
        if let Some(trip) = p.record_message(now, "acme", 1, &newsletter(i)) {
            trips.push((i, trip));
        }
    }
    // 99 copies pass as mail; from the 100th recipient each copy is bulk; at 199 messages
    // the bulk share passes one half.
    let expected = Trip { tenant: "acme".into(), at_unix_s: T0 + 1_980, reason: bulk_trip_reason().into() };
    assert_eq!(trips, vec![(198, expected.clone())]);
    assert_eq!(p.tripped("acme"), Some(expected));
    let blocked = "550 5.7.705 Outbound mail of tenant acme is blocked because the tenant sent too much spam or bulk \
        mail; the tenant's administrator must find and stop its source (compromised accounts, forms, scripts), then \
        ask the service operator to release the tenant";
    assert_eq!(text(p.check_sender(T0 + 2_000, "acme", "ceo@acme.example", Verified)), blocked);
    assert_eq!(text(p.check_recipient(T0 + 2_000, "acme", "ceo@acme.example", Verified)), blocked);
    // Other tenants are not affected; a tripped tenant's later messages report no new trip.
    assert_eq!(p.check_sender(T0 + 2_000, "globex", "ceo@globex.example", Verified), Ok(()));
    assert_eq!(p.record_message(T0 + 2_001, "acme", 1, &newsletter(400)), None);
}

#[test]
fn bulk_is_counted_in_recipients_across_messages_but_not_before_the_minimum_of_messages() {
    let p = protection();
    // Ten recipients a copy: the fingerprint reaches 100 recipients at the tenth message,
    // which is bulk from then on; 49 messages (490 recipients) are too few to judge.
    for i in 0..49 {
        assert_eq!(p.record_message(T0 + i * 10, "acme", 10, &newsletter(i as usize)), None, "message {i}");
    }
    let trip = p.record_message(T0 + 490, "acme", 10, &newsletter(49)).expect("trips at the 50th message");
    assert_eq!(
        trip.reason,
        "41 of the last 50 messages in 60 minutes (82%) were judged spam or bulk, over the threshold of 50% (from \
         50 messages); messages judged by signal: bulk fingerprint 41, volume surge 0, bounce rate 0, spam score 0"
    );
}

#[test]
fn a_few_messages_with_many_recipients_are_judged_by_their_recipients() {
    let p = protection();
    // Varied ordinary mail first, then one body to 100 Bcc recipients at a time.
    for i in 0..20 {
        assert_eq!(p.record_message(T0 + i, "acme", 5, &varied(i as usize)), None);
    }
    let trips: Vec<(u64, Trip)> = (0..20)
        .filter_map(|i| p.record_message(T0 + 100 + i, "acme", 100, &newsletter(i as usize)).map(|t| (i, t)))
        .collect();
    // 100 ordinary recipients, then 900 in bulk copies: 1,000 recipients, 90% judged.
    assert_eq!(trips.len(), 1);
    assert_eq!(trips[0].0, 8);
    assert_eq!(
        trips[0].1.reason,
        "900 of the last 1000 recipients of messages in 60 minutes (90%) were judged spam or bulk, over the \
         threshold of 50% (from 1000 recipients); messages judged by signal: bulk fingerprint 9, volume surge 0, \
         bounce rate 0, spam score 0"
    );
    // Varied mail with just under `bulk_recipients_min` recipients a message is not bulk;
    // one body to 100 recipients is, even in one message.
    let q = protection();
    assert!((0..200).all(|i| q.record_message(T0 + i, "acme", 99, &varied(i as usize)).is_none()));
    let r = protection();
    let trip = (0..200).find_map(|i| r.record_message(T0 + i, "acme", 100, &varied(i as usize)).map(|_| i));
    assert_eq!(trip, Some(9), "1,000 recipients, all of them in bulk messages");
}

/// Feeds `per_hour` varied messages an hour (one recipient each) from `start` for `hours`;
/// returns the first trip and the index of the message that caused it.
fn send_varied(
    p: &Protection,
    tenant: &str,
    start: u64,
    hours: u64,
    per_hour: u64,
    first_id: usize,
) -> Option<(u64, Trip)> {
    for n in 0..hours * per_hour {
        let now = start + n * HOUR / per_hour;
        if let Some(trip) = p.record_message(now, tenant, 1, &varied(first_id + n as usize)) {
            return Some((n, trip));
        }
    }
    None
}

#[test]
fn a_volume_surge_against_the_tenants_history_trips_it() {
    let p = protection();
    assert_eq!(send_varied(&p, "acme", T0, 48, 100, 0), None, "two days at its usual 100 an hour");
    // Four times its usual volume is within volume_factor.
    assert_eq!(send_varied(&p, "acme", T0 + 48 * HOUR, 1, 400, 10_000), None);
    let (n, trip) = send_varied(&p, "acme", T0 + 49 * HOUR, 1, 3_000, 20_000).expect("a 30x surge trips");
    assert!((1_000..2_500).contains(&n), "tripped after {n} messages");
    assert!(trip.reason.contains("bulk fingerprint 0, volume surge"), "{}", trip.reason);
    assert!(trip.reason.ends_with("bounce rate 0, spam score 0"), "{}", trip.reason);
    assert!(!trip.reason.contains("volume surge 0,"), "{}", trip.reason);
}

#[test]
fn after_a_release_the_usual_volume_does_not_trip_again() {
    let p = protection();
    assert_eq!(send_varied(&p, "acme", T0, 48, 100, 0), None);
    let (n, trip) = send_varied(&p, "acme", T0 + 48 * HOUR, 1, 3_000, 10_000).expect("a 30x surge trips");
    p.release("acme");
    // The surge's hour is forgotten with the window: back at 100 an hour, nothing trips.
    let released_at = trip.at_unix_s + 1;
    assert_eq!(released_at, T0 + 48 * HOUR + n * HOUR / 3_000 + 1);
    assert_eq!(send_varied(&p, "acme", released_at, 2, 100, 50_000), None);
}

#[test]
fn a_new_tenant_has_no_history_to_surge_above() {
    let p = protection();
    assert_eq!(send_varied(&p, "acme", T0, 1, 3_000, 0), None);
}

#[test]
fn a_high_bounce_rate_trips_the_tenant() {
    let p = protection();
    p.record_outcomes(T0, "acme", 30, 20); // 40% of 50 outcomes bounced.
    let (n, trip) = send_varied(&p, "acme", T0 + 60, 1, 100, 0).expect("bounce rate over 20%");
    assert_eq!(n, 49, "from the minimum of messages on");
    assert!(trip.reason.ends_with("bounce rate 50, spam score 0"), "{}", trip.reason);
    // A rate at the maximum is not over it, nor are too few outcomes.
    let q = protection();
    q.record_outcomes(T0, "acme", 40, 10);
    q.record_outcomes(T0, "globex", 1, 48);
    assert_eq!(send_varied(&q, "acme", T0 + 60, 1, 100, 0), None);
    assert_eq!(send_varied(&q, "globex", T0 + 60, 1, 100, 0), None);
    // Outcomes age out of the window with the messages.
    let r = protection();
    r.record_outcomes(T0, "acme", 0, 100);
    assert_eq!(send_varied(&r, "acme", T0 + HOUR, 1, 100, 0), None);
}

/// Says spam for any message that contains "SPAMMY".
#[derive(Debug)]
struct KeywordScorer;

impl SpamScorer for KeywordScorer {
    fn score(&self, message: &[u8]) -> f32 {
        if message.windows(6).any(|w| w == b"SPAMMY") { 0.9 } else { 0.1 }
    }
}

#[test]
fn the_scorer_saying_spam_trips_the_tenant() {
    let mark = |i: usize, spam: bool| {
        let mut m = varied(i);
        if spam {
            m.extend_from_slice(b"SPAMMY\r\n");
        }
        m
    };
    // 3 of every 5 messages spam: trips as soon as the minimum of messages is reached.
    let p = Protection::new(Policy::default(), Box::new(KeywordScorer));
    let trip = (0..100)
        .find_map(|i| p.record_message(T0 + i as u64, "acme", 1, &mark(i, i % 5 < 3)).map(|t| (i, t)));
    let (i, trip) = trip.expect("60% spam");
    assert_eq!(i, 49);
    assert!(trip.reason.starts_with("30 of the last 50 messages in 60 minutes (60%)"), "{}", trip.reason);
    assert!(trip.reason.ends_with("spam score 30"), "{}", trip.reason);
    // 2 of every 5: never over one half.
    let q = Protection::new(Policy::default(), Box::new(KeywordScorer));
    assert!((0..1_000).all(|i| q.record_message(T0 + i as u64, "acme", 1, &mark(i, i % 5 < 2)).is_none()));
}

#[test]
fn crude_spam_trips_with_the_built_in_scorer() {
    let p = protection();
    let spam = |i: usize| {
        format!(
            "From: x@acme.example\r\nSubject: YOU HAVE WON {}\r\n\r\nDear friend, {} click here to claim your prize\r\n",
            word(i).to_uppercase(),
            word(i * 3)
        )
        .into_bytes()
    };
    let trip = (0..60).find_map(|i| p.record_message(T0 + i as u64, "acme", 1, &spam(i)));
    assert!(trip.is_some_and(|t| t.reason.ends_with("spam score 50")));
}

#[test]
fn varied_mail_at_the_usual_volume_never_trips() {
    let p = protection();
    // Three days at 200 an hour, a few bounces, messages with several recipients.
    for n in 0..72 * 200u64 {
        let now = T0 + n * 18;
        let recipients = 1 + (n % 4) as u32;
        assert_eq!(p.record_message(now, "acme", recipients, &varied(n as usize)), None, "message {n}");
        if n % 50 == 0 {
            p.record_outcomes(now, "acme", 98, 2);
        }
    }
    assert_eq!(p.tripped("acme"), None);
}

#[test]
fn release_lifts_the_block_and_starts_the_window_afresh() {
    let p = protection();
    let trip =
        (0..50).find_map(|i| p.record_message(T0 + i, "acme", 10, &newsletter(i as usize)).map(|t| (i, t)));
    assert_eq!(trip.map(|(i, _)| i), Some(49));
    p.release("acme");
    assert_eq!(p.tripped("acme"), None);
    assert_eq!(p.check_sender(T0 + 60, "acme", "ann@acme.example", Verified), Ok(()));
    // The window and the fingerprints restarted: the same run needs the minimum again ...
    for i in 0..49 {
        assert_eq!(p.record_message(T0 + 60 + i, "acme", 10, &newsletter(i as usize)), None, "message {i}");
    }
    // ... and trips again, reported again.
    assert!(p.record_message(T0 + 120, "acme", 10, &newsletter(50)).is_some());
    // Releasing a tenant never seen does nothing.
    p.release("nobody");
    assert_eq!(p.tripped("nobody"), None);
}

#[test]
fn a_stored_trip_blocks_at_start_up_and_suspension_has_its_own_text() {
    let p = protection();
    let trip = Trip { tenant: "acme".into(), at_unix_s: T0 - DAY, reason: "stored".into() };
    p.set_tripped("acme", trip.clone());
    assert_eq!(p.tripped("acme"), Some(trip));
    assert!(
        p.check_sender(T0, "acme", "ann@acme.example", Verified).is_err_and(|v| v.enhanced == (5, 7, 705))
    );
    assert_eq!(
        suspended_tenant("acme").to_string(),
        "550 5.7.705 Outbound mail of tenant acme is blocked because the tenant is suspended; the tenant's \
         administrator must contact the service operator"
    );
    assert!(suspended_tenant("acme").is_permanent());
}

#[test]
fn a_policy_reload_applies_at_once() {
    let p = protection();
    for i in 0..10 {
        assert_eq!(p.check_recipient(T0 + i, "acme", "ann@acme.example", Verified), Ok(()));
    }
    p.replace_policy(Policy { sender_recipients_per_hour: 10, ..Policy::default() });
    let refused = p.check_recipient(T0 + 20, "acme", "ann@acme.example", Verified);
    assert!(refused.is_err_and(|v| v.text.contains("limit of 10 recipients per hour")));
    // A new threshold window restarts judging: 49 bulk messages, a reload, 49 more: no trip.
    for i in 0..49 {
        assert_eq!(p.record_message(T0 + i, "globex", 10, &newsletter(i as usize)), None);
    }
    // (A longer window: its buckets count slower, so without the restart the old counts
    // would stay in the newest bucket.)
    p.replace_policy(Policy { threshold_window_s: 7_200, ..Policy::default() });
    for i in 0..49 {
        assert_eq!(p.record_message(T0 + 100 + i, "globex", 10, &newsletter(i as usize)), None);
    }
    assert!(p.record_message(T0 + 200, "globex", 10, &newsletter(99)).is_some());
}

#[test]
fn tables_keyed_by_remote_input_stay_bounded() {
    let policy = Policy { senders_max: 1_000, fingerprints_max: 500, ..Policy::default() };
    let p = Protection::new(policy, Box::new(HeuristicScorer));
    for i in 0..10_000usize {
        let _ = p.check_recipient(T0 + i as u64, "acme", &format!("{}@acme.example", word(i)), Verified);
        p.record_message(T0 + i as u64, "acme", 1, &varied(i));
        let tracked = p.tracked();
        assert!(tracked.senders <= 1_000 && tracked.fingerprints <= 500, "{tracked:?} after {i}");
    }
    let tracked = p.tracked();
    assert!(tracked.senders > 800 && tracked.fingerprints > 400, "{tracked:?}: the tables are used");
    assert_eq!(tracked.tenants, 1);
}

#[test]
fn a_clock_going_backwards_never_panics_nor_frees_a_limit() {
    let p = protection();
    for _ in 0..10 {
        assert_eq!(p.check_sender(T0, "acme", "a@shop.example", Unregistered), Ok(()));
        p.count_unregistered_message(T0, "acme");
    }
    assert!(p.check_sender(T0 - DAY * 3, "acme", "a@shop.example", Unregistered).is_err());
    p.count_unregistered_message(0, "acme");
    assert_eq!(p.record_message(0, "acme", 1, b""), None);
    p.record_outcomes(0, "acme", u32::MAX, u32::MAX);
    assert_eq!(p.check_recipient(0, "acme", "", Verified), Ok(()));
}
