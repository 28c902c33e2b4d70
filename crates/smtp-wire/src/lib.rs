//! Sans-IO SMTP (RFC 5321): command parsing, replies with enhanced status codes, the DATA
//! receiver and the server session state machine.
//!
//! Nothing here touches a socket, a file or a clock: the gateway feeds bytes in and writes
//! the replies out.

pub mod envelope;

pub use envelope::{
    Address, BodyType, ClientInfo, Envelope, Notify, OriginalRecipient, Recipient, ReversePath, Ret,
};
