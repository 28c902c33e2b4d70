//! Outbound protection: decides, for mail a tenant sends through Sluice to domains outside
//! the tenant (from its on-premises connector), whether to accept it, and when a tenant has
//! sent so much spam or bulk that all its outbound mail must stop.
//!
//! Invariants, stated as absences: this crate does no I/O, never reads the clock
//! (`now_unix_s` is a parameter), never awaits, never panics on input (message bytes,
//! addresses, policy values), and never holds more than `senders_max` sender records nor
//! `fingerprints_max` body fingerprints, however many addresses and bodies remote clients
//! invent. It does not persist anything either: a [`Trip`] is returned for the gateway to
//! store, and handed back with [`Protection::set_tripped`] at start-up.
//!
//! # The rules, in the order a message meets them
//!
//! | when | rule | reply |
//! |---|---|---|
//! | MAIL, RCPT | the tenant is tripped (see below) | `550 5.7.705` |
//! | MAIL | sender domain [`SenderDomainClass::Unregistered`]: `unregistered_sender_messages_per_day` (10) messages per tenant per rolling 24 h, each queued message uses one | `550 5.7.750` |
//! | RCPT | sender domain [`SenderDomainClass::Service`] (`<tenant>.<service domain>`): `service_domain_recipients_per_day` (100) recipients per tenant per rolling 24 h | `550 5.7.751` |
//! | RCPT | per sender address: `sender_recipients_per_day` (10,000) per rolling 24 h, `sender_recipients_per_hour` (1,000) per rolling hour | `451 4.7.752` |
//! | after queueing | the message is judged; the tenant may trip | (next MAIL: `550 5.7.705`) |
//!
//! A suspended tenant (the directory knows that, not this crate) gets
//! [`suspended_tenant`], the same `5.7.705` with its own text. A refused recipient is
//! counted nowhere; a passing one is counted in every window it was checked against.
//! A sender is one however it is spelled: case is folded and a `+tag` sub-address dropped,
//! so `Bob+x@X.example` and `bob@x.example` share one limit.
//!
//! # The threshold (`5.7.705`)
//!
//! [`Protection::record_message`] judges each queued message spam or bulk when any of
//! these signals says so ([`Signal`]):
//! * **bulk fingerprint**: the tenant has sent the same normalised body
//!   ([`body_fingerprint`]: headers skipped, case, whitespace and numbers folded) to at
//!   least `bulk_recipients_min` (100) recipients in the window, across messages, so one
//!   message to 100 recipients is bulk by itself (a body that normalises to under 32 bytes,
//!   "Thanks!" or nothing, says nothing and never counts);
//! * **volume surge**: the tenant's recipients in the last hour exceed `volume_factor` (10)
//!   x its established hourly volume (at least `volume_floor_recipients_per_hour`, 50). The
//!   level follows closed clock hours, upward with a 24-hour time constant (a surge is
//!   judged against the level before it), downward with a two-week half-life (quiet nights
//!   and weekends keep the standing). A tenant seen for less than
//!   `volume_history_hours_min` (24) has no level and is not judged on volume;
//! * **bounce rate**: over the window, bounced / (delivered + bounced) outcomes reported by
//!   [`Protection::record_outcomes`] exceed `bounce_rate_max` (0.2), from
//!   `bounce_outcomes_min` (50) outcomes;
//! * **spam score**: the pluggable [`SpamScorer`] gives at least `spam_score_min` (0.6);
//!   [`HeuristicScorer`] is a small, honest built-in.
//!
//! When the window (`threshold_window_s`, one hour) holds at least `threshold_messages_min`
//! (50) messages of the tenant and more than `threshold_share` (0.5) of them were judged,
//! or at least `threshold_recipients_min` (1,000) recipients and more than that share of
//! them were in judged messages (so a few messages with many Bcc recipients are judged as
//! their copies would be), the tenant **trips**: `record_message` returns the [`Trip`]
//! once, with a reason naming the share, the window and each signal's count, and every
//! later MAIL and RCPT of the tenant is refused until [`Protection::release`], which also
//! starts the window afresh.
//!
//! # Windows and precision
//!
//! All windows are rolling, made of buckets: a count leaves its window between one bucket
//! short of the window and the full window after it was made. Tenant day windows have
//! 15-minute buckets, sender day windows 1-hour buckets, hour windows 5-minute buckets, the
//! threshold window 1/60 of its length and the fingerprints 1/12 of it. Limits are thus up
//! to one bucket lenient, never stricter than they say. A `4.7.752` says when its limit
//! frees up, from the same buckets.
//!
//! # Memory
//!
//! One `Mutex` guards all state (a decision takes about half a microsecond; scoring and
//! fingerprinting run before it is taken). Tenants are keyed by the directory's tenant id,
//! never by wire input, and are never evicted (that would forget a trip). The sender table
//! (remote addresses) and the fingerprint table (remote bodies) are bounded: when full,
//! entries whose windows are empty go first, then the lightest (fewest recipients, then
//! oldest), down to 7/8 of the capacity, so a flood of fresh addresses or random bodies
//! evicts itself, not a sender at its limit or a real bulk run.
//!
//! # What is left out
//!
//! Fingerprints are exact after normalisation, so a greeting with the recipient's name or
//! a personalised base64 part defeats them (volume and the scorer are the backstops). The
//! heuristic scorer is no classifier. All counts live in memory: a restart
//! gives every tenant fresh allowances and rate limits and relearns its volume (for
//! `volume_history_hours_min` it is not judged on volume). A fleet shares trips through
//! the directory store and counts through [`exchange`] (the gateway carries them over
//! Redis), each node deciding on its own view of them. Recipients are counted when RCPT
//! passes, so a transaction that fails later has still used them.

pub mod exchange;
mod fingerprint;
mod policy;
mod protection;
mod scorer;
mod verdict;
mod window;

pub use fingerprint::{BODY_BYTES_MAX, body_fingerprint};
pub use policy::{Policy, PolicyError};
pub use protection::{Judgement, Protection, Signal, Tracked, Trip};
pub use scorer::{HeuristicScorer, SpamScorer};
pub use verdict::{SenderDomainClass, Verdict, suspended_tenant};
