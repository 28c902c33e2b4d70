//! Keys: a client IP or its network prefix, as 128-bit values (IPv4 is IPv4-mapped), and the
//! seeded hash that places them in shards and table slots.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4-mapped IPv6 (`::ffff:0:0/96`), so one 128-bit space holds both families.
const V4_MAPPED: u128 = 0xffff_u128 << 32;
const V4_MASK: u128 = !0xffff_ffff_u128;

/// What a throttle record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// One client IP.
    Ip(IpAddr),
    /// The network around client IPs (`len` bits of `network`'s own family).
    Prefix {
        /// Network address, host bits cleared.
        network: IpAddr,
        /// Prefix length in bits of the address family.
        len: u8,
    },
}

impl fmt::Display for ThrottleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThrottleKey::Ip(ip) => write!(f, "{ip}"),
            ThrottleKey::Prefix { network, len } => write!(f, "{network}/{len}"),
        }
    }
}

/// The compact form stored in records: 128 address bits and a prefix length in the
/// 128-bit space (128 for a single IP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyBits {
    pub addr: u128,
    pub plen: u8,
}

impl KeyBits {
    pub fn is_prefix(self) -> bool {
        self.plen < 128
    }

    pub fn to_key(self) -> ThrottleKey {
        let ip = bits_ip(self.addr);
        if !self.is_prefix() {
            return ThrottleKey::Ip(ip);
        }
        let len = if ip.is_ipv4() { self.plen.saturating_sub(96) } else { self.plen };
        ThrottleKey::Prefix { network: ip, len }
    }
}

/// 128-bit form of an IP; IPv4 and IPv4-mapped IPv6 become the same value.
pub(crate) fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => V4_MAPPED | u128::from(u32::from(v4)),
        // An IPv4-mapped IPv6 address already has the mapped bit pattern.
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn is_v4_bits(bits: u128) -> bool {
    bits & V4_MASK == V4_MAPPED
}

/// The IP for 128-bit form, IPv4 when it is IPv4-mapped.
pub(crate) fn bits_ip(bits: u128) -> IpAddr {
    if is_v4_bits(bits) {
        // Truncation is the point: the low 32 bits are the IPv4 address.
        IpAddr::V4(Ipv4Addr::from(bits as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(bits))
    }
}

/// Keeps the first `len` bits (of 128).
pub(crate) fn mask_bits(bits: u128, len: u32) -> u128 {
    match len {
        0 => 0,
        l if l >= 128 => bits,
        l => bits & !(u128::MAX >> l),
    }
}

/// Clears the host bits of `ip` beyond `len` bits of its own family.
pub(crate) fn mask_ip(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let l = u32::from(len.min(32));
            let m = if l == 0 { 0 } else { u32::MAX << (32 - l) };
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & m))
        }
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(mask_bits(u128::from(v6), u32::from(len)))),
    }
}

/// The IP key and the prefix key of a client, given the policy's prefix lengths.
pub(crate) fn keys_for(ip: IpAddr, v4_len: u8, v6_len: u8) -> (KeyBits, KeyBits) {
    let addr = ip_bits(ip);
    let plen = if is_v4_bits(addr) { 96 + v4_len.min(32) } else { v6_len.min(128) };
    // A /32 (or /128) "prefix" would collide with the IP key; keep them distinct records.
    let plen = plen.min(127);
    let prefix = KeyBits { addr: mask_bits(addr, u32::from(plen)), plen };
    (KeyBits { addr, plen: 128 }, prefix)
}

#[inline]
fn folded_mul(x: u64, y: u64) -> u64 {
    let p = u128::from(x) * u128::from(y);
    // Folding the 128-bit product mixes every input bit into the low 64 (as foldhash does).
    (p as u64) ^ ((p >> 64) as u64)
}

/// Seeded 64-bit hash of a key; good avalanche, a couple of multiplications.
#[inline]
pub(crate) fn hash(key: KeyBits, seed: u64) -> u64 {
    const K1: u64 = 0x243f_6a88_85a3_08d3;
    const K2: u64 = 0x1319_8a2e_0370_7344;
    let lo = key.addr as u64;
    let hi = (key.addr >> 64) as u64 ^ u64::from(key.plen).rotate_left(40);
    let h = folded_mul(lo ^ seed ^ K1, hi ^ K2);
    folded_mul(h ^ seed.rotate_left(23), K1 ^ K2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_prefix_key() {
        let (ip, p) = keys_for("203.0.113.77".parse().unwrap(), 24, 64);
        assert_eq!(ip.to_key().to_string(), "203.0.113.77");
        assert_eq!(p.to_key().to_string(), "203.0.113.0/24");
        let (ip2, p2) = keys_for("::ffff:203.0.113.77".parse().unwrap(), 24, 64);
        assert_eq!((ip, p), (ip2, p2));
    }

    #[test]
    fn v6_prefix_key() {
        let (_, p) = keys_for("2001:db8:1:2:3:4:5:6".parse().unwrap(), 24, 64);
        assert_eq!(p.to_key().to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn full_length_prefix_stays_distinct() {
        let (ip, p) = keys_for("203.0.113.77".parse().unwrap(), 32, 128);
        assert_ne!(ip, p);
    }

    #[test]
    fn hash_depends_on_seed_and_kind() {
        let (ip, p) = keys_for("203.0.113.0".parse().unwrap(), 24, 64);
        assert_ne!(hash(ip, 1), hash(p, 1));
        assert_ne!(hash(ip, 1), hash(ip, 2));
    }
}
