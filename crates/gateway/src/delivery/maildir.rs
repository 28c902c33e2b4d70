//! Local delivery into Maildir folders (tmp -> new with fsync). A delivery attempt only
//! reports per-recipient outcomes; the queue manager decides what happens next.
//!
//! File names are derived from the spool id and the recipient index, so a delivery
//! repeated after a crash (delivered, but the spool's completion record was not yet
//! durable) finds its own earlier copy and does not deliver twice.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use smtp_wire::{Envelope, Recipient};

/// The Maildir folder name for a local part, or `None` when the local part cannot be a
/// local mailbox: quoted strings, routing characters (`%`, `!`, `@` — the percent hack and
/// bang paths), path separators and leading dots are refused so that no recipient can
/// reach outside its folder or be relayed on.
pub fn mailbox_name(local_part: &str) -> Option<String> {
    let name = local_part.to_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_alphanumeric() || "._+-=".contains(c));
    valid.then_some(name)
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("no local mailbox for <{0}>")]
    NoMailbox(String),
    #[error("maildir {path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    #[error("the delivery attempt panicked")]
    Panicked,
}

#[derive(Debug)]
pub struct MaildirDelivery {
    root: PathBuf,
    hostname: String,
    postmaster_domain: Option<String>,
    /// Mailbox folders known to exist with their tmp/new/cur, to skip the syscalls.
    ready: Mutex<HashSet<PathBuf>>,
}

/// One copy to deliver: recipient `index` of `message` into the Maildir folder `mailbox`
/// (the router's choice: an alias is delivered into its canonical mailbox, and the copy
/// keeps the address the sender used in `Delivered-To:`).
#[derive(Debug, Clone, Copy)]
pub struct MaildirCopy<'m, 'a> {
    pub message: &'m MaildirMessage<'a>,
    pub index: u32,
    pub mailbox: &'m Path,
}

fn new_dir(copy: &MaildirCopy<'_, '_>) -> PathBuf {
    copy.mailbox.join("new")
}

/// A message's content, written once per copy: from memory, or streamed from where it is
/// kept (a large message from the spool), so a large message is never held whole.
pub trait MessageSource: Sync + std::fmt::Debug {
    fn write_to(&self, out: &mut dyn Write) -> io::Result<()>;
}

impl MessageSource for Vec<u8> {
    fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(self)
    }
}

/// Copies `reader` into `out` through a buffer of a spool write chunk.
pub fn stream_to(reader: &mut dyn Read, out: &mut dyn Write) -> io::Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => out.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// One message to deliver, as the queue manager sees it.
#[derive(Debug)]
pub struct MaildirMessage<'a> {
    pub id: &'a str,
    pub received_at_unix_ms: u64,
    pub envelope: &'a Envelope,
    pub data: &'a dyn MessageSource,
    /// Look for a copy left by an earlier attempt before writing (after a crash or retry).
    pub check_existing: bool,
}

impl MaildirDelivery {
    pub fn new(root: PathBuf, hostname: &str, postmaster_domain: Option<String>) -> MaildirDelivery {
        // Maildir names must not contain '/' or ':'.
        let hostname = hostname.replace(['/', ':'], "_");
        MaildirDelivery { root, hostname, postmaster_domain, ready: Mutex::new(HashSet::new()) }
    }

    /// The folder for a recipient.
    pub fn mailbox_dir(&self, recipient: &Recipient) -> Result<PathBuf, DeliveryError> {
        let address = &recipient.address;
        let no_mailbox = || DeliveryError::NoMailbox(address.to_string());
        let domain = match address.domain.as_str() {
            "" => self.postmaster_domain.clone().ok_or_else(no_mailbox)?,
            // The directory's one form (IDN as A-labels), so `bücher.test` and
            // `xn--bcher-kva.test` share one folder as they are one domain.
            d => directory::DomainName::for_lookup(d).map_or_else(|| d.to_ascii_lowercase(), String::from),
        };
        let mailbox = mailbox_name(&address.local_part).ok_or_else(no_mailbox)?;
        if domain.starts_with('.') || domain.contains('/') || domain.starts_with('[') {
            return Err(no_mailbox());
        }
        Ok(self.root.join(domain).join(mailbox))
    }

    /// Delivers one recipient's copy into its own mailbox.
    pub fn deliver(&self, message: &MaildirMessage<'_>, index: u32) -> Result<(), DeliveryError> {
        let recipient = message
            .envelope
            .recipients
            .get(index as usize)
            .ok_or_else(|| DeliveryError::NoMailbox(format!("recipient #{index}")))?;
        let mailbox = self.mailbox_dir(recipient)?;
        self.deliver_batch(&[MaildirCopy { message, index, mailbox: &mailbox }]).pop().unwrap_or(Ok(()))
    }

