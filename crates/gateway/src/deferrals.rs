//! The IPs throttling deferred recently, with their deferral counts per hour over the last
//! day, for "which IPs are throttled now" (the admin API). Keyed by remote input, so
//! bounded: at most [`IPS_MAX`] addresses; when full, the one deferred least recently goes.
//! Time is passed in.

use std::collections::HashMap;
use std::net::IpAddr;

/// Addresses tracked at most.
pub const IPS_MAX: usize = 10_000;
const HOURS: usize = 24;

#[derive(Clone, Debug)]
struct Counts {
    /// Deferrals per hour, indexed by `hour % HOURS`, valid for hours after `last_hour - HOURS`.
    hours: [u32; HOURS],
    last_hour: u64,
    last_at_s: u64,
    last_token: &'static str,
}

impl Counts {
    fn roll_to(&mut self, hour: u64) {
        let gap = hour.saturating_sub(self.last_hour).min(HOURS as u64);
        for h in 1..=gap {
            self.hours[((self.last_hour + h) % HOURS as u64) as usize] = 0;
        }
        self.last_hour = self.last_hour.max(hour);
    }
}

/// One IP's recent deferrals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentDeferral {
    pub ip: IpAddr,
    pub last_hour: u64,
    pub last_day: u64,
    pub last_token: &'static str,
    pub last_at_s: u64,
}

#[derive(Debug, Default)]
pub struct RecentDeferrals {
    ips: HashMap<IpAddr, Counts>,
}

impl RecentDeferrals {
    pub fn record(&mut self, ip: IpAddr, token: &'static str, now_s: u64) {
        let hour = now_s / 3_600;
        if !self.ips.contains_key(&ip) && self.ips.len() >= IPS_MAX {
            self.evict();
        }
        let counts = self.ips.entry(ip).or_insert(Counts {
            hours: [0; HOURS],
            last_hour: hour,
            last_at_s: now_s,
            last_token: token,
        });
        counts.roll_to(hour);
        let slot = (hour % HOURS as u64) as usize;
        counts.hours[slot] = counts.hours[slot].saturating_add(1);
        counts.last_at_s = counts.last_at_s.max(now_s);
        counts.last_token = token;
    }

    fn evict(&mut self) {
        if let Some(oldest) = self.ips.iter().min_by_key(|(_, c)| c.last_at_s).map(|(ip, _)| *ip) {
            self.ips.remove(&oldest);
        }
    }

    /// IPs deferred within the last day, most deferred first; forgets older ones.
    pub fn list(&mut self, now_s: u64) -> Vec<RecentDeferral> {
        let hour = now_s / 3_600;
        self.ips.retain(|_, c| c.last_at_s + 86_400 > now_s);
        let mut out: Vec<RecentDeferral> = self
            .ips
            .iter_mut()
            .map(|(ip, c)| {
                c.roll_to(hour);
                RecentDeferral {
                    ip: *ip,
                    last_hour: u64::from(c.hours[(hour % HOURS as u64) as usize]),
                    last_day: c.hours.iter().map(|n| u64::from(*n)).sum(),
                    last_token: c.last_token,
                    last_at_s: c.last_at_s,
                }
            })
            .collect();
        out.sort_by(|a, b| b.last_day.cmp(&a.last_day).then(a.ip.cmp(&b.ip)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[test]
    fn counts_per_hour_and_day_and_forgets_after_a_day() {
        let mut r = RecentDeferrals::default();
        let t = 100 * 3_600;
        for _ in 0..3 {
            r.record(ip(1), "AS501", t);
        }
        r.record(ip(1), "AS502", t + 3_600);
        r.record(ip(2), "AS501", t + 3_600);
        let list = r.list(t + 3_600 + 10);
        assert_eq!(
            list[0],
            RecentDeferral {
                ip: ip(1),
                last_hour: 1,
                last_day: 4,
                last_token: "AS502",
                last_at_s: t + 3_600
            }
        );
        assert_eq!((list[1].ip, list[1].last_day), (ip(2), 1));
        let later = r.list(t + 30 * 3_600);
        assert!(later.is_empty(), "{later:?}");
    }

    #[test]
    fn bounded() {
        let mut r = RecentDeferrals::default();
        for n in 0..(IPS_MAX as u32 + 5) {
            r.record(IpAddr::from(n.to_be_bytes()), "AS501", u64::from(n));
        }
        assert_eq!(r.list(IPS_MAX as u64 + 10).len(), IPS_MAX);
    }
}
