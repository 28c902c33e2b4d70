//! Remote delivery's choices between servers, against small scripted SMTP servers on
//! loopback: a server that refuses to talk is skipped for the next one, and a STARTTLS the
//! server refuses is, under opportunistic TLS, a reason to go on in plain text.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use directory::NextHop;
use gateway::delivery::Outcome;
use gateway::delivery::Protocol;
use gateway::delivery::outbound::TlsMode;
use gateway::delivery::remote::{Message, RemoteContext, deliver};
use gateway::delivery::routing::Destination;
use gateway::dns::Dns;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// How a scripted server behaves.
#[derive(Clone, Copy)]
struct Script {
    banner: &'static str,
    /// The reply to STARTTLS (offered in EHLO when set).
    starttls: Option<&'static str>,
}

/// Serves `script` on a loopback port; counts the messages it accepts.
async fn scripted(script: Script) -> (SocketAddr, Arc<AtomicUsize>) {
    scripted_on("127.0.0.1:0", script).await
}

async fn scripted_on(bind: &str, script: Script) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(bind).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(format!("{}\r\n", script.banner).as_bytes()).await;
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply = match (in_data, verb.as_str()) {
                        (true, _) if line == "." => {
                            in_data = false;
                            count.fetch_add(1, Ordering::SeqCst);
                            "250 2.0.0 Ok: stored".to_string()
                        }
                        (true, _) => continue,
                        (false, "EHLO") if script.starttls.is_some() => "250-scripted\r\n250 STARTTLS".into(),
                        (false, "EHLO") => "250 scripted".into(),
                        (false, "STAR") => script.starttls.unwrap_or("502 5.5.1 no").into(),
                        (false, "DATA") => {
                            in_data = true;
                            "354 go ahead".into()
                        }
                        (false, "QUIT") => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => "250 2.0.0 Ok".into(),
                    };
                    if write.write_all(format!("{reply}\r\n").as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

fn hop(addr: SocketAddr) -> NextHop {
    NextHop { host: addr.ip().to_string(), port: addr.port() }
}

async fn send(hosts: Vec<NextHop>, tls: TlsMode) -> Vec<(u32, Outcome)> {
    send_to(Destination::Hosts { hosts, protocol: Protocol::Smtp, tls }, 25).await
}

async fn send_to(destination: Destination, mx_port: u16) -> Vec<(u32, Outcome)> {
    let ctx = RemoteContext {
        dns: Dns::new(None).expect("resolver"),
        client: common::client("relay.src.test"),
        mx_port,
    };
    let envelope = common::envelope(vec![common::recipient("bob", "dest.test")]);
    let message = Message { envelope: &envelope, recipients: &[0], data: b"Subject: t\r\n\r\nbody\r\n" };
    deliver(&ctx, &destination, &[message]).await.pop().expect("one message")
}

/// A recipient at an address literal goes to that address: the literal is read by the
/// session's own parser, so a tag the session accepted (any case) is one delivery reads.
#[tokio::test]
async fn an_address_literal_is_delivered_to_its_address_whatever_the_tag_case() {
    let (server, stored) =
        scripted_on("[::1]:0", Script { banner: "220 literal ESMTP", starttls: None }).await;
    for domain in ["[IPv6:::1]", "[Ipv6:::1]", "[IPV6:0:0:0:0:0:0:0:1]"] {
        let destination = Destination::Mx { domain: domain.into(), tls: TlsMode::Opportunistic };
        let outcomes = send_to(destination, server.port()).await;
        assert!(matches!(outcomes[0].1, Outcome::Delivered { .. }), "{domain}: {outcomes:?}");
    }
    assert_eq!(stored.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_server_that_refuses_to_talk_is_skipped_for_the_next() {
    let (refusing, refused) = scripted(Script { banner: "554 5.7.1 go away", starttls: None }).await;
    let (backup, stored) = scripted(Script { banner: "220 backup ESMTP", starttls: None }).await;
    let outcomes = send(vec![hop(refusing), hop(backup)], TlsMode::Opportunistic).await;
    assert!(matches!(outcomes[0].1, Outcome::Delivered { .. }), "{outcomes:?}");
    assert_eq!((refused.load(Ordering::SeqCst), stored.load(Ordering::SeqCst)), (0, 1));
    // When every server refuses permanently, that is the verdict.
    let outcomes = send(vec![hop(refusing)], TlsMode::Opportunistic).await;
    assert!(
        matches!(&outcomes[0].1, Outcome::Failed(f) if f.diagnosis.to_string().starts_with("554 5.7.1")
            && f.diagnosis.reply().is_some_and(|r| r.stage == bounce::SmtpStage::Greeting && r.mta == "127.0.0.1")),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn a_refused_starttls_goes_on_in_plain_text_only_when_tls_is_opportunistic() {
    let script = Script { banner: "220 scripted ESMTP", starttls: Some("454 4.7.0 TLS not available") };
    let (server, stored) = scripted(script).await;
    let outcomes = send(vec![hop(server)], TlsMode::Opportunistic).await;
    assert!(matches!(outcomes[0].1, Outcome::Delivered { .. }), "{outcomes:?}");
    assert_eq!(stored.load(Ordering::SeqCst), 1);
    let outcomes = send(vec![hop(server)], TlsMode::Required).await;
    let Outcome::Deferred(failure) = &outcomes[0].1 else {
        panic!("required TLS must not fall back: {outcomes:?}")
    };
    assert!(failure.diagnosis.to_string().contains("refused STARTTLS: 454 4.7.0"), "{failure:?}");
    assert_eq!(stored.load(Ordering::SeqCst), 1, "nothing sent in plain text");
}

#[tokio::test]
async fn a_server_asking_to_slow_down_marks_the_destination_even_when_the_next_is_down() {
    let (busy, _) =
        scripted(Script { banner: "421 4.7.0 too many connections, slow down", starttls: None }).await;
    // A port nobody listens on: the backup is down.
    let down = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port");
    let outcomes = send(vec![hop(busy), hop(down)], TlsMode::Opportunistic).await;
    let Outcome::Deferred(failure) = &outcomes[0].1 else { panic!("deferred: {outcomes:?}") };
    assert!(failure.throttled, "the 421 from the first server is remembered: {failure:?}");
    assert_eq!(failure.status.class, 4);
}
