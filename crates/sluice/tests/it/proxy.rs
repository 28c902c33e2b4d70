//! The PROXY protocol on the SMTP listener: swaks speaking versions 1 and 2 from a trusted
//! address, and HAProxy with `send-proxy-v2` in front of Sluice. The address in the header
//! is the one Sluice decides on: a reputation block of that address (never of the real
//! loopback peer) refuses the client with `550 5.7.708` naming it. A trusted connection
//! without a header and a direct client that sends one are refused, each with a log line.

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{DOMAIN, Server, Settings, free_port, require_tool, swaks_from};

/// Sluice trusting 127.0.0.1 (swaks or HAProxy) as its load balancer; 192.0.2.77 blocked.
fn behind_a_balancer() -> Server {
    let settings = Settings::default()
        .smtp("proxy_protocol", true)
        .smtp("proxy_trusted", "[\"127.0.0.1/32\"]")
        .smtp("proxy_header_timeout_s", 1);
    let server = Server::start_with(settings);
    server.cli_ok(&["reputation", "block", "192.0.2.77/32", "--note", "proxy test"]);
    server
}

/// Runs swaks until its output shows `wanted` (the block takes effect at the next poll).
fn swaks_until(server: &Server, local: &str, args: &[&str], wanted: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = swaks_from(server, local, args).output();
        if out.contains(wanted) || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn proxy_args<'a>(version: &'a str, family: &'a str, source: &'a str, to: &'a str) -> Vec<&'a str> {
    vec![
        "--to",
        to,
        "--proxy-version",
        version,
        "--proxy-family",
        family,
        "--proxy-source",
        source,
        "--proxy-source-port",
        "40000",
        "--proxy-dest",
        "127.0.0.1",
        "--proxy-dest-port",
        "25",
    ]
}

#[test]
fn swaks_v1_and_v2_headers_name_the_client_sluice_decides_on() {
    let server = behind_a_balancer();
    let to = format!("user@{DOMAIN}");
    for (version, family) in [("1", "TCP4"), ("2", "AF_INET")] {
        let blocked =
            swaks_until(&server, "127.0.0.1", &proxy_args(version, family, "192.0.2.77", &to), "5.7.708");
        assert!(blocked.contains("550 5.7.708") && blocked.contains("[192.0.2.77]"), "v{version}: {blocked}");
        let other =
            swaks_from(&server, "127.0.0.1", &proxy_args(version, family, "192.0.2.78", &to)).output();
        assert!(other.contains("250 2.0.0 Ok: queued as"), "v{version}: another client is served: {other}");
    }
}

#[test]
fn a_trusted_connection_without_a_header_and_an_untrusted_header_are_refused() {
    let server = behind_a_balancer();
    let to = format!("user@{DOMAIN}");
    let plain = swaks_from(&server, "127.0.0.1", &["--to", &to]).output();
    assert!(plain.contains("421 4.7.0 PROXY protocol header expected"), "{plain}");
    let spoofing = swaks_from(&server, "127.0.0.2", &proxy_args("1", "TCP4", "192.0.2.78", &to)).output();
    assert!(spoofing.contains("554 5.7.0 PROXY protocol header from [127.0.0.2]"), "{spoofing}");
    let direct = swaks_from(&server, "127.0.0.3", &["--to", &to]).output();
    assert!(
        direct.contains("250 2.0.0 Ok: queued as"),
        "an untrusted client without a header is served: {direct}"
    );
    let log = server.log();
    assert!(
        log.contains("without a valid PROXY protocol header; refused") && log.contains("balancer=127.0.0.1"),
        "{log}"
    );
    assert!(log.contains("PROXY protocol header from an address smtp.proxy_trusted does not list"), "{log}");
}

/// A private HAProxy in TCP mode on 127.0.0.4, forwarding with `send-proxy-v2` (round robin
/// over several servers); killed on drop.
pub(crate) struct Haproxy {
    child: Child,
    pub(crate) port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn haproxy_before(server: &Server) -> Haproxy {
    haproxy_before_all(&[server])
}

pub(crate) fn haproxy_before_all(servers: &[&Server]) -> Haproxy {
    let haproxy = require_tool("haproxy");
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut config = format!(
        "global\n  maxconn 100\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
         frontend smtp\n  bind 127.0.0.4:{port}\n  default_backend sluice\n\
         backend sluice\n  balance roundrobin\n  retries 2\n  option redispatch\n\
         option tcp-check\n  tcp-check expect rstring ^220\n\
         tcp-check send QUIT\\r\\n\n  tcp-check expect rstring ^221\n"
    );
    // Health checks as in deploy/fleet/haproxy.cfg: SMTP, with a PROXY v2 LOCAL header.
    for (i, server) in servers.iter().enumerate() {
        config.push_str(&format!(
            "  server node{i} 127.0.0.1:{} send-proxy-v2 check check-send-proxy inter 500ms\n",
            server.port
        ));
    }
    let path = dir.path().join("haproxy.cfg");
    std::fs::File::create(&path).and_then(|mut f| f.write_all(config.as_bytes())).expect("write haproxy.cfg");
    let child = Command::new(haproxy)
        .args(["-db", "-f"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start haproxy");
    // Ready once a server's banner comes through (a bare connect closed at once would reach
    // a server as a balancer's connection without its header).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !greets(("127.0.0.4", port)) {
        assert!(Instant::now() < deadline, "haproxy did not pass a banner on 127.0.0.4:{port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Haproxy { child, port, _dir: dir }
}

fn greets(addr: (&str, u16)) -> bool {
    use std::io::BufRead as _;
    let Ok(stream) = std::net::TcpStream::connect(addr) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut banner = String::new();
    let _ = std::io::BufReader::new(&stream).read_line(&mut banner);
    let _ = (&stream).write_all(b"QUIT\r\n");
    banner.starts_with("220")
}

#[test]
fn haproxy_send_proxy_v2_hands_sluice_the_real_client() {
    let server = behind_a_balancer();
    server.cli_ok(&["reputation", "block", "127.0.0.5/32", "--note", "the client behind haproxy"]);
    let proxy = haproxy_before(&server);
    let port = proxy.port.to_string();
    let to = format!("user@{DOMAIN}");
    let args = ["--server", "127.0.0.4", "--port", &port, "--to", &to, "--timeout", "20"];
    let swaks = require_tool("swaks");
    let deadline = Instant::now() + Duration::from_secs(15);
    let blocked = loop {
        let run =
            crate::harness::run_tool(&swaks, &[&args[..], &["--local-interface", "127.0.0.5"]].concat());
        if run.output().contains("5.7.708") || Instant::now() > deadline {
            break run.output();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(blocked.contains("550 5.7.708") && blocked.contains("[127.0.0.5]"), "{blocked}");
    let served = crate::harness::run_tool(&swaks, &[&args[..], &["--local-interface", "127.0.0.6"]].concat());
    assert!(served.output().contains("250 2.0.0 Ok: queued as"), "{}", served.output());
}
