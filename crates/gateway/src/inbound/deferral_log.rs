//! Which throttling deferrals get a log line of their own. A blast of ten thousand recipients
//! must not write ten thousand lines: per client IP, AS token and kind (deferred, or observe
//! mode's would-defer), the first deferral opens a window of [`WINDOW_S`] and is logged in
//! full; the others in the window are folded into one summary line with their count, written
//! when the window closes (the gateway asks every few seconds, and at shutdown).
//!
//! Sans-IO: time is passed in and the caller writes the lines. Keyed by remote input, so
//! bounded: at most [`KEYS_MAX`] open windows; when full, the eighth opened earliest close at
//! once (their summaries are written then, so nothing is lost, only cut shorter).

use std::collections::HashMap;
use std::net::IpAddr;

use throttle::AsToken;

/// How long a window stays open after its first deferral.
pub const WINDOW_S: u64 = 60;
/// Open windows at most.
pub const KEYS_MAX: usize = 10_000;

/// What deferrals are folded together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LogKey {
    pub ip: IpAddr,
    pub token: AsToken,
    /// Observe mode's "would defer" (accepted), apart from real deferrals.
    pub observed: bool,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    opened_s: u64,
    /// Deferrals after the first.
    repeats: u32,
    first_repeat_s: u64,
    last_s: u64,
    retry_after_s: u32,
}

/// A closed window's deferrals after its first, for one summary line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub key: LogKey,
    pub repeats: u32,
    pub first_repeat_s: u64,
    pub last_s: u64,
    /// The retry hint of the latest one.
    pub retry_after_s: u32,
}

/// Whether a deferral gets its own line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// The first of its window: log it in full.
    Full,
    /// Folded into the window's summary.
    Folded,
}

#[derive(Debug, Default)]
pub struct DeferralLog {
    windows: HashMap<LogKey, Window>,
}

impl DeferralLog {
    /// One deferral at `now_s`: whether to log it, and the summaries of windows it closed
    /// (its own expired window, or the earliest ones when the map is full).
    pub fn record(&mut self, key: LogKey, retry_after_s: u32, now_s: u64) -> (Line, Vec<Summary>) {
        let mut closed = Vec::new();
        if let Some(w) = self.windows.get_mut(&key) {
            if now_s < w.opened_s + WINDOW_S {
                if w.repeats == 0 {
                    w.first_repeat_s = now_s;
                }
                w.repeats = w.repeats.saturating_add(1);
                w.last_s = w.last_s.max(now_s);
                w.retry_after_s = retry_after_s;
                return (Line::Folded, closed);
            }
            closed.extend(summary(key, *w));
        } else if self.windows.len() >= KEYS_MAX {
            closed = self.close_earliest();
        }
        let window =
            Window { opened_s: now_s, repeats: 0, first_repeat_s: now_s, last_s: now_s, retry_after_s };
        self.windows.insert(key, window);
        (Line::Full, closed)
    }

    /// Closes the windows open for [`WINDOW_S`] by `now_s`; the summaries of those with
    /// repeats.
    pub fn due(&mut self, now_s: u64) -> Vec<Summary> {
        let mut closed = Vec::new();
        self.windows.retain(|key, w| {
            let open = now_s < w.opened_s + WINDOW_S;
            if !open {
                closed.extend(summary(*key, *w));
            }
            open
        });
        closed.sort_by_key(|s| s.first_repeat_s);
        closed
    }

    /// Closes every window (shutdown).
    pub fn drain(&mut self) -> Vec<Summary> {
        self.due(u64::MAX - WINDOW_S)
    }

    fn close_earliest(&mut self) -> Vec<Summary> {
        let mut opened: Vec<u64> = self.windows.values().map(|w| w.opened_s).collect();
        let cut = opened.len() / 8;
        let (_, threshold, _) = opened.select_nth_unstable(cut);
        let threshold = *threshold;
        let mut closed = Vec::new();
        self.windows.retain(|key, w| {
            let close = w.opened_s <= threshold && closed.len() <= cut;
            if close {
                closed.push(summary(*key, *w));
            }
            !close
        });
        closed.into_iter().flatten().collect()
    }
}

fn summary(key: LogKey, w: Window) -> Option<Summary> {
    (w.repeats > 0).then_some(Summary {
        key,
        repeats: w.repeats,
        first_repeat_s: w.first_repeat_s,
        last_s: w.last_s,
        retry_after_s: w.retry_after_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32, token: AsToken) -> LogKey {
        LogKey { ip: IpAddr::from(n.to_be_bytes()), token, observed: false }
    }

    #[test]
    fn a_blast_writes_its_first_deferral_then_one_count_per_minute() {
        let mut log = DeferralLog::default();
        let k = key(1, AsToken::As501);
        let mut full = 0;
        let mut summaries = Vec::new();
        // 1,000 deferrals over 150 s, one every 150 ms.
        for i in 0..1_000u64 {
            let (line, closed) = log.record(k, 600, 10_000 + i * 150 / 1_000);
            full += usize::from(line == Line::Full);
            summaries.extend(closed);
        }
        summaries.extend(log.drain());
        assert_eq!(full, 3, "windows opened at 0 s, 60 s and 120 s");
        assert_eq!(summaries.len(), 3);
        let folded: u32 = summaries.iter().map(|s| s.repeats).sum();
        assert_eq!(folded as usize + full, 1_000, "every deferral is on some line");
        assert_eq!((summaries[0].first_repeat_s, summaries[0].last_s), (10_000, 10_059));
    }

    #[test]
    fn tokens_kinds_and_ips_have_windows_of_their_own() {
        let mut log = DeferralLog::default();
        let observed = LogKey { observed: true, ..key(1, AsToken::As501) };
        for k in [key(1, AsToken::As501), key(1, AsToken::As502), key(2, AsToken::As501), observed] {
            assert_eq!(log.record(k, 60, 100).0, Line::Full);
            assert_eq!(log.record(k, 60, 101).0, Line::Folded);
        }
        assert!(log.due(159).is_empty(), "still open");
        let closed = log.due(160);
        assert_eq!(closed.len(), 4);
        assert!(closed.iter().all(|s| s.repeats == 1));
        assert!(log.windows.is_empty());
    }

    #[test]
    fn a_lone_deferral_has_no_summary() {
        let mut log = DeferralLog::default();
        assert_eq!(log.record(key(1, AsToken::As503), 60, 5).0, Line::Full);
        assert!(log.drain().is_empty());
    }

    #[test]
    fn bounded_without_losing_a_count() {
        let mut log = DeferralLog::default();
        let mut closed = Vec::new();
        for n in 0..(KEYS_MAX as u32 * 2) {
            for _ in 0..2 {
                closed.extend(log.record(key(n, AsToken::As505), 60, 1_000 + u64::from(n / 1_000)).1);
            }
        }
        assert!(log.windows.len() <= KEYS_MAX);
        closed.extend(log.drain());
        let folded: u32 = closed.iter().map(|s| s.repeats).sum();
        assert_eq!(folded, KEYS_MAX as u32 * 2, "one repeat per key, each summarised once");
    }
}
