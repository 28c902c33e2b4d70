//! The DATA receiver: any split of the same input gives the same result, and accepted
//! content never holds a bare CR or LF (the smuggling invariant).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_wire::data::{DataReceiver, Progress};

fn run(input: &[u8], split: usize) -> Option<(usize, Result<Vec<u8>, smtp_wire::data::ContentProblem>)> {
    let mut r = DataReceiver::new(4096);
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

fuzz_target!(|input: (u16, &[u8])| {
    let (split, bytes) = input;
    let whole = run(bytes, bytes.len());
    let split_run = run(bytes, split as usize);
    assert_eq!(whole, split_run);
    if let Some((consumed, Ok(content))) = whole {
        assert!(bytes[..consumed].ends_with(b"\r\n.\r\n") || &bytes[..consumed] == b".\r\n");
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
