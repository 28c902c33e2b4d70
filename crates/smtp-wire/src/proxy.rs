//! The PROXY protocol (HAProxy's `proxy-protocol.txt`, versions 1 and 2): the header a
//! load balancer sends first on each connection it forwards, naming the client it came
//! from. Sans-IO: [`parse`] is fed the bytes read so far and says whether a whole header is
//! there, how long it is, and what it says; the caller keeps the bytes after it.
//!
//! Bounded: a version 1 header is one line of at most [`V1_BYTES_MAX`] bytes; a version 2
//! header is 16 bytes and a length, refused above the caller's `v2_bytes_max` before its
//! body is waited for. Every malformed input is a [`ProxyError`]; nothing panics.
//!
//! What the header can say ([`ProxyHeader`]): a TCP client over IPv4 or IPv6 with its
//! address and port and the address it connected to; or that the connection tells nothing
//! about a client (version 2 `LOCAL`, the balancer's own health check; version 1 `UNKNOWN`;
//! version 2 `UNSPEC` or Unix-socket addresses), when the spec says the receiver uses the
//! connection's own endpoints. Version 2 TLVs are checked to lie within the header and
//! skipped. Datagram transports are refused: SMTP is a stream.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The longest version 1 header, `CRLF` included (the spec's worst case).
pub const V1_BYTES_MAX: usize = 107;
/// The fixed part of a version 2 header: signature, version and command, family and
/// transport, length.
pub const V2_FIXED_BYTES: usize = 16;
/// A default bound on a whole version 2 header: room for IPv6 addresses and the TLVs load
/// balancers send (TLS details, unique id, cloud endpoint ids).
pub const V2_BYTES_MAX_DEFAULT: usize = 1024;

const V1_PREFIX: &[u8] = b"PROXY ";
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// What a complete header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyHeader {
    /// A TCP client: `source` is the client, `destination` the address it connected to.
    Proxied { source: SocketAddr, destination: SocketAddr },
    /// No client address (v2 `LOCAL`, v1 `UNKNOWN`, v2 `UNSPEC` or Unix sockets): use the
    /// connection's own endpoints.
    Unknown,
}

/// Which version of the protocol a header used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyVersion {
    V1,
    V2,
}

/// A complete header and how many bytes of the input it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub header: ProxyHeader,
    pub version: ProxyVersion,
    /// Bytes of the input the header used; what follows belongs to the next protocol.
    pub consumed: usize,
}

