//! Throttle engine figures (not a test): decisions per second on one core, memory per key,
//! snapshot save and restore times. Run with `cargo bench -p throttle`.
//! `THROTTLE_BENCH_QUICK=1` skips the 10-million-key runs; `THROTTLE_BENCH_PERSIST_ONLY=1`
//! only seeds 10 million IPs and measures memory, save and restore.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

mod common;

use common::{Meter, cpu_ns, ip_of, rate_text};
use throttle::{Core, Engine, Policy};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy)]
enum Dist {
    Uniform,
    /// Zipf with s = 1 over the population, by log-uniform inversion.
    Zipf,
}

fn draws(n: u32, count: usize, dist: Dist, seed: u64) -> Vec<IpAddr> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|_| {
            let i = match dist {
                Dist::Uniform => (rng.next() % u64::from(n)) as u32,
                Dist::Zipf => ((f64::from(n).powf(rng.unit()) as u32).max(1) - 1).min(n - 1),
            };
            ip_of(i)
        })
        .collect()
}

fn policy(max_keys: usize) -> Policy {
    Policy { max_keys, ..Policy::default() }
}

/// Seeds every IP once (so the table holds the whole population), then times `ops` decisions.
fn engine_rate(n: u32, dist: Dist, ops: usize) -> (Engine, (f64, f64)) {
    let engine = Engine::new(policy(2 * n as usize));
    let t0 = 1_800_000_000u64;
    for i in 0..n {
        engine.decide(ip_of(i), 1, t0 + u64::from(i) / 10_000);
    }
    let ips = draws(n, ops, dist, 0x1234_5678 + n as u64);
    let meter = Meter::start();
    let base = t0 + u64::from(n) / 10_000;
    for (k, ip) in ips.iter().enumerate() {
        black_box(engine.decide(*ip, 1, base + k as u64 / 100_000));
    }
    (engine, meter.rates(ops))
}

fn core_rate(n: u32, dist: Dist, ops: usize) -> (f64, f64) {
    let mut core = Core::new(policy(2 * n as usize)).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..n {
        core.decide(ip_of(i), 1, u64::from(i) / 10_000);
    }
    let ips = draws(n, ops, dist, 99);
    let meter = Meter::start();
    let base = u64::from(n) / 10_000;
    for (k, ip) in ips.iter().enumerate() {
        black_box(core.decide(*ip, 1, base + k as u64 / 100_000));
    }
    meter.rates(ops)
}

/// Decisions in batches of 64 transactions with the same `now` (e.g. a replay, or a
/// gateway draining its RCPT queue).
fn engine_batch_rate(engine: &Engine, n: u32, dist: Dist, ops: usize) -> (f64, f64) {
    let ips = draws(n, ops, dist, 4242);
    let batch: Vec<(IpAddr, u32)> = ips.iter().map(|ip| (*ip, 1)).collect();
    let mut out = Vec::with_capacity(64);
    let meter = Meter::start();
    for (k, chunk) in batch.chunks(64).enumerate() {
        out.clear();
        engine.decide_batch(chunk, 1_950_000_000 + k as u64 / 1_500, &mut out);
        black_box(&out);
    }
    meter.rates(ops)
}

fn core_batch_rate(n: u32, ops: usize) -> (f64, f64) {
    let mut core = Core::new(policy(2 * n as usize)).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..n {
        core.decide(ip_of(i), 1, u64::from(i) / 10_000);
    }
    let batch: Vec<(IpAddr, u32)> = draws(n, ops, Dist::Uniform, 77).into_iter().map(|ip| (ip, 1)).collect();
    let mut out = Vec::with_capacity(64);
    let meter = Meter::start();
    for (k, chunk) in batch.chunks(64).enumerate() {
        out.clear();
        core.decide_batch(chunk, 1_000 + k as u64 / 1_500, &mut out);
        black_box(&out);
    }
    meter.rates(ops)
}

