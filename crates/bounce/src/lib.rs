//! Delivery status notifications: RFC 3464 reports inside RFC 6522 `multipart/report`,
//! localised, each linking to a help page.
//!
//! The queue manager decides *that* a recipient failed, is delayed or was delivered; this
//! crate decides *whether* a notification is due (null sender, `NOTIFY=`, loops) and what
//! it says. [`render`] returns the complete message, ready to be enqueued with the null
//! sender:
//!
//! 1. a human part, `multipart/alternative` with text and HTML (both quoted-printable):
//!    what happened, who must act, the help text for the sender and for the email admin,
//!    the status code, the remote reply, the reporting server and a link to
//!    `<admin_base_url>/help/<code>`;
//! 2. `message/delivery-status`, machine readable;
//! 3. the original's headers (`text/rfc822-headers`), or the whole original
//!    (`message/rfc822`) when the sender asked `RET=FULL` and it is small enough.
//!
//! Texts live in one Fluent file per language in `locales/`, embedded by `build.rs`: adding
//! a language is adding `locales/<tag>.ftl` with every message of `en.ftl` (a test checks).
//!
//! Invariants: **no I/O, never reads the clock** (`now` and the id seed are parameters),
//! no async, the same request always renders the same bytes (golden tests rely on it),
//! every generated line ends in CRLF and stays under 998 bytes.

mod encode;
mod headers;
mod help;
mod lang;
mod render;

pub use help::{HELP_CODES, HelpText, help, help_code_for};
pub use lang::{Lang, language_for};
pub use render::{Action, BounceRequest, RecipientOutcome, render};

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
