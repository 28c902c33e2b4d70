//! Crash points: the spool runs on a storage that crashes at its N-th operation (that one
//! half done, none after it), for every N of a run that writes small and streamed messages
//! and finishes one. A crash is either a killed process (everything written stays) or a
//! power loss (only what was synced stays: file contents as of their last sync, names as of
//! their folder's last sync). After each, a real recovery must find every message whose
//! callback said durable, complete; any other message either absent or complete; no data
//! file without its message; and nothing reported as damage.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::{envelope, wait};
use crate::segment::{FsStorage, SegmentFile, Storage};
use crate::{MessageId, Spool, SpoolConfig, SpoolError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Crash {
    Kill,
    PowerLoss,
}

/// What survives a power loss.
#[derive(Debug, Default)]
struct Durable {
    /// File contents as of their last sync (absent: never synced, so empty).
    contents: HashMap<PathBuf, Vec<u8>>,
    /// Names in each folder as of its last sync.
    names: HashMap<PathBuf, HashSet<OsString>>,
    /// Every file the storage touched.
    touched: HashSet<PathBuf>,
}

#[derive(Debug)]
struct Machine {
    ops: AtomicUsize,
    crash_at: usize,
    crashed: AtomicBool,
    durable: Mutex<Durable>,
}

impl Machine {
    fn new(crash_at: usize, dirs: &[PathBuf]) -> Arc<Machine> {
        let mut durable = Durable::default();
        for dir in dirs {
            let names = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
            durable.names.insert(dir.clone(), names);
        }
        Arc::new(Machine {
            ops: AtomicUsize::new(0),
            crash_at,
            crashed: AtomicBool::new(false),
            durable: Mutex::new(durable),
        })
    }

    /// Counts an operation; `Err` from the crashing one on.
    fn step(&self) -> io::Result<()> {
        if self.ops.fetch_add(1, Ordering::SeqCst) + 1 >= self.crash_at {
            self.crashed.store(true, Ordering::SeqCst);
        }
        match self.crashed.load(Ordering::SeqCst) {
            true => Err(io::Error::other("crashed")),
            false => Ok(()),
        }
    }

    fn durable(&self) -> std::sync::MutexGuard<'_, Durable> {
        self.durable.lock().unwrap()
    }

    /// Puts the files back as a power loss at the crash would have left them.
    fn power_loss(&self) {
        let durable = self.durable();
        for path in &durable.touched {
            let (dir, name) = (path.parent().unwrap(), path.file_name().unwrap());
            match durable.names.get(dir).is_some_and(|names| names.contains(name)) {
                true => {
                    std::fs::write(path, durable.contents.get(path).map_or(&[][..], Vec::as_slice)).unwrap()
                }
                false => {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
}

struct CrashFile {
    path: PathBuf,
    file: Box<dyn SegmentFile>,
    machine: Arc<Machine>,
}

impl SegmentFile for CrashFile {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        if let Err(e) = self.machine.step() {
            // The crashing write got half way.
            if self.machine.ops.load(Ordering::SeqCst) == self.machine.crash_at {
                self.file.write_all_at(&buf[..buf.len() / 2], offset)?;
            }
            return Err(e);
        }
        self.file.write_all_at(buf, offset)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.machine.step()?;
        self.file.sync_data()?;
        let contents = std::fs::read(&self.path)?;
        self.machine.durable().contents.insert(self.path.clone(), contents);
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.machine.step()?;
        self.file.set_len(len)
    }
}

struct CrashStorage(Arc<Machine>);

impl CrashStorage {
    fn wrap(&self, path: &Path, file: Box<dyn SegmentFile>) -> Box<dyn SegmentFile> {
        self.0.durable().touched.insert(path.to_path_buf());
        Box::new(CrashFile { path: path.to_path_buf(), file, machine: Arc::clone(&self.0) })
    }
}

impl Storage for CrashStorage {
    fn create(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        self.0.step()?;
        let file = FsStorage.create(path)?;
        self.0.durable().contents.remove(path);
        Ok(self.wrap(path, file))
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        self.0.step()?;
        let file = FsStorage.open(path)?;
        let contents = std::fs::read(path)?;
        self.0.durable().contents.insert(path.to_path_buf(), contents);
        Ok(self.wrap(path, file))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.0.step()?;
        FsStorage.sync_dir(dir)?;
        let names = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.file_name())).collect::<io::Result<_>>()?;
        self.0.durable().names.insert(dir.to_path_buf(), names);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.0.step()?;
        self.0.durable().touched.insert(path.to_path_buf());
        FsStorage.remove(path)
    }
}

fn body(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(seed)).collect()
}

