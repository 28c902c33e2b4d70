//! The audit log: every change made through the CLI or the API, who made it, on what,
//! before and after, when and from where. Append-only: no operation edits or deletes an
//! entry.

use directory::TenantId;
use serde::{Deserialize, Serialize};

use crate::error::AccessError;

/// Entries one listing returns at most; older ones are reached with `before_id`.
pub const AUDIT_PAGE_MAX: usize = 500;

/// A change to record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    pub at_unix_s: u64,
    /// `token:<id>` or `os:<user>`.
    pub actor: String,
    /// The tenant the object belongs to (tenants see their own entries), if any.
    pub tenant: Option<TenantId>,
    /// What was done, `<object kind>.<verb>`: `domain.add`, `connector.disable`, ...
    pub action: String,
    /// Which object: `acme.example`, `acme/partner relay`, `203.0.113.0/24`, ...
    pub object: String,
    /// The object before and after (absent when created or removed).
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// Where the change came from: the client address of an API call, or `cli`.
    pub source: String,
}

/// A recorded change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Increasing with time.
    pub id: u64,
    #[serde(flatten)]
    pub entry: NewAuditEntry,
}

/// A filter on the log, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries about this tenant's objects.
    pub tenant: Option<TenantId>,
    pub actor: Option<String>,
    /// Actions starting with this (`domain` or `domain.add`).
    pub action: Option<String>,
    pub since_unix_s: Option<u64>,
    pub until_unix_s: Option<u64>,
    /// Only entries older than this id (the next page).
    pub before_id: Option<u64>,
    /// At most this many (capped at [`AUDIT_PAGE_MAX`]).
    pub limit: usize,
}

pub trait AuditStore {
    fn append_audit(&mut self, entry: &NewAuditEntry) -> Result<AuditEntry, AccessError>;
    /// Matching entries, newest first, at most `min(limit, AUDIT_PAGE_MAX)`.
    fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, AccessError>;
}
