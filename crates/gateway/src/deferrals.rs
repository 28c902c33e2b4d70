//! The keys throttling deferred recently, for `sluice throttle list --throttled` and the admin
//! API: each client IP deferred, and each network prefix whose own allowance deferred its IPs
//! (AS503, AS505), with counts per AS token over the last day, deferrals and observe mode's
//! "would defer" apart. Counts are kept in five-minute buckets for the last hour and in
//! clock-hour buckets for the day, so a window of up to an hour is exact to five minutes and
//! a longer one to the hour.
//!
//! Keyed by remote input, so bounded: at most [`KEYS_MAX`] keys (about 1.5 KB each); when
//! full, the eighth deferred least recently is forgotten at once (one pass, not one per new
//! key, so an address-rotating flood costs constant time per deferral). Time is passed in.

use std::collections::HashMap;
use std::net::IpAddr;

use throttle::{AS_TABLE, ThrottleKey};

/// Keys tracked at most.
pub const KEYS_MAX: usize = 10_000;
/// The longest window a listing can ask for.
pub const WINDOW_MAX_S: u64 = 86_400;
const TOKENS: usize = AS_TABLE.len();
/// Per bucket: deferrals per token, then observe mode's would-defers per token.
const SLOTS: usize = 2 * TOKENS;
const FINE_S: u64 = 300;
const FINE: usize = 12;
const COARSE_S: u64 = 3_600;
const COARSE: usize = 24;

type Counts = [u32; SLOTS];

/// A ring of buckets of `width` seconds; bucket `n` holds the events of `[n * width, (n +
/// 1) * width)`, valid while `n` is within `len` buckets of `last`.
#[derive(Clone, Debug)]
struct Ring<const N: usize> {
    buckets: [Counts; N],
    last: u64,
}

impl<const N: usize> Ring<N> {
    fn new(bucket: u64) -> Self {
        Ring { buckets: [[0; SLOTS]; N], last: bucket }
    }

    /// Moves to `bucket`, clearing the buckets skipped over.
    fn roll_to(&mut self, bucket: u64) {
        let gap = bucket.saturating_sub(self.last).min(N as u64);
        for b in 1..=gap {
            self.buckets[((self.last + b) % N as u64) as usize] = [0; SLOTS];
        }
        self.last = self.last.max(bucket);
    }

    fn add(&mut self, bucket: u64, slot: usize) {
        self.roll_to(bucket);
        let counts = &mut self.buckets[(bucket % N as u64) as usize];
        counts[slot] = counts[slot].saturating_add(1);
    }

    /// The sum of the last `n` buckets up to `self.last` (after rolling to now).
    fn sum_last(&self, n: usize) -> Counts {
        let mut total = [0u32; SLOTS];
        for back in 0..n.min(N) as u64 {
            let Some(bucket) = self.last.checked_sub(back) else { break };
            for (t, c) in total.iter_mut().zip(&self.buckets[(bucket % N as u64) as usize]) {
                *t = t.saturating_add(*c);
            }
        }
        total
    }
}

#[derive(Clone, Debug)]
struct Entry {
    fine: Ring<FINE>,
    coarse: Ring<COARSE>,
    last_at_s: u64,
    last_token: &'static str,
    /// The client IP of the latest deferral (itself, for an IP key).
    last_ip: IpAddr,
}

/// Counts per token name, tokens in `AS_TABLE` order, zero counts left out.
pub type TokenCounts = Vec<(&'static str, u64)>;

/// One key's deferrals within a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentDeferral {
    /// The client IP, or the network prefix whose allowance was spent.
    pub key: ThrottleKey,
    /// The client IP of its latest deferral.
    pub last_ip: IpAddr,
    pub deferred: TokenCounts,
    /// Observe mode: recipients accepted that enforcing would have deferred.
    pub would_defer: TokenCounts,
    /// Deferrals (both kinds) in the current clock hour's last 60 minutes and over the day.
    pub last_hour: u64,
    pub last_day: u64,
    pub last_token: &'static str,
    pub last_at_s: u64,
}

impl RecentDeferral {
    /// Deferrals and would-defers in the window.
    pub fn total(&self) -> u64 {
        self.deferred.iter().chain(&self.would_defer).map(|(_, n)| n).sum()
    }
}

