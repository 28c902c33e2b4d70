//! IP networks and a longest-prefix table. The idea is the throttle's `Cidr`, but the
//! directory keeps its own so that it depends on nothing but std, serde and thiserror.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::DirectoryError;

/// `::ffff:0:0/96`: IPv4 addresses live in the IPv4-mapped part of the 128-bit space, so
/// one table holds both families and a v4-mapped IPv6 client matches its IPv4 ranges.
const V4_MAPPED: u128 = 0xffff_u128 << 32;

fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => V4_MAPPED | u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn mask_bits(bits: u128, len: u32) -> u128 {
    match len {
        0 => 0,
        l if l >= 128 => bits,
        l => bits & !(u128::MAX >> l),
    }
}

/// An IPv4 or IPv6 network, host bits cleared. Parsed from `a.b.c.d/n`, `x::y/n`, or a bare
/// address (a host route).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    /// The network in the 128-bit space (IPv4 mapped).
    bits: u128,
    /// Prefix length in the 128-bit space (IPv4 lengths + 96).
    len: u8,
    v4: bool,
}

impl Cidr {
    /// Parses `text`; errors name `field`.
    pub fn parse(field: &'static str, text: &str) -> Result<Cidr, DirectoryError> {
        let invalid = |reason: &str| DirectoryError::invalid(field, text, reason);
        let trimmed = text.trim();
        let (addr_text, len_text) = match trimmed.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (trimmed, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| invalid("not an IPv4 or IPv6 address"))?;
        let family_max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len_text {
            Some(l) => l.parse::<u8>().map_err(|_| invalid("the prefix length after / is not a number"))?,
            None => family_max,
        };
        if len > family_max {
            return Err(invalid(&format!("prefix length {len} is longer than {family_max}")));
        }
        let v4 = addr.is_ipv4();
        let len = if v4 { len + 96 } else { len };
        let bits = ip_bits(addr);
        if mask_bits(bits, u32::from(len)) != bits {
            return Err(invalid(&format!(
                "host bits are set; the network is {}",
                Cidr { bits: mask_bits(bits, u32::from(len)), len, v4 }
            )));
        }
        Ok(Cidr { bits, len, v4 })
    }

    /// Whether `ip` is inside this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        mask_bits(ip_bits(ip), u32::from(self.len)) == self.bits
    }

    /// Whether the two networks share any address (one holds the other).
    pub fn overlaps(&self, other: &Cidr) -> bool {
        let len = u32::from(self.len.min(other.len));
        self.v4 == other.v4 && mask_bits(self.bits, len) == mask_bits(other.bits, len)
    }

    pub fn is_ipv4(&self) -> bool {
        self.v4
    }

    /// Prefix length in bits of the network's own family.
    pub fn prefix_len(&self) -> u8 {
        if self.v4 { self.len - 96 } else { self.len }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.v4 {
            let addr = std::net::Ipv4Addr::from((self.bits & u128::from(u32::MAX)) as u32);
            write!(f, "{addr}/{}", self.len - 96)
        } else {
            write!(f, "{}/{}", std::net::Ipv6Addr::from(self.bits), self.len)
        }
    }
}

impl FromStr for Cidr {
    type Err = DirectoryError;
    fn from_str(s: &str) -> Result<Cidr, DirectoryError> {
        Cidr::parse("cidr", s)
    }
}

impl TryFrom<String> for Cidr {
    type Error = DirectoryError;
    fn try_from(s: String) -> Result<Cidr, DirectoryError> {
        Cidr::parse("cidr", &s)
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        c.to_string()
    }
}

/// Longest-prefix match without scanning every network: one hash map per distinct prefix
/// length, probed from the longest length down. A lookup costs at most one probe per
/// length in use (a handful in practice, 129 at worst), whatever the number of networks.
#[derive(Debug, Clone)]
pub(crate) struct CidrTable<T> {
    /// Distinct prefix lengths in use, longest first.
    lens: Vec<u8>,
    map: HashMap<(u8, u128), T>,
}

