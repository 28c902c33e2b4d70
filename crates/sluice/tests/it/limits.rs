//! Hard limits, over a raw TcpStream: command line length, recipients per
//! message, pre-greet input, connections (total and per IP) and errors per
//! session.

use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Client, DOMAIN, Next, Reply, Server, Settings, require_tool, run_tool};

fn assert_reply(reply: &Reply, code: u16, enhanced: &str, what: &str) {
    assert!(
        reply.code == code && reply.lines.last().is_some_and(|l| l.starts_with(enhanced)),
        "{what}: expected `{code} {enhanced} ...`, got `{reply}`"
    );
}

/// After a closing reply the server must hang up.
pub(crate) fn assert_closed(client: &mut Client, what: &str) {
    client.set_read_timeout(Duration::from_secs(5));
    match client.read() {
        Next::Closed => {}
        Next::Reply(r) => panic!("{what}: expected the connection closed, got `{r}`"),
        Next::Silent => panic!("{what}: connection still open 5 s after the closing reply"),
    }
}

/// Opens `n` sessions that got their banner. The harness's readiness probe
/// (connect, then drop) may still count against a limit for a moment, so a
/// refusal here is retried for a few seconds before it counts as a failure.
pub(crate) fn open_sessions(server: &Server, n: usize) -> Vec<Client> {
    let deadline = Instant::now() + Duration::from_secs(5);
    'retry: loop {
        let mut open = Vec::new();
        for i in 0..n {
            let mut client = server.connect();
            let banner = client.reply();
            if banner.code != 220 {
                assert!(Instant::now() < deadline, "connection {} of {n} refused: `{banner}`", i + 1);
                drop(open);
                thread::sleep(Duration::from_millis(200));
                continue 'retry;
            }
            open.push(client);
        }
        return open;
    }
}

#[test]
fn overlong_command_line_is_refused_500_5_5_2() {
    let server = Server::start_with(Settings::default().smtp("command_line_bytes_max", 2048));
    let mut client = server.connect();
    client.greet();
    let long = format!("MAIL FROM:<{}@it.test>", "a".repeat(3000));
    let reply = client.cmd(&long);
    assert_reply(&reply, 500, "5.5.2", "3 kB command line");
}

#[test]
fn command_line_at_the_limit_is_accepted() {
    let server = Server::start_with(Settings::default().smtp("command_line_bytes_max", 512));
    let mut client = server.connect();
    client.greet();
    // 512 bytes including CRLF (so at or under the limit whether or not the
    // server counts the CRLF). NOOP takes any string argument (RFC 5321 4.1.1.9).
    let line = format!("NOOP {}", "a".repeat(512 - 2 - "NOOP ".len()));
    assert_eq!(line.len() + 2, 512);
    let reply = client.cmd(&line);
    assert_eq!(reply.code, 250, "a 512-byte NOOP line with a 512-byte limit: `{reply}`");
}

#[test]
fn too_many_recipients_is_refused_452_4_5_3() {
    let server = Server::start_with(Settings::default().smtp("recipients_per_message_max", 3));
    let mut client = server.connect();
    client.greet();
    client.expect("MAIL FROM:<sender@it.test>", 250);
    for i in 0..3 {
        client.expect(&format!("RCPT TO:<r{i}@{DOMAIN}>"), 250);
    }
    let reply = client.cmd(&format!("RCPT TO:<r3@{DOMAIN}>"));
    assert_reply(&reply, 452, "4.5.3", "4th recipient with a limit of 3");
    // The three accepted recipients still get the message.
    client.expect("DATA", 354);
    client.send_raw(b"Subject: limit\r\n\r\nthree recipients\r\n.\r\n");
    let end = client.reply();
    assert_eq!(end.code, 250, "end of DATA: `{end}`");
    for i in 0..3 {
        server.wait_for_mail(&format!("r{i}"), 1);
    }
    assert_eq!(server.settled_mail_count("r3"), 0, "refused recipient got mail");
}

#[test]
fn pre_greet_input_is_refused_554_5_5_1_and_closed() {
    let server = Server::start_with(Settings::default().smtp("greeting_delay_ms", 300));
    let mut client = server.connect();
    client.send_raw(b"EHLO eager.it.test\r\n");
    let reply = client.reply();
    assert_reply(&reply, 554, "5.5.1", "EHLO before the banner");
    assert_closed(&mut client, "pre-greet");
}

#[test]
fn patient_client_gets_the_delayed_banner() {
    let server = Server::start_with(Settings::default().smtp("greeting_delay_ms", 300));
    let started = Instant::now();
    let mut client = server.connect();
    let banner = client.reply();
    assert_eq!(banner.code, 220, "banner: `{banner}`");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "banner came after {:?}, before greeting_delay_ms = 300",
        started.elapsed()
    );
    client.expect("EHLO patient.it.test", 250);
}

