//! Helpers shared by the gateway's integration tests: a real DNS server on loopback, and
//! the envelope and client settings the delivery tests send with. Each test binary uses
//! some of them.
#![allow(dead_code)]

#[path = "../support/python_peer.rs"]
mod python_peer;
pub use python_peer::PythonPeer;

use std::net::SocketAddr;
use std::time::Duration;

use gateway::delivery::outbound::{ClientConfig, trust_roots};
use smtp_wire::{Address, ClientInfo, Envelope, Notify, Recipient, ReversePath};

/// A dnslib server (tests/py/dns_server.py), killed when dropped.
pub struct DnsServer {
    _peer: PythonPeer,
    pub addr: SocketAddr,
}

pub fn start_dns(records: &str) -> DnsServer {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/dns_server.py");
    let (peer, port) = PythonPeer::start_on_free_port(script, python_peer::free_udp_and_tcp_port, |port| {
        vec![port.to_owned(), records.to_owned()]
    });
    DnsServer { _peer: peer, addr: SocketAddr::from(([127, 0, 0, 1], port)) }
}

/// `local@domain`, asking for failure and delay notices.
pub fn recipient(local: &str, domain: &str) -> Recipient {
    Recipient {
        notify: Some(Notify::On { success: false, failure: true, delay: true }),
        ..Recipient::new(Address::new(local, domain))
    }
}

/// A message from alice@src.test to `recipients`, received from 127.0.0.1.
pub fn envelope(recipients: Vec<Recipient>) -> Envelope {
    let client = ClientInfo::new("127.0.0.1".parse().expect("ip"), "src");
    Envelope::new(ReversePath::Mailbox(Address::new("alice", "src.test")), recipients, client)
}

/// Client settings with test-sized timeouts.
pub fn client(helo: &str) -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(5),
        reply_timeout: Duration::from_secs(10),
        data_end_timeout: Duration::from_secs(10),
        ..ClientConfig::new(helo, trust_roots(None).expect("webpki roots"))
    }
}
