//! The inbound session's part of the trace: a message's arrival (recorded once its `250`
//! is sent) and the refusals of the envelope checks (a refused sender or recipient: relay
//! denied, unknown user, throttling, reputation, outbound protection), which the trace
//! store counts per client IP, sender, recipient domain, reply and minute.

use std::time::{SystemTime, UNIX_EPOCH};

use directory::{Snapshot, TenantId};
use smtp_wire::command::{MailFrom, RcptTo};
use smtp_wire::{Envelope, EnvelopeChecks, Reply, ReversePath, SessionInfo};
use trace::{Direction, Received, Refusal, TraceEvent};

use super::reputation::DnsblChecks;
use super::untrusted::UntrustedDirectory;
use crate::record::{self, Recorder};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// What the trace keeps of a message's content: its Message-ID and Subject, and its size.
#[derive(Debug)]
pub(super) struct ContentFacts {
    pub(super) message_id: Option<String>,
    pub(super) subject: Option<String>,
    pub(super) size_bytes: u64,
}

/// What the trace keeps of a message a session received, taken before the message goes to
/// the spool; [`arrived`] completes it with the spool id once the `250` is due.
pub(super) fn arrival(
    envelope: &Envelope,
    content: ContentFacts,
    client_cert: Option<&str>,
    directory: Option<&Snapshot>,
) -> Received {
    let client = &envelope.client;
    let attribution = client.attribution.as_ref();
    Received {
        message: String::new(),
        at_unix_ms: 0,
        client_ip: client.ip,
        helo: client.helo.clone(),
        tls: client.tls.as_deref().map(record::tls_info),
        client_cert: client_cert.map(str::to_string),
        connector: attribution.map(|a| a.connector.clone()),
        tenant: attribution.and_then(|a| TenantId::parse(&a.tenant).ok()),
        tenants: record::tenants(envelope, directory),
        direction: record::direction(envelope),
        sender: record::sender(envelope),
        recipients: envelope.recipients.iter().map(|r| r.address.to_string()).collect(),
        size_bytes: content.size_bytes,
        message_id: content.message_id,
        subject: content.subject,
    }
}

/// The arrival event of the message queued as `id`.
pub(super) fn arrived(mut received: Received, id: &str) -> TraceEvent {
    received.message = id.to_string();
    received.at_unix_ms = now_ms();
    TraceEvent::Received(received)
}

/// The session's envelope checks, with each refusal recorded in the trace.
#[derive(Debug)]
pub(super) struct RecordingChecks<'a> {
    pub(super) inner: UntrustedDirectory<'a, DnsblChecks<'a>>,
    pub(super) recorder: &'a Recorder,
    pub(super) directory: Option<&'a Snapshot>,
}

impl RecordingChecks<'_> {
    fn refused(&self, session: &SessionInfo, sender: &ReversePath, domain: &str, reply: &Reply) {
        if !self.recorder.is_on() {
            return;
        }
        let attribution = self.inner.inner.session.attribution();
        let outbound = attribution.as_ref().is_some_and(|a| a.outbound_relay);
        // The recipient domain's tenant, else (a tenant's outbound mail) the sending one.
        let tenant = record::domain_tenant(self.directory, domain)
            .or_else(|| attribution.and_then(|a| TenantId::parse(&a.tenant).ok()));
        let sender = record::path(sender);
        self.recorder.record(TraceEvent::Refused(Refusal {
            at_unix_ms: now_ms(),
            client_ip: session.client_ip,
            sender,
            recipient_domain: domain.to_ascii_lowercase(),
            reply: reply.summary(),
            tenant,
            direction: if outbound { Direction::Outbound } else { Direction::Inbound },
        }));
    }
}

impl EnvelopeChecks for RecordingChecks<'_> {
    fn check_sender(&self, session: &SessionInfo, mail: &MailFrom) -> Result<(), Reply> {
        self.inner.check_sender(session, mail).inspect_err(|reply| {
            let sender = mail.sender.clone().map_or(ReversePath::Null, ReversePath::Mailbox);
            self.refused(session, &sender, "", reply);
        })
    }

    fn check_recipient(
        &self,
        session: &SessionInfo,
        sender: &ReversePath,
        rcpt: &RcptTo,
    ) -> Result<(), Reply> {
        self.inner
            .check_recipient(session, sender, rcpt)
            .inspect_err(|reply| self.refused(session, sender, &rcpt.recipient.domain, reply))
    }
}
