//! What the throttle benches share; each bench binary uses a part of it.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

/// Distinct, scattered IPv4 addresses: a bijective mix of 0..n over the 32-bit space.
pub fn ip_of(i: u32) -> IpAddr {
    let mut x = i.wrapping_mul(0x9e37_79b1);
    x ^= x >> 15;
    x = x.wrapping_mul(0x85eb_ca77);
    x ^= x >> 13;
    IpAddr::V4(Ipv4Addr::from(x))
}

/// Nanoseconds this thread has run on a CPU (`/proc/thread-self/schedstat`): unlike the
/// wall clock, it does not count the time other processes held the core, which on a shared
/// machine is most of the noise. 0 where the kernel does not keep it.
pub fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Measures a run of operations by the wall clock and by this thread's CPU time.
#[derive(Debug)]
pub struct Meter {
    wall: std::time::Instant,
    cpu_ns: u64,
}

impl Meter {
    pub fn start() -> Meter {
        Meter { wall: std::time::Instant::now(), cpu_ns: cpu_ns() }
    }

    /// (operations per wall-clock second, per CPU second of this thread).
    pub fn rates(&self, ops: usize) -> (f64, f64) {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = cpu_ns().saturating_sub(self.cpu_ns) as f64 / 1e9;
        (ops as f64 / wall, if cpu > 0.0 { ops as f64 / cpu } else { f64::NAN })
    }
}

/// `1.23 M decisions/s (2.34 M per CPU second)`.
pub fn rate_text((wall, cpu): (f64, f64)) -> String {
    format!("{:.2} M decisions/s ({:.2} M per CPU second)", wall / 1e6, cpu / 1e6)
}
