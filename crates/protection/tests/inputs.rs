//! Arbitrary input never panics and never produces a malformed reply: the same checks as
//! the fuzz target `fuzz/fuzz_targets/protection.rs`, on a fixed pseudo-random corpus so
//! they run with every `cargo test`.

use protection::{HeuristicScorer, Policy, Protection, SenderDomainClass, SpamScorer, body_fingerprint};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Bytes biased toward what the parsers look at: line ends, dashes, `=`, `@`, `:`,
    /// digits, capitals, multi-byte UTF-8 and control characters.
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        const ALPHABET: &[u8] = b"\r\n\r\n--==@:<>+ \t0123456789aZ!$\x00\x7f\xc3\xa9\xe2\x82\xac\xff";
        (0..len).map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize]).collect()
    }
}

#[test]
fn arbitrary_messages_and_addresses_never_panic_nor_break_a_reply() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let policy = Policy {
        unregistered_sender_messages_per_day: 0,
        service_domain_recipients_per_day: 0,
        sender_recipients_per_hour: 0,
        ..Policy::default()
    };
    let p = Protection::new(policy, Box::new(HeuristicScorer));
    let mut refusals = 0;
    for i in 0..3_000u64 {
        let len = (rng.next() % 600) as usize;
        let data = rng.bytes(len);
        let _ = body_fingerprint(&data);
        let score = HeuristicScorer.score(&data);
        assert!((0.0..=1.0).contains(&score), "{score}");
        let sender = String::from_utf8_lossy(&data).into_owned();
        let tenant = sender.split('@').next().unwrap_or("").to_string();
        for class in [
            SenderDomainClass::Unregistered,
            SenderDomainClass::OtherTenant,
            SenderDomainClass::Service,
            SenderDomainClass::Verified,
        ] {
            let results =
                [p.check_sender(i, &tenant, &sender, class), p.check_recipient(i, &tenant, &sender, class)];
            for verdict in results.into_iter().filter_map(Result::err) {
                refusals += 1;
                let line = format!("{verdict}\r\n");
                assert!(line.len() <= 512, "{} bytes: {line:?}", line.len());
                assert!(!verdict.text.contains(['\r', '\n']), "{line:?}");
            }
        }
        let _ = p.record_message(i, &tenant, (rng.next() % 200) as u32, &data);
    }
    // With every limit at zero, each input was refused at least three times (the allowance
    // at MAIL, the service domain or the sender rate at each RCPT).
    assert!(refusals >= 3 * 3_000, "{refusals}");
}
