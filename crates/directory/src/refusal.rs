//! Every refusal the directory's decisions produce, with its code and text in one place.
//! Texts follow the reply contract: what happened, who must act, what to do.

use std::fmt;
use std::net::IpAddr;

use crate::model::Connector;

/// A permanent (5xx) or temporary (4xx) refusal. Kept free of `smtp-wire` so the directory
/// stays a leaf crate; the gateway converts it into its `Reply`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub code: u16,
    /// RFC 3463 class, subject, detail.
    pub enhanced: (u8, u16, u16),
    pub text: String,
}

impl Refusal {
    fn new(kind: RefusalKind, code: u16, enhanced: (u8, u16, u16), text: String) -> Refusal {
        Refusal { kind, code, enhanced, text }
    }

    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }
}

/// What a refusal is about, for callers that act on it (the gateway's static accepted
/// domains take over a relay refusal) rather than on its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// The domain is not one this server accepts mail for (or an address literal): relay.
    RelayDenied,
    /// A local part with routing characters (percent hack, bang path, quoted `@`).
    RoutingLocalPart,
    /// No such recipient in an authoritative domain.
    UnknownUser,
    /// The tenant is suspended.
    TenantSuspended,
    /// A connector's TLS rule (plain text, or no certificate with the names it lists).
    TlsRequired,
    /// A sender domain restricted to connectors the session did not come through.
    RestrictedSender,
    /// A low-reputation client (the operator's list or a DNS blocklist).
    LowReputation,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (class, subject, detail) = self.enhanced;
        write!(f, "{} {class}.{subject}.{detail} {}", self.code, self.text)
    }
}

fn connector_label(c: &Connector) -> String {
    format!("connector \"{}\" of tenant {}", c.name, c.tenant)
}

pub(crate) fn relay_denied(domain: &str) -> Refusal {
    Refusal::new(
        RefusalKind::RelayDenied,
        550,
        (5, 7, 1),
        format!(
            "Relay access denied: this server does not accept mail for {domain}; \
             if {domain} should receive mail here, its administrator must add it as an accepted domain"
        ),
    )
}

pub(crate) fn relay_denied_unverified(domain: &str) -> Refusal {
    Refusal::new(
        RefusalKind::RelayDenied,
        550,
        (5, 7, 1),
        format!(
            "Relay access denied: {domain} is not verified on this server; its administrator must \
             publish the DNS TXT record sluice-verification=<token> shown in the admin center and verify the domain"
        ),
    )
}

pub(crate) fn relay_denied_literal(literal: &str) -> Refusal {
    Refusal::new(
        RefusalKind::RelayDenied,
        550,
        (5, 7, 1),
        format!(
            "Relay access denied: this server does not accept mail for address literals such as {literal}; use the recipient's domain name"
        ),
    )
}

pub(crate) fn routing_local_part(address: &str) -> Refusal {
    Refusal::new(
        RefusalKind::RoutingLocalPart,
        550,
        (5, 1, 3),
        format!(
            "Recipient address rejected: <{address}> contains routing characters (% ! @ or quotes) that this server never relays; send to the final address directly"
        ),
    )
}

pub(crate) fn unknown_user(address: &str, domain: &str) -> Refusal {
    Refusal::new(
        RefusalKind::UnknownUser,
        550,
        (5, 1, 1),
        format!(
            "Recipient address rejected: <{address}> does not exist in {domain}; check the address, or ask the {domain} administrator to add it"
        ),
    )
}

pub(crate) fn tenant_suspended_inbound(domain: &str) -> Refusal {
    Refusal::new(
        RefusalKind::TenantSuspended,
        550,
        (5, 2, 1),
        format!(
            "Recipient domain {domain} is suspended on this service and receives no mail; its administrator must contact the service operator"
        ),
    )
}

pub(crate) fn tenant_suspended_outbound(connector: &Connector) -> Refusal {
    Refusal::new(
        RefusalKind::TenantSuspended,
        550,
        (5, 7, 705),
        format!(
            "Outbound mail through {} is blocked because the tenant is suspended; the tenant's administrator must contact the service operator",
            connector_label(connector)
        ),
    )
}

pub(crate) fn tls_required(connector: &Connector) -> Refusal {
    Refusal::new(
        RefusalKind::TlsRequired,
        550,
        (5, 7, 10),
        format!(
            "Mail through {} must be sent over TLS (rule \"reject mail not sent over TLS\"); issue STARTTLS before MAIL FROM, \
             or ask the tenant's administrator to change the connector",
            connector_label(connector)
        ),
    )
}

pub(crate) fn restricted_sender(domain: &str, connector: &Connector, ip: IpAddr) -> Refusal {
    // A connector known by certificate is joined by presenting one, not by an address.
    let fix = if connector.ip_ranges.is_empty() && !connector.certificate_names.is_empty() {
        "present a TLS client certificate for one of its names".to_string()
    } else {
        format!("ask the tenant's administrator to add [{ip}] to it")
    };
    Refusal::new(
        RefusalKind::RestrictedSender,
        550,
        (5, 7, 51),
        format!(
            "Sender domain {domain} is restricted to {} (rule \"reject mail for these sender domains unless it comes \
             through this connector\") and [{ip}] is not part of it; send through the servers of that connector, \
             or {fix}",
            connector_label(connector)
        ),
    )
}

/// A connector known by certificate names and requiring TLS, reached from one of its IP
/// ranges without a certificate for those names.
pub(crate) fn certificate_required(connector: &Connector) -> Refusal {
    let names: Vec<String> = connector.certificate_names.iter().map(ToString::to_string).collect();
    Refusal::new(
        RefusalKind::TlsRequired,
        550,
        (5, 7, 10),
        format!(
            "Mail through {} must come over TLS with a client certificate for {} (rule \"reject mail not sent over \
             TLS\"); present that certificate at STARTTLS, or ask the tenant's administrator to change the connector",
            connector_label(connector),
            names.join(" or ")
        ),
    )
}

