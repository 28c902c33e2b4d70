//! Drives one SMTP session over a socket: reads within the phase's deadline, feeds the
//! sans-IO session, writes its replies (flushing only when it needs input, which is what
//! makes PIPELINING work), performs STARTTLS and passes message content on to the enqueue
//! step as it arrives.
//!
//! Every wait is bounded by a deadline that input does not push back: a command line must
//! arrive whole within `command` (a client dripping a byte at a time runs out of time), a
//! DATA transfer within `data_total` (and no pause longer than `data_idle`), the TLS
//! handshake within `tls_handshake`, and the session within `session`. Near the connection
//! cap the server is under stress: the command deadline and the longest DATA pause shrink
//! to `stress_command`, and the session allows fewer errors, as Postfix does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_wire::{Action, Envelope, Phase, Reply, Session, replies};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::enqueue::Incoming;
use super::memory::{READ_CHUNK_BYTES, Reservation, TransferMemory};
use super::proxy;
use super::record::{self, RecordingChecks};
use super::reputation::{DnsblChecks, PendingLookup, next_is_mail};
use super::stream::Stream;
use super::untrusted::UntrustedDirectory;
use super::{Judge, Screening, Shared, queue_message};
use crate::inbound::checks::{RecipientFacts, SessionChecks};
use crate::metrics::{self, ConnectionRefusal};
use crate::settings::Settings;

/// How a session ended, for the connection log line.
#[derive(Debug)]
enum End {
    ClientClosed,
    Closed,
    Timeout,
    ShutDown,
    Io(std::io::Error),
    TlsHandshake(std::io::Error),
    TlsHandshakeTimeout,
}

struct Connection {
    stream: Stream,
    peer: SocketAddr,
    input: Vec<u8>,
    output: Vec<u8>,
    shutdown: watch::Receiver<bool>,
    deadlines: Deadlines,
}

/// When the current wait must end.
struct Deadlines {
    /// The whole session.
    session: Instant,
    /// Since when the server waits for the current command line (`None`: not waiting).
    line_started: Option<Instant>,
    /// Since when the current DATA transfer runs.
    data_started: Option<Instant>,
    /// When input last arrived (DATA's idle time runs from it).
    last_input: Instant,
}

/// A DATA transfer under way: its memory reservation and its content so far.
struct Transfer {
    /// Held until the message is stored or dropped.
    _memory: Reservation,
    envelope: Envelope,
    incoming: Incoming,
    /// Content bytes taken so far (the trace's size).
    content_bytes: u64,
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
        deadlines: Deadlines {
            session: Instant::now() + settings.timeouts.session,
            line_started: None,
            data_started: None,
            last_input: Instant::now(),
        },
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
        End::TlsHandshakeTimeout => {
            let after = settings.timeouts.tls_handshake;
            tracing::info!(client_ip = %peer.ip(), ?after, "TLS handshake not completed in time; connection closed");
        }
        other => tracing::debug!(client_ip = %peer.ip(), end = ?other, "connection closed"),
    }
}

