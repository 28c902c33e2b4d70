//! Outbound protection in the running gateway: the `protection` crate decides; this module
//! feeds it (accepted outbound messages, delivery outcomes) and keeps its trips and the
//! directory store's blocks in step, so a block survives restarts, reaches every node and is
//! lifted by an operator's release (`sluice tenant release`) whatever the timing.
//!
//! A trip takes force in memory at once and is written to the store by the directory
//! follower ([`crate::follower`]), woken at once. The store is the truth: every snapshot the
//! follower loads is reconciled with the trips this node knows ([`Trips`]). A block in the
//! snapshot trips the tenant here; a block missing from it is a release, unless the snapshot
//! cannot know the block yet: the trip is still to be written, or the snapshot's generation
//! is older than the write. That generation is what makes a release issued right after a
//! trip reach the node that tripped, and what keeps a stale snapshot from lifting a second
//! trip that raced a release.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use directory::{OutboundBlock, Snapshot, TenantId};
use protection::{Judgement, Protection, SenderDomainClass, Trip};
use smtp_wire::Envelope;

use crate::domains::{Owner, StaticDomains, owner};
use crate::inbound::checks::outbound_sender_class;

#[derive(Debug)]
pub struct OutboundGuard {
    pub protection: Protection,
    trips: Mutex<Trips>,
    /// Wakes the directory follower to write a new trip now rather than at its next tick.
    pub(crate) wake_follower: tokio::sync::Notify,
    clock: fn() -> u64,
}

fn now_unix_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// An outbound message judged before it is spooled, to be recorded once it is queued.
#[derive(Debug)]
pub struct OutboundMessage {
    tenant: String,
    sender: SenderDomainClass,
    recipients: u32,
    judgement: Judgement,
}

/// The content scanner's verdict as outbound protection's spam score (its `SpamScorer`
/// hook): rspamd judged the message, so its verdict is the spam signal.
#[derive(Debug)]
struct ScannerSignal(f32);

impl protection::SpamScorer for ScannerSignal {
    fn score(&self, _message: &[u8]) -> f32 {
        self.0
    }
}

/// Recipients of `envelope` that are the sending tenant's outbound mail: their domain is
/// nobody's here, or another tenant's (mail between tenants is outbound for the sender's).
fn outbound_recipients(
    directory: &Snapshot,
    static_domains: &StaticDomains,
    envelope: &Envelope,
    tenant: &str,
) -> u32 {
    let outbound = |domain: &str| match owner(Some(directory), static_domains, domain) {
        Owner::Foreign => true,
        Owner::Tenant(accepted) => accepted.tenant.as_str() != tenant,
        Owner::Local => false,
    };
    envelope.recipients.iter().filter(|r| outbound(&r.address.domain)).count() as u32
}

impl OutboundGuard {
    pub fn new(protection: Protection) -> OutboundGuard {
        OutboundGuard::with_clock(protection, now_unix_s)
    }

    /// A guard whose windows read `clock` (unix seconds): fixed in tests, so the texts that
    /// say when a limit frees up are exact.
    pub fn with_clock(protection: Protection, clock: fn() -> u64) -> OutboundGuard {
        OutboundGuard {
            protection,
            trips: Mutex::new(Trips::default()),
            wake_follower: tokio::sync::Notify::new(),
            clock,
        }
    }

    /// Unix seconds, as outbound protection's windows count them.
    pub fn now_unix_s(&self) -> u64 {
        (self.clock)()
    }

    fn trips(&self) -> std::sync::MutexGuard<'_, Trips> {
        self.trips.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What outbound protection will record for `envelope` once it is queued: `Some` for a
    /// message attributed to a tenant's own server (outbound relay) with recipients leaving
    /// Sluice, `None` for anything else. Nothing is counted yet: the content is judged here,
    /// before the spool takes it, and recorded by [`OutboundGuard::message_queued`] only
    /// after the spool said yes.
    pub fn assess(
        &self,
        directory: &Snapshot,
        static_domains: &StaticDomains,
        envelope: &Envelope,
        content: &[u8],
        scanned: Option<&verdict::ScanVerdict>,
    ) -> Option<OutboundMessage> {
        let attribution = envelope.client.attribution.as_ref().filter(|a| a.outbound_relay)?;
        let recipients = outbound_recipients(directory, static_domains, envelope, &attribution.tenant);
        if recipients == 0 {
            return None;
        }
        Some(OutboundMessage {
            tenant: attribution.tenant.clone(),
            sender: outbound_sender_class(directory, attribution, &envelope.sender),
            recipients,
            judgement: match scanned {
                Some(verdict) => self.protection.judge_with(content, &ScannerSignal(verdict.spam_signal())),
                None => self.protection.judge(content),
            },
        })
    }

