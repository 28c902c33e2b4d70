//! Outbound delivery against a real server on loopback: a Sluice gateway started in-process
//! (ESMTP with PIPELINING, DSN and STARTTLS).

mod common;

use common::recipient;

use std::sync::Arc;
use std::time::Duration;

use gateway::delivery::outbound::{
    ClientConfig, ProbeRequest, ProbeRoute, RecipientOutcome, StepKind, StepOutcome, TestMessage, TlsMode,
    deliver, probe, trust_roots,
};
use gateway::dns::Dns;
use gateway::domains::StaticDomains;
use gateway::tls::TlsSource;
use gateway::{ConnectionLimits, DeliveryConfig, Gateway, GatewayConfig, Settings, Timeouts};
use smtp_wire::{Envelope, SessionConfig};

fn gateway_config(dir: &std::path::Path) -> GatewayConfig {
    GatewayConfig {
        hostname: "mx.dest.test".into(),
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        spool_dir: dir.join("spool"),
        tls: Some(TlsSource::SelfSigned { dir: dir.join("tls"), hostname: "mx.dest.test".into() }),
        tls_client_ca_file: None,
        settings: Settings {
            session: Arc::new(SessionConfig { hostname: "mx.dest.test".into(), ..SessionConfig::default() }),
            static_domains: Arc::new(StaticDomains::new(&["dest.test".to_string()])),
            limits: ConnectionLimits {
                connections_max: 100,
                connections_per_ip_max: 100,
                ..ConnectionLimits::default()
            },
            timeouts: Timeouts::default(),
            data_memory: Default::default(),
            client_checks: Default::default(),
            proxy: None,
        },
        delivery: DeliveryConfig { concurrency: 2, ..DeliveryConfig::new(dir.join("mail")) },
        drain: Duration::from_secs(5),
        throttle: None,
        control_socket: None,
        protection: None,
        fleet: None,
        screening: gateway::ScreeningConfig::off(dir.join("quarantine")),
    }
}

fn envelope() -> Envelope {
    let recipients = vec![
        recipient("bob", "dest.test"),
        recipient("eve", "elsewhere.test"),
        recipient("carol", "dest.test"),
    ];
    Envelope { envid: Some("env-1".into()), ..common::envelope(recipients) }
}

fn client() -> ClientConfig {
    common::client("relay.src.test")
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
    let server = Gateway::start(gateway_config(dir.path()), None, None).await.expect("start gateway");
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

/// A CA (its PEM written to `dir/ca.pem`) and a peer certificate it signed for `localhost`.
fn ca_signed_localhost(dir: &std::path::Path) -> TlsSource {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Sluice Test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &issuer).expect("leaf");
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("write");
    std::fs::write(dir.join("cert.pem"), cert.pem()).expect("write");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write");
    TlsSource::Files { cert_file: dir.join("cert.pem"), key_file: dir.join("key.pem") }
}

async fn peer(dir: &std::path::Path, tls: Option<TlsSource>) -> Gateway {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = gateway_config(dir);
    config.tls = tls;
    Gateway::start(config, None, None).await.expect("start gateway")
}

fn client_trusting(ca_file: &std::path::Path) -> ClientConfig {
    ClientConfig { roots: trust_roots(Some(ca_file)).expect("CA bundle"), ..client() }
}

