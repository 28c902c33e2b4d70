//! The throttle policy: one typed, serde-deserialisable struct with documented defaults.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Deserialize;

/// Tunable throttle policy. Every field has a default (see [`Policy::default`]); a config file
/// only names what it changes. Rates are recipients per hour.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Prefix length that groups IPv4 senders into one network aggregate. Default 24, at most 31.
    pub ipv4_prefix_len: u8,
    /// Prefix length that groups IPv6 senders into one network aggregate. Default 64, at most 127.
    pub ipv6_prefix_len: u8,
    /// Hours after first sight during which an IP is "new" (AS501, not exempt from its
    /// prefix aggregate, given at least the floor). Default 72.
    pub probation_hours: u32,
    /// Hours of silence after which a key is judged as new again: it starts a new probation
    /// (with the floor) and keeps what is left of its history. Default 336 (2 weeks).
    pub dormant_hours: u32,
    /// Allowance every IP has regardless of history (the probation allowance). Default 300/h:
    /// above a steady 200/h newcomer (S1), far below a 10,000/h blast (S4).
    pub ip_floor_per_hour: f32,
    /// Allowance every network prefix has regardless of history. Default 1,000/h.
    pub prefix_floor_per_hour: f32,
    /// Bucket depth: how many minutes of allowance may be sent at once. Default 15.
    pub burst_minutes: f32,
    /// Smallest bucket depth of an IP, in recipients. Default 100.
    pub ip_burst_min: f32,
    /// Smallest bucket depth of a prefix, in recipients. Default 250.
    pub prefix_burst_min: f32,
    /// Allowance = growth_factor x established hourly volume. Default 2.0: a ramp of up to
    /// ~60% per day stays inside it, a hijack at 50x its normal does not.
    pub growth_factor: f32,
    /// Time constant, in hours, with which the established volume rises toward a busier
    /// hour. Default 24: one busy hour barely moves it, a busy day does.
    pub rise_hours: f32,
    /// Half-life, in hours, of the established volume when traffic drops. Default 336 (2 weeks).
    pub baseline_half_life_hours: f32,
    /// The fastest the established volume may grow, as a factor per day. Sustained growth
    /// beyond it is deferred: a sender that triples its volume every day soon has most of
    /// it deferred, while a warm-up that doubles every day passes. Default 2.0.
    pub daily_growth_max: f32,
    /// Allowance at a learned recurring peak = this x the peak's level. Default 3.0.
    pub recurring_growth_factor: f32,
    /// Half-life, in hours, of a learned recurring peak. Default 672 (4 weeks).
    pub recurring_half_life_hours: f32,
    /// An hour is a candidate recurring peak when it accepted at least this many. Default 50.
    pub recurring_min_per_hour: f32,
    /// Established volume at or above which an IP past probation is "established": exempt
    /// from its prefix aggregate and protected from eviction. Default 20/h.
    pub established_min_per_hour: f32,
    /// New IPs a prefix may bring (counted with a one-hour half-life) before its allowance
    /// shrinks in proportion: rotating through addresses shares one address's allowance.
    /// Default 16.
    pub prefix_new_ips_free: u8,
    /// How long, in hours, a key deferred by its own allowance is protected from eviction.
    /// Default 168.
    pub penalty_memory_hours: u32,
    /// Bounds of the retry-after hint, in seconds. Defaults 60 and 3,600.
    pub retry_after_min_s: u32,
    /// See `retry_after_min_s`.
    pub retry_after_max_s: u32,
    /// Maximum number of tracked keys (IPs and prefixes together). Default 10,000,000.
    pub max_keys: usize,
    /// Number of independently locked shards. Default 64: few enough to cost nothing, many
    /// enough that saving one shard (a copy under its lock) pauses 1/64 of the keys for a few
    /// milliseconds at 10 million keys.
    pub shards: usize,
    /// Seed of the table hash, so that remote senders cannot predict slot collisions.
    pub hash_seed: u64,
    /// Ranges that are never throttled nor counted: the operator allow list and connectors.
    pub bypass: Vec<Cidr>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            ipv4_prefix_len: 24,
            ipv6_prefix_len: 64,
            probation_hours: 72,
            dormant_hours: 336,
            ip_floor_per_hour: 300.0,
            prefix_floor_per_hour: 1000.0,
            burst_minutes: 15.0,
            ip_burst_min: 100.0,
            prefix_burst_min: 250.0,
            growth_factor: 2.0,
            rise_hours: 24.0,
            baseline_half_life_hours: 336.0,
            daily_growth_max: 2.0,
            recurring_growth_factor: 3.0,
            recurring_half_life_hours: 672.0,
            recurring_min_per_hour: 50.0,
            established_min_per_hour: 20.0,
            prefix_new_ips_free: 16,
            penalty_memory_hours: 168,
            retry_after_min_s: 60,
            retry_after_max_s: 3600,
            max_keys: 10_000_000,
            shards: 64,
            hash_seed: 0x5EED_51C3_7A11_0001,
            bypass: Vec::new(),
        }
    }
}

/// A policy value outside its meaningful range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid throttle policy: {field} {problem}")]
pub struct PolicyError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

fn check(ok: bool, field: &'static str, problem: &'static str) -> Result<(), PolicyError> {
    if ok { Ok(()) } else { Err(PolicyError { field, problem }) }
}

