//! Outbound SMTP: one delivery attempt of one message to one server. It speaks ESMTP with
//! PIPELINING when offered, STARTTLS (opportunistic or required), passes DSN parameters on
//! when the server supports DSN, and reports an outcome per recipient. It decides nothing:
//! the queue manager turns outcomes into delivered / retry / bounce.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use smtp_wire::client::{Capabilities, dot_stuffed, mail_command, parse_reply, rcpt_command};
use smtp_wire::{Envelope, Reply};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// How much TLS a destination gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// STARTTLS when offered, unauthenticated (as RFC 7435 opportunistic security).
    Opportunistic,
    /// STARTTLS must succeed, else the attempt fails temporarily.
    Required,
    /// Plain text only.
    Off,
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The name this gateway gives in EHLO.
    pub helo_name: String,
    pub connect_timeout: Duration,
    /// Per reply (RFC 5321 4.5.3.2: 5 minutes for most, 10 for the end of DATA).
    pub reply_timeout: Duration,
    pub data_end_timeout: Duration,
}

/// What happened to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientOutcome {
    Delivered(Reply),
    /// A 4xx: try again later.
    Deferred(Reply),
    /// A 5xx: bounce.
    Failed(Reply),
}

/// Why the whole attempt failed before any recipient got an outcome.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    #[error("connection to {addr} failed: {reason}")]
    Io { addr: SocketAddr, reason: String },
    #[error("{addr} answered {reply}")]
    Refused { addr: SocketAddr, reply: Reply },
    #[error("TLS with {addr} failed: {reason}")]
    Tls { addr: SocketAddr, reason: String },
    #[error("{addr} does not offer STARTTLS and TLS is required")]
    TlsNotOffered { addr: SocketAddr },
    #[error("{addr} does not speak SMTP: {reason}")]
    Protocol { addr: SocketAddr, reason: String },
}

