//! Large messages against a small memory budget: content beyond the in-memory part
//! streams into the spool as it arrives (the server's memory does not grow with the
//! messages), a DATA that would pass the budget gets `452 4.3.1` before any content is
//! sent, and every accepted message is delivered byte for byte.

use std::fs;

use crate::harness::{Client, DOMAIN, Server, Settings, maildir_files};
use crate::limits::open_sessions;

/// A transfer's reservation with `data_memory_bytes_max = 64 KiB`: its in-memory part and
/// 144 KiB of buffers.
const TRANSFER_BYTES: usize = (64 + 144) << 10;

/// Peak resident memory of the server so far (VmHWM), in bytes.
fn peak_rss(server: &Server) -> u64 {
    let status = fs::read_to_string(format!("/proc/{}/status", server.pid())).expect("read /proc status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmHWM value");
    kib * 1024
}

/// A body of `lines` distinct 100-byte lines (CRLF, nothing to dot-stuff).
fn body_lines(from: usize, lines: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(lines * 100);
    for i in from..from + lines {
        let line = format!("{i:010} {}\r\n", "x".repeat(87));
        body.extend_from_slice(line.as_bytes());
    }
    body
}

fn start_transfer(client: &mut Client, local: &str) {
    client.expect("EHLO big.it.test", 250);
    client.expect("MAIL FROM:<big@it.test>", 250);
    client.expect(&format!("RCPT TO:<{local}@{DOMAIN}>"), 250);
}

#[test]
fn concurrent_large_messages_stream_to_the_spool_within_the_memory_budget() {
    let server = Server::start_with(
        Settings::default()
            .smtp("data_memory_bytes_max", 64 << 10)
            .smtp("data_memory_total_bytes_max", 2 * TRANSFER_BYTES),
    );
    // Warm up: the peak so far covers start-up and one small message end to end.
    let mut warm = server.connect();
    warm.greet();
    assert_eq!(
        warm.send_message("w@it.test", &[&format!("warm@{DOMAIN}")], "Subject: warm\r\n\r\nhi").code,
        250
    );
    server.wait_for_mail("warm", 1);
    let before = peak_rss(&server);

    let mut clients = open_sessions(&server, 3);
    let (headers, lines) = ("Subject: large\r\n\r\n", 120_000); // 12 MB each
    for (client, local) in clients.iter_mut().zip(["big1", "big2", "big3"]) {
        start_transfer(client, local);
    }
    for client in &mut clients[..2] {
        client.expect("DATA", 354);
        client.send_raw(headers.as_bytes());
        client.send_raw(&body_lines(0, lines - 1000));
    }
    // Both transfers hold the budget: a third DATA is refused before any content.
    let refused = clients[2].cmd("DATA");
    assert_eq!(refused.code, 452, "third DATA with a budget of two transfers: `{refused}`");
    assert!(refused.text().starts_with("4.3.1"), "`{refused}`");
    // 24 MB are in flight; what the server holds for them is a few hundred KiB.
    let grown = peak_rss(&server).saturating_sub(before);
    assert!(grown < 8 << 20, "peak memory grew by {grown} bytes while receiving two 12 MB messages");
    for client in &mut clients[..2] {
        client.send_raw(&body_lines(lines - 1000, 1000));
        client.send_raw(b".\r\n");
        let end = client.reply();
        assert_eq!(end.code, 250, "end of a 12 MB message: `{end}`");
    }
    // The budget is free again: the refused client's transaction is still open.
    clients[2].expect("DATA", 354);
    clients[2].send_raw(b"Subject: after\r\n\r\nsmall\r\n.\r\n");
    assert_eq!(clients[2].reply().code, 250);

    let mut expected = headers.as_bytes().to_vec();
    expected.extend(body_lines(0, lines));
    for local in ["big1", "big2"] {
        server.wait_for_mail(local, 1);
        let file = &maildir_files(&server.maildir_new(local))[0];
        let stored = fs::read(file).expect("read delivered message");
        assert!(stored.ends_with(&expected), "{local}: the delivered content differs from what was sent");
    }
    assert!(server.wait_for_mail("big3", 1)[0].ends_with("small\r\n"));
    let grown = peak_rss(&server).saturating_sub(before);
    assert!(grown < 8 << 20, "peak memory grew by {grown} bytes receiving and delivering two 12 MB messages");
}
