//! Every refusal the directory's decisions produce, with its code and text in one place.
//! Texts follow the reply contract: what happened, who must act, what to do.

use std::fmt;
use std::net::IpAddr;

use crate::names::CertName;

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

/// The certificate names a connector lists, as a reply quotes them.
fn names_text(names: &[CertName]) -> String {
    names.iter().map(ToString::to_string).collect::<Vec<_>>().join(" or ")
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

/// Several organisations' own servers share the client's address, and neither its
/// certificate nor the sender domain says which one is sending.
pub(crate) fn relay_unattributed(ip: IpAddr, sender_domain: Option<&str>) -> Refusal {
    let sender = match sender_domain {
        Some(domain) => format!("the sender domain {}", shown(&domain.to_ascii_lowercase())),
        None => "an empty sender (a bounce)".to_string(),
    };
    Refusal::new(
        RefusalKind::RelayDenied,
        550,
        (5, 7, 1),
        format!(
            "Relay access denied: [{ip}] is the mail server of several organisations on this service and {sender} \
             does not tell which one is sending; send from a verified domain of your organisation, or have the \
             server present the TLS client certificate your organisation's on-premises connector names"
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

/// Temporary on purpose: a suspension is usually sorted out within days (an unpaid
/// invoice, an investigation), and the sending servers keep the mail and retry meanwhile
/// instead of bouncing it for good.
pub(crate) fn tenant_suspended_inbound(domain: &str) -> Refusal {
    Refusal::new(
        RefusalKind::TenantSuspended,
        451,
        (4, 2, 1),
        format!(
            "Mail for {domain} is not accepted at the moment: the recipient's organisation is suspended on this service; \
             the sending server keeps the message and retries, and its administrator need not act unless it bounces"
        ),
    )
}

pub(crate) fn tenant_suspended_outbound(ip: IpAddr) -> Refusal {
    Refusal::new(
        RefusalKind::TenantSuspended,
        550,
        (5, 7, 705),
        format!(
            "Outbound mail from [{ip}] is blocked because your organisation's account on this service is suspended; \
             your email administrator must contact the service operator"
        ),
    )
}

pub(crate) fn tls_required(domain: &str, ip: IpAddr) -> Refusal {
    Refusal::new(
        RefusalKind::TlsRequired,
        550,
        (5, 7, 10),
        format!(
            "Mail for {domain} from [{ip}] must be sent over TLS: the recipient's organisation requires it for mail from \
             this server (rule \"reject mail not sent over TLS\"); issue STARTTLS before MAIL FROM, or ask the \
             {domain} administrator to change the rule"
        ),
    )
}

/// A connector known by certificate names and requiring TLS, reached from one of its IP
/// ranges without a certificate for those names.
pub(crate) fn certificate_required(domain: &str, ip: IpAddr, names: &[CertName]) -> Refusal {
    Refusal::new(
        RefusalKind::TlsRequired,
        550,
        (5, 7, 10),
        format!(
            "Mail for {domain} from [{ip}] must come over TLS with a client certificate for {}: the recipient's \
             organisation identifies this server by it (rule \"reject mail not sent over TLS\"); present that \
             certificate at STARTTLS, or ask the {domain} administrator to change the rule",
            names_text(names)
        ),
    )
}

/// A domain-only connector of the recipient's tenant requires TLS for the sender domain.
pub(crate) fn tls_required_for_sender(sender: &str, domain: &str, ip: IpAddr) -> Refusal {
    Refusal::new(
        RefusalKind::TlsRequired,
        550,
        (5, 7, 10),
        format!(
            "Mail from {sender} to {domain} must be sent over TLS: the recipient's organisation requires it for this \
             sender domain (rule \"reject mail not sent over TLS\"), and [{ip}] sent in plain text; issue STARTTLS \
             before MAIL FROM, or ask the {domain} administrator to change the rule"
        ),
    )
}

pub(crate) fn tls_required_outbound(ip: IpAddr) -> Refusal {
    Refusal::new(
        RefusalKind::TlsRequired,
        550,
        (5, 7, 10),
        format!(
            "Mail relayed from [{ip}] must be sent over TLS: your organisation's on-premises connector requires it \
             (rule \"reject mail not sent over TLS\"); issue STARTTLS before MAIL FROM, or have your email \
             administrator change the connector"
        ),
    )
}

pub(crate) fn certificate_required_outbound(ip: IpAddr, names: &[CertName]) -> Refusal {
    Refusal::new(
        RefusalKind::TlsRequired,
        550,
        (5, 7, 10),
        format!(
            "Mail relayed from [{ip}] must come over TLS with a client certificate for {}: your organisation's \
             on-premises connector requires it (rule \"reject mail not sent over TLS\"); present that certificate \
             at STARTTLS, or have your email administrator change the connector",
            names_text(names)
        ),
    )
}

pub(crate) fn restricted_sender(sender: &str, domain: &str, ip: IpAddr, by_certificate: bool) -> Refusal {
    // A connector known by certificate is joined by presenting one, not by an address.
    let fix = if by_certificate {
        "present the TLS client certificate those servers use".to_string()
    } else {
        format!("ask the {domain} administrator to add [{ip}] to them")
    };
    Refusal::new(
        RefusalKind::RestrictedSender,
        550,
        (5, 7, 51),
        format!(
            "Sender domain {sender} may send to {domain} only through the servers the recipient's organisation declared \
             for it (rule \"reject mail for these sender domains unless it comes through this connector\"), and \
             [{ip}] is not one of them; send through those servers, or {fix}"
        ),
    )
}

pub(crate) fn low_reputation(ip: IpAddr) -> Refusal {
    Refusal::new(
        RefusalKind::LowReputation,
        550,
        (5, 7, 708),
        format!(
            "Traffic is not accepted from [{ip}]: the address is in a low-reputation range; if this server sends \
             legitimate mail, its administrator should ask the recipient's email administrator to request an \
             exception for [{ip}] from the service operator"
        ),
    )
}

pub(crate) fn dnsbl_listed(ip: IpAddr, zone: &str) -> Refusal {
    let zone = shown(zone);
    Refusal::new(
        RefusalKind::LowReputation,
        550,
        (5, 7, 708),
        format!(
            "Traffic is not accepted from [{ip}]: the address is listed by the DNS blocklist {zone}; the sending \
             server's administrator should have it delisted there, or ask the recipient's email administrator to \
             request an exception for [{ip}] from the service operator"
        ),
    )
}

/// Remote or operator text quoted in a reply: no control characters, at most 100 bytes.
fn shown(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if out.len() + c.len_utf8() > 100 {
            out.push_str("...");
            break;
        }
        out.push(if c.is_control() { '?' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<CertName> {
        ["*.mail.partner.test", "relay.partner.test"].iter().map(|n| CertName::parse(n).unwrap()).collect()
    }

    /// Every text exactly, so a change to what senders read is a visible diff; none names a
    /// tenant, a connector or an operator command.
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
                relay_unattributed(ip, Some("Shop.Example")),
                "550 5.7.1 Relay access denied: [192.0.2.1] is the mail server of several organisations on this service and the sender domain shop.example does not tell which one is sending; send from a verified domain of your organisation, or have the server present the TLS client certificate your organisation's on-premises connector names",
            ),
            (
                relay_unattributed(ip, None),
                "550 5.7.1 Relay access denied: [192.0.2.1] is the mail server of several organisations on this service and an empty sender (a bounce) does not tell which one is sending; send from a verified domain of your organisation, or have the server present the TLS client certificate your organisation's on-premises connector names",
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
                "451 4.2.1 Mail for x.example is not accepted at the moment: the recipient's organisation is suspended on this service; the sending server keeps the message and retries, and its administrator need not act unless it bounces",
            ),
            (
                tenant_suspended_outbound(ip),
                "550 5.7.705 Outbound mail from [192.0.2.1] is blocked because your organisation's account on this service is suspended; your email administrator must contact the service operator",
            ),
            (
                tls_required("x.example", ip),
                "550 5.7.10 Mail for x.example from [192.0.2.1] must be sent over TLS: the recipient's organisation requires it for mail from this server (rule \"reject mail not sent over TLS\"); issue STARTTLS before MAIL FROM, or ask the x.example administrator to change the rule",
            ),
            (
                certificate_required("x.example", ip, &names()),
                "550 5.7.10 Mail for x.example from [192.0.2.1] must come over TLS with a client certificate for *.mail.partner.test or relay.partner.test: the recipient's organisation identifies this server by it (rule \"reject mail not sent over TLS\"); present that certificate at STARTTLS, or ask the x.example administrator to change the rule",
            ),
            (
                tls_required_for_sender("bank.example", "x.example", ip),
                "550 5.7.10 Mail from bank.example to x.example must be sent over TLS: the recipient's organisation requires it for this sender domain (rule \"reject mail not sent over TLS\"), and [192.0.2.1] sent in plain text; issue STARTTLS before MAIL FROM, or ask the x.example administrator to change the rule",
            ),
            (
                tls_required_outbound(ip),
                "550 5.7.10 Mail relayed from [192.0.2.1] must be sent over TLS: your organisation's on-premises connector requires it (rule \"reject mail not sent over TLS\"); issue STARTTLS before MAIL FROM, or have your email administrator change the connector",
            ),
            (
                certificate_required_outbound(ip, &names()),
                "550 5.7.10 Mail relayed from [192.0.2.1] must come over TLS with a client certificate for *.mail.partner.test or relay.partner.test: your organisation's on-premises connector requires it (rule \"reject mail not sent over TLS\"); present that certificate at STARTTLS, or have your email administrator change the connector",
            ),
            (
                restricted_sender("partner.example", "x.example", ip, false),
                "550 5.7.51 Sender domain partner.example may send to x.example only through the servers the recipient's organisation declared for it (rule \"reject mail for these sender domains unless it comes through this connector\"), and [192.0.2.1] is not one of them; send through those servers, or ask the x.example administrator to add [192.0.2.1] to them",
            ),
            (
                restricted_sender("partner.example", "x.example", ip, true),
                "550 5.7.51 Sender domain partner.example may send to x.example only through the servers the recipient's organisation declared for it (rule \"reject mail for these sender domains unless it comes through this connector\"), and [192.0.2.1] is not one of them; send through those servers, or present the TLS client certificate those servers use",
            ),
            (
                low_reputation(ip),
                "550 5.7.708 Traffic is not accepted from [192.0.2.1]: the address is in a low-reputation range; if this server sends legitimate mail, its administrator should ask the recipient's email administrator to request an exception for [192.0.2.1] from the service operator",
            ),
            (
                dnsbl_listed(ip, "zen.example.test"),
                "550 5.7.708 Traffic is not accepted from [192.0.2.1]: the address is listed by the DNS blocklist zen.example.test; the sending server's administrator should have it delisted there, or ask the recipient's email administrator to request an exception for [192.0.2.1] from the service operator",
            ),
            (
                dnsbl_listed("2001:db8::1".parse().unwrap(), "v6.example.test"),
                "550 5.7.708 Traffic is not accepted from [2001:db8::1]: the address is listed by the DNS blocklist v6.example.test; the sending server's administrator should have it delisted there, or ask the recipient's email administrator to request an exception for [2001:db8::1] from the service operator",
            ),
        ];
        for (refusal, expected) in cases {
            assert_eq!(refusal.to_string(), expected);
            assert_eq!(refusal.is_permanent(), refusal.code >= 500);
            for internal in ["tenant ", "connector \"", "sluice "] {
                assert!(!refusal.text.contains(internal), "{internal:?} in {}", refusal.text);
            }
            // RFC 5321 4.5.3.1.5: the reply line, code and CRLF included, fits 512 octets.
            assert!(refusal.to_string().len() + 2 <= 512, "{}", refusal);
        }
    }
}
