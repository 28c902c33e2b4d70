//! What a settled attempt's notification reports: pure, so the mapping from outcomes to
//! DSN reports is tested without a queue. The facts go to the bounce crate as
//! `RecipientReport`s through its constructors, the same ones its golden files use.

use bounce::{RecipientReport, RemoteReply};

use crate::delivery::Outcome;

/// What the settling queue manager decided for the recipients of one attempt.
pub(super) struct Decisions<'a> {
    /// Finished as failed: a permanent outcome, or (when `expired`) still deferred at expiry.
    pub(super) failed: &'a [u32],
    /// The message is past its maximum age: deferred recipients in `failed` expired.
    pub(super) expired: bool,
    /// The delay notice is due; when Sluice gives up.
    pub(super) delayed_until_s: Option<u64>,
    /// The last real remote reply of each recipient, from any attempt.
    pub(super) last_replies: &'a [(u32, RemoteReply)],
    /// The recipients whose `NOTIFY=` asks to be told of their delivery.
    pub(super) success_requested: &'a [u32],
    pub(super) now_s: u64,
}

/// The notification's reports, in recipient order: failures, expiries (`4.4.7` with the last
/// real reply), delays when the delay notice is due, and local deliveries (for
/// `NOTIFY=SUCCESS`; a remote server that supports DSN reports its own).
pub(super) fn reports_for(outcomes: &[(u32, Outcome)], decided: &Decisions<'_>) -> Vec<RecipientReport> {
    let last_reply =
        |index: u32| decided.last_replies.iter().find(|(i, _)| *i == index).map(|(_, reply)| reply.clone());
    let now = decided.now_s;
    let mut reports: Vec<RecipientReport> = outcomes
        .iter()
        .filter_map(|(index, outcome)| {
            let i = *index as usize;
            let failed = decided.failed.contains(index);
            match outcome {
                Outcome::Failed(f) if failed => {
                    Some(RecipientReport::failed(i, f.status, f.diagnosis.clone(), now))
                }
                Outcome::Deferred(f) if failed && decided.expired => {
                    Some(RecipientReport::expired(i, f.diagnosis.clone(), last_reply(*index), now))
                }
                Outcome::Deferred(f) => decided.delayed_until_s.map(|until| {
                    RecipientReport::delayed(i, f.status, f.diagnosis.clone(), last_reply(*index), now, until)
                }),
                Outcome::Delivered { remote: None, .. } if decided.success_requested.contains(index) => {
                    Some(RecipientReport::delivered(i, now))
                }
                Outcome::Failed(_) | Outcome::Delivered { .. } => None,
            }
        })
        .collect();
    reports.sort_by_key(RecipientReport::index);
    reports
}

/// `last` with this attempt's remote replies: a recipient's newest real reply replaces its
/// older one; recipients finished in this attempt are dropped.
pub(super) fn remember_replies(
    last: &mut Vec<(u32, RemoteReply)>,
    outcomes: &[(u32, Outcome)],
    pending: &[u32],
) {
    for (index, outcome) in outcomes {
        let Outcome::Deferred(failure) = outcome else { continue };
        let Some(reply) = failure.diagnosis.reply() else { continue };
        match last.iter_mut().find(|(i, _)| i == index) {
            Some((_, kept)) => *kept = reply.clone(),
            None => last.push((*index, reply.clone())),
        }
    }
    last.retain(|(i, _)| pending.contains(i));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Failure;
    use bounce::{Action, Diagnosis, EXPIRED_STATUS, ProblemKind, SmtpStage};
    use smtp_wire::Reply;
    use smtp_wire::reply::code;

    fn deferred(reason: &str) -> Outcome {
        Outcome::Deferred(Failure::local(code(4, 4, 1), ProblemKind::ConnectionRefused, reason))
    }

    fn reply(text: &str) -> RemoteReply {
        RemoteReply::new("mx.example", SmtpStage::RcptTo, &Reply::new(451, code(4, 7, 501), text))
    }

    fn decisions<'a>(failed: &'a [u32], expired: bool, last: &'a [(u32, RemoteReply)]) -> Decisions<'a> {
        Decisions {
            failed,
            expired,
            delayed_until_s: Some(1_000),
            last_replies: last,
            success_requested: &[1, 3],
            now_s: 50,
        }
    }

    #[test]
    fn reports_say_failed_expired_delayed_and_delivered_in_recipient_order() {
        let unknown = Failure::local(code(5, 1, 1), ProblemKind::UnknownRecipient, "no such user");
        let outcomes = vec![
            (2, deferred("connection refused")),
            (0, Outcome::Failed(unknown)),
            (1, Outcome::Delivered { remote: None, reply: None }),
            (3, Outcome::Delivered { remote: Some("mx.example".into()), reply: None }),
            (4, deferred("connection refused")),
        ];
        // Recipient 4 expired with an earlier real reply; recipient 2 is only delayed.
        let last = [(4, reply("Deferred (AS501)"))];
        let reports = reports_for(&outcomes, &decisions(&[0, 4], true, &last));
        let summary: Vec<(usize, Action)> = reports.iter().map(|r| (r.index(), r.action())).collect();
        assert_eq!(
            summary,
            [(0, Action::Failed), (1, Action::Delivered), (2, Action::Delayed), (4, Action::Failed)],
            "a remote delivery is the remote server's to report"
        );
        let unasked = Decisions { success_requested: &[], ..decisions(&[0, 4], true, &last) };
        assert!(reports_for(&outcomes, &unasked).iter().all(|r| r.action() != Action::Delivered));
        let expired = &reports[3];
        assert!(expired.is_expired());
        assert_eq!(expired.status(), EXPIRED_STATUS);
        assert_eq!(expired.reply(), Some(&last[0].1), "the last real reply is kept");
        assert_eq!(expired.problem().map(|p| p.kind), Some(ProblemKind::ConnectionRefused));
        assert_eq!(reports[2].reply(), None);
        // No delay notice due: the deferred recipient is not reported.
        let quiet = Decisions { delayed_until_s: None, ..decisions(&[0], false, &[]) };
        assert!(reports_for(&outcomes, &quiet).iter().all(|r| r.action() != Action::Delayed));
    }

    #[test]
    fn the_newest_real_reply_of_each_pending_recipient_is_remembered() {
        let mut last = vec![(0, reply("first")), (1, reply("other"))];
        let throttled = Outcome::Deferred(Failure {
            status: code(4, 7, 501),
            diagnosis: Diagnosis::Reply(reply("second")),
            throttled: true,
        });
        remember_replies(&mut last, &[(0, throttled), (2, deferred("refused"))], &[0, 2]);
        assert_eq!(last, [(0, reply("second"))], "1 finished; a refused connection is no reply");
    }
}
