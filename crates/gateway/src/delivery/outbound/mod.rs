//! Outbound SMTP and LMTP: one delivery attempt of one message to one server. It speaks
//! ESMTP (or LMTP, RFC 2033) with PIPELINING when offered, STARTTLS in the connector's mode
//! (opportunistic, required, verify-certificate, verify-domain), passes DSN parameters on
//! when the server supports DSN, and reports an outcome per recipient. It decides nothing:
//! the queue manager turns outcomes into delivered / retry / bounce. `probe` runs the same
//! conversation step by step for `sluice connector validate`.
//!
//! SMTP and LMTP share everything but the greeting (`EHLO` with a `HELO` fallback, or
//! `LHLO`) and the end of data: SMTP answers once for the whole message, LMTP once per
//! accepted recipient, in RCPT order.

mod client_tls;
pub mod probe;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bounce::SmtpStage;
use rustls::RootCertStore;
use rustls_pki_types::ServerName;
use smtp_wire::client::{Capabilities, dot_stuffed, mail_command, parse_reply, rcpt_command};
use smtp_wire::{EnhancedCode, Envelope, Reply};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub use client_tls::{TlsMode, trust_roots};

use crate::delivery::Protocol;
pub use probe::{
    ProbeReport, ProbeRequest, ProbeRoute, ProbeStep, StepKind, StepOutcome, TestMessage, probe,
};

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The name this gateway gives in EHLO / LHLO.
    pub helo_name: String,
    pub connect_timeout: Duration,
    /// Per reply (RFC 5321 4.5.3.2: 5 minutes for most, 10 for the end of DATA).
    pub reply_timeout: Duration,
    pub data_end_timeout: Duration,
    /// Trust anchors for verify-certificate and verify-domain ([`trust_roots`]), built once.
    pub roots: Arc<RootCertStore>,
}

impl ClientConfig {
    /// RFC 5321 4.5.3.2 timeouts (5 minutes per reply, 10 for the end of data) and 30 s to
    /// connect (beyond that the next MX is a better bet).
    pub fn new(helo_name: impl Into<String>, roots: Arc<RootCertStore>) -> ClientConfig {
        ClientConfig {
            helo_name: helo_name.into(),
            connect_timeout: Duration::from_secs(30),
            reply_timeout: Duration::from_secs(300),
            data_end_timeout: Duration::from_secs(600),
            roots,
        }
    }
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

/// Why the whole attempt failed before any recipient got an outcome. Every variant but a
/// 5xx [`AttemptError::Refused`] is temporary: a TLS failure is the connector's demand not
/// met today, which a fixed certificate or a STARTTLS-capable peer may meet tomorrow.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// `kind` tells a refused connection from a timeout or an unreachable network.
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String, kind: std::io::ErrorKind },
    #[error("connection to {addr} failed: {reason}")]
    Io { addr: SocketAddr, reason: String },
    /// `stage`: the command the server refused (or its banner).
    #[error("{addr} answered {reply}")]
    Refused { addr: SocketAddr, reply: Reply, stage: SmtpStage },
    /// `reason` starts with the TLS mode that was not satisfied.
    #[error("TLS with {addr} failed: {reason}")]
    Tls { addr: SocketAddr, reason: String },
    #[error("{addr} does not offer STARTTLS and the TLS mode is {mode}")]
    TlsNotOffered { addr: SocketAddr, mode: TlsMode },
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
    /// Bound on one write: a server that stops reading cannot hold the attempt forever.
    write_timeout: Duration,
}

