//! Where the directory, the admin plane's records and the message trace are kept: SQLite
//! files on one node (`<data_dir>/sluice.db`, `<data_dir>/trace.db`), or one PostgreSQL
//! database that every node of a fleet shares (`[store] url = "postgres://..."`). Each
//! implements the same traits: [`directory::DirectoryStore`], `access`'s `TokenStore`,
//! `AuditStore` and `RequestStore` ([`Store`]), and [`trace::TraceStore`] ([`TraceDb`]).
//!
//! One implementation, two backends: every statement is written once (`sql.rs`: `?N`
//! parameters, `ON CONFLICT`, `RETURNING`, explicit casts where PostgreSQL cannot infer a
//! parameter's type) and runs on either backend through the [`sql::Sql`] trait, so the two
//! cannot drift apart; only connecting, locking and the schema DDL differ (`sqlite.rs`,
//! `pg.rs`, `schema.rs`, `pg_schema.rs`). Each trait's behaviour suite runs on both
//! (`tests/suites.rs`). Why the synchronous `postgres` client: see `pg.rs`.
//!
//! Invariants: **every directory mutation is one writer transaction** (SQLite: `BEGIN
//! IMMEDIATE`; PostgreSQL: a transaction-level advisory lock) that checks its rules, writes,
//! and bumps `generation` before committing, so the conflict checks see no concurrent
//! writer (the CLI and the server are separate processes; a fleet has many nodes) and a
//! poller of [`DirectoryStore::generation`] never sees a change without a new generation:
//! that counter is how a change made on any node reaches every node (each polls it).
//! **Foreign keys are on** (removing a domain removes its recipients and their aliases;
//! removing a connector removes its lists), SQLite's journal is WAL (readers never block
//! the writer), and unique constraints back every uniqueness rule the directory states.
//! **The schema is versioned**: numbered migrations per backend, the same versions on both;
//! opening applies what is missing ([`Migrate::Apply`]) or only checks
//! ([`Migrate::Check`]), and a database newer than the program is refused rather than
//! misread. Verification tokens are 128 random bits from the OS.
//!
//! Tokens, the audit log and requests (`access.rs`) live beside the directory and never
//! bump the generation. The message trace (`trace_db.rs`) has its own SQLite file, or its
//! own tables in the PostgreSQL database, and a batching writer thread ([`TraceWriter`],
//! the running server's `trace::TraceSink`: never blocking the caller, dropping and counting
//! when its queue is full, keeping its queue depth and lag for the metrics).

mod access;
mod backup;
mod directory_db;
mod outbound_rows;
mod pg;
mod pg_schema;
mod rows;
mod schema;
mod sql;
mod sqlite;
#[cfg(feature = "test-cluster")]
pub mod test_cluster;
mod trace_counts;
mod trace_db;

use std::path::{Path, PathBuf};

use directory::{DirectoryStore, StoreError};
use sql::Backend as _;
use trace::TraceStore;

pub use backup::{Copied, restore};
pub use pg::{BadUrl, PgTarget, Postgres};
pub use rows::CorruptValue;
pub use schema::{Migrate, Migrated, SchemaBehind, SchemaTooNew};
pub use sql::ColumnMismatch;
pub use sqlite::Sqlite;
pub use trace_db::{
    PgTraceStore, SqliteTraceStore, TraceDb, TraceWriter, TraceWriterConfig, TraceWriterStats,
};

/// The directory and the admin plane's records on a backend `B`.
#[derive(Debug)]
pub struct Store<B> {
    db: B,
}

/// The embedded directory: `<data_dir>/sluice.db`.
pub type SqliteStore = Store<Sqlite>;
/// The fleet's directory, shared by every node.
pub type PgStore = Store<Postgres>;

/// Where a node keeps its directory, admin records and trace.
#[derive(Clone, Debug)]
pub enum Location {
    /// SQLite files in the data directory (`sluice.db`, `trace.db`).
    Embedded { data_dir: PathBuf },
    /// One PostgreSQL database for the whole fleet.
    Postgres(Box<PgTarget>),
}

