//! `sluice queue export|import`: moving a lost node's queue to another node (the format and
//! the rules are the gateway's `queue_transfer`).

use std::path::Path;

use anyhow::Context;

use crate::config::Config;

/// Exports this (stopped) node's queue to `out` and says what to do next.
pub fn export(config: &Config, out: &Path) -> anyhow::Result<()> {
    let spool_dir = &config.gateway.spool_dir;
    let moved = gateway::queue_transfer::export(spool_dir, out)?;
    println!("exported {} messages ({} recipients) to {}", moved.messages, moved.recipients, out.display());
    println!(
        "import it on a running node with `sluice queue import {}`; do not start this node on {} again before removing it: its messages would be delivered twice",
        out.display(),
        spool_dir.display()
    );
    Ok(())
}

/// The control request that asks the running server to import `file`.
pub fn import_request(file: &Path) -> anyhow::Result<String> {
    let path = std::fs::canonicalize(file).with_context(|| format!("{}", file.display()))?;
    let text = path
        .to_str()
        .filter(|p| !p.contains(['\n', '\r']))
        .with_context(|| format!("{}: the path must be UTF-8 without line breaks", path.display()))?;
    Ok(format!("queue-import {text}"))
}
