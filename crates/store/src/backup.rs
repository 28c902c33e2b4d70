//! Keeping the directory database whole: a consistent copy of it taken while servers and
//! the CLI use it (SQLite's online backup API), its restore, and noticing that the file a
//! running server opened was replaced, removed or emptied under it.
//!
//! A backup is one self-contained file (no WAL beside it), checked with
//! `PRAGMA integrity_check` before it is put in place. A restore checks the backup the same
//! way, copies it next to the database, gives it a generation above `generation_floor` (so
//! it is never older than what servers have seen, and every poller notices the change),
//! then replaces the database file and the WAL files of the old one in one rename: a crash
//! leaves either the old database or the restored one.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use directory::StoreError;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

/// What a backup or a restore copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The file written.
    pub path: PathBuf,
    /// The directory's generation in it.
    pub generation: u64,
    pub tenants: u64,
    pub bytes: u64,
}

/// How often a backup step that found the database locked is tried again, and how long
/// it waits in between (another process's write transaction is short).
const LOCKED_TRIES: u32 = 100;
const LOCKED_PAUSE: Duration = Duration::from_millis(50);

/// The file a store opened, as the file system named it then.
#[derive(Debug)]
pub(crate) struct FileIdentity {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    pub(crate) fn of(path: &Path) -> Option<FileIdentity> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileIdentity { path: path.to_path_buf(), dev: meta.dev(), ino: meta.ino() })
    }

    /// An error when the file at the path is no longer the one opened, or was emptied.
    pub(crate) fn still_open(&self) -> Result<(), StoreError> {
        let problem = match std::fs::metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "was removed".to_string(),
            Err(e) => format!("cannot be read ({e})"),
            Ok(meta) if (meta.dev(), meta.ino()) != (self.dev, self.ino) => {
                "was replaced by another file".to_string()
            }
            Ok(meta) if meta.len() == 0 => "was emptied (0 bytes)".to_string(),
            Ok(_) => return Ok(()),
        };
        let cause = format!(
            "{} {problem} after it was opened; the server keeps its last good copy of the directory until it is restarted",
            self.path.display()
        );
        Err(StoreError::Backend { operation: "checking the database file".into(), cause: cause.into() })
    }
}

impl crate::SqliteStore {
    /// Writes a consistent copy of the whole database (the directory, tokens, audit log
    /// and requests) to `dest`, while servers and the CLI go on using it. The copy is made
    /// beside `dest`, checked, synced and then renamed over it.
    pub fn backup_to(&self, dest: &Path) -> Result<Copied, StoreError> {
        let op = format!("backing up the directory to {}", dest.display());
        let partial = with_suffix(dest, ".partial");
        remove_if_present(&partial, &op)?;
        let copied = copy_database(self.db.connection(), &partial, "DELETE", None, &op);
        if copied.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        let copied = copied?;
        put_in_place(&partial, dest, &[], &op)?;
        Ok(Copied { path: dest.to_path_buf(), ..copied })
    }
}

/// Restores the database at `db` from the backup `from`: checks the backup, gives the copy
/// a generation above `generation_floor` and replaces `db` (with its WAL files). No process
/// may have `db` open: stop the server first.
pub fn restore(from: &Path, db: &Path, generation_floor: u64) -> Result<Copied, StoreError> {
    let op = format!("restoring {} from {}", db.display(), from.display());
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY).during(&op)?;
    check_integrity(&source, &op)?;
    let version: i64 =
        source.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0)).during(&op)?;
    let known = crate::DIRECTORY_SCHEMA_VERSION;
    if usize::try_from(version).unwrap_or(usize::MAX) > known {
        let newer = crate::SchemaTooNew { what: "directory", found: version, known };
        return Err(StoreError::Backend { operation: op, cause: Box::new(newer) });
    }
    let restoring = with_suffix(db, ".restoring");
    remove_if_present(&restoring, &op)?;
    let copied = copy_database(&source, &restoring, "WAL", Some(generation_floor), &op);
    if copied.is_err() {
        let _ = std::fs::remove_file(&restoring);
    }
    let copied = copied?;
    let stale = [with_suffix(db, "-wal"), with_suffix(db, "-shm")];
    put_in_place(&restoring, db, &stale, &op)?;
    Ok(Copied { path: db.to_path_buf(), ..copied })
}

/// Copies the database open on `source` into a new file `to` with one backup step (a
/// consistent view), checks the copy, sets its journal mode and, with a floor, its
/// generation above the floor; the copy is closed and synced.
fn copy_database(
    source: &Connection,
    to: &Path,
    journal_mode: &str,
    generation_floor: Option<u64>,
    op: &str,
) -> Result<Copied, StoreError> {
    let mut copy = Connection::open(to).during(op)?;
    {
        let backup = Backup::new(source, &mut copy).during(op)?;
        let mut tries = 0;
        loop {
            match backup.step(-1).during(op)? {
                StepResult::Done => break,
                StepResult::More => {}
                _busy_or_locked if tries < LOCKED_TRIES => {
                    tries += 1;
                    std::thread::sleep(LOCKED_PAUSE);
                }
                _ => {
                    let cause = "the database stayed locked by another process".into();
                    return Err(StoreError::Backend { operation: op.to_string(), cause });
                }
            }
        }
    }
    check_integrity(&copy, op)?;
    if let Some(floor) = generation_floor {
        let floor = i64::try_from(floor).unwrap_or(i64::MAX - 1);
        copy.execute("UPDATE generation SET value = max(value, ?1) + 1 WHERE id = 1", [floor]).during(op)?;
    }
    copy.pragma_update(None, "journal_mode", journal_mode).during(op)?;
    let generation: i64 =
        copy.query_row("SELECT value FROM generation WHERE id = 1", [], |r| r.get(0)).during(op)?;
    let tenants: i64 = copy.query_row("SELECT count(*) FROM tenants", [], |r| r.get(0)).during(op)?;
    copy.close().map_err(|(_, e)| e).during(op)?;
    let file = File::open(to).and_then(|f| f.sync_all().map(|()| f)).during_io(op)?;
    let bytes = file.metadata().during_io(op)?.len();
    let (generation, tenants) = (u64::try_from(generation).unwrap_or(0), u64::try_from(tenants).unwrap_or(0));
    Ok(Copied { path: to.to_path_buf(), generation, tenants, bytes })
}