/// A header that cannot be accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The bytes start like neither version: a client talking SMTP directly.
    #[error("no PROXY protocol header: the connection starts with {0:?}")]
    NotProxy(String),
    #[error("PROXY v1 header longer than {V1_BYTES_MAX} bytes without CRLF")]
    V1TooLong,
    /// A field is missing, extra, separated by other than one space, or the line does not
    /// end in `CRLF`.
    #[error("malformed PROXY v1 header: {0}")]
    V1Malformed(&'static str),
    #[error("PROXY v1 protocol {0:?} is not TCP4, TCP6 or UNKNOWN")]
    V1Protocol(String),
    #[error("PROXY v1 {field} {value:?} is not an {family} address")]
    V1Address { field: &'static str, value: String, family: &'static str },
    #[error("PROXY v1 {field} {value:?} is not a port (0 to 65535, no leading zeros)")]
    V1Port { field: &'static str, value: String },
    #[error("PROXY v2 version {0} is not 2")]
    V2Version(u8),
    #[error("PROXY v2 command {0} is neither LOCAL (0) nor PROXY (1)")]
    V2Command(u8),
    #[error("PROXY v2 address family {0} is not UNSPEC, INET, INET6 or UNIX")]
    V2Family(u8),
    #[error("PROXY v2 transport {0} is not a stream (SMTP runs over TCP)")]
    V2Transport(u8),
    #[error("PROXY v2 header of {length} bytes is over the limit of {limit}")]
    V2TooLong { length: usize, limit: usize },
    #[error("PROXY v2 addresses need {needed} bytes, the header has {length}")]
    V2AddressesTruncated { needed: usize, length: usize },
    #[error("PROXY v2 TLV at byte {at} runs past the end of the header")]
    V2Tlv { at: usize },
}

/// Parses a PROXY header at the start of `input`: `Ok(None)` when more bytes are needed
/// (everything so far is a valid beginning), `Ok(Some(..))` for a complete header. A
/// version 2 header longer than `v2_bytes_max` is refused as soon as its length is known.
pub fn parse(input: &[u8], v2_bytes_max: usize) -> Result<Option<Parsed>, ProxyError> {
    let v1 = input.starts_with(V1_PREFIX) || V1_PREFIX.starts_with(input);
    let v2 = input.starts_with(&V2_SIGNATURE) || V2_SIGNATURE.starts_with(input);
    if input.is_empty() || (v1 && input.len() < V1_PREFIX.len()) || (v2 && input.len() < V2_SIGNATURE.len()) {
        return Ok(None);
    }
    if v1 {
        parse_v1(input)
    } else if v2 {
        parse_v2(input, v2_bytes_max)
    } else {
        let shown = String::from_utf8_lossy(&input[..input.len().min(16)]).into_owned();
        Err(ProxyError::NotProxy(shown))
    }
}

fn parse_v1(input: &[u8]) -> Result<Option<Parsed>, ProxyError> {
    let window = &input[..input.len().min(V1_BYTES_MAX)];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        return if input.len() >= V1_BYTES_MAX { Err(ProxyError::V1TooLong) } else { Ok(None) };
    };
    if lf == 0 || window[lf - 1] != b'\r' {
        return Err(ProxyError::V1Malformed("the line does not end in CRLF"));
    }
    let line = std::str::from_utf8(&window[V1_PREFIX.len()..lf - 1])
        .map_err(|_| ProxyError::V1Malformed("the line is not text"))?;
    let header = v1_fields(line)?;
    Ok(Some(Parsed { header, version: ProxyVersion::V1, consumed: lf + 1 }))
}

fn v1_fields(line: &str) -> Result<ProxyHeader, ProxyError> {
    if line.is_empty() {
        return Err(ProxyError::V1Malformed("the protocol is missing"));
    }
    let fields: Vec<&str> = line.split(' ').collect();
    if fields.iter().any(|f| f.is_empty()) {
        return Err(ProxyError::V1Malformed("fields are separated by more than one space"));
    }
    let family = match fields[0] {
        // Anything may follow UNKNOWN; the receiver ignores it.
        "UNKNOWN" => return Ok(ProxyHeader::Unknown),
        "TCP4" => "IPv4",
        "TCP6" => "IPv6",
        other => return Err(ProxyError::V1Protocol(other.chars().take(16).collect())),
    };
    let [_, src, dst, sport, dport] = fields[..] else {
        return Err(ProxyError::V1Malformed("TCP4 and TCP6 take two addresses and two ports"));
    };
    let source = SocketAddr::new(v1_address("source address", src, family)?, v1_port("source port", sport)?);
    let destination =
        SocketAddr::new(v1_address("destination address", dst, family)?, v1_port("destination port", dport)?);
    Ok(ProxyHeader::Proxied { source, destination })
}

fn v1_address(field: &'static str, text: &str, family: &'static str) -> Result<IpAddr, ProxyError> {
    let parsed = match family {
        "IPv4" => text.parse::<Ipv4Addr>().map(IpAddr::V4).ok(),
        _ => text.parse::<Ipv6Addr>().map(IpAddr::V6).ok(),
    };
    parsed.ok_or_else(|| ProxyError::V1Address { field, value: text.chars().take(48).collect(), family })
}

