//! The inbound SMTP listener: binds the configured addresses, admits connections within
//! the limits and runs one owned task per session. A panic in one session ends only that
//! session.

pub mod authenticate;
pub mod checks;
pub(crate) mod connection;
pub mod deferral_log;
pub(crate) mod enqueue;
mod limits;
mod memory;
pub mod proxy;
pub mod received;
mod record;
mod reputation;
pub mod scanner;
pub mod screen;
mod stream;
pub mod throttling;
mod untrusted;

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::domains::StaticDomains;
use crate::guard::OutboundGuard;
use crate::inbound::enqueue::{Enqueue, Incoming};
use crate::metrics::{self, ConnectionRefusal};
use crate::settings::Settings;
use limits::ConnectionTable;
use memory::MemoryBudget;
use proxy::ProxyProtocol;
use smtp_wire::replies;
use smtp_wire::{Envelope, ReceivedMessage, Reply};

/// State shared by every session.
pub(crate) struct Shared {
    pub(crate) settings: RwLock<Arc<Settings>>,
    /// Replaced by a reload that changes the certificate or the client CA bundle; a session
    /// takes the acceptor current when it issues STARTTLS.
    pub(crate) tls: RwLock<Option<TlsAcceptor>>,
    /// `<admin_url>`, when reachable from outside: refusals link `<admin_url>/help/<code>`.
    pub(crate) help_url: Option<String>,
    pub(crate) enqueue: Enqueue,
    pub(crate) throttling: Option<Arc<crate::inbound::throttling::Throttling>>,
    pub(crate) directory: Option<Arc<directory::SharedSnapshot>>,
    /// Whether the directory can be trusted (each session asks when it starts).
    pub(crate) directory_health: Arc<crate::follower::DirectoryHealth>,
    pub(crate) guard: Option<Arc<crate::guard::OutboundGuard>>,
    pub(crate) screeners: Option<Arc<screen::Screeners>>,
    pub(crate) connections: Arc<ConnectionTable>,
    /// What DATA transfers hold in memory, all sessions together.
    pub(crate) data_memory: Arc<MemoryBudget>,
    pub(crate) recorder: crate::record::Recorder,
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("tls", &self.tls().is_some()).finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn settings(&self) -> Arc<Settings> {
        Arc::clone(&self.settings.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn tls(&self) -> Option<TlsAcceptor> {
        self.tls.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// What outbound protection judges a message with: the guard, the directory the session
/// started with and the config's static domains.
#[derive(Clone, Copy)]
pub(crate) struct Judge<'a> {
    pub(crate) guard: &'a OutboundGuard,
    pub(crate) directory: &'a directory::Snapshot,
    pub(crate) static_domains: &'a StaticDomains,
}

impl<'a> Judge<'a> {
    /// A judge when there is both a guard (protection configured) and a directory.
    pub(crate) fn of(
        guard: Option<&'a OutboundGuard>,
        directory: Option<&'a directory::Snapshot>,
        static_domains: &'a StaticDomains,
    ) -> Option<Judge<'a>> {
        Some(Judge { guard: guard?, directory: directory?, static_domains })
    }
}

/// Screens a message a session received (sender authentication, the content scanner, the
/// tenants' policy), holds it in the quarantine for the recipients the policy says, spools
/// it for the others (`incoming` and its `tail`, the content after the last piece) and,
/// only once the spool said yes, counts it for outbound protection: a message the spool
/// refused (`451`) and the client sends again counts once. A message that streamed to the
/// spool is not screened: its head already carries the marks that say so
/// ([`screen::Screeners::mark_unchecked`]). The message's attribution is already set;
/// `facts` are its recipients' (in envelope order).
pub(crate) async fn queue_message(
    enqueue: &Enqueue,
    screening: Screening<'_>,
    envelope: Envelope,
    mut incoming: Incoming,
    tail: Vec<u8>,
    facts: &[checks::RecipientFacts],
    throttle_accepted: u32,
) -> Result<String, Reply> {
    let Screening { judge, screeners, directory } = screening;
    let (mut envelope, mut tail) = (envelope, tail);
    let mut screened = screen::Screened::default();
    let mut held = None;
    if let Some(screeners) = screeners {
        match incoming.take_whole(tail) {
            Ok(content) => {
                let mut message = ReceivedMessage { envelope, content };
                screened = screeners.screen(directory, &mut message, facts).await?;
                if !screened.held.is_empty() {
                    held = Some(hold(enqueue, screeners, &mut message, &screened).await?);
                }
                (envelope, tail) = (message.envelope, message.content);
            }
            Err(streamed) => {
                tail = streamed;
                screened = screeners.unchecked(incoming.in_memory_max());
            }
        }
    }
    let outbound = judge.and_then(|j| {
        let content = incoming.judged(&tail);
        j.guard
            .assess(j.directory, j.static_domains, &envelope, &content, screened.scan.as_ref())
            .map(|o| (j.guard, o))
    });
    let notes =
        enqueue::Notes { auth: screened.auth_summary.clone(), scan: screened.scan_summary.clone(), held };
    if envelope.recipients.is_empty() {
        enqueue::log_held(&envelope, &notes);
        return notes.held.ok_or_else(smtp_wire::replies::spool_unavailable);
    }
    let queued = enqueue.store(envelope, incoming, tail, throttle_accepted, &notes).await?;
    if let Some((guard, outbound)) = outbound {
        guard.message_queued(outbound);
    }
    Ok(queued)
}

/// What a received message is screened and judged with.
#[derive(Clone, Copy)]
pub(crate) struct Screening<'a> {
    pub(crate) judge: Option<Judge<'a>>,
    pub(crate) screeners: Option<&'a screen::Screeners>,
    /// The directory the session started with (whose tenants the recipients are).
    pub(crate) directory: Option<&'a directory::Snapshot>,
}

/// Holds the message for the recipients screening set aside (durably, on a blocking thread)
/// and takes them out of its envelope; the quarantine id.
async fn hold(
    enqueue: &Enqueue,
    screeners: &screen::Screeners,
    message: &mut ReceivedMessage,
    screened: &screen::Screened,
) -> Result<String, Reply> {
    let mut held_envelope = message.envelope.clone();
    held_envelope.recipients =
        screened.held.iter().filter_map(|&i| message.envelope.recipients.get(i).cloned()).collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut data = received::received_header(&held_envelope, &enqueue.hostname, now.as_secs()).into_bytes();
    data.extend_from_slice(&message.content);
    let quarantine = Arc::clone(&screeners.quarantine);
    let (tenants, reasons) = (screened.held_tenants.clone(), screened.reasons.clone());
    let envelope = held_envelope.clone();
    let held = tokio::task::spawn_blocking(move || {
        quarantine.hold(crate::quarantine::Hold { envelope: &envelope, tenants, reasons, data: &data })
    })
    .await;
    match held {
        Ok(Ok(id)) => {
            tracing::info!(quarantine_id = %id, recipients = held_envelope.recipients.len(), reasons = %screened.reasons.join("; "), "message held in the quarantine");
            let mut index = 0;
            message.envelope.recipients.retain(|_| {
                index += 1;
                !screened.held.contains(&(index - 1))
            });
            Ok(id)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot hold the message in the quarantine; replying 451");
            Err(smtp_wire::replies::spool_unavailable())
        }
        Err(e) => {
            tracing::error!(error = %e, "quarantine task failed; replying 451");
            Err(smtp_wire::replies::spool_unavailable())
        }
    }
}

/// Binds a listener; IPv6 sockets are v6-only so that `0.0.0.0` and `[::]` can both be
/// configured on one port.
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Accepts connections until shutdown, then drains its sessions for at most `drain`.
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, drain: Duration) {
    let mut sessions = JoinSet::new();
    let mut stop = shared.shutdown.clone();
    loop {
        while let Some(done) = sessions.try_join_next() {
            report_session_end(done);
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        let (socket, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Typically EMFILE: back off briefly instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let settings = shared.settings();
        if let Some(proxy) = settings.proxy.as_ref().filter(|p| p.trusts(peer.ip())) {
            let (shared, proxy) = (Arc::clone(&shared), Arc::clone(proxy));
            sessions.spawn(async move { proxied(shared, socket, peer, &proxy).await });
            continue;
        }
        match shared.connections.admit(peer.ip(), settings.limits) {
            Ok(admission) => {
                let shared = Arc::clone(&shared);
                let open = OpenConnection::new();
                sessions.spawn(async move {
                    connection::serve(shared, socket, peer, connection::Arrival::Direct).await;
                    drop((admission, open));
                });
            }
            Err(reply) => {
                count_refusal(&reply);
                tracing::info!(client_ip = %peer.ip(), reply = %reply, "connection refused");
                sessions.spawn(refuse(socket, reply.to_wire()));
            }
        }
    }
    drop(listener);
    let deadline = tokio::time::sleep(drain);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            done = sessions.join_next() => match done {
                Some(done) => report_session_end(done),
                None => break,
            },
            _ = &mut deadline => {
                tracing::warn!(sessions = sessions.len(), "drain deadline passed, closing remaining sessions");
                sessions.shutdown().await;
                break;
            }
        }
    }
}