impl<T> Default for CidrTable<T> {
    fn default() -> Self {
        CidrTable { lens: Vec::new(), map: HashMap::new() }
    }
}

impl<T> CidrTable<T> {
    /// The value for `cidr`, created with `make` when absent.
    pub(crate) fn entry(&mut self, cidr: Cidr, make: impl FnOnce() -> T) -> &mut T {
        if !self.lens.contains(&cidr.len) {
            self.lens.push(cidr.len);
            self.lens.sort_unstable_by(|a, b| b.cmp(a));
        }
        self.map.entry((cidr.len, cidr.bits)).or_insert_with(make)
    }

    /// The values of every network containing `ip`, longest first.
    pub(crate) fn matches(&self, ip: IpAddr) -> impl Iterator<Item = &T> + '_ {
        let bits = ip_bits(ip);
        self.lens.iter().filter_map(move |&len| self.map.get(&(len, mask_bits(bits, u32::from(len)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(Cidr::parse("c", "192.0.2.0/24").unwrap().to_string(), "192.0.2.0/24");
        assert_eq!(Cidr::parse("c", "192.0.2.7").unwrap().to_string(), "192.0.2.7/32");
        assert_eq!(Cidr::parse("c", "2001:DB8::/32").unwrap().to_string(), "2001:db8::/32");
        assert_eq!(Cidr::parse("c", "0.0.0.0/0").unwrap().prefix_len(), 0);
    }

    #[test]
    fn bad_cidrs_name_the_field() {
        for (text, why) in [
            ("192.0.2.0/33", "longer than 32"),
            ("2001:db8::/129", "longer than 128"),
            ("192.0.2.1/24", "host bits"),
            ("example.com", "not an IPv4"),
            ("192.0.2.0/x", "not a number"),
        ] {
            match Cidr::parse("connector.ip", text) {
                Err(DirectoryError::Invalid { field, reason, .. }) => {
                    assert_eq!(field, "connector.ip");
                    assert!(reason.contains(why), "{text}: {reason}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn contains_both_families() {
        let v4 = Cidr::parse("c", "192.0.2.0/24").unwrap();
        assert!(v4.contains(ip("192.0.2.200")));
        assert!(v4.contains(ip("::ffff:192.0.2.200")));
        assert!(!v4.contains(ip("192.0.3.1")));
        let v6 = Cidr::parse("c", "2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(!v6.contains(ip("2001:db9::5")));
        assert!(!v6.contains(ip("192.0.2.1")));
    }

    #[test]
    fn overlaps_when_one_holds_the_other() {
        let c = |s| Cidr::parse("c", s).unwrap();
        assert!(c("192.0.2.0/24").overlaps(&c("192.0.2.7/32")));
        assert!(c("192.0.2.7/32").overlaps(&c("192.0.0.0/16")));
        assert!(!c("192.0.2.0/24").overlaps(&c("192.0.3.0/24")));
        assert!(!c("0.0.0.0/8").overlaps(&c("::/8")), "families never overlap");
        assert!(c("2001:db8::/32").overlaps(&c("2001:db8:1::/48")));
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = CidrTable::default();
        *t.entry(Cidr::parse("c", "10.0.0.0/8").unwrap(), || 0) = 8;
        *t.entry(Cidr::parse("c", "10.1.0.0/16").unwrap(), || 0) = 16;
        *t.entry(Cidr::parse("c", "2001:db8::/32").unwrap(), || 0) = 32;
        assert_eq!(t.matches(ip("10.1.2.3")).next(), Some(&16));
        assert_eq!(t.matches(ip("10.2.2.3")).next(), Some(&8));
        assert_eq!(t.matches(ip("11.0.0.1")).next(), None);
        assert_eq!(t.matches(ip("2001:db8::1")).next(), Some(&32));
        assert_eq!(t.matches(ip("10.1.2.3")).copied().collect::<Vec<_>>(), vec![16, 8]);
        assert_eq!(t.matches(ip("11.0.0.1")).count(), 0);
    }
}
