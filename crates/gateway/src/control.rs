//! The control socket (`<data_dir>/control.sock`): how `sluice throttle show` and
//! `sluice queue list|flush` ask the running server about its live state. One request line,
//! a text answer, then close. Only local users with access to the data directory can reach
//! it. Requests ending in `-json` answer one JSON document (or a line starting `error:`)
//! for the admin plane, whose field names they keep: `throttle-show-json IP`,
//! `throttled-json [WINDOW_S]`, `queue-list-json LIMIT`; `queue-retry ID` makes one message
//! due now; `queue-delete ID bounce|silent [ADDRESS...]` removes a queued message (or those
//! recipients of it) through the queue manager, bouncing them first unless `silent`, and
//! answers once the removal is durable; `queue-import PATH` spools the messages of another
//! node's queue export (the only request without a time limit); `quarantine-release ID BY`
//! releases a held message (exactly once; the answer is the entry as JSON); `scanner-stats`
//! counts the content scanner's verdicts and outages.
//!
//! `status` answers `name value` lines for scripts and tests: whether the queue is idle
//! (nothing loaded, being delivered or being recorded, every spooled message known to the
//! queue manager) and which directory generation new sessions use. A test that must show
//! that something did *not* happen waits for these facts instead of sleeping.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::deferrals::{RecentDeferral, TokenCounts, WINDOW_MAX_S};
use crate::delivery::queue_manager::{QueueEntry, QueueHandle, Removal, RemoveRefused};
use crate::explain::{Cover, render_explanation};
use crate::inbound::throttling::{ThrottleMode, Throttling};
use throttle::ThrottleKey;

/// One request line, with room for a few recipients' addresses in a `queue-delete`.
const REQUEST_BYTES_MAX: u64 = 4096;
/// Reading a request and answering it (an import excepted) take at most this long.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the socket, replacing a stale one left by a crash.
pub(crate) fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if path.exists() && std::os::unix::net::UnixStream::connect(path).is_err() {
        std::fs::remove_file(path)?;
    }
    UnixListener::bind(path)
}

/// What the control socket can see.
#[derive(Clone, Debug)]
pub(crate) struct Subjects {
    pub(crate) throttling: Option<Arc<Throttling>>,
    /// For which tenants' connectors cover an IP.
    pub(crate) directory: Option<Arc<directory::SharedSnapshot>>,
    pub(crate) queue: QueueHandle,
    pub(crate) spool: spool::Spool,
    /// Fleet mode's exchange counters, appended to `stats`.
    pub(crate) fleet: Option<Arc<crate::fleet::FleetStats>>,
    /// Where `queue-import` and `quarantine-release` spool messages.
    pub(crate) enqueue: crate::inbound::enqueue::Enqueue,
    pub(crate) screeners: Option<Arc<crate::inbound::screen::Screeners>>,
}

/// Messages `queue-list` shows when the request names no limit.
const QUEUE_LIST_DEFAULT: usize = 100;

pub(crate) async fn serve(
    listener: UnixListener,
    path: PathBuf,
    subjects: Subjects,
    mut stop: watch::Receiver<bool>,
) {
    let mut clients = JoinSet::new();
    loop {
        while clients.try_join_next().is_some() {}
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let subjects = subjects.clone();
                    clients.spawn(async move {
                        let _ = answer(stream, subjects).await;
                    });
                }
            }
            _ = stop.changed() => break,
        }
    }
    clients.shutdown().await;
    let _ = std::fs::remove_file(path);
}

async fn answer(stream: UnixStream, subjects: Subjects) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(REQUEST_BYTES_MAX));
    tokio::time::timeout(ANSWER_TIMEOUT, reader.read_line(&mut line))
        .await
        .map_err(|_| std::io::ErrorKind::TimedOut)??;
    if !line.ends_with('\n') {
        // Cut off (or never finished): acting on part of a request could remove the wrong
        // recipients.
        let answer =
            format!("error: request longer than {REQUEST_BYTES_MAX} bytes, or not ended by a newline\n");
        write.write_all(answer.as_bytes()).await?;
        return write.shutdown().await;
    }
    let request = line.trim();
    if let Some(path) = request.strip_prefix("queue-import ") {
        // Moving a lost node's whole queue may take longer than any other answer.
        let response = crate::queue_transfer::import(&subjects.enqueue, Path::new(path.trim())).await;
        write.write_all(response.as_bytes()).await?;
        return write.shutdown().await;
    }
    tokio::time::timeout(ANSWER_TIMEOUT, answer_within(request, subjects, &mut write))
        .await
        .map_err(|_| std::io::ErrorKind::TimedOut)?
}

