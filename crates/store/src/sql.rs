//! The one SQL layer both backends share. Every table module writes its SQL once, in the
//! subset SQLite and PostgreSQL agree on (`?N` parameters, `ON CONFLICT`, `RETURNING`),
//! against [`Sql`]: a connection or a transaction of either backend, taking [`Value`]s and
//! giving [`Row`]s. So the two backends run the same statements and cannot drift apart;
//! what differs (connecting, pragmas, locks, schema DDL, sizes) lives in `sqlite.rs` and
//! `pg.rs`.
//!
//! Also here: SQL errors turned into each trait's error type with what was being done,
//! unreadable values reported by column, and the integer conversions between Rust's
//! unsigned counters and SQL's signed integers.

use std::error::Error;

use directory::StoreError;

use crate::CorruptValue;

/// An error from a backend's client library (or from reading a row).
pub(crate) type SqlError = Box<dyn Error + Send + Sync>;

/// A parameter or a column value. Booleans stay booleans: SQLite stores them as 0/1,
/// PostgreSQL as `boolean`, and [`FromValue`] reads either.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<u16> for Value {
    fn from(v: u16) -> Value {
        Value::Int(i64::from(v))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// Parameters for a statement: `vals![a, b]` is `&[Value::from(a), Value::from(b)]`.
macro_rules! vals {
    ($($v:expr),* $(,)?) => { &[$($crate::sql::Value::from($v)),*] as &[$crate::sql::Value] };
}
pub(crate) use vals;

/// A column that does not hold what the statement's reader expects.
#[derive(Debug, thiserror::Error)]
#[error("result column {index} holds {found}, not {expected}")]
pub struct ColumnMismatch {
    pub index: usize,
    pub found: &'static str,
    pub expected: &'static str,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Int(_) => "an integer",
        Value::Text(_) => "text",
        Value::Bool(_) => "a boolean",
    }
}

/// A Rust value one column can be read as.
pub(crate) trait FromValue: Sized {
    const EXPECTED: &'static str;
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for String {
    const EXPECTED: &'static str = "text";
    fn from_value(v: &Value) -> Option<String> {
        match v {
            Value::Text(t) => Some(t.clone()),
            _ => None,
        }
    }
}

impl FromValue for i64 {
    const EXPECTED: &'static str = "an integer";
    fn from_value(v: &Value) -> Option<i64> {
        match v {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }
}

impl FromValue for u16 {
    const EXPECTED: &'static str = "a port number";
    fn from_value(v: &Value) -> Option<u16> {
        match v {
            Value::Int(n) => u16::try_from(*n).ok(),
            _ => None,
        }
    }
}

impl FromValue for bool {
    const EXPECTED: &'static str = "a boolean";
    fn from_value(v: &Value) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            Value::Int(n) => Some(*n != 0),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_value(v: &Value) -> Option<Option<T>> {
        match v {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// One result row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    pub(crate) fn get<T: FromValue>(&self, index: usize) -> Result<T, SqlError> {
        let value = self.0.get(index).unwrap_or(&Value::Null);
        T::from_value(value).ok_or_else(|| {
            Box::new(ColumnMismatch { index, found: kind(value), expected: T::EXPECTED }) as SqlError
        })
    }
}

/// A whole row read as a tuple of [`FromValue`]s.
pub(crate) trait FromRow: Sized {
    fn from_row(row: &Row) -> Result<Self, SqlError>;
}

macro_rules! tuple_from_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: FromValue),+> FromRow for ($($t,)+) {
            fn from_row(row: &Row) -> Result<Self, SqlError> {
                Ok(($(row.get::<$t>($i)?,)+))
            }
        }
    };
}
tuple_from_row!(A 0);
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

/// A connection or transaction of either backend. Statements use `?N` parameters.
pub trait Sql {
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError>;
    /// Rows changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError>;
    /// Statements without parameters or results (DDL, transaction control).
    fn batch(&mut self, sql: &str) -> Result<(), SqlError>;
}

/// What a unit of work needs from its backend around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tx {
    /// No transaction: each statement on its own (a single read, an append).
    None,
    /// One consistent read of several statements.
    Read,
    /// A writer that reads, checks its rules and writes: no other writer of the same lock
    /// runs meanwhile, on this node or (PostgreSQL) any other.
    Write(Lock),
}

/// Writers that exclude each other. SQLite has one lock for the whole file
/// (`BEGIN IMMEDIATE`); PostgreSQL takes a transaction-level advisory lock per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// Directory mutations: their conflict checks read the tables they then change.
    Directory,
    /// Tokens, audit and requests.
    Admin,
    /// Trace batches and pruning.
    Trace,
    /// Schema migrations.
    Schema,
}

/// A backend: runs units of work on its connection, in the transaction they ask for. A
/// unit of work may be run twice (a read retried on a new connection), so it is `FnMut`.
pub trait Backend {
    /// The directory's schema in this backend's DDL.
    const DIRECTORY: crate::schema::Schema;
    /// The trace's schema in this backend's DDL.
    const TRACE: crate::schema::Schema;