async fn run_session(shared: &Shared, settings: &Settings, conn: &mut Connection) -> End {
    let mut session = Session::new(Arc::clone(&settings.session), conn.peer.ip());
    conn.reply(&session.greeting());
    // The directory snapshot of the session's start: a change applies to new sessions.
    let directory = shared.directory.as_ref().map(|d| d.current());
    let protection = shared.guard.as_ref().map(|g| &g.protection);
    // Runs while the banner goes out and EHLO is answered; MAIL FROM waits for it.
    let mut dnsbl = PendingLookup::start(settings.client_checks.dnsbl.as_ref(), conn.peer.ip());
    let session_checks = SessionChecks::new(
        &settings.static_domains,
        directory.as_deref(),
        shared.throttling.as_deref(),
        protection,
        conn.peer.ip(),
    );
    // Refusals link their help page when the admin center is reachable from outside.
    let dnsbl_checks = DnsblChecks::new(match shared.help_url.as_deref() {
        Some(url) => session_checks.with_help(url),
        None => session_checks,
    });
    // Outermost, the trace records each refusal as the client gets it.
    let mut checks = RecordingChecks {
        inner: UntrustedDirectory {
            inner: dnsbl_checks,
            static_domains: &settings.static_domains,
            trusted: shared.directory_health.trusted(),
        },
        recorder: &shared.recorder,
        directory: directory.as_deref(),
    };
    let mut transfer: Option<Transfer> = None;
    loop {
        if dnsbl.is_pending() && session.phase() == Phase::Command && next_is_mail(&conn.input) {
            // Replies already due go out before the wait.
            if let Err(end) = conn.flush(settings, false).await {
                return end;
            }
            checks.inner.inner.set_listing(dnsbl.finish().await);
        }
        session.set_stress(shared.connections.stressed(&settings.limits));
        let step = session.step(&conn.input, &checks);
        conn.input.drain(..step.consumed);
        if step.consumed > 0 {
            // A command line (or content) arrived: the next line gets its own deadline.
            conn.deadlines.line_started = None;
        }
        match step.action {
            Action::Reply(reply) => conn.reply(&reply),
            Action::NeedInput => {
                if let Err(end) = conn.read_more(&session, shared, settings).await {
                    return end;
                }
            }
            Action::StartTls(reply) => {
                conn.reply(&reply);
                conn.input.clear();
                match conn.start_tls(shared, settings).await {
                    Ok((description, names)) => {
                        checks.inner.inner.session.tls_established(&mut session, description, names)
                    }
                    Err(end) => return end,
                }
            }
            Action::StartData(mut envelope) => {
                envelope.client.attribution = checks.inner.inner.session.attribution();
                let admitted = admit_transfer(shared, settings, conn.peer, *envelope);
                let reply = session.data_admitted(admitted.as_ref().map(|_| ()).map_err(Clone::clone));
                conn.reply(&reply);
                transfer = admitted.ok();
                conn.deadlines.data_started = transfer.as_ref().map(|_| Instant::now());
            }
            Action::Message(message) => {
                conn.deadlines.data_started = None;
                let facts = checks.inner.inner.session.take_recipients();
                let throttle_accepted = checks.inner.inner.session.take_throttle_accepted();
                let reply = match transfer.take() {
                    Some(t) => {
                        let client_cert = session.info().tls_client_names.first().map(String::as_str);
                        let arrival = shared.recorder.is_on().then(|| {
                            record::arrival(
                                &t.envelope,
                                t.content_facts(&message.content),
                                client_cert,
                                directory.as_deref(),
                            )
                        });
                        let recipients = (facts.as_slice(), throttle_accepted);
                        let stored = t
                            .store(shared, settings, directory.as_deref(), message.content, recipients)
                            .await;
                        if let (Ok(id), Some(arrival)) = (&stored, arrival) {
                            shared.recorder.record(record::arrived(arrival, id));
                        }
                        stored
                    }
                    None => Err(replies::spool_unavailable()),
                };
                conn.reply(&session.message_stored(reply));
            }
            Action::Content(piece) => {
                if let Some(t) = transfer.as_mut() {
                    t.content_bytes += piece.len() as u64;
                    shared.enqueue.take_piece(&mut t.incoming, &t.envelope, piece).await;
                }
            }
            Action::DataRefused(reply) => {
                (transfer, conn.deadlines.data_started) = (None, None);
                conn.reply(&reply);
            }
            Action::Close(reply) => return conn.finish(reply).await,
        }
    }
}

impl Transfer {
    /// What the trace keeps of the content, `tail` being what came after the last piece:
    /// its Message-ID and Subject (from the header section, which a streamed message had in
    /// memory when it started streaming) and its size.
    fn content_facts(&self, tail: &[u8]) -> record::ContentFacts {
        let (message_id, subject) = self.incoming.identity(tail);
        record::ContentFacts { message_id, subject, size_bytes: self.content_bytes + tail.len() as u64 }
    }

