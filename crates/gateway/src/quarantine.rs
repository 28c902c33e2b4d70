//! The quarantine: messages held for some or all of their recipients because a tenant's
//! policy said so (a DMARC failure, a spoofed domain of its own, the scanner's spam
//! verdict), kept in `<data_dir>/quarantine/` until an admin releases or deletes them or
//! their retention ends (15 days by default). Not to be confused with the spool's
//! `quarantine/` folder of damaged bytes.
//!
//! Each held message is two files: `<id>.eml` (the message as it would have been spooled,
//! headers included) and `<id>.json` (envelope, tenants, reasons, times, state). Holding
//! writes and syncs both before the session's `250`. A release is exactly once: the entry
//! goes `held` -> `releasing` (synced, with the release's timestamp) -> the message is
//! spooled with that timestamp as its arrival -> `released` (synced) -> the queue manager
//! is told. A crash between spooling and `released` leaves a `releasing` entry; at start,
//! [`Quarantine::reconcile`] finds its message among the spool's recovered ones (same
//! arrival time, sender and recipients) before the queue manager runs and finishes the
//! release, or puts it back to `held` when the spool never got it. A second release of the
//! same entry is refused.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use smtp_wire::{Address, ClientInfo, Envelope, Recipient, ReversePath};

/// Entries listed at most per call.
pub const LIST_MAX: usize = 10_000;
/// Bytes of a message shown by a preview.
pub const PREVIEW_BYTES_MAX: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("cannot use the quarantine folder {path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("no held message {0} in the quarantine (it may have been deleted or expired)")]
    NotFound(String),
    #[error("message {id} was already released at unix time {at} by {by}; it is delivered once only")]
    AlreadyReleased { id: String, at: u64, by: String },
    #[error("message {0} is being released right now")]
    Releasing(String),
    #[error("quarantine entry {path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("{0:?} is not a quarantine id")]
    BadId(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Held,
    Releasing,
    Released,
}

/// A held message's record (`<id>.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub held_at_unix_s: u64,
    pub expires_at_unix_s: u64,
    /// The tenants of the held recipients (whose admins may see it).
    pub tenants: Vec<String>,
    pub sender: String,
    pub recipients: Vec<String>,
    pub client_ip: String,
    pub helo: String,
    pub subject: String,
    pub size: u64,
    /// What the policy acted on, e.g. `dmarc=fail (p=reject) header.from=bank.example`.
    pub reasons: Vec<String>,
    pub state: State,
    #[serde(default)]
    pub releasing_at_unix_ms: Option<u64>,
    #[serde(default)]
    pub released_by: Option<String>,
    #[serde(default)]
    pub released_at_unix_s: Option<u64>,
    #[serde(default)]
    pub spool_id: Option<String>,
}

impl Entry {
    /// The envelope the message is released with (DSN parameters are not kept).
    pub fn envelope(&self) -> Envelope {
        let sender = match self.sender.rsplit_once('@') {
            Some((local, domain)) => ReversePath::Mailbox(Address::new(local, domain)),
            None => ReversePath::Null,
        };
        let recipients = self
            .recipients
            .iter()
            .filter_map(|r| r.rsplit_once('@'))
            .map(|(local, domain)| Recipient::new(Address::new(local, domain)))
            .collect();
        let ip = self.client_ip.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
        Envelope::new(sender, recipients, ClientInfo::new(ip, self.helo.clone()))
    }
}

/// What to hold.
#[derive(Debug)]
pub struct Hold<'a> {
    pub envelope: &'a Envelope,
    pub tenants: Vec<String>,
    pub reasons: Vec<String>,
    pub data: &'a [u8],
}

#[derive(Debug)]
pub struct Quarantine {
    dir: PathBuf,
    retention_s: u64,
    /// One release or delete at a time, so two cannot both see `held`.
    changing: Mutex<()>,
}

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