    /// Records an outbound message the spool has accepted: a message from an unregistered
    /// sender domain uses the day's allowance, and the message counts toward the tenant's
    /// threshold. A trip is in force at once; the follower writes it to the directory store.
    pub fn message_queued(&self, message: OutboundMessage) {
        let OutboundMessage { tenant, sender, recipients, judgement } = message;
        let now = self.now_unix_s();
        if sender == SenderDomainClass::Unregistered {
            self.protection.count_unregistered_message(now, &tenant);
        }
        if let Some(trip) = self.protection.record_judged(now, &tenant, recipients, &judgement) {
            self.tripped(trip);
        }
    }

    /// Adds other nodes' counts (fleet mode); a tenant they take over its threshold trips
    /// here as by a message of this node's.
    pub fn merge_remote(&self, events: &[protection::exchange::CountEvent], now_unix_s: u64) {
        for trip in self.protection.merge_events(events, now_unix_s) {
            self.tripped(trip);
        }
    }

    /// A trip is in force at once; the follower writes it to the directory store.
    fn tripped(&self, trip: Trip) {
        crate::metrics::global().protection_trips.inc();
        tracing::warn!(tenant = %trip.tenant, reason = %trip.reason, "tenant over the outbound threshold: its outbound mail is blocked (5.7.705) until released");
        let Ok(tenant) = TenantId::parse(&trip.tenant) else { return };
        self.trips().tripped(OutboundBlock {
            tenant,
            blocked_at_unix_s: trip.at_unix_s,
            reason: trip.reason,
        });
        self.wake_follower.notify_one();
    }

    /// The trips still to be written to the store.
    pub(crate) fn unwritten(&self) -> Vec<OutboundBlock> {
        self.trips().unwritten()
    }

    /// The trip of `tenant` is in the store, whose generation is now `generation`.
    pub(crate) fn written(&self, tenant: &TenantId, generation: u64) {
        self.trips().written(tenant, generation);
    }

    /// Follows the directory: blocks in `snapshot` trip their tenants here (another node's,
    /// or this one's before a restart); a block this node knew that the snapshot no longer
    /// holds was released by an operator.
    pub fn follow(&self, snapshot: &Snapshot) {
        let changes = self.trips().reconcile(snapshot);
        for change in changes {
            match change {
                Change::Trip(block) => {
                    let trip = Trip {
                        tenant: block.tenant.to_string(),
                        at_unix_s: block.blocked_at_unix_s,
                        reason: block.reason,
                    };
                    self.protection.set_tripped(block.tenant.as_str(), trip);
                }
                Change::Release(tenant) => {
                    tracing::info!(%tenant, "outbound block released; the tenant's outbound mail flows again");
                    self.protection.release(tenant.as_str());
                }
            }
        }
    }
}

/// Where each trip this node knows stands against the store. Pure: the follower feeds it
/// writes and snapshots, and applies the changes it returns.
#[derive(Debug, Default)]
struct Trips {
    held: HashMap<TenantId, Held>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Held {
    /// Tripped here, not yet in the store: no snapshot can hold it, none can release it.
    Unwritten(OutboundBlock),
    /// Written; the store's generation after the write. Only a snapshot at least that new
    /// knows of the block, so only such a snapshot's silence is a release.
    Written { generation: u64 },
    /// In force in the store as of the last snapshot.
    Stored(OutboundBlock),
}

/// What the node must change to match the store.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Trip(OutboundBlock),
    Release(TenantId),
}

impl Trips {
    fn tripped(&mut self, block: OutboundBlock) {
        self.held.insert(block.tenant.clone(), Held::Unwritten(block));
    }

    fn unwritten(&self) -> Vec<OutboundBlock> {
        let blocks = self.held.values().filter_map(|h| match h {
            Held::Unwritten(block) => Some(block.clone()),
            _ => None,
        });
        blocks.collect()
    }

