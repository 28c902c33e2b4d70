//! Enqueue throughput: 4 KiB messages from 50 threads, each waiting for its `250` (the
//! durable callback) before sending the next, as SMTP sessions do. Prints messages/second
//! and the enqueue-to-durable latency.
//!
//! `cargo bench -p spool --bench enqueue`; `SPOOL_BENCH_DIR` picks the file system (default:
//! the system temp dir), `SPOOL_BENCH_MESSAGES` the messages per thread.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use smtp_wire::{Address, BodyType, ClientInfo, Envelope, Recipient, ReversePath};
use spool::{Spool, SpoolConfig};

const THREADS: usize = 50;
const MESSAGE_BYTES: usize = 4096;

fn envelope() -> Envelope {
    let sender = ReversePath::Mailbox(Address::new("sender", "example.org"));
    let recipients = vec![Recipient::new(Address::new("rcpt", "example.org"))];
    let client = ClientInfo::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), "client.example.com");
    Envelope {
        body: BodyType::EightBitMime,
        declared_size: Some(MESSAGE_BYTES as u64),
        ..Envelope::new(sender, recipients, client)
    }
}

fn main() {
    let base = std::env::var_os("SPOOL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let per_thread: usize =
        std::env::var("SPOOL_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir_in(base).unwrap();
    let spool = Spool::open(SpoolConfig::new(dir.path())).unwrap().spool;
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|s| {
        let sessions: Vec<_> = (0..THREADS)
            .map(|_| {
                let spool = spool.clone();
                s.spawn(move || session(&spool, per_thread))
            })
            .collect();
        sessions.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    let stats = spool.stats();
    let total = THREADS * per_thread;
    println!(
        "enqueue: {total} x {MESSAGE_BYTES} B from {THREADS} threads in {:.2} s: {:.0} messages/s, \
         {} syncs, {:.1} messages per batch, latency p50 {:.2} ms p99 {:.2} ms ({})",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        stats.syncs,
        total as f64 / stats.batches.max(1) as f64,
        at(0.5),
        at(0.99),
        dir.path().display(),
    );
    spool.close();
}

/// One session's messages, each sent after the previous one is durable; returns the time
/// from `enqueue` to its callback for each.
fn session(spool: &Spool, messages: usize) -> Vec<Duration> {
    let data = vec![b'x'; MESSAGE_BYTES];
    let mut latencies = Vec::with_capacity(messages);
    for _ in 0..messages {
        let (tx, rx) = mpsc::sync_channel(1);
        let callback = move |r| tx.send(r).unwrap();
        let sent = Instant::now();
        spool.enqueue(envelope(), 0, data.clone(), Box::new(callback));
        rx.recv().unwrap().unwrap();
        latencies.push(sent.elapsed());
    }
    latencies
}
