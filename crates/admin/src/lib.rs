//! The admin plane, a sibling of the gateway: one operations layer ([`Admin`]) that the
//! CLI, the HTTP API ([`http`]) and the web pages call, with validation, authorisation by
//! role and tenant, and the audit log in one place; public help pages for every code a
//! reply or bounce links to ([`help`]).
//!
//! Invariants: **no dependency on the gateway** (the running server's state comes through
//! [`LiveState`], DNS and connector probes through [`Network`], both implemented by the
//! binary); **no SQL** (storage is `store`'s, behind the `directory`, `access` and `trace`
//! traits); **no handler or CLI command decides anything** an operation decides; **a
//! tenant role never learns that another tenant's object exists** (not found, never
//! forbidden, listings filtered).

pub mod error;
pub mod help;
pub mod http;
pub mod live;
mod ops;
pub mod views;
pub mod web;

pub use error::{AdminError, ErrorKind};
pub use live::{
    AllowList, CertificateCheck, HeldMessageView, LiveError, LiveState, MetricsSource, Network, ProbeTarget,
    QuarantineAccess, TxtCheck,
};
pub use ops::{Admin, AdminStore, Context, Parts, parse_lifetime};
