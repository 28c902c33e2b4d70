//! Drives one SMTP session over a socket: reads with the phase's timeout, feeds the sans-IO
//! session, writes its replies (flushing only when it needs input, which is what makes
//! PIPELINING work), performs STARTTLS and hands complete messages to the enqueue step.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_wire::{Action, Phase, Reply, Session, replies};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::proxy;
use super::reputation::{DnsblChecks, PendingLookup, next_is_mail};
use super::stream::Stream;
use super::{Shared, queue_message};
use crate::inbound::checks::SessionChecks;
use crate::settings::Settings;

const READ_CHUNK_BYTES: usize = 16 * 1024;

/// How a session ended, for the connection log line.
#[derive(Debug)]
enum End {
    ClientClosed,
    Closed,
    Timeout,
    ShutDown,
    Io(std::io::Error),
    TlsHandshake(std::io::Error),
}

struct Connection {
    stream: Stream,
    peer: SocketAddr,
    input: Vec<u8>,
    output: Vec<u8>,
    shutdown: watch::Receiver<bool>,
    data_started: Option<Instant>,
}

/// How a connection reached the listener.
#[derive(Debug)]
pub(crate) enum Arrival {
    /// Straight from the client.
    Direct,
    /// Through a trusted load balancer; `early` is what the client sent after the PROXY
    /// header and before the banner (read with the header), which the pre-greet check
    /// refuses.
    Proxied { early: Vec<u8> },
}

/// Serves one accepted connection until it ends. `peer` is the client (from the PROXY
/// header when a load balancer sent one).
pub(crate) async fn serve(shared: Arc<Shared>, socket: TcpStream, peer: SocketAddr, arrival: Arrival) {
    let settings = shared.settings();
    let mut conn = Connection {
        stream: Stream::Plain(socket),
        peer,
        input: Vec::with_capacity(READ_CHUNK_BYTES),
        output: Vec::with_capacity(1024),
        shutdown: shared.shutdown.clone(),
        data_started: None,
    };
    let end = match conn.pregreet(&settings, arrival).await {
        Some(reply) => conn.finish(reply).await,
        None => run_session(&shared, &settings, &mut conn).await,
    };
    match end {
        End::Io(e) => tracing::debug!(client_ip = %peer.ip(), error = %e, "connection lost"),
        End::TlsHandshake(e) => {
            let error = crate::tls::problems::io_problem(&e);
            tracing::info!(client_ip = %peer.ip(), %error, "TLS handshake failed");
        }
        other => tracing::debug!(client_ip = %peer.ip(), end = ?other, "connection closed"),
    }
}

async fn run_session(shared: &Shared, settings: &Settings, conn: &mut Connection) -> End {
    let mut session = Session::new(Arc::clone(&settings.session), conn.peer.ip());
    session.greeting().write_to(&mut conn.output);
    // The directory snapshot of the session's start: a change applies to new sessions.
    let directory = shared.directory.as_ref().map(|d| d.current());
    let protection = shared.guard.as_ref().map(|g| &g.protection);
    // Runs while the banner goes out and EHLO is answered; MAIL FROM waits for it.
    let mut dnsbl = PendingLookup::start(settings.client_checks.dnsbl.as_ref(), conn.peer.ip());
    let mut checks = DnsblChecks {
        session: SessionChecks::new(
            &settings.static_domains,
            directory.as_deref(),
            shared.throttling.as_deref(),
            protection,
            conn.peer.ip(),
        ),
        listing: None,
    };
    loop {
        if dnsbl.is_pending() && session.phase() == Phase::Command && next_is_mail(&conn.input) {
            // Replies already due go out before the wait.
            if let Err(end) = conn.flush().await {
                return end;
            }
            checks.listing = dnsbl.finish().await;
        }
        let step = session.step(&conn.input, &checks);
        conn.input.drain(..step.consumed);
        match step.action {
            Action::Reply(reply) => reply.write_to(&mut conn.output),
            Action::NeedInput => {
                if let Err(end) = conn.read_more(&session, settings).await {
                    return end;
                }
            }
            Action::StartTls(reply) => {
                reply.write_to(&mut conn.output);
                conn.input.clear();
                match conn.start_tls(shared, settings).await {
                    Ok((description, names)) => {
                        checks.session.tls_established(&mut session, description, names)
                    }
                    Err(end) => return end,
                }
            }
            Action::Message(mut message) => {
                conn.data_started = None;
                message.envelope.client.attribution = checks.session.attribution();
                let guard = shared.guard.as_deref();
                let reply = queue_message(
                    &shared.enqueue,
                    guard,
                    directory.as_deref(),
                    &settings.static_domains,
                    *message,
                    checks.session.take_throttle_accepted(),
                )
                .await;
                session.message_stored(reply).write_to(&mut conn.output);
            }
            Action::Close(reply) => return conn.finish(reply).await,
        }
        if session.phase() == Phase::Data && conn.data_started.is_none() {
            conn.data_started = Some(Instant::now());
        }
    }
}