/// `[store]`, resolved: where, and whether opening may migrate the schema.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub location: Location,
    pub migrate: Migrate,
}

impl StoreConfig {
    /// The embedded files in `data_dir`, migrated at start.
    pub fn embedded(data_dir: &Path) -> StoreConfig {
        StoreConfig {
            location: Location::Embedded { data_dir: data_dir.to_path_buf() },
            migrate: Migrate::Apply,
        }
    }

    /// The directory database file of the embedded store.
    pub fn directory_file(data_dir: &Path) -> PathBuf {
        data_dir.join("sluice.db")
    }

    /// The trace database file of the embedded store.
    pub fn trace_file(data_dir: &Path) -> PathBuf {
        data_dir.join("trace.db")
    }

    /// Where, for logs: a file path or a URL without the password.
    pub fn describe(&self) -> String {
        match &self.location {
            Location::Embedded { data_dir } => Self::directory_file(data_dir).display().to_string(),
            Location::Postgres(target) => target.describe(),
        }
    }

    /// Opens the directory (and admin records) with its schema migrated or checked. A
    /// PostgreSQL store must then be used from blocking threads only (see `pg.rs`).
    pub fn open_directory(&self) -> Result<(Box<dyn DirectoryStore + Send>, Migrated), StoreError> {
        Ok(match &self.location {
            Location::Embedded { data_dir } => {
                let (store, migrated) =
                    SqliteStore::open_with(&Self::directory_file(data_dir), self.migrate)?;
                (Box::new(store), migrated)
            }
            Location::Postgres(target) => {
                let (store, migrated) = PgStore::connect(target, self.migrate)?;
                (Box::new(store), migrated)
            }
        })
    }

    /// Opens the message trace with its schema migrated or checked.
    pub fn open_trace(&self) -> Result<(Box<dyn TraceStore + Send>, Migrated), trace::TraceError> {
        Ok(match &self.location {
            Location::Embedded { data_dir } => {
                let (store, migrated) =
                    SqliteTraceStore::open_with(&Self::trace_file(data_dir), self.migrate)?;
                (Box::new(store), migrated)
            }
            Location::Postgres(target) => {
                let (store, migrated) = PgTraceStore::connect(target, self.migrate)?;
                (Box::new(store), migrated)
            }
        })
    }
}

impl Store<Sqlite> {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, Migrate::Apply).map(|(store, _)| store)
    }

    /// Opens the database at `path`, migrating or checking its schema as `mode` says.
    pub fn open_with(path: &Path, mode: Migrate) -> Result<(SqliteStore, Migrated), StoreError> {
        let pragmas = sqlite::Pragmas {
            // With WAL, NORMAL syncs at checkpoints: a crash can lose the last commits but
            // never corrupts; directory edits are rare, so pay for FULL and lose nothing.
            synchronous: "FULL",
            incremental_vacuum: false,
        };
        let db = Sqlite::open(path, pragmas)?;
        let migrated = schema::migrate(&db, Sqlite::DIRECTORY, mode)?;
        Ok((Store { db }, migrated))
    }
}

impl Store<Postgres> {
    /// Connects to the fleet's database and migrates (or checks) the directory schema.
    pub fn connect(target: &PgTarget, mode: Migrate) -> Result<(PgStore, Migrated), StoreError> {
        let db = Postgres::connect(target)?;
        let migrated = schema::migrate(&db, Postgres::DIRECTORY, mode)?;
        Ok((Store { db }, migrated))
    }

    /// The database this store talks to, without the password.
    pub fn describe(&self) -> String {
        self.db.target().describe()
    }
}

impl<B: sql::Backend> Store<B> {
    /// The schema version of the open directory database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(schema::version(&self.db, B::DIRECTORY)?)
    }
}

/// The number of schema migrations of the directory (the same on both backends).
pub const DIRECTORY_SCHEMA_VERSION: usize = schema::DIRECTORY.migrations.len();
/// The number of schema migrations of the trace.
pub const TRACE_SCHEMA_VERSION: usize = schema::TRACE.migrations.len();
