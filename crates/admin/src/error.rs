//! One error type for every operation, with the meaning the CLI and the HTTP API need: a
//! stable code, the HTTP status that fits, a message a person can act on and, for bad
//! input, the field it is about (`domain.name`, `connector.ip`, ...).

use access::AccessError;
use directory::{DirectoryError, StoreError};
use serde::Serialize;
use trace::TraceError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input; `field` names it.
    Invalid,
    /// No such object, or one the caller may not see.
    NotFound,
    /// The object exists already, or is not in a state that allows the change.
    Conflict,
    /// No token, or a token that is unknown, revoked or expired.
    Unauthorized,
    /// The role may not do this.
    Forbidden,
    /// Too many requests; retry after this many seconds.
    RateLimited { retry_after_s: u64 },
    /// A check against the outside world failed (a domain's TXT record, a connector probe).
    CheckFailed,
    /// The running server is needed and does not answer.
    Unavailable,
    /// Storage or another internal failure; logged.
    Internal,
}

impl ErrorKind {
    /// The stable code clients match on.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::RateLimited { .. } => "rate_limited",
            ErrorKind::CheckFailed => "check_failed",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Invalid => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::RateLimited { .. } => 429,
            ErrorKind::CheckFailed => 422,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}

/// What went wrong with an operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AdminError {
    pub kind: ErrorKind,
    pub message: String,
    pub field: Option<String>,
    /// For bad input: the value at fault and why, apart (the web pages put them in the
    /// admin's words; the API and the CLI show `message`).
    pub problem: Option<Problem>,
}

/// The value of a field that was refused, and the reason in the validator's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub value: String,
    pub reason: String,
}

/// The JSON shape of every API error: `{"error": {"code", "message", "field"}}`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable: invalid, not_found, conflict, unauthorized, forbidden, rate_limited,
    /// check_failed, unavailable, internal.
    pub code: &'static str,
    pub message: String,
    /// The input at fault, as `<object>.<key>` (`domain.name`), for `invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl AdminError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> AdminError {
        AdminError { kind, message: message.into(), field: None, problem: None }
    }

    /// Bad input in `field`; the message names the field whatever the caller wrote.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> AdminError {
        let (field, message) = (field.into(), message.into());
        let message = if message.contains(&field) { message } else { format!("invalid {field}: {message}") };
        AdminError { kind: ErrorKind::Invalid, message, field: Some(field), problem: None }
    }

    /// Bad `value` in `field`, for `reason`: `invalid <field> "<value>": <reason>`.
    pub fn invalid_value(
        field: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> AdminError {
        let (field, value, reason) = (field.into(), value.into(), reason.into());
        let message = format!("invalid {field} {value:?}: {reason}");
        AdminError {
            kind: ErrorKind::Invalid,
            message,
            field: Some(field),
            problem: Some(Problem { value, reason }),
        }
    }

    pub fn not_found(what: impl std::fmt::Display) -> AdminError {
        AdminError::new(ErrorKind::NotFound, format!("{what} not found"))
    }

    pub fn forbidden(role: access::Role, what: &str) -> AdminError {
        AdminError::new(ErrorKind::Forbidden, format!("a {role} token may not {what}"))
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.kind.code(),
                message: self.message.clone(),
                field: self.field.clone(),
            },
        }
    }
}

impl From<DirectoryError> for AdminError {
    fn from(e: DirectoryError) -> AdminError {
        let message = e.to_string();
        match e {
            DirectoryError::Invalid { field, value, reason } => {
                AdminError::invalid_value(field, value, reason)
            }
            DirectoryError::DuplicateTenant { .. }
            | DirectoryError::DuplicateDomain { .. }
            | DirectoryError::DuplicateRecipient { .. }
            | DirectoryError::DuplicateConnector { .. }
            | DirectoryError::NotBlocked { .. } => AdminError::new(ErrorKind::Conflict, message),
            DirectoryError::UnknownTenant { .. }
            | DirectoryError::UnknownDomain { .. }
            | DirectoryError::UnknownRecipient { .. }
            | DirectoryError::UnknownConnector { .. }
            | DirectoryError::UnknownReputationEntry { .. } => AdminError::new(ErrorKind::NotFound, message),
        }
    }
}

fn internal(e: &dyn std::error::Error) -> AdminError {
    tracing::error!(error = %e, "admin operation failed");
    AdminError::new(ErrorKind::Internal, format!("internal error: {e}"))
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> AdminError {
        match e {
            StoreError::Directory(d) => d.into(),
            backend => internal(&backend),
        }
    }
}

impl From<AccessError> for AdminError {
    fn from(e: AccessError) -> AdminError {
        let message = e.to_string();
        match e {
            AccessError::Invalid { field, value, reason } => AdminError::invalid_value(field, value, reason),
            AccessError::UnknownToken { .. } | AccessError::UnknownRequest { .. } => {
                AdminError::new(ErrorKind::NotFound, message)
            }
            AccessError::AlreadyDecided { .. } => AdminError::new(ErrorKind::Conflict, message),
            backend @ AccessError::Backend { .. } => internal(&backend),
        }
    }
}

impl From<TraceError> for AdminError {
    fn from(e: TraceError) -> AdminError {
        match e {
            TraceError::Invalid { field, value, reason } => {
                AdminError::invalid_value(format!("trace.{field}"), value, reason)
            }
            backend @ TraceError::Backend { .. } => internal(&backend),
        }
    }
}