    fn written(&mut self, tenant: &TenantId, generation: u64) {
        if let Some(held @ Held::Unwritten(_)) = self.held.get_mut(tenant) {
            *held = Held::Written { generation };
        }
    }

    fn reconcile(&mut self, snapshot: &Snapshot) -> Vec<Change> {
        let mut changes = Vec::new();
        for tenant in snapshot.outbound_blocked_tenants() {
            let Some(block) = snapshot.outbound_block(tenant) else { continue };
            let stored = Held::Stored(block.clone());
            if self.held.get(tenant) != Some(&stored) {
                changes.push(Change::Trip(block.clone()));
                self.held.insert(tenant.clone(), stored);
            }
        }
        self.held.retain(|tenant, held| {
            let released = snapshot.outbound_block(tenant).is_none()
                && match held {
                    Held::Unwritten(_) => false,
                    Held::Written { generation } => snapshot.generation() >= *generation,
                    Held::Stored(_) => true,
                };
            if released {
                changes.push(Change::Release(tenant.clone()));
            }
            !released
        });
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{acme, acme_tenant};
    use directory::DirectoryData;

    fn block(at: u64) -> OutboundBlock {
        OutboundBlock { tenant: acme(), blocked_at_unix_s: at, reason: format!("trip at {at}") }
    }

    /// The store as a snapshot at `generation`, with `acme` blocked by `blocked` if any.
    fn store(generation: u64, blocked: Option<OutboundBlock>) -> std::sync::Arc<Snapshot> {
        let data = DirectoryData {
            generation,
            tenants: vec![acme_tenant()],
            outbound_blocks: blocked.into_iter().collect(),
            ..DirectoryData::default()
        };
        Snapshot::build(data).expect("snapshot")
    }

    /// The reported bug: the trip reached the store and was released before the node saw a
    /// snapshot holding it. The snapshot after the release must lift it.
    #[test]
    fn a_release_right_after_a_trip_lifts_it() {
        let mut trips = Trips::default();
        assert!(trips.reconcile(&store(4, None)).is_empty());
        trips.tripped(block(100));
        assert!(trips.reconcile(&store(4, None)).is_empty(), "not written yet: a snapshot cannot know it");
        trips.written(&acme(), 5);
        assert!(trips.reconcile(&store(4, None)).is_empty(), "a snapshot older than the write knows nothing");
        // The operator released at generation 6, before the node loaded generation 5.
        assert_eq!(trips.reconcile(&store(6, None)), [Change::Release(acme())]);
        assert!(trips.held.is_empty());
    }

    /// A second trip races the release of the first: the release lifts the first, and no
    /// snapshot without the second (stale, or loaded before its write) may lift it.
    #[test]
    fn a_release_racing_a_second_trip_lifts_only_the_first() {
        let mut trips = Trips::default();
        trips.tripped(block(100));
        trips.written(&acme(), 5);
        assert_eq!(trips.reconcile(&store(5, Some(block(100)))), [Change::Trip(block(100))]);
        // Released at generation 6; the node trips again before it has seen that.
        assert_eq!(trips.reconcile(&store(6, None)), [Change::Release(acme())], "the first is lifted");
        trips.tripped(block(200));
        assert!(trips.reconcile(&store(6, None)).is_empty(), "the second stands while it is written");
        trips.written(&acme(), 7);
        assert!(trips.reconcile(&store(6, None)).is_empty(), "a stale snapshot cannot lift it");
        assert_eq!(trips.reconcile(&store(7, Some(block(200)))), [Change::Trip(block(200))]);
        assert!(trips.reconcile(&store(8, Some(block(200)))).is_empty(), "nothing changes twice");
        assert_eq!(trips.reconcile(&store(9, None)), [Change::Release(acme())]);
    }

    /// A block another node wrote (or this node before a restart) trips the tenant here,
    /// and its release lifts it, even when the snapshot holding it was the first one seen.
    #[test]
    fn blocks_of_the_store_trip_and_release_the_node() {
        let mut trips = Trips::default();
        assert_eq!(trips.reconcile(&store(3, Some(block(50)))), [Change::Trip(block(50))]);
        // Released, and tripped again by another node, between two snapshots.
        assert_eq!(trips.reconcile(&store(5, Some(block(60)))), [Change::Trip(block(60))]);
        assert_eq!(trips.reconcile(&store(6, None)), [Change::Release(acme())]);
        assert!(trips.unwritten().is_empty());
    }
}