fn v1_port(field: &'static str, text: &str) -> Result<u16, ProxyError> {
    let canonical = text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    match text.parse::<u16>() {
        Ok(port) if canonical => Ok(port),
        _ => Err(ProxyError::V1Port { field, value: text.chars().take(8).collect() }),
    }
}

fn parse_v2(input: &[u8], v2_bytes_max: usize) -> Result<Option<Parsed>, ProxyError> {
    if input.len() < V2_FIXED_BYTES {
        return Ok(None);
    }
    let (version, command) = (input[12] >> 4, input[12] & 0x0f);
    if version != 2 {
        return Err(ProxyError::V2Version(version));
    }
    if command > 1 {
        return Err(ProxyError::V2Command(command));
    }
    let (family, transport) = (input[13] >> 4, input[13] & 0x0f);
    if family > 3 {
        return Err(ProxyError::V2Family(family));
    }
    let length = usize::from(u16::from_be_bytes([input[14], input[15]]));
    let total = V2_FIXED_BYTES + length;
    if total > v2_bytes_max {
        return Err(ProxyError::V2TooLong { length: total, limit: v2_bytes_max });
    }
    if input.len() < total {
        return Ok(None);
    }
    let body = &input[V2_FIXED_BYTES..total];
    let parsed = |header| Ok(Some(Parsed { header, version: ProxyVersion::V2, consumed: total }));
    // LOCAL: the balancer's own connection; the family and addresses are ignored.
    if command == 0 {
        return parsed(ProxyHeader::Unknown);
    }
    if family != 0 && transport != 1 {
        return Err(ProxyError::V2Transport(transport));
    }
    let needed = match family {
        1 => 12,
        2 => 36,
        3 => 216,
        _ => 0,
    };
    if body.len() < needed {
        return Err(ProxyError::V2AddressesTruncated { needed, length: body.len() });
    }
    skip_tlvs(&body[needed..], V2_FIXED_BYTES + needed)?;
    parsed(v2_addresses(family, body))
}

/// The addresses of an INET or INET6 body (its length already checked); others tell no
/// client address.
fn v2_addresses(family: u8, body: &[u8]) -> ProxyHeader {
    let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
    let (source, destination) = match family {
        1 => {
            let ip = |at: usize| IpAddr::from([body[at], body[at + 1], body[at + 2], body[at + 3]]);
            (SocketAddr::new(ip(0), port(8)), SocketAddr::new(ip(4), port(10)))
        }
        2 => {
            let ip = |at: usize| {
                let mut octets = [0_u8; 16];
                octets.copy_from_slice(&body[at..at + 16]);
                IpAddr::from(octets)
            };
            (SocketAddr::new(ip(0), port(32)), SocketAddr::new(ip(16), port(34)))
        }
        _ => return ProxyHeader::Unknown,
    };
    ProxyHeader::Proxied { source, destination }
}

