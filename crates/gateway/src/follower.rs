//! The directory follower: one background task that keeps the gateway in step with the
//! directory store. Twice a second (and at once when the outbound guard has a new trip) it
//! writes the guard's new trips to the store, removes reputation entries past their expiry
//! (logging each once), rebuilds the shared snapshot when the store's generation moved (new
//! sessions and routing use it), and reconciles the guard's trips with the snapshot's
//! blocks. All its store access runs on a blocking thread.
//!
//! It also decides whether the directory can be trusted ([`DirectoryHealth`]). A store that
//! cannot be opened or read (damaged, removed, replaced under the server) is unavailable; a
//! readable one that is emptied or older than the node's watermark ([`Watermark`]) is not
//! believed. Either way the last good snapshot stays in place, the problem is logged at
//! error level (again every minute while it lasts), sessions answer tenants' mail with
//! `451 4.3.0` instead of a permanent refusal, and the store is asked again every round (a
//! store that could not be opened at start is opened again). The config's static accepted
//! domains never depend on it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use directory::{DirectoryStore, SharedSnapshot, Snapshot, StoreError};
use tokio::sync::watch;

use crate::guard::OutboundGuard;
use crate::watermark::Watermark;

/// Opens the directory store: at start and, after a failure, at every round until it works.
pub type OpenStore = Box<dyn Fn() -> Result<Box<dyn DirectoryStore + Send>, StoreError> + Send + Sync>;

/// How the gateway reaches the tenant directory's storage.
pub struct DirectoryAccess {
    /// The store, opened before the start (a PostgreSQL client must not be opened on an
    /// async worker), or why it could not be opened.
    pub store: Result<Box<dyn DirectoryStore + Send>, String>,
    /// Opens the store again when it could not be opened at start (on a blocking thread).
    pub open: OpenStore,
    /// What the store is, for messages (the database file's path).
    pub name: String,
    /// The node's watermark file ([`crate::watermark`]); `None`: no comparison.
    pub watermark: Option<PathBuf>,
    /// Start on a store that is emptied or older than the watermark (restored on purpose),
    /// and record it as the new watermark.
    pub accept_younger: bool,
}

impl std::fmt::Debug for DirectoryAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryAccess")
            .field("name", &self.name)
            .field("watermark", &self.watermark)
            .finish()
    }
}

/// Whether the directory can be trusted now; read by every session at its start and by
/// routing.
#[derive(Debug)]
pub struct DirectoryHealth {
    trusted: AtomicBool,
    /// A snapshot from the store was ever loaded (otherwise the snapshot is empty).
    loaded: AtomicBool,
    problem: Mutex<Problem>,
}

#[derive(Debug, Default)]
struct Problem {
    text: Option<String>,
    /// When it was last logged (repeated every minute while it lasts).
    said: Option<Instant>,
}

/// How often an ongoing problem is logged again.
const REMINDER: Duration = Duration::from_secs(60);

impl DirectoryHealth {
    /// A directory not loaded yet (untrusted until its first good round).
    pub(crate) fn unloaded() -> DirectoryHealth {
        DirectoryHealth {
            trusted: AtomicBool::new(false),
            loaded: AtomicBool::new(false),
            problem: Mutex::new(Problem::default()),
        }
    }

    /// No directory configured: the static accepted domains are all there is, and they
    /// are always trusted.
    pub fn without_directory() -> DirectoryHealth {
        let health = DirectoryHealth::unloaded();
        health.trusted.store(true, Ordering::Release);
        health.loaded.store(true, Ordering::Release);
        health
    }

    pub fn trusted(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }

    /// Whether a snapshot was ever loaded from the store (routing needs one to know which
    /// domains are tenants').
    pub fn loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// The current problem, if any.
    pub fn problem(&self) -> Option<String> {
        self.problem.lock().unwrap_or_else(PoisonError::into_inner).text.clone()
    }

