//! The numbers: counters, gauges, histograms and a fixed-size table of counters keyed by
//! small integers. Every update is one or two relaxed atomic operations.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// A total that only grows (and is set once, when a saved total is restored).
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Adds a total saved by an earlier run (at start, before anything counts).
    pub fn restore(&self, saved: u64) {
        self.add(saved);
    }
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counter({})", self.get())
    }
}

/// A value that goes up and down (open connections, queued messages).
#[derive(Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub const fn new() -> Gauge {
        Gauge(AtomicI64::new(0))
    }

    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Gauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gauge({})", self.get())
    }
}

/// Upper bounds of the latency buckets, in microseconds: from 100 µs (an fsync on a fast
/// disk) to 5 minutes (a slow remote server's whole conversation). One layout for every
/// histogram, so they can be compared and aggregated.
pub const BUCKET_BOUNDS_US: [u64; 20] = [
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    120_000_000,
    300_000_000,
];

/// A latency distribution over [`BUCKET_BOUNDS_US`] (plus the `+Inf` bucket), with the sum
/// of the observations. Buckets are stored individually and made cumulative when rendered.
pub struct Histogram {
    buckets: [AtomicU64; BUCKET_BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new()
    }
}

impl Histogram {
    pub const fn new() -> Histogram {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; BUCKET_BOUNDS_US.len() + 1],
            sum_us: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKET_BOUNDS_US.partition_point(|bound| *bound < us);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Observations per bucket (not cumulative), the last one being `+Inf`.
    pub fn buckets(&self) -> [u64; BUCKET_BOUNDS_US.len() + 1] {
        std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed))
    }

    pub fn count(&self) -> u64 {
        self.buckets().iter().sum()
    }

    pub fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_us.load(Ordering::Relaxed))
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Histogram(count {}, sum {:?})", self.count(), self.sum())
    }
}

/// Counters keyed by a non-zero `u64` that the caller packs (an SMTP reply code with its
/// enhanced code, say), in a fixed table of `N` cells filled by compare-and-swap: no lock,
/// no allocation. A key that finds no free cell is counted in [`KeyedCounters::overflow`].
pub struct KeyedCounters<const N: usize> {
    keys: [AtomicU64; N],
    counts: [AtomicU64; N],
    overflow: AtomicU64,
}

impl<const N: usize> Default for KeyedCounters<N> {
    fn default() -> Self {
        KeyedCounters::new()
    }
}

impl<const N: usize> KeyedCounters<N> {
    pub const fn new() -> Self {
        KeyedCounters {
            keys: [const { AtomicU64::new(0) }; N],
            counts: [const { AtomicU64::new(0) }; N],
            overflow: AtomicU64::new(0),
        }
    }

    /// Adds `n` to `key`'s counter; key 0 (reserved for free cells) counts as overflow.
    pub fn add(&self, key: u64, n: u64) {
        match self.cell(key) {
            Some(cell) => self.counts[cell].fetch_add(n, Ordering::Relaxed),
            None => self.overflow.fetch_add(n, Ordering::Relaxed),
        };
    }

    /// The cell of `key`, claimed if the key is new; `None` when the table is full.
    fn cell(&self, key: u64) -> Option<usize> {
        if key == 0 || N == 0 {
            return None;
        }
        let start = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % N;
        for probe in 0..N {
            let cell = (start + probe) % N;
            match self.keys[cell].load(Ordering::Acquire) {
                found if found == key => return Some(cell),
                0 => match self.keys[cell].compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return Some(cell),
                    Err(found) if found == key => return Some(cell),
                    Err(_) => continue,
                },
                _ => continue,
            }
        }
        None
    }

    /// Every key counted so far with its count, in key order.
    pub fn entries(&self) -> Vec<(u64, u64)> {
        let mut entries: Vec<(u64, u64)> = (0..N)
            .filter_map(|cell| {
                let key = self.keys[cell].load(Ordering::Acquire);
                (key != 0).then(|| (key, self.counts[cell].load(Ordering::Relaxed)))
            })
            .collect();
        entries.sort_unstable();
        entries
    }

    /// What did not fit in the table.
    pub fn overflow(&self) -> u64 {
        self.overflow.load(Ordering::Relaxed)
    }
}

impl<const N: usize> fmt::Debug for KeyedCounters<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCounters")
            .field("entries", &self.entries())
            .field("overflow", &self.overflow())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = Histogram::new();
        let cases: &[(u64, usize)] =
            &[(0, 0), (100, 0), (101, 1), (999, 3), (1_000, 3), (300_000_000, 19), (300_000_001, 20)];
        for (us, _) in cases {
            h.observe(Duration::from_micros(*us));
        }
        let buckets = h.buckets();
        for (us, bucket) in cases {
            assert!(buckets[*bucket] >= 1, "{us} µs belongs in bucket {bucket}: {buckets:?}");
        }
        assert_eq!(h.count(), cases.len() as u64);
        assert_eq!(h.sum(), Duration::from_micros(cases.iter().map(|(us, _)| us).sum()));
    }

    #[test]
    fn keyed_counters_fill_the_table_then_overflow() {
        let table = KeyedCounters::<3>::new();
        for key in [7, 9, 7, 11, 7] {
            table.add(key, 1);
        }
        table.add(13, 5);
        table.add(0, 2);
        assert_eq!(table.entries(), vec![(7, 3), (9, 1), (11, 1)]);
        assert_eq!(table.overflow(), 7, "a fourth key and the reserved key 0 overflow");
    }

    #[test]
    fn keyed_counters_count_every_add_from_many_threads() {
        let table = KeyedCounters::<64>::new();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let table = &table;
                s.spawn(move || {
                    for i in 0..10_000u64 {
                        table.add(1 + (i + t) % 40, 1);
                    }
                });
            }
        });
        let entries = table.entries();
        assert_eq!(entries.len(), 40, "each key has exactly one cell");
        assert_eq!(entries.iter().map(|(_, n)| n).sum::<u64>(), 40_000);
        assert_eq!(table.overflow(), 0);
    }

    #[test]
    fn gauges_and_counters() {
        let (c, g) = (Counter::new(), Gauge::new());
        c.restore(40);
        c.add(2);
        g.inc();
        g.inc();
        g.dec();
        assert_eq!((c.get(), g.get()), (42, 1));
        g.set(-3);
        assert_eq!(g.get(), -3);
    }
}