impl Connection {
    /// Pre-greet test: a client that talks before the banner is not a real MTA. With the
    /// PROXY protocol on, a direct client gets at least [`proxy::SNIFF`] to show whether it
    /// sends a PROXY header it is not trusted to send.
    async fn pregreet(&mut self, settings: &Settings, arrival: Arrival) -> Option<Reply> {
        let sniff = match arrival {
            Arrival::Proxied { early } if !early.is_empty() => {
                tracing::info!(client_ip = %self.peer.ip(), "pre-greet traffic, connection refused");
                return Some(replies::pregreet());
            }
            Arrival::Proxied { .. } => false,
            Arrival::Direct => settings.proxy.is_some(),
        };
        let Stream::Plain(socket) = &mut self.stream else { return None };
        let mut probe = [0u8; 64];
        let delay = match sniff {
            true => settings.timeouts.greeting_delay.max(proxy::SNIFF),
            false => settings.timeouts.greeting_delay,
        };
        let early = if delay.is_zero() {
            socket.try_read(&mut probe).ok()
        } else {
            tokio::time::timeout(delay, socket.read(&mut probe)).await.ok().and_then(Result::ok)
        };
        match early {
            Some(n) if n > 0 && sniff && proxy::looks_like_header(&probe[..n]) => {
                tracing::warn!(client_ip = %self.peer.ip(), "PROXY protocol header from an address smtp.proxy_trusted does not list; connection refused");
                Some(replies::proxy_header_untrusted(self.peer.ip()))
            }
            Some(n) if n > 0 => {
                tracing::info!(client_ip = %self.peer.ip(), "pre-greet traffic, connection refused");
                Some(replies::pregreet())
            }
            _ => None,
        }
    }

    /// Flushes pending replies and reads more input, honouring timeouts and shutdown.
    async fn read_more(&mut self, session: &Session, settings: &Settings) -> Result<(), End> {
        self.flush().await?;
        let timeout = self.timeout(session.phase(), settings);
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        let shutting_down = *self.shutdown.borrow();
        if shutting_down && session.phase() == Phase::Command {
            let reply = replies::shutting_down(&settings.session.hostname);
            self.finish(reply).await;
            return Err(End::ShutDown);
        }
        let read = tokio::select! {
            read = tokio::time::timeout(timeout, self.stream.read(&mut chunk)) => read,
            _ = self.shutdown.changed(), if !shutting_down && session.phase() == Phase::Command => {
                let reply = replies::shutting_down(&settings.session.hostname);
                self.finish(reply).await;
                return Err(End::ShutDown);
            }
        };
        match read {
            Err(_elapsed) => {
                self.finish(session.timeout_reply()).await;
                Err(End::Timeout)
            }
            Ok(Ok(0)) => Err(End::ClientClosed),
            Ok(Ok(n)) => {
                self.input.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Ok(Err(e)) => Err(End::Io(e)),
        }
    }

    /// Idle timeout for commands; for DATA the smaller of the idle timeout and what is
    /// left of the total DATA allowance, so a slow-loris cannot hold a slot forever.
    fn timeout(&self, phase: Phase, settings: &Settings) -> Duration {
        let t = &settings.timeouts;
        match (phase, self.data_started) {
            (Phase::Data, Some(started)) => t.data_idle.min(t.data_total.saturating_sub(started.elapsed())),
            (Phase::Data, None) => t.data_idle,
            (Phase::Command, _) => t.command,
        }
    }

    /// Returns the TLS description and the verified client certificate's names.
    async fn start_tls(
        &mut self,
        shared: &Shared,
        settings: &Settings,
    ) -> Result<(String, Vec<String>), End> {
        self.flush().await?;
        let Some(acceptor) = shared.tls.clone() else {
            return Err(End::Closed);
        };
        let Stream::Plain(socket) = std::mem::replace(&mut self.stream, Stream::Upgrading) else {
            return Err(End::Closed);
        };
        let tls = acceptor.accept(socket).await.map_err(End::TlsHandshake)?;
        let (_, state) = tls.get_ref();
        let version = state.protocol_version().and_then(|v| v.as_str()).unwrap_or("TLS");
        let suite = state.negotiated_cipher_suite().and_then(|s| s.suite().as_str()).unwrap_or("unknown");
        let description = format!("{version} with cipher {suite}");
        let names = match (state.peer_certificates(), &settings.client_checks.client_ca) {
            (None, _) => Vec::new(),
            (Some(chain), Some(ca)) => match ca.verified_names(chain) {
                Ok(names) => names,
                Err(e) => {
                    tracing::info!(client_ip = %self.peer.ip(), tls = %description, reason = %e, "client certificate not trusted; the session goes on without it");
                    Vec::new()
                }
            },
            (Some(_), None) => Vec::new(),
        };
        if names.is_empty() {
            tracing::debug!(client_ip = %self.peer.ip(), tls = %description, "TLS established");
        } else {
            let names = names.join(",");
            tracing::info!(client_ip = %self.peer.ip(), tls = %description, client_cert = %names, "TLS established with a verified client certificate");
        }
        self.stream = Stream::Tls(Box::new(tls));
        Ok((description, names))
    }

    async fn flush(&mut self) -> Result<(), End> {
        if self.output.is_empty() {
            return Ok(());
        }
        let result = self.stream.write_all(&self.output).await;
        self.output.clear();
        result.map_err(End::Io)?;
        self.stream.flush().await.map_err(End::Io)
    }

    /// Sends a last reply and closes.
    async fn finish(&mut self, reply: Reply) -> End {
        reply.write_to(&mut self.output);
        if let Err(end) = self.flush().await {
            return end;
        }
        let _ = self.stream.shutdown().await;
        End::Closed
    }
}
