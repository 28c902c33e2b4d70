//! Rolling windows of counts in `N` buckets of `bucket_s` seconds each.
//!
//! A count made at time `t` stays in the window until the clock reaches the end of the
//! bucket `N` buckets after `t`'s: it leaves between `(N - 1) x bucket_s` and
//! `N x bucket_s` after it was made. Limits are therefore up to one bucket lenient, never
//! stricter than the window they name. The bucket length is passed to every call rather
//! than stored: each window's owner uses one constant length (or resets the window when a
//! policy reload changes it), which keeps a window at `8 + 4 x N` bytes.

/// `N` counters, the newest at `head`. A clock that goes backwards counts into the newest
/// bucket: never a panic, never a count lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rolling<const N: usize> {
    /// Absolute index (`time / bucket_s`) of the newest bucket.
    head: u64,
    counts: [u32; N],
}

impl<const N: usize> Default for Rolling<N> {
    fn default() -> Self {
        Rolling { head: 0, counts: [0; N] }
    }
}

impl<const N: usize> Rolling<N> {
    /// Moves the window to `now_s`, dropping buckets that fell out of it.
    pub(crate) fn advance(&mut self, now_s: u64, bucket_s: u64) {
        let bucket = now_s / bucket_s.max(1);
        if bucket <= self.head {
            return;
        }
        if bucket - self.head >= N as u64 {
            self.counts = [0; N];
        } else {
            for b in self.head + 1..=bucket {
                self.counts[Self::slot(b)] = 0;
            }
        }
        self.head = bucket;
    }

    /// Adds `n` to the newest bucket (call [`Rolling::advance`] first).
    pub(crate) fn add(&mut self, n: u32) {
        let slot = &mut self.counts[Self::slot(self.head)];
        *slot = slot.saturating_add(n);
    }

    /// Adds `n` to the bucket of time `at_s` (another node's count): a newer time moves the
    /// window there first; a time older than the window is dropped.
    pub(crate) fn add_at(&mut self, at_s: u64, bucket_s: u64, n: u32) {
        let bucket = at_s / bucket_s.max(1);
        if bucket > self.head {
            self.advance(at_s, bucket_s);
        }
        if self.head - bucket < N as u64 {
            let slot = &mut self.counts[Self::slot(bucket)];
            *slot = slot.saturating_add(n);
        }
    }

    /// The sum of the window (call [`Rolling::advance`] first).
    pub(crate) fn total(&self) -> u64 {
        self.counts.iter().map(|&c| u64::from(c)).sum()
    }

    /// Seconds from `now_s` until the total drops below `limit` by counts leaving the
    /// window (0 when it already is below).
    pub(crate) fn frees_in_s(&self, now_s: u64, bucket_s: u64, limit: u64) -> u64 {
        let bucket_s = bucket_s.max(1);
        let mut remaining = self.total();
        let oldest = self.head.saturating_sub(N as u64 - 1);
        for b in oldest..=self.head {
            if remaining < limit {
                break;
            }
            remaining -= u64::from(self.counts[Self::slot(b)]);
            // Bucket `b` is cleared when the head reaches `b + N`.
            if remaining < limit {
                return ((b + N as u64) * bucket_s).saturating_sub(now_s);
            }
        }
        0
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.counts.iter().all(|&c| c == 0)
    }

    fn slot(bucket: u64) -> usize {
        (bucket % N as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_leave_after_the_window_and_not_before() {
        let mut w = Rolling::<24>::default();
        w.advance(10_000 * 3600 + 1800, 3600);
        w.add(5);
        w.advance(10_000 * 3600 + 3600 * 5, 3600);
        w.add(2);
        assert_eq!(w.total(), 7);
        // The first count leaves at the start of the 24th hour after its own.
        w.advance(10_024 * 3600 - 1, 3600);
        assert_eq!(w.total(), 7);
        w.advance(10_024 * 3600, 3600);
        assert_eq!(w.total(), 2);
        w.advance(10_100 * 3600, 3600);
        assert_eq!(w.total(), 0);
        assert!(w.is_empty());
    }

    #[test]
    fn a_clock_going_back_counts_into_the_newest_bucket() {
        let mut w = Rolling::<12>::default();
        w.advance(100_000, 300);
        w.add(1);
        w.advance(50_000, 300);
        w.add(1);
        assert_eq!(w.total(), 2);
    }

    #[test]
    fn counts_from_another_node_land_in_the_bucket_of_their_time() {
        let mut w = Rolling::<12>::default();
        w.advance(100_000, 300);
        w.add_at(100_000 - 900, 300, 3);
        w.add_at(100_000 - 300 * 12, 300, 5);
        assert_eq!(w.total(), 3, "older than the window: dropped");
        w.advance(100_000 - 900 + 300 * 11, 300);
        assert_eq!(w.total(), 3, "still in its window");
        w.advance(100_000 - 900 + 300 * 12, 300);
        assert_eq!(w.total(), 0, "it leaves when its own bucket does");
        w.add_at(200_000, 300, 2);
        assert_eq!(w.total(), 2, "a newer time moves the window");
    }

    #[test]
    fn frees_in_says_when_enough_has_left() {
        let mut w = Rolling::<12>::default();
        let t0 = 3600 * 100;
        w.advance(t0, 300);
        w.add(600);
        w.advance(t0 + 1200, 300);
        w.add(400);
        assert_eq!(w.frees_in_s(t0 + 1500, 300, 2000), 0);
        // Under 1,000 once the first bucket leaves, at t0 + 3600.
        assert_eq!(w.frees_in_s(t0 + 1500, 300, 1000), 2100);
        // Under 300 only when the second has left too, at t0 + 1200 + 3600.
        assert_eq!(w.frees_in_s(t0 + 1500, 300, 300), 3300);
    }
}