/// A connection from a trusted load balancer: its header first, then admission and the
/// session as the client it names.
async fn proxied(shared: Arc<Shared>, mut socket: TcpStream, balancer: SocketAddr, settings: &ProxyProtocol) {
    let (client, early) = match proxy::read_header(&mut socket, balancer, settings).await {
        Ok(read) => read,
        Err(problem) => {
            tracing::warn!(balancer = %balancer, %problem, "connection from a trusted load balancer (smtp.proxy_trusted) without a valid PROXY protocol header; refused");
            let reply = replies::proxy_header_expected();
            let m = metrics::global();
            m.connection_refused(ConnectionRefusal::ProxyHeaderMissing);
            m.reply_sent(&reply);
            return refuse(socket, reply.to_wire()).await;
        }
    };
    match shared.connections.admit(client.ip(), shared.settings().limits) {
        Ok(admission) => {
            let open = OpenConnection::new();
            tracing::debug!(client_ip = %client.ip(), balancer = %balancer, "PROXY protocol header read");
            connection::serve(shared, socket, client, connection::Arrival::Proxied { early }).await;
            drop((admission, open));
        }
        Err(reply) => {
            count_refusal(&reply);
            tracing::info!(client_ip = %client.ip(), balancer = %balancer, reply = %reply, "connection refused");
            refuse(socket, reply.to_wire()).await;
        }
    }
}

