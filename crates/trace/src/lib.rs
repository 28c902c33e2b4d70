//! The message trace: what happened to every message, and the refusals at SMTP time,
//! recorded as events and searched by admins ("where did my message go?").
//!
//! The write side is one [`TraceEvent`] per step, shaped so the gateway records each step
//! where it happens with one call: [`Received`] when the `250` is sent (client, TLS,
//! connector, tenant, direction, envelope, size, Message-ID, Subject), [`RecipientEvent`]
//! for each recipient's routing and each attempt's outcome (deferred with the reply and the
//! next attempt, delivered with the remote host, bounced, expired, a notification sent), and
//! [`Refusal`] for a refused RCPT or MAIL (throttling `451 4.7.5xx`, `550 5.7.x`, unknown
//! user). Refusals are aggregated per client IP, sender, recipient domain, reply and minute
//! ([`RefusalKey`]), so a blast of a million refused recipients is a few rows.
//!
//! Invariants: **no I/O, no clock** (times are in the events); **every text that remote
//! input fills is bounded** ([`TraceEvent::bounded`] truncates to the `*_BYTES_MAX`
//! limits before storage). The running server records through [`TraceSink`], which never
//! blocks (the embedded one queues for a writer thread and drops, counting, when full);
//! storage sits behind [`TraceStore`] (SQLite in `store`, in its own file); [`suite`]
//! (feature `suite`) is the behaviour every backend must show.

mod event;
mod query;
#[cfg(feature = "suite")]
pub mod suite;

pub use event::{
    Direction, Outcome, REPLY_BYTES_MAX, Received, RecipientEvent, Refusal, RefusalKey, TEXT_BYTES_MAX,
    TlsInfo, TraceEvent,
};
pub use query::{
    CLIENTS_MAX, ClientActivity, ClientQuery, Cursor, FLOW_BUCKETS_MAX, FlowBucket, FlowQuery, MessageStatus,
    MessageSummary, MessageTrace, PAGE_MAX, Page, PruneReport, RecipientStatus, RefusalQuery, RefusalRow,
    Retention, TimelineEntry, TraceError, TraceQuery, TraceSink, TraceStore, is_throttling_reply,
};
