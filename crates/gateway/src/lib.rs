//! The gateway: the only crate with sockets. Inbound SMTP sessions (`inbound`), the
//! enqueue step that alone writes new messages to the spool (`enqueue`), the queue manager
//! that alone decides about delivery and retries (`queue_manager`), and local delivery into
//! Maildir (`maildir`).
//!
//! Invariants: a `250` after DATA is sent only once the spool reports the message durable;
//! every task is owned (a `JoinSet` or a handle kept by [`Gateway`]); a panic in a session or
//! a delivery attempt never takes the process down; shutdown drains with a deadline.

mod enqueue;
mod inbound;
pub mod maildir;
pub mod policy;
mod queue_manager;
pub mod received;
pub mod settings;
pub mod tls;

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};

use spool::{Spool, SpoolConfig};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use settings::{ConnectionLimits, DeliveryConfig, GatewayConfig, Settings, Timeouts};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("spool: {0}")]
    Spool(#[from] spool::SpoolError),
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    shared: Arc<inbound::Shared>,
    stop: watch::Sender<bool>,
    listeners: JoinSet<()>,
    queue_manager: tokio::task::JoinHandle<()>,
    spool: Spool,
    local_addrs: Vec<SocketAddr>,
}

impl Gateway {
    /// Recovers the spool, starts delivery and listens. Must run inside a tokio runtime.
    pub async fn start(config: GatewayConfig) -> Result<Gateway, GatewayError> {
        let spool_config = SpoolConfig::new(config.spool_dir.clone());
        let (spool, recovered) = Spool::open(spool_config)?;
        tracing::info!(messages = recovered.len(), "spool recovered");
        let tls = match &config.tls {
            Some(source) => Some(tokio_rustls::TlsAcceptor::from(tls::server_config(source)?)),
            None => None,
        };
        let mut settings = config.settings.clone();
        let mut session = (*settings.session).clone();
        session.starttls = tls.is_some();
        settings.session = Arc::new(session);
        let postmaster = settings.policy.postmaster_domain().map(str::to_string);
        let delivery =
            maildir::MaildirDelivery::new(config.delivery.maildir_root.clone(), &config.hostname, postmaster);
        let (manager, queue) =
            queue_manager::QueueManager::new(spool.clone(), delivery, config.delivery.clone(), recovered);
        let (stop, stop_rx) = watch::channel(false);
        let queue_manager = tokio::spawn(manager.run(stop_rx.clone()));
        let shared = Arc::new(inbound::Shared {
            settings: RwLock::new(Arc::new(settings)),
            tls,
            enqueue: enqueue::Enqueue { spool: spool.clone(), hostname: config.hostname.clone(), queue },
            connections: Arc::default(),
            shutdown: stop_rx,
        });
        let mut listeners = JoinSet::new();
        let mut local_addrs = Vec::new();
        for addr in &config.listen {
            let listener =
                inbound::bind(*addr).map_err(|source| GatewayError::Bind { addr: *addr, source })?;
            let local = listener.local_addr().map_err(|source| GatewayError::Bind { addr: *addr, source })?;
            tracing::info!(listen = %local, "SMTP listener started");
            local_addrs.push(local);
            listeners.spawn(inbound::accept_loop(Arc::clone(&shared), listener, config.drain));
        }
        Ok(Gateway { shared, stop, listeners, queue_manager, spool, local_addrs })
    }

    /// The addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Replaces the reloadable settings; sessions already running keep theirs.
    pub fn reload(&self, mut settings: Settings) {
        let mut session = (*settings.session).clone();
        session.starttls = self.shared.tls.is_some();
        settings.session = Arc::new(session);
        *self.shared.settings.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(settings);
        tracing::info!("settings reloaded");
    }

    /// Stops accepting, lets sessions finish within the drain deadline, lets delivery
    /// attempts in flight finish, and closes the spool.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.listeners.join_next().await.is_some() {}
        let _ = (&mut self.queue_manager).await;
        drop(self.shared);
        self.spool.close();
        tracing::info!("gateway stopped");
    }
}
