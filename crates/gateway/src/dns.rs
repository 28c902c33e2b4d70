//! DNS lookups through hickory-resolver: the TXT records that prove a tenant owns a domain
//! (`sluice-verification=<token>`), MX and address lookups, and the A queries of DNS
//! blocklists (`dnsbl`). The name server is the system's, or a configured one
//! (an address and port), which is also how tests point Sluice at a DNS server they run on
//! loopback.

pub mod dnsbl;

use crate::metrics::{self, DnsKind};

use std::net::SocketAddr;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

/// Counts a query in the metrics: "no such name" and "no records" are answers, anything
/// else that is an error is a failure.
fn counted<T>(kind: DnsKind, result: Result<T, NetError>) -> Result<T, NetError> {
    let failed = result.as_ref().is_err_and(|e| !(e.is_no_records_found() || e.is_nx_domain()));
    metrics::global().dns_lookup(kind, failed);
    result
}

/// The TXT record value that proves ownership: `sluice-verification=<token>`.
pub const VERIFICATION_PREFIX: &str = "sluice-verification=";

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cannot set up the DNS resolver: {0}")]
    Setup(String),
    #[error("DNS lookup of {name} failed: {reason}")]
    Lookup { name: String, reason: String },
}

/// Where mail for a domain goes (RFC 5321 5.1, RFC 7505).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailExchangers {
    /// MX hosts, most preferred first (equal preferences keep the server's order).
    Hosts(Vec<String>),
    /// No MX records: the domain itself is the implicit MX.
    Implicit(String),
    /// `MX 0 .`: the domain accepts no mail.
    NullMx,
    /// The domain does not exist.
    NoSuchDomain,
}

/// What a domain's TXT records say about a verification token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The expected record is there.
    Verified,
    /// The domain has TXT records, none with the token; `found` lists the
    /// `sluice-verification=` values seen (an old or another tenant's token).
    TokenMissing { found: Vec<String> },
    /// No TXT records at all (or the name does not exist).
    NoRecords,
}

/// How long a resolver waits and how much it remembers, where the defaults do not do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Per query and name server.
    pub timeout: std::time::Duration,
    /// Tries per query.
    pub attempts: usize,
    /// Answers kept (each for its TTL).
    pub cache_entries: u64,
}

/// A resolver asking `name_server` (`None`: the system's configuration), tuned by `tuning`
/// (`None`: the system's options, or hickory's defaults). Every DNS client of the gateway is
/// built here, so `[dns] resolver` applies to all of them.
pub fn resolver(name_server: Option<SocketAddr>, tuning: Option<Tuning>) -> Result<TokioResolver, DnsError> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = match name_server {
        None => Resolver::builder(provider).map_err(|e| DnsError::Setup(e.to_string()))?,
        Some(addr) => {
            let mut server = NameServerConfig::udp_and_tcp(addr.ip());
            server.connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                .into_iter()
                .map(|mut c| {
                    c.port = addr.port();
                    c
                })
                .collect();
            Resolver::builder_with_config(ResolverConfig::from_name_servers(vec![server]), provider)
        }
    };
    if let Some(tuning) = tuning {
        let options = builder.options_mut();
        options.timeout = tuning.timeout;
        options.attempts = tuning.attempts;
        options.cache_size = tuning.cache_entries;
    }
    builder.build().map_err(|e| DnsError::Setup(e.to_string()))
}

#[derive(Clone, Debug)]
pub struct Dns {
    resolver: TokioResolver,
}

impl Dns {
    /// `None`: the system's resolver configuration (`/etc/resolv.conf`).
    pub fn new(name_server: Option<SocketAddr>) -> Result<Dns, DnsError> {
        Ok(Dns { resolver: resolver(name_server, None)? })
    }

    /// The TXT strings at `name` (each record's character-strings joined, RFC 7208 3.3 style).
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match counted(DnsKind::Txt, self.resolver.txt_lookup(fqdn.as_str()).await) {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::TXT(txt) => {
                        Some(txt.txt_data.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
                    }
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(DnsError::Lookup { name: name.to_string(), reason: e.to_string() }),
        }
    }

    /// The mail exchangers of `domain`.
    pub async fn mail_exchangers(&self, domain: &str) -> Result<MailExchangers, DnsError> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let lookup = match counted(DnsKind::Mx, self.resolver.mx_lookup(format!("{domain}.").as_str()).await)
        {
            Ok(lookup) => lookup,
            Err(e) if e.is_nx_domain() => return Ok(MailExchangers::NoSuchDomain),
            Err(e) if e.is_no_records_found() => return Ok(MailExchangers::Implicit(domain)),
            Err(e) => return Err(DnsError::Lookup { name: domain, reason: e.to_string() }),
        };
        let mut hosts: Vec<(u16, String)> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => {
                    Some((mx.preference, mx.exchange.to_ascii().trim_end_matches('.').to_ascii_lowercase()))
                }
                _ => None,
            })
            .collect();
        if hosts.is_empty() {
            return Ok(MailExchangers::Implicit(domain));
        }
        if hosts.len() == 1 && hosts[0].1.is_empty() {
            return Ok(MailExchangers::NullMx);
        }
        hosts.sort_by_key(|(preference, _)| *preference);
        Ok(MailExchangers::Hosts(hosts.into_iter().map(|(_, h)| h).filter(|h| !h.is_empty()).collect()))
    }

    /// The IPv4 and IPv6 addresses of `host`.
    pub async fn addresses(&self, host: &str) -> Result<Vec<std::net::IpAddr>, DnsError> {
        match counted(
            DnsKind::Address,
            self.resolver.lookup_ip(format!("{}.", host.trim_end_matches('.')).as_str()).await,
        ) {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(DnsError::Lookup { name: host.to_string(), reason: e.to_string() }),
        }
    }

    /// The IPv4 addresses (A records) at `name`; empty when it does not exist. Used for DNS
    /// blocklist queries, where an A record is the answer and no AAAA is ever asked.
    pub async fn ipv4(&self, name: &str) -> Result<Vec<std::net::Ipv4Addr>, DnsError> {
        match counted(
            DnsKind::Dnsbl,
            self.resolver.ipv4_lookup(format!("{}.", name.trim_end_matches('.')).as_str()).await,
        ) {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(DnsError::Lookup { name: name.to_string(), reason: e.to_string() }),
        }
    }

    /// Looks for `sluice-verification=<token>` among `domain`'s TXT records.
    pub async fn verify_domain(&self, domain: &str, token: &str) -> Result<Verification, DnsError> {
        let records = self.txt(domain).await?;
        if records.is_empty() {
            return Ok(Verification::NoRecords);
        }
        let expected = format!("{VERIFICATION_PREFIX}{token}");
        if records.iter().any(|r| r.trim() == expected) {
            return Ok(Verification::Verified);
        }
        let found = records.into_iter().filter(|r| r.trim().starts_with(VERIFICATION_PREFIX)).collect();
        Ok(Verification::TokenMissing { found })
    }
}
