//! The PostgreSQL backend (fleet mode): every node of a fleet opens the same database.
//!
//! The client is `postgres`, the synchronous face of `tokio-postgres`: the storage traits
//! are synchronous, and so are their callers (the admin plane's operations run on blocking
//! threads, the gateway reaches its store through `spawn_blocking`, the CLI has no
//! runtime). `postgres` drives each call on a small runtime of its own, so it **must not be
//! called from a thread that runs async tasks** (tokio panics: "cannot start a runtime
//! from within a runtime"); from a blocking thread it is fine. `tokio-postgres` behind a
//! bridge of our own would be the same thing with more code; `sqlx` would bring a second
//! SQLite library beside rusqlite (the two cannot link together) and async traits the
//! callers do not want.
//!
//! Writers that check rules before they write take a transaction-level advisory lock per
//! kind of writer ([`Lock`]), the fleet-wide equivalent of SQLite's `BEGIN IMMEDIATE`: two
//! nodes adding the same domain at once cannot both pass the claim check. A consistent
//! read is a `REPEATABLE READ READ ONLY` transaction. A lost connection (the server
//! restarted, a network cut) is noticed by the call that fails, and a read is retried once
//! on a new connection; a writer checks its connection before it starts (a write is never
//! retried: its commit may have happened), so a write after an outage reconnects too. TLS: `sslmode=disable` in the URL talks
//! plain; otherwise (`prefer`, the default, or `require`) rustls is offered, verifying the
//! server against the public roots and `[store] ca_file`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use postgres::config::{Host, SslMode};
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};

use crate::sql::{
    Backend, BackendError, Doing, Failed, Lock, Row, Sql, SqlError, Tx, Value, dollar_parameters,
    in_transaction,
};

/// How long connecting may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a writer waits for the server to answer its check of the connection.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the database is, parsed from a `postgres://` URL, with what TLS needs.
#[derive(Clone)]
pub struct PgTarget {
    config: postgres::Config,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A `[store] url` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadUrl(String);

impl PgTarget {
    /// Parses `url` (`postgres://user:password@host:port/dbname?sslmode=...`, or the
    /// `key=value` form); `ca_file` adds trusted roots for TLS.
    pub fn parse(url: &str, ca_file: Option<&Path>) -> Result<PgTarget, BadUrl> {
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            BadUrl(format!("not a PostgreSQL URL ({e}); write postgres://USER:PASSWORD@HOST:PORT/DATABASE"))
        })?;
        if config.get_dbname().is_none() {
            return Err(BadUrl("the URL names no database; add /DATABASE after the host".into()));
        }
        if config.get_hosts().is_empty() {
            return Err(BadUrl("the URL names no host; add @HOST:PORT".into()));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("sluice");
        let tls = match config.get_ssl_mode() {
            SslMode::Disable => None,
            _ => Some(Arc::new(client_tls(ca_file)?)),
        };
        Ok(PgTarget { config, tls })
    }

    /// The server and database without the password, for logs and errors.
    pub fn describe(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(name)) => name.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => String::new(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let user = self.config.get_user().unwrap_or("(default user)");
        let db = self.config.get_dbname().unwrap_or_default();
        format!("postgres://{user}@{host}:{port}/{db}")
    }

    /// The same server and credentials, another database (tests create one per test).
    pub fn with_database(&self, name: &str) -> PgTarget {
        let mut other = self.clone();
        other.config.dbname(name);
        other
    }

    pub(crate) fn connect(&self) -> Result<Client, SqlError> {
        let client = match &self.tls {
            None => self.config.connect(NoTls)?,
            Some(tls) => {
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
                self.config.connect(tls)?
            }
        };
        Ok(client)
    }
}