/// What one deferral is about.
#[derive(Clone, Copy, Debug)]
pub struct Deferred {
    pub ip: IpAddr,
    /// The key whose allowance was spent (the IP, or its prefix).
    pub key: ThrottleKey,
    pub token: throttle::AsToken,
    /// Observe mode: accepted, but enforcing would have deferred it.
    pub observed: bool,
}

#[derive(Debug, Default)]
pub struct RecentDeferrals {
    keys: HashMap<ThrottleKey, Entry>,
}

fn slot_of(d: &Deferred) -> usize {
    let token = AS_TABLE.iter().position(|r| r.token == d.token).unwrap_or(0);
    if d.observed { TOKENS + token } else { token }
}

impl RecentDeferrals {
    /// Counts one deferral under the client IP and, when the prefix's own allowance was
    /// spent, under the prefix too.
    pub fn record(&mut self, d: &Deferred, now_s: u64) {
        self.add(ThrottleKey::Ip(d.ip), d, now_s);
        if matches!(d.key, ThrottleKey::Prefix { .. }) {
            self.add(d.key, d, now_s);
        }
    }

    fn add(&mut self, key: ThrottleKey, d: &Deferred, now_s: u64) {
        if !self.keys.contains_key(&key) && self.keys.len() >= KEYS_MAX {
            self.evict();
        }
        let entry = self.keys.entry(key).or_insert_with(|| Entry {
            fine: Ring::new(now_s / FINE_S),
            coarse: Ring::new(now_s / COARSE_S),
            last_at_s: now_s,
            last_token: d.token.name(),
            last_ip: d.ip,
        });
        let slot = slot_of(d);
        entry.fine.add(now_s / FINE_S, slot);
        entry.coarse.add(now_s / COARSE_S, slot);
        if now_s >= entry.last_at_s {
            (entry.last_at_s, entry.last_token, entry.last_ip) = (now_s, d.token.name(), d.ip);
        }
    }

    /// Forgets the eighth of the keys deferred least recently.
    fn evict(&mut self) {
        let mut ages: Vec<u64> = self.keys.values().map(|e| e.last_at_s).collect();
        let cut = ages.len() / 8;
        let (_, threshold, _) = ages.select_nth_unstable(cut);
        let threshold = *threshold;
        let mut dropped = 0;
        // Ties at the threshold go too, up to the eighth.
        self.keys.retain(|_, e| {
            let drop = e.last_at_s < threshold || (e.last_at_s == threshold && dropped <= cut);
            dropped += usize::from(drop);
            !drop
        });
    }

    /// Keys deferred within the last `window_s` seconds (at most a day), most deferred in
    /// the window first; forgets keys not deferred for a day.
    pub fn list(&mut self, now_s: u64, window_s: u64) -> Vec<RecentDeferral> {
        self.keys.retain(|_, e| e.last_at_s + WINDOW_MAX_S > now_s);
        let window_s = window_s.clamp(1, WINDOW_MAX_S);
        let mut out: Vec<RecentDeferral> = self
            .keys
            .iter_mut()
            .filter(|(_, e)| e.last_at_s + window_s > now_s)
            .map(|(key, e)| {
                e.fine.roll_to(now_s / FINE_S);
                e.coarse.roll_to(now_s / COARSE_S);
                let window = if window_s <= FINE_S * FINE as u64 {
                    e.fine.sum_last(window_s.div_ceil(FINE_S) as usize)
                } else {
                    e.coarse.sum_last(window_s.div_ceil(COARSE_S) as usize)
                };
                let total = |c: Counts| c.iter().map(|n| u64::from(*n)).sum::<u64>();
                RecentDeferral {
                    key: *key,
                    last_ip: e.last_ip,
                    deferred: named(&window[..TOKENS]),
                    would_defer: named(&window[TOKENS..]),
                    last_hour: total(e.fine.sum_last(FINE)),
                    last_day: total(e.coarse.sum_last(COARSE)),
                    last_token: e.last_token,
                    last_at_s: e.last_at_s,
                }
            })
            .filter(|r| r.total() > 0)
            .collect();
        // Ties in a stable order (the map's is random): by IP, an IP before its prefix.
        let is_prefix = |r: &RecentDeferral| matches!(r.key, ThrottleKey::Prefix { .. });
        out.sort_by(|a, b| {
            (b.total().cmp(&a.total()))
                .then(b.last_at_s.cmp(&a.last_at_s))
                .then(a.last_ip.cmp(&b.last_ip))
                .then(is_prefix(a).cmp(&is_prefix(b)))
        });
        out
    }
}

