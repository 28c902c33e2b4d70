//! The directory follower: one background task that keeps the gateway in step with the
//! directory store. Twice a second (and at once when the outbound guard has a new trip) it
//! writes the guard's new trips to the store, rebuilds the shared snapshot when the store's
//! generation moved (new sessions and routing use it), and reconciles the guard's trips with
//! the snapshot's blocks. All its store access runs on a blocking thread.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use directory::{DirectoryStore, Refresh, SharedSnapshot};
use tokio::sync::watch;

use crate::guard::OutboundGuard;

/// The directory store the gateway was handed, shared by the follower's blocking calls.
pub(crate) type SharedStore = Arc<Mutex<Box<dyn DirectoryStore + Send>>>;

/// How often the store's generation is polled: a change made by the CLI, the admin API or
/// another node of a fleet is in force here within this time and one rebuild.
const POLL: Duration = Duration::from_millis(500);

/// Follows the store until shutdown; a last round at shutdown writes trips still pending.
pub(crate) async fn run(
    store: SharedStore,
    snapshot: Arc<SharedSnapshot>,
    guard: Option<Arc<OutboundGuard>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(POLL);
    loop {
        let woken = async {
            match &guard {
                Some(guard) => guard.wake_follower.notified().await,
                None => std::future::pending().await,
            }
        };
        let stopping = tokio::select! {
            _ = ticker.tick() => false,
            _ = woken => false,
            _ = stop.changed() => true,
        };
        follow_once(&store, &snapshot, guard.as_ref()).await;
        if stopping {
            break;
        }
    }
}

/// One round: write new trips, refresh the snapshot, reconcile the trips with it.
pub(crate) async fn follow_once(
    store: &SharedStore,
    snapshot: &Arc<SharedSnapshot>,
    guard: Option<&Arc<OutboundGuard>>,
) {
    let (store, refresher, writer) = (Arc::clone(store), Arc::clone(snapshot), guard.map(Arc::clone));
    let refreshed = tokio::task::spawn_blocking(move || {
        let mut store = store.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(guard) = writer {
            write_trips(&mut **store, &guard);
        }
        refresher.refresh(&**store)
    })
    .await;
    match refreshed {
        Ok(Ok(Refresh::Replaced { .. })) => tracing::info!("directory changed; new sessions use it"),
        Ok(Ok(Refresh::Unchanged { .. })) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "directory refresh failed; keeping the current snapshot"),
        Err(e) => tracing::error!(error = %e, "directory refresh task failed"),
    }
    // Every round, not only when the snapshot changed: a write that completed after the
    // last refresh is reconciled against the snapshot that may already release it.
    if let Some(guard) = guard {
        guard.follow(&snapshot.current());
    }
}

/// Writes the guard's new trips; each records the store's generation after its write. A
/// failed write is tried again next round (the trip stays in force meanwhile).
fn write_trips(store: &mut (dyn DirectoryStore + Send), guard: &OutboundGuard) {
    for block in guard.unwritten() {
        match store.block_outbound(&block).and_then(|_| store.generation()) {
            Ok(generation) => guard.written(&block.tenant, generation),
            Err(e) => {
                tracing::error!(tenant = %block.tenant, error = %e, "could not record the outbound block in the directory; will retry")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use directory::{DomainName, NewTenant, TenantId};
    use protection::{HeuristicScorer, Protection};
    use smtp_wire::Address;

    use crate::fixtures::acme_outbound;

    use crate::domains::StaticDomains;

    const BULK: &[u8] =
        b"Subject: win\r\n\r\nWIN BIG NOW!!! Click here to claim your prize: http://prize.example/claim\r\n";

    /// A real SQLite directory with tenant `acme`, and a guard that trips after three bulk
    /// messages of three recipients.
    fn fixture(dir: &std::path::Path) -> (SharedStore, Arc<SharedSnapshot>, Arc<OutboundGuard>) {
        let mut sqlite = store::SqliteStore::open(&dir.join("sluice.db")).expect("open store");
        let tenant = NewTenant::new("acme", "Acme", "en").expect("tenant");
        let service = DomainName::parse("service", "sluice.test").expect("domain");
        sqlite.add_tenant(&tenant, &service).expect("add tenant");
        let snapshot = Arc::new(SharedSnapshot::new(sqlite.snapshot().expect("snapshot")));
        let policy = protection::Policy {
            threshold_messages_min: 3,
            bulk_recipients_min: 3,
            ..protection::Policy::default()
        };
        let guard = Arc::new(OutboundGuard::new(Protection::new(policy, Box::new(HeuristicScorer))));
        (Arc::new(Mutex::new(Box::new(sqlite))), snapshot, guard)
    }

    fn trip(guard: &OutboundGuard, snapshot: &SharedSnapshot) {
        let recipients = ["a", "b", "c"].map(|l| Address::new(l, "remote.test"));
        let envelope = acme_outbound(Address::new("alice", "acme.sluice.test"), &recipients);
        let no_static_domains = StaticDomains::new(&[]);
        for _ in 0..3 {
            let message = guard.assess(&snapshot.current(), &no_static_domains, &envelope, BULK);
            guard.message_queued(message.expect("outbound mail of acme"));
        }
        assert!(guard.protection.tripped("acme").is_some(), "three bulk messages trip the tenant");
    }

    /// As `sluice tenant release` does, on the same database.
    fn release(store: &SharedStore) {
        let acme = TenantId::parse("acme").expect("id");
        let mut store = store.lock().unwrap_or_else(PoisonError::into_inner);
        store.release_outbound(&acme, "ops", "cleaned up", 1).expect("released");
    }

    #[tokio::test]
    async fn a_trip_is_written_and_an_operators_release_at_once_lifts_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, snapshot, guard) = fixture(dir.path());
        trip(&guard, &snapshot);
        follow_once(&store, &snapshot, Some(&guard)).await;
        let acme = TenantId::parse("acme").expect("id");
        assert!(snapshot.current().outbound_block(&acme).is_some(), "the trip is in the store");
        release(&store);
        follow_once(&store, &snapshot, Some(&guard)).await;
        assert_eq!(guard.protection.tripped("acme"), None, "the release reached the node");
        // The tenant can trip again, and that trip stands until it is released in turn.
        trip(&guard, &snapshot);
        follow_once(&store, &snapshot, Some(&guard)).await;
        follow_once(&store, &snapshot, Some(&guard)).await;
        assert!(guard.protection.tripped("acme").is_some(), "the second trip stands");
        assert!(snapshot.current().outbound_block(&acme).is_some());
    }
}