    /// Spools the message (`tail`: the content after the last piece); its memory is given
    /// back once the spool answered.
    async fn store(
        self,
        shared: &Shared,
        settings: &Settings,
        directory: Option<&directory::Snapshot>,
        tail: Vec<u8>,
        recipients: (&[RecipientFacts], u32),
    ) -> Result<String, Reply> {
        let Transfer { _memory, envelope, incoming, .. } = self;
        let judge = Judge::of(shared.guard.as_deref(), directory, &settings.static_domains);
        let screening = Screening { judge, screeners: shared.screeners.as_deref(), directory };
        let (facts, throttle_accepted) = recipients;
        queue_message(&shared.enqueue, screening, envelope, incoming, tail, facts, throttle_accepted).await
    }
}

/// Reserves the memory a DATA transfer needs; `452 4.3.1` when the budget is used up.
fn admit_transfer(
    shared: &Shared,
    settings: &Settings,
    peer: SocketAddr,
    envelope: Envelope,
) -> Result<Transfer, Reply> {
    let limits = &settings.data_memory;
    let memory = TransferMemory::for_message(&envelope, limits, settings.session.data_chunk_bytes);
    let Some(reservation) = shared.data_memory.reserve(memory.reserved, limits.total_bytes_max) else {
        tracing::warn!(
            client_ip = %peer.ip(),
            reserved = shared.data_memory.used(),
            budget = limits.total_bytes_max,
            "DATA refused: the memory budget of transfers is used up (smtp.data_memory_total_bytes_max)"
        );
        return Err(replies::data_memory_exhausted());
    };
    // Outbound protection judges a tenant's outbound mail by its content.
    let outbound = envelope.client.attribution.as_ref().is_some_and(|a| a.outbound_relay);
    let mut incoming = Incoming::new(memory.in_memory_max, outbound);
    if let Some(screeners) = &shared.screeners {
        incoming.mark_unchecked(std::sync::Arc::clone(screeners));
    }
    Ok(Transfer { _memory: reservation, envelope, incoming, content_bytes: 0 })
}

impl Connection {
    /// Pre-greet test: a client that talks before the banner is not a real MTA. With the
    /// PROXY protocol on, a direct client gets at least [`proxy::SNIFF`] to show whether it
    /// sends a PROXY header it is not trusted to send.
    async fn pregreet(&mut self, settings: &Settings, arrival: Arrival) -> Option<Reply> {
        let sniff = match arrival {
            Arrival::Proxied { early } if !early.is_empty() => {
                metrics::global().connection_refused(ConnectionRefusal::Pregreet);
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
                metrics::global().connection_refused(ConnectionRefusal::ProxyHeaderUntrusted);
                Some(replies::proxy_header_untrusted(self.peer.ip()))
            }
            Some(n) if n > 0 => {
                metrics::global().connection_refused(ConnectionRefusal::Pregreet);
                tracing::info!(client_ip = %self.peer.ip(), "pre-greet traffic, connection refused");
                Some(replies::pregreet())
            }
            _ => None,
        }
    }

    /// Flushes pending replies and reads more input, within the phase's deadline and
    /// honouring shutdown. The wait wakes at least every stress timeout to see whether the
    /// server came under stress meanwhile (the deadline then shrinks for waits under way).
    async fn read_more(
        &mut self,
        session: &Session,
        shared: &Shared,
        settings: &Settings,
    ) -> Result<(), End> {
        let stressed = || shared.connections.stressed(&settings.limits);
        self.flush(settings, stressed()).await?;
        let phase = session.phase();
        let hostname = &settings.session.hostname;
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        loop {
            let shutting_down = *self.shutdown.borrow();
            if shutting_down && phase == Phase::Command {
                self.finish(replies::shutting_down(hostname)).await;
                return Err(End::ShutDown);
            }
            let now = Instant::now();
            let session_over = phase == Phase::Command && now >= self.deadlines.session;
            let allowed = self.wait_allowed(phase, settings, stressed(), now);
            if session_over || allowed.is_zero() {
                let reply =
                    if session_over { replies::session_too_long(hostname) } else { session.timeout_reply() };
                self.finish(reply).await;
                return Err(End::Timeout);
            }
            let slice = allowed.min(settings.timeouts.stress_command);
            let read = tokio::select! {
                read = tokio::time::timeout(slice, self.stream.read(&mut chunk)) => read,
                _ = self.shutdown.changed(), if !shutting_down && phase == Phase::Command => continue,
            };
            return match read {
                Err(_slice_elapsed) => continue,
                Ok(Ok(0)) => Err(End::ClientClosed),
                Ok(Ok(n)) => {
                    self.input.extend_from_slice(&chunk[..n]);
                    self.deadlines.last_input = Instant::now();
                    Ok(())
                }
                Ok(Err(e)) => Err(End::Io(e)),
            };
        }
    }