impl AttemptError {
    /// Permanent only when the server said so with a 5xx.
    pub fn is_permanent(&self) -> bool {
        matches!(self, AttemptError::Refused { reply, .. } if reply.is_permanent())
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Conn {
    stream: Box<dyn Io>,
    addr: SocketAddr,
    input: Vec<u8>,
}

impl Conn {
    fn io(&self, e: impl ToString) -> AttemptError {
        AttemptError::Io { addr: self.addr, reason: e.to_string() }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), AttemptError> {
        self.stream.write_all(bytes).await.map_err(|e| self.io(e))?;
        self.stream.flush().await.map_err(|e| self.io(e))
    }

    async fn reply(&mut self, timeout: Duration) -> Result<Reply, AttemptError> {
        loop {
            match parse_reply(&self.input) {
                Ok(Some((reply, used))) => {
                    self.input.drain(..used);
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(e) => return Err(AttemptError::Protocol { addr: self.addr, reason: e.to_string() }),
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(timeout, self.stream.read(&mut chunk))
                .await
                .map_err(|_| self.io("timed out waiting for a reply"))?
                .map_err(|e| self.io(e))?;
            if n == 0 {
                return Err(self.io("connection closed by the server"));
            }
            self.input.extend_from_slice(&chunk[..n]);
        }
    }

    async fn command(&mut self, line: &str, timeout: Duration) -> Result<Reply, AttemptError> {
        self.send(line.as_bytes()).await?;
        self.reply(timeout).await
    }
}

/// Delivers `data` for the `recipients` (indices into `envelope.recipients`) to `addr`.
/// `server_name` is the host name the address was found under (for TLS SNI).
pub async fn deliver(
    addr: SocketAddr,
    server_name: &str,
    tls: TlsMode,
    config: &ClientConfig,
    envelope: &Envelope,
    recipients: &[u32],
    data: &[u8],
) -> Result<Vec<(u32, RecipientOutcome)>, AttemptError> {
    let socket = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| AttemptError::Connect { addr, reason: "timed out".into() })?
        .map_err(|e| AttemptError::Connect { addr, reason: e.to_string() })?;
    let _ = socket.set_nodelay(true);
    let mut conn = Conn { stream: Box::new(socket), addr, input: Vec::new() };
    expect_positive(&mut conn, None, config.reply_timeout).await?;
    let mut caps = hello(&mut conn, config).await?;
    if tls != TlsMode::Off && caps.starttls {
        conn = start_tls(conn, server_name, config).await?;
        caps = hello(&mut conn, config).await?;
    } else if tls == TlsMode::Required {
        let _ = conn.command("QUIT\r\n", config.reply_timeout).await;
        return Err(AttemptError::TlsNotOffered { addr });
    }
    let outcomes = transaction(&mut conn, &caps, config, envelope, recipients, data).await?;
    let _ = conn.command("QUIT\r\n", config.reply_timeout).await;
    Ok(outcomes)
}

/// LMTP (RFC 2033) hand-off. Placeholder until the LMTP client lands: the attempt fails
/// temporarily, so LMTP-routed mail stays queued rather than being lost.
pub async fn deliver_lmtp(
    addr: SocketAddr,
    _config: &ClientConfig,
    _envelope: &Envelope,
    _recipients: &[u32],
    _data: &[u8],
) -> Result<Vec<(u32, RecipientOutcome)>, AttemptError> {
    Err(AttemptError::Protocol { addr, reason: "the LMTP client is not available in this build".into() })
}

async fn expect_positive(
    conn: &mut Conn,
    line: Option<&str>,
    timeout: Duration,
) -> Result<Reply, AttemptError> {
    let reply = match line {
        Some(line) => conn.command(line, timeout).await?,
        None => conn.reply(timeout).await?,
    };
    if reply.is_positive() { Ok(reply) } else { Err(AttemptError::Refused { addr: conn.addr, reply }) }
}

async fn hello(conn: &mut Conn, config: &ClientConfig) -> Result<Capabilities, AttemptError> {
    let ehlo = conn.command(&format!("EHLO {}\r\n", config.helo_name), config.reply_timeout).await?;
    if ehlo.is_positive() {
        return Ok(Capabilities::from_ehlo(&ehlo));
    }
    expect_positive(conn, Some(&format!("HELO {}\r\n", config.helo_name)), config.reply_timeout).await?;
    Ok(Capabilities::default())
}

async fn start_tls(mut conn: Conn, server_name: &str, config: &ClientConfig) -> Result<Conn, AttemptError> {
    let addr = conn.addr;
    expect_positive(&mut conn, Some("STARTTLS\r\n"), config.reply_timeout).await?;
    // Anything the server sent after its 220 is not trusted (it arrived in plain text).
    conn.input.clear();
    let name = ServerName::try_from(server_name.to_string())
        .unwrap_or_else(|_| ServerName::IpAddress(addr.ip().into()));
    let connector = TlsConnector::from(opportunistic_tls_config());
    let stream: TlsStream<Box<dyn Io>> = connector
        .connect(name, conn.stream)
        .await
        .map_err(|e| AttemptError::Tls { addr, reason: e.to_string() })?;
    Ok(Conn { stream: Box::new(stream), addr, input: Vec::new() })
}

/// MAIL, RCPT..., DATA: pipelined in one write when the server offers PIPELINING.
async fn transaction(
    conn: &mut Conn,
    caps: &Capabilities,
    config: &ClientConfig,
    envelope: &Envelope,
    recipients: &[u32],
    data: &[u8],
) -> Result<Vec<(u32, RecipientOutcome)>, AttemptError> {
    let mail = mail_command(envelope, data.len(), caps);
    let rcpts: Vec<(u32, String)> = recipients
        .iter()
        .filter_map(|i| envelope.recipients.get(*i as usize).map(|r| (*i, rcpt_command(r, caps))))
        .collect();
    let (mail_reply, rcpt_replies, data_reply) = if caps.pipelining {
        let mut batch = mail.clone();
        rcpts.iter().for_each(|(_, c)| batch.push_str(c));
        batch.push_str("DATA\r\n");
        conn.send(batch.as_bytes()).await?;
        let mail_reply = conn.reply(config.reply_timeout).await?;
        let mut rcpt_replies = Vec::with_capacity(rcpts.len());
        for _ in &rcpts {
            rcpt_replies.push(conn.reply(config.reply_timeout).await?);
        }
        (mail_reply, rcpt_replies, Some(conn.reply(config.reply_timeout).await?))
    } else {
        let mail_reply = conn.command(&mail, config.reply_timeout).await?;
        let mut rcpt_replies = Vec::with_capacity(rcpts.len());
        if mail_reply.is_positive() {
            for (_, cmd) in &rcpts {
                rcpt_replies.push(conn.command(cmd, config.reply_timeout).await?);
            }
        }
        (mail_reply, rcpt_replies, None)
    };
    if !mail_reply.is_positive() {
        return Ok(rcpts.iter().map(|(i, _)| (*i, negative(mail_reply.clone()))).collect());
    }
    let accepted: Vec<u32> =
        rcpts.iter().zip(&rcpt_replies).filter(|(_, r)| r.is_positive()).map(|((i, _), _)| *i).collect();
    let mut outcomes: Vec<(u32, RecipientOutcome)> = rcpts
        .iter()
        .zip(&rcpt_replies)
        .filter(|(_, r)| !r.is_positive())
        .map(|((i, _), r)| (*i, negative(r.clone())))
        .collect();
    if accepted.is_empty() {
        if data_reply.as_ref().is_some_and(|r| r.code == 354) {
            // Pipelined DATA was accepted without recipients: end it empty (RFC 2920 3.1).
            conn.send(b".\r\n").await?;
            let _ = conn.reply(config.reply_timeout).await;
        }
        return Ok(outcomes);
    }
    let data_reply = match data_reply {
        Some(reply) => reply,
        None => conn.command("DATA\r\n", config.reply_timeout).await?,
    };
    let final_reply = if data_reply.code == 354 {
        conn.send(&dot_stuffed(data)).await?;
        conn.reply(config.data_end_timeout).await?
    } else {
        data_reply
    };
    let outcome = |r: &Reply| {
        if r.is_positive() { RecipientOutcome::Delivered(r.clone()) } else { negative(r.clone()) }
    };
    outcomes.extend(accepted.iter().map(|i| (*i, outcome(&final_reply))));
    outcomes.sort_by_key(|(i, _)| *i);
    Ok(outcomes)
}

fn negative(reply: Reply) -> RecipientOutcome {
    if reply.is_permanent() { RecipientOutcome::Failed(reply) } else { RecipientOutcome::Deferred(reply) }
}

/// Opportunistic TLS encrypts without authenticating the server (RFC 7435): the server's
/// signatures are still checked, its certificate chain is not.
fn opportunistic_tls_config() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(Unauthenticated { provider: Arc::clone(&provider) });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth());
    match config {
        Ok(config) => Arc::new(config),
        // The ring provider supports the default versions; this cannot fail in practice.
        Err(_) => Arc::new(
            rustls::ClientConfig::builder()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unauthenticated {
                    provider: Arc::new(rustls::crypto::ring::default_provider()),
                }))
                .with_no_client_auth(),
        ),
    }
}

#[derive(Debug)]
struct Unauthenticated {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Unauthenticated {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
