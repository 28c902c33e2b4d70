//! Who may do what in the admin plane, and the records that keep it accountable: roles and
//! the principals that hold them, bearer tokens (only a hash is ever stored), the audit log
//! of every change, and service requests (a tenant admin asking for a `5.7.708` exception
//! or the release of a `5.7.705` block, decided by support or the operator).
//!
//! Invariants: **no I/O, no clock, no randomness of its own** (token secrets are made from
//! bytes the caller draws from the OS, times are passed in); **a token's secret is never
//! stored nor printed after creation**, only its SHA-256. Storage sits behind
//! [`TokenStore`], [`AuditStore`] and [`RequestStore`]; the SQLite backend is in `store`,
//! and [`suite`] (feature `suite`) is the one behaviour test suite every backend runs.
//!
//! The rules of who may do what are data ([`Role::may`]) so the operations layer asks one
//! function; a tenant role never sees another tenant's objects (the operations layer
//! answers "not found", as if they did not exist).

mod audit;
mod error;
mod request;
mod role;
#[cfg(feature = "suite")]
pub mod suite;
mod token;

pub use audit::{AUDIT_PAGE_MAX, AuditEntry, AuditQuery, AuditStore, NewAuditEntry};
pub use error::AccessError;
pub use request::{
    NewRequest, Request, RequestDecision, RequestKind, RequestQuery, RequestStatus, RequestStore,
};
pub use role::{Actor, Permission, Principal, Role};
pub use token::{NewToken, TOKEN_RANDOM_BYTES, TokenId, TokenRecord, TokenSecret, TokenStore, hash_secret};
