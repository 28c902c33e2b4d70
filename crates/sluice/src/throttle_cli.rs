//! `sluice throttle show|allow|remove|list`.

use std::net::IpAddr;
use std::path::Path;

use admin::views::AllowInput;
use anyhow::{Context, bail};
use gateway::allow_list;
use gateway::history::{FileHistoryStore, HistoryStore};
use gateway::inbound::throttling::{now_s, render_explanation};

use crate::config::Config;

/// Asks the running server; without one, explains from the saved history.
pub fn show(config: &Config, ip: &str) -> anyhow::Result<()> {
    let ip: IpAddr = ip.parse().with_context(|| format!("IP: {ip:?} is not an IPv4 or IPv6 address"))?;
    let Some(throttle) = &config.gateway.throttle else {
        bail!("throttling is disabled in this config (throttle.enabled = false)");
    };
    if let Some(socket) = &config.gateway.control_socket {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        if let Some(answer) =
            runtime.block_on(gateway::control::request(socket, &format!("throttle-show {ip}")))
        {
            print!("{answer}");
            return Ok(());
        }
    }
    let store = FileHistoryStore::new(throttle.history_dir.clone());
    let engine = store.load(throttle.policy.clone())?;
    let allow_listed = allow_list::read(&throttle.allow_file)?.iter().any(|e| e.cidr.contains(ip));
    println!("(the server is not running: from the saved history)");
    print!("{}", render_explanation(&engine.peek(ip, now_s()), allow_listed));
    Ok(())
}

fn allow_file(config: &Config) -> anyhow::Result<&Path> {
    match &config.gateway.throttle {
        Some(t) => Ok(&t.allow_file),
        None => bail!("throttling is disabled in this config (throttle.enabled = false)"),
    }
}

/// Adds a network through the admin plane's operation (validated and audited as over the API).
pub fn allow(config: &Config, cidr: &str, note: Option<&str>) -> anyhow::Result<()> {
    let path = allow_file(config)?.to_path_buf();
    let (admin, cx) = (crate::admin_cli::open_admin(config)?, crate::admin_cli::local_context());
    let added =
        admin.allow_network(&cx, &AllowInput { cidr: cidr.to_string(), note: note.map(str::to_string) })?;
    println!(
        "{} added to the throttle allow list ({}); a running server picks it up within seconds",
        added.cidr,
        path.display()
    );
    Ok(())
}

pub fn remove(config: &Config, cidr: &str) -> anyhow::Result<()> {
    allow_file(config)?;
    let (admin, cx) = (crate::admin_cli::open_admin(config)?, crate::admin_cli::local_context());
    admin.remove_allowed(&cx, cidr)?;
    println!("{} removed from the throttle allow list", cidr.trim());
    Ok(())
}

pub fn list(config: &Config) -> anyhow::Result<()> {
    allow_file(config)?;
    let (admin, cx) = (crate::admin_cli::open_admin(config)?, crate::admin_cli::local_context());
    let entries = admin.list_allowed(&cx)?;
    if entries.is_empty() {
        println!("the throttle allow list is empty");
    }
    for e in entries {
        if e.note.is_empty() { println!("{}", e.cidr) } else { println!("{}  # {}", e.cidr, e.note) }
    }
    Ok(())
}

/// Counters of the running server, in Prometheus text form.
pub fn stats(config: &Config) -> anyhow::Result<()> {
    let Some(socket) = &config.gateway.control_socket else { bail!("no control socket configured") };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match runtime.block_on(gateway::control::request(socket, "stats")) {
        Some(answer) if answer.starts_with("error:") => bail!("{}", answer.trim()),
        Some(answer) => {
            print!("{answer}");
            Ok(())
        }
        None => {
            bail!("no server answers on {} (is `sluice serve` running with this config?)", socket.display())
        }
    }
}