async fn attempt(
    server: &Gateway,
    name: &str,
    tls: TlsMode,
    config: &ClientConfig,
) -> Result<Vec<(u32, RecipientOutcome)>, gateway::delivery::outbound::AttemptError> {
    deliver(server.local_addrs()[0], name, tls, config, &envelope(), &[0], b"Subject: t\r\n\r\nbody\r\n")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_certificate_passes_with_the_ca_and_fails_temporarily_without() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = peer(dir.path(), Some(ca_signed_localhost(dir.path()))).await;
    let trusting = client_trusting(&dir.path().join("ca.pem"));
    let outcomes =
        attempt(&server, "localhost", TlsMode::VerifyCertificate, &trusting).await.expect("verified");
    assert!(matches!(&outcomes[0], (0, RecipientOutcome::Delivered(_))), "{outcomes:?}");

    let err =
        attempt(&server, "localhost", TlsMode::VerifyCertificate, &client()).await.expect_err("unknown CA");
    assert!(!err.is_permanent(), "{err}");
    let text = err.to_string();
    assert!(text.contains("verify-certificate") && text.contains("trusted root"), "{text}");

    // Connected by a name the certificate does not carry.
    let err =
        attempt(&server, "mx.dest.test", TlsMode::VerifyCertificate, &trusting).await.expect_err("name");
    assert!(err.to_string().contains("not valid for mx.dest.test"), "{err}");
    // Opportunistic and required do not care who signed.
    attempt(&server, "localhost", TlsMode::Required, &client()).await.expect("required, unverified");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_domain_checks_the_named_domain_not_the_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = peer(dir.path(), Some(ca_signed_localhost(dir.path()))).await;
    let trusting = client_trusting(&dir.path().join("ca.pem"));
    let other = TlsMode::VerifyDomain("other.test".into());
    let err = attempt(&server, "localhost", other, &trusting).await.expect_err("wrong domain");
    assert!(
        matches!(err, gateway::delivery::outbound::AttemptError::Tls { .. }) && !err.is_permanent(),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("verify-domain other.test") && text.contains("not valid for other.test"), "{text}");
    let localhost = TlsMode::VerifyDomain("localhost".into());
    let outcomes = attempt(&server, "mx.dest.test", localhost, &trusting).await.expect("domain verified");
    assert!(matches!(&outcomes[0], (0, RecipientOutcome::Delivered(_))), "{outcomes:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_tls_without_starttls_fails_temporarily() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = peer(dir.path(), None).await;
    for mode in [TlsMode::Required, TlsMode::VerifyCertificate] {
        let err = attempt(&server, "mx.dest.test", mode.clone(), &client()).await.expect_err("no STARTTLS");
        assert!(
            matches!(&err, gateway::delivery::outbound::AttemptError::TlsNotOffered { mode: m, .. } if *m == mode),
            "{err}"
        );
        assert!(!err.is_permanent() && err.to_string().contains(&mode.to_string()), "{err}");
    }
    let plain = attempt(&server, "mx.dest.test", TlsMode::Opportunistic, &client()).await.expect("plain");
    assert!(matches!(&plain[0], (0, RecipientOutcome::Delivered(_))), "{plain:?}");
    server.shutdown().await;
}

fn steps(report: &gateway::delivery::outbound::ProbeReport) -> Vec<(StepKind, bool)> {
    report.steps.iter().map(|s| (s.kind, s.outcome == StepOutcome::Passed)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_by_mx_walks_every_step_and_sends_one_test_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = peer(dir.path(), Some(ca_signed_localhost(dir.path()))).await;
    let dns_server = common::start_dns(
        r#"{"dest.test": {"MX": [[10, "localhost.test"]]}, "localhost.test": {"A": ["127.0.0.1"]},
            "nomail.test": {"MX": [[0, "."]]}}"#,
    );
    let dns = Dns::new(Some(dns_server.addr)).expect("resolver");
    let port = server.local_addrs()[0].port();
    let request = ProbeRequest {
        route: ProbeRoute::Mx { domain: "dest.test".into(), port },
        tls: TlsMode::VerifyDomain("localhost".into()),
        message: Some(TestMessage {
            from: "postmaster@src.test".into(),
            to: "bob@dest.test".into(),
            subject: "probe test".into(),
        }),
    };
    let report = probe(&dns, &client_trusting(&dir.path().join("ca.pem")), &request).await;
    use StepKind::*;
    let all = [Resolve, Resolve, Connect, Banner, Ehlo, StartTls, Ehlo, Mail, Rcpt, Data, Quit];
    assert_eq!(steps(&report), all.map(|k| (k, true)).to_vec(), "{report:#?}");
    let tls = &report.steps[5].detail;
    assert!(
        tls.contains("CN=localhost") && tls.contains("verified") && tls.contains("valid for localhost"),
        "{tls}"
    );
    let data = report.steps[9].reply.as_ref().expect("reply");
    assert!(data.summary().contains("queued as"), "{data}");
    let mail = wait_for_files(&dir.path().join("mail/dest.test/bob/new"), 1).await;
    assert!(mail[0].contains("Subject: probe test"), "{}", mail[0]);

    let refused = ProbeRequest { route: ProbeRoute::Mx { domain: "nomail.test".into(), port }, ..request };
    let report = probe(&dns, &client(), &refused).await;
    assert_eq!(steps(&report), vec![(Resolve, false)], "{report:#?}");
    assert!(report.steps[0].detail.contains("null MX"), "{report:#?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_shows_the_certificate_that_failed_verification() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = peer(dir.path(), Some(ca_signed_localhost(dir.path()))).await;
    let addr = server.local_addrs()[0];
    let hop = directory::NextHop::parse("test", &addr.to_string(), 25).expect("hop");
    let request = ProbeRequest {
        route: ProbeRoute::SmartHosts(vec![hop]),
        tls: TlsMode::VerifyCertificate,
        message: None,
    };
    let report = probe(&Dns::new(None).expect("resolver"), &client(), &request).await;
    let failed = report.first_failure().expect("unknown CA fails");
    assert_eq!(failed.kind, StepKind::StartTls, "{report:#?}");
    assert!(
        failed.detail.contains("verify-certificate") && failed.detail.contains("CN=localhost"),
        "{failed:?}"
    );
    assert!(matches!(&failed.outcome, StepOutcome::Failed { check } if check.contains("tls_ca_file")));
    assert_eq!(report.steps.last().map(|s| s.kind), Some(StepKind::StartTls), "nothing after the failure");
    server.shutdown().await;
}
