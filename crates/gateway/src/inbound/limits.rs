//! Connection admission: a cap on all connections, on connections per client IP and on
//! connections per client network (an IPv6 /64 by default, like the throttle's prefix
//! keys), so one network that owns many addresses cannot take every slot. The maps only
//! hold IPs and networks with a live connection, so they are bounded by the total cap.
//!
//! The table also says whether the server is under stress (near its connection cap), which
//! the connection driver uses to shorten timeouts and allow fewer errors, as Postfix does.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use smtp_wire::{Reply, replies};

use crate::settings::ConnectionLimits;

#[derive(Debug, Default)]
pub(crate) struct ConnectionTable {
    counts: Mutex<Counts>,
    /// The total, readable without the lock (the stress check runs at every read).
    total: AtomicUsize,
}

#[derive(Debug, Default)]
struct Counts {
    per_ip: HashMap<IpAddr, usize>,
    per_network: HashMap<Network, usize>,
}

/// A client network: the address with its host bits cleared, and the prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Network {
    base: IpAddr,
    len: u8,
}

impl Network {
    /// The network of `ip` under `limits`' prefix lengths; `None` when the prefix is the whole
    /// address (the per-IP cap already counts it).
    pub(crate) fn of(ip: IpAddr, limits: &ConnectionLimits) -> Option<Network> {
        let ip = canonical(ip);
        let (base, len) = match ip {
            IpAddr::V4(v4) if limits.ipv4_prefix_len < 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(limits.ipv4_prefix_len)).unwrap_or(0);
                (IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask)), limits.ipv4_prefix_len)
            }
            IpAddr::V6(v6) if limits.ipv6_prefix_len < 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(limits.ipv6_prefix_len)).unwrap_or(0);
                (IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)), limits.ipv6_prefix_len)
            }
            _ => return None,
        };
        Some(Network { base, len })
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.len)
    }
}

/// An IPv4 client seen through an IPv4-mapped IPv6 address is the IPv4 client.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Holds one admitted connection; releases it on drop.
#[derive(Debug)]
pub(crate) struct Admission {
    table: Arc<ConnectionTable>,
    ip: IpAddr,
    network: Option<Network>,
}

impl ConnectionTable {
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr, limits: ConnectionLimits) -> Result<Admission, Reply> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if self.total.load(Ordering::Relaxed) >= limits.connections_max {
            return Err(replies::too_many_connections());
        }
        let ip = canonical(ip);
        if counts.per_ip.get(&ip).is_some_and(|n| *n >= limits.connections_per_ip_max) {
            return Err(replies::too_many_connections_from(ip));
        }
        let network = Network::of(ip, &limits);
        if let Some(net) = network
            && counts.per_network.get(&net).is_some_and(|n| *n >= limits.connections_per_network_max)
        {
            return Err(replies::too_many_connections_from_network(&net.to_string()));
        }
        *counts.per_ip.entry(ip).or_insert(0) += 1;
        if let Some(net) = network {
            *counts.per_network.entry(net).or_insert(0) += 1;
        }
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(Admission { table: Arc::clone(self), ip, network })
    }

    /// Connections open now.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Whether the server is near its connection cap (at `stress_connections_percent` of
    /// `connections_max` or more): sessions then get the stress timeouts and error limits.
    pub(crate) fn stressed(&self, limits: &ConnectionLimits) -> bool {
        let threshold = limits.connections_max.saturating_mul(usize::from(limits.stress_connections_percent));
        self.total().saturating_mul(100) >= threshold.max(1)
    }
}

