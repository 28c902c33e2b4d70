//! What the gateway tells the message trace: each step is recorded where it happens (a
//! session's `250` and its refusals in `inbound`, routing and outcomes in the queue
//! manager) through the [`Recorder`], which hands events to the binary's [`TraceSink`]
//! (a bounded queue for a writer thread: never a wait, never a failure for the mail). The
//! facts every step needs are worked out here once: a message's direction, the tenants
//! that may see it, its TLS in the trace's terms.

use std::sync::Arc;

use directory::{Snapshot, TenantId};
use smtp_wire::{Envelope, ReversePath};
use trace::{Direction, TlsInfo, TraceEvent, TraceSink};

/// Where trace events go; off when the trace is disabled.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    sink: Option<Arc<dyn TraceSink>>,
}

impl Recorder {
    pub fn new(sink: Option<Arc<dyn TraceSink>>) -> Recorder {
        Recorder { sink }
    }

    /// Whether events are recorded at all (callers skip building them otherwise).
    pub fn is_on(&self) -> bool {
        self.sink.is_some()
    }

    pub fn record(&self, event: TraceEvent) {
        if let Some(sink) = &self.sink {
            sink.record(event);
        }
    }
}

/// A message's direction: outbound when it came from a tenant's own server (an
/// on-premises connector, whose mail may leave for the outside world), inbound otherwise.
/// Notifications Sluice writes are inbound (they answer mail, they are not a tenant's).
pub fn direction(envelope: &Envelope) -> Direction {
    match &envelope.client.attribution {
        Some(a) if a.outbound_relay => Direction::Outbound,
        _ => Direction::Inbound,
    }
}

/// The envelope sender as the trace keeps it: the address, empty for the null sender.
pub fn sender(envelope: &Envelope) -> String {
    path(&envelope.sender)
}

/// A reverse path as the trace keeps it: the address, empty for the null sender.
pub fn path(sender: &ReversePath) -> String {
    match sender {
        ReversePath::Mailbox(address) => address.to_string(),
        ReversePath::Null => String::new(),
    }
}

/// The tenants that may see a message: the one it is attributed to (its connector's), then
/// the owners of its recipients' domains, each once. (The config's static domains belong
/// to no tenant: only the operator sees their mail.)
pub fn tenants(envelope: &Envelope, directory: Option<&Snapshot>) -> Vec<TenantId> {
    let attributed = envelope.client.attribution.as_ref().and_then(|a| TenantId::parse(&a.tenant).ok());
    let mut tenants: Vec<TenantId> = attributed.into_iter().collect();
    for recipient in &envelope.recipients {
        if let Some(tenant) = domain_tenant(directory, &recipient.address.domain)
            && !tenants.contains(&tenant)
        {
            tenants.push(tenant);
        }
    }
    tenants
}

/// The tenant whose verified accepted domain covers `domain`, if any.
pub fn domain_tenant(directory: Option<&Snapshot>, domain: &str) -> Option<TenantId> {
    directory?.accepting(domain).map(|d| d.tenant.clone())
}

/// The session's TLS (`TLSv1_3 with cipher TLS13_AES_256_GCM_SHA384`, as the connection
/// driver describes it) as the trace keeps it: `TLSv1.3` and the cipher suite.
pub fn tls_info(description: &str) -> TlsInfo {
    let (version, cipher) = description.split_once(" with cipher ").unwrap_or((description, ""));
    TlsInfo { version: version.replace('_', "."), cipher: cipher.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{acme, acme_domain, acme_tenant};
    use directory::{DirectoryData, DomainKind, VerificationState};
    use smtp_wire::{Address, Attribution, ClientInfo, Recipient};

    #[test]
    fn tls_descriptions_become_version_and_cipher() {
        let tls = tls_info("TLSv1_3 with cipher TLS13_AES_256_GCM_SHA384");
        assert_eq!((tls.version.as_str(), tls.cipher.as_str()), ("TLSv1.3", "TLS13_AES_256_GCM_SHA384"));
        assert_eq!(tls_info("TLS").version, "TLS");
    }

    /// The attributed tenant first, then each recipient domain's owner once; a foreign
    /// domain has none.
    #[test]
    fn a_message_is_seen_by_its_connector_tenant_and_its_recipients_owners() {
        let data = DirectoryData {
            tenants: vec![acme_tenant()],
            domains: vec![acme_domain("acme.test", DomainKind::Authoritative, VerificationState::Verified)],
            ..DirectoryData::default()
        };
        let directory = Snapshot::build(data).expect("snapshot");
        let rcpts = ["a@acme.test", "b@ACME.test", "d@far.test"]
            .iter()
            .map(|a| {
                let (local, domain) = a.split_once('@').unwrap_or_default();
                Recipient::new(Address::new(local, domain))
            })
            .collect();
        let mut envelope = Envelope::new(
            ReversePath::Null,
            rcpts,
            ClientInfo::new("192.0.2.1".parse().expect("ip"), "mx.far.test"),
        );
        assert_eq!(tenants(&envelope, Some(&directory)), vec![acme()]);
        assert_eq!(direction(&envelope), Direction::Inbound);
        assert_eq!(sender(&envelope), "");
        envelope.client.attribution =
            Some(Attribution { tenant: "globex".into(), connector: "hq".into(), outbound_relay: true });
        let seen = tenants(&envelope, Some(&directory));
        assert_eq!(seen.iter().map(TenantId::as_str).collect::<Vec<_>>(), ["globex", "acme"]);
        assert_eq!(direction(&envelope), Direction::Outbound);
    }
}
