//! Service requests: what a tenant admin asks support for, instead of mailing them. Two
//! kinds exist, matching the two refusals only the operator can lift: an exception for an
//! IP range refused with `550 5.7.708`, and the release of a tenant's outbound block
//! (`550 5.7.705`). A request is pending until support or the operator approves or denies
//! it with a note; approving one carries it out (in the operations layer).

use std::fmt;

use directory::{Cidr, TenantId};
use serde::{Deserialize, Serialize};

use crate::error::{AccessError, checked_text};

const JUSTIFICATION_CHARS_MAX: usize = 2000;
const NOTE_CHARS_MAX: usize = 2000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum RequestKind {
    /// Lift `5.7.708` for a range: an exception on the reputation list.
    ReputationException { cidr: Cidr },
    /// Lift the tenant's `5.7.705` outbound block.
    OutboundRelease,
}

impl RequestKind {
    pub fn name(&self) -> &'static str {
        match self {
            RequestKind::ReputationException { .. } => "reputation-exception",
            RequestKind::OutboundRelease => "outbound-release",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestStatus {
    Pending,
    Approved,
    Denied,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Denied => "denied",
        }
    }

    pub fn parse(text: &str) -> Result<RequestStatus, AccessError> {
        match text.trim() {
            "pending" => Ok(RequestStatus::Pending),
            "approved" => Ok(RequestStatus::Approved),
            "denied" => Ok(RequestStatus::Denied),
            _ => Err(AccessError::invalid("request.status", text, "expected pending, approved or denied")),
        }
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a tenant admin submits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRequest {
    pub tenant: TenantId,
    pub kind: RequestKind,
    pub justification: String,
    pub requested_by: String,
    pub requested_at_unix_s: u64,
}

impl NewRequest {
    pub fn new(
        tenant: TenantId,
        kind: RequestKind,
        justification: &str,
        requested_by: &str,
        now_unix_s: u64,
    ) -> Result<NewRequest, AccessError> {
        Ok(NewRequest {
            tenant,
            kind,
            justification: checked_text(
                "request.justification",
                justification,
                JUSTIFICATION_CHARS_MAX,
                false,
            )?,
            requested_by: requested_by.to_string(),
            requested_at_unix_s: now_unix_s,
        })
    }
}

/// The answer to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestDecision {
    pub status: RequestStatus,
    pub note: String,
    pub decided_by: String,
    pub decided_at_unix_s: u64,
}

impl RequestDecision {
    /// `approve` or deny, with a note (required: the requester reads it).
    pub fn new(
        approve: bool,
        note: &str,
        decided_by: &str,
        now_unix_s: u64,
    ) -> Result<RequestDecision, AccessError> {
        Ok(RequestDecision {
            status: if approve { RequestStatus::Approved } else { RequestStatus::Denied },
            note: checked_text("decision.note", note, NOTE_CHARS_MAX, false)?,
            decided_by: decided_by.to_string(),
            decided_at_unix_s: now_unix_s,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    pub tenant: TenantId,
    #[serde(flatten)]
    pub kind: RequestKind,
    pub justification: String,
    pub requested_by: String,
    pub requested_at_unix_s: u64,
    pub status: RequestStatus,
    pub decided_by: Option<String>,
    pub decided_at_unix_s: Option<u64>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestQuery {
    pub tenant: Option<TenantId>,
    pub status: Option<RequestStatus>,
}

pub trait RequestStore {
    fn create_request(&mut self, request: &NewRequest) -> Result<Request, AccessError>;
    fn request(&self, id: u64) -> Result<Option<Request>, AccessError>;
    /// Matching requests, newest first.
    fn list_requests(&self, query: &RequestQuery) -> Result<Vec<Request>, AccessError>;
    /// Decides a pending request; an error when it is unknown or already decided.
    fn decide_request(&mut self, id: u64, decision: &RequestDecision) -> Result<Request, AccessError>;
}