#[test]
fn per_ip_connection_limit_is_refused_421_4_7_0_naming_the_ip() {
    let server = Server::start_with(Settings::default().smtp("connections_per_ip_max", 3));
    // Let the readiness probe's connection be forgotten.
    let mut open = open_sessions(&server, 3);
    let mut fourth = server.connect();
    let reply = fourth.reply();
    assert_reply(&reply, 421, "4.7.0", "4th connection from one IP, limit 3");
    assert!(reply.text().contains("127.0.0.1"), "the per-IP refusal should name the IP: `{reply}`");
    assert_closed(&mut fourth, "per-IP refusal");

    // A slot frees when a client leaves.
    let mut leaving = open.pop().expect("three open");
    leaving.expect("QUIT", 221);
    drop(leaving);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = server.connect();
        let reply = again.reply();
        if reply.code == 220 {
            break;
        }
        assert!(Instant::now() < deadline, "slot not released 5 s after QUIT: `{reply}`");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn total_connection_limit_is_refused_421_4_7_0() {
    let server = Server::start_with(Settings::default().smtp("connections_max", 2));
    let _open = open_sessions(&server, 2);
    let mut third = server.connect();
    let reply = third.reply();
    assert_reply(&reply, 421, "4.7.0", "3rd connection, connections_max 2");
}

#[test]
fn too_many_errors_ends_the_session_421_4_7_0() {
    let max = 3;
    let server = Server::start_with(Settings::default().smtp("errors_per_session_max", max));
    let mut client = server.connect();
    client.greet();
    let mut replies = Vec::new();
    for _ in 0..=max {
        let reply = client.cmd("BOGUS command");
        let closing = reply.code == 421;
        replies.push(reply.to_string());
        if closing {
            break;
        }
        assert!((500..600).contains(&reply.code), "unknown command should get 5xx, got `{reply}`");
    }
    let last = replies.last().expect("at least one reply");
    assert!(
        last.starts_with("421 4.7.0"),
        "no `421 4.7.0` within {} errors with errors_per_session_max = {max}; replies: {replies:#?}",
        max + 1
    );
    assert_closed(&mut client, "error limit");
}

/// The per-IP limit is per IP: another loopback address still gets in while
/// 127.0.0.1 is at its limit.
#[test]
fn per_ip_limit_does_not_block_other_addresses() {
    let python = require_tool("python3");
    let server = Server::start_with(Settings::default().smtp("connections_per_ip_max", 1));
    let _first = open_sessions(&server, 1);
    let mut second = server.connect();
    let refused = second.reply();
    assert_eq!(refused.code, 421, "2nd connection from 127.0.0.1 with a limit of 1: `{refused}`");
    let script = "import socket,sys\n\
        s=socket.create_connection(('127.0.0.1',int(sys.argv[1])),10,source_address=('127.0.0.2',0))\n\
        s.settimeout(10)\n\
        print(s.recv(512).decode(errors='replace').strip())";
    let port = server.port.to_string();
    let run = run_tool(&python, &["-c", script, &port]);
    assert_eq!(run.code, Some(0), "connect from 127.0.0.2:\n{run}");
    assert!(run.stdout.starts_with("220 "), "127.0.0.2 should get a banner while 127.0.0.1 is full:\n{run}");
}

#[test]
fn ipv6_loopback_listener_accepts_mail() {
    let port6 = crate::harness::free_port();
    let server = Server::start_with(
        Settings::default().smtp("listen", format!("[\"127.0.0.1:{{port}}\", \"[::1]:{port6}\"]")),
    );
    let addr: std::net::SocketAddr = format!("[::1]:{port6}").parse().expect("v6 address");
    let deadline = Instant::now() + Duration::from_secs(10);
    let stream = loop {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("nothing accepts on {addr}: {e}"),
        }
    };
    let mut client = Client::from_stream(stream);
    client.greet();
    let body = "Subject: over IPv6\r\n\r\nv6 body";
    let reply = client.send_message("sender@it.test", &[&format!("v6@{DOMAIN}")], body);
    assert_eq!(reply.code, 250, "end of DATA over IPv6: `{reply}`");
    let mail = server.wait_for_mail("v6", 1);
    assert!(mail[0].contains("v6 body"));
}

/// The per-network cap over a real IPv6 socket: `::1` is one address of `::/64`, so with a
/// network cap of 1 (and a per-IP cap of 5) its second connection is refused naming the
/// network. Loopback cannot give many addresses of one /64; the counting across addresses
/// is tested in the gateway's unit tests.
#[test]
fn the_per_network_cap_counts_an_ipv6_64_over_a_real_socket() {
    let port6 = crate::harness::free_port();
    let server = Server::start_with(
        Settings::default()
            .smtp("listen", format!("[\"127.0.0.1:{{port}}\", \"[::1]:{port6}\"]"))
            .smtp("connections_per_ip_max", 5)
            .smtp("connections_per_network_max", 1),
    );
    let addr: std::net::SocketAddr = format!("[::1]:{port6}").parse().expect("v6 address");
    let connect = || {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                Ok(stream) => break Client::from_stream(stream),
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(100)),
                Err(e) => panic!("nothing accepts on {addr}: {e}"),
            }
        }
    };
    let mut first = connect();
    assert_eq!(first.reply().code, 220);
    let mut second = connect();
    let reply = second.reply();
    assert_reply(&reply, 421, "4.7.0", "second connection from ::/64 with a network cap of 1");
    assert!(reply.text().contains("::/64"), "the refusal should name the network: `{reply}`");
    // IPv4 is counted per address by default: 127.0.0.1 still gets in twice.
    let _v4 = open_sessions(&server, 2);
}