/// The client's own address as a host range, ready for the operator's command.
fn host_cidr(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => format!("{ip}/32"),
        IpAddr::V6(_) => format!("{ip}/128"),
    }
}

pub(crate) fn low_reputation(ip: IpAddr) -> Refusal {
    Refusal::new(
        RefusalKind::LowReputation,
        550,
        (5, 7, 708),
        format!(
            "Traffic is not accepted from [{ip}]: the address is in a low-reputation range; the sending server's \
             administrator should ask the service operator for an exception (sluice reputation except {}), or a \
             tenant should add it to an inbound connector",
            host_cidr(ip)
        ),
    )
}

pub(crate) fn dnsbl_listed(ip: IpAddr, zone: &str) -> Refusal {
    let cidr = host_cidr(ip);
    Refusal::new(
        RefusalKind::LowReputation,
        550,
        (5, 7, 708),
        format!(
            "Traffic is not accepted from [{ip}]: the address is listed by the DNS blocklist {zone}; the sending \
             server's administrator should have it delisted there, or ask the service operator for an exception \
             (sluice reputation except {cidr})"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ConnectorKind;
    use crate::names::TenantId;

    fn connector() -> Connector {
        Connector::new(TenantId::parse("acme").unwrap(), "hq", ConnectorKind::OnPremises)
    }

    fn cert_connector() -> Connector {
        let mut c = connector();
        c.certificate_names = ["*.mail.partner.test", "relay.partner.test"]
            .iter()
            .map(|n| crate::CertName::parse(n).unwrap())
            .collect();
        c
    }

    /// Every text exactly, so a change to what senders read is a visible diff.
    #[test]
    fn every_refusal_text() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let cases = [
            (
                relay_denied("x.example"),
                "550 5.7.1 Relay access denied: this server does not accept mail for x.example; if x.example should receive mail here, its administrator must add it as an accepted domain",
            ),
            (
                relay_denied_unverified("x.example"),
                "550 5.7.1 Relay access denied: x.example is not verified on this server; its administrator must publish the DNS TXT record sluice-verification=<token> shown in the admin center and verify the domain",
            ),
            (
                relay_denied_literal("[192.0.2.1]"),
                "550 5.7.1 Relay access denied: this server does not accept mail for address literals such as [192.0.2.1]; use the recipient's domain name",
            ),
            (
                routing_local_part("a%b@x.example"),
                "550 5.1.3 Recipient address rejected: <a%b@x.example> contains routing characters (% ! @ or quotes) that this server never relays; send to the final address directly",
            ),
            (
                unknown_user("a@x.example", "x.example"),
                "550 5.1.1 Recipient address rejected: <a@x.example> does not exist in x.example; check the address, or ask the x.example administrator to add it",
            ),
            (
                tenant_suspended_inbound("x.example"),
                "550 5.2.1 Recipient domain x.example is suspended on this service and receives no mail; its administrator must contact the service operator",
            ),
            (
                tenant_suspended_outbound(&connector()),
                "550 5.7.705 Outbound mail through connector \"hq\" of tenant acme is blocked because the tenant is suspended; the tenant's administrator must contact the service operator",
            ),
            (
                tls_required(&connector()),
                "550 5.7.10 Mail through connector \"hq\" of tenant acme must be sent over TLS (rule \"reject mail not sent over TLS\"); issue STARTTLS before MAIL FROM, or ask the tenant's administrator to change the connector",
            ),
            (
                restricted_sender("x.example", &connector(), ip),
                "550 5.7.51 Sender domain x.example is restricted to connector \"hq\" of tenant acme (rule \"reject mail for these sender domains unless it comes through this connector\") and [192.0.2.1] is not part of it; send through the servers of that connector, or ask the tenant's administrator to add [192.0.2.1] to it",
            ),
            (
                dnsbl_listed(ip, "zen.example.test"),
                "550 5.7.708 Traffic is not accepted from [192.0.2.1]: the address is listed by the DNS blocklist zen.example.test; the sending server's administrator should have it delisted there, or ask the service operator for an exception (sluice reputation except 192.0.2.1/32)",
            ),
            (
                dnsbl_listed("2001:db8::1".parse().unwrap(), "v6.example.test"),
                "550 5.7.708 Traffic is not accepted from [2001:db8::1]: the address is listed by the DNS blocklist v6.example.test; the sending server's administrator should have it delisted there, or ask the service operator for an exception (sluice reputation except 2001:db8::1/128)",
            ),
            (
                low_reputation(ip),
                "550 5.7.708 Traffic is not accepted from [192.0.2.1]: the address is in a low-reputation range; the sending server's administrator should ask the service operator for an exception (sluice reputation except 192.0.2.1/32), or a tenant should add it to an inbound connector",
            ),
            (
                certificate_required(&cert_connector()),
                "550 5.7.10 Mail through connector \"hq\" of tenant acme must come over TLS with a client certificate for *.mail.partner.test or relay.partner.test (rule \"reject mail not sent over TLS\"); present that certificate at STARTTLS, or ask the tenant's administrator to change the connector",
            ),
            (
                restricted_sender("x.example", &cert_connector(), ip),
                "550 5.7.51 Sender domain x.example is restricted to connector \"hq\" of tenant acme (rule \"reject mail for these sender domains unless it comes through this connector\") and [192.0.2.1] is not part of it; send through the servers of that connector, or present a TLS client certificate for one of its names",
            ),
        ];
        for (refusal, expected) in cases {
            assert!(refusal.is_permanent());
            assert_eq!(refusal.to_string(), expected);
        }
    }
}
