//! The snapshot a running server holds, and its refresh from a store. The lock guards only
//! the swap of one `Arc`: a session takes the current snapshot once when it starts and
//! then decides without any lock; a refresh builds the new snapshot before taking the lock.

use std::sync::{Arc, PoisonError, RwLock};

use crate::error::StoreError;
use crate::snapshot::Snapshot;
use crate::store::DirectoryStore;

/// What [`SharedSnapshot::refresh`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    Unchanged { generation: u64 },
    Replaced { from: u64, to: u64 },
}

#[derive(Debug)]
pub struct SharedSnapshot {
    current: RwLock<Arc<Snapshot>>,
}

impl SharedSnapshot {
    pub fn new(snapshot: Arc<Snapshot>) -> SharedSnapshot {
        SharedSnapshot { current: RwLock::new(snapshot) }
    }

    /// The snapshot to use for a whole session.
    pub fn current(&self) -> Arc<Snapshot> {
        // Nothing can panic while the lock is held (an Arc clone or assignment), so a
        // poisoned lock still holds a whole snapshot.
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn replace(&self, snapshot: Arc<Snapshot>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = snapshot;
    }

    /// Rebuilds from `store` when its generation differs from the current snapshot's. On
    /// any error the current snapshot stays in place: a bad edit never empties the
    /// directory of a running server.
    pub fn refresh(&self, store: &(impl DirectoryStore + ?Sized)) -> Result<Refresh, StoreError> {
        let from = self.current().generation();
        if store.generation()? == from {
            return Ok(Refresh::Unchanged { generation: from });
        }
        let fresh = store.snapshot()?;
        let to = fresh.generation();
        self.replace(fresh);
        Ok(Refresh::Replaced { from, to })
    }
}
