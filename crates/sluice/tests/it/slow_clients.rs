//! Clients that hold a slot without doing anything useful, against a small connection
//! limit: silent after STARTTLS, dripping a command line a byte at a time, chatting
//! forever, or idling while the server is near its cap. Each loses its slot within its
//! deadline, and a legitimate client then gets in.

use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Client, DOMAIN, Next, Reply, Server, Settings};
use crate::limits::open_sessions;

/// Reads until the server hangs up (a closing reply first is allowed); the elapsed time
/// since `since` and the closing reply. Fails after `limit`.
fn wait_hang_up(
    client: &mut Client,
    since: Instant,
    limit: Duration,
    what: &str,
) -> (Duration, Option<Reply>) {
    client.set_read_timeout(Duration::from_millis(200));
    let mut closing = None;
    loop {
        match client.read() {
            Next::Closed => return (since.elapsed(), closing),
            Next::Reply(r) => closing = Some(r),
            Next::Silent => {}
        }
        assert!(since.elapsed() < limit, "{what}: the connection is still open after {limit:?}");
    }
}

/// A new connection gets its banner within `limit` (a slot was freed).
fn wait_admitted(server: &Server, limit: Duration, what: &str) {
    let started = Instant::now();
    loop {
        let mut client = server.connect();
        let banner = client.reply();
        if banner.code == 220 {
            return;
        }
        assert!(started.elapsed() < limit, "{what}: still refused after {limit:?}: `{banner}`");
        thread::sleep(Duration::from_millis(100));
    }
}

fn assert_timeout_reply(reply: Option<&Reply>, text: &str, what: &str) {
    let reply = reply.unwrap_or_else(|| panic!("{what}: closed without a reply"));
    assert_eq!(reply.code, 421, "{what}: `{reply}`");
    assert!(reply.text().starts_with("4.4.2") && reply.text().contains(text), "{what}: `{reply}`");
}

/// After `220 Ready to start TLS` the clients send no ClientHello: with both slots held, a
/// legitimate client is refused until the handshake deadline frees them.
#[test]
fn clients_silent_after_starttls_lose_their_slots_at_the_handshake_deadline() {
    let server = Server::start_with(
        Settings::default()
            .smtp("connections_max", 2)
            .smtp("tls_handshake_timeout_s", 3)
            .smtp("command_timeout_s", 120),
    );
    let mut stalled = open_sessions(&server, 2);
    for client in &mut stalled {
        client.expect("EHLO staller.it.test", 250);
        client.expect("STARTTLS", 220);
    }
    let since = Instant::now();
    let refused = server.connect().reply();
    assert_eq!(refused.code, 421, "both slots are held by the stalled handshakes: `{refused}`");
    for client in &mut stalled {
        let (elapsed, _) = wait_hang_up(client, since, Duration::from_secs(20), "silent after STARTTLS");
        assert!(elapsed >= Duration::from_millis(2500), "closed after {elapsed:?}, before the 3 s deadline");
    }
    wait_admitted(&server, Duration::from_secs(10), "after the stalled handshakes were closed");
}

/// One byte every 250 ms and never a line end: every read brings input, but the line
/// deadline runs from when the server was ready for it.
#[test]
fn a_command_line_dripped_a_byte_at_a_time_is_cut_at_the_command_deadline() {
    let server =
        Server::start_with(Settings::default().smtp("connections_max", 2).smtp("command_timeout_s", 2));
    let mut dripping = open_sessions(&server, 2);
    let since = Instant::now();
    let mut threads = Vec::new();
    for mut client in dripping.drain(..) {
        threads.push(thread::spawn(move || {
            let mut closing = None;
            for byte in b"NOOP ".iter().cycle() {
                if client.try_send_raw(&[*byte]).is_err() {
                    break;
                }
                client.set_read_timeout(Duration::from_millis(250));
                match client.read() {
                    Next::Silent => {}
                    Next::Closed => break,
                    Next::Reply(r) => closing = Some(r),
                }
                assert!(
                    since.elapsed() < Duration::from_secs(20),
                    "a dripping client is still served after 20 s"
                );
            }
            (since.elapsed(), closing)
        }));
    }
    for handle in threads {
        let (elapsed, closing) = handle.join().expect("dripping client");
        assert!(elapsed >= Duration::from_millis(1500), "cut after {elapsed:?}, before the 2 s deadline");
        assert_timeout_reply(closing.as_ref(), "Timeout exceeded", "dripped command line");
    }
    wait_admitted(&server, Duration::from_secs(10), "after the dripping clients were cut");
}

