//! What each recipient's tenant wants done with a message that fails DMARC, spoofs one of
//! the tenant's own domains, or that the content scanner calls spam; and what that means
//! for the whole message at the end of DATA, where SMTP has one reply for all recipients.
//!
//! Each recipient's tenant may override the deployment's policy ([`Policies`]). Rules, per
//! recipient:
//! - DMARC `fail` under a published `p=reject` takes the tenant's `dmarc_reject` action,
//!   under `p=quarantine` its `dmarc_quarantine` action; `temperror` and `none` never act
//!   (a DNS problem is no evidence).
//! - Spoofing: the From domain is one of the recipient's tenant's own domains and the
//!   message did not authenticate as it (no DMARC pass, no aligned SPF or DKIM pass): the
//!   tenant's `spoofing` action.
//! - Mail through the recipient tenant's own trusted connector skips both: the tenant
//!   declared that server (its on-premises server need not pass SPF for its own domain).
//! - The scanner's `reject` verdict takes the tenant's `spam` action; its `add header` and
//!   `rewrite subject` verdicts are marks.
//!
//! The strongest action wins (reject, then quarantine, then mark). For the message: when
//! every recipient's action is reject, the message is refused with the first finding's
//! reply; otherwise rejecting recipients are held in quarantine instead (nothing is
//! dropped, and the others get their mail).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use smtp_wire::Reply;
use smtp_wire::reply::code;

use crate::auth::{AuthResults, DmarcPolicy, DmarcResult};
use crate::header::sanitise;
use crate::scan::{ScanAction, ScanVerdict};

/// What a tenant wants done with a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Deliver with a header that says what was found.
    Mark,
    /// Hold in the quarantine for an admin to release or delete.
    Quarantine,
    /// Refuse at the end of DATA (`550 5.7.5xx`).
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Mark => "mark",
            Action::Quarantine => "quarantine",
            Action::Reject => "reject",
        }
    }

    /// Parses `mark`, `quarantine` or `reject`.
    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "mark" => Some(Action::Mark),
            "quarantine" => Some(Action::Quarantine),
            "reject" => Some(Action::Reject),
            _ => None,
        }
    }
}

/// A tenant's inbound mail policy (the deployment's default where the tenant set none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailPolicy {
    /// DMARC failed and the From domain publishes `p=reject`.
    pub dmarc_reject: Action,
    /// DMARC failed and the From domain publishes `p=quarantine`.
    pub dmarc_quarantine: Action,
    /// One of the tenant's own domains in From, not authenticated, not through its connector.
    pub spoofing: Action,
    /// The content scanner's verdict is `reject`.
    pub spam: Action,
}

impl Default for MailPolicy {
    fn default() -> MailPolicy {
        MailPolicy {
            dmarc_reject: Action::Reject,
            dmarc_quarantine: Action::Quarantine,
            spoofing: Action::Reject,
            spam: Action::Quarantine,
        }
    }
}

/// A tenant's changes to the deployment's policy; what it leaves unset is the deployment's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyOverride {
    pub dmarc_reject: Option<Action>,
    pub dmarc_quarantine: Option<Action>,
    pub spoofing: Option<Action>,
    pub spam: Option<Action>,
}

/// The deployment's policy and the tenants' overrides of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policies {
    pub default: MailPolicy,
    /// By tenant id.
    pub tenants: BTreeMap<String, PolicyOverride>,
}

impl Policies {
    /// The policy for a recipient of `tenant` (the deployment's for recipients of no tenant).
    pub fn for_tenant(&self, tenant: Option<&str>) -> MailPolicy {
        let base = self.default;
        let Some(o) = tenant.and_then(|t| self.tenants.get(t)) else { return base };
        MailPolicy {
            dmarc_reject: o.dmarc_reject.unwrap_or(base.dmarc_reject),
            dmarc_quarantine: o.dmarc_quarantine.unwrap_or(base.dmarc_quarantine),
            spoofing: o.spoofing.unwrap_or(base.spoofing),
            spam: o.spam.unwrap_or(base.spam),
        }
    }
}

