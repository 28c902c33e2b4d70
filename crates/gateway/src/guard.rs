//! Outbound protection in the running gateway: the `protection` crate decides; this module
//! feeds it (accepted outbound messages, delivery outcomes), writes its trips into the
//! directory store (so a block survives restarts and reaches every node) and keeps it in
//! step with the directory (a block written elsewhere trips it here; a release by the
//! operator, `sluice tenant release`, clears it).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use directory::{DirectoryStore, DomainLookup, DomainName, OutboundBlock, Snapshot, TenantId};
use protection::{Protection, Trip};
use smtp_wire::Envelope;

use crate::policy::StaticPolicy;

#[derive(Debug)]
pub struct OutboundGuard {
    pub protection: Arc<Protection>,
    pub(crate) store: Arc<Mutex<store::SqliteStore>>,
}

fn now_unix_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Recipients of `envelope` that leave Sluice: neither a directory domain nor a static one.
pub fn outbound_recipients(directory: &Snapshot, static_policy: &StaticPolicy, envelope: &Envelope) -> u32 {
    let leaves = |domain: &str| {
        let known = DomainName::for_lookup(domain)
            .is_some_and(|name| matches!(directory.find_domain(&name), DomainLookup::Accepted(_)));
        !known && !domain.is_empty() && !static_policy.accepts_domain(domain)
    };
    envelope.recipients.iter().filter(|r| leaves(&r.address.domain)).count() as u32
}

impl OutboundGuard {
    /// Counts and scores an outbound message of `tenant` that is about to be spooled (a
    /// message from an unregistered sender domain uses the day's allowance); a trip is
    /// written to the directory store before the session goes on.
    pub async fn message_accepted(
        &self,
        tenant: &str,
        sender: protection::SenderDomainClass,
        recipients: u32,
        message: &[u8],
    ) {
        let now = now_unix_s();
        if sender == protection::SenderDomainClass::Unregistered {
            self.protection.count_unregistered_message(now, tenant);
        }
        let Some(trip) = self.protection.record_message(now, tenant, recipients, message) else {
            return;
        };
        tracing::warn!(tenant = %trip.tenant, reason = %trip.reason, "tenant over the outbound threshold: its outbound mail is blocked (5.7.705) until released");
        let Ok(tenant) = TenantId::parse(&trip.tenant) else { return };
        let block = OutboundBlock { tenant, blocked_at_unix_s: trip.at_unix_s, reason: trip.reason };
        let store = Arc::clone(&self.store);
        // The block is in force in memory already; the store write makes it last.
        let written = tokio::task::spawn_blocking(move || {
            store.lock().unwrap_or_else(PoisonError::into_inner).block_outbound(&block)
        })
        .await;
        match written {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "could not record the outbound block in the directory"),
            Err(e) => tracing::error!(error = %e, "recording the outbound block failed"),
        }
    }

    /// Follows the directory: blocks that appeared (another node, or this one after a
    /// restart) trip the tenant here; blocks that disappeared were released by an operator.
    pub fn sync(&self, old: Option<&Snapshot>, new: &Snapshot) {
        for tenant in new.outbound_blocked_tenants() {
            if self.protection.tripped(tenant.as_str()).is_none()
                && let Some(block) = new.outbound_block(tenant)
            {
                let trip = Trip {
                    tenant: tenant.to_string(),
                    at_unix_s: block.blocked_at_unix_s,
                    reason: block.reason.clone(),
                };
                self.protection.set_tripped(tenant.as_str(), trip);
            }
        }
        let Some(old) = old else { return };
        for tenant in old.outbound_blocked_tenants() {
            if new.outbound_block(tenant).is_none() {
                tracing::info!(%tenant, "outbound block released; the tenant's outbound mail flows again");
                self.protection.release(tenant.as_str());
            }
        }
    }
}