    fn run<T, E: BackendError>(
        &self,
        operation: &str,
        tx: Tx,
        work: impl FnMut(&mut dyn Sql) -> Result<T, E>,
    ) -> Result<T, E>;

    /// An error when what was opened is no longer what the store's location names (a
    /// database file replaced, removed or emptied under a running server).
    fn still_open(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Runs `work` between `begin` and `COMMIT`, rolling back when it fails.
pub(crate) fn in_transaction<T, E: BackendError>(
    db: &mut dyn Sql,
    operation: &str,
    begin: &[&str],
    work: impl FnOnce(&mut dyn Sql) -> Result<T, E>,
) -> Result<T, E> {
    for statement in begin {
        if let Err(e) = db.batch(statement).doing(operation) {
            let _ = db.batch("ROLLBACK");
            return Err(e.into());
        }
    }
    match work(db) {
        Ok(out) => {
            db.batch("COMMIT").doing(operation)?;
            Ok(out)
        }
        Err(e) => {
            let _ = db.batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Runs `sql` and reads every row as `T`; an error says what was being done.
pub(crate) fn select<T: FromRow>(
    db: &mut dyn Sql,
    operation: &str,
    sql: &str,
    params: &[Value],
) -> Result<Vec<T>, Failed> {
    let rows = db.query(sql, params).doing(operation)?;
    rows.iter().map(|r| T::from_row(r).doing(operation)).collect()
}

/// The first row as `T`, if any.
pub(crate) fn select_one<T: FromRow>(
    db: &mut dyn Sql,
    operation: &str,
    sql: &str,
    params: &[Value],
) -> Result<Option<T>, Failed> {
    let rows = db.query(sql, params).doing(operation)?;
    rows.first().map(|r| T::from_row(r).doing(operation)).transpose()
}

/// The first column of the first row, which the statement always returns.
pub(crate) fn scalar<T: FromValue>(
    db: &mut dyn Sql,
    operation: &str,
    sql: &str,
    params: &[Value],
) -> Result<T, Failed> {
    let rows = db.query(sql, params).doing(operation)?;
    rows.first().unwrap_or(&Row::default()).get(0).doing(operation)
}

/// A statement that failed, with what was being done; `?` turns it into the error type of
/// whichever storage trait the caller implements.
#[derive(Debug)]
pub struct Failed {
    operation: String,
    cause: SqlError,
}

/// An error type a storage trait returns, built from a failed operation.
pub trait BackendError: Sized + From<Failed> {
    fn backend(operation: String, source: SqlError) -> Self;

    /// A stored value this program cannot read, named by its column.
    fn corrupt(column: &'static str, value: &str) -> Self {
        Self::backend(
            "reading a stored value".into(),
            Box::new(CorruptValue { column, value: value.to_string() }),
        )
    }
}

macro_rules! backend_error {
    ($t:ty, $variant:path) => {
        impl BackendError for $t {
            fn backend(operation: String, cause: SqlError) -> Self {
                $variant { operation, cause }
            }
        }

        impl From<Failed> for $t {
            fn from(f: Failed) -> Self {
                $variant { operation: f.operation, cause: f.cause }
            }
        }
    };
}
impl BackendError for Failed {
    fn backend(operation: String, cause: SqlError) -> Self {
        Failed { operation, cause }
    }
}

backend_error!(directory::StoreError, directory::StoreError::Backend);
backend_error!(access::AccessError, access::AccessError::Backend);
backend_error!(trace::TraceError, trace::TraceError::Backend);

/// Attaches what was being done to a SQL (or JSON) error.
pub(crate) trait Doing<T> {
    fn doing(self, operation: &str) -> Result<T, Failed>;
}

impl<T, X: Into<SqlError>> Doing<T> for Result<T, X> {
    fn doing(self, operation: &str) -> Result<T, Failed> {
        self.map_err(|e| Failed { operation: operation.to_string(), cause: e.into() })
    }
}

/// A counter as SQL stores it (saturating: no stored value is ever that large).
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored integer as a counter (negative values, which no writer stores, read as 0).
pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// `?N` parameters as PostgreSQL writes them (`$N`). No statement of this crate has a `?`
/// inside a string literal.
pub(crate) fn dollar_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_for_postgres() {
        assert_eq!(
            dollar_parameters("SELECT a FROM t WHERE (?1 IS NULL OR b = ?1) AND c = ?12"),
            "SELECT a FROM t WHERE ($1 IS NULL OR b = $1) AND c = $12"
        );
    }

    #[test]
    fn columns_read_as_their_rust_types() {
        let row = Row(vec![Value::Int(1), Value::Bool(false), Value::Null, Value::Text("x".into())]);
        assert!(row.get::<bool>(0).unwrap_or_default());
        assert!(!row.get::<bool>(1).unwrap_or(true));
        assert_eq!(row.get::<Option<String>>(2).ok(), Some(None));
        assert!(row.get::<String>(2).is_err(), "NULL is not text");
        assert_eq!(row.get::<u16>(0).ok(), Some(1));
        let err = row.get::<i64>(3).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("result column 3 holds text, not an integer"));
    }
}
