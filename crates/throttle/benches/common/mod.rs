//! What the throttle benches share.

use std::net::{IpAddr, Ipv4Addr};

/// Distinct, scattered IPv4 addresses: a bijective mix of 0..n over the 32-bit space.
pub fn ip_of(i: u32) -> IpAddr {
    let mut x = i.wrapping_mul(0x9e37_79b1);
    x ^= x >> 15;
    x = x.wrapping_mul(0x85eb_ca77);
    x ^= x >> 13;
    IpAddr::V4(Ipv4Addr::from(x))
}
