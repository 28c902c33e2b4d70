//! The PROXY protocol parser reads the first bytes of every connection from a load
//! balancer: never panics, never claims more bytes than it was given or than the limits
//! allow, and a header it accepts is self-delimiting (the same header parses from exactly
//! its own bytes, and none of its proper prefixes is complete).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_wire::proxy::{ProxyVersion, V1_BYTES_MAX, parse};

const LIMIT: usize = 600;

fuzz_target!(|input: &[u8]| {
    let Ok(Some(parsed)) = parse(input, LIMIT) else { return };
    assert!(parsed.consumed <= input.len());
    match parsed.version {
        ProxyVersion::V1 => assert!(parsed.consumed <= V1_BYTES_MAX),
        ProxyVersion::V2 => assert!(parsed.consumed <= LIMIT),
    }
    let own = &input[..parsed.consumed];
    assert_eq!(parse(own, LIMIT), Ok(Some(parsed)));
    assert_eq!(parse(&own[..own.len() - 1], LIMIT), Ok(None));
});
