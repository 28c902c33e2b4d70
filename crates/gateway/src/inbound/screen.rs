//! The end-of-DATA screening of a received message, before its `250`: sender
//! authentication (for mail to Sluice's tenants and local mailboxes), the content scanner
//! (for every message, inbound and outbound), and the policy that turns their findings into
//! a refusal, a hold in the quarantine for some recipients, or headers. The decisions are
//! the `verdict` crate's; this module asks DNS and rspamd and applies the outcome to the
//! message: it removes `Authentication-Results:` headers forged under Sluice's name (and,
//! with a scanner, incoming `X-Spam-*`/`X-Sluice-Verdict` headers) and prepends
//! `Authentication-Results:`, the scanner's headers and the mark.

use std::sync::Arc;

use directory::Snapshot;
use smtp_wire::{ReceivedMessage, Reply, reply::code};
use verdict::policy::{Disposition, MessageDecision, judge_message, judge_recipient, mark_header};
use verdict::{AuthResults, RecipientJudgement, RecipientPolicy, ScanVerdict};

use super::authenticate::{Arrival, Authenticator};
use super::checks::RecipientFacts;
use super::scanner::{OnFailure, Scanner};
use crate::quarantine::Quarantine;

/// What screening needs, shared by every session.
#[derive(Debug)]
pub struct Screeners {
    pub hostname: String,
    pub auth: Option<Authenticator>,
    pub scanner: Option<Scanner>,
    pub policy: verdict::Policies,
    pub quarantine: Arc<Quarantine>,
}

/// The outcome for a message that is accepted.
#[derive(Debug, Default)]
pub struct Screened {
    /// Recipients (by envelope index) to hold in the quarantine instead of spooling.
    pub held: Vec<usize>,
    /// What the policy acted on, for the quarantine entry.
    pub reasons: Vec<String>,
    /// The tenants of the held recipients.
    pub held_tenants: Vec<String>,
    /// For the message's log line.
    pub auth_summary: Option<String>,
    pub scan_summary: Option<String>,
    /// The scanner's verdict, for outbound protection's spam signal.
    pub scan: Option<ScanVerdict>,
}

/// The scanner's outcome for one message.
enum Scanned {
    Verdict(ScanVerdict),
    /// Not scanned; the reason goes into the header.
    Unscanned(String),
    Off,
}

impl Screeners {
    /// Screens `message` (its content is rewritten with the headers); `Err` is the reply
    /// refusing it (`550 5.7.5xx`, or `451 4.7.1` for a scanner outage when so configured).
    pub async fn screen(
        &self,
        directory: Option<&Snapshot>,
        message: &mut ReceivedMessage,
        facts: &[RecipientFacts],
    ) -> Result<Screened, Reply> {
        let inbound = facts.is_empty() || facts.iter().any(|f| !f.outbound);
        let auth = match (&self.auth, inbound) {
            (Some(authenticator), true) => {
                if let Some(kept) = verdict::strip_forged_results(&message.content, &self.hostname) {
                    tracing::info!(client_ip = %message.envelope.client.ip, "forged Authentication-Results header removed");
                    message.content = kept;
                }
                let envelope = &message.envelope;
                let arrival = Arrival {
                    client_ip: envelope.client.ip,
                    helo: &envelope.client.helo,
                    sender: &envelope.sender,
                };
                Some(authenticator.check(arrival, &message.content).await)
            }
            _ => None,
        };
        let scanned = self.scan(message).await?;
        let judged = self.judge(directory, message, facts, auth.as_ref(), &scanned);
        let held = match judge_message(&judged) {
            MessageDecision::Reject(finding) => {
                let reply = finding.reply();
                tracing::info!(client_ip = %message.envelope.client.ip, sender = %message.envelope.sender, auth = auth.as_ref().map(AuthResults::summary).unwrap_or_default(), finding = %finding.describe(), %reply, "message refused by policy");
                return Err(reply);
            }
            MessageDecision::Accept(dispositions) => dispositions
                .iter()
                .enumerate()
                .filter(|(_, d)| **d == Disposition::Quarantine)
                .map(|(i, _)| i)
                .collect::<Vec<_>>(),
        };
        self.add_headers(message, auth.as_ref(), &scanned, &judged);
        Ok(self.outcome(held, facts, &judged, auth, scanned))
    }

    /// The head (the in-memory part, at most `limit` bytes) of a message that streams to the
    /// spool as it arrives, so that neither DKIM nor the scanner can see it whole: forged
    /// results under Sluice's name (and incoming verdict headers) are removed from it as
    /// from any message, and the headers say that it was not checked.
    pub fn mark_unchecked(&self, mut head: Vec<u8>, limit: usize) -> Vec<u8> {
        let why = format!("larger than {limit} bytes: not checked");
        let mut marks = String::new();
        if self.auth.is_some() {
            if let Some(kept) = verdict::strip_forged_results(&head, &self.hostname) {
                head = kept;
            }
            marks.push_str(&format!("Authentication-Results: {};\r\n\tnone ({why})\r\n", self.hostname));
        }
        if self.scanner.is_some() {
            if let Some(kept) =
                verdict::strip_headers(&head, |name, _| verdict::scan::is_verdict_header(name))
            {
                head = kept;
            }
            marks.push_str(&verdict::scan::unscanned_header(&why));
        }
        [marks.into_bytes(), head].concat()
    }

