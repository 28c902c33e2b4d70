//! The envelope of a message as accepted by the session: sender, recipients and the ESMTP
//! parameters (RFC 1652, RFC 1870, RFC 3461, RFC 6531) that travel with it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A mailbox `local-part@domain` as received. The local part keeps its case (RFC 5321 2.4:
/// only the destination host may interpret it); the domain is compared case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    /// The local part, unquoted when it was a dot-string, with its quotes when it was quoted.
    pub local_part: String,
    /// A domain name (as received, without a trailing dot) or an address literal such as
    /// `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
    pub domain: String,
}

impl Address {
    pub fn new(local_part: impl Into<String>, domain: impl Into<String>) -> Address {
        Address { local_part: local_part.into(), domain: domain.into() }
    }

    /// The domain in lower case, the form used for every lookup.
    pub fn domain_lowercase(&self) -> String {
        self.domain.to_ascii_lowercase()
    }

    /// Whether the domain is an address literal (`[...]`).
    pub fn is_address_literal(&self) -> bool {
        self.domain.starts_with('[')
    }

    /// The IP address when the domain is an address literal ([`address_literal`]).
    pub fn literal_ip(&self) -> Option<IpAddr> {
        address_literal(&self.domain)
    }

    /// Whether any part of the address is outside ASCII (needs SMTPUTF8).
    pub fn is_utf8(&self) -> bool {
        !self.local_part.is_ascii() || !self.domain.is_ascii()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local_part, self.domain)
    }
}

/// The IP address of an address literal (RFC 5321 4.1.3): `[192.0.2.1]`, or
/// `[IPv6:2001:db8::1]` with the tag in any case; `None` for a domain name or a malformed
/// literal (an untagged IPv6 address, a tagged IPv4 one). The one parser of literals: the
/// session's syntax check and delivery to a literal both use it, so they cannot disagree.
pub fn address_literal(domain: &str) -> Option<IpAddr> {
    let inner = domain.strip_prefix('[')?.strip_suffix(']')?;
    match inner.get(..5) {
        Some(tag) if tag.eq_ignore_ascii_case("IPv6:") => inner[5..].parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        _ => inner.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

/// The reverse path of `MAIL FROM`: the null sender `<>` (bounces) or a mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReversePath {
    Null,
    Mailbox(Address),
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Mailbox(a) => write!(f, "<{a}>"),
        }
    }
}

/// `BODY=` (RFC 1652, RFC 3030).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BodyType {
    #[default]
    SevenBit,
    EightBitMime,
}

/// `RET=` (RFC 3461 4.3): what a bounce should carry of the original message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    Full,
    Headers,
}

/// `NOTIFY=` (RFC 3461 4.1). `Never` excludes the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    Never,
    On { success: bool, failure: bool, delay: bool },
}

/// `ORCPT=` (RFC 3461 4.2): the original recipient, xtext-decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginalRecipient {
    /// The address type, usually `rfc822` (or `utf-8`, RFC 6533).
    pub addr_type: String,
    /// The decoded address.
    pub address: String,
}

/// One accepted `RCPT TO` with its DSN parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub address: Address,
    pub notify: Option<Notify>,
    pub orcpt: Option<OriginalRecipient>,
}

impl Recipient {
    /// A recipient without DSN parameters.
    pub fn new(address: Address) -> Recipient {
        Recipient { address, notify: None, orcpt: None }
    }
}

/// Facts about the client that sent the message, for `Received:`, logs and trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: IpAddr,
    /// The name given in EHLO/HELO.
    pub helo: String,
    /// Whether EHLO (rather than HELO) was used.
    pub esmtp: bool,
    /// TLS protocol and cipher suite when the session used STARTTLS, e.g. `TLSv1.3 TLS13_AES_256_GCM_SHA384`.
    pub tls: Option<String>,
    /// The tenant connector the client was recognised as, set by the gateway when it spools the message (the session itself leaves it `None`).
    pub attribution: Option<Attribution>,
}

impl ClientInfo {
    /// A client that said EHLO `helo`, in plain text, attributed to no connector.
    pub fn new(ip: IpAddr, helo: impl Into<String>) -> ClientInfo {
        ClientInfo { ip, helo: helo.into(), esmtp: true, tls: None, attribution: None }
    }
}

/// Which tenant connector a message came through. The session knows nothing of tenants;
/// the gateway fills this in so that the queue manager can route and account the message
/// without asking the directory again (whose answer may have changed since).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribution {
    /// Tenant id.
    pub tenant: String,
    /// Connector name.
    pub connector: String,
    /// Whether the connector may relay to any domain (the tenant's own server): recipients outside accepted domains are outbound mail of this tenant.
    pub outbound_relay: bool,
}

/// Everything the session learnt about a message apart from its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub sender: ReversePath,
    pub recipients: Vec<Recipient>,
    pub body: BodyType,
    pub smtputf8: bool,
    pub ret: Option<Ret>,
    /// `ENVID=`, xtext-decoded.
    pub envid: Option<String>,
    /// `SIZE=` as declared by the client, when it declared one.
    pub declared_size: Option<u64>,
    pub client: ClientInfo,
}

impl Envelope {
    /// An envelope without ESMTP parameters (7bit, no SMTPUTF8, no RET, ENVID or SIZE): the
    /// shape of a notification Sluice writes, and the one base of test envelopes (which set
    /// the fields they are about with `..Envelope::new(...)`).
    pub fn new(sender: ReversePath, recipients: Vec<Recipient>, client: ClientInfo) -> Envelope {
        Envelope {
            sender,
            recipients,
            body: BodyType::SevenBit,
            smtputf8: false,
            ret: None,
            envid: None,
            declared_size: None,
            client,
        }
    }
}
