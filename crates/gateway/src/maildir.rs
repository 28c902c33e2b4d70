//! Local delivery into Maildir folders (tmp -> new with fsync). A delivery attempt only
//! reports per-recipient outcomes; the queue manager decides what happens next.
//!
//! File names are derived from the spool id and the recipient index, so a delivery
//! repeated after a crash (delivered, but the spool's completion record was not yet
//! durable) finds its own earlier copy and does not deliver twice.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use smtp_wire::{Envelope, Recipient};

use crate::policy::mailbox_name;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("no local mailbox for <{0}>")]
    NoMailbox(String),
    #[error("maildir {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

#[derive(Debug)]
pub struct MaildirDelivery {
    root: PathBuf,
    hostname: String,
    postmaster_domain: Option<String>,
    /// Mailbox folders known to exist with their tmp/new/cur, to skip the syscalls.
    ready: Mutex<HashSet<PathBuf>>,
}

/// One message to deliver, as the queue manager sees it.
#[derive(Debug)]
pub struct MaildirMessage<'a> {
    pub id: &'a str,
    pub received_at_unix_ms: u64,
    pub envelope: &'a Envelope,
    pub data: &'a [u8],
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
            d => d.to_ascii_lowercase(),
        };
        let mailbox = mailbox_name(&address.local_part).ok_or_else(no_mailbox)?;
        if domain.starts_with('.') || domain.contains('/') || domain.starts_with('[') {
            return Err(no_mailbox());
        }
        Ok(self.root.join(domain).join(mailbox))
    }

    /// Delivers one recipient's copy.
    pub fn deliver(&self, message: &MaildirMessage<'_>, index: u32) -> Result<(), DeliveryError> {
        let recipient = message
            .envelope
            .recipients
            .get(index as usize)
            .ok_or_else(|| DeliveryError::NoMailbox(format!("recipient #{index}")))?;
        let dir = self.mailbox_dir(recipient)?;
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DeliveryError::Io { path, source }
        };
        self.ensure_maildir(&dir).map_err(io_error(&dir))?;
        let name =
            format!("{}.S{}R{index}.{}", message.received_at_unix_ms / 1000, message.id, self.hostname);
        if message.check_existing && already_delivered(&dir, &name) {
            return Ok(());
        }
        let tmp = dir.join("tmp").join(&name);
        let header =
            format!("Return-Path: {}\r\nDelivered-To: {}\r\n", message.envelope.sender, recipient.address);
        write_synced(&tmp, header.as_bytes(), message.data).map_err(io_error(&tmp))?;
        let new_dir = dir.join("new");
        fs::rename(&tmp, new_dir.join(&name)).map_err(io_error(&new_dir))?;
        sync_dir(&new_dir).map_err(io_error(&new_dir))
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

fn already_delivered(dir: &Path, name: &str) -> bool {
    if dir.join("new").join(name).exists() {
        return true;
    }
    // A mail reader may have moved it to cur/ and added flags (`name:2,S`).
    let flagged = format!("{name}:");
    fs::read_dir(dir.join("cur")).map_or(false, |entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_str().is_some_and(|n| n == name || n.starts_with(&flagged)))
    })
}

fn write_synced(path: &Path, header: &[u8], data: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
    file.write_all(header)?;
    file.write_all(data)?;
    file.sync_data()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_wire::{Address, BodyType, ClientInfo, ReversePath};

    fn envelope(locals: &[&str]) -> Envelope {
        Envelope {
            sender: ReversePath::Null,
            recipients: locals
                .iter()
                .map(|l| {
                    let (local_part, domain) = l.split_once('@').unwrap_or((l, ""));
                    Recipient {
                        address: Address { local_part: local_part.into(), domain: domain.into() },
                        notify: None,
                        orcpt: None,
                    }
                })
                .collect(),
            body: BodyType::SevenBit,
            smtputf8: false,
            ret: None,
            envid: None,
            declared_size: None,
            client: ClientInfo { ip: "127.0.0.1".parse().unwrap(), helo: "h".into(), esmtp: true, tls: None },
        }
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
            data: b"hi\r\n",
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
            data: b"x",
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
}
