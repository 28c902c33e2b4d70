//! The whole session fed arbitrary client bytes in arbitrary chunks: no panic, never
//! consumes more than it was given, and always ends up asking for input or closing, with
//! bare line ends refused or normalised.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use smtp_wire::command::RcptTo;
use smtp_wire::{
    Action, BareNewline, EnvelopeChecks, Reply, ReversePath, Session, SessionConfig, SessionInfo, replies,
};

struct OneDomain;

impl EnvelopeChecks for OneDomain {
    fn check_recipient(&self, _: &SessionInfo, _: &ReversePath, rcpt: &RcptTo) -> Result<(), Reply> {
        if rcpt.recipient.domain_lowercase() == "example.test" {
            Ok(())
        } else {
            Err(replies::relay_denied(&rcpt.recipient.domain))
        }
    }
}

fuzz_target!(|input: (bool, Vec<&[u8]>)| {
    let (normalize, chunks) = input;
    let bare_newline = if normalize { BareNewline::Normalize } else { BareNewline::Reject };
    let config = SessionConfig {
        message_bytes_max: 2048,
        command_line_bytes_max: 512,
        bare_newline,
        data_chunk_bytes: 256,
        ..SessionConfig::default()
    };
    let mut session = Session::new(Arc::new(config), "192.0.2.7".parse().expect("ip"));
    let mut input = Vec::new();
    for chunk in chunks {
        input.extend_from_slice(chunk);
        for _ in 0..10_000 {
            let step = session.step(&input, &OneDomain);
            assert!(step.consumed <= input.len());
            input.drain(..step.consumed);
            match step.action {
                Action::Reply(_) => {}
                Action::NeedInput => break,
                Action::StartTls(_) => {
                    assert!(input.is_empty());
                    session.tls_established("TLSv1.3 FUZZ".into(), Vec::new());
                }
                Action::StartData(envelope) => {
                    assert!(!envelope.recipients.is_empty());
                    let _ = session.data_admitted(Ok(()));
                }
                Action::Content(piece) => assert!(!piece.contains(&0)),
                Action::DataRefused(_) => {}
                Action::Message(m) => {
                    assert!(!m.envelope.recipients.is_empty());
                    let _ = session.message_stored(Ok("0000000000000001".into()));
                }
                Action::Close(_) => return,
            }
        }
    }
});