impl Conn {
    async fn open(addr: SocketAddr, config: &ClientConfig) -> Result<Conn, AttemptError> {
        let socket = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| AttemptError::Connect {
                addr,
                reason: "timed out".into(),
                kind: std::io::ErrorKind::TimedOut,
            })?
            .map_err(|e| AttemptError::Connect { addr, reason: e.to_string(), kind: e.kind() })?;
        // Commands are small and each waits for its reply: Nagle would only add delay.
        let _ = socket.set_nodelay(true);
        Ok(Conn { stream: Box::new(socket), addr, input: Vec::new(), write_timeout: config.data_end_timeout })
    }

    fn io(&self, e: impl ToString) -> AttemptError {
        AttemptError::Io { addr: self.addr, reason: e.to_string() }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), AttemptError> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.write_timeout, write).await {
            Ok(written) => written.map_err(|e| self.io(e)),
            Err(_) => Err(self.io("timed out writing to the server")),
        }
    }

    /// The next reply, which must be complete within `timeout` (however slowly it drips).
    async fn reply(&mut self, timeout: Duration) -> Result<Reply, AttemptError> {
        let deadline = tokio::time::Instant::now() + timeout;
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
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
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

    /// A command whose reply must be positive; a negative one ends the attempt.
    async fn expect_positive(
        &mut self,
        line: Option<&str>,
        timeout: Duration,
    ) -> Result<Reply, AttemptError> {
        let reply = match line {
            Some(line) => self.command(line, timeout).await?,
            None => self.reply(timeout).await?,
        };
        if reply.is_positive() {
            return Ok(reply);
        }
        let stage = line.map_or(SmtpStage::Greeting, SmtpStage::of_command);
        Err(AttemptError::Refused { addr: self.addr, reply, stage })
    }

    /// Best effort: the outcome is known whatever the server says to QUIT.
    async fn quit(&mut self, config: &ClientConfig) {
        let _ = self.command("QUIT\r\n", config.reply_timeout).await;
    }
}

/// Delivers `data` for the `recipients` (indices into `envelope.recipients`) to `addr` over
/// SMTP. `server_name` is the host name the address was found under (MX or smart host): it
/// is the SNI name and, under [`TlsMode::VerifyCertificate`], the name the certificate must
/// be valid for.
pub async fn deliver(
    addr: SocketAddr,
    server_name: &str,
    tls: TlsMode,
    config: &ClientConfig,
    envelope: &Envelope,
    recipients: &[u32],
    data: &[u8],
) -> Result<Vec<(u32, RecipientOutcome)>, AttemptError> {
    let peer = Peer { addr, server_name, tls: &tls, protocol: Protocol::Smtp };
    attempt(peer, config, envelope, recipients, data).await
}

/// Delivers over LMTP (RFC 2033) to a tenant's mailbox server: one outcome per recipient
/// from the server's per-recipient replies after the data. No STARTTLS: LMTP hand-off is
/// to a server on the tenant's own network, where mailbox servers rarely offer it.
pub async fn deliver_lmtp(
    addr: SocketAddr,
    config: &ClientConfig,
    envelope: &Envelope,
    recipients: &[u32],
    data: &[u8],
) -> Result<Vec<(u32, RecipientOutcome)>, AttemptError> {
    let peer = Peer { addr, server_name: "", tls: &TlsMode::Off, protocol: Protocol::Lmtp };
    attempt(peer, config, envelope, recipients, data).await
}

/// An open, greeted connection that carries several messages one after another (RFC 5321
/// 3.3: a new MAIL may follow a finished transaction), so a backlog for one destination
/// does not pay a TCP and TLS handshake per message. Any error ends it: a transaction cut
/// off mid-way leaves the connection in an unknown state.
pub struct Session {
    conn: Conn,
    caps: Capabilities,
    protocol: Protocol,
    /// Messages sent so far; from the second on, `RSET` first checks the connection is alive.
    sent: usize,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("addr", &self.conn.addr)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connects, reads the banner and greets (with STARTTLS as `tls` demands) over SMTP.
    pub async fn smtp(
        addr: SocketAddr,
        server_name: &str,
        tls: &TlsMode,
        config: &ClientConfig,
    ) -> Result<Session, AttemptError> {
        Session::open(Peer { addr, server_name, tls, protocol: Protocol::Smtp }, config).await
    }

    /// Connects, reads the banner and greets over LMTP (no STARTTLS, see [`deliver_lmtp`]).
    pub async fn lmtp(addr: SocketAddr, config: &ClientConfig) -> Result<Session, AttemptError> {
        Session::open(Peer { addr, server_name: "", tls: &TlsMode::Off, protocol: Protocol::Lmtp }, config)
            .await
    }

