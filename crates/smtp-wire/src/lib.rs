//! Sans-IO SMTP (RFC 5321): command parsing, replies with enhanced status codes, the DATA
//! receiver and the server session state machine.
//!
//! Nothing here touches a socket, a file or a clock: the gateway feeds bytes in and writes
//! the replies out. Invariants: no I/O, no async, no panics on any input; every reply the
//! server sends after the greeting carries an enhanced status code (RFC 2034) except the
//! EHLO/HELO answers and the `354`.

pub mod client;
pub mod command;
pub mod data;
pub mod date;
pub mod envelope;
pub mod proxy;
pub mod replies;
pub mod reply;
pub mod session;

pub use data::BareNewline;
pub use envelope::{
    Address, Attribution, BodyType, ClientInfo, Envelope, Notify, OriginalRecipient, Recipient, Ret,
    ReversePath, address_literal,
};
pub use reply::{EnhancedCode, Reply};
pub use session::{
    Action, EnvelopeChecks, Phase, ReceivedMessage, Session, SessionConfig, SessionInfo, Step,
};