    /// Takes a round's outcome: the trust flags, and the log lines of a change (or the
    /// reminder of a problem that lasts).
    pub(crate) fn record(&self, round: &Round, snapshot: &Snapshot) {
        let mut problem = self.problem.lock().unwrap_or_else(PoisonError::into_inner);
        let text = match round {
            Round::Unchanged if self.trusted() => return,
            Round::Unchanged => return self.remind(&mut problem),
            Round::Loaded { .. } => {
                self.loaded.store(true, Ordering::Release);
                if !self.trusted.swap(true, Ordering::AcqRel) && problem.text.take().is_some() {
                    tracing::warn!(
                        generation = snapshot.generation(),
                        "the tenant directory can be trusted again: tenants' mail is accepted again"
                    );
                }
                return;
            }
            Round::Untrusted(text) | Round::Unavailable(text) => text,
        };
        self.trusted.store(false, Ordering::Release);
        if problem.text.as_deref() == Some(text.as_str()) {
            return self.remind(&mut problem);
        }
        problem.text = Some(text.clone());
        problem.said = None;
        self.remind(&mut problem);
    }

    fn remind(&self, problem: &mut Problem) {
        let Some(text) = &problem.text else { return };
        if problem.said.is_some_and(|said| said.elapsed() < REMINDER) {
            return;
        }
        problem.said = Some(Instant::now());
        let serving = if self.loaded() { "the last good copy" } else { "no tenant at all" };
        tracing::error!(
            problem = %text,
            "the tenant directory is unavailable: sessions answer tenants' mail with 451 4.3.0, routing uses {serving}, the static accepted domains are served as usual; restore the database (`sluice restore FILE`) or fix the problem"
        );
    }
}

/// What one round found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Round {
    Unchanged,
    Loaded {
        from: u64,
        to: u64,
    },
    /// Readable, but emptied or older than the watermark: not believed.
    Untrusted(String),
    /// Cannot be opened or read.
    Unavailable(String),
}

/// The follower's access to the store, kept across rounds (each runs on a blocking thread).
pub(crate) struct Follower {
    open: OpenStore,
    name: String,
    watermark: Option<PathBuf>,
    store: Option<Box<dyn DirectoryStore + Send>>,
    /// What the watermark file says (or said when last read or written).
    seen: Option<Watermark>,
    /// A generation found younger than `seen`: not loaded again while it stays.
    rejected: Option<u64>,
}

pub(crate) type SharedFollower = Arc<Mutex<Follower>>;

impl Follower {
    /// Reads the watermark (a damaged one is logged and replaced at the next good round).
    pub(crate) fn new(access: DirectoryAccess) -> Follower {
        if let Err(why) = &access.store {
            tracing::error!(problem = %why, "the tenant directory could not be opened at start");
        }
        let seen = access.watermark.as_deref().and_then(|path| match Watermark::read(path) {
            Ok(seen) => seen,
            Err(e) => {
                tracing::error!(error = %e, "directory watermark unusable; the directory is not compared with it until it is written again");
                None
            }
        });
        Follower {
            open: access.open,
            name: access.name,
            watermark: access.watermark,
            store: access.store.ok(),
            seen,
            rejected: None,
        }
    }

    /// Forgets the watermark: the directory found is taken as it is (and recorded).
    pub(crate) fn accept_younger(&mut self) {
        self.seen = None;
        self.rejected = None;
    }

    /// The round at start: a directory younger than the watermark is an error (why)
    /// unless `accept`, when it is taken as it is and recorded.
    pub(crate) fn first_round(&mut self, snapshot: &SharedSnapshot, accept: bool) -> Result<Round, String> {
        let round = self.round(snapshot, None, false);
        let Round::Untrusted(why) = round else { return Ok(round) };
        if !accept {
            return Err(why);
        }
        tracing::warn!(%why, "starting on the directory as it is (--accept-directory); the watermark now records it");
        self.accept_younger();
        Ok(self.round(snapshot, None, false))
    }