/// Whole commands, each in time, forever: the session deadline ends it.
#[test]
fn a_session_that_never_ends_is_closed_at_the_session_deadline() {
    let server =
        Server::start_with(Settings::default().smtp("session_timeout_s", 2).smtp("junk_commands_max", 1000));
    let mut client = server.connect();
    client.greet();
    let since = Instant::now();
    let closing = loop {
        assert!(since.elapsed() < Duration::from_secs(20), "a chatting session is still open after 20 s");
        let reply = client.cmd("NOOP");
        if reply.code != 250 {
            break reply;
        }
        thread::sleep(Duration::from_millis(300));
    };
    assert!(since.elapsed() >= Duration::from_millis(1500), "closed after {:?}", since.elapsed());
    assert_timeout_reply(Some(&closing), "Session time limit exceeded", "session deadline");
    crate::limits::assert_closed(&mut client, "session deadline");
}

/// A client that is never idle for long (a NOOP every 200 ms) and so keeps its slot, and
/// the server's load, while a test watches what stress does to the others.
struct KeepBusy {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: thread::JoinHandle<()>,
}

impl KeepBusy {
    fn start(mut client: Client) -> KeepBusy {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        let thread = thread::spawn(move || {
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                let reply = client.cmd("NOOP");
                assert_eq!(reply.code, 250, "the busy client lost its session: `{reply}`");
                thread::sleep(Duration::from_millis(200));
            }
        });
        KeepBusy { stop, thread }
    }

    /// Stops it; fails the test if it was ever refused or cut.
    fn finish(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("the busy client was served throughout");
    }
}

/// Near the connection cap the server is under stress: idle clients get the short stress
/// timeout (and one error ends a session), as Postfix does; below it they get the normal one.
/// A busy client holds the load (2 of 4 connections) while the idle ones are watched, so
/// the stress cannot end when the first idle one is cut.
#[test]
fn near_the_connection_cap_idle_clients_get_the_stress_timeout() {
    let server = Server::start_with(
        Settings::default()
            .smtp("connections_max", 4)
            .smtp("stress_connections_percent", 50)
            .smtp("stress_command_timeout_s", 1)
            .smtp("command_timeout_s", 60)
            // The busy client's NOOPs are junk commands: not what this test limits.
            .smtp("junk_commands_max", 10_000)
            .smtp("stress_junk_commands_max", 10_000),
    );
    let mut calm = open_sessions(&server, 1).remove(0);
    thread::sleep(Duration::from_millis(2500));
    assert_eq!(calm.cmd("NOOP").code, 250, "one connection of four is no stress: idle 2.5 s is fine");
    let busy = KeepBusy::start(open_sessions(&server, 1).remove(0));
    let mut second = open_sessions(&server, 1).remove(0);
    let since = Instant::now();
    for (client, what) in [(&mut calm, "first client"), (&mut second, "second client")] {
        let (elapsed, closing) = wait_hang_up(client, since, Duration::from_secs(15), what);
        assert!(elapsed < Duration::from_secs(10), "{what}: idle for {elapsed:?} under stress");
        assert_timeout_reply(closing.as_ref(), "Timeout exceeded", what);
    }
    // Under stress (the busy client and this one) one permanent error ends the session.
    let mut erring = open_sessions(&server, 1).remove(0);
    erring.expect("EHLO erring.it.test", 250);
    erring.expect("MAIL FROM:<a@it.test>", 250);
    erring.expect("RCPT TO:<x@relay.example>", 550);
    let reply = erring.cmd(&format!("RCPT TO:<y@{DOMAIN}>"));
    assert_eq!((reply.code, reply.text().starts_with("4.7.0")), (421, true), "`{reply}`");
    busy.finish();
}