    /// Delivers many copies with one round of syncs: all files are written, then synced
    /// (the first sync commits the file system journal for all of them), then renamed into
    /// `new/`, then each `new/` folder is synced once. Results come back in input order.
    pub fn deliver_batch(&self, items: &[MaildirCopy<'_, '_>]) -> Vec<Result<(), DeliveryError>> {
        let mut results: Vec<Result<(), DeliveryError>> = Vec::with_capacity(items.len());
        let mut written: Vec<(usize, File, PathBuf, PathBuf)> = Vec::new();
        for (i, copy) in items.iter().enumerate() {
            match self.write_tmp(copy) {
                Ok(Some((file, tmp, new))) => written.push((i, file, tmp, new)),
                Ok(None) => {}
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            }
            results.push(Ok(()));
        }
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (i, file, tmp, new) in written {
            let step = file.sync_data().and_then(|()| fs::rename(&tmp, &new));
            if let Err(source) = step {
                let _ = fs::remove_file(&tmp);
                results[i] = Err(DeliveryError::Io { path: tmp, error: source });
                continue;
            }
            if let Some(dir) = new.parent().filter(|d| !dirs.iter().any(|known| known == d)) {
                dirs.push(dir.to_path_buf());
            }
        }
        for dir in &dirs {
            if let Err(source) = sync_dir(dir) {
                // Unknown whether the renames are durable: report failure; the retry finds
                // any copy that did survive and does not deliver it twice.
                for (i, copy) in items.iter().enumerate() {
                    let in_dir = new_dir(copy) == *dir;
                    if in_dir && results[i].is_ok() {
                        results[i] = Err(DeliveryError::Io {
                            path: dir.clone(),
                            error: io::Error::new(source.kind(), source.to_string()),
                        });
                    }
                }
            }
        }
        results
    }

    /// The tmp and new paths of one copy.
    fn copy_path(&self, copy: &MaildirCopy<'_, '_>) -> (PathBuf, PathBuf) {
        let MaildirCopy { message, index, mailbox } = copy;
        let name =
            format!("{}.S{}R{index}.{}", message.received_at_unix_ms / 1000, message.id, self.hostname);
        (mailbox.join("tmp").join(&name), mailbox.join("new").join(name))
    }

    /// Writes one copy into `tmp/` without syncing; `None` when an earlier attempt
    /// already delivered it.
    fn write_tmp(
        &self,
        copy: &MaildirCopy<'_, '_>,
    ) -> Result<Option<(File, PathBuf, PathBuf)>, DeliveryError> {
        let (message, index) = (copy.message, copy.index);
        let (tmp, new) = self.copy_path(copy);
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |error| DeliveryError::Io { path, error }
        };
        let dir = new.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
        self.ensure_maildir(&dir).map_err(io_error(&dir))?;
        if message.check_existing && already_delivered(&dir, &new) {
            return Ok(None);
        }
        let recipient = message
            .envelope
            .recipients
            .get(index as usize)
            .ok_or_else(|| DeliveryError::NoMailbox(format!("recipient #{index}")))?;
        let header =
            format!("Return-Path: {}\r\nDelivered-To: {}\r\n", message.envelope.sender, recipient.address);
        let file = write_unsynced(&tmp, header.as_bytes(), message.data).map_err(|error| {
            // A half-written copy is of no use to anyone: the retry writes it again.
            let _ = fs::remove_file(&tmp);
            DeliveryError::Io { path: tmp.clone(), error }
        })?;
        Ok(Some((file, tmp, new)))
    }

    fn ensure_maildir(&self, dir: &Path) -> io::Result<()> {
        if self.ready.lock().unwrap_or_else(PoisonError::into_inner).contains(dir) {
            return Ok(());
        }
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        // Make the new folders themselves durable before anything is renamed into them.
        sync_dir(dir)?;
        if let Some(domain_dir) = dir.parent() {
            sync_dir(domain_dir)?;
            if let Some(root) = domain_dir.parent() {
                sync_dir(root)?;
            }
        }
        self.ready.lock().unwrap_or_else(PoisonError::into_inner).insert(dir.to_path_buf());
        Ok(())
    }
}

