//! `sluice throttle show|allow|remove|list|stats`.

use std::net::IpAddr;
use std::path::Path;

use admin::live::ThrottledIp;
use admin::views::AllowInput;
use anyhow::{Context, bail};
use gateway::ThrottleMode;
use gateway::allow_list;
use gateway::explain::{Cover, render_explanation};
use gateway::history::{FileHistoryStore, HistoryStore};
use gateway::inbound::throttling::now_s;

use crate::config::Config;

/// Asks the running server; without one, explains from the saved history, the allow list
/// file and the directory.
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
    let allow = allow_list::read(&throttle.allow_file)?;
    let entry = allow.into_iter().filter(|e| e.cidr.contains(ip)).max_by_key(|e| e.cidr.prefix_len());
    let directory = saved_directory(config)?;
    println!("(the server is not running: from the saved history)");
    let cover = Cover::of(ip, entry, directory.as_deref());
    print!("{}", render_explanation(&engine.peek(ip, now_s()), &cover, throttle.mode));
    Ok(())
}

/// The directory as saved, if there is one (a missing database is not created).
fn saved_directory(config: &Config) -> anyhow::Result<Option<std::sync::Arc<directory::Snapshot>>> {
    if let store::Location::Embedded { data_dir } = &config.store.location
        && !store::StoreConfig::directory_file(data_dir).exists()
    {
        return Ok(None);
    }
    let store = crate::admin_cli::open_database(config)?;
    Ok(Some(store.snapshot()?))
}

/// The allow list lives in its own file; the operations still audit into the directory
/// database, which these commands may create (the list is usable before any tenant).
fn admin_plane(config: &Config) -> anyhow::Result<(admin::Admin, admin::Context)> {
    let admin = crate::admin_cli::open_admin(config, crate::admin_cli::Db::CreateIfMissing)?;
    Ok((admin, crate::admin_cli::local_context()))
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
    let (admin, cx) = admin_plane(config)?;
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
    let (admin, cx) = admin_plane(config)?;
    admin.remove_allowed(&cx, cidr)?;
    println!("{} removed from the throttle allow list", cidr.trim());
    Ok(())
}

/// `throttle list`: the allow list; with `--throttled`, the IPs and prefixes deferred
/// within `since` (default an hour), from the running server through the admin plane.
pub fn list(config: &Config, throttled: bool, since: Option<&str>, json: bool) -> anyhow::Result<()> {
    if throttled {
        return list_throttled(config, since.unwrap_or("1h"), json);
    }
    if since.is_some() {
        bail!("--since goes with --throttled (the allow list has no times)");
    }
    allow_file(config)?;
    let (admin, cx) = admin_plane(config)?;
    let entries = admin.list_allowed(&cx)?;
    if json {
        return crate::admin_cli::print_json(&entries);
    }
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

fn list_throttled(config: &Config, since: &str, json: bool) -> anyhow::Result<()> {
    let Some(throttle) = &config.gateway.throttle else {
        bail!("throttling is disabled in this config (throttle.enabled = false)");
    };
    let (admin, cx) = admin_plane(config)?;
    let list = admin.throttled_since(&cx, Some(since))?;
    if json {
        return crate::admin_cli::print_json(&list);
    }
    print!("{}", throttled_table(&list, since, now_s(), throttle.mode));
    Ok(())
}

/// `KEY  KIND  DEFERRED  [WOULD DEFER]  NOW  LAST`, most deferred first; observing, a key
/// deferring now is one that "would defer".
fn throttled_table(list: &[ThrottledIp], since: &str, now_s: u64, mode: ThrottleMode) -> String {
    if list.is_empty() {
        return format!("nothing deferred in the last {since}\n");
    }
    let observed = list.iter().any(|e| e.would_defer > 0);
    let by_token = |total: u64, tokens: &std::collections::BTreeMap<String, u64>| {
        let each: Vec<String> = tokens.iter().map(|(t, n)| format!("{t} {n}")).collect();
        format!("{total} ({})", each.join(", "))
    };
    let mut rows = vec![vec![
        "KEY".to_string(),
        "KIND".into(),
        "DEFERRED".into(),
        if observed { "WOULD DEFER (observe mode)".into() } else { String::new() },
        "NOW".into(),
        "LAST DEFERRAL".into(),
    ]];
    for e in list {
        let ago = now_s.saturating_sub(e.last_deferred_at_unix_s);
        rows.push(vec![
            e.key.clone(),
            e.kind.clone(),
            if e.deferred > 0 { by_token(e.deferred, &e.deferred_by_token) } else { "0".into() },
            if observed { by_token(e.would_defer, &e.would_defer_by_token) } else { String::new() },
            match (e.throttled_now, mode) {
                (true, ThrottleMode::Enforce) => "deferring".into(),
                (true, ThrottleMode::Observe) => "would defer".into(),
                (false, _) => "-".into(),
            },
            format!(
                "{} ({}, {} ago)",
                crate::admin_cli::when(e.last_deferred_at_unix_s),
                e.last_token,
                age(ago)
            ),
        ]);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = format!("deferred in the last {since}, most first:\n");
    for row in rows {
        let cells: Vec<String> =
            row.iter().zip(&widths).filter(|(_, w)| **w > 0).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `42 s`, `5 min`, `3 h`.
fn age(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7_199 => format!("{} min", seconds / 60),
        _ => format!("{} h", seconds / 3_600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, kind: &str, deferred: &[(&str, u64)], would: &[(&str, u64)], at: u64) -> ThrottledIp {
        let map = |c: &[(&str, u64)]| c.iter().map(|(t, n)| ((*t).to_string(), *n)).collect();
        ThrottledIp {
            ip: "203.0.113.7".parse().unwrap(),
            deferred_last_hour: 0,
            deferred_last_day: 0,
            last_token: "AS501".into(),
            last_deferred_at_unix_s: at,
            throttled_now: kind == "ip",
            key: key.into(),
            kind: kind.into(),
            window_s: 3_600,
            deferred: deferred.iter().map(|(_, n)| n).sum(),
            deferred_by_token: map(deferred),
            would_defer: would.iter().map(|(_, n)| n).sum(),
            would_defer_by_token: map(would),
        }
    }

    #[test]
    fn the_table_shows_counts_per_token_and_would_defer_only_when_observing() {
        let now = 1_795_444_509;
        let list = [
            entry("203.0.113.7", "ip", &[("AS501", 40), ("AS502", 2)], &[], now - 30),
            entry("203.0.113.0/24", "prefix", &[("AS505", 7)], &[], now - 600),
        ];
        let table = throttled_table(&list, "1h", now, ThrottleMode::Enforce);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "deferred in the last 1h, most first:");
        assert!(lines[1].starts_with("KEY") && !lines[1].contains("WOULD"), "{table}");
        assert!(lines[2].starts_with("203.0.113.7     ip      42 (AS501 40, AS502 2)  deferring"), "{table}");
        assert!(lines[2].ends_with("2026-11-23T14:34:39Z (AS501, 30 s ago)"), "{table}");
        assert!(lines[3].contains("7 (AS505 7)") && lines[3].contains("10 min ago"), "{table}");
        let observing = [entry("203.0.113.7", "ip", &[], &[("AS501", 5)], now)];
        let table = throttled_table(&observing, "1h", now, ThrottleMode::Observe);
        assert!(table.contains("WOULD DEFER (observe mode)") && table.contains("5 (AS501 5)"), "{table}");
        assert!(table.contains("  would defer  "), "{table}");
        assert_eq!(
            throttled_table(&[], "30m", now, ThrottleMode::Enforce),
            "nothing deferred in the last 30m\n"
        );
    }
}
