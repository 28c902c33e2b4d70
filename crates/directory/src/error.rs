//! Typed errors of the directory: every validation error names the field it is about, so
//! the CLI and the HTTP API can point at the exact input that is wrong.

use crate::names::{DomainName, TenantId};

/// A directory rule was broken by some input or stored data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// A value is malformed or not allowed; `field` is the input's name as the admin sees it
    /// (`tenant.id`, `domain.name`, `connector.ip`, ...).
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid { field: &'static str, value: String, reason: String },
    #[error("tenant {id} already exists")]
    DuplicateTenant { id: TenantId },
    /// A domain belongs to one tenant only.
    #[error("domain {domain} is already an accepted domain of tenant {owner}")]
    DuplicateDomain { domain: DomainName, owner: TenantId },
    #[error("recipient {address} already exists")]
    DuplicateRecipient { address: String },
    #[error("tenant {tenant} already has a connector named {name:?}")]
    DuplicateConnector { tenant: TenantId, name: String },
    #[error("unknown tenant {id}")]
    UnknownTenant { id: String },
    #[error("unknown domain {domain}")]
    UnknownDomain { domain: String },
    #[error("unknown recipient {address}")]
    UnknownRecipient { address: String },
    #[error("tenant {tenant} has no connector named {name:?}")]
    UnknownConnector { tenant: TenantId, name: String },
    #[error("no reputation entry for {cidr}")]
    UnknownReputationEntry { cidr: String },
    #[error("tenant {tenant}'s outbound mail is not blocked")]
    NotBlocked { tenant: TenantId },
}

impl DirectoryError {
    /// Shorthand for [`DirectoryError::Invalid`].
    pub fn invalid(field: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        DirectoryError::Invalid { field, value: value.into(), reason: reason.into() }
    }
}

/// What a [`crate::DirectoryStore`] returns: a directory rule or a failing backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The database itself failed (I/O, corruption, locked); `operation` says what was being
    /// done so the log line is useful without a backtrace. The text holds the cause, which
    /// is therefore not also the `source()` (a chain printer would repeat it).
    #[error("directory storage failed while {operation}: {cause}")]
    Backend { operation: String, cause: Box<dyn std::error::Error + Send + Sync> },
}