fn already_delivered(dir: &Path, new: &Path) -> bool {
    if new.exists() {
        return true;
    }
    let Some(name) = new.file_name().and_then(|n| n.to_str()) else { return false };
    // A mail reader may have moved it to cur/ and added flags (`name:2,S`).
    let flagged = format!("{name}:");
    fs::read_dir(dir.join("cur")).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_str().is_some_and(|n| n == name || n.starts_with(&flagged)))
    })
}

fn write_unsynced(path: &Path, header: &[u8], data: &dyn MessageSource) -> io::Result<File> {
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
    file.write_all(header)?;
    data.write_to(&mut file)?;
    Ok(file)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_wire::{Address, ClientInfo, ReversePath};

    fn envelope(locals: &[&str]) -> Envelope {
        let recipients = locals.iter().map(|l| {
            let (local_part, domain) = l.split_once('@').unwrap_or((l, ""));
            Recipient::new(Address::new(local_part, domain))
        });
        Envelope::new(
            ReversePath::Null,
            recipients.collect(),
            ClientInfo::new("127.0.0.1".parse().unwrap(), "h"),
        )
    }

    #[test]
    fn mailbox_names_cannot_escape() {
        assert_eq!(mailbox_name("Bob.Smith+tag"), Some("bob.smith+tag".into()));
        assert_eq!(mailbox_name(".."), None);
        assert_eq!(mailbox_name("a/b"), None);
        assert_eq!(mailbox_name("\"quoted\""), None);
        assert_eq!(mailbox_name("müller"), Some("müller".into()));
    }

    #[test]
    fn delivers_once_even_when_repeated() {
        let root = tempfile::tempdir().unwrap();
        let d = MaildirDelivery::new(root.path().to_path_buf(), "mx.test", Some("example.test".into()));
        let env = envelope(&["Bob@Example.TEST", "postmaster"]);
        let msg = MaildirMessage {
            id: "00aa",
            received_at_unix_ms: 5_000,
            envelope: &env,
            data: &b"hi\r\n".to_vec(),
            check_existing: true,
        };
        d.deliver(&msg, 0).unwrap();
        d.deliver(&msg, 0).unwrap();
        d.deliver(&msg, 1).unwrap();
        let new = root.path().join("example.test/bob/new");
        let files: Vec<_> = fs::read_dir(&new).unwrap().flatten().collect();
        assert_eq!(files.len(), 1);
        let text = fs::read_to_string(files[0].path()).unwrap();
        assert_eq!(text, "Return-Path: <>\r\nDelivered-To: Bob@Example.TEST\r\nhi\r\n");
        assert_eq!(fs::read_dir(root.path().join("example.test/postmaster/new")).unwrap().count(), 1);
    }

    #[test]
    fn moved_to_cur_counts_as_delivered() {
        let root = tempfile::tempdir().unwrap();
        let d = MaildirDelivery::new(root.path().to_path_buf(), "mx.test", None);
        let env = envelope(&["a@example.test"]);
        let msg = MaildirMessage {
            id: "01",
            received_at_unix_ms: 1_000,
            envelope: &env,
            data: &b"x".to_vec(),
            check_existing: true,
        };
        d.deliver(&msg, 0).unwrap();
        let dir = root.path().join("example.test/a");
        let name = fs::read_dir(dir.join("new")).unwrap().flatten().next().unwrap().file_name();
        fs::rename(
            dir.join("new").join(&name),
            dir.join("cur").join(format!("{}:2,S", name.to_string_lossy())),
        )
        .unwrap();
        d.deliver(&msg, 0).unwrap();
        assert_eq!(fs::read_dir(dir.join("new")).unwrap().count(), 0);
    }

    #[test]
    fn unsafe_names_have_no_mailbox() {
        let d = MaildirDelivery::new("/tmp/x".into(), "mx", None);
        let env = envelope(&["../etc@example.test", "postmaster"]);
        assert!(d.mailbox_dir(&env.recipients[0]).is_err());
        assert!(d.mailbox_dir(&env.recipients[1]).is_err());
    }

    #[test]
    fn an_idn_has_one_folder_in_either_form() {
        let d = MaildirDelivery::new("/srv/mail".into(), "mx", None);
        let env = envelope(&["user@bücher.test", "User@XN--BCHER-KVA.test"]);
        let expected = PathBuf::from("/srv/mail/xn--bcher-kva.test/user");
        assert_eq!(d.mailbox_dir(&env.recipients[0]).unwrap(), expected);
        assert_eq!(d.mailbox_dir(&env.recipients[1]).unwrap(), expected);
    }
}
