//! Moving a lost node's queue to another node (`sluice queue export|import`). The spool is
//! local to each node; when a node's machine is lost but its disk is not, its spool (or a
//! copy of its data directory) is exported with the node stopped, and the file imported
//! by a running node, which delivers the messages as its own: each is spooled there through
//! the enqueue step (durable before the queue manager gets it) and keeps its envelope (the
//! pending recipients, DSN parameters, the client and connector it came from, whether it is
//! a tenant's outbound mail) and its reception time (its age and expiry count from there).

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use spool::export::{ExportReader, ExportedMessage, write_end, write_header, write_message};
use spool::{Spool, SpoolConfig, SpoolError, SpooledMessage};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::inbound::enqueue::Enqueue;

/// Messages being made durable at once (the spool commits them in groups).
const IN_FLIGHT_MAX: usize = 64;

/// What an export or an import moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub messages: usize,
    pub recipients: usize,
}

/// Why an export failed; each names the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ExportFailed {
    #[error("{0}: already exists; give a new file name")]
    Exists(PathBuf),
    #[error(
        "{0}: the spool is in use by a running `sluice serve`: stop that node first (an export is taken from a stopped node, or from a copy of its data directory)"
    )]
    Running(PathBuf),
    #[error("cannot open the spool in {path}: {error}")]
    Spool { path: PathBuf, error: SpoolError },
    #[error("reading message {id} from the spool: {error}")]
    Read { id: spool::MessageId, error: SpoolError },
    #[error("writing {path}: {error}")]
    Write { path: PathBuf, error: std::io::Error },
}

/// Writes every message still queued in the spool at `spool_dir` (its pending recipients
/// only) to `out`, a new file, synced before it gets its name.
pub fn export(spool_dir: &Path, out: &Path) -> Result<Moved, ExportFailed> {
    if out.exists() {
        return Err(ExportFailed::Exists(out.to_path_buf()));
    }
    let opened = Spool::open(SpoolConfig::new(spool_dir.to_path_buf())).map_err(|error| match error {
        SpoolError::Locked(_) => ExportFailed::Running(spool_dir.to_path_buf()),
        error => ExportFailed::Spool { path: spool_dir.to_path_buf(), error },
    })?;
    let partial = out.with_extension("partial");
    let written = write_file(&opened.spool, &opened.messages, &partial);
    opened.spool.close();
    let moved = written.inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })?;
    std::fs::rename(&partial, out).map_err(|error| ExportFailed::Write { path: out.to_path_buf(), error })?;
    Ok(moved)
}

fn write_file(spool: &Spool, messages: &[SpooledMessage], path: &Path) -> Result<Moved, ExportFailed> {
    let failed = |error| ExportFailed::Write { path: path.to_path_buf(), error };
    let mut out = BufWriter::new(std::fs::File::create_new(path).map_err(failed)?);
    write_header(&mut out).map_err(failed)?;
    let mut moved = Moved::default();
    for m in messages {
        let mut envelope = m.envelope.clone();
        let mut index = 0u32;
        envelope.recipients.retain(|_| {
            let pending = m.done.binary_search(&index).is_err();
            index += 1;
            pending
        });
        if envelope.recipients.is_empty() {
            continue;
        }
        let data = spool.read_data(m.id).map_err(|error| ExportFailed::Read { id: m.id, error })?;
        moved.recipients += envelope.recipients.len();
        moved.messages += 1;
        let message = ExportedMessage { envelope, received_at_unix_ms: m.received_at_unix_ms, data };
        write_message(&mut out, &message).map_err(failed)?;
    }
    write_end(&mut out).map_err(failed)?;
    let file = out.into_inner().map_err(|e| failed(e.into_error()))?;
    file.sync_all().map_err(failed)?;
    Ok(moved)
}

/// Imports the export file at `path` on this running node; the control socket's answer.
pub(crate) async fn import(enqueue: &Enqueue, path: &Path) -> String {
    let shown = path.display().to_string();
    let (tx, mut rx) = mpsc::channel(IN_FLIGHT_MAX);
    let file = path.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || read_file(&file, &tx));
    let mut spooling = JoinSet::new();
    let (mut moved, mut problem) = (Moved::default(), None);
    while let Some(message) = rx.recv().await {
        if spooling.len() >= IN_FLIGHT_MAX {
            settle(spooling.join_next().await, &mut moved, &mut problem);
        }
        let enqueue = enqueue.clone();
        spooling.spawn(async move {
            let recipients = message.envelope.recipients.len();
            let at = message.received_at_unix_ms;
            enqueue.store_imported(message.envelope, message.data, at).await.map(|id| (id, recipients))
        });
    }
    while let Some(done) = spooling.join_next().await {
        settle(Some(done), &mut moved, &mut problem);
    }
    let read = reader.await.unwrap_or_else(|e| Err(e.to_string()));
    match problem.or(read.err()) {
        None => {
            tracing::info!(file = %shown, messages = moved.messages, recipients = moved.recipients, "queue imported");
            format!("imported {} messages ({} recipients) from {shown}\n", moved.messages, moved.recipients)
        }
        Some(problem) => {
            tracing::error!(file = %shown, imported = moved.messages, error = %problem, "queue import stopped");
            format!(
                "error: {shown}: {problem}; {} messages were imported before (each logged), the others were not\n",
                moved.messages
            )
        }
    }
}

/// Hands the file's messages to `tx` until its end or the first problem.
fn read_file(path: &Path, tx: &mpsc::Sender<ExportedMessage>) -> Result<(), String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot open it: {e} (the server reads it as its own user)"))?;
    let mut reader = ExportReader::new(BufReader::new(file)).map_err(|e| e.to_string())?;
    while let Some(message) = reader.next_message().map_err(|e| e.to_string())? {
        if tx.blocking_send(message).is_err() {
            return Err("the import was stopped".into());
        }
    }
    Ok(())
}

type Spooled = Result<Result<(spool::MessageId, usize), SpoolError>, tokio::task::JoinError>;

fn settle(done: Option<Spooled>, moved: &mut Moved, problem: &mut Option<String>) {
    match done {
        Some(Ok(Ok((id, recipients)))) => {
            tracing::info!(id = %id, recipients, "message imported from another node's queue");
            moved.messages += 1;
            moved.recipients += recipients;
        }
        Some(Ok(Err(e))) => *problem = Some(format!("spooling a message failed: {e}")),
        Some(Err(e)) => *problem = Some(format!("spooling a message failed: {e}")),
        None => {}
    }
}