/// Checks that the TLVs (type, 16-bit length, value) exactly fill `tlvs`; `offset` is
/// where they start in the header, for the error.
fn skip_tlvs(tlvs: &[u8], offset: usize) -> Result<(), ProxyError> {
    let mut at = 0;
    while at < tlvs.len() {
        if tlvs.len() - at < 3 {
            return Err(ProxyError::V2Tlv { at: offset + at });
        }
        let length = usize::from(u16::from_be_bytes([tlvs[at + 1], tlvs[at + 2]]));
        if tlvs.len() - at - 3 < length {
            return Err(ProxyError::V2Tlv { at: offset + at });
        }
        at += 3 + length;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = V2_BYTES_MAX_DEFAULT;

    fn proxied(source: &str, destination: &str) -> ProxyHeader {
        ProxyHeader::Proxied { source: source.parse().unwrap(), destination: destination.parse().unwrap() }
    }

    /// A version 2 header: command, family/transport byte, body.
    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(0x20 | command);
        out.push(family);
        out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn inet_body() -> Vec<u8> {
        let mut body = vec![192, 168, 0, 1, 192, 168, 0, 11];
        body.extend_from_slice(&56324_u16.to_be_bytes());
        body.extend_from_slice(&443_u16.to_be_bytes());
        body
    }

    #[test]
    fn v1_examples_from_the_spec() {
        let cases: &[(&str, ProxyHeader)] = &[
            (
                "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
                proxied("192.168.0.1:56324", "192.168.0.11:443"),
            ),
            (
                "PROXY TCP6 2001:db8::1 2001:db8::2 65535 25\r\n",
                proxied("[2001:db8::1]:65535", "[2001:db8::2]:25"),
            ),
            ("PROXY UNKNOWN\r\n", ProxyHeader::Unknown),
            ("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", ProxyHeader::Unknown),
        ];
        for (text, header) in cases {
            let mut input = text.as_bytes().to_vec();
            input.extend_from_slice(b"EHLO x\r\n");
            let parsed = parse(&input, MAX).unwrap().unwrap();
            assert_eq!(parsed.header, *header, "{text}");
            assert_eq!((parsed.version, parsed.consumed), (ProxyVersion::V1, text.len()), "{text}");
        }
    }

    #[test]
    fn the_worst_case_v1_line_fits_and_one_more_byte_does_not() {
        let full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let worst = format!("PROXY UNKNOWN {full} {full} 65535 65535\r\n");
        assert_eq!(worst.len(), V1_BYTES_MAX);
        assert!(parse(worst.as_bytes(), MAX).unwrap().is_some());
        let over = format!("PROXY UNKNOWN {full} {full} 655350 65535\r\n");
        assert_eq!(parse(over.as_bytes(), MAX), Err(ProxyError::V1TooLong));
    }

    #[test]
    fn every_prefix_of_a_header_asks_for_more() {
        let v1 = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n".to_vec();
        let v2 = v2(1, 0x11, &inet_body());
        for header in [v1, v2] {
            for end in 0..header.len() {
                assert_eq!(parse(&header[..end], MAX), Ok(None), "{end} bytes of {header:?}");
            }
            assert!(parse(&header, MAX).unwrap().is_some());
        }
    }

    #[test]
    fn v1_malformed_inputs_are_typed_errors() {
        use ProxyError::*;
        let cases: &[(&str, ProxyError)] = &[
            ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", V1Malformed("the line does not end in CRLF")),
            (
                "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
                V1Malformed("fields are separated by more than one space"),
            ),
            (
                "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
                V1Malformed("TCP4 and TCP6 take two addresses and two ports"),
            ),
            (
                "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
                V1Malformed("TCP4 and TCP6 take two addresses and two ports"),
            ),
            ("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", V1Protocol("UDP4".into())),
            (
                "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
                V1Address { field: "source address", value: "::1".into(), family: "IPv4" },
            ),
            (
                "PROXY TCP6 ::1 5.6.7.8 1 2\r\n",
                V1Address { field: "destination address", value: "5.6.7.8".into(), family: "IPv6" },
            ),
            (
                "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
                V1Address { field: "source address", value: "01.2.3.4".into(), family: "IPv4" },
            ),
            (
                "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
                V1Port { field: "source port", value: "65536".into() },
            ),
            (
                "PROXY TCP4 1.2.3.4 5.6.7.8 1 025\r\n",
                V1Port { field: "destination port", value: "025".into() },
            ),
            ("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", V1Port { field: "source port", value: "+1".into() }),
        ];
        for (text, error) in cases {
            assert_eq!(parse(text.as_bytes(), MAX).as_ref(), Err(error), "{text}");
        }
        assert_eq!(parse(b"PROXY \xff\r\n", MAX), Err(V1Malformed("the line is not text")));
    }

    #[test]
    fn an_smtp_client_is_not_a_proxy() {
        for start in [&b"EHLO client.example\r\n"[..], b"HELO x\r\n", b"\r\n\r\nX", b"PROXX"] {
            assert!(matches!(parse(start, MAX), Err(ProxyError::NotProxy(_))), "{start:?}");
        }
    }

    #[test]
    fn v2_addresses_of_both_families() {
        let header = v2(1, 0x11, &inet_body());
        let parsed = parse(&header, MAX).unwrap().unwrap();
        assert_eq!(parsed.header, proxied("192.168.0.1:56324", "192.168.0.11:443"));
        assert_eq!((parsed.version, parsed.consumed), (ProxyVersion::V2, 28));

        let mut body = Vec::new();
        body.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        body.extend_from_slice(&"2001:db8::25".parse::<Ipv6Addr>().unwrap().octets());
        body.extend_from_slice(&[0xc3, 0x50, 0, 25]);
        let header = v2(1, 0x21, &body);
        assert_eq!(
            parse(&header, MAX).unwrap().unwrap().header,
            proxied("[2001:db8::7]:50000", "[2001:db8::25]:25")
        );
    }

    #[test]
    fn v2_local_unspec_and_unix_use_the_connection_itself() {
        let cases = [v2(0, 0x00, &[]), v2(0, 0x11, &inet_body()), v2(1, 0x00, &[]), v2(1, 0x31, &[0; 216])];
        for header in cases {
            let parsed = parse(&header, MAX).unwrap().unwrap();
            assert_eq!((parsed.header, parsed.consumed), (ProxyHeader::Unknown, header.len()), "{header:?}");
        }
    }

    #[test]
    fn v2_tlvs_are_skipped_within_bounds() {
        let mut body = inet_body();
        body.extend_from_slice(&[0x20, 0, 5, 1, 0, 0, 0, 0]); // PP2_TYPE_SSL, 5 bytes
        body.extend_from_slice(&[0x04, 0, 0]); // PP2_TYPE_NOOP, empty
        let header = v2(1, 0x11, &body);
        let parsed = parse(&header, MAX).unwrap().unwrap();
        assert_eq!(parsed.header, proxied("192.168.0.1:56324", "192.168.0.11:443"));
        for bad_tail in [&[0x20, 0, 6, 1, 0, 0, 0, 0][..], &[0x04, 0], &[0x04]] {
            let mut body = inet_body();
            body.extend_from_slice(bad_tail);
            assert_eq!(parse(&v2(1, 0x11, &body), MAX), Err(ProxyError::V2Tlv { at: 28 }), "{bad_tail:?}");
        }
    }

    #[test]
    fn v2_malformed_inputs_are_typed_errors() {
        use ProxyError::*;
        let mut wrong_version = v2(1, 0x11, &inet_body());
        wrong_version[12] = 0x11;
        assert_eq!(parse(&wrong_version, MAX), Err(V2Version(1)));
        assert_eq!(parse(&v2(2, 0x11, &inet_body()), MAX), Err(V2Command(2)));
        assert_eq!(parse(&v2(1, 0x41, &inet_body()), MAX), Err(V2Family(4)));
        assert_eq!(parse(&v2(1, 0x12, &inet_body()), MAX), Err(V2Transport(2)));
        assert_eq!(parse(&v2(1, 0x11, &[0; 11]), MAX), Err(V2AddressesTruncated { needed: 12, length: 11 }));
        assert_eq!(parse(&v2(1, 0x21, &[0; 12]), MAX), Err(V2AddressesTruncated { needed: 36, length: 12 }));
        let big = v2(1, 0x11, &[0; 2000]);
        assert_eq!(
            parse(&big[..16], MAX),
            Err(V2TooLong { length: 2016, limit: MAX }),
            "refused before the body"
        );
        // 2,000 zero bytes: the addresses, then 662 empty TLVs and 2 bytes too few for another.
        assert_eq!(parse(&big, 4096), Err(V2Tlv { at: 28 + 662 * 3 }));
    }
}