/// Counts a connection a limit refused (which one, told by its reply) and its reply.
fn count_refusal(reply: &Reply) {
    let why = if *reply == replies::too_many_connections() {
        ConnectionRefusal::Total
    } else {
        ConnectionRefusal::PerIp
    };
    let m = metrics::global();
    m.connection_refused(why);
    m.reply_sent(reply);
}

/// Counts an admitted connection as open until its session ends (or panics).
struct OpenConnection;

impl OpenConnection {
    fn new() -> OpenConnection {
        let m = metrics::global();
        m.connections.inc();
        m.connections_open.inc();
        OpenConnection
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::global().connections_open.dec();
    }
}

async fn refuse(mut socket: TcpStream, reply: Vec<u8>) {
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.write_all(&reply)).await;
    let _ = socket.shutdown().await;
}

fn report_session_end(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!(error = %e, "session task panicked; the process continues");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use directory::{DirectoryData, Snapshot};
    use protection::{HeuristicScorer, Protection, SenderDomainClass};
    use smtp_wire::Address;

    use crate::fixtures::{acme_outbound, acme_tenant};
    use spool::{Spool, SpoolConfig};

    use crate::delivery::queue_manager::QueueHandle;

    fn enqueue(spool: &Spool) -> Enqueue {
        Enqueue {
            spool: spool.clone(),
            hostname: "mx.sluice.test".into(),
            queue: QueueHandle::detached(),
            directory: None,
        }
    }

    /// Mail of tenant acme's own server from a sender domain acme never registered.
    async fn queue_outbound(
        enqueue: &Enqueue,
        guard: &OutboundGuard,
        directory: &Snapshot,
        statics: &StaticDomains,
    ) -> Result<String, Reply> {
        let envelope =
            acme_outbound(Address::new("it", "not-ours.test"), &[Address::new("friend", "remote.test")]);
        let content = b"Subject: lunch\r\n\r\nLunch tomorrow?\r\n".to_vec();
        let incoming = Incoming::new(1 << 20, true);
        let judge = Judge { guard, directory, static_domains: statics };
        let screening = Screening { judge: Some(judge), screeners: None, directory: Some(directory) };
        queue_message(enqueue, screening, envelope, incoming, content, &[], 0).await
    }

    /// The allowance of one message from an unregistered domain: a message the spool
    /// refuses uses none of it, the client's retry uses it once.
    #[tokio::test]
    async fn a_message_the_spool_refused_counts_once_when_the_client_sends_it_again() {
        let directory =
            Snapshot::build(DirectoryData { tenants: vec![acme_tenant()], ..DirectoryData::default() })
                .expect("snapshot");
        let policy =
            protection::Policy { unregistered_sender_messages_per_day: 1, ..protection::Policy::default() };
        let guard = OutboundGuard::new(Protection::new(policy, Box::new(HeuristicScorer)));
        let statics = StaticDomains::new(&["example.test".to_string()]);
        let allowance_left = || {
            let now = guard.now_unix_s();
            guard
                .protection
                .check_sender(now, "acme", "it@not-ours.test", SenderDomainClass::Unregistered)
                .is_ok()
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let closed = Spool::open(SpoolConfig::new(dir.path().join("closed"))).expect("spool").spool;
        let broken = enqueue(&closed);
        closed.close();
        let refused = queue_outbound(&broken, &guard, &directory, &statics).await;
        let reply = refused.expect_err("the spool is closed");
        assert!(reply.summary().starts_with("451 4.3.0"), "{}", reply.summary());
        assert!(allowance_left(), "a message the spool refused was counted");
        let spool = Spool::open(SpoolConfig::new(dir.path().join("spool"))).expect("spool").spool;
        let queued = queue_outbound(&enqueue(&spool), &guard, &directory, &statics).await;
        assert!(queued.is_ok(), "{queued:?}");
        assert!(!allowance_left(), "the retry, queued, uses the allowance");
        spool.close();
    }
}
