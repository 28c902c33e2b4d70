//! Sender authentication and content verdicts, as pure decisions: the results of SPF, DKIM,
//! ARC and DMARC come in (the gateway asks DNS through `mail-auth`), and out come the
//! `Authentication-Results:` header (RFC 8601), the removal of forged ones claiming this
//! server's name, and what each recipient's tenant wants done with a DMARC failure, a
//! spoofed domain of its own or a spam verdict: reject at the end of DATA, hold in
//! quarantine, or deliver with a mark. The content scanner's answer (rspamd's HTTP
//! protocol) is parsed here too, into a [`scan::ScanVerdict`] and its `X-Spam-*` headers.
//!
//! Invariants: **no I/O, no clock, no async, no panics on any input**; **every text taken
//! from remote input and written into a header is bounded and sanitised** (no CR, LF or
//! control characters, comments without parentheses), so a result can never inject a
//! header.

pub mod auth;
pub mod header;
pub mod policy;
pub mod scan;

pub use auth::{
    ArcResult, AuthResults, DkimCheck, DkimResult, DmarcCheck, DmarcPolicy, DmarcResult, SpfCheck, SpfResult,
    SpfScope,
};
pub use header::{authentication_results, strip_forged_results, strip_headers};
pub use policy::{
    Action, Disposition, Finding, MailPolicy, MessageDecision, Policies, PolicyOverride, RecipientJudgement,
    RecipientPolicy, judge_message, judge_recipient, mark_header,
};
pub use scan::{ScanAction, ScanParseError, ScanVerdict};
