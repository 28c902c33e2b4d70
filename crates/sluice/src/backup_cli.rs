//! `sluice backup` and `sluice restore`: a consistent copy of the directory database taken
//! while the server runs (SQLite's online backup API), and putting one back with the
//! server stopped. A restore gives the database a generation above anything this node has
//! seen and records it in the watermark, so the server starts on it without
//! `--accept-directory`.

use std::path::Path;

use anyhow::Context as _;
use directory::DirectoryStore;
use gateway::watermark::Watermark;

use crate::admin_cli::{database_path, watermark_path};
use crate::config::Config;

/// The embedded database file; PostgreSQL has its own tools.
fn embedded_database(config: &Config, command: &str) -> anyhow::Result<std::path::PathBuf> {
    database_path(config).ok_or_else(|| {
        anyhow::anyhow!(
            "the directory is in PostgreSQL ([store] url = {}): use pg_dump and pg_restore; `sluice {command}` is for the embedded sluice.db",
            config.store.describe()
        )
    })
}

/// Copies the directory database to `file` (the server may run).
pub fn backup(flag: Option<&Path>, file: &Path) -> anyhow::Result<()> {
    let config = &crate::discover::load(flag)?.config;
    let db = embedded_database(config, "backup")?;
    if !db.exists() {
        anyhow::bail!("there is no directory database at {} to back up (check data_dir)", db.display());
    }
    let store = store::SqliteStore::open(&db).map_err(|e| anyhow::anyhow!("{e}"))?;
    let copied = store.backup_to(file)?;
    println!(
        "backed up {} to {}: generation {}, tenants {}, {} bytes",
        db.display(),
        copied.path.display(),
        copied.generation,
        copied.tenants,
        copied.bytes
    );
    Ok(())
}

/// Replaces the directory database with the backup `file` (the server must be stopped).
pub fn restore(flag: Option<&Path>, file: &Path) -> anyhow::Result<()> {
    let config = &crate::discover::load(flag)?.config;
    if !file.is_file() {
        anyhow::bail!("{} is not a file: name a backup written by `sluice backup`", file.display());
    }
    if let Some(socket) = &config.gateway.control_socket {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        if runtime.block_on(gateway::control::request(socket, "stats")).is_some() {
            anyhow::bail!(
                "a server is running on this data_dir (it answers on {}): stop it first, then restore",
                socket.display()
            );
        }
    }
    let (db, watermark) = (embedded_database(config, "restore")?, watermark_path(config));
    let seen = Watermark::read(&watermark).ok().flatten().map_or(0, |w| w.generation);
    // The database being replaced may be newer than the watermark (changed by the CLI
    // while the server was stopped); when it is readable, the restored copy goes above it.
    let current = store::SqliteStore::open(&db).ok().and_then(|s| s.generation().ok()).unwrap_or(0);
    let restored = store::restore(file, &db, seen.max(current))?;
    Watermark { generation: restored.generation, tenants: restored.tenants }.write(&watermark).context(
        "the database is restored, but its watermark is not; start with `sluice serve --accept-directory`",
    )?;
    println!(
        "restored {} from {}: generation {}, tenants {}; start the server with `sluice serve`",
        db.display(),
        file.display(),
        restored.generation,
        restored.tenants
    );
    Ok(())
}
