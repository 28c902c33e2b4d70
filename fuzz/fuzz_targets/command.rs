//! The command parser never panics, and what it accepts survives the checks the session
//! relies on (no CR/LF/NUL inside addresses).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_wire::command::{Command, parse};

fuzz_target!(|line: &[u8]| {
    match parse(line) {
        Ok(Command::Mail(m)) => {
            if let Some(a) = m.sender {
                assert!(!a.to_string().contains(['\r', '\n', '\0']));
            }
        }
        Ok(Command::Rcpt(r)) => assert!(!r.recipient.to_string().contains(['\r', '\n', '\0'])),
        Ok(_) => {}
        Err(reply) => assert!(reply.code >= 500),
    }
});