fn two_threads(engine: &Engine, n: u32, ops: usize) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let ips = draws(n, ops, Dist::Uniform, 7 + t);
            s.spawn(move || {
                for (k, ip) in ips.iter().enumerate() {
                    black_box(engine.decide(*ip, 1, 1_900_000_000 + k as u64 / 100_000));
                }
            });
        }
    });
    2.0 * ops as f64 / start.elapsed().as_secs_f64()
}

/// Wall and CPU seconds since `start` and `cpu0`.
fn seconds(start: Instant, cpu0: u64) -> (f64, f64) {
    (start.elapsed().as_secs_f64(), cpu_ns().saturating_sub(cpu0) as f64 / 1e9)
}

fn persistence(engine: &Engine, n: u32) {
    let mut snapshot = Vec::with_capacity(engine.tracked_keys() * 60 + 1024);
    let (start, cpu0) = (Instant::now(), cpu_ns());
    if let Err(e) = engine.save(&mut snapshot) {
        panic!("save: {e}");
    }
    let save = seconds(start, cpu0);
    let (start, cpu0) = (Instant::now(), cpu_ns());
    let back = Engine::restore(&mut snapshot.as_slice(), engine.policy().clone());
    let restore = seconds(start, cpu0);
    let keys = back.map(|b| b.tracked_keys()).unwrap_or(0);
    println!(
        "  snapshot of {n} IPs ({} keys, {:.0} MB): save {:.2} s, restore {:.2} s ({keys} keys back); CPU {:.2} s + {:.2} s",
        engine.tracked_keys(),
        snapshot.len() as f64 / 1e6,
        save.0,
        restore.0,
        save.1,
        restore.1
    );
}

fn memory(engine: &Engine, n: u32) {
    let bytes = engine.table_bytes();
    let keys = engine.tracked_keys();
    println!(
        "  memory: {:.2} GiB of tables for {keys} keys ({n} IPs + their prefixes): {:.0} B/key, {:.0} B/IP",
        bytes as f64 / f64::from(1u32 << 30),
        bytes as f64 / keys as f64,
        bytes as f64 / f64::from(n)
    );
}

fn main() {
    if std::env::var_os("THROTTLE_BENCH_PERSIST_ONLY").is_some() {
        let n = 10_000_000;
        let (engine, _) = engine_rate(n, Dist::Uniform, 1);
        memory(&engine, n);
        persistence(&engine, n);
        return;
    }
    let quick = std::env::var_os("THROTTLE_BENCH_QUICK").is_some();
    let hot = core_rate(10_000, Dist::Uniform, 10_000_000);
    println!("cache-resident population (10,000 IPs), Core: {}", rate_text(hot));
    if std::env::var_os("THROTTLE_BENCH_HOT_ONLY").is_some() {
        return;
    }
    let sizes: &[u32] = if quick { &[1_000_000] } else { &[1_000_000, 10_000_000] };
    for &n in sizes {
        println!("population {n} distinct IPv4 addresses (uniform over the address space)");
        let ops = 10_000_000;
        let (_, zipf) = engine_rate(n, Dist::Zipf, ops);
        println!("  Engine, 1 thread, Zipf(s=1):  {}", rate_text(zipf));
        let (engine, uniform) = engine_rate(n, Dist::Uniform, ops);
        println!("  Engine, 1 thread, uniform:    {}", rate_text(uniform));
        println!("  Core (no locks), Zipf:        {}", rate_text(core_rate(n, Dist::Zipf, ops)));
        println!("  Core (no locks), uniform:     {}", rate_text(core_rate(n, Dist::Uniform, ops)));
        println!(
            "  Engine, 2 threads, uniform:   {:.2} M decisions/s",
            two_threads(&engine, n, ops / 2) / 1e6
        );
        let batched = engine_batch_rate(&engine, n, Dist::Uniform, ops);
        println!("  Engine, 1 thread, batches of 64, uniform: {}", rate_text(batched));
        let batched = engine_batch_rate(&engine, n, Dist::Zipf, ops);
        println!("  Engine, 1 thread, batches of 64, Zipf:    {}", rate_text(batched));
        println!("  Core, batches of 64, uniform: {}", rate_text(core_batch_rate(n, ops)));
        memory(&engine, n);
        persistence(&engine, n);
    }
}
