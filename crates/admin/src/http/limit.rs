//! A rate limit per token on expensive endpoints: a token bucket per token id, time passed
//! in. The table is bounded: when full, buckets that have refilled are dropped first, then
//! the one idle longest.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Tokens (ids) tracked at most.
const BUCKETS_MAX: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Requests allowed in a burst.
    pub burst: u32,
    /// One more request allowed per this long.
    pub every: Duration,
}

impl Default for RateLimit {
    /// 20 at once, then one every 3 seconds (20 a minute).
    fn default() -> RateLimit {
        RateLimit { burst: 20, every: Duration::from_secs(3) }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    level: f64,
    at: Instant,
}

#[derive(Debug)]
pub struct Limiter {
    limit: RateLimit,
    buckets: HashMap<String, Bucket>,
}

impl Limiter {
    pub fn new(limit: RateLimit) -> Limiter {
        Limiter { limit, buckets: HashMap::new() }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let gained =
            now.saturating_duration_since(bucket.at).as_secs_f64() / self.limit.every.as_secs_f64().max(1e-3);
        (bucket.level + gained).min(f64::from(self.limit.burst))
    }

    /// Takes one request for `key`: `Ok` or `Err(seconds to wait)`.
    pub fn take(&mut self, key: &str, now: Instant) -> Result<(), u64> {
        if !self.buckets.contains_key(key) && self.buckets.len() >= BUCKETS_MAX {
            self.evict(now);
        }
        let full = Bucket { level: f64::from(self.limit.burst), at: now };
        let bucket = self.buckets.get(key).copied().unwrap_or(full);
        let level = self.refilled(bucket, now);
        if level >= 1.0 {
            self.buckets.insert(key.to_string(), Bucket { level: level - 1.0, at: now });
            Ok(())
        } else {
            self.buckets.insert(key.to_string(), Bucket { level, at: now });
            let wait = (1.0 - level) * self.limit.every.as_secs_f64();
            Err(wait.ceil().max(1.0) as u64)
        }
    }

    /// Whether `key` has a request left, without taking it: `Err(seconds to wait)`.
    pub fn peek(&self, key: &str, now: Instant) -> Result<(), u64> {
        let Some(bucket) = self.buckets.get(key) else { return Ok(()) };
        let level = self.refilled(*bucket, now);
        if level >= 1.0 {
            Ok(())
        } else {
            Err(((1.0 - level) * self.limit.every.as_secs_f64()).ceil().max(1.0) as u64)
        }
    }

    fn evict(&mut self, now: Instant) {
        let burst = f64::from(self.limit.burst);
        let full: Vec<String> = self
            .buckets
            .iter()
            .filter(|(_, b)| self.refilled(**b, now) >= burst)
            .map(|(k, _)| k.clone())
            .collect();
        for key in full {
            self.buckets.remove(&key);
        }
        if self.buckets.len() >= BUCKETS_MAX
            && let Some(oldest) = self.buckets.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| k.clone())
        {
            self.buckets.remove(&oldest);
        }
    }

    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval_per_key() {
        let mut l = Limiter::new(RateLimit { burst: 3, every: Duration::from_secs(10) });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.take("a", t0), Ok(()));
        }
        assert_eq!(l.take("a", t0), Err(10));
        assert_eq!(l.take("b", t0), Ok(()), "keys are separate");
        assert_eq!(l.take("a", t0 + Duration::from_secs(4)), Err(6));
        assert_eq!(l.peek("a", t0 + Duration::from_secs(4)), Err(6), "peeking takes nothing");
        assert_eq!(l.take("a", t0 + Duration::from_secs(10)), Ok(()));
    }

    #[test]
    fn the_table_is_bounded() {
        let mut l = Limiter::new(RateLimit { burst: 1, every: Duration::from_secs(3600) });
        let t0 = Instant::now();
        for n in 0..BUCKETS_MAX + 10 {
            let _ = l.take(&format!("k{n}"), t0 + Duration::from_millis(n as u64));
        }
        assert!(l.tracked() <= BUCKETS_MAX);
    }
}