/// Answers every request but an import, within [`ANSWER_TIMEOUT`].
async fn answer_within(
    request: &str,
    subjects: Subjects,
    write: &mut tokio::net::unix::OwnedWriteHalf,
) -> std::io::Result<()> {
    if let Some(rest) = request.strip_prefix("queue-delete ") {
        let response = queue_delete(&subjects, rest).await;
        write.write_all(response.as_bytes()).await?;
        return write.shutdown().await;
    }
    let mut words = request.split_whitespace();
    let response = match (words.next(), words.next(), words.next()) {
        (Some("queue-list"), limit, None) => {
            match limit.map_or(Ok(QUEUE_LIST_DEFAULT), str::parse::<usize>) {
                Ok(limit) => queue_list(&subjects, limit).await,
                Err(_) => format!("error: {limit:?} is not a number of messages\n"),
            }
        }
        (Some("queue-flush"), None, None) => match subjects.queue.flush().await {
            Some(n) => format!("{n} waiting messages are due now\n"),
            None => "error: the queue manager is stopping\n".into(),
        },
        (Some("queue-list-json"), limit, None) => {
            match limit.map_or(Ok(QUEUE_LIST_DEFAULT), str::parse::<usize>) {
                Ok(limit) => queue_list_json(&subjects, limit).await,
                Err(_) => format!("error: {limit:?} is not a number of messages\n"),
            }
        }
        (Some("queue-retry"), Some(id), None) => match id.parse::<spool::MessageId>() {
            Ok(id) => match subjects.queue.retry(id).await {
                Some(true) => format!("message {id} is due now\n"),
                Some(false) => format!(
                    "error: unknown message {id}: not waiting in the queue (delivered, being tried, or never queued)\n"
                ),
                None => "error: the queue manager is stopping\n".into(),
            },
            Err(_) => format!("error: unknown message {id:?}: not a queue id\n"),
        },
        (Some("status"), None, None) => status(&subjects).await,
        (Some("stats"), None, None) if subjects.fleet.is_some() => {
            // Fleet mode shares outbound counters and DNSBL verdicts even without throttling.
            let mut out = match &subjects.throttling {
                Some(t) => stats(t),
                None => String::new(),
            };
            out.push_str(&subjects.fleet.as_ref().map(|f| f.render()).unwrap_or_default());
            out
        }
        (Some("quarantine-release"), Some(id), Some(by)) => match &subjects.screeners {
            Some(screeners) => {
                let quarantine = Arc::clone(&screeners.quarantine);
                match subjects.enqueue.release(quarantine, id.to_string(), by.to_string()).await {
                    Ok(entry) => serde_json::to_string(&entry).unwrap_or_default() + "\n",
                    Err(e) => format!("error: {e}\n"),
                }
            }
            None => "error: this server runs without screening (no quarantine)\n".into(),
        },
        (Some("scanner-stats"), None, None) => scanner_stats(subjects.screeners.as_deref()),
        _ => respond(request, &subjects),
    };
    write.write_all(response.as_bytes()).await?;
    write.shutdown().await
}

fn scanner_stats(screeners: Option<&crate::inbound::screen::Screeners>) -> String {
    let Some(scanner) = screeners.and_then(|s| s.scanner.as_ref()) else {
        return "error: no content scanner is configured ([scanner] rspamd_url)\n".into();
    };
    let c = &scanner.counters;
    format!(
        "scanned {}\nspam {}\nunavailable {}\ntoo_large {}\n",
        c.scanned.load(Ordering::Relaxed) + c.spam.load(Ordering::Relaxed),
        c.spam.load(Ordering::Relaxed),
        c.unavailable.load(Ordering::Relaxed),
        c.too_large.load(Ordering::Relaxed)
    )
}

