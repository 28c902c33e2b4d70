//! DNS blocklists (RFC 5782): the operator names zones (`[reputation] dnsbl_zones`); for a
//! client `a.b.c.d` Sluice asks for the A record of `d.c.b.a.<zone>` (IPv6: 32 reversed
//! nibbles), and an answer in `127.0.0.0/24` means "listed".
//!
//! Each zone is asked concurrently under a short timeout; a timeout or a server failure
//! counts as "not listed" (a broken list must not stop mail) and is logged. Verdicts are
//! cached per IP, with a capacity and a TTL, since a sender opens many connections. When to
//! ask (once per connection, beside the banner) is the inbound session's business
//! (`inbound::reputation`); what a listing means (connectors and operator exceptions
//! override it) is the directory's ([`directory::Snapshot::check_dnsbl_listed`]).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::dns::{Dns, DnsError};

/// Verdicts kept per IP; a full cache evicts the oldest first.
const CACHE_ENTRIES_MAX: usize = 50_000;
/// How long a verdict is trusted: long enough to spare a busy sender's connections, short
/// enough that a delisting takes effect within minutes.
const CACHE_TTL: Duration = Duration::from_secs(300);

/// The resolved `[reputation]` DNSBL settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsblConfig {
    /// Zones in the operator's order; the first that lists a client is the one named.
    pub zones: Vec<String>,
    /// Per query.
    pub timeout: Duration,
    /// A DNS server instead of the system's resolver (tests use one on loopback).
    pub resolver: Option<SocketAddr>,
}

/// A zone that lists the client, and its answer (the list's reason code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    pub zone: String,
    pub answer: Ipv4Addr,
}

/// The name to ask `zone` about `ip`: reversed octets (IPv4, also for IPv4-mapped IPv6)
/// or reversed nibbles (IPv6), then the zone.
pub fn query_name(ip: IpAddr, zone: &str) -> String {
    let zone = zone.trim_end_matches('.');
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{zone}")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(64 + zone.len());
            for byte in v6.octets().iter().rev() {
                name.push(nibble(byte & 0x0f));
                name.push('.');
                name.push(nibble(byte >> 4));
                name.push('.');
            }
            name.push_str(zone);
            name
        }
    }
}

fn nibble(n: u8) -> char {
    char::from_digit(u32::from(n), 16).unwrap_or('0')
}

/// RFC 5782 2.1: listings are 127.0.0.2 and up; 127.255.255.x is how some lists say
/// "query refused" (e.g. through a public resolver), which is not a listing.
fn is_listing(answer: Ipv4Addr) -> bool {
    let [a, b, c, _] = answer.octets();
    (a, b, c) == (127, 0, 0)
}

/// What one zone said.
#[derive(Debug)]
enum ZoneAnswer {
    Listed(Ipv4Addr),
    NotListed,
    /// Timeout or DNS failure: not listed, not cached.
    Failed(String),
}

/// The DNSBL checker of a configuration: zones, resolver and the per-IP verdict cache.
#[derive(Debug)]
pub struct Dnsbl {
    config: DnsblConfig,
    dns: Dns,
    cache: Mutex<VerdictCache>,
    /// Fleet mode: verdicts other nodes found, and where this node's go.
    shared: OnceLock<crate::fleet::SharedVerdicts>,
}

impl Dnsbl {
    pub fn new(config: DnsblConfig) -> Result<Dnsbl, DnsError> {
        let dns = Dns::new(config.resolver)?;
        let cache = Mutex::new(VerdictCache::new(CACHE_ENTRIES_MAX, CACHE_TTL));
        Ok(Dnsbl { config, dns, cache, shared: OnceLock::new() })
    }

    /// Shares verdicts with the other nodes of a fleet (once; later calls change nothing).
    pub fn share(&self, fleet: &std::sync::Arc<crate::fleet::Fleet>) {
        let _ =
            self.shared.set(crate::fleet::SharedVerdicts::new(std::sync::Arc::clone(fleet), self.zones()));
    }

    pub fn zones(&self) -> &[String] {
        &self.config.zones
    }