/// Something found about a message that a policy acts on.
#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    /// DMARC failed under the From domain's published policy.
    Dmarc { domain: String, policy: DmarcPolicy },
    /// The From domain is the recipient's tenant's own and the message did not authenticate.
    Spoofed { domain: String },
    /// The scanner's verdict (reject, add header, rewrite subject).
    Spam { action: ScanAction, score: f64, required: f64 },
}

impl Finding {
    /// A short text for marks, the log and the trace.
    pub fn describe(&self) -> String {
        match self {
            Finding::Dmarc { domain, policy } => format!("dmarc=fail (p={policy}) header.from={domain}"),
            Finding::Spoofed { domain } => format!("spoofed header.from={domain}"),
            Finding::Spam { action, score, required } => {
                format!("spam action=\"{}\" score={score:.2} required={required:.2}", action.as_str())
            }
        }
    }

    /// The end-of-DATA refusal for this finding, with its help page named in the text.
    pub fn reply(&self) -> Reply {
        match self {
            Finding::Dmarc { domain, policy } => Reply::new(
                550,
                code(5, 7, 509),
                format!(
                    "Access denied: the message claims to come from {domain} but fails that domain's DMARC policy \
                     (p={policy}): neither SPF nor DKIM passed for it. The sender's email admin must make the \
                     sending servers pass SPF or sign with DKIM for {domain} (help: 5.7.509)"
                ),
            ),
            Finding::Spoofed { domain } => Reply::new(
                550,
                code(5, 7, 510),
                format!(
                    "Access denied: the message claims to come from {domain}, a domain of the recipient's \
                     organisation, but was not sent through its servers and did not authenticate as {domain}. \
                     Its email admin can declare the sending server as a connector (help: 5.7.510)"
                ),
            ),
            Finding::Spam { score, .. } => Reply::new(
                550,
                code(5, 7, 520),
                format!(
                    "Message rejected as spam by content filtering (score {score:.1}). If this is a mistake, \
                     the sender's email admin should contact the recipient's organisation (help: 5.7.520)"
                ),
            ),
        }
    }
}

/// What is known about one recipient for the judgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecipientPolicy {
    pub policy: MailPolicy,
    /// The From domain is one of this recipient's tenant's domains.
    pub own_domain: bool,
    /// The session came through this recipient's tenant's trusted connector.
    pub trusted: bool,
}

/// One recipient's outcome: the strongest action among its findings (`None`: deliver as
/// is), and every finding (marks name them all).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecipientJudgement {
    pub action: Option<Action>,
    pub findings: Vec<(Finding, Action)>,
}

impl RecipientJudgement {
    fn add(&mut self, finding: Finding, action: Action) {
        self.action = self.action.max(Some(action));
        self.findings.push((finding, action));
    }
}

/// Judges one recipient by what authentication and the scanner found.
pub fn judge_recipient(
    auth: Option<&AuthResults>,
    scan: Option<&ScanVerdict>,
    recipient: &RecipientPolicy,
) -> RecipientJudgement {
    let mut judgement = RecipientJudgement::default();
    let policy = &recipient.policy;
    if let Some(auth) = auth.filter(|a| a.skipped.is_none() && !recipient.trusted) {
        let dmarc = &auth.dmarc;
        let domain = sanitise(&dmarc.from_domain);
        match (dmarc.result, dmarc.policy) {
            (DmarcResult::Fail, Some(p @ DmarcPolicy::Reject)) => {
                judgement.add(Finding::Dmarc { domain: domain.clone(), policy: p }, policy.dmarc_reject)
            }
            (DmarcResult::Fail, Some(p @ DmarcPolicy::Quarantine)) => {
                judgement.add(Finding::Dmarc { domain: domain.clone(), policy: p }, policy.dmarc_quarantine)
            }
            _ => {}
        }
        let unauthenticated = !auth.from_domain_authenticated() && dmarc.result != DmarcResult::TempError;
        if recipient.own_domain && unauthenticated && !domain.is_empty() {
            judgement.add(Finding::Spoofed { domain }, policy.spoofing);
        }
    }
    if let Some(scan) = scan {
        let finding = || Finding::Spam { action: scan.action, score: scan.score, required: scan.required };
        match scan.action {
            ScanAction::Reject => judgement.add(finding(), policy.spam),
            ScanAction::AddHeader | ScanAction::RewriteSubject => judgement.add(finding(), Action::Mark),
            _ => {}
        }
    }
    judgement
}

