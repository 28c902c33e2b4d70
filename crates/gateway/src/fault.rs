//! Test-only fault injection: the points where the integration tests make Sluice fail on
//! purpose, to show that a panic stays inside its session or delivery attempt and that a
//! crash between two durable steps loses nothing.
//!
//! The points exist only with the `fault-injection` cargo feature. The `sluice` crate turns
//! it on for its own tests (a dev-dependency feature), so the binary `cargo test` builds
//! has them; `cargo build`, `cargo run` and `cargo install` never do, and without the
//! feature [`armed`] is `false` at compile time and every point compiles to nothing. Even
//! then a point fires only when the environment variable `SLUICE_FAULTS` (comma-separated
//! names) arms it:
//!
//! - `session-panic`: the session panics when it enqueues a message from a sender whose
//!   local part is `fault-panic`.
//! - `delivery-panic`: a remote delivery attempt panics when one of its recipients' local
//!   part is `fault-panic`.
//! - `stall-after-notification`: the task that spooled a notification (bounce or delay
//!   notice) stops for good right after it is durable, before the queue manager records the
//!   recipients it reports as done, and logs that it did, so that a test can `kill -9` the
//!   process exactly between the two writes.

/// The local part that triggers the panic points.
const TRIGGER: &str = "fault-panic";

#[cfg(feature = "fault-injection")]
fn armed(point: &str) -> bool {
    std::env::var("SLUICE_FAULTS").is_ok_and(|points| points.split(',').any(|p| p.trim() == point))
}

#[cfg(not(feature = "fault-injection"))]
const fn armed(_point: &str) -> bool {
    false
}

/// In a session, when a message is enqueued: the sender's local part.
pub(crate) fn session(sender_local_part: Option<&str>) {
    if armed("session-panic") && sender_local_part == Some(TRIGGER) {
        panic!("fault injection: session-panic");
    }
}

/// In a remote delivery attempt, before it connects: the recipients' local parts.
pub(crate) fn delivery<'a>(mut local_parts: impl Iterator<Item = &'a str>) {
    if armed("delivery-panic") && local_parts.any(|l| l == TRIGGER) {
        panic!("fault injection: delivery-panic");
    }
}

/// Right after a notification is durable, before its recipients are recorded done. Stalls
/// only the notification's own task (it never completes), no thread.
pub(crate) async fn notification_durable() {
    if armed("stall-after-notification") {
        tracing::error!("fault injection: stall-after-notification; this task stops here");
        std::future::pending::<()>().await;
    }
}