    /// The first zone (in configured order) listing `ip`, from the cache or the zones.
    pub async fn check(&self, ip: IpAddr) -> Option<Listing> {
        let ip = ip.to_canonical();
        if let Some(verdict) = self.cache().get(ip, Instant::now()) {
            return verdict;
        }
        if let Some(verdict) = self.shared_verdict(ip).await {
            self.cache().insert(ip, verdict.clone(), Instant::now());
            return verdict;
        }
        let answers = self.ask_zones(ip).await;
        let mut complete = true;
        let mut listing = None;
        for (zone, answer) in self.config.zones.iter().zip(answers) {
            match answer {
                ZoneAnswer::Listed(answer) if listing.is_none() => {
                    tracing::info!(client_ip = %ip, zone = %zone, answer = %answer, "client listed by a DNSBL");
                    listing = Some(Listing { zone: zone.clone(), answer });
                }
                ZoneAnswer::Listed(_) | ZoneAnswer::NotListed => {}
                ZoneAnswer::Failed(reason) => {
                    complete = false;
                    tracing::warn!(client_ip = %ip, zone = %zone, reason = %reason, "DNSBL lookup failed; treated as not listed");
                }
            }
        }
        if complete || listing.is_some() {
            self.cache().insert(ip, listing.clone(), Instant::now());
            if let Some(shared) = self.shared.get() {
                shared.put(ip, encode_verdict(listing.as_ref()));
            }
        }
        listing
    }

    /// Another node's fresh verdict for `ip` (fleet mode), if Redis answers at once.
    async fn shared_verdict(&self, ip: IpAddr) -> Option<Option<Listing>> {
        let text = self.shared.get()?.get(ip).await?;
        let verdict = decode_verdict(&text);
        if verdict.is_none() && !text.is_empty() {
            return None;
        }
        Some(verdict)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, VerdictCache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every zone at once, each under the timeout; answers in zone order.
    async fn ask_zones(&self, ip: IpAddr) -> Vec<ZoneAnswer> {
        let mut queries = JoinSet::new();
        for (i, zone) in self.config.zones.iter().enumerate() {
            let (dns, name, timeout) = (self.dns.clone(), query_name(ip, zone), self.config.timeout);
            queries.spawn(async move { (i, ask_zone(&dns, &name, timeout).await) });
        }
        let mut answers: Vec<ZoneAnswer> =
            self.config.zones.iter().map(|_| ZoneAnswer::Failed("not answered".into())).collect();
        while let Some(done) = queries.join_next().await {
            match done {
                Ok((i, answer)) => {
                    if let Some(slot) = answers.get_mut(i) {
                        *slot = answer;
                    }
                }
                Err(e) => tracing::error!(error = %e, "DNSBL query task failed"),
            }
        }
        answers
    }
}

/// `""`: not listed; `zone\tanswer`: listed.
fn encode_verdict(listing: Option<&Listing>) -> String {
    listing.map_or_else(String::new, |l| format!("{}\t{}", l.zone, l.answer))
}

fn decode_verdict(text: &str) -> Option<Listing> {
    let (zone, answer) = text.split_once('\t')?;
    Some(Listing { zone: zone.to_string(), answer: answer.parse().ok().filter(|a| is_listing(*a))? })
}

async fn ask_zone(dns: &Dns, name: &str, timeout: Duration) -> ZoneAnswer {
    match tokio::time::timeout(timeout, dns.ipv4(name)).await {
        Err(_elapsed) => {
            // The cut-off query counted nothing itself.
            crate::metrics::global().dns_lookup(crate::metrics::DnsKind::Dnsbl, true);
            ZoneAnswer::Failed(format!("no answer for {name} within {timeout:?}"))
        }
        Ok(Err(e)) => ZoneAnswer::Failed(e.to_string()),
        Ok(Ok(addresses)) => match addresses.into_iter().find(|a| is_listing(*a)) {
            Some(answer) => ZoneAnswer::Listed(answer),
            None => ZoneAnswer::NotListed,
        },
    }
}

/// Verdicts per IP with a TTL and a capacity: the map is keyed by remote input, so a
/// full cache drops its oldest entries (insertion order is expiry order, one TTL for all).
#[derive(Debug)]
struct VerdictCache {
    entries: HashMap<IpAddr, (Instant, Option<Listing>)>,
    /// Insertion times, oldest first; an entry re-inserted later leaves a stale pair here,
    /// recognised because its time no longer matches the map's.
    order: VecDeque<(IpAddr, Instant)>,
    capacity: usize,
    ttl: Duration,
}

impl VerdictCache {
    fn new(capacity: usize, ttl: Duration) -> VerdictCache {
        VerdictCache { entries: HashMap::new(), order: VecDeque::new(), capacity, ttl }
    }

