//! Crash safety: SIGKILL in the middle of a burst, restart on the same data
//! directory. Every message that got a 250 is delivered exactly once; nothing
//! is duplicated.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Client, DOMAIN, Reply, Server, maildir_files, queued_id, read_lossy, token};

const SENDERS: usize = 6;
const PER_SENDER: usize = 50;
/// Kill once this many messages have been acknowledged.
const KILL_AFTER_ACKS: usize = 100;
const MAILBOXES: [&str; 2] = ["crash", "crash2"];

#[derive(Debug, Clone)]
enum Fate {
    /// DATA was (perhaps partly) sent but no reply came: may or may not exist.
    InFlight,
    Acked(String),
    Refused(String),
}

#[derive(Debug, Clone)]
struct Sent {
    fate: Fate,
    /// Mailboxes this message was addressed to.
    mailboxes: Vec<&'static str>,
}

fn transaction(client: &mut Client, rcpts: &[&str], body: &str) -> Result<Reply, String> {
    let step = |client: &mut Client, line: String, want: u16| -> Result<(), String> {
        client.try_send_raw(format!("{line}\r\n").as_bytes()).map_err(|e| e.to_string())?;
        match client.try_reply() {
            Ok(Some(r)) if r.code == want => Ok(()),
            Ok(Some(r)) => Err(format!("C: {line} S: {r}")),
            Ok(None) => Err("closed".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    };
    step(client, "MAIL FROM:<crash-sender@it.test>".to_owned(), 250)?;
    for rcpt in rcpts {
        step(client, format!("RCPT TO:<{rcpt}@{DOMAIN}>"), 250)?;
    }
    step(client, "DATA".to_owned(), 354)?;
    client.try_send_raw(format!("{body}\r\n.\r\n").as_bytes()).map_err(|e| e.to_string())?;
    match client.try_reply() {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err("closed".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

fn sender(
    server_addr: std::net::SocketAddr,
    who: usize,
    nonce: String,
    acks: Arc<AtomicUsize>,
) -> BTreeMap<String, Sent> {
    let mut sent = BTreeMap::new();
    let Ok(stream) = std::net::TcpStream::connect(server_addr) else {
        return sent;
    };
    let mut client = Client::from_stream(stream);
    if !matches!(client.try_reply(), Ok(Some(r)) if r.code == 220) {
        return sent;
    }
    if client.try_send_raw(b"EHLO crash.it.test\r\n").is_err()
        || !matches!(client.try_reply(), Ok(Some(r)) if r.code == 250)
    {
        return sent;
    }
    for i in 0..PER_SENDER {
        let tok = format!("crash-{who}-{i}-{nonce}");
        let mailboxes: Vec<&'static str> = if i % 5 == 0 { MAILBOXES.to_vec() } else { vec![MAILBOXES[0]] };
        let body = format!(
            "From: <crash-sender@it.test>\r\nSubject: {tok}\r\n\r\n{}\r\nend-{tok}",
            "0123456789abcdef".repeat(64)
        );
        sent.insert(tok.clone(), Sent { fate: Fate::InFlight, mailboxes: mailboxes.clone() });
        let fate = match transaction(&mut client, &mailboxes, &body) {
            Ok(reply) => match queued_id(&reply) {
                Some(id) => {
                    acks.fetch_add(1, Ordering::SeqCst);
                    Fate::Acked(id)
                }
                None => Fate::Refused(reply.to_string()),
            },
            // The server died under us: the outcome of this one is unknown.
            Err(_) => break,
        };
        sent.get_mut(&tok).expect("just inserted").fate = fate;
    }
    sent
}

/// Subject token -> (copies in each mailbox, copies missing their end marker).
fn delivered(server: &Server) -> BTreeMap<(String, &'static str), (usize, usize)> {
    let mut seen = BTreeMap::new();
    for mailbox in MAILBOXES {
        for file in maildir_files(&server.maildir_new(mailbox)) {
            let text = read_lossy(&file);
            let Some(subject) =
                text.lines().find_map(|l| l.strip_prefix("Subject: ")).map(|s| s.trim().to_owned())
            else {
                continue;
            };
            let torn = usize::from(!text.contains(&format!("end-{subject}")));
            let entry = seen.entry((subject, mailbox)).or_insert((0, 0));
            entry.0 += 1;
            entry.1 += torn;
        }
    }
    seen
}

#[test]
fn kill_9_mid_burst_loses_and_duplicates_nothing_acknowledged() {
    burst_crash_restart(0);
}

/// The same, plus a second kill -9 as soon as the restarted server has
/// delivered one more copy, to catch it while it delivers recovered messages
/// (whether the kill lands mid-delivery depends on timing; the test prints how
/// many copies were out by then). A Maildir copy written just before a crash
/// must not be written again.
#[test]
fn second_kill_9_right_after_restart_duplicates_nothing() {
    burst_crash_restart(1);
}

fn total_delivered(server: &Server) -> usize {
    MAILBOXES.iter().map(|m| maildir_files(&server.maildir_new(m)).len()).sum()
}

fn burst_crash_restart(kills_during_delivery: usize) {
    let mut server = Server::start();
    let nonce = token("n");
    let acks = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|who| {
            let (addr, nonce, acks) = (server.addr(), nonce.clone(), Arc::clone(&acks));
            thread::spawn(move || sender(addr, who, nonce, acks))
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(60);
    while acks.load(Ordering::SeqCst) < KILL_AFTER_ACKS {
        assert!(
            Instant::now() < deadline,
            "only {} messages acknowledged within 60 s",
            acks.load(Ordering::SeqCst)
        );
        assert!(
            !senders.iter().all(|s| s.is_finished()),
            "every sender stopped before {KILL_AFTER_ACKS} acks ({} acked)",
            acks.load(Ordering::SeqCst)
        );
        thread::sleep(Duration::from_millis(1));
    }
    server.kill9();
    let mut sent = BTreeMap::new();
    for s in senders {
        sent.extend(s.join().expect("sender thread panicked"));
    }

    let acked: Vec<(&String, &Sent)> =
        sent.iter().filter(|(_, s)| matches!(s.fate, Fate::Acked(_))).collect();
    let refused: Vec<_> = sent
        .iter()
        .filter_map(|(t, s)| match &s.fate {
            Fate::Refused(r) => Some(format!("{t}: {r}")),
            _ => None,
        })
        .collect();
    assert!(refused.is_empty(), "messages refused before the kill: {refused:#?}");
    assert!(acked.len() < SENDERS * PER_SENDER, "the burst finished before the kill; not a mid-burst crash");
    let ids: HashSet<&String> = acked
        .iter()
        .filter_map(|(_, s)| match &s.fate {
            Fate::Acked(id) => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), acked.len(), "two messages got the same queue id");

    let in_flight = sent.values().filter(|s| matches!(s.fate, Fate::InFlight)).count();
    eprintln!(
        "crash: killed after {} acked, {in_flight} in flight, {} never sent",
        acked.len(),
        SENDERS * PER_SENDER - sent.len()
    );

    for round in 0..kills_during_delivery {
        let before = total_delivered(&server);
        server.spawn();
        let deadline = Instant::now() + Duration::from_secs(30);
        while total_delivered(&server) == before {
            assert!(Instant::now() < deadline, "restart {round}: nothing delivered within 30 s");
            thread::sleep(Duration::from_millis(1));
        }
        server.kill9();
        eprintln!(
            "crash: restart {}: killed during delivery with {} of {} acked messages' copies delivered",
            round + 1,
            total_delivered(&server),
            acked.iter().map(|(_, s)| s.mailboxes.len()).sum::<usize>()
        );
    }

    server.spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = delivered(&server);
        let missing: Vec<String> = acked
            .iter()
            .flat_map(|(t, s)| s.mailboxes.iter().map(move |m| ((*t).clone(), *m)))
            .filter(|key| !seen.contains_key(key))
            .map(|(t, m)| format!("{t} -> {m}"))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} acknowledged deliveries missing 60 s after restart (of {} acked messages): {:#?}",
            missing.len(),
            acked.len(),
            &missing[..missing.len().min(20)]
        );
        thread::sleep(Duration::from_millis(200));
    }
    // Every acknowledged copy is there; once the queue is idle no further copy can come.
    server.wait_idle();

    let seen = delivered(&server);
    let mut problems = Vec::new();
    for ((tok, mailbox), (copies, torn)) in &seen {
        let Some(s) = sent.get(tok) else {
            problems.push(format!("{tok} -> {mailbox}: a message nobody sent"));
            continue;
        };
        let expected_max = usize::from(s.mailboxes.contains(mailbox));
        if *copies > expected_max {
            problems.push(format!("{tok} -> {mailbox}: {copies} copies ({:?})", s.fate));
        }
        if *torn > 0 {
            problems.push(format!("{tok} -> {mailbox}: {torn} truncated copies"));
        }
    }
    assert!(
        problems.is_empty(),
        "after kill -9 and restart ({} acked, {in_flight} in flight): {problems:#?}",
        acked.len()
    );
}
