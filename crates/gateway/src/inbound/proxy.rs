//! The PROXY protocol on the SMTP listeners (`[smtp] proxy_protocol`): a connection from a
//! trusted load balancer must start with a header naming the client, and that address is
//! the one every decision uses (admission, DNSBL, connectors, throttling, logs); the
//! balancer's own connections (`LOCAL`, health checks) keep their real address. A trusted
//! connection without a valid header within the timeout, or one from an untrusted address
//! that sends a header, is refused and logged. The header is parsed by
//! `smtp_wire::proxy`; this module only reads it, under a timeout and a size bound.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use directory::Cidr;
use smtp_wire::proxy::{self, ProxyError, ProxyHeader};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// How long a direct client's first bytes are awaited when PROXY is on: a PROXY header is
/// sent at once, so an untrusted sender of one is caught before the banner.
pub(crate) const SNIFF: Duration = Duration::from_millis(200);

/// `[smtp] proxy_protocol`, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyProtocol {
    /// The load balancers whose connections must carry a header (`proxy_trusted`).
    pub trusted: Vec<Cidr>,
    /// How long a trusted connection may take to send its header.
    pub header_timeout: Duration,
    /// The largest version 2 header accepted.
    pub v2_bytes_max: usize,
}

impl ProxyProtocol {
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|c| c.contains(ip))
    }
}

/// Why a trusted connection was not served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeaderProblem {
    #[error("no PROXY protocol header within {0:?}")]
    Timeout(Duration),
    #[error("the connection closed before its PROXY protocol header ended")]
    Closed,
    #[error(transparent)]
    Invalid(#[from] ProxyError),
    #[error("reading the PROXY protocol header failed: {0}")]
    Io(std::io::Error),
}

/// The client a trusted connection speaks for (`peer` itself for `LOCAL` and `UNKNOWN`)
/// and the bytes read after the header.
pub(crate) async fn read_header(
    socket: &mut TcpStream,
    peer: SocketAddr,
    settings: &ProxyProtocol,
) -> Result<(SocketAddr, Vec<u8>), HeaderProblem> {
    let read = async {
        let mut input = Vec::with_capacity(256);
        let mut chunk = [0_u8; 512];
        loop {
            if let Some(parsed) = proxy::parse(&input, settings.v2_bytes_max)? {
                let client = match parsed.header {
                    ProxyHeader::Proxied { source, .. } => source,
                    ProxyHeader::Unknown => peer,
                };
                return Ok((client, input.split_off(parsed.consumed)));
            }
            match socket.read(&mut chunk).await {
                Ok(0) => return Err(HeaderProblem::Closed),
                Ok(n) => input.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(HeaderProblem::Io(e)),
            }
        }
    };
    tokio::time::timeout(settings.header_timeout, read)
        .await
        .unwrap_or(Err(HeaderProblem::Timeout(settings.header_timeout)))
}

/// Whether the first bytes of a connection are (the start of) a PROXY header.
pub(crate) fn looks_like_header(early: &[u8]) -> bool {
    !matches!(proxy::parse(early, proxy::V2_BYTES_MAX_DEFAULT), Err(ProxyError::NotProxy(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_told_from_smtp() {
        assert!(looks_like_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"));
        assert!(looks_like_header(b"PROXY TC"));
        assert!(looks_like_header(b"\r\n\r\n\0\r\nQUIT\n\x21"));
        assert!(!looks_like_header(b"EHLO x\r\n"));
    }

    #[test]
    fn trusted_ranges() {
        let p = ProxyProtocol {
            trusted: vec![Cidr::parse("t", "10.0.0.0/8").unwrap_or_else(|e| panic!("{e}"))],
            header_timeout: Duration::from_secs(1),
            v2_bytes_max: 1024,
        };
        assert!(p.trusts("10.1.2.3".parse().unwrap_or_else(|e| panic!("{e}"))));
        assert!(!p.trusts("192.0.2.1".parse().unwrap_or_else(|e| panic!("{e}"))));
    }
}