fn respond(request: &str, subjects: &Subjects) -> String {
    let mut words = request.split_whitespace();
    let cover = |t: &Throttling, ip: IpAddr| {
        let directory = subjects.directory.as_ref().map(|d| d.current());
        Cover::of(ip, t.allow_entry(ip), directory.as_deref())
    };
    match (words.next(), words.next(), subjects.throttling.as_deref()) {
        (Some("throttle-show"), Some(ip), Some(t)) => match ip.parse::<IpAddr>() {
            Ok(ip) => render_explanation(&t.explain(ip), &cover(t, ip), t.mode()),
            Err(_) => format!("error: {ip:?} is not an IP address\n"),
        },
        (Some("stats"), None, Some(t)) => stats(t),
        (Some("throttle-show-json"), Some(ip), Some(t)) => match ip.parse::<IpAddr>() {
            Ok(ip) => explanation_json(t, ip, cover(t, ip)),
            Err(_) => format!("error: {ip:?} is not an IP address\n"),
        },
        (Some("throttled-json"), window, Some(t)) => match window.map_or(Ok(WINDOW_MAX_S), str::parse::<u64>)
        {
            Ok(window_s) if (1..=WINDOW_MAX_S).contains(&window_s) => throttled_json(t, window_s),
            _ => format!("error: {window:?} is not a window of 1 to {WINDOW_MAX_S} seconds\n"),
        },
        (Some("throttle-show" | "stats" | "throttle-show-json" | "throttled-json"), _, None) => {
            "error: throttling is disabled in this server's config\n".into()
        }
        _ => format!("error: unknown request {request:?}\n"),
    }
}

/// The counters in Prometheus text form (`name value` lines), with the mode and the number
/// of keys the engine tracks.
fn stats(t: &Throttling) -> String {
    let mut out = format!(
        "throttle_observe_mode {}\nthrottle_tracked_keys {}\n",
        u8::from(t.mode() == ThrottleMode::Observe),
        t.engine().tracked_keys()
    );
    for (name, value) in t.counters().values() {
        out.push_str(&format!("{name} {value}\n"));
    }
    out
}

/// `throttle-show-json`: the explanation's figures, and what covers the IP. Its
/// `explanation` text leaves the connectors out (they are in `connectors`), so the admin
/// plane can show a tenant its own connectors only.
fn explanation_json(t: &Throttling, ip: IpAddr, cover: Cover) -> String {
    let e = t.explain(ip);
    let allow_listed = cover.allow.is_some();
    let verdict = match (allow_listed, e.verdict) {
        (true, _) | (false, throttle::Verdict::Accept) => "accept",
        (false, throttle::Verdict::Bypass) => "bypass",
        (false, throttle::Verdict::Defer) => "defer",
    };
    let defer = e.defer.as_ref().filter(|_| !allow_listed);
    let connectors: Vec<serde_json::Value> = cover
        .connectors
        .iter()
        .map(|c| {
            serde_json::json!({
                "tenant": c.tenant,
                "name": c.name,
                "kind": c.kind,
                "range": c.range,
                "trusted": c.trusted,
                "require_tls": c.require_tls,
                "description": c.describe(),
            })
        })
        .collect();
    let without_connectors = Cover { connectors: Vec::new(), ..cover.clone() };
    let json = serde_json::json!({
        "ip": ip.to_string(),
        "verdict": verdict,
        "mode": t.mode().to_string(),
        "allow_listed": allow_listed,
        "allow_entry": cover.allow.as_ref().map(|a| a.cidr.to_string()),
        "connectors": connectors,
        "token": defer.map(|d| d.token.rule().name),
        "reason": defer.map(|d| d.token.rule().reason),
        "retry_after_s": defer.map(|d| d.retry_after_s),
        "observed_per_hour": defer.map(|d| d.observed_per_hour),
        "baseline_per_hour": defer.map(|d| d.baseline_per_hour),
        "allowance_per_hour": defer.map(|d| d.allowance_per_hour),
        "explanation": render_explanation(&e, &without_connectors, t.mode()),
        "ip_state": key_state_json(&e.ip_state),
        "prefix_state": key_state_json(&e.prefix_state),
        "prefix_applies": e.prefix_applies,
        "probation_hours": t.engine().policy().probation_hours,
    });
    format!("{json}\n")
}

