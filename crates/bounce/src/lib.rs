//! Delivery status notifications: RFC 3464 reports inside RFC 6522 `multipart/report`,
//! localised, each linking to a help page; and the help pages themselves.
//!
//! The queue manager decides *that* a recipient failed, expired, is delayed or was
//! delivered, and hands over what it knows as [`RecipientReport`]s (built only through
//! constructors that mirror its decisions); this crate decides *whether* a notification is
//! due (null sender, `NOTIFY=`, a bounce of a bounce) and what it says. [`render`] returns
//! the complete message, ready to be enqueued with the null sender, or why none is due:
//!
//! 1. a human part, `multipart/alternative` with text and HTML (both quoted-printable):
//!    the recipients and the outcome first, then for each recipient the status, the
//!    remote server's last reply and the SMTP stage it answered, or what Sluice found
//!    itself (a refused connection, a failed TLS handshake) in words, scheduling facts (a
//!    paused destination, an expiry), the help text for the sender and for the email admin
//!    and a link to `<admin_base_url>/help/<code>`; then the original message's details;
//! 2. `message/delivery-status`, machine readable: `Diagnostic-Code: smtp;` only for a
//!    remote reply (with `Remote-MTA`), `X-Sluice;` for Sluice's own findings, `4.4.7`
//!    for an expired recipient;
//! 3. the original's headers (`text/rfc822-headers`, or `message/global-headers` when they
//!    are UTF-8), or the whole original (`message/rfc822` / `message/global`) when the
//!    sender asked `RET=FULL` and it is small enough.
//!
//! Help pages ([`help`], [`HELP_CODES`]) are chosen by meaning, not by code alone
//! ([`help_code_for`]): a remote `5.7.1` may be a relay refusal, a DMARC failure, spam or
//! a blocklist listing.
//!
//! Texts live in one Fluent file per language in `locales/`, embedded by `build.rs`: adding
//! a language is adding `locales/<tag>.ftl` with every message of `en.ftl` (a test checks).
//!
//! Invariants: **no I/O, never reads the clock** (`now` and the id seed are parameters),
//! no async, the same request always renders the same bytes (golden tests rely on it),
//! every generated line ends in CRLF and stays under 998 bytes, and every remote text a
//! report keeps is bounded ([`REPLY_TEXT_BYTES_MAX`]).

mod encode;
mod headers;
mod help;
mod lang;
mod render;
mod report;

pub use help::{HELP_CODES, HelpText, RECIPIENT_HELP_CODES, help, help_code_for, help_code_for_reply};
pub use lang::{Lang, language_for};
pub use render::{BounceRequest, NotDue, Rendered, message_identity, render};
pub use report::{
    Action, DETAIL_BYTES_MAX, Diagnosis, EXPIRED_STATUS, LocalProblem, ProblemKind, REPLY_TEXT_BYTES_MAX,
    RecipientReport, RemoteReply, SmtpStage,
};

/// Why a bounce could not be rendered. None of these depends on the original message's
/// content: they are caller mistakes or an incomplete locale file.
#[derive(Debug, thiserror::Error)]
pub enum BounceError {
    #[error("recipient index {index} is outside the envelope's {count} recipients")]
    RecipientIndex { index: usize, count: usize },
    #[error("{field} contains characters that cannot appear in a header: {value:?}")]
    InvalidField { field: &'static str, value: String },
    #[error("locale {lang}: {detail}")]
    Locale { lang: &'static str, detail: String },
    #[error("locale {lang} has no message {id}")]
    MissingText { lang: &'static str, id: String },
}
