//! What the inbound session learns about its client asynchronously: the DNSBL lookup runs
//! beside the banner and EHLO ([`PendingLookup`]) and is awaited only when the first MAIL
//! FROM needs the verdict, which [`DnsblChecks`] then puts to the directory.

use std::net::IpAddr;
use std::sync::Arc;

use smtp_wire::command::{MailFrom, RcptTo};
use smtp_wire::{EnvelopeChecks, Reply, ReversePath, SessionInfo};
use tokio::task::JoinSet;

use crate::dns::dnsbl::{Dnsbl, Listing};
use crate::inbound::checks::SessionChecks;

/// One connection's lookup: started with the session (concurrently with the banner and
/// EHLO), awaited when the first MAIL FROM needs it. The task is owned here: dropping the
/// session aborts it.
#[derive(Debug, Default)]
pub(super) struct PendingLookup {
    task: Option<JoinSet<Option<Listing>>>,
}

impl PendingLookup {
    pub(super) fn start(dnsbl: Option<&Arc<Dnsbl>>, ip: IpAddr) -> PendingLookup {
        let Some(dnsbl) = dnsbl.filter(|d| !d.zones().is_empty()) else {
            return PendingLookup::default();
        };
        let dnsbl = Arc::clone(dnsbl);
        let mut task = JoinSet::new();
        task.spawn(async move { dnsbl.check(ip).await });
        PendingLookup { task: Some(task) }
    }

    pub(super) fn is_pending(&self) -> bool {
        self.task.is_some()
    }

    /// The verdict; waits for the lookup (bounded by the zones' timeout) the first time.
    pub(super) async fn finish(&mut self) -> Option<Listing> {
        let mut task = self.task.take()?;
        match task.join_next().await? {
            Ok(verdict) => verdict,
            Err(e) => {
                tracing::error!(error = %e, "DNSBL lookup task failed; treated as not listed");
                None
            }
        }
    }
}

/// Whether the next command in `input` is MAIL (the first that needs the verdict).
pub(super) fn next_is_mail(input: &[u8]) -> bool {
    input.get(..4).is_some_and(|verb| verb.eq_ignore_ascii_case(b"MAIL"))
}

/// The session's policy plus what the connection's DNSBL lookup found: a listed client is
/// refused (`550 5.7.708`, naming the zone) wherever the directory finds that no connector
/// and no operator exception covers it: at MAIL FROM for a client no tenant vouches for,
/// else at RCPT for the recipients of the tenants that do not. Everything else is
/// [`SessionChecks`]'s.
#[derive(Debug)]
pub(super) struct DnsblChecks<'a> {
    pub(super) session: SessionChecks<'a>,
    listing: Option<Listing>,
}

impl<'a> DnsblChecks<'a> {
    pub(super) fn new(session: SessionChecks<'a>) -> DnsblChecks<'a> {
        DnsblChecks { session, listing: None }
    }

    /// The lookup's verdict, once it is in.
    pub(super) fn set_listing(&mut self, listing: Option<Listing>) {
        if let Some(l) = &listing {
            self.session.dnsbl_listed(l.zone.clone());
        }
        self.listing = listing;
    }

    fn log_listing(&self, session: &SessionInfo, reply: &Reply, what: &str) {
        if let Some(listing) = &self.listing
            && reply.enhanced.is_some_and(|e| e.to_string() == "5.7.708")
        {
            tracing::info!(client_ip = %session.client_ip, zone = %listing.zone, answer = %listing.answer, reply = %reply, "{what} refused: DNSBL listing");
        }
    }
}

impl EnvelopeChecks for DnsblChecks<'_> {
    fn check_sender(&self, session: &SessionInfo, mail: &MailFrom) -> Result<(), Reply> {
        self.session
            .check_sender(session, mail)
            .inspect_err(|reply| self.log_listing(session, reply, "sender"))
    }

    fn check_recipient(
        &self,
        session: &SessionInfo,
        sender: &ReversePath,
        rcpt: &RcptTo,
    ) -> Result<(), Reply> {
        self.session
            .check_recipient(session, sender, rcpt)
            .inspect_err(|reply| self.log_listing(session, reply, "recipient"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_is_recognised_in_any_case() {
        assert!(next_is_mail(b"MAIL FROM:<a@b>\r\n"));
        assert!(next_is_mail(b"mail from:<a@b>\r\n"));
        assert!(!next_is_mail(b"EHLO x\r\nMAIL FROM:<a@b>\r\n"));
        assert!(!next_is_mail(b"MAI"));
    }
}