    /// The outcome of a message that streamed ([`Screeners::mark_unchecked`]): nothing
    /// found, nothing held, the log line says why.
    pub fn unchecked(&self, limit: usize) -> Screened {
        let why = format!("larger than {limit} bytes");
        if let Some(scanner) = &self.scanner {
            scanner.counters.too_large.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Screened {
            auth_summary: self.auth.as_ref().map(|_| format!("skipped ({why})")),
            scan_summary: self.scanner.as_ref().map(|_| format!("unscanned ({why})")),
            ..Screened::default()
        }
    }

    async fn scan(&self, message: &ReceivedMessage) -> Result<Scanned, Reply> {
        let Some(scanner) = &self.scanner else { return Ok(Scanned::Off) };
        match scanner.scan(&message.envelope, &message.content).await {
            Ok(Some(verdict)) => Ok(Scanned::Verdict(verdict)),
            Ok(None) => Ok(Scanned::Unscanned(format!(
                "larger than the scanner's limit of {} bytes",
                scanner.config.scan_bytes_max
            ))),
            Err(outage) => {
                let defer = scanner.config.on_failure == OnFailure::Defer;
                tracing::warn!(client_ip = %message.envelope.client.ip, reason = %outage.0, deferred = defer, "content scanner unavailable");
                if defer {
                    return Err(Reply::new(
                        451,
                        code(4, 7, 1),
                        "Temporary failure: the content scanner is unavailable, try again later (help: scanner-unavailable)",
                    ));
                }
                Ok(Scanned::Unscanned(format!("scanner unavailable: {}", outage.0)))
            }
        }
    }

    /// Each recipient's judgement; outbound recipients are judged by outbound protection
    /// instead and pass here.
    fn judge(
        &self,
        directory: Option<&Snapshot>,
        message: &ReceivedMessage,
        facts: &[RecipientFacts],
        auth: Option<&AuthResults>,
        scanned: &Scanned,
    ) -> Vec<RecipientJudgement> {
        let scan = match scanned {
            Scanned::Verdict(v) => Some(v),
            _ => None,
        };
        let from_owner =
            auth.and_then(|a| directory?.accepting(&a.dmarc.from_domain)).map(|d| d.tenant.clone());
        let aligned = facts.len() == message.envelope.recipients.len();
        (0..message.envelope.recipients.len())
            .map(|i| {
                let fact = facts.get(i).filter(|_| aligned);
                if fact.is_some_and(|f| f.outbound) {
                    return RecipientJudgement::default();
                }
                let tenant = fact.and_then(|f| f.tenant.as_ref());
                let recipient = RecipientPolicy {
                    policy: self.policy.for_tenant(tenant.map(|t| t.as_str())),
                    own_domain: tenant.is_some() && tenant == from_owner.as_ref(),
                    trusted: fact.is_some_and(|f| f.trusted),
                };
                judge_recipient(auth, scan, &recipient)
            })
            .collect()
    }

    fn add_headers(
        &self,
        message: &mut ReceivedMessage,
        auth: Option<&AuthResults>,
        scanned: &Scanned,
        judged: &[RecipientJudgement],
    ) {
        let mut headers = String::new();
        if let Some(auth) = auth {
            headers.push_str(&verdict::authentication_results(&self.hostname, auth));
        }
        match scanned {
            Scanned::Verdict(v) => headers.push_str(&v.headers()),
            Scanned::Unscanned(why) => headers.push_str(&verdict::scan::unscanned_header(why)),
            Scanned::Off => {}
        }
        if let Some(mark) = mark_header(judged) {
            headers.push_str(&mark);
        }
        if !matches!(scanned, Scanned::Off)
            && let Some(kept) =
                verdict::strip_headers(&message.content, |name, _| verdict::scan::is_verdict_header(name))
        {
            message.content = kept;
        }
        if headers.is_empty() {
            return;
        }
        let mut content = Vec::with_capacity(headers.len() + message.content.len());
        content.extend_from_slice(headers.as_bytes());
        content.extend_from_slice(&message.content);
        message.content = content;
    }

    fn outcome(
        &self,
        held: Vec<usize>,
        facts: &[RecipientFacts],
        judged: &[RecipientJudgement],
        auth: Option<AuthResults>,
        scanned: Scanned,
    ) -> Screened {
        let mut reasons: Vec<String> = Vec::new();
        let mut held_tenants: Vec<String> = Vec::new();
        for &i in &held {
            for (finding, _) in judged.get(i).map(|j| j.findings.as_slice()).unwrap_or_default() {
                let text = finding.describe();
                if !reasons.contains(&text) {
                    reasons.push(text);
                }
            }
            if let Some(tenant) = facts.get(i).and_then(|f| f.tenant.as_ref()).map(ToString::to_string)
                && !held_tenants.contains(&tenant)
            {
                held_tenants.push(tenant);
            }
        }
        let (scan_summary, scan) = match scanned {
            Scanned::Verdict(v) => (Some(v.summary()), Some(v)),
            Scanned::Unscanned(why) => (Some(format!("unscanned ({why})")), None),
            Scanned::Off => (None, None),
        };
        Screened { held, reasons, held_tenants, auth_summary: auth.map(|a| a.summary()), scan_summary, scan }
    }
}
