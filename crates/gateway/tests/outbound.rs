//! Outbound delivery against a real server on loopback: a Sluice gateway started in-process
//! (ESMTP with PIPELINING, DSN and STARTTLS).

use std::sync::Arc;
use std::time::Duration;

use gateway::outbound::{ClientConfig, RecipientOutcome, TlsMode, deliver};
use gateway::policy::StaticPolicy;
use gateway::tls::TlsSource;
use gateway::{ConnectionLimits, DeliveryConfig, Gateway, GatewayConfig, Settings, Timeouts};
use smtp_wire::{Address, BodyType, ClientInfo, Envelope, Notify, Recipient, ReversePath, SessionConfig};

fn gateway_config(dir: &std::path::Path) -> GatewayConfig {
    GatewayConfig {
        hostname: "mx.dest.test".into(),
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        spool_dir: dir.join("spool"),
        tls: Some(TlsSource::SelfSigned { dir: dir.join("tls"), hostname: "mx.dest.test".into() }),
        tls_client_ca_file: None,
        settings: Settings {
            session: Arc::new(SessionConfig { hostname: "mx.dest.test".into(), ..SessionConfig::default() }),
            policy: Arc::new(StaticPolicy::new(&["dest.test".to_string()])),
            limits: ConnectionLimits { connections_max: 100, connections_per_ip_max: 100 },
            timeouts: Timeouts::default(),
            client_checks: Default::default(),
        },
        delivery: DeliveryConfig { concurrency: 2, ..DeliveryConfig::new(dir.join("mail")) },
        drain: Duration::from_secs(5),
        throttle: None,
        control_socket: None,
        directory_db: None,
        protection: None,
    }
}

fn recipient(local: &str, domain: &str) -> Recipient {
    Recipient {
        address: Address { local_part: local.into(), domain: domain.into() },
        notify: Some(Notify::On { success: false, failure: true, delay: true }),
        orcpt: None,
    }
}

fn envelope() -> Envelope {
    Envelope {
        sender: ReversePath::Mailbox(Address { local_part: "alice".into(), domain: "src.test".into() }),
        recipients: vec![
            recipient("bob", "dest.test"),
            recipient("eve", "elsewhere.test"),
            recipient("carol", "dest.test"),
        ],
        body: BodyType::SevenBit,
        smtputf8: false,
        ret: None,
        envid: Some("env-1".into()),
        declared_size: None,
        client: ClientInfo {
            ip: "127.0.0.1".parse().expect("ip"),
            helo: "src".into(),
            esmtp: true,
            tls: None,
            attribution: None,
        },
    }
}

fn client() -> ClientConfig {
    ClientConfig {
        helo_name: "relay.src.test".into(),
        connect_timeout: Duration::from_secs(5),
        reply_timeout: Duration::from_secs(10),
        data_end_timeout: Duration::from_secs(10),
    }
}

async fn wait_for_files(dir: &std::path::Path, count: usize) -> Vec<String> {
    for _ in 0..100 {
        let files: Vec<String> = std::fs::read_dir(dir)
            .map(|d| d.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()).collect())
            .unwrap_or_default();
        if files.len() >= count {
            return files;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no delivery into {}", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_starttls_delivery_reports_each_recipient() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Gateway::start(gateway_config(dir.path())).await.expect("start gateway");
    let addr = server.local_addrs()[0];
    let data = b"Subject: outbound test\r\n\r\n.leading dot survives\r\nbody\r\n";
    let outcomes = deliver(addr, "mx.dest.test", TlsMode::Required, &client(), &envelope(), &[0, 1, 2], data)
        .await
        .expect("attempt");
    assert_eq!(outcomes.len(), 3);
    assert!(matches!(&outcomes[0], (0, RecipientOutcome::Delivered(r)) if r.code == 250), "{outcomes:?}");
    assert!(
        matches!(&outcomes[1], (1, RecipientOutcome::Failed(r)) if r.summary().starts_with("550 5.7.1")),
        "{outcomes:?}"
    );
    assert!(matches!(&outcomes[2], (2, RecipientOutcome::Delivered(_))), "{outcomes:?}");
    let mail = wait_for_files(&dir.path().join("mail/dest.test/bob/new"), 1).await;
    assert!(mail[0].contains("with ESMTPS"), "delivered over STARTTLS:\n{}", mail[0]);
    assert!(mail[0].contains("\r\n.leading dot survives\r\n"), "dot-stuffing round trip:\n{}", mail[0]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_a_temporary_attempt_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let err = deliver(addr, "nowhere.test", TlsMode::Opportunistic, &client(), &envelope(), &[0], b"x\r\n")
        .await
        .expect_err("nothing listens");
    assert!(!err.is_permanent(), "{err}");
}