    async fn open(peer: Peer<'_>, config: &ClientConfig) -> Result<Session, AttemptError> {
        let mut conn = Conn::open(peer.addr, config).await?;
        conn.expect_positive(None, config.reply_timeout).await?;
        let (conn, caps) = negotiate(conn, peer.server_name, peer.tls, config, peer.protocol).await?;
        Ok(Session { conn, caps, protocol: peer.protocol, sent: 0 })
    }

    /// One message: an outcome per recipient with the command whose reply decided it, or
    /// an error after which the session is done.
    pub async fn send(
        &mut self,
        config: &ClientConfig,
        envelope: &Envelope,
        recipients: &[u32],
        data: &[u8],
    ) -> Result<Vec<(u32, RecipientOutcome, SmtpStage)>, AttemptError> {
        if self.sent > 0 {
            self.conn.expect_positive(Some("RSET\r\n"), config.reply_timeout).await?;
        }
        self.sent += 1;
        transaction(&mut self.conn, &self.caps, config, self.protocol, envelope, recipients, data).await
    }

    /// Says goodbye (best effort).
    pub async fn quit(mut self, config: &ClientConfig) {
        self.conn.quit(config).await;
    }
}

/// Who an attempt talks to, and how.
struct Peer<'a> {
    addr: SocketAddr,
    server_name: &'a str,
    tls: &'a TlsMode,
    protocol: Protocol,
}

/// Banner, greeting (and STARTTLS), the transaction, QUIT: the one conversation of both
/// protocols.
async fn attempt(
    peer: Peer<'_>,
    config: &ClientConfig,
    envelope: &Envelope,
    recipients: &[u32],
    data: &[u8],
) -> Result<Vec<(u32, RecipientOutcome)>, AttemptError> {
    let mut session = Session::open(peer, config).await?;
    let outcomes = session.send(config, envelope, recipients, data).await?;
    session.quit(config).await;
    Ok(outcomes.into_iter().map(|(index, outcome, _)| (index, outcome)).collect())
}

/// The greeting, then STARTTLS as the mode demands and the greeting again over TLS.
async fn negotiate(
    mut conn: Conn,
    server_name: &str,
    tls: &TlsMode,
    config: &ClientConfig,
    protocol: Protocol,
) -> Result<(Conn, Capabilities), AttemptError> {
    let caps = hello(&mut conn, config, protocol).await?;
    if *tls == TlsMode::Off || (!caps.starttls && !tls.requires_tls()) {
        return Ok((conn, caps));
    }
    if !caps.starttls {
        conn.quit(config).await;
        return Err(AttemptError::TlsNotOffered { addr: conn.addr, mode: tls.clone() });
    }
    // A refused STARTTLS is a TLS failure like a failed handshake: temporary, and under
    // opportunistic TLS a reason to go on in plain text, not a verdict on the mail.
    conn.expect_positive(Some("STARTTLS\r\n"), config.reply_timeout).await.map_err(|e| match e {
        AttemptError::Refused { addr, reply, .. } => {
            AttemptError::Tls { addr, reason: format!("{tls}: the server refused STARTTLS: {reply}") }
        }
        other => other,
    })?;
    let (mut conn, _) = start_tls(conn, server_name, tls, config).await.map_err(|(e, _)| e)?;
    let caps = hello(&mut conn, config, protocol).await?;
    Ok((conn, caps))
}

async fn hello(
    conn: &mut Conn,
    config: &ClientConfig,
    protocol: Protocol,
) -> Result<Capabilities, AttemptError> {
    Ok(Capabilities::from_ehlo(&greet(conn, config, protocol).await?))
}

