//! Moving damaged bytes aside at recovery: into `<spool>/quarantine/`, each with a short text
//! note beside it, made durable before the spool goes on without them. Nothing is ever
//! deleted from here; the operator reads the notes and removes the files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::report::Quarantined;

/// Bytes copied per read and write.
const COPY_CHUNK_BYTES: usize = 1 << 20;

/// What the note beside quarantined bytes says.
#[derive(Debug)]
pub(crate) struct Note<'a> {
    pub(crate) source: &'a Path,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    pub(crate) reason: &'static str,
    /// What is known of the records in the bytes.
    pub(crate) records: String,
}

impl Note<'_> {
    fn text(&self) -> String {
        format!(
            "Sluice spool quarantine\n\
             source: {}\noffset: {}\nlength: {}\nreason: {}\nrecords: {}\n\n\
             Spool recovery found these bytes damaged and moved them here. The spool went on\n\
             without them; the server's log names the messages that were lost. Keep this file\n\
             for as long as it may help to find out what happened, then delete it.\n",
            self.source.display(),
            self.offset,
            self.len,
            self.reason,
            self.records,
        )
    }

    fn quarantined(&self, file: PathBuf) -> Quarantined {
        Quarantined {
            source: self.source.to_path_buf(),
            offset: self.offset,
            len: self.len,
            file,
            reason: self.reason,
        }
    }
}

/// Copies `note.len` bytes at `note.offset` of `file` into `<dir>/<name>`, with the note in
/// `<dir>/<name>.txt`; both durable when this returns. If `<name>` exists (an earlier
/// recovery copied these bytes and crashed before it finished), that copy is kept: it holds
/// the bytes as they were before anything was overwritten.
pub(crate) fn copy_range(dir: &Path, name: &str, file: &File, note: &Note<'_>) -> io::Result<Quarantined> {
    fs::create_dir_all(dir)?;
    let path = dir.join(name);
    match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(out) => {
            copy_bytes(file, note.offset, note.len, &out)?;
            out.sync_all()?;
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    write_note(&path, note)?;
    File::open(dir)?.sync_all()?;
    Ok(note.quarantined(path))
}

/// Moves the whole file `source` into `<dir>/<name>` (`<name>-2`, `-3`... when taken), with
/// a note; durable in both folders when this returns.
pub(crate) fn move_file(dir: &Path, name: &str, note: &Note<'_>) -> io::Result<Quarantined> {
    fs::create_dir_all(dir)?;
    let mut path = dir.join(name);
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = dir.join(format!("{name}-{n}"));
    }
    fs::rename(note.source, &path)?;
    write_note(&path, note)?;
    File::open(dir)?.sync_all()?;
    if let Some(parent) = note.source.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(note.quarantined(path))
}

fn copy_bytes(from: &File, offset: u64, len: u64, to: &File) -> io::Result<()> {
    let mut buf = vec![0u8; COPY_CHUNK_BYTES.min(usize::try_from(len).unwrap_or(usize::MAX))];
    let mut done = 0u64;
    while done < len {
        let n = buf.len().min(usize::try_from(len - done).unwrap_or(usize::MAX));
        from.read_exact_at(&mut buf[..n], offset + done)?;
        to.write_all_at(&buf[..n], done)?;
        done += n as u64;
    }
    Ok(())
}

fn write_note(path: &Path, note: &Note<'_>) -> io::Result<()> {
    let mut name = path.as_os_str().to_owned();
    name.push(".txt");
    let mut file = File::create(PathBuf::from(name))?;
    file.write_all(note.text().as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_copied_once_and_a_file_moved_under_a_free_name() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("quarantine");
        let source = dir.path().join("seg.log");
        fs::write(&source, b"0123456789").unwrap();
        let file = File::open(&source).unwrap();
        let note = |offset, len| Note { source: &source, offset, len, reason: "test", records: "one".into() };
        let copied = copy_range(&q, "a.bin", &file, &note(2, 5)).unwrap();
        assert_eq!(fs::read(&copied.file).unwrap(), b"23456");
        let text = fs::read_to_string(q.join("a.bin.txt")).unwrap();
        assert!(text.contains("offset: 2\nlength: 5\nreason: test\nrecords: one"), "{text}");
        // A second copy of the same range keeps the first one's bytes.
        fs::write(&source, b"xxxxxxxxxx").unwrap();
        copy_range(&q, "a.bin", &file, &note(2, 5)).unwrap();
        assert_eq!(fs::read(q.join("a.bin")).unwrap(), b"23456");
        let moved = move_file(&q, "a.bin", &note(0, 10)).unwrap();
        assert_eq!(moved.file, q.join("a.bin-2"));
        assert_eq!(fs::read(&moved.file).unwrap(), b"xxxxxxxxxx");
        assert!(!source.exists());
        assert!(q.join("a.bin-2.txt").exists());
    }
}
