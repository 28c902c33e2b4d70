//! `sluice quarantine list|show|release|delete`, and the admin plane's access to the
//! quarantine: the files in `<data_dir>/quarantine` directly for reading and deleting, the
//! running server's control socket for a release (only the server writes to the spool).

use std::path::Path;

use admin::live::HeldMessageView;
use admin::{LiveError, QuarantineAccess};
use clap::Subcommand;
use gateway::quarantine::{Entry, Quarantine, QuarantineError, State};

use crate::admin_cli::{Cli, Db, open, when};
use crate::live::ControlLive;

/// The quarantine's files and the server that releases from it.
#[derive(Debug)]
pub struct QuarantineFiles {
    pub quarantine: Quarantine,
    pub server: ControlLive,
}

fn view(entry: Entry) -> HeldMessageView {
    HeldMessageView {
        id: entry.id,
        held_at_unix_s: entry.held_at_unix_s,
        expires_at_unix_s: entry.expires_at_unix_s,
        tenants: entry.tenants,
        sender: entry.sender,
        recipients: entry.recipients,
        client_ip: entry.client_ip,
        subject: entry.subject,
        size: entry.size,
        reasons: entry.reasons,
        state: match entry.state {
            State::Held => "held",
            State::Releasing => "releasing",
            State::Released => "released",
        }
        .into(),
        released_by: entry.released_by,
        released_at_unix_s: entry.released_at_unix_s,
        queue_id: entry.spool_id,
    }
}

fn refused(e: QuarantineError) -> LiveError {
    LiveError::Refused(e.to_string())
}

impl QuarantineAccess for QuarantineFiles {
    fn list(&self) -> Result<Vec<HeldMessageView>, LiveError> {
        Ok(self.quarantine.list().map_err(refused)?.into_iter().map(view).collect())
    }

    fn entry(&self, id: &str) -> Result<HeldMessageView, LiveError> {
        self.quarantine.entry(id).map(view).map_err(refused)
    }

    fn preview(&self, id: &str) -> Result<String, LiveError> {
        let bytes = self.quarantine.preview(id).map_err(refused)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn message(&self, id: &str, bytes_max: usize) -> Result<Vec<u8>, LiveError> {
        self.quarantine.message(id, bytes_max).map_err(refused)
    }

    fn delete(&self, id: &str) -> Result<HeldMessageView, LiveError> {
        self.quarantine.delete(id).map(view).map_err(refused)
    }

    fn release(&self, id: &str, by: &str) -> Result<HeldMessageView, LiveError> {
        let by: String = by.chars().map(|c| if c.is_whitespace() { '_' } else { c }).collect();
        let entry: Entry = self.server.json(&format!("quarantine-release {id} {by}"))?;
        Ok(view(entry))
    }
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Held messages, newest first: id, when, tenants, sender, recipients, subject, why.
    #[command(after_help = "Example:\n  sluice quarantine list --tenant acme --json")]
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// A held message's details, headers and the start of its text.
    #[command(after_help = "Example:\n  sluice quarantine show 0192a7c3f5e1b0a3c5d02")]
    Show { id: String },
    /// Deliver a held message to its held recipients (once; the server must be running).
    #[command(after_help = "Example:\n  sluice quarantine release 0192a7c3f5e1b0a3c5d02")]
    Release { id: String },
    /// Delete a held message.
    #[command(after_help = "Example:\n  sluice quarantine delete 0192a7c3f5e1b0a3c5d02")]
    Delete { id: String },
}

pub fn quarantine(flag: Option<&Path>, command: QuarantineCommand) -> anyhow::Result<()> {
    let Cli { admin, cx, .. } = open(flag, Db::Existing)?;
    match command {
        QuarantineCommand::List { tenant, json } => {
            let held = admin.list_quarantine(&cx, tenant.as_deref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&held)?);
                return Ok(());
            }
            if held.is_empty() {
                println!("no held messages");
            }
            for m in held {
                println!(
                    "{}  {}  {:<9} {}  {} -> {}",
                    m.id,
                    when(m.held_at_unix_s),
                    m.state,
                    m.tenants.join(","),
                    m.sender,
                    m.recipients.join(",")
                );
                println!("    subject: {}; why: {}", m.subject, m.reasons.join("; "));
            }
        }
        QuarantineCommand::Show { id } => {
            let (m, preview) = admin.preview_quarantined(&cx, &id)?;
            println!(
                "id: {}\nstate: {}\nheld: {} (kept until {})",
                m.id,
                m.state,
                when(m.held_at_unix_s),
                when(m.expires_at_unix_s)
            );
            println!(
                "tenants: {}\nfrom: {} [{}]\nto: {}\nwhy: {}\n",
                m.tenants.join(","),
                m.sender,
                m.client_ip,
                m.recipients.join(","),
                m.reasons.join("; ")
            );
            println!("{preview}");
        }
        QuarantineCommand::Release { id } => {
            let m = admin.release_quarantined(&cx, &id)?;
            println!(
                "released {} to {}: queued as {}",
                m.id,
                m.recipients.join(","),
                m.queue_id.unwrap_or_default()
            );
        }
        QuarantineCommand::Delete { id } => println!("{}", admin.delete_quarantined(&cx, &id)?.message),
    }
    Ok(())
}