/// EHLO (falling back to HELO) or LHLO; the positive reply.
async fn greet(conn: &mut Conn, config: &ClientConfig, protocol: Protocol) -> Result<Reply, AttemptError> {
    let verb = match protocol {
        Protocol::Smtp => "EHLO",
        // LMTP has no fallback: a server that refuses LHLO is not an LMTP server.
        Protocol::Lmtp => {
            return conn
                .expect_positive(Some(&format!("LHLO {}\r\n", config.helo_name)), config.reply_timeout)
                .await;
        }
    };
    let ehlo = conn.command(&format!("{verb} {}\r\n", config.helo_name), config.reply_timeout).await?;
    if ehlo.is_positive() {
        return Ok(ehlo);
    }
    // 421 closes the connection (RFC 5321 3.8): there is nobody left to say HELO to.
    if ehlo.code == 421 {
        return Err(AttemptError::Refused { addr: conn.addr, reply: ehlo, stage: SmtpStage::Hello });
    }
    conn.expect_positive(Some(&format!("HELO {}\r\n", config.helo_name)), config.reply_timeout).await
}

/// What a TLS handshake negotiated.
#[derive(Debug, Clone)]
struct TlsInfo {
    protocol: String,
    cipher: String,
    certificate: Option<rustls_pki_types::CertificateDer<'static>>,
}

/// The handshake after a `220` to STARTTLS. On failure, the certificate the server showed
/// (if it got that far) comes with the error, for the probe's report.
async fn start_tls(
    mut conn: Conn,
    server_name: &str,
    mode: &TlsMode,
    config: &ClientConfig,
) -> Result<(Conn, TlsInfo), (AttemptError, Option<rustls_pki_types::CertificateDer<'static>>)> {
    let (addr, write_timeout) = (conn.addr, conn.write_timeout);
    // Anything the server sent after its 220 is not trusted (it arrived in plain text).
    conn.input.clear();
    let name = ServerName::try_from(server_name.to_string())
        .unwrap_or_else(|_| ServerName::IpAddress(addr.ip().into()));
    let (tls_config, verifier) = client_tls::setup(mode, &config.roots)
        .map_err(|reason| (AttemptError::Tls { addr, reason }, None))?;
    let connect = TlsConnector::from(tls_config).connect(name, conn.stream);
    let handshake = tokio::time::timeout(config.reply_timeout, connect).await;
    let stream: TlsStream<Box<dyn Io>> = match handshake {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            let reason = client_tls::handshake_failure(mode, server_name, &e);
            return Err((AttemptError::Tls { addr, reason }, verifier.certificate()));
        }
        Err(_) => {
            let reason = format!("{mode}: the TLS handshake timed out");
            return Err((AttemptError::Tls { addr, reason }, verifier.certificate()));
        }
    };
    let session = stream.get_ref().1;
    let info = TlsInfo {
        protocol: session.protocol_version().and_then(|v| v.as_str()).unwrap_or("unknown").into(),
        cipher: session
            .negotiated_cipher_suite()
            .and_then(|c| c.suite().as_str())
            .unwrap_or("unknown")
            .into(),
        certificate: verifier.certificate(),
    };
    Ok((Conn { stream: Box::new(stream), addr, input: Vec::new(), write_timeout }, info))
}

/// The server's answers to MAIL, each RCPT and (when pipelined) DATA.
struct EnvelopeReplies {
    mail: Reply,
    rcpts: Vec<Reply>,
    data: Option<Reply>,
}

/// MAIL and RCPTs (and DATA, pipelined) in one write when the server offers PIPELINING,
/// else one command at a time, stopping after a refused MAIL.
async fn send_envelope(
    conn: &mut Conn,
    caps: &Capabilities,
    config: &ClientConfig,
    mail: &str,
    rcpts: &[(u32, String)],
) -> Result<EnvelopeReplies, AttemptError> {
    let timeout = config.reply_timeout;
    let mut rcpt_replies = Vec::with_capacity(rcpts.len());
    if caps.pipelining {
        let mut batch = mail.to_string();
        rcpts.iter().for_each(|(_, c)| batch.push_str(c));
        batch.push_str("DATA\r\n");
        conn.send(batch.as_bytes()).await?;
        let mail = conn.reply(timeout).await?;
        for _ in rcpts {
            rcpt_replies.push(conn.reply(timeout).await?);
        }
        return Ok(EnvelopeReplies { mail, rcpts: rcpt_replies, data: Some(conn.reply(timeout).await?) });
    }
    let mail = conn.command(mail, timeout).await?;
    if mail.is_positive() {
        for (_, cmd) in rcpts {
            rcpt_replies.push(conn.command(cmd, timeout).await?);
        }
    }
    Ok(EnvelopeReplies { mail, rcpts: rcpt_replies, data: None })
}

