//! The client-side reply parser reads what remote servers send: never panics, never claims
//! more bytes than it was given, and what it parses has a valid code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_wire::client::parse_reply;

fuzz_target!(|input: &[u8]| {
    if let Ok(Some((reply, used))) = parse_reply(input) {
        assert!(used <= input.len());
        assert!((200..600).contains(&reply.code));
    }
});
