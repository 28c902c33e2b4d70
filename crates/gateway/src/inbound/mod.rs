//! The inbound SMTP listener: binds the configured addresses, admits connections within
//! the limits and runs one owned task per session. A panic in one session ends only that
//! session.

pub(crate) mod connection;
pub mod limits;
mod reputation;
mod stream;

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::enqueue::Enqueue;
use crate::settings::Settings;
use limits::ConnectionTable;

/// State shared by every session.
pub(crate) struct Shared {
    pub(crate) settings: RwLock<Arc<Settings>>,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) enqueue: Enqueue,
    pub(crate) throttling: Option<Arc<crate::throttling::Throttling>>,
    pub(crate) directory: Option<Arc<directory::SharedSnapshot>>,
    pub(crate) guard: Option<Arc<crate::guard::OutboundGuard>>,
    pub(crate) connections: Arc<ConnectionTable>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("tls", &self.tls.is_some()).finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn settings(&self) -> Arc<Settings> {
        Arc::clone(&self.settings.read().unwrap_or_else(PoisonError::into_inner))
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
        let limits = shared.settings().limits;
        match shared.connections.admit(peer.ip(), limits) {
            Ok(admission) => {
                let shared = Arc::clone(&shared);
                sessions.spawn(async move {
                    connection::serve(shared, socket, peer).await;
                    drop(admission);
                });
            }
            Err(reply) => {
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