/// Decrements `key`'s count, forgetting it at zero so the map holds live keys only.
fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(count) = map.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            map.remove(key);
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut counts = self.table.counts.lock().unwrap_or_else(PoisonError::into_inner);
        release(&mut counts.per_ip, &self.ip);
        if let Some(net) = &self.network {
            release(&mut counts.per_network, net);
        }
        self.table.total.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(connections_max: usize, per_ip: usize, per_network: usize) -> ConnectionLimits {
        ConnectionLimits {
            connections_max,
            connections_per_ip_max: per_ip,
            connections_per_network_max: per_network,
            ..ConnectionLimits::default()
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn per_ip_and_total_caps() {
        let table = Arc::new(ConnectionTable::default());
        let limits = limits(3, 2, 100);
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        let first = table.admit(a, limits).unwrap();
        let _second = table.admit(a, limits).unwrap();
        assert!(table.admit(a, limits).unwrap_err().summary().contains("[192.0.2.1]"));
        let _third = table.admit(b, limits).unwrap();
        assert!(
            table.admit(b, limits).unwrap_err().summary().starts_with("421 4.7.0 Too many connections to")
        );
        drop(first);
        assert_eq!(table.total(), 2);
        assert!(table.admit(b, limits).is_ok());
    }

    /// A /64 flood: every connection from a new address of one /64 is a new IP, so the
    /// per-IP cap never fires; the per-network cap does, and other networks still get in.
    #[test]
    fn one_ipv6_64_cannot_take_every_slot() {
        let table = Arc::new(ConnectionTable::default());
        let limits = limits(1000, 10, 10);
        let held: Vec<Admission> = (1..=10)
            .map(|i| table.admit(ip(&format!("2001:db8:1:2::{i:x}")), limits).expect("under the cap"))
            .collect();
        let refused = table.admit(ip("2001:db8:1:2:ffff::1"), limits).expect_err("the /64 is full");
        assert_eq!(
            refused.summary(),
            "421 4.7.0 Too many connections from your network 2001:db8:1:2::/64, try again later"
        );
        assert!(table.admit(ip("2001:db8:1:3::1"), limits).is_ok(), "the next /64 is another network");
        drop(held);
        assert!(table.admit(ip("2001:db8:1:2:ffff::1"), limits).is_ok(), "slots freed on close");
    }

    #[test]
    fn prefix_lengths_are_configurable() {
        let table = Arc::new(ConnectionTable::default());
        let wide = ConnectionLimits { ipv6_prefix_len: 48, ipv4_prefix_len: 24, ..limits(1000, 10, 2) };
        let _a = table.admit(ip("2001:db8:1:2::1"), wide).unwrap();
        let _b = table.admit(ip("2001:db8:1:3::1"), wide).unwrap();
        let refused = table.admit(ip("2001:db8:1:4::1"), wide).expect_err("one /48");
        assert!(refused.summary().contains("2001:db8:1::/48"), "{}", refused.summary());
        let _c = table.admit(ip("198.51.100.1"), wide).unwrap();
        let _d = table.admit(ip("198.51.100.2"), wide).unwrap();
        let refused = table.admit(ip("198.51.100.3"), wide).expect_err("one /24");
        assert!(refused.summary().contains("198.51.100.0/24"), "{}", refused.summary());
    }

    /// IPv4 is counted per address by default (a /24 holds many unrelated senders), and an
    /// IPv4-mapped IPv6 client is its IPv4 address.
    #[test]
    fn ipv4_by_default_counts_addresses_and_mapped_clients_are_ipv4() {
        let table = Arc::new(ConnectionTable::default());
        let limits = limits(1000, 1, 1);
        let _a = table.admit(ip("198.51.100.1"), limits).unwrap();
        assert!(table.admit(ip("198.51.100.2"), limits).is_ok(), "no IPv4 network cap by default");
        let mapped = table.admit(ip("::ffff:198.51.100.1"), limits).expect_err("same client");
        assert!(mapped.summary().contains("[198.51.100.1]"), "{}", mapped.summary());
    }

    #[test]
    fn stress_starts_at_the_configured_share_of_the_cap() {
        let table = Arc::new(ConnectionTable::default());
        let limits = ConnectionLimits { stress_connections_percent: 50, ..limits(4, 10, 10) };
        let first = table.admit(ip("192.0.2.1"), limits).unwrap();
        assert!(!table.stressed(&limits));
        let _second = table.admit(ip("192.0.2.2"), limits).unwrap();
        assert!(table.stressed(&limits), "2 of 4 is 50 %");
        drop(first);
        assert!(!table.stressed(&limits));
    }
}
