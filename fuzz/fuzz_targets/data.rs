//! The DATA receiver: any split of the same input gives the same result, and accepted
//! content never holds a bare CR or LF nor a NUL (the smuggling invariants), whether bare
//! line ends are refused or normalised.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_wire::BareNewline;
use smtp_wire::data::{ContentProblem, DataReceiver, Progress};

fn run(input: &[u8], split: usize, mode: BareNewline) -> Option<(usize, Result<Vec<u8>, ContentProblem>)> {
    let mut r = DataReceiver::new(4096, mode);
    let (a, b) = input.split_at(split.min(input.len()));
    let consumed = match r.feed(a) {
        Progress::Complete { consumed } => consumed,
        Progress::NeedMore => match r.feed(b) {
            Progress::Complete { consumed } => a.len() + consumed,
            Progress::NeedMore => return None,
        },
    };
    Some((consumed, r.finish()))
}

fuzz_target!(|input: (bool, u16, &[u8])| {
    let (normalize, split, bytes) = input;
    let mode = if normalize { BareNewline::Normalize } else { BareNewline::Reject };
    let whole = run(bytes, bytes.len(), mode);
    let split_run = run(bytes, split as usize, mode);
    assert_eq!(whole, split_run);
    if let Some((consumed, Ok(content))) = whole {
        assert!(bytes[..consumed].ends_with(b"\r\n.\r\n") || &bytes[..consumed] == b".\r\n");
        assert!(!content.contains(&0));
        for (i, &b) in content.iter().enumerate() {
            if b == b'\r' {
                assert_eq!(content.get(i + 1), Some(&b'\n'));
            }
            if b == b'\n' {
                assert!(i > 0 && content[i - 1] == b'\r');
            }
        }
    }
});
