//! What a settled attempt's notification reports: pure, so the mapping from outcomes to
//! DSN actions is tested without a queue.

use bounce::Action;
use smtp_wire::reply::code;

use crate::notify::Report;
use crate::remote::Outcome;

/// What the notification of a settled attempt reports, in recipient order: failures (an
/// expired recipient as `5.4.7` with its last error), delays when the delay notice is due
/// (`delayed_until_s`: when Sluice gives up), and local deliveries (for `NOTIFY=SUCCESS`;
/// a remote server that supports DSN reports its own).
pub(super) fn reports_for(
    outcomes: &[(u32, Outcome)],
    failed: &[u32],
    delayed_until_s: Option<u64>,
    age_ms: u64,
) -> Vec<Report> {
    let mut reports: Vec<Report> = outcomes
        .iter()
        .filter_map(|(index, outcome)| {
            if failed.contains(index) {
                let mut report = Report::from_outcome(*index, outcome, Action::Failed);
                if let (Outcome::Deferred(f), Some(failure)) = (outcome, report.failure.as_mut()) {
                    failure.status = code(5, 4, 7);
                    failure.diagnostic = format!(
                        "delivery gave up after {}; the last attempt said: {}",
                        age_text(age_ms),
                        f.diagnostic
                    );
                }
                return Some(report);
            }
            match outcome {
                Outcome::Deferred(_) => delayed_until_s.map(|until| Report {
                    will_retry_until_unix_s: Some(until),
                    ..Report::from_outcome(*index, outcome, Action::Delayed)
                }),
                Outcome::Delivered { remote: None } => {
                    Some(Report::from_outcome(*index, outcome, Action::Delivered))
                }
                _ => None,
            }
        })
        .collect();
    reports.sort_by_key(|r| r.index);
    reports
}

/// A message's age for a person: `5 days`, `3 hours`, `12 minutes`, `6 seconds`.
fn age_text(ms: u64) -> String {
    let s = ms / 1000;
    let (n, unit) = match s {
        0..60 => (s, "second"),
        60..3_600 => (s / 60, "minute"),
        3_600..86_400 => (s / 3_600, "hour"),
        _ => (s / 86_400, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::Failure;

    fn deferred(reason: &str) -> Outcome {
        Outcome::Deferred(Failure::local(code(4, 3, 0), reason))
    }

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(age_text(6_000), "6 seconds");
        assert_eq!(age_text(60_000), "1 minute");
        assert_eq!(age_text(3 * 3_600_000 + 5), "3 hours");
        assert_eq!(age_text(5 * 86_400_000), "5 days");
    }

    #[test]
    fn reports_say_failed_expired_delayed_and_delivered_in_recipient_order() {
        let outcomes = vec![
            (2, deferred("451 4.3.0 try later")),
            (0, Outcome::Failed(Failure::local(code(5, 1, 1), "550 5.1.1 no such user"))),
            (1, Outcome::Delivered { remote: None }),
            (3, Outcome::Delivered { remote: Some("mx.example".into()) }),
            (4, deferred("451 4.4.1 no answer")),
        ];
        // Recipient 4 expired; recipient 2 is still deferred and a delay notice is due.
        let reports = reports_for(&outcomes, &[0, 4], Some(1_000), 5 * 86_400_000);
        let summary: Vec<(u32, Action)> = reports.iter().map(|r| (r.index, r.action)).collect();
        assert_eq!(
            summary,
            [(0, Action::Failed), (1, Action::Delivered), (2, Action::Delayed), (4, Action::Failed)],
            "a remote delivery is the remote server's to report"
        );
        let expired = reports[3].failure.as_ref().expect("failure");
        assert_eq!(expired.status, code(5, 4, 7));
        assert_eq!(
            expired.diagnostic,
            "delivery gave up after 5 days; the last attempt said: 451 4.4.1 no answer"
        );
        assert_eq!(reports[2].will_retry_until_unix_s, Some(1_000));
        // No delay notice due: the deferred recipient is not reported.
        let quiet = reports_for(&outcomes, &[0], None, 60_000);
        assert!(quiet.iter().all(|r| r.action != Action::Delayed));
    }
}