/// The message's fate at the end of DATA.
#[derive(Clone, Debug, PartialEq)]
pub enum MessageDecision {
    /// Refuse the whole message with this reply (every recipient's action was reject).
    Reject(Finding),
    /// Accept; each recipient (by index) is delivered or held in quarantine.
    Accept(Vec<Disposition>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    Deliver,
    Quarantine,
}

/// Combines the recipients' judgements (see the module's rules).
pub fn judge_message(recipients: &[RecipientJudgement]) -> MessageDecision {
    let all_reject = !recipients.is_empty() && recipients.iter().all(|r| r.action == Some(Action::Reject));
    if all_reject {
        let first = recipients.iter().find_map(|r| {
            r.findings.iter().find(|(_, action)| *action == Action::Reject).map(|(f, _)| f.clone())
        });
        if let Some(finding) = first {
            return MessageDecision::Reject(finding);
        }
    }
    MessageDecision::Accept(
        recipients
            .iter()
            .map(|r| match r.action {
                Some(Action::Reject | Action::Quarantine) => Disposition::Quarantine,
                Some(Action::Mark) | None => Disposition::Deliver,
            })
            .collect(),
    )
}

/// The mark header for delivered recipients' findings (with its CRLF), `None` without any.
pub fn mark_header(recipients: &[RecipientJudgement]) -> Option<String> {
    let mut seen: Vec<String> = Vec::new();
    for (finding, _) in recipients.iter().flat_map(|r| &r.findings) {
        let text = finding.describe();
        if !seen.contains(&text) {
            seen.push(text);
        }
    }
    (!seen.is_empty()).then(|| format!("X-Sluice-Verdict: {}\r\n", seen.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::*;

    fn auth(dmarc: DmarcResult, policy: Option<DmarcPolicy>, aligned: bool) -> AuthResults {
        AuthResults {
            spf: SpfCheck {
                result: SpfResult::Fail,
                scope: SpfScope::MailFrom,
                identity: "x@acme.example".into(),
                domain: "acme.example".into(),
            },
            dkim: Vec::new(),
            arc: ArcResult::None,
            dmarc: DmarcCheck {
                result: dmarc,
                from_domain: "acme.example".into(),
                policy,
                spf_aligned: aligned,
                dkim_aligned: false,
            },
            skipped: None,
        }
    }

    fn recipient(own_domain: bool, trusted: bool) -> RecipientPolicy {
        RecipientPolicy { policy: MailPolicy::default(), own_domain, trusted }
    }

    fn spam(action: ScanAction) -> ScanVerdict {
        ScanVerdict { action, score: 1000.0, required: 15.0, symbols: vec!["GTUBE".into()] }
    }

    /// (DMARC result, published policy, aligned pass, own domain, trusted, scanner) -> action.
    #[test]
    fn each_rule_decides_its_case() {
        use DmarcPolicy as P;
        use DmarcResult as D;
        type Case = (D, Option<P>, bool, bool, bool, Option<ScanAction>, Option<Action>);
        let cases: &[Case] = &[
            (D::Fail, Some(P::Reject), false, false, false, None, Some(Action::Reject)),
            (D::Fail, Some(P::Quarantine), false, false, false, None, Some(Action::Quarantine)),
            (D::Fail, Some(P::None), false, false, false, None, None),
            (D::TempError, Some(P::Reject), false, true, false, None, None),
            (D::Pass, Some(P::Reject), true, true, false, None, None),
            // No DMARC record, the tenant's own domain, nothing aligned passed: spoofed.
            (D::None, None, false, true, false, None, Some(Action::Reject)),
            // The same through the tenant's own connector: trusted.
            (D::None, None, false, true, true, None, None),
            (D::Fail, Some(P::Reject), false, true, true, None, None),
            // An aligned SPF pass without a DMARC record authenticates the domain.
            (D::None, None, true, true, false, None, None),
            // The scanner applies even through a connector.
            (D::None, None, false, true, true, Some(ScanAction::Reject), Some(Action::Quarantine)),
            (D::Pass, None, true, false, false, Some(ScanAction::AddHeader), Some(Action::Mark)),
            (D::Pass, None, true, false, false, Some(ScanAction::NoAction), None),
        ];
        for (i, (dmarc, policy, aligned, own, trusted, scan_action, expected)) in cases.iter().enumerate() {
            let results = auth(*dmarc, *policy, *aligned);
            let scanned = scan_action.map(spam);
            let judged = judge_recipient(Some(&results), scanned.as_ref(), &recipient(*own, *trusted));
            assert_eq!(judged.action, *expected, "case {i}: {judged:?}");
        }
    }

    #[test]
    fn the_strongest_action_wins_and_every_finding_is_kept() {
        let results = auth(DmarcResult::Fail, Some(DmarcPolicy::Quarantine), false);
        let judged =
            judge_recipient(Some(&results), Some(&spam(ScanAction::AddHeader)), &recipient(true, false));
        assert_eq!(judged.action, Some(Action::Reject), "spoofing (reject) beats quarantine and mark");
        assert_eq!(judged.findings.len(), 3);
    }

    #[test]
    fn a_message_is_refused_only_when_every_recipient_rejects() {
        let results = auth(DmarcResult::Fail, Some(DmarcPolicy::Reject), false);
        let reject = judge_recipient(Some(&results), None, &recipient(false, false));
        let trusted = judge_recipient(Some(&results), None, &recipient(false, true));
        match judge_message(&[reject.clone(), reject.clone()]) {
            MessageDecision::Reject(finding) => {
                assert!(finding.reply().summary().starts_with("550 5.7.509 Access denied"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            judge_message(&[reject, trusted]),
            MessageDecision::Accept(vec![Disposition::Quarantine, Disposition::Deliver])
        );
        assert_eq!(judge_message(&[]), MessageDecision::Accept(vec![]));
    }

    #[test]
    fn replies_carry_their_codes() {
        let spoofed = Finding::Spoofed { domain: "acme.example".into() }.reply().summary();
        assert!(
            spoofed.starts_with("550 5.7.510 Access denied: the message claims to come from acme.example")
        );
        let spam = Finding::Spam { action: ScanAction::Reject, score: 1000.0, required: 15.0 }.reply();
        assert!(spam.summary().starts_with("550 5.7.520 Message rejected as spam"));
    }

    #[test]
    fn a_tenant_override_changes_only_what_it_sets() {
        let mut policies = Policies::default();
        let only_spoofing = PolicyOverride { spoofing: Some(Action::Mark), ..PolicyOverride::default() };
        policies.tenants.insert("acme".into(), only_spoofing);
        let acme = policies.for_tenant(Some("acme"));
        assert_eq!(acme, MailPolicy { spoofing: Action::Mark, ..MailPolicy::default() });
        assert_eq!(policies.for_tenant(Some("globex")), MailPolicy::default());
        assert_eq!(policies.for_tenant(None), MailPolicy::default());
    }

    #[test]
    fn the_mark_names_each_finding_once() {
        let results = auth(DmarcResult::Fail, Some(DmarcPolicy::Quarantine), false);
        let one = judge_recipient(Some(&results), None, &recipient(false, false));
        assert_eq!(
            mark_header(&[one.clone(), one]).as_deref(),
            Some("X-Sluice-Verdict: dmarc=fail (p=quarantine) header.from=acme.example\r\n")
        );
        assert_eq!(mark_header(&[RecipientJudgement::default()]), None);
    }
}
