//! Where the throttle history lives between restarts. The engine writes snapshots to any
//! `Write`; a [`HistoryStore`] decides where they go. The embedded store keeps a full
//! snapshot plus the deltas written since, as files in the data directory; a fleet store
//! (Redis) implements the same trait. The decision counters (`throttle stats`) are saved
//! beside the history, so they too survive a restart.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::PoisonError;

use throttle::{Engine, Policy};

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("throttle history {path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("throttle history {path} is unreadable: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

/// Persistence of the throttle engine's history.
pub trait HistoryStore: Send + Sync + std::fmt::Debug {
    /// The saved history under `policy`, or an empty engine when there is none.
    fn load(&self, policy: Policy) -> Result<Engine, HistoryError>;
    /// Saves every key; later loads need nothing older.
    fn save_full(&self, engine: &Engine) -> Result<(), HistoryError>;
    /// Saves the keys changed since the previous save.
    fn save_delta(&self, engine: &Engine) -> Result<(), HistoryError>;
    /// The decision counters saved last (`name value` pairs, as `throttle stats` names
    /// them); empty when none were. A store that keeps none needs not implement it.
    fn load_counters(&self) -> Result<Vec<(String, u64)>, HistoryError> {
        Ok(Vec::new())
    }
    /// Saves the decision counters, replacing the previous ones.
    fn save_counters(&self, counters: &[(String, u64)]) -> Result<(), HistoryError> {
        let _ = counters;
        Ok(())
    }
}

/// `<dir>/history.full` and `<dir>/history.delta.<n>`, each written to a temporary file,
/// synced and renamed into place, so a crash leaves the previous state whole.
#[derive(Debug)]
pub struct FileHistoryStore {
    dir: PathBuf,
    next_delta: Mutex<u64>,
}

const FULL: &str = "history.full";
/// `name value` lines, as `throttle stats` prints them.
const COUNTERS: &str = "counters.txt";
const DELTA_PREFIX: &str = "history.delta.";

impl FileHistoryStore {
    pub fn new(dir: PathBuf) -> FileHistoryStore {
        FileHistoryStore { dir, next_delta: Mutex::new(1) }
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> HistoryError {
        let path = path.to_path_buf();
        move |error| HistoryError::Io { path, error }
    }

    /// Delta files in the order they were written.
    fn deltas(&self) -> Result<Vec<(u64, PathBuf)>, HistoryError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(&self.dir)(e)),
        };
        let mut deltas: Vec<(u64, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                let n = name.strip_prefix(DELTA_PREFIX)?.parse::<u64>().ok()?;
                Some((n, e.path()))
            })
            .collect();
        deltas.sort();
        Ok(deltas)
    }

    fn write_atomically(
        &self,
        name: &str,
        write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
    ) -> Result<(), HistoryError> {
        fs::create_dir_all(&self.dir).map_err(self.io(&self.dir))?;
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let result = (|| {
            let mut out = BufWriter::new(File::create(&tmp)?);
            write(&mut out)?;
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_data()?;
            fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()
        })();
        result.map_err(self.io(&path))
    }
}

impl HistoryStore for FileHistoryStore {
    fn load(&self, policy: Policy) -> Result<Engine, HistoryError> {
        let full = self.dir.join(FULL);
        let engine = match File::open(&full) {
            Ok(file) => Engine::restore(&mut BufReader::new(file), policy)
                .map_err(|e| HistoryError::Corrupt { path: full.clone(), reason: e.to_string() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Engine::try_new(policy)
                .map_err(|e| HistoryError::Corrupt { path: full.clone(), reason: e.to_string() })?,
            Err(e) => return Err(self.io(&full)(e)),
        };
        let deltas = self.deltas()?;
        for (_, path) in &deltas {
            let applied = File::open(path)
                .map_err(|e| e.to_string())
                .and_then(|f| engine.apply_delta(&mut BufReader::new(f)).map_err(|e| e.to_string()));
            if let Err(reason) = applied {
                // Deltas are renamed into place whole, so this is damage, not a torn write:
                // keep what was read and say so.
                tracing::warn!(path = %path.display(), %reason, "skipping unreadable throttle history delta");
            }
        }
        let next = deltas.last().map_or(1, |(n, _)| n + 1);
        *self.next_delta.lock().unwrap_or_else(PoisonError::into_inner) = next;
        Ok(engine)
    }

    fn save_full(&self, engine: &Engine) -> Result<(), HistoryError> {
        let stale = self.deltas()?;
        self.write_atomically(FULL, |w| {
            engine.save(w)?;
            w.flush()
        })?;
        for (_, path) in stale {
            let _ = fs::remove_file(path);
        }
        Ok(())
    }

    fn save_delta(&self, engine: &Engine) -> Result<(), HistoryError> {
        let n = {
            let mut next = self.next_delta.lock().unwrap_or_else(PoisonError::into_inner);
            let n = *next;
            *next += 1;
            n
        };
        self.write_atomically(&format!("{DELTA_PREFIX}{n}"), |w| {
            engine.save_delta(w)?;
            w.flush()
        })
    }

    fn load_counters(&self) -> Result<Vec<(String, u64)>, HistoryError> {
        let path = self.dir.join(COUNTERS);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(&path)(e)),
        };
        let corrupt = |line: usize, problem: &str| HistoryError::Corrupt {
            path: path.clone(),
            reason: format!("line {line}: {problem}; expected `name value` lines"),
        };
        let mut counters = Vec::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let (name, value) = line.trim().rsplit_once(' ').ok_or_else(|| corrupt(i + 1, "no value"))?;
            let value = value.parse().map_err(|_| corrupt(i + 1, "the value is not a count"))?;
            counters.push((name.trim().to_string(), value));
        }
        Ok(counters)
    }

    fn save_counters(&self, counters: &[(String, u64)]) -> Result<(), HistoryError> {
        self.write_atomically(COUNTERS, |w| {
            for (name, value) in counters {
                writeln!(w, "{name} {value}")?;
            }
            w.flush()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_plus_deltas_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileHistoryStore::new(dir.path().join("throttle"));
        let engine = store.load(Policy::default()).unwrap();
        let ip = "198.51.100.1".parse().unwrap();
        engine.decide(ip, 50, 1_000);
        store.save_full(&engine).unwrap();
        engine.decide("198.51.100.2".parse().unwrap(), 20, 1_010);
        store.save_delta(&engine).unwrap();
        let restored = FileHistoryStore::new(dir.path().join("throttle")).load(Policy::default()).unwrap();
        assert_eq!(restored.tracked_keys(), engine.tracked_keys());
        assert_eq!(restored.peek(ip, 1_020), engine.peek(ip, 1_020));
        // A full save makes the deltas redundant.
        store.save_full(&engine).unwrap();
        assert_eq!(store.deltas().unwrap().len(), 0);
    }

    #[test]
    fn counters_round_trip_and_damage_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileHistoryStore::new(dir.path().join("throttle"));
        assert_eq!(store.load_counters().unwrap(), Vec::new(), "none saved yet");
        let counters = vec![
            ("throttle_recipients_accepted".to_string(), 42),
            ("throttle_recipients_deferred{token=\"AS501\"}".to_string(), 7),
        ];
        store.save_counters(&counters).unwrap();
        assert_eq!(FileHistoryStore::new(dir.path().join("throttle")).load_counters().unwrap(), counters);
        fs::write(dir.path().join("throttle").join(COUNTERS), "throttle_recipients_accepted 1\nx y\n")
            .unwrap();
        let e = store.load_counters().unwrap_err().to_string();
        assert!(e.contains("counters.txt") && e.contains("line 2"), "{e}");
    }
}
