//! When a message with deferred recipients is tried again, when it expires and when its
//! sender is told about the delay. Pure: the queue manager passes the times in (unix
//! milliseconds), so the whole five-day life of a message is tested without waiting.

use std::time::Duration;

use spool::Schedule;

/// When to retry, give up and tell the sender (RFC 5321 4.5.4.1: retry for at least 4-5 days; the first retries
/// come within minutes and then back off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryTiming {
    /// Wait after the first failed attempt; it doubles after each further one.
    pub first: Duration,
    /// The longest wait between two attempts.
    pub max: Duration,
    /// A message still not delivered this long after it arrived is bounced.
    pub max_age: Duration,
    /// A sender is told once that a message is delayed this long after it arrived
    /// (`None`: never).
    pub delay_notice: Option<Duration>,
}

impl RetryTiming {
    /// The wait after `attempts` failed attempts (1 = the first failure).
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32.checked_shl(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }

    /// When the message expires.
    pub fn expires_at_ms(&self, received_at_ms: u64) -> u64 {
        received_at_ms.saturating_add(millis(self.max_age))
    }
}

/// What to do with the recipients still deferred after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterAttempt {
    /// Try again at `schedule.next_attempt_unix_ms`; `notify_delay` when the sender should
    /// now be told about the delay (the schedule already records that it was).
    Retry { schedule: Schedule, notify_delay: bool },
    /// The message is too old: bounce the deferred recipients.
    Expire,
}

/// The decision after an attempt that left some recipients deferred. `not_before_ms` is
/// the earliest retry the destinations allow (a destination that asked us to slow down).
pub fn after_attempt(
    timing: &RetryTiming,
    previous: Schedule,
    received_at_ms: u64,
    now_ms: u64,
    not_before_ms: u64,
) -> AfterAttempt {
    let expires = timing.expires_at_ms(received_at_ms);
    if now_ms >= expires {
        return AfterAttempt::Expire;
    }
    let attempts = previous.attempts.saturating_add(1);
    // The last retry happens at the expiry time, not after it, so no message outlives
    // `max_age` by a whole backoff interval.
    let next = now_ms.saturating_add(millis(timing.backoff(attempts))).max(not_before_ms).min(expires);
    let notify_delay = !previous.delay_notified
        && timing.delay_notice.is_some_and(|d| now_ms >= received_at_ms.saturating_add(millis(d)));
    let schedule = Schedule {
        attempts,
        next_attempt_unix_ms: next,
        delay_notified: previous.delay_notified || notify_delay,
    };
    AfterAttempt::Retry { schedule, notify_delay }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;

    fn timing() -> RetryTiming {
        RetryTiming {
            first: Duration::from_secs(300),
            max: Duration::from_secs(3600),
            max_age: Duration::from_secs(5 * 86_400),
            delay_notice: Some(Duration::from_secs(4 * 3600)),
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let delays: Vec<u64> = (1..=6).map(|a| timing().backoff(a).as_secs()).collect();
        assert_eq!(delays, [300, 600, 1200, 2400, 3600, 3600]);
        assert_eq!(timing().backoff(200).as_secs(), 3600);
    }

    /// A message that never gets through, followed attempt by attempt over five days.
    #[test]
    fn five_days_of_retries_then_expiry_with_one_delay_notice() {
        let timing = timing();
        let received = 1_700_000_000_000;
        let (mut now, mut schedule) = (received, Schedule::default());
        let (mut attempts, mut notices, mut first_notice_at) = (0, 0, 0);
        while let AfterAttempt::Retry { schedule: next, notify_delay } =
            after_attempt(&timing, schedule, received, now, 0)
        {
            assert!(next.next_attempt_unix_ms > now, "retries move forward");
            if notify_delay {
                notices += 1;
                first_notice_at = now;
            }
            schedule = next;
            now = next.next_attempt_unix_ms;
            attempts += 1;
        }
        assert_eq!(now, received + 5 * DAY, "the last attempt is at the expiry time");
        assert_eq!(notices, 1);
        assert!((received + 4 * HOUR..received + 5 * HOUR).contains(&first_notice_at));
        // After 5, 10, 20 and 40 minutes (75 in all), hourly: ceil((7200 - 75) / 60) = 119
        // more, the last one cut short to the expiry time.
        assert_eq!(attempts, 4 + 119);
        assert_eq!(schedule.next_attempt_unix_ms, received + 5 * DAY);
    }

    #[test]
    fn first_retries_come_within_minutes() {
        let received = 1_000 * DAY;
        let AfterAttempt::Retry { schedule, notify_delay } =
            after_attempt(&timing(), Schedule::default(), received, received + 1000, 0)
        else {
            panic!("a fresh message is retried");
        };
        assert_eq!(schedule.attempts, 1);
        assert_eq!(schedule.next_attempt_unix_ms, received + 1000 + 5 * MINUTE);
        assert!(!notify_delay);
    }

    #[test]
    fn a_slowed_destination_pushes_the_retry_back() {
        let received = 1_000 * DAY;
        let not_before = received + 2 * HOUR;
        let AfterAttempt::Retry { schedule, .. } =
            after_attempt(&timing(), Schedule::default(), received, received, not_before)
        else {
            panic!("retried");
        };
        assert_eq!(schedule.next_attempt_unix_ms, not_before);
    }

    #[test]
    fn no_delay_notice_when_disabled_or_already_sent() {
        let received = 1_000 * DAY;
        let late = received + 6 * HOUR;
        let disabled = RetryTiming { delay_notice: None, ..timing() };
        let decide = |timing: &RetryTiming, schedule| after_attempt(timing, schedule, received, late, 0);
        assert!(matches!(
            decide(&disabled, Schedule::default()),
            AfterAttempt::Retry { notify_delay: false, .. }
        ));
        let sent = Schedule { attempts: 3, next_attempt_unix_ms: late, delay_notified: true };
        let AfterAttempt::Retry { schedule, notify_delay } = decide(&timing(), sent) else {
            panic!("retried");
        };
        assert!(!notify_delay);
        assert!(schedule.delay_notified, "the flag is kept");
        assert!(matches!(
            decide(&timing(), Schedule::default()),
            AfterAttempt::Retry { notify_delay: true, .. }
        ));
    }

    #[test]
    fn a_message_older_than_max_age_expires() {
        let received = 1_000 * DAY;
        assert_eq!(
            after_attempt(&timing(), Schedule::default(), received, received + 5 * DAY, 0),
            AfterAttempt::Expire
        );
    }
}