    /// `Some(verdict)` while fresh.
    fn get(&self, ip: IpAddr, now: Instant) -> Option<Option<Listing>> {
        let (at, verdict) = self.entries.get(&ip)?;
        (now.saturating_duration_since(*at) < self.ttl).then(|| verdict.clone())
    }

    fn insert(&mut self, ip: IpAddr, verdict: Option<Listing>, now: Instant) {
        self.entries.insert(ip, (now, verdict));
        self.order.push_back((ip, now));
        while let Some(&(oldest, at)) = self.order.front() {
            let expired = now.saturating_duration_since(at) >= self.ttl;
            if !expired && self.entries.len() <= self.capacity && self.order.len() <= 2 * self.capacity {
                break;
            }
            self.order.pop_front();
            if self.entries.get(&oldest).is_some_and(|(current, _)| *current == at) {
                self.entries.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names_reverse_the_address() {
        let v4: IpAddr = "192.0.2.99".parse().unwrap();
        assert_eq!(query_name(v4, "zen.example.test"), "99.2.0.192.zen.example.test");
        assert_eq!(query_name(v4, "zen.example.test."), "99.2.0.192.zen.example.test");
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert_eq!(query_name(mapped, "bl.test"), "2.0.0.127.bl.test");
        // RFC 5782 2.4's example.
        let v6: IpAddr = "2001:db8:1:2:3:4:567:89ab".parse().unwrap();
        assert_eq!(
            query_name(v6, "ugly.example.com"),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com"
        );
    }

    #[test]
    fn only_127_0_0_x_is_a_listing() {
        assert!(is_listing(Ipv4Addr::new(127, 0, 0, 2)));
        assert!(is_listing(Ipv4Addr::new(127, 0, 0, 11)));
        assert!(!is_listing(Ipv4Addr::new(127, 255, 255, 254)), "query refused is not a listing");
        assert!(!is_listing(Ipv4Addr::new(10, 0, 0, 2)));
    }

    fn listing(zone: &str) -> Option<Listing> {
        Some(Listing { zone: zone.into(), answer: Ipv4Addr::new(127, 0, 0, 2) })
    }

    #[test]
    fn cache_expires_and_stays_bounded() {
        let ttl = Duration::from_secs(10);
        let mut cache = VerdictCache::new(3, ttl);
        let t0 = Instant::now();
        let ip = |n: u8| IpAddr::V4(Ipv4Addr::new(192, 0, 2, n));
        cache.insert(ip(1), listing("a.test"), t0);
        assert_eq!(cache.get(ip(1), t0 + Duration::from_secs(9)), Some(listing("a.test")));
        assert_eq!(cache.get(ip(1), t0 + ttl), None, "expired");
        assert_eq!(cache.get(ip(2), t0), None, "never asked");
        for n in 2..=5 {
            cache.insert(ip(n), None, t0 + Duration::from_secs(u64::from(n)));
        }
        assert_eq!(cache.entries.len(), 3, "capacity");
        assert_eq!(cache.get(ip(1), t0 + Duration::from_secs(5)), None, "oldest evicted");
        assert_eq!(cache.get(ip(5), t0 + Duration::from_secs(5)), Some(None), "negative verdicts are cached");
        // A re-inserted IP keeps its newer entry when the stale one leaves the queue.
        cache.insert(ip(3), listing("b.test"), t0 + Duration::from_secs(14));
        cache.insert(ip(6), None, t0 + Duration::from_secs(15));
        assert_eq!(cache.get(ip(3), t0 + Duration::from_secs(15)), Some(listing("b.test")));
        assert!(cache.order.len() <= 6);
    }
}
