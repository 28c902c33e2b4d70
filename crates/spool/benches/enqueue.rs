//! Enqueue throughput: 4 KiB messages from 50 threads, each waiting for its `250` (the
//! durable callback) before sending the next, as SMTP sessions do. Prints messages/second.
//!
//! `cargo bench -p spool --bench enqueue`; `SPOOL_BENCH_DIR` picks the file system (default:
//! the system temp dir), `SPOOL_BENCH_MESSAGES` the messages per thread.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::mpsc;
use std::time::Instant;

use smtp_wire::{Address, BodyType, ClientInfo, Envelope, Recipient, ReversePath};
use spool::{Spool, SpoolConfig};

const THREADS: usize = 50;
const MESSAGE_BYTES: usize = 4096;

fn envelope() -> Envelope {
    let addr = |l: &str| Address { local_part: l.into(), domain: "example.org".into() };
    Envelope {
        sender: ReversePath::Mailbox(addr("sender")),
        recipients: vec![Recipient { address: addr("rcpt"), notify: None, orcpt: None }],
        body: BodyType::EightBitMime,
        smtputf8: false,
        ret: None,
        envid: None,
        declared_size: Some(MESSAGE_BYTES as u64),
        client: ClientInfo {
            ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
            helo: "client.example.com".into(),
            esmtp: true,
            tls: None,
        },
    }
}

fn main() {
    let base = std::env::var_os("SPOOL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let per_thread: usize =
        std::env::var("SPOOL_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir_in(base).unwrap();
    let (spool, _) = Spool::open(SpoolConfig::new(dir.path())).unwrap();
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let spool = spool.clone();
            s.spawn(move || session(&spool, per_thread));
        }
    });
    let elapsed = started.elapsed();
    let stats = spool.stats();
    let total = THREADS * per_thread;
    println!(
        "enqueue: {total} x {MESSAGE_BYTES} B from {THREADS} threads in {:.2} s: {:.0} messages/s, \
         {} syncs, {:.1} messages per batch ({})",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        stats.syncs,
        total as f64 / stats.batches.max(1) as f64,
        dir.path().display(),
    );
    spool.close();
}

fn session(spool: &Spool, messages: usize) {
    let data = vec![b'x'; MESSAGE_BYTES];
    for _ in 0..messages {
        let (tx, rx) = mpsc::sync_channel(1);
        let callback = move |r| tx.send(r).unwrap();
        spool.enqueue(envelope(), 0, data.clone(), Box::new(callback));
        rx.recv().unwrap().unwrap();
    }
}
