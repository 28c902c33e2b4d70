//! What every table module shares: SQLite errors turned into each trait's error type with
//! what was being done, unreadable values reported by column, and the integer conversions
//! between Rust's unsigned counters and SQLite's signed integers.

use std::error::Error;

use crate::CorruptValue;

/// An error type a storage trait returns, built from a failed operation.
pub(crate) trait BackendError: Sized {
    fn backend(operation: String, source: Box<dyn Error + Send + Sync>) -> Self;

    /// A stored value this program cannot read, named by its column.
    fn corrupt(column: &'static str, value: &str) -> Self {
        Self::backend(
            "reading a stored value".into(),
            Box::new(CorruptValue { column, value: value.to_string() }),
        )
    }
}

impl BackendError for directory::StoreError {
    fn backend(operation: String, source: Box<dyn Error + Send + Sync>) -> Self {
        directory::StoreError::Backend { operation, cause: source }
    }
}

impl BackendError for access::AccessError {
    fn backend(operation: String, source: Box<dyn Error + Send + Sync>) -> Self {
        access::AccessError::Backend { operation, cause: source }
    }
}

impl BackendError for trace::TraceError {
    fn backend(operation: String, source: Box<dyn Error + Send + Sync>) -> Self {
        trace::TraceError::Backend { operation, cause: source }
    }
}

/// Attaches what was being done to a SQLite (or JSON) error, in the caller's error type.
pub(crate) trait Doing<T> {
    fn doing<E: BackendError>(self, operation: &str) -> Result<T, E>;
}

impl<T, X: Error + Send + Sync + 'static> Doing<T> for Result<T, X> {
    fn doing<E: BackendError>(self, operation: &str) -> Result<T, E> {
        self.map_err(|e| E::backend(operation.to_string(), Box::new(e)))
    }
}

/// A counter as SQLite stores it (saturating: no stored value is ever that large).
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored integer as a counter (negative values, which no writer stores, read as 0).
pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
