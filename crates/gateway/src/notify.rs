//! Delivery status notifications that the queue manager sends: bounces (failed), delay
//! notices (delayed) and, when asked with `NOTIFY=SUCCESS`, delivery reports. The bounce
//! crate writes the message; this module picks the language, builds the envelope (null
//! reverse path, to the original sender) and nothing else: the queue manager spools it.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bounce::{Action, BounceRequest, RecipientOutcome};
use directory::{DomainLookup, DomainName, SharedSnapshot, TenantId};
use smtp_wire::{BodyType, ClientInfo, Envelope, Recipient, ReversePath};
use spool::MessageId;

use crate::remote::{Failure, Outcome};

/// `RET=FULL` returns the original only up to this size; larger originals are returned
/// as headers (RFC 3461 4.3 allows it), so a bounce never doubles a huge message.
const FULL_ORIGINAL_BYTES_MAX: usize = 1 << 20;

#[derive(Debug)]
pub struct Notifier {
    /// This node's host name (`Reporting-MTA`).
    pub reporting_mta: String,
    /// Where help pages are served, e.g. `https://admin.sluice.example`.
    pub admin_base_url: String,
    pub directory: Option<Arc<SharedSnapshot>>,
}

/// The facts about one recipient that a notification reports.
#[derive(Debug, Clone)]
pub struct Report {
    pub index: u32,
    pub action: Action,
    pub failure: Option<Failure>,
    pub remote: Option<String>,
    pub will_retry_until_unix_s: Option<u64>,
}

impl Report {
    pub fn from_outcome(index: u32, outcome: &Outcome, action: Action) -> Report {
        let (failure, remote) = match outcome {
            Outcome::Delivered { remote } => (None, remote.clone()),
            Outcome::Deferred(f) | Outcome::Failed(f) => (Some(f.clone()), f.remote.clone()),
        };
        Report { index, action, failure, remote, will_retry_until_unix_s: None }
    }
}

/// A notification ready for the spool.
#[derive(Debug)]
pub struct Notification {
    pub envelope: Envelope,
    pub data: Vec<u8>,
}

impl Notifier {
    /// The notification about `reports` for the message `id`, or `None` when none is due
    /// (null sender, an automatic original, nobody asked for it with `NOTIFY=`).
    pub fn render(
        &self,
        id: MessageId,
        envelope: &Envelope,
        original: &[u8],
        received_at_unix_ms: u64,
        now_unix_ms: u64,
        reports: &[Report],
    ) -> Result<Option<Notification>, bounce::BounceError> {
        let ReversePath::Mailbox(sender) = &envelope.sender else { return Ok(None) };
        let now_s = now_unix_ms / 1000;
        let recipients: Vec<RecipientOutcome> = reports
            .iter()
            .map(|r| RecipientOutcome {
                index: r.index as usize,
                action: r.action,
                status: r.failure.as_ref().map_or(smtp_wire::reply::code(2, 0, 0), |f| f.status),
                diagnostic: r.failure.as_ref().map(|f| f.diagnostic.clone()),
                remote_mta: r.remote.clone(),
                last_attempt_unix_s: now_s,
                will_retry_until_unix_s: r.will_retry_until_unix_s,
            })
            .collect();
        let language = self.tenant_language(envelope, reports);
        let seed = format!("{id}.{now_unix_ms}");
        let request = BounceRequest {
            reporting_mta: &self.reporting_mta,
            admin_base_url: &self.admin_base_url,
            envelope,
            original,
            arrival_unix_s: received_at_unix_ms / 1000,
            now_unix_s: now_s,
            recipients: &recipients,
            tenant_default_language: &language,
            message_id_seed: &seed,
            full_original_bytes_max: FULL_ORIGINAL_BYTES_MAX,
        };
        let Some(data) = bounce::render(&request)? else { return Ok(None) };
        let body = if data.is_ascii() { BodyType::SevenBit } else { BodyType::EightBitMime };
        let envelope = Envelope {
            sender: ReversePath::Null,
            recipients: vec![Recipient { address: sender.clone(), notify: None, orcpt: None }],
            body,
            smtputf8: sender.is_utf8(),
            ret: None,
            envid: None,
            declared_size: None,
            client: ClientInfo {
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                helo: self.reporting_mta.clone(),
                esmtp: true,
                tls: None,
                attribution: None,
            },
        };
        Ok(Some(Notification { envelope, data }))
    }

    /// The default language of the tenant the message belongs to: the sending tenant for
    /// its outbound mail, else the tenant of the first reported recipient's domain.
    fn tenant_language(&self, envelope: &Envelope, reports: &[Report]) -> String {
        let Some(shared) = &self.directory else { return "en".into() };
        let snapshot = shared.current();
        let sending = envelope.client.attribution.as_ref().and_then(|a| TenantId::parse(&a.tenant).ok());
        let receiving = || {
            let index = reports.first()?.index as usize;
            let domain = DomainName::for_lookup(&envelope.recipients.get(index)?.address.domain)?;
            match snapshot.find_domain(&domain) {
                DomainLookup::Accepted(d) => Some(d.tenant.clone()),
                _ => None,
            }
        };
        sending
            .or_else(receiving)
            .and_then(|t| snapshot.tenant(&t).map(|t| t.language.clone()))
            .unwrap_or_else(|| "en".into())
    }
}