    /// One round: open the store if it never could be, write new trips and remove expired
    /// reputation entries (only in a trusted store: a write would move an untrusted store's
    /// generation), refresh the snapshot.
    pub(crate) fn round(
        &mut self,
        snapshot: &SharedSnapshot,
        guard: Option<&OutboundGuard>,
        trusted: bool,
    ) -> Round {
        let store = match self.store.take() {
            Some(store) => store,
            None => match (self.open)() {
                Ok(store) => store,
                Err(e) => return Round::Unavailable(format!("cannot open {}: {e}", self.name)),
            },
        };
        let store = self.store.insert(store);
        if let (Some(guard), true) = (guard, trusted) {
            write_trips(&mut **store, guard);
        }
        let now = now_unix_s();
        if trusted && snapshot.current().expired_reputation(now).next().is_some() {
            remove_expired(&mut **store, now);
        }
        let current = snapshot.current().generation();
        let generation = match store.generation() {
            Ok(generation) => generation,
            Err(e) => return self.unavailable(e),
        };
        if (generation == current && trusted) || self.rejected == Some(generation) {
            return if trusted { Round::Unchanged } else { self.still_untrusted() };
        }
        let data = match store.load() {
            Ok(data) => data,
            Err(e) => return self.unavailable(e),
        };
        let found = Watermark { generation: data.generation, tenants: data.tenants.len() as u64 };
        if let Some(why) = self.seen.as_ref().and_then(|seen| found.younger_than(seen)) {
            self.rejected = Some(found.generation);
            return Round::Untrusted(format!("{} cannot be this node's directory: {why}", self.name));
        }
        let fresh = match Snapshot::build(data) {
            Ok(fresh) => fresh,
            Err(e) => {
                return Round::Unavailable(format!(
                    "{} holds a directory that does not build: {e}",
                    self.name
                ));
            }
        };
        snapshot.replace(fresh);
        self.rejected = None;
        self.record_watermark(found);
        Round::Loaded { from: current, to: found.generation }
    }

    /// The store failed. It is asked again next round, never opened again: a database file
    /// replaced under an open connection would be read (and written) through the old one's
    /// WAL, so a replaced file is only opened by the next start.
    fn unavailable(&self, e: StoreError) -> Round {
        Round::Unavailable(format!("{}: {e}", self.name))
    }

    fn still_untrusted(&self) -> Round {
        let why = match (self.seen, self.rejected) {
            (Some(seen), Some(generation)) => format!(
                "{} is still at generation {generation}, younger than generation {} this node last saw",
                self.name, seen.generation
            ),
            _ => format!("{} is still unavailable", self.name),
        };
        Round::Untrusted(why)
    }

    /// Records `found` as the watermark when it moved.
    fn record_watermark(&mut self, found: Watermark) {
        if self.seen == Some(found) {
            return;
        }
        let Some(path) = &self.watermark else { return };
        match found.write(path) {
            Ok(()) => self.seen = Some(found),
            Err(e) => tracing::error!(error = %e, "directory watermark not updated; will retry"),
        }
    }
}

/// Follows the store until shutdown; a last round at shutdown writes trips still pending.
pub(crate) async fn run(
    follower: SharedFollower,
    snapshot: Arc<SharedSnapshot>,
    guard: Option<Arc<OutboundGuard>>,
    health: Arc<DirectoryHealth>,
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
        follow_once(&follower, &snapshot, guard.as_ref(), &health).await;
        if stopping {
            break;
        }
    }
}

/// How often the store's generation is polled: a change made by the CLI, the admin API or
/// another node of a fleet is in force here within this time and one rebuild.
const POLL: Duration = Duration::from_millis(500);

/// One round: write new trips, refresh the snapshot, judge the directory, reconcile the
/// trips with the snapshot.
pub(crate) async fn follow_once(
    follower: &SharedFollower,
    snapshot: &Arc<SharedSnapshot>,
    guard: Option<&Arc<OutboundGuard>>,
    health: &DirectoryHealth,
) -> Round {
    let (follower, refresher, writer) = (Arc::clone(follower), Arc::clone(snapshot), guard.map(Arc::clone));
    let trusted = health.trusted();
    let round = tokio::task::spawn_blocking(move || {
        let mut follower = follower.lock().unwrap_or_else(PoisonError::into_inner);
        follower.round(&refresher, writer.as_deref(), trusted)
    })
    .await
    .unwrap_or_else(|e| Round::Unavailable(format!("the directory refresh task failed: {e}")));
    if let Round::Loaded { from, to } = round
        && from != to
    {
        tracing::info!(from, to, "directory changed; new sessions use it");
    }
    health.record(&round, &snapshot.current());
    // Every round, not only when the snapshot changed: a write that completed after the
    // last refresh is reconciled against the snapshot that may already release it.
    if let Some(guard) = guard {
        guard.follow(&snapshot.current());
    }
    round
}

