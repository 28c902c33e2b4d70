//! Cache-miss counting harness (not a timing bench): seeds `THROTTLE_MISSES_IPS` IPs
//! (default 1,000,000), then makes `THROTTLE_MISSES_DECISIONS` decisions (default 1,000,000)
//! for IPs drawn uniformly from them, one `Engine::decide` each, or batches of 64 with
//! `THROTTLE_MISSES_BATCH=1`. Run it under cachegrind twice, with 0 decisions and with N,
//! and divide the difference by N for the misses and instructions of one decision:
//!
//! ```text
//! valgrind --tool=cachegrind --cache-sim=yes --D1=49152,12,64 --LL=33554432,16,64 \
//!     target/release/deps/misses-* --bench
//! ```

use std::hint::black_box;
use std::net::IpAddr;

mod common;

use common::ip_of;
use throttle::{Engine, Policy};

fn env(name: &str, default: u32) -> u32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let (n, decisions) = (env("THROTTLE_MISSES_IPS", 1_000_000), env("THROTTLE_MISSES_DECISIONS", 1_000_000));
    let engine = Engine::new(Policy { max_keys: 2 * n as usize, ..Policy::default() });
    let t0 = 1_800_000_000u64;
    for i in 0..n {
        engine.decide(ip_of(i), 1, t0);
    }
    let mut x = 0x1234_5678_9abc_def0_u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ip_of((x % u64::from(n)) as u32)
    };
    if env("THROTTLE_MISSES_BATCH", 0) == 1 {
        let mut out = Vec::with_capacity(64);
        for _ in 0..decisions / 64 {
            let batch: Vec<(IpAddr, u32)> = (0..64).map(|_| (next(), 1)).collect();
            out.clear();
            engine.decide_batch(&batch, t0 + 1, &mut out);
            black_box(&out);
        }
    } else {
        for _ in 0..decisions {
            black_box(engine.decide(next(), 1, t0 + 1));
        }
    }
    println!("{} keys", engine.tracked_keys());
}
