//! Delivery status notifications that the queue manager sends: bounces (failed), delay
//! notices (delayed) and, when asked with `NOTIFY=SUCCESS`, delivery reports. The bounce
//! crate writes the message and decides whether one is due; this module picks the
//! language, builds the envelope (null reverse path, to the original sender, carrying the
//! tenant of a tenant's outbound original) and nothing else: the queue manager spools it.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bounce::{BounceRequest, RecipientReport, Rendered};
use directory::{DomainLookup, DomainName, SharedSnapshot, TenantId};
use smtp_wire::{Attribution, BodyType, ClientInfo, Envelope, Recipient, ReversePath};
use spool::MessageId;

/// `RET=FULL` returns the original only up to this size; larger originals are returned
/// as headers (RFC 3461 4.3 allows it), so a bounce never doubles a huge message.
const FULL_ORIGINAL_BYTES_MAX: usize = 1 << 20;

#[derive(Debug)]
pub struct Notifier {
    /// This node's host name (`Reporting-MTA`).
    pub reporting_mta: String,
    /// Where help pages are served, e.g. `https://admin.sluice.example`; none: bounces
    /// carry no link.
    pub admin_base_url: Option<String>,
    pub directory: Option<Arc<SharedSnapshot>>,
}

/// A notification ready for the spool.
#[derive(Debug)]
pub struct Notification {
    pub envelope: Envelope,
    pub data: Vec<u8>,
}

/// What [`Notifier::render`] made of a settled attempt.
#[derive(Debug)]
pub enum Notice {
    Ready(Box<Notification>),
    /// None is sent, for this reason (the caller logs it).
    NotDue(bounce::NotDue),
}

impl Notifier {
    /// The notification about `reports` for the message `id`, or why none is due (null
    /// sender, a delivery report as original, nobody asked for it with `NOTIFY=`).
    pub fn render(
        &self,
        id: MessageId,
        envelope: &Envelope,
        original: &[u8],
        received_at_unix_ms: u64,
        now_unix_ms: u64,
        reports: &[RecipientReport],
    ) -> Result<Notice, bounce::BounceError> {
        let now_s = now_unix_ms / 1000;
        let language = self.tenant_language(envelope, reports);
        let seed = format!("{id}.{now_unix_ms}");
        let queue_id = id.to_string();
        let request = BounceRequest {
            reporting_mta: &self.reporting_mta,
            admin_base_url: self.admin_base_url.as_deref(),
            envelope,
            original,
            queue_id: &queue_id,
            arrival_unix_s: received_at_unix_ms / 1000,
            now_unix_s: now_s,
            recipients: reports,
            tenant_default_language: &language,
            message_id_seed: &seed,
            full_original_bytes_max: FULL_ORIGINAL_BYTES_MAX,
        };
        let data = match bounce::render(&request)? {
            Rendered::Message(data) => data,
            Rendered::NotDue(why) => return Ok(Notice::NotDue(why)),
        };
        let ReversePath::Mailbox(sender) = &envelope.sender else {
            return Ok(Notice::NotDue(bounce::NotDue::NullSender));
        };
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
                // A bounce of a tenant's outbound mail carries the tenant, so routing can
                // take it back to the tenant's own server when its sender is not listed.
                attribution: envelope
                    .client
                    .attribution
                    .as_ref()
                    .filter(|a| a.outbound_relay)
                    .map(|a| Attribution { outbound_relay: false, ..a.clone() }),
            },
        };
        Ok(Notice::Ready(Box::new(Notification { envelope, data })))
    }

    /// The default language of the tenant the message belongs to: the sending tenant for
    /// its outbound mail, else the tenant of the first reported recipient's domain.
    fn tenant_language(&self, envelope: &Envelope, reports: &[RecipientReport]) -> String {
        let Some(shared) = &self.directory else { return "en".into() };
        let snapshot = shared.current();
        let sending = envelope.client.attribution.as_ref().and_then(|a| TenantId::parse(&a.tenant).ok());
        let receiving = || {
            let index = reports.first()?.index();
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