fn positive(v: f32) -> bool {
    v.is_finite() && v > 0.0
}

impl Policy {
    /// Checks every field; the engine refuses (via `Engine::try_new`) what this refuses.
    pub fn validate(&self) -> Result<(), PolicyError> {
        // The IP itself is always a key; a /32 or /128 "prefix" would be the same key.
        check(self.ipv4_prefix_len <= 31, "ipv4_prefix_len", "must be at most 31")?;
        check(self.ipv6_prefix_len <= 127, "ipv6_prefix_len", "must be at most 127")?;
        let rates = [
            (self.ip_floor_per_hour, "ip_floor_per_hour"),
            (self.prefix_floor_per_hour, "prefix_floor_per_hour"),
            (self.burst_minutes, "burst_minutes"),
            (self.ip_burst_min, "ip_burst_min"),
            (self.prefix_burst_min, "prefix_burst_min"),
            (self.rise_hours, "rise_hours"),
            (self.baseline_half_life_hours, "baseline_half_life_hours"),
            (self.recurring_half_life_hours, "recurring_half_life_hours"),
            (self.recurring_min_per_hour, "recurring_min_per_hour"),
            (self.established_min_per_hour, "established_min_per_hour"),
        ];
        for (v, field) in rates {
            check(positive(v), field, "must be a positive number")?;
        }
        check(
            self.growth_factor.is_finite() && self.growth_factor >= 1.0,
            "growth_factor",
            "must be at least 1",
        )?;
        let dg = self.daily_growth_max;
        check(dg.is_finite() && dg > 1.0, "daily_growth_max", "must be greater than 1")?;
        let rg = self.recurring_growth_factor;
        check(rg.is_finite() && rg >= 1.0, "recurring_growth_factor", "must be at least 1")?;
        check(self.dormant_hours >= 1, "dormant_hours", "must be at least 1")?;
        check(self.prefix_new_ips_free >= 1, "prefix_new_ips_free", "must be at least 1")?;
        check(
            self.retry_after_min_s <= self.retry_after_max_s,
            "retry_after_min_s",
            "must not exceed retry_after_max_s",
        )?;
        check((1..=4096).contains(&self.shards), "shards", "must be between 1 and 4096")?;
        check(self.max_keys >= self.shards, "max_keys", "must be at least the number of shards")?;
        Ok(())
    }

    /// Whether `ip` is in a bypass range (allow list or connector).
    pub fn is_bypassed(&self, ip: IpAddr) -> bool {
        let bits = crate::key::ip_bits(ip);
        self.bypass.iter().any(|c| c.contains_bits(bits))
    }
}

/// An IP network in CIDR notation (`198.51.100.0/24`, `2001:db8::/32`, or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Cidr {
    network: IpAddr,
    len: u8,
}

/// A string that is not a CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR {text:?}: {problem}")]
pub struct CidrError {
    /// The text that failed to parse.
    pub text: String,
    /// Why.
    pub problem: &'static str,
}

impl Cidr {
    /// The network containing `addr` with `len` leading bits (host bits cleared).
    pub fn new(addr: IpAddr, len: u8) -> Result<Cidr, CidrError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(CidrError { text: format!("{addr}/{len}"), problem: "prefix length too long" });
        }
        let network = crate::key::mask_ip(addr, len);
        Ok(Cidr { network, len })
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length, in bits of the address family.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether `ip` is inside this network (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.contains_bits(crate::key::ip_bits(ip))
    }

    fn contains_bits(&self, bits: u128) -> bool {
        let own = crate::key::ip_bits(self.network);
        let len = u32::from(self.len) + if self.network.is_ipv4() { 96 } else { 0 };
        crate::key::mask_bits(bits, len) == own
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let err = |problem| CidrError { text: s.to_string(), problem };
        let (addr_text, len_text) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text.trim().parse().map_err(|_| err("not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len_text {
            Some(l) => l.trim().parse::<u8>().map_err(|_| err("prefix length is not a number"))?,
            None => max,
        };
        if len > max {
            return Err(err("prefix length too long"));
        }
        Cidr::new(addr, len)
    }
}

impl TryFrom<String> for Cidr {
    type Error = CidrError;

    fn try_from(s: String) -> Result<Cidr, CidrError> {
        s.parse()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_valid() {
        assert_eq!(Policy::default().validate(), Ok(()));
    }

    #[test]
    fn cidr_parses_and_contains() {
        let c: Cidr = "198.51.100.77/24".parse().unwrap();
        assert_eq!(c.to_string(), "198.51.100.0/24");
        assert!(c.contains("198.51.100.1".parse().unwrap()));
        assert!(c.contains("::ffff:198.51.100.9".parse().unwrap()));
        assert!(!c.contains("198.51.101.1".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        assert!("1.2.3.4/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }

    #[test]
    fn policy_deserialises_partially() {
        let p: Policy =
            serde_json::from_str(r#"{"ip_floor_per_hour": 50, "bypass": ["203.0.113.0/24"]}"#).unwrap();
        assert_eq!(p.ip_floor_per_hour, 50.0);
        assert_eq!(p.bypass.len(), 1);
        assert_eq!(p.ipv4_prefix_len, 24);
        assert!(serde_json::from_str::<Policy>(r#"{"bypass": ["nope"]}"#).is_err());
    }
}
