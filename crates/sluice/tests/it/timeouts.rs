//! Timeouts: an idle command phase, an idle DATA phase and a DATA phase that
//! trickles forever all end with the connection closed.

use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Client, DOMAIN, Next, Server, Settings};

/// Waits for the server to hang up (a 421 first is allowed); returns the
/// elapsed time and the closing reply, if any.
fn wait_hang_up(client: &mut Client, limit: Duration, what: &str) -> (Duration, Option<String>) {
    let started = Instant::now();
    client.set_read_timeout(limit);
    let mut closing = None;
    loop {
        match client.read() {
            Next::Closed => return (started.elapsed(), closing),
            Next::Reply(r) => {
                assert!(closing.is_none(), "{what}: more than one reply before closing: `{r}`");
                assert_eq!(r.code, 421, "{what}: the closing reply should be 421, got `{r}`");
                closing = Some(r.to_string());
            }
            Next::Silent => panic!("{what}: connection still open {limit:?} after the timeout"),
        }
    }
}

#[test]
fn idle_command_phase_is_closed_after_command_timeout() {
    let server = Server::start_with(Settings::default().smtp("command_timeout_s", 1));
    let mut client = server.connect();
    client.greet();
    let (elapsed, reply) = wait_hang_up(&mut client, Duration::from_secs(30), "command_timeout_s = 1");
    assert!(elapsed >= Duration::from_millis(800), "closed after only {elapsed:?}: {reply:?}");
}

#[test]
fn idle_data_phase_is_closed_after_data_idle_timeout() {
    let server =
        Server::start_with(Settings::default().smtp("data_idle_timeout_s", 1).smtp("command_timeout_s", 30));
    let mut client = server.connect();
    client.greet();
    client.expect("MAIL FROM:<sender@it.test>", 250);
    client.expect(&format!("RCPT TO:<idle@{DOMAIN}>"), 250);
    client.expect("DATA", 354);
    client.send_raw(b"Subject: idle\r\n\r\nhalf a message\r\n");
    let (elapsed, reply) = wait_hang_up(&mut client, Duration::from_secs(30), "data_idle_timeout_s = 1");
    assert!(elapsed >= Duration::from_millis(800), "closed after only {elapsed:?}: {reply:?}");
    assert_eq!(server.settled_mail_count("idle"), 0, "a half message was delivered");
}

#[test]
fn trickling_data_phase_is_closed_after_data_total_timeout() {
    let server = Server::start_with(
        Settings::default()
            .smtp("data_total_timeout_s", 2)
            .smtp("data_idle_timeout_s", 30)
            .smtp("command_timeout_s", 30),
    );
    let mut client = server.connect();
    client.greet();
    client.expect("MAIL FROM:<sender@it.test>", 250);
    client.expect(&format!("RCPT TO:<trickle@{DOMAIN}>"), 250);
    client.expect("DATA", 354);
    client.send_raw(b"Subject: trickle\r\n\r\n");
    let started = Instant::now();
    client.set_read_timeout(Duration::from_millis(200));
    let closed_by = loop {
        // One line every ~200 ms: never idle, never done.
        if client.try_send_raw(b"still sending\r\n").is_err() {
            break None;
        }
        match client.read() {
            Next::Silent => {}
            Next::Closed => break None,
            Next::Reply(r) => break Some(r),
        }
        // Generous for a loaded machine; without the total limit it would trickle forever.
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "a DATA phase trickling for 30 s is still open with data_total_timeout_s = 2"
        );
        thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1500), "closed after only {elapsed:?}: {closed_by:?}");
    if let Some(r) = &closed_by {
        assert_eq!(r.code, 421, "closing reply for a DATA phase over its total time: `{r}`");
    }
    assert_eq!(server.settled_mail_count("trickle"), 0, "a timed-out message was delivered");
}
