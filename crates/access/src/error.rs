//! Typed errors: validation errors name the field, as the directory's do.

/// A rule of the admin plane's records was broken, or their storage failed.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A value is malformed; `field` is the input's name as the admin sees it.
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid { field: &'static str, value: String, reason: String },
    #[error("unknown token {id}")]
    UnknownToken { id: String },
    #[error("unknown request {id}")]
    UnknownRequest { id: u64 },
    /// Approving or denying a request that was already decided.
    #[error("request {id} was already {status}")]
    AlreadyDecided { id: u64, status: &'static str },
    /// The database failed; `operation` says what was being done. The text holds the
    /// cause, which is therefore not also the `source()` (a chain printer would repeat it).
    #[error("admin storage failed while {operation}: {cause}")]
    Backend { operation: String, cause: Box<dyn std::error::Error + Send + Sync> },
}

impl AccessError {
    pub fn invalid(field: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        AccessError::Invalid { field, value: value.into(), reason: reason.into() }
    }
}

/// A free text an admin typed (note, justification): trimmed, 1 to `max` characters (0 when
/// `optional`), no control characters.
pub(crate) fn checked_text(
    field: &'static str,
    text: &str,
    max: usize,
    optional: bool,
) -> Result<String, AccessError> {
    let text = text.trim();
    if text.chars().any(char::is_control) {
        return Err(AccessError::invalid(field, text, "control characters are not allowed"));
    }
    if text.chars().count() > max {
        return Err(AccessError::invalid(field, text, format!("longer than {max} characters")));
    }
    if text.is_empty() && !optional {
        return Err(AccessError::invalid(field, text, "must not be empty"));
    }
    Ok(text.to_string())
}