fn now() -> std::time::Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 40 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Quarantine {
    /// The quarantine in `dir` (created when missing), keeping entries `retention_s`.
    pub fn open(dir: PathBuf, retention_s: u64) -> Result<Quarantine, QuarantineError> {
        fs::create_dir_all(&dir).map_err(|error| QuarantineError::Io { path: dir.clone(), error })?;
        Ok(Quarantine { dir, retention_s, changing: Mutex::new(()) })
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> QuarantineError + use<> {
        let path = path.to_path_buf();
        move |error| QuarantineError::Io { path, error }
    }

    fn paths(&self, id: &str) -> Result<(PathBuf, PathBuf), QuarantineError> {
        if !valid_id(id) {
            return Err(QuarantineError::BadId(id.to_string()));
        }
        Ok((self.dir.join(format!("{id}.eml")), self.dir.join(format!("{id}.json"))))
    }

    /// Holds a message durably (both files synced, then the folder); its id.
    pub fn hold(&self, hold: Hold<'_>) -> Result<String, QuarantineError> {
        let at = now();
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let id =
            format!("{:013x}{:05x}{:03x}", at.as_millis(), at.subsec_nanos() & 0xfffff, sequence & 0xfff);
        let (eml, json) = self.paths(&id)?;
        let envelope = hold.envelope;
        let entry = Entry {
            id: id.clone(),
            held_at_unix_s: at.as_secs(),
            expires_at_unix_s: at.as_secs() + self.retention_s,
            tenants: hold.tenants,
            sender: match &envelope.sender {
                ReversePath::Mailbox(a) => a.to_string(),
                ReversePath::Null => String::new(),
            },
            recipients: envelope.recipients.iter().map(|r| r.address.to_string()).collect(),
            client_ip: envelope.client.ip.to_string(),
            helo: envelope.client.helo.clone(),
            subject: subject(hold.data),
            size: hold.data.len() as u64,
            reasons: hold.reasons,
            state: State::Held,
            releasing_at_unix_ms: None,
            released_by: None,
            released_at_unix_s: None,
            spool_id: None,
        };
        write_synced(&eml, hold.data).map_err(self.io(&eml))?;
        self.write_entry(&json, &entry)?;
        Ok(id)
    }

    fn write_entry(&self, path: &Path, entry: &Entry) -> Result<(), QuarantineError> {
        let text = serde_json::to_vec_pretty(entry)
            .map_err(|e| QuarantineError::Damaged { path: path.to_path_buf(), reason: e.to_string() })?;
        let tmp = path.with_extension("json.tmp");
        write_synced(&tmp, &text).map_err(self.io(&tmp))?;
        fs::rename(&tmp, path).map_err(self.io(path))?;
        fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(self.io(&self.dir))
    }

    /// One entry.
    pub fn entry(&self, id: &str) -> Result<Entry, QuarantineError> {
        let (_, json) = self.paths(id)?;
        read_entry(&json)
    }

    /// Entries (held and being released first, newest first), at most [`LIST_MAX`].
    pub fn list(&self) -> Result<Vec<Entry>, QuarantineError> {
        let mut entries = Vec::new();
        for item in fs::read_dir(&self.dir).map_err(self.io(&self.dir))? {
            let path = item.map_err(self.io(&self.dir))?.path();
            if path.extension().is_some_and(|e| e == "json") {
                match read_entry(&path) {
                    Ok(entry) => entries.push(entry),
                    Err(e) => tracing::warn!(error = %e, "quarantine entry skipped"),
                }
            }
        }
        entries.sort_by(|a, b| {
            (a.state == State::Released, b.held_at_unix_s)
                .cmp(&(b.state == State::Released, a.held_at_unix_s))
        });
        entries.truncate(LIST_MAX);
        Ok(entries)
    }

    /// The message's first [`PREVIEW_BYTES_MAX`] bytes (headers and the start of the text).
    pub fn preview(&self, id: &str) -> Result<Vec<u8>, QuarantineError> {
        self.message(id, PREVIEW_BYTES_MAX)
    }

    /// The message's first `bytes_max` bytes (never more is read).
    pub fn message(&self, id: &str, bytes_max: usize) -> Result<Vec<u8>, QuarantineError> {
        use std::io::Read;
        let (eml, _) = self.paths(id)?;
        let failed = |error: std::io::Error| match error.kind() {
            std::io::ErrorKind::NotFound => QuarantineError::NotFound(id.to_string()),
            _ => QuarantineError::Io { path: eml.clone(), error },
        };
        let file = fs::File::open(&eml).map_err(failed)?;
        let mut data = Vec::new();
        file.take(bytes_max as u64).read_to_end(&mut data).map_err(failed)?;
        Ok(data)
    }

    /// Deletes a held entry; `Ok(entry)` as it was.
    pub fn delete(&self, id: &str) -> Result<Entry, QuarantineError> {
        let _changing = self.changing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (eml, json) = self.paths(id)?;
        let entry = read_entry(&json)?;
        if entry.state == State::Releasing {
            return Err(QuarantineError::Releasing(id.to_string()));
        }
        remove_if_present(&eml).map_err(self.io(&eml))?;
        remove_if_present(&json).map_err(self.io(&json))?;
        Ok(entry)
    }

    /// The first step of a release: marks the entry `releasing` (synced) and returns it with
    /// the message. The caller spools it with `releasing_at_unix_ms` as its arrival time,
    /// then calls [`Quarantine::released`] (or [`Quarantine::release_failed`]).
    pub fn begin_release(&self, id: &str) -> Result<(Entry, Vec<u8>), QuarantineError> {
        let _changing = self.changing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (eml, json) = self.paths(id)?;
        let mut entry = read_entry(&json)?;
        match entry.state {
            State::Held => {}
            State::Releasing => return Err(QuarantineError::Releasing(id.to_string())),
            State::Released => {
                return Err(QuarantineError::AlreadyReleased {
                    id: id.to_string(),
                    at: entry.released_at_unix_s.unwrap_or(0),
                    by: entry.released_by.clone().unwrap_or_default(),
                });
            }
        }
        let data = fs::read(&eml).map_err(self.io(&eml))?;
        entry.state = State::Releasing;
        entry.releasing_at_unix_ms = Some(now().as_millis() as u64);
        self.write_entry(&json, &entry)?;
        Ok((entry, data))
    }

    /// The release's message is in the spool as `spool_id`: the entry becomes `released`
    /// (kept as a record until its retention ends) and its message file goes.
    pub fn released(&self, mut entry: Entry, by: &str, spool_id: &str) -> Result<Entry, QuarantineError> {
        let (eml, json) = self.paths(&entry.id)?;
        entry.state = State::Released;
        entry.released_by = Some(by.to_string());
        entry.released_at_unix_s = Some(now().as_secs());
        entry.spool_id = Some(spool_id.to_string());
        self.write_entry(&json, &entry)?;
        remove_if_present(&eml).map_err(self.io(&eml))?;
        Ok(entry)
    }

    /// The spool refused the release: the entry is held again.
    pub fn release_failed(&self, mut entry: Entry) -> Result<(), QuarantineError> {
        let (_, json) = self.paths(&entry.id)?;
        entry.state = State::Held;
        entry.releasing_at_unix_ms = None;
        self.write_entry(&json, &entry)
    }

    /// At start, before delivery runs: finishes releases a crash interrupted. `spooled`
    /// tells whether the spool holds a message with this arrival time, sender and
    /// recipients (and its id).
    pub fn reconcile(
        &self,
        spooled: impl Fn(u64, &Envelope) -> Option<String>,
    ) -> Result<usize, QuarantineError> {
        let mut finished = 0;
        for entry in self.list()?.into_iter().filter(|e| e.state == State::Releasing) {
            let at = entry.releasing_at_unix_ms.unwrap_or(0);
            match spooled(at, &entry.envelope()) {
                Some(spool_id) => {
                    tracing::info!(quarantine_id = %entry.id, msg_id = %spool_id, "interrupted quarantine release finished");
                    self.released(entry, "release interrupted by a restart", &spool_id)?;
                    finished += 1;
                }
                None => {
                    tracing::warn!(quarantine_id = %entry.id, "interrupted quarantine release never reached the spool; the message is held again");
                    self.release_failed(entry)?;
                }
            }
        }
        Ok(finished)
    }

    /// Removes entries whose retention ended (held or released); how many.
    pub fn expire(&self, now_unix_s: u64) -> Result<usize, QuarantineError> {
        let _changing = self.changing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut removed = 0;
        for entry in self.list()? {
            if entry.expires_at_unix_s > now_unix_s || entry.state == State::Releasing {
                continue;
            }
            let (eml, json) = self.paths(&entry.id)?;
            remove_if_present(&eml).map_err(self.io(&eml))?;
            remove_if_present(&json).map_err(self.io(&json))?;
            tracing::info!(quarantine_id = %entry.id, state = ?entry.state, "quarantine entry expired and removed");
            removed += 1;
        }
        Ok(removed)
    }
}

fn read_entry(path: &Path) -> Result<Entry, QuarantineError> {
    let text = fs::read(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => QuarantineError::NotFound(
            path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        ),
        _ => QuarantineError::Io { path: path.to_path_buf(), error },
    })?;
    serde_json::from_slice(&text)
        .map_err(|e| QuarantineError::Damaged { path: path.to_path_buf(), reason: e.to_string() })
}