/// One throttle key's state, with the admin plane's field names.
fn key_state_json(s: &throttle::KeyState) -> serde_json::Value {
    serde_json::json!({
        "key": s.key.to_string(),
        "tracked": s.tracked,
        "age_hours": s.age_hours,
        "established": s.established,
        "observed_per_hour": s.observed_per_hour,
        "baseline_per_hour": s.baseline_per_hour,
        "allowance_per_hour": s.allowance_per_hour,
        "available_now": s.available_now,
        "accepted_this_hour": s.accepted_this_hour,
        "deferred_hours_ago": s.deferred_hours_ago,
    })
}

/// Whether the key of a listed entry is deferring now: for an IP, its next recipient would
/// be deferred; for a prefix, the next recipient of its latest IP would be, by the prefix.
fn throttled_now(t: &Throttling, r: &RecentDeferral) -> bool {
    if t.is_allow_listed(r.last_ip) {
        return false;
    }
    let e = t.explain(r.last_ip);
    match r.key {
        ThrottleKey::Ip(_) => e.verdict == throttle::Verdict::Defer,
        ThrottleKey::Prefix { .. } => e.defer.is_some_and(|d| d.key == r.key),
    }
}

fn by_token(counts: &TokenCounts) -> serde_json::Value {
    counts.iter().map(|(token, n)| ((*token).to_string(), serde_json::Value::from(*n))).collect()
}

/// `throttled-json WINDOW_S`: the keys deferred in the window, most first.
fn throttled_json(t: &Throttling, window_s: u64) -> String {
    let list: Vec<serde_json::Value> = t
        .recently_deferred(window_s)
        .into_iter()
        .map(|r| {
            let sum = |c: &TokenCounts| c.iter().map(|(_, n)| n).sum::<u64>();
            serde_json::json!({
                "ip": r.last_ip.to_string(),
                "key": r.key.to_string(),
                "kind": if matches!(r.key, ThrottleKey::Ip(_)) { "ip" } else { "prefix" },
                "window_s": window_s,
                "deferred": sum(&r.deferred),
                "deferred_by_token": by_token(&r.deferred),
                "would_defer": sum(&r.would_defer),
                "would_defer_by_token": by_token(&r.would_defer),
                "deferred_last_hour": r.last_hour,
                "deferred_last_day": r.last_day,
                "last_token": r.last_token,
                "last_deferred_at_unix_s": r.last_at_s,
                "throttled_now": throttled_now(t, &r),
            })
        })
        .collect();
    format!("{}\n", serde_json::Value::Array(list))
}

/// `queue-delete ID bounce|silent [ADDRESS...]`: the addresses are matched against the
/// message's recipients (case-insensitively); none means every pending recipient.
async fn queue_delete(subjects: &Subjects, request: &str) -> String {
    let mut words = request.split_whitespace();
    let (Some(id_text), Some(mode)) = (words.next(), words.next()) else {
        return "error: usage: queue-delete ID bounce|silent [ADDRESS...]\n".into();
    };
    let Ok(id) = id_text.parse::<spool::MessageId>() else {
        return format!("error: unknown message {id_text:?}: not a queue id\n");
    };
    let bounce = match mode {
        "bounce" => true,
        "silent" => false,
        other => return format!("error: {other:?} is neither bounce nor silent\n"),
    };
    let addresses: Vec<String> = words.map(str::to_owned).collect();
    let spool = subjects.spool.clone();
    let envelope = tokio::task::spawn_blocking(move || spool.read_envelope(id)).await;
    let Ok(Ok(envelope)) = envelope else {
        return format!(
            "error: unknown message {id}: not in the queue (delivered, bounced, removed or never queued)\n"
        );
    };
    let mut indices = Vec::with_capacity(addresses.len());
    for address in &addresses {
        let at = envelope.recipients.iter().position(|r| r.address.to_string().eq_ignore_ascii_case(address));
        match at {
            Some(at) => indices.push(at as u32),
            None => {
                return format!("error: invalid recipient {address:?}: not a recipient of message {id}\n");
            }
        }
    }
    let recipients = (!indices.is_empty()).then_some(indices);
    let address =
        |i: u32| envelope.recipients.get(i as usize).map(|r| r.address.to_string()).unwrap_or_default();
    match subjects.queue.remove(id, recipients, bounce).await {
        Some(Removal::Removed { recipients, bounced }) => {
            let list: Vec<String> = recipients.iter().map(|i| address(*i)).collect();
            let how = match bounced {
                true => format!("bounced to {}", envelope.sender),
                false => "without a bounce".to_string(),
            };
            format!("removed {} recipients of message {id} ({how}): {}\n", list.len(), list.join(", "))
        }
        Some(Removal::Refused(RemoveRefused::Unknown)) => {
            format!(
                "error: unknown message {id}: not in the queue (delivered, bounced, removed or never queued)\n"
            )
        }
        Some(Removal::Refused(RemoveRefused::Busy)) => {
            format!("error: busy: message {id} is being delivered right now; try again in a few seconds\n")
        }
        Some(Removal::Refused(RemoveRefused::NotPending(i))) => {
            format!("error: invalid recipient {:?}: already delivered or bounced\n", address(i))
        }
        Some(Removal::Failed(reason)) => format!("error: message {id} was not removed: {reason}\n"),
        None => "error: the queue manager is stopping\n".into(),
    }
}