fn client_tls(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, BadUrl> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_file {
        use rustls_pki_types::pem::PemObject;
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| BadUrl(format!("cannot read the CA file {}: {e}", path.display())))?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| BadUrl(format!("a certificate in {} is unusable: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BadUrl(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// One connection and the statements prepared on it.
struct Connection {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// A PostgreSQL database, connected on first use and again after a lost connection.
pub struct Postgres {
    target: PgTarget,
    connection: Mutex<Option<Connection>>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres").field("target", &self.target).finish_non_exhaustive()
    }
}

impl Postgres {
    /// Connects now, so that a wrong URL or an unreachable server is reported at start.
    pub(crate) fn connect(target: &PgTarget) -> Result<Postgres, Failed> {
        let operation = format!("connecting to {}", target.describe());
        let client = target.connect().doing(&operation)?;
        let connection = Connection { client, statements: HashMap::new() };
        Ok(Postgres { target: target.clone(), connection: Mutex::new(Some(connection)) })
    }

    pub(crate) fn target(&self) -> &PgTarget {
        &self.target
    }
}

/// The advisory lock key of each kind of writer ("sluice" in ASCII, then the kind).
fn lock_key(lock: Lock) -> i64 {
    const BASE: i64 = 0x736c_7569_6365_0000;
    BASE + match lock {
        Lock::Directory => 1,
        Lock::Admin => 2,
        Lock::Trace => 3,
        Lock::Schema => 4,
    }
}

impl Backend for Postgres {
    const DIRECTORY: crate::schema::Schema = crate::pg_schema::DIRECTORY;
    const TRACE: crate::schema::Schema = crate::pg_schema::TRACE;

    fn run<T, E: BackendError>(
        &self,
        operation: &str,
        tx: Tx,
        mut work: impl FnMut(&mut dyn Sql) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut slot = self.connection.lock().unwrap_or_else(PoisonError::into_inner);
        let retry = matches!(tx, Tx::None | Tx::Read);
        let mut attempt = 0;
        loop {
            attempt += 1;
            // A writer is not retried (its commit may have happened), so it checks the
            // connection first: one round trip, and writes are rare.
            let usable = |c: &mut Connection| {
                !c.client.is_closed() && (retry || c.client.is_valid(CHECK_TIMEOUT).is_ok())
            };
            if slot.as_mut().is_some_and(|c| !usable(c)) {
                *slot = None;
            }
            let connection = match slot.as_mut() {
                Some(c) => c,
                None => {
                    let what = format!("{operation} (connecting to {})", self.target.describe());
                    let client = self.target.connect().doing(&what)?;
                    slot.insert(Connection { client, statements: HashMap::new() })
                }
            };
            let result = unit(connection, operation, tx, &mut work);
            // A terminated backend's FATAL reply can arrive before the client has seen the
            // socket close, so a failed statement asks the server once whether the
            // connection still works (only on errors, which are rare).
            let lost = |c: &mut Connection| c.client.is_closed() || c.client.is_valid(CHECK_TIMEOUT).is_err();
            if result.is_err() && lost(connection) {
                *slot = None;
                if retry && attempt == 1 {
                    tracing::warn!(database = %self.target.describe(), "the PostgreSQL connection was lost; connecting again");
                    continue;
                }
            }
            return result;
        }
    }
}

fn unit<T, E: BackendError>(
    connection: &mut Connection,
    operation: &str,
    tx: Tx,
    work: &mut impl FnMut(&mut dyn Sql) -> Result<T, E>,
) -> Result<T, E> {
    let mut db = Db { client: &mut connection.client, statements: &mut connection.statements };
    match tx {
        Tx::None => work(&mut db),
        Tx::Read => {
            in_transaction(&mut db, operation, &["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"], work)
        }
        Tx::Write(lock) => {
            let take = format!("SELECT pg_advisory_xact_lock({})", lock_key(lock));
            in_transaction(&mut db, operation, &["BEGIN", &take], work)
        }
    }
}

/// The connection as [`Sql`].
struct Db<'a> {
    client: &'a mut Client,
    statements: &'a mut HashMap<String, Statement>,
}

impl Db<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, SqlError> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.client.prepare(&dollar_parameters(sql))?;
        self.statements.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, SqlError> {
        match (self, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Int(n), &Type::INT8) => n.to_sql(ty, out),
            (Value::Int(n), &Type::INT4) => i32::try_from(*n)?.to_sql(ty, out),
            (Value::Int(n), &Type::INT2) => i16::try_from(*n)?.to_sql(ty, out),
            (Value::Int(n), _) => n.to_string().to_sql(ty, out),
            (Value::Text(t), _) => t.as_str().to_sql(ty, out),
            (Value::Bool(b), &Type::BOOL) => b.to_sql(ty, out),
            (Value::Bool(b), _) => i64::from(*b).to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`, which knows the value as well as the type.
        true
    }

    to_sql_checked!();
}

fn column(row: &postgres::Row, index: usize) -> Result<Value, SqlError> {
    let ty = row.columns()[index].type_();
    let value = match *ty {
        Type::BOOL => row.try_get::<_, Option<bool>>(index)?.map(Value::Bool),
        Type::INT2 => row.try_get::<_, Option<i16>>(index)?.map(|n| Value::Int(n.into())),
        Type::INT4 => row.try_get::<_, Option<i32>>(index)?.map(|n| Value::Int(n.into())),
        Type::INT8 => row.try_get::<_, Option<i64>>(index)?.map(Value::Int),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            row.try_get::<_, Option<String>>(index)?.map(Value::Text)
        }
        _ => {
            return Err(
                format!("result column {index} has type {ty}, which no table of Sluice stores").into()
            );
        }
    };
    Ok(value.unwrap_or(Value::Null))
}

impl Sql for Db<'_> {
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        let stmt = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = self.client.query(&stmt, &params)?;
        rows.iter()
            .map(|r| Ok(Row((0..r.len()).map(|i| column(r, i)).collect::<Result<_, SqlError>>()?)))
            .collect()
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        let stmt = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        Ok(self.client.execute(&stmt, &params)?)
    }

    fn batch(&mut self, sql: &str) -> Result<(), SqlError> {
        Ok(self.client.batch_execute(sql)?)
    }
}