fn write_synced(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(data)?;
    file.sync_all()
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The Subject header's raw value (unfolded, at most 200 characters) for listings.
fn subject(data: &[u8]) -> String {
    let mut subject: Option<String> = None;
    for line in data.split(|b| *b == b'\n').take(1000) {
        let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned();
        if line.is_empty() {
            break;
        }
        match subject.as_mut() {
            Some(s) if line.starts_with([' ', '\t']) => s.push_str(&line),
            Some(_) => break,
            None if line.len() >= 8 && line[..8].eq_ignore_ascii_case("subject:") => {
                subject = Some(line[8..].trim().to_string())
            }
            None => {}
        }
    }
    subject.unwrap_or_default().chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope::new(
            ReversePath::Mailbox(Address::new("ann", "bank.example")),
            vec![Recipient::new(Address::new("bob", "acme.example"))],
            ClientInfo::new("192.0.2.7".parse().unwrap(), "mx.bank.example"),
        )
    }

    fn held(q: &Quarantine) -> String {
        let env = envelope();
        q.hold(Hold {
            envelope: &env,
            tenants: vec!["acme".into()],
            reasons: vec!["spoofed header.from=acme.example".into()],
            data: b"Subject: Invoice\r\n overdue\r\n\r\nPay now\r\n",
        })
        .unwrap()
    }

    #[test]
    fn a_held_message_is_listed_previewed_and_released_once() {
        let dir = tempfile::tempdir().unwrap();
        let q = Quarantine::open(dir.path().join("quarantine"), 15 * 86_400).unwrap();
        let id = held(&q);
        let listed = q.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].subject, "Invoice overdue");
        assert_eq!(listed[0].envelope(), envelope());
        assert!(q.preview(&id).unwrap().starts_with(b"Subject: Invoice"));
        assert_eq!(q.message(&id, 8).unwrap(), b"Subject:", "never more than asked is read");
        let (entry, data) = q.begin_release(&id).unwrap();
        assert!(data.ends_with(b"Pay now\r\n"));
        assert!(matches!(q.begin_release(&id), Err(QuarantineError::Releasing(_))));
        assert!(matches!(q.delete(&id), Err(QuarantineError::Releasing(_))));
        q.released(entry, "os:admin", "abc").unwrap();
        match q.begin_release(&id) {
            Err(QuarantineError::AlreadyReleased { by, .. }) => assert_eq!(by, "os:admin"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(q.preview(&id), Err(QuarantineError::NotFound(_))));
    }

    #[test]
    fn an_interrupted_release_is_finished_or_held_again() {
        let dir = tempfile::tempdir().unwrap();
        let q = Quarantine::open(dir.path().to_path_buf(), 100).unwrap();
        let spooled_one = held(&q);
        let mut other = envelope();
        other.recipients = vec![Recipient::new(Address::new("carol", "acme.example"))];
        let lost_one =
            q.hold(Hold { envelope: &other, tenants: vec![], reasons: vec![], data: b"\r\nx" }).unwrap();
        let (entry, _) = q.begin_release(&spooled_one).unwrap();
        q.begin_release(&lost_one).unwrap();
        let at = entry.releasing_at_unix_ms.unwrap();
        let finished =
            q.reconcile(|t, env| (t == at && env == &envelope()).then(|| "spooled".into())).unwrap();
        assert_eq!(finished, 1);
        assert_eq!(q.entry(&spooled_one).unwrap().state, State::Released);
        assert_eq!(q.entry(&spooled_one).unwrap().spool_id.as_deref(), Some("spooled"));
        assert_eq!(q.entry(&lost_one).unwrap().state, State::Held);
        assert!(q.begin_release(&lost_one).is_ok(), "held again, it can be released");
    }

    #[test]
    fn retention_removes_expired_entries_and_ids_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let q = Quarantine::open(dir.path().to_path_buf(), 100).unwrap();
        let id = held(&q);
        let held_at = q.entry(&id).unwrap().held_at_unix_s;
        assert_eq!(q.expire(held_at + 99).unwrap(), 0);
        assert_eq!(q.expire(held_at + 100).unwrap(), 1);
        assert!(matches!(q.entry(&id), Err(QuarantineError::NotFound(_))));
        assert!(matches!(q.entry("../etc/passwd"), Err(QuarantineError::BadId(_))));
        assert!(q.list().unwrap().is_empty());
    }
}
