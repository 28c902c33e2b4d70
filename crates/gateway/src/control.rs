//! The control socket (`<data_dir>/control.sock`): how `sluice throttle show` asks the
//! running server about its live state. One request line, a text answer, then close.
//! Only local users with access to the data directory can reach it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::throttling::{Throttling, render_explanation};
use throttle::AS_TABLE;

const REQUEST_BYTES_MAX: u64 = 512;

/// Binds the socket, replacing a stale one left by a crash.
pub(crate) fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if path.exists() && std::os::unix::net::UnixStream::connect(path).is_err() {
        std::fs::remove_file(path)?;
    }
    UnixListener::bind(path)
}

pub(crate) async fn serve(
    listener: UnixListener,
    path: PathBuf,
    throttling: Option<Arc<Throttling>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut clients = JoinSet::new();
    loop {
        while clients.try_join_next().is_some() {}
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let throttling = throttling.clone();
                    clients.spawn(async move {
                        let _ = tokio::time::timeout(Duration::from_secs(10), answer(stream, throttling)).await;
                    });
                }
            }
            _ = stop.changed() => break,
        }
    }
    clients.shutdown().await;
    let _ = std::fs::remove_file(path);
}

async fn answer(stream: UnixStream, throttling: Option<Arc<Throttling>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(REQUEST_BYTES_MAX)).read_line(&mut line).await?;
    let response = respond(line.trim(), throttling.as_deref());
    write.write_all(response.as_bytes()).await?;
    write.shutdown().await
}

fn respond(request: &str, throttling: Option<&Throttling>) -> String {
    let mut words = request.split_whitespace();
    match (words.next(), words.next(), throttling) {
        (Some("throttle-show"), Some(ip), Some(t)) => match ip.parse::<IpAddr>() {
            Ok(ip) => render_explanation(&t.explain(ip), t.is_allow_listed(ip)),
            Err(_) => format!("error: {ip:?} is not an IP address\n"),
        },
        (Some("stats"), None, Some(t)) => stats(t),
        (Some("throttle-show" | "stats"), _, None) => {
            "error: throttling is disabled in this server's config\n".into()
        }
        _ => format!("error: unknown request {request:?}\n"),
    }
}

fn stats(t: &Throttling) -> String {
    let c = t.counters();
    let mut out = format!(
        "throttle_tracked_keys {}\nthrottle_recipients_accepted {}\nthrottle_recipients_allow_listed {}\nthrottle_recipients_bypassed {}\n",
        t.engine().tracked_keys(),
        c.accepted.load(Ordering::Relaxed),
        c.allow_listed.load(Ordering::Relaxed),
        c.bypassed.load(Ordering::Relaxed),
    );
    for (rule, count) in AS_TABLE.iter().zip(&c.deferred) {
        out.push_str(&format!(
            "throttle_recipients_deferred{{token=\"{}\"}} {}\n",
            rule.name,
            count.load(Ordering::Relaxed)
        ));
    }
    out
}

/// Sends one request to a running server; `None` when no server answers.
pub async fn request(path: &Path, line: &str) -> Option<String> {
    let mut stream = UnixStream::connect(path).await.ok()?;
    stream.write_all(format!("{line}\n").as_bytes()).await.ok()?;
    let mut out = String::new();
    stream.read_to_string(&mut out).await.ok()?;
    Some(out)
}