/// The queue as `queue-list-json` answers it: `{"total", "messages": [...]}`.
async fn queue_list_json(subjects: &Subjects, limit: usize) -> String {
    let Some(entries) = subjects.queue.list().await else {
        return "error: the queue manager is stopping\n".into();
    };
    let total = entries.len();
    let shown: Vec<QueueEntry> = entries.into_iter().take(limit).collect();
    let spool = subjects.spool.clone();
    let ids: Vec<spool::MessageId> = shown.iter().map(|e| e.id).collect();
    let envelopes: Vec<Option<smtp_wire::Envelope>> =
        tokio::task::spawn_blocking(move || ids.iter().map(|id| spool.read_envelope(*id).ok()).collect())
            .await
            .unwrap_or_else(|_| vec![None; shown.len()]);
    let messages: Vec<serde_json::Value> = shown
        .iter()
        .zip(envelopes)
        .map(|(e, env)| {
            serde_json::json!({
                "id": e.id.to_string(),
                "state": e.state,
                "received_at_unix_ms": e.received_at_unix_ms,
                "attempts": e.attempts,
                "next_attempt_unix_ms": e.next_attempt_unix_ms,
                "pending": e.pending,
                "sender": env.as_ref().map(|env| env.sender.to_string()),
                "recipients": env.as_ref().map(|env| env.recipients.iter().map(|r| r.address.to_string()).collect::<Vec<_>>()).unwrap_or_default(),
            })
        })
        .collect();
    format!("{}\n", serde_json::json!({ "total": total, "messages": messages }))
}

/// What the queue manager holds next to what the spool holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Activity {
    spool_live: u64,
    listed: u64,
    waiting: u64,
    /// The spool's live count changed while the list was taken.
    spool_moved: bool,
}

impl Activity {
    /// Messages being loaded, delivered or recorded: listed but not waiting, and live in the
    /// spool without the queue manager listing them (on their way from a session, being
    /// loaded, or finished with their `Done` record not yet synced). Zero: idle.
    fn busy(&self) -> u64 {
        let busy = self.listed.saturating_sub(self.waiting) + self.spool_live.saturating_sub(self.listed);
        if self.spool_moved { busy.max(1) } else { busy }
    }
}

/// The queue manager's list and the spool's live count around it; `None` when the queue
/// manager stopped. A spool count that moved while the list was taken counts as busy.
async fn activity(subjects: &Subjects) -> Option<(Vec<QueueEntry>, Activity)> {
    let before = subjects.spool.stats().live_messages;
    let entries = subjects.queue.list().await?;
    let after = subjects.spool.stats().live_messages;
    let waiting = entries.iter().filter(|e| e.state == "waiting").count() as u64;
    let listed = entries.len() as u64;
    Some((entries, Activity { spool_live: after, listed, waiting, spool_moved: before != after }))
}

async fn status(subjects: &Subjects) -> String {
    let Some((_, a)) = activity(subjects).await else {
        return "error: the queue manager is stopping\n".into();
    };
    let mut out = format!(
        "queue_idle {}\nqueue_busy {}\nqueue_messages {}\nqueue_waiting {}\nspool_live_messages {}\n",
        if a.busy() == 0 { "yes" } else { "no" },
        a.busy(),
        a.listed,
        a.waiting,
        a.spool_live
    );
    if let Some(directory) = &subjects.directory {
        out.push_str(&format!("directory_generation {}\n", directory.current().generation()));
    }
    out
}

