//! Where mail for a destination goes, resolved one way for delivery (`remote`) and for the
//! connector probe (`outbound::probe`), so a probe that passes resolved what delivery will:
//! a domain's mail hosts in preference order (RFC 5321 5.1: its MX records, else the domain
//! itself; RFC 7505: a null MX accepts no mail), then each host's addresses.

use std::net::{IpAddr, SocketAddr};

use crate::dns::{Dns, DnsError, MailExchangers};

/// A domain's mail hosts, most preferred first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailHosts {
    pub hosts: Vec<String>,
    /// No MX record: the domain itself is the mail host.
    pub implicit: bool,
}

/// Why a domain has no mail host.
#[derive(Debug)]
pub enum NoMailHost {
    /// `MX 0 .`: the domain accepts no mail.
    NullMx,
    /// The domain does not exist.
    NoSuchDomain,
    /// The lookup failed: it may work later.
    Lookup(DnsError),
}

/// The mail hosts of `domain`.
pub async fn mail_hosts(dns: &Dns, domain: &str) -> Result<MailHosts, NoMailHost> {
    match dns.mail_exchangers(domain).await {
        Ok(MailExchangers::Hosts(hosts)) => Ok(MailHosts { hosts, implicit: false }),
        Ok(MailExchangers::Implicit(host)) => Ok(MailHosts { hosts: vec![host], implicit: true }),
        Ok(MailExchangers::NullMx) => Err(NoMailHost::NullMx),
        Ok(MailExchangers::NoSuchDomain) => Err(NoMailHost::NoSuchDomain),
        Err(e) => Err(NoMailHost::Lookup(e)),
    }
}

/// The addresses of `host` on `port`: itself when it is an IP address, else its A and AAAA
/// records.
pub async fn addresses(dns: &Dns, host: &str, port: u16) -> Result<Vec<SocketAddr>, DnsError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    Ok(dns.addresses(host).await?.into_iter().map(|ip| SocketAddr::new(ip, port)).collect())
}