fn now_unix_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Removes reputation entries past their expiry (sessions already ignore them) and logs each
/// once: of several nodes, only the one whose removal took the entry reports it.
fn remove_expired(store: &mut (dyn DirectoryStore + Send), now_unix_s: u64) {
    match store.remove_expired_reputation(now_unix_s) {
        Ok(removed) => {
            for e in removed {
                let kind = match e.kind {
                    directory::ReputationKind::Block => "block",
                    directory::ReputationKind::Exception => "exception",
                };
                tracing::info!(cidr = %e.cidr, kind, note = %e.note, expired_at_unix_s = e.expires_at_unix_s.unwrap_or(0), "reputation {kind} expired and was removed");
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "expired reputation entries could not be removed; they no longer apply all the same")
        }
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
    use std::path::Path;

    use crate::domains::StaticDomains;
    use crate::fixtures::acme_outbound;

    const BULK: &[u8] =
        b"Subject: win\r\n\r\nWIN BIG NOW!!! Click here to claim your prize: http://prize.example/claim\r\n";

    /// The server's side of a real SQLite directory at `dir/sluice.db` with tenant `acme`:
    /// its follower (watermark in `dir`), snapshot and health after a first round.
    struct Node {
        db: PathBuf,
        follower: SharedFollower,
        snapshot: Arc<SharedSnapshot>,
        health: DirectoryHealth,
    }

    fn add_tenant(db: &Path, id: &str) {
        let mut sqlite = store::SqliteStore::open(db).expect("open store");
        let tenant = NewTenant::new(id, id, "en").expect("tenant");
        let service = DomainName::parse("service", "sluice.test").expect("domain");
        sqlite.add_tenant(&tenant, &service).expect("add tenant");
    }

    fn access(dir: &Path) -> DirectoryAccess {
        let db = dir.join("sluice.db");
        let open: OpenStore = Box::new(move || {
            store::SqliteStore::open(&db).map(|s| Box::new(s) as Box<dyn DirectoryStore + Send>)
        });
        DirectoryAccess {
            store: open().map_err(|e| e.to_string()),
            open,
            name: "sluice.db".into(),
            watermark: Some(dir.join(crate::watermark::FILE_NAME)),
            accept_younger: false,
        }
    }

    async fn node(dir: &Path) -> Node {
        let db = dir.join("sluice.db");
        add_tenant(&db, "acme");
        let node = Node {
            db,
            follower: Arc::new(Mutex::new(Follower::new(access(dir)))),
            snapshot: Arc::new(SharedSnapshot::new(Arc::new(Snapshot::default()))),
            health: DirectoryHealth::unloaded(),
        };
        assert_eq!(node.round(None).await, Round::Loaded { from: 0, to: 1 });
        node
    }

    impl Node {
        async fn round(&self, guard: Option<&Arc<OutboundGuard>>) -> Round {
            follow_once(&self.follower, &self.snapshot, guard, &self.health).await
        }

        fn knows_acme(&self) -> bool {
            self.snapshot.current().tenant(&TenantId::parse("acme").expect("id")).is_some()
        }
    }

    /// A guard that trips after three bulk messages of three recipients.
    fn guard() -> Arc<OutboundGuard> {
        let policy = protection::Policy {
            threshold_messages_min: 3,
            bulk_recipients_min: 3,
            ..protection::Policy::default()
        };
        Arc::new(OutboundGuard::new(Protection::new(policy, Box::new(HeuristicScorer))))
    }

    fn trip(guard: &OutboundGuard, snapshot: &SharedSnapshot) {
        let recipients = ["a", "b", "c"].map(|l| Address::new(l, "remote.test"));
        let envelope = acme_outbound(Address::new("alice", "acme.sluice.test"), &recipients);
        let no_static_domains = StaticDomains::new(&[]);
        for _ in 0..3 {
            let message = guard.assess(&snapshot.current(), &no_static_domains, &envelope, BULK, None);
            guard.message_queued(message.expect("outbound mail of acme"));
        }
        assert!(guard.protection.tripped("acme").is_some(), "three bulk messages trip the tenant");
    }

    /// As `sluice tenant release` does, on the same database.
    fn release(db: &Path) {
        let acme = TenantId::parse("acme").expect("id");
        let mut store = store::SqliteStore::open(db).expect("open store");
        store.release_outbound(&acme, "ops", "cleaned up", 1).expect("released");
    }

    #[tokio::test]
    async fn a_trip_is_written_and_an_operators_release_at_once_lifts_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = node(dir.path()).await;
        let guard = guard();
        trip(&guard, &node.snapshot);
        node.round(Some(&guard)).await;
        let acme = TenantId::parse("acme").expect("id");
        assert!(node.snapshot.current().outbound_block(&acme).is_some(), "the trip is in the store");
        release(&node.db);
        node.round(Some(&guard)).await;
        assert_eq!(guard.protection.tripped("acme"), None, "the release reached the node");
        // The tenant can trip again, and that trip stands until it is released in turn.
        trip(&guard, &node.snapshot);
        node.round(Some(&guard)).await;
        node.round(Some(&guard)).await;
        assert!(guard.protection.tripped("acme").is_some(), "the second trip stands");
        assert!(node.snapshot.current().outbound_block(&acme).is_some());
    }

    /// A database emptied under the running server: untrusted, and the last good snapshot
    /// kept, round after round.
    #[tokio::test]
    async fn an_emptied_database_is_untrusted_and_the_last_good_snapshot_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = node(dir.path()).await;
        assert!(node.health.trusted());
        std::fs::write(&node.db, b"").expect("empty it");
        for _ in 0..2 {
            let round = node.round(None).await;
            let Round::Unavailable(why) = round else { panic!("an emptied file: {round:?}") };
            assert!(why.contains("was emptied (0 bytes)"), "{why}");
            assert_eq!(node.health.problem().as_deref(), Some(why.as_str()));
        }
        assert!(!node.health.trusted() && node.knows_acme(), "last good snapshot kept");
    }

    /// A database replaced by another file under the running server is noticed.
    #[tokio::test]
    async fn a_database_replaced_while_running_is_untrusted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = node(dir.path()).await;
        let other = dir.path().join("other.db");
        add_tenant(&other, "initech");
        std::fs::rename(&other, &node.db).expect("replace");
        let round = node.round(None).await;
        assert!(matches!(&round, Round::Unavailable(why) if why.contains("replaced")), "{round:?}");
        assert!(!node.health.trusted() && node.knows_acme(), "the last good snapshot stays");
    }

    /// At start, a database younger than the watermark (fewer tenants at a lower
    /// generation: an older copy) is not believed; accepted, it becomes the watermark.
    #[tokio::test]
    async fn a_younger_database_is_not_believed_at_start_unless_accepted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = node(dir.path()).await;
        add_tenant(&node.db, "globex");
        assert_eq!(node.round(None).await, Round::Loaded { from: 1, to: 2 });
        drop(node);
        let db = dir.path().join("sluice.db");
        std::fs::remove_file(&db).expect("remove");
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.path().join(format!("sluice.db{suffix}")));
        }
        add_tenant(&db, "initech");
        let mut follower = Follower::new(access(dir.path()));
        let snapshot = SharedSnapshot::new(Arc::new(Snapshot::default()));
        let why = follower.first_round(&snapshot, false).expect_err("younger");
        assert!(why.contains("generation 1 (1 tenant) is older than generation 2 (2 tenants)"), "{why}");
        assert_eq!(snapshot.current().generation(), 0, "nothing loaded");
        assert_eq!(follower.first_round(&snapshot, true), Ok(Round::Loaded { from: 0, to: 1 }));
        let seen = crate::watermark::Watermark::read(&dir.path().join(crate::watermark::FILE_NAME));
        assert_eq!(seen.expect("read"), Some(crate::watermark::Watermark { generation: 1, tenants: 1 }));
    }
}