/// The queue, oldest first: totals per state, whether anything is in progress, then one line
/// per message (up to `limit`) with its sender and recipients read back from the spool.
async fn queue_list(subjects: &Subjects, limit: usize) -> String {
    let Some((entries, activity)) = activity(subjects).await else {
        return "error: the queue manager is stopping\n".into();
    };
    let mut totals: Vec<(&str, usize)> = Vec::new();
    for e in &entries {
        match totals.iter_mut().find(|(state, _)| *state == e.state) {
            Some((_, n)) => *n += 1,
            None => totals.push((e.state, 1)),
        }
    }
    let summary: Vec<String> = totals.iter().map(|(state, n)| format!("{n} {state}")).collect();
    let mut out = format!(
        "{} messages{}{}\n",
        entries.len(),
        if entries.is_empty() { "" } else { ": " },
        summary.join(", ")
    );
    match activity.busy() {
        0 => out.push_str("activity: idle (nothing is being delivered or recorded)\n"),
        n => out.push_str(&format!("activity: {n} messages being loaded, delivered or recorded\n")),
    }
    let shown: Vec<QueueEntry> = entries.into_iter().take(limit).collect();
    let spool = subjects.spool.clone();
    let ids: Vec<spool::MessageId> = shown.iter().map(|e| e.id).collect();
    let envelopes =
        tokio::task::spawn_blocking(move || ids.iter().map(|id| spool.read_envelope(*id).ok()).collect())
            .await
            .unwrap_or_else(|_| vec![None; shown.len()]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    for (entry, envelope) in shown.iter().zip(envelopes) {
        out.push_str(&queue_line(entry, envelope.as_ref(), now));
    }
    out
}

fn queue_line(e: &QueueEntry, envelope: Option<&smtp_wire::Envelope>, now_ms: u64) -> String {
    let minutes = |ms: u64| ms / 60_000;
    let next = match e.next_attempt_unix_ms {
        // Rounded up: "next in 1m" until it is due.
        Some(at) if at > now_ms => format!("next in {}m", (at - now_ms).div_ceil(60_000)),
        Some(_) => "next now".into(),
        None => e.state.to_string(),
    };
    let parties = match envelope {
        Some(env) => {
            let first = env.recipients.first().map(|r| r.address.to_string()).unwrap_or_default();
            let more = env.recipients.len().saturating_sub(1);
            let more = if more > 0 { format!(" (+{more})") } else { String::new() };
            format!("{} -> {first}{more}", env.sender)
        }
        None => "(envelope unreadable)".into(),
    };
    let mut line = format!(
        "{}  {:<8}  age {}m  attempts {}  {}  pending {}  {}\n",
        e.id,
        e.state,
        minutes(now_ms.saturating_sub(e.received_at_unix_ms)),
        e.attempts,
        next,
        e.pending,
        parties
    );
    // Why it is still here, as `mailq` shows it: on its own indented line.
    if let Some(error) = &e.last_error {
        let error: String = error.chars().filter(|c| !c.is_control()).collect();
        line.push_str(&format!("    ({error})\n"));
    }
    line
}

/// Sends one request to a running server; `None` when no server answers.
pub async fn request(path: &Path, line: &str) -> Option<String> {
    let mut stream = UnixStream::connect(path).await.ok()?;
    stream.write_all(format!("{line}\n").as_bytes()).await.ok()?;
    let mut out = String::new();
    stream.read_to_string(&mut out).await.ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::Activity;

    #[test]
    fn idle_only_when_every_spooled_message_waits_and_nothing_moved() {
        let a = |spool_live, listed, waiting, spool_moved| {
            Activity { spool_live, listed, waiting, spool_moved }.busy()
        };
        assert_eq!(a(0, 0, 0, false), 0, "empty");
        assert_eq!(a(3, 3, 3, false), 0, "all waiting for their retry");
        assert_eq!(a(3, 3, 2, false), 1, "one ready, active or settling");
        assert_eq!(a(4, 3, 3, false), 1, "one in the spool the queue manager does not list yet");
        assert_eq!(a(0, 0, 0, true), 1, "the spool changed meanwhile");
    }
}