fn check_integrity(conn: &Connection, op: &str) -> Result<(), StoreError> {
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).during(op)?;
    if verdict == "ok" {
        return Ok(());
    }
    let cause = format!("the database fails its integrity check: {verdict}").into();
    Err(StoreError::Backend { operation: op.to_string(), cause })
}

/// Removes the `stale` files, renames `from` over `to` and syncs the folder, so the
/// rename is durable.
fn put_in_place(from: &Path, to: &Path, stale: &[PathBuf], op: &str) -> Result<(), StoreError> {
    for path in stale {
        remove_if_present(path, op)?;
    }
    std::fs::rename(from, to).during_io(op)?;
    let folder = to.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(folder).and_then(|f| f.sync_all()).during_io(op)
}

fn remove_if_present(path: &Path, op: &str) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).during_io(op),
        _ => Ok(()),
    }
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// SQLite's and the file system's errors of a backup or restore, saying what was being done.
trait During<T> {
    fn during(self, operation: &str) -> Result<T, StoreError>;
}

impl<T> During<T> for rusqlite::Result<T> {
    fn during(self, operation: &str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Backend { operation: operation.to_string(), cause: Box::new(e) })
    }
}

trait DuringIo<T> {
    fn during_io(self, operation: &str) -> Result<T, StoreError>;
}

impl<T> DuringIo<T> for std::io::Result<T> {
    fn during_io(self, operation: &str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Backend { operation: operation.to_string(), cause: Box::new(e) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use directory::{DirectoryStore, DomainName, NewTenant};

    fn with_tenants(path: &Path, ids: &[&str]) -> SqliteStore {
        let mut store = SqliteStore::open(path).expect("open");
        let service = DomainName::parse("service", "sluice.test").expect("domain");
        for id in ids {
            store.add_tenant(&NewTenant::new(id, id, "en").expect("tenant"), &service).expect("add");
        }
        store
    }

    #[test]
    fn a_backup_taken_while_in_use_restores_with_a_newer_generation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("sluice.db");
        let store = with_tenants(&db, &["acme", "globex"]);
        let backup = dir.path().join("backup.db");
        let copied = store.backup_to(&backup).expect("backup");
        assert_eq!((copied.generation, copied.tenants), (2, 2));
        assert!(!with_suffix(&backup, "-wal").exists(), "a backup is one file");
        drop(store);
        // The live database goes on, then is lost.
        drop(with_tenants(&db, &["initech"]));
        std::fs::write(&db, b"").expect("empty it");
        let restored = restore(&backup, &db, 3).expect("restore");
        assert_eq!((restored.generation, restored.tenants), (4, 2), "above the floor of 3");
        let reopened = SqliteStore::open(&db).expect("open restored");
        assert_eq!(reopened.list_tenants().expect("tenants").len(), 2);
        assert_eq!(reopened.generation().expect("generation"), 4);
    }

    #[test]
    fn a_damaged_backup_is_refused_and_the_database_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("sluice.db");
        let store = with_tenants(&db, &["acme"]);
        let backup = dir.path().join("backup.db");
        store.backup_to(&backup).expect("backup");
        let mut bytes = std::fs::read(&backup).expect("read");
        // Every page but the first (the header) loses bytes of its page header and cells.
        for page in (4096..bytes.len()).step_by(4096) {
            bytes[page..page + 512].fill(0xA5);
        }
        std::fs::write(&backup, bytes).expect("damage");
        let refused = restore(&backup, &db, 0).expect_err("damaged backup");
        assert!(refused.to_string().contains("restoring"), "{refused}");
        assert!(!with_suffix(&db, ".restoring").exists());
        assert_eq!(store.list_tenants().expect("untouched").len(), 1);
    }

    #[test]
    fn a_store_notices_its_file_replaced_removed_or_emptied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("sluice.db");
        let store = with_tenants(&db, &["acme"]);
        assert!(store.generation().is_ok());
        std::fs::write(&db, b"").expect("empty it in place");
        let emptied = store.generation().expect_err("emptied").to_string();
        assert!(emptied.contains("was emptied (0 bytes)"), "{emptied}");
        std::fs::remove_file(&db).expect("remove");
        let removed = store.generation().expect_err("removed").to_string();
        assert!(removed.contains("was removed"), "{removed}");
        drop(with_tenants(&db, &[]));
        let replaced = store.generation().expect_err("replaced").to_string();
        assert!(replaced.contains("was replaced by another file"), "{replaced}");
    }
}
