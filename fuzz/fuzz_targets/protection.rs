//! Outbound protection on arbitrary message bytes and addresses: the fingerprint and the
//! heuristic scorer never panic, scores stay in 0..=1, and every refusal is one reply line
//! within RFC 5321's 512 octets without CR or LF, whatever the sender address.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protection::{HeuristicScorer, Policy, Protection, SenderDomainClass, SpamScorer, body_fingerprint};

fuzz_target!(|data: &[u8]| {
    let _ = body_fingerprint(data);
    let score = HeuristicScorer.score(data);
    assert!((0.0..=1.0).contains(&score));
    let policy = Policy {
        unregistered_sender_messages_per_day: 0,
        service_domain_recipients_per_day: 0,
        sender_recipients_per_hour: 0,
        ..Policy::default()
    };
    let p = Protection::new(policy, Box::new(HeuristicScorer));
    let sender = String::from_utf8_lossy(data);
    let tenant = sender.split('@').next().unwrap_or("");
    for class in [SenderDomainClass::Unregistered, SenderDomainClass::Service, SenderDomainClass::Verified] {
        let refusals = [p.check_sender(0, tenant, &sender, class), p.check_recipient(0, tenant, &sender, class)];
        for verdict in refusals.into_iter().filter_map(Result::err) {
            let line = format!("{verdict}\r\n");
            assert!(line.len() <= 512, "{line}");
            assert!(!verdict.text.contains(['\r', '\n']));
        }
    }
    let _ = p.record_message(0, tenant, 1, data);
});
