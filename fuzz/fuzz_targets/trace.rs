//! The trace readers of `sluice simulate` (CSV traces, Postfix maillogs, Sluice's JSON log)
//! read files operators collect from anywhere: never panic, and what they return is in time
//! order with every label index valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use throttle::sim::{Trace, csv, postfix, sluice_log};

fn check(trace: &Trace) {
    assert!(trace.events.windows(2).all(|w| w[0].time_ms <= w[1].time_ms));
    for e in &trace.events {
        assert!(e.label.is_none_or(|l| (l as usize) < trace.labels.len()));
    }
}

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    for sort in [false, true] {
        if let Ok(parsed) = csv::parse(text, csv::CsvOptions { sort }) {
            check(&parsed.trace);
            assert!(parsed.trace.events.iter().all(|e| e.recipients > 0));
        }
    }
    if let Ok(log) = postfix::parse(text, 2026) {
        check(&log.trace);
    }
    if let Ok(log) = sluice_log::parse(text) {
        check(&log.trace);
    }
});
