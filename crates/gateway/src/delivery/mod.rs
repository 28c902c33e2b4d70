//! Delivery: the queue manager (`queue_manager`), the one owner of every retry, delay notice
//! and bounce, with where each recipient goes (`routing`), when a message is tried again
//! (`schedule`) and what a notification says (`notify`); and the delivery attempts, which
//! only report outcomes: local Maildir folders (`maildir`) and remote SMTP/LMTP servers
//! (`remote` over the client in `outbound`, whose `probe` validates an outbound connector).

pub mod maildir;
pub(crate) mod notify;
pub mod outbound;
pub(crate) mod queue_manager;
pub mod remote;
pub mod routing;
pub mod schedule;