fn named(counts: &[u32]) -> TokenCounts {
    AS_TABLE.iter().zip(counts).filter(|(_, n)| **n > 0).map(|(rule, n)| (rule.name, u64::from(*n))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use throttle::AsToken;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    fn prefix() -> ThrottleKey {
        ThrottleKey::Prefix { network: IpAddr::from([192, 0, 2, 0]), len: 24 }
    }

    fn deferred(n: u8, token: AsToken) -> Deferred {
        let key = match token {
            AsToken::As503 | AsToken::As505 => prefix(),
            _ => ThrottleKey::Ip(ip(n)),
        };
        Deferred { ip: ip(n), key, token, observed: false }
    }

    #[test]
    fn counts_per_token_in_the_window_and_forgets_after_a_day() {
        let mut r = RecentDeferrals::default();
        let t = 100 * 3_600;
        for _ in 0..3 {
            r.record(&deferred(1, AsToken::As501), t);
        }
        r.record(&deferred(1, AsToken::As502), t + 3_000);
        r.record(&Deferred { observed: true, ..deferred(2, AsToken::As501) }, t + 3_000);
        let now = t + 3_000 + 10;
        let list = r.list(now, 3_600);
        assert_eq!(list[0].key, ThrottleKey::Ip(ip(1)));
        assert_eq!(list[0].deferred, vec![("AS501", 3), ("AS502", 1)]);
        assert_eq!((list[0].last_token, list[0].last_at_s, list[0].last_day), ("AS502", t + 3_000, 4));
        assert_eq!(list[1].key, ThrottleKey::Ip(ip(2)));
        assert_eq!((list[1].deferred.clone(), list[1].would_defer.clone()), (vec![], vec![("AS501", 1)]));
        // Ten minutes: only the later two, exact to the five-minute bucket.
        let recent = r.list(now, 600);
        assert_eq!(recent[0].deferred, vec![("AS502", 1)], "{recent:?}");
        assert_eq!(recent.len(), 2);
        assert!(r.list(t + 30 * 3_600, WINDOW_MAX_S).is_empty());
        assert!(r.keys.is_empty(), "a day later the keys are forgotten");
    }

    #[test]
    fn a_prefix_whose_allowance_was_spent_is_listed_with_its_ips() {
        let mut r = RecentDeferrals::default();
        let t = 50 * 3_600;
        for n in 1..=4 {
            r.record(&deferred(n, AsToken::As505), t + u64::from(n));
        }
        let list = r.list(t + 10, 3_600);
        assert_eq!(list[0].key, prefix(), "the prefix has the most deferrals");
        assert_eq!((list[0].deferred.clone(), list[0].last_ip), (vec![("AS505", 4)], ip(4)));
        assert_eq!(list.len(), 5);
    }

    #[test]
    fn a_longer_window_counts_whole_hours() {
        let mut r = RecentDeferrals::default();
        let t = 10 * 3_600;
        r.record(&deferred(1, AsToken::As501), t + 60);
        r.record(&deferred(1, AsToken::As501), t + 3 * 3_600 + 60);
        let now = t + 3 * 3_600 + 120;
        assert_eq!(r.list(now, 2 * 3_600)[0].deferred, vec![("AS501", 1)]);
        assert_eq!(r.list(now, 4 * 3_600)[0].deferred, vec![("AS501", 2)]);
    }

    #[test]
    fn bounded_and_evicts_the_least_recent_in_one_pass() {
        let mut r = RecentDeferrals::default();
        for n in 0..(KEYS_MAX as u32 + 5) {
            let ip = IpAddr::from(n.to_be_bytes());
            r.record(
                &Deferred { ip, key: ThrottleKey::Ip(ip), token: AsToken::As501, observed: false },
                1_000 + u64::from(n),
            );
        }
        assert!(r.keys.len() <= KEYS_MAX);
        assert!(r.keys.len() > KEYS_MAX * 7 / 8);
        assert!(r.keys.contains_key(&ThrottleKey::Ip(IpAddr::from((KEYS_MAX as u32 + 4).to_be_bytes()))));
        assert!(!r.keys.contains_key(&ThrottleKey::Ip(IpAddr::from(0u32.to_be_bytes()))), "the oldest went");
    }
}