fn config(dir: &Path) -> SpoolConfig {
    SpoolConfig { inline_bytes_max: 4096, ..SpoolConfig::new(dir) }
}

/// Streams `data` in uneven chunks and submits it; `Err` as soon as anything fails.
fn stream(spool: &Spool, data: &[u8]) -> Result<MessageId, SpoolError> {
    let mut writer = spool.begin_message();
    for chunk in data.chunks(50_000).flat_map(|c| c.chunks(17_000)) {
        writer.write_all(chunk).map_err(|e| SpoolError::Io(Arc::new(e)))?;
    }
    wait(|cb| writer.submit(envelope(1), 1, cb))
}

/// The run: returns the data of the messages acknowledged durable, and whether the
/// completion of the first one was sent (its record may survive a crash even when its
/// callback failed). Stops at the first failure, as a crashed process would.
fn run(spool: &Spool, contents: &[Vec<u8>]) -> (HashMap<MessageId, Vec<u8>>, bool) {
    let mut acked = HashMap::new();
    let mut completing = false;
    let mut steps = || -> Result<(), SpoolError> {
        let small = wait(|cb| spool.enqueue(envelope(2), 1, contents[0].clone(), cb))?;
        acked.insert(small, contents[0].clone());
        for data in &contents[1..] {
            let id = stream(spool, data)?;
            acked.insert(id, data.clone());
        }
        completing = true;
        wait(|cb| spool.complete(small, &[0, 1], cb))
    };
    let _ = steps();
    (acked, completing)
}

/// Crashes the run at its `crash_at`-th storage operation; returns false once the run
/// got through without reaching it.
fn crash_and_recover(crash_at: usize, crash: Crash, contents: &[Vec<u8>]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = ["segments", "data"].iter().map(|d| dir.path().join(d)).collect();
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    let machine = Machine::new(crash_at, &dirs);
    let storage = Arc::new(CrashStorage(Arc::clone(&machine)));
    let (acked, completing) = match Spool::open_with_storage(config(dir.path()), storage) {
        Ok(opened) => {
            let result = run(&opened.spool, contents);
            opened.spool.close();
            result
        }
        Err(_) => (HashMap::new(), false),
    };
    let crashed = machine.crashed.load(Ordering::SeqCst);
    if crash == Crash::PowerLoss {
        machine.power_loss();
    }
    let what = format!("{crash:?} at operation {crash_at}");
    let opened = Spool::open(SpoolConfig::new(dir.path())).unwrap();
    assert!(opened.report.quarantined.is_empty() && opened.report.is_clean(), "{what}: {:?}", opened.report);
    let found: HashMap<MessageId, Vec<u8>> =
        opened.messages.iter().map(|m| (m.id, opened.spool.read_data(m.id).unwrap())).collect();
    for (id, data) in &acked {
        match found.get(id) {
            Some(read) => assert_eq!(read, data, "{what}: {id} not complete"),
            None => assert!(completing && *data == contents[0], "{what}: acknowledged {id} lost"),
        }
    }
    for (id, data) in &found {
        assert!(contents.contains(data), "{what}: {id} is not a complete message");
    }
    let mut files: Vec<String> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut owned: Vec<String> =
        found.iter().filter(|(_, data)| data.len() > 4096).map(|(id, _)| format!("{id}.eml")).collect();
    owned.sort();
    assert_eq!(files, owned, "{what}: data files");
    crashed
}

#[test]
fn a_crash_at_any_operation_leaves_each_message_absent_or_complete() {
    let contents = vec![body(3, 500), body(5, 300_000), body(7, 3000), body(11, 70_000)];
    for crash in [Crash::Kill, Crash::PowerLoss] {
        let mut crash_at = 1;
        while crash_and_recover(crash_at, crash, &contents) {
            crash_at += 1;
        }
        // The last run went through untouched: every operation was a crash point before.
        assert!(crash_at > 15, "{crash:?}: only {crash_at} operations");
    }
}