    /// How long the next read may wait. Commands: what is left of the line's deadline
    /// (started when the server became ready for the line, not moved by partial input) and
    /// of the session's. DATA: what is left of the idle time since the last input, within
    /// what is left of the transfer's total. Under stress the line deadline and the DATA
    /// idle time are the stress timeout.
    fn wait_allowed(&mut self, phase: Phase, settings: &Settings, stressed: bool, now: Instant) -> Duration {
        let t = &settings.timeouts;
        let command = if stressed { t.stress_command.min(t.command) } else { t.command };
        match phase {
            Phase::Command => {
                let started = *self.deadlines.line_started.get_or_insert(now);
                let line_left = command.saturating_sub(now.duration_since(started));
                line_left.min(self.deadlines.session.saturating_duration_since(now))
            }
            Phase::Data => {
                let idle = if stressed { t.data_idle.min(command) } else { t.data_idle };
                let idle_left = idle.saturating_sub(now.saturating_duration_since(self.deadlines.last_input));
                let started = *self.deadlines.data_started.get_or_insert(now);
                idle_left.min(t.data_total.saturating_sub(now.duration_since(started)))
            }
        }
    }

    /// Returns the TLS description and the verified client certificate's names.
    async fn start_tls(
        &mut self,
        shared: &Shared,
        settings: &Settings,
    ) -> Result<(String, Vec<String>), End> {
        self.flush(settings, false).await?;
        let Some(acceptor) = shared.tls() else {
            return Err(End::Closed);
        };
        let Stream::Plain(socket) = std::mem::replace(&mut self.stream, Stream::Upgrading) else {
            return Err(End::Closed);
        };
        // A client that goes silent after `220 Ready to start TLS` must not keep its slot.
        let handshake = tokio::time::timeout(settings.timeouts.tls_handshake, acceptor.accept(socket));
        let tls = handshake.await.map_err(|_| End::TlsHandshakeTimeout)?.map_err(End::TlsHandshake)?;
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

    /// Writes pending replies; a client that does not read them gets the command deadline
    /// (the stress one under stress) to take them.
    async fn flush(&mut self, settings: &Settings, stressed: bool) -> Result<(), End> {
        if self.output.is_empty() {
            return Ok(());
        }
        let t = &settings.timeouts;
        let limit = if stressed { t.stress_command.min(t.command) } else { t.command };
        let write = async {
            self.stream.write_all(&self.output).await?;
            self.stream.flush().await
        };
        let result = tokio::time::timeout(limit, write).await;
        self.output.clear();
        match result {
            Ok(written) => written.map_err(End::Io),
            Err(_elapsed) => Err(End::Timeout),
        }
    }

    /// Queues a reply for sending, counting it.
    fn reply(&mut self, reply: &Reply) {
        metrics::global().reply_sent(reply);
        reply.write_to(&mut self.output);
    }

    /// Sends a last reply and closes.
    async fn finish(&mut self, reply: Reply) -> End {
        self.reply(&reply);
        let limit = Duration::from_secs(5);
        let sent = tokio::time::timeout(limit, async {
            if !self.output.is_empty() {
                self.stream.write_all(&self.output).await?;
                self.stream.flush().await?;
            }
            self.stream.shutdown().await
        })
        .await;
        self.output.clear();
        match sent {
            Ok(Err(e)) => End::Io(e),
            _ => End::Closed,
        }
    }
}
