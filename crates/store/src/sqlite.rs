//! The SQLite backend: one file, one connection, `BEGIN IMMEDIATE` for every writer (the
//! CLI and the server are separate processes; the busy timeout makes one wait for the
//! other), statements cached by rusqlite.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::sql::{Backend, BackendError, Doing, Failed, Row, Sql, SqlError, Tx, Value, in_transaction};

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How a file is opened: the pragmas that differ between the directory and the trace.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pragmas {
    /// `FULL` (lose nothing committed) or `NORMAL` (a power cut may lose the last commits).
    pub synchronous: &'static str,
    /// Hand pruned pages back to the file system (set before the first table exists).
    pub incremental_vacuum: bool,
}

/// A SQLite database file.
#[derive(Debug)]
pub struct Sqlite {
    conn: Connection,
    /// The file opened, to notice when it is replaced, removed or emptied under a running
    /// server (which would otherwise go on reading the old file, or fail obscurely).
    file: Option<crate::backup::FileIdentity>,
}

impl Sqlite {
    pub(crate) fn open(path: &Path, pragmas: Pragmas) -> Result<Sqlite, Failed> {
        let op = &format!("opening {}", path.display());
        let conn = Connection::open(path).doing(op)?;
        conn.busy_timeout(BUSY_TIMEOUT).doing(op)?;
        if pragmas.incremental_vacuum {
            conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").doing(op)?;
        }
        conn.pragma_update(None, "journal_mode", "WAL").doing(op)?;
        conn.pragma_update(None, "foreign_keys", true).doing(op)?;
        conn.pragma_update(None, "synchronous", pragmas.synchronous).doing(op)?;
        conn.create_scalar_function(
            "sluice_in_network",
            2,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            in_network,
        )
        .doing(op)?;
        Ok(Sqlite { conn, file: crate::backup::FileIdentity::of(path) })
    }

    /// The connection, for the online backup API.
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Bytes the live pages take (the file less its free pages).
    pub(crate) fn used_bytes(&self) -> Result<u64, Failed> {
        const OP: &str = "measuring the database";
        let pragma = |name: &str| -> Result<i64, Failed> {
            self.conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).doing(OP)
        };
        let used = (pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?;
        Ok(crate::sql::to_u64(used))
    }

    /// Returns freed pages to the file system.
    pub(crate) fn reclaim(&self) -> Result<(), Failed> {
        self.conn.execute_batch("PRAGMA incremental_vacuum").doing("reclaiming free pages")
    }
}

/// `sluice_in_network(ip, network)`: whether the client address `ip` is inside `network`
/// (an IPv4-mapped IPv6 address counting as IPv4), NULL when either is NULL. PostgreSQL's is
/// created by trace migration 2 over its `inet` type; the trace's statements use it on both.
fn in_network(ctx: &Context<'_>) -> rusqlite::Result<Option<bool>> {
    let unusable = |what: &str, value: ValueRef<'_>| {
        let text = String::from_utf8_lossy(value.as_bytes().unwrap_or_default()).into_owned();
        rusqlite::Error::UserFunctionError(format!("sluice_in_network: {text:?} is not {what}").into())
    };
    let (ip, network) = (ctx.get_raw(0), ctx.get_raw(1));
    if ip == ValueRef::Null || network == ValueRef::Null {
        return Ok(None);
    }
    // The network is the same for every row of a statement: parsed once.
    let network = ctx.get_or_create_aux(1, |v| {
        let text = v.as_str().map_err(|_| unusable("a network", v))?;
        directory::Cidr::parse("network", text).map_err(|_| unusable("a network", v))
    })?;
    let ip =
        ip.as_str().ok().and_then(|t| t.parse::<IpAddr>().ok()).ok_or_else(|| unusable("an address", ip))?;
    Ok(Some(network.contains(ip)))
}

/// The connection as [`Sql`].
struct Db<'a>(&'a Connection);

fn bind(v: &Value) -> ToSqlOutput<'_> {
    match v {
        Value::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
        Value::Int(n) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*n)),
        Value::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        Value::Bool(b) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(i64::from(*b))),
    }
}

fn read(v: ValueRef<'_>) -> Result<Value, SqlError> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        ValueRef::Text(t) => Value::Text(std::str::from_utf8(t)?.to_string()),
        ValueRef::Real(_) | ValueRef::Blob(_) => {
            return Err("a column holds a real or a blob, which no table of Sluice stores".into());
        }
    })
}

impl Sql for Db<'_> {
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let params: Vec<ToSqlOutput<'_>> = params.iter().map(bind).collect();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let values = (0..columns).map(|i| read(row.get_ref(i)?)).collect::<Result<_, SqlError>>()?;
            out.push(Row(values));
        }
        Ok(out)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let params: Vec<ToSqlOutput<'_>> = params.iter().map(bind).collect();
        Ok(stmt.execute(rusqlite::params_from_iter(params.iter()))? as u64)
    }

    fn batch(&mut self, sql: &str) -> Result<(), SqlError> {
        Ok(self.0.execute_batch(sql)?)
    }
}

impl Backend for Sqlite {
    const DIRECTORY: crate::schema::Schema = crate::schema::DIRECTORY;
    const TRACE: crate::schema::Schema = crate::schema::TRACE;

    fn still_open(&self) -> Result<(), directory::StoreError> {
        self.file.as_ref().map_or(Ok(()), crate::backup::FileIdentity::still_open)
    }

    fn run<T, E: BackendError>(
        &self,
        operation: &str,
        tx: Tx,
        mut work: impl FnMut(&mut dyn Sql) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut db = Db(&self.conn);
        if !self.conn.is_autocommit() {
            // A unit of work that panicked left its transaction open.
            let _ = db.batch("ROLLBACK");
        }
        match tx {
            Tx::None => work(&mut db),
            Tx::Read => in_transaction(&mut db, operation, &["BEGIN"], &mut work),
            Tx::Write(_) => in_transaction(&mut db, operation, &["BEGIN IMMEDIATE"], &mut work),
        }
    }
}