/// MAIL, RCPT..., DATA and the content; an outcome per recipient, in index order, with
/// the command whose reply decided it.
async fn transaction(
    conn: &mut Conn,
    caps: &Capabilities,
    config: &ClientConfig,
    protocol: Protocol,
    envelope: &Envelope,
    recipients: &[u32],
    data: &[u8],
) -> Result<Vec<(u32, RecipientOutcome, SmtpStage)>, AttemptError> {
    let mail = mail_command(envelope, data.len(), caps);
    let rcpts: Vec<(u32, String)> = recipients
        .iter()
        .filter_map(|i| envelope.recipients.get(*i as usize).map(|r| (*i, rcpt_command(r, caps))))
        .collect();
    let replies = send_envelope(conn, caps, config, &mail, &rcpts).await?;
    if !replies.mail.is_positive() {
        let refused = |(i, _): &(u32, String)| (*i, negative(replies.mail.clone()), SmtpStage::MailFrom);
        return Ok(rcpts.iter().map(refused).collect());
    }
    let accepted: Vec<u32> =
        rcpts.iter().zip(&replies.rcpts).filter(|(_, r)| r.is_positive()).map(|((i, _), _)| *i).collect();
    let mut outcomes: Vec<(u32, RecipientOutcome, SmtpStage)> = rcpts
        .iter()
        .zip(&replies.rcpts)
        .filter(|(_, r)| !r.is_positive())
        .map(|((i, _), r)| (*i, negative(r.clone()), SmtpStage::RcptTo))
        .collect();
    if accepted.is_empty() {
        if replies.data.as_ref().is_some_and(|r| r.code == 354) {
            // Pipelined DATA was accepted without recipients: end it empty (RFC 2920 3.1).
            conn.send(b".\r\n").await?;
            let _ = conn.reply(config.reply_timeout).await;
        }
        return Ok(outcomes);
    }
    let data_reply = match replies.data {
        Some(reply) => reply,
        None => conn.command("DATA\r\n", config.reply_timeout).await?,
    };
    let (finals, stage) = if data_reply.code == 354 {
        conn.send(&dot_stuffed(data)).await?;
        (final_replies(conn, config, protocol, accepted.len()).await?, SmtpStage::EndOfData)
    } else {
        (vec![data_reply; accepted.len()], SmtpStage::Data)
    };
    outcomes.extend(accepted.iter().zip(finals).map(|(i, r)| (*i, outcome(r), stage)));
    outcomes.sort_by_key(|(i, _, _)| *i);
    Ok(outcomes)
}

/// The replies after the final dot, one per accepted recipient: SMTP's single reply
/// applies to all; LMTP sends one each (RFC 2033 4.2). If an LMTP server stops answering
/// part way, the recipients it already answered keep their outcome (a `250` there means
/// delivered: retrying them would deliver twice) and the rest are deferred.
async fn final_replies(
    conn: &mut Conn,
    config: &ClientConfig,
    protocol: Protocol,
    accepted: usize,
) -> Result<Vec<Reply>, AttemptError> {
    if protocol == Protocol::Smtp {
        return Ok(vec![conn.reply(config.data_end_timeout).await?; accepted]);
    }
    let mut replies = Vec::with_capacity(accepted);
    while replies.len() < accepted {
        match conn.reply(config.data_end_timeout).await {
            Ok(reply) => replies.push(reply),
            Err(e) if !replies.is_empty() => {
                let text = format!("no LMTP reply for this recipient: {e}");
                replies.resize(accepted, Reply::new(451, EnhancedCode::new(4, 4, 2), text));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(replies)
}

fn outcome(reply: Reply) -> RecipientOutcome {
    if reply.is_positive() { RecipientOutcome::Delivered(reply) } else { negative(reply) }
}

fn negative(reply: Reply) -> RecipientOutcome {
    if reply.is_permanent() { RecipientOutcome::Failed(reply) } else { RecipientOutcome::Deferred(reply) }
}
