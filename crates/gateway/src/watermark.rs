//! What this node has seen of the tenant directory: the highest generation and the tenant
//! count of the last directory it trusted, kept in a small file of its data directory
//! (`directory-watermark`). A directory database that is emptied or replaced by an older
//! copy looks like a valid one with fewer tenants; compared with the watermark it is found
//! out, so the server refuses to start on it (or, running, stops trusting it) instead of
//! refusing every tenant's mail as a relay attempt.
//!
//! The file is written whenever a trusted directory's generation moves, each time to a
//! temporary file that is synced and renamed over the old one, so a crash leaves the old
//! watermark or the new one.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file name in the data directory.
pub const FILE_NAME: &str = "directory-watermark";

/// A directory's generation and tenant count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watermark {
    pub generation: u64,
    pub tenants: u64,
}

/// The watermark file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WatermarkError {
    #[error("cannot read the directory watermark {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error(
        "the directory watermark {path} is damaged ({reason}); remove it and start the server once to write it again"
    )]
    Damaged { path: PathBuf, reason: String },
    #[error("cannot write the directory watermark {path}: {error}")]
    Write { path: PathBuf, error: std::io::Error },
}

/// `1 tenant`, `3 tenants`.
fn tenants(n: u64) -> String {
    if n == 1 { "1 tenant".into() } else { format!("{n} tenants") }
}

impl Watermark {
    /// Why a directory showing `self` cannot be the one a node that recorded `seen` used:
    /// it lost every tenant, or its generation is older (a generation only grows).
    pub fn younger_than(&self, seen: &Watermark) -> Option<String> {
        let (found, was) = (self, seen);
        if found.tenants == 0 && was.tenants > 0 {
            return Some(format!(
                "it holds no tenant (generation {}), but this node last saw {} at generation {}",
                found.generation,
                tenants(was.tenants),
                was.generation
            ));
        }
        (found.generation < was.generation).then(|| {
            format!(
                "its generation {} ({}) is older than generation {} ({}) this node last saw",
                found.generation,
                tenants(found.tenants),
                was.generation,
                tenants(was.tenants)
            )
        })
    }

    /// Reads the watermark at `path`; `None` when there is none yet.
    pub fn read(path: &Path) -> Result<Option<Watermark>, WatermarkError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(WatermarkError::Read { path: path.to_path_buf(), error }),
        };
        let damaged =
            |reason: &str| WatermarkError::Damaged { path: path.to_path_buf(), reason: reason.into() };
        let mut generation = None;
        let mut tenants = None;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (key, value) = line.split_once('=').ok_or_else(|| damaged("a line without `=`"))?;
            let value: u64 = value.trim().parse().map_err(|_| damaged("a value that is not a number"))?;
            match key.trim() {
                "generation" => generation = Some(value),
                "tenants" => tenants = Some(value),
                _ => return Err(damaged("an unknown key")),
            }
        }
        match (generation, tenants) {
            (Some(generation), Some(tenants)) => Ok(Some(Watermark { generation, tenants })),
            _ => Err(damaged("generation or tenants is missing")),
        }
    }

    /// Replaces the watermark at `path` durably.
    pub fn write(&self, path: &Path) -> Result<(), WatermarkError> {
        let error = |error| WatermarkError::Write { path: path.to_path_buf(), error };
        let partial = path.with_extension("partial");
        let text = format!(
            "# What this node last saw of its tenant directory (sluice.db). `sluice serve` refuses\n\
             # to start on a directory that holds no tenant or is older than this: restore it\n\
             # (`sluice restore FILE`) or accept it (`sluice serve --accept-directory`).\n\
             generation = {}\ntenants = {}\n",
            self.generation, self.tenants
        );
        let mut file = File::create(&partial).map_err(error)?;
        file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(error)?;
        std::fs::rename(&partial, path).map_err(error)?;
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        File::open(folder).and_then(|f| f.sync_all()).map_err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEEN: Watermark = Watermark { generation: 57, tenants: 3 };

    #[test]
    fn an_emptied_or_older_directory_is_younger_than_what_was_seen() {
        let cases = [
            (Watermark { generation: 0, tenants: 0 }, Some("holds no tenant")),
            (Watermark { generation: 90, tenants: 0 }, Some("holds no tenant")),
            (Watermark { generation: 40, tenants: 1 }, Some("its generation 40 (1 tenant) is older")),
            (Watermark { generation: 57, tenants: 3 }, None),
            (Watermark { generation: 60, tenants: 2 }, None),
        ];
        for (found, expected) in cases {
            let why = found.younger_than(&SEEN);
            match expected {
                Some(text) => assert!(why.as_deref().is_some_and(|w| w.contains(text)), "{found:?}: {why:?}"),
                None => assert_eq!(why, None, "{found:?}"),
            }
        }
        let never_had_tenants = Watermark { generation: 4, tenants: 0 };
        assert_eq!(Watermark { generation: 4, tenants: 0 }.younger_than(&never_had_tenants), None);
    }

    #[test]
    fn written_then_read_back_and_damage_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        assert_eq!(Watermark::read(&path).expect("none yet"), None);
        SEEN.write(&path).expect("write");
        assert_eq!(Watermark::read(&path).expect("read"), Some(SEEN));
        std::fs::write(&path, "generation = lots\n").expect("damage");
        let damaged = Watermark::read(&path).expect_err("damaged").to_string();
        assert!(damaged.contains(FILE_NAME) && damaged.contains("not a number"), "{damaged}");
    }
}
