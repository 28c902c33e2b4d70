//! The operator's throttle allow list: a text file of CIDRs, one per line, each optionally
//! followed by `# note`. The CLI edits it; the server reloads it when it changes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use throttle::Cidr;

#[derive(Debug, thiserror::Error)]
pub enum AllowListError {
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{path} line {line}: {text:?} is not a CIDR (e.g. 203.0.113.0/24 or 2001:db8::/48)")]
    Invalid { path: PathBuf, line: usize, text: String },
}

/// One entry with its note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    pub cidr: Cidr,
    pub note: String,
}

/// Reads the list; a missing file is an empty list.
pub fn read(path: &Path) -> Result<Vec<AllowEntry>, AllowListError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(AllowListError::Io { path: path.to_path_buf(), error }),
    };
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let (cidr, note) = match line.split_once('#') {
            Some((c, n)) => (c.trim(), n.trim()),
            None => (line.trim(), ""),
        };
        if cidr.is_empty() {
            continue;
        }
        let cidr = cidr.parse::<Cidr>().map_err(|_| AllowListError::Invalid {
            path: path.to_path_buf(),
            line: i + 1,
            text: cidr.to_string(),
        })?;
        entries.push(AllowEntry { cidr, note: note.to_string() });
    }
    Ok(entries)
}

/// Replaces the list atomically (temporary file, sync, rename).
pub fn write(path: &Path, entries: &[AllowEntry]) -> Result<(), AllowListError> {
    let io = |error| AllowListError::Io { path: path.to_path_buf(), error };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let mut text =
        String::from("# Sluice throttle allow list: never throttled. Managed by `sluice throttle allow`.\n");
    for e in entries {
        if e.note.is_empty() {
            text.push_str(&format!("{}\n", e.cidr));
        } else {
            text.push_str(&format!("{} # {}\n", e.cidr, e.note));
        }
    }
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_data()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(io)
}

/// Where the list lives under a data directory.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("throttle").join("allow.txt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("throttle/allow.txt");
        assert_eq!(read(&path).unwrap(), Vec::new());
        let entries = vec![
            AllowEntry { cidr: "203.0.113.0/24".parse().unwrap(), note: "partner relay".into() },
            AllowEntry { cidr: "2001:db8::/48".parse().unwrap(), note: String::new() },
        ];
        write(&path, &entries).unwrap();
        assert_eq!(read(&path).unwrap(), entries);
        fs::write(&path, "192.0.2.0/24\nnot-a-cidr # x\n").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("not-a-cidr"), "{err}");
    }
}
