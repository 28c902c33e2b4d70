//! Message ids: unique, increasing, and never reused across restarts.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Bits of an id below the millisecond timestamp: a counter for ids issued in the same
/// millisecond (65,536 per ms before the id runs ahead of the clock, which is harmless).
const COUNTER_BITS: u32 = 16;

/// The spool's id for one accepted message: unix milliseconds in the high bits, a counter in
/// the low 16 bits. Shown as 16 lowercase hex digits, which sort like the ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub u64);

impl MessageId {
    /// The millisecond timestamp the id was issued at (approximate when issued in a burst).
    pub fn unix_ms(self) -> u64 {
        self.0 >> COUNTER_BITS
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The text was not 16 hex digits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a message id is 16 hexadecimal digits")]
pub struct ParseMessageIdError;

impl FromStr for MessageId {
    type Err = ParseMessageIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseMessageIdError);
        }
        u64::from_str_radix(s, 16).map(MessageId).map_err(|_| ParseMessageIdError)
    }
}

/// Issues ids from any thread. Ids are strictly increasing even if the clock steps back:
/// each id is `max(last + 1, now_ms << 16)`, and `floor` (the highest id found on disk at
/// recovery) keeps that true across restarts.
#[derive(Debug)]
pub(crate) struct IdGenerator {
    last: AtomicU64,
}

impl IdGenerator {
    pub(crate) fn new(floor: u64) -> Self {
        IdGenerator { last: AtomicU64::new(floor) }
    }

    /// The highest id issued so far (or the floor).
    pub(crate) fn last(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }

    pub(crate) fn next(&self) -> MessageId {
        self.next_at(now_unix_ms())
    }

    pub(crate) fn next_at(&self, now_ms: u64) -> MessageId {
        let from_clock = now_ms << COUNTER_BITS;
        let mut current = self.last.load(Ordering::Acquire);
        loop {
            let candidate = from_clock.max(current.saturating_add(1));
            match self.last.compare_exchange_weak(current, candidate, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return MessageId(candidate),
                Err(seen) => current = seen,
            }
        }
    }
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX >> COUNTER_BITS))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let id = MessageId(0x0193_4a5b_0000_0007);
        assert_eq!(id.to_string(), "01934a5b00000007");
        assert_eq!("01934a5b00000007".parse::<MessageId>(), Ok(id));
        assert_eq!("01934A5B00000007".parse::<MessageId>(), Ok(id));
        assert!("1934a5b00000007".parse::<MessageId>().is_err());
        assert!("+1934a5b00000007".parse::<MessageId>().is_err());
        assert!("01934a5b0000000g".parse::<MessageId>().is_err());
    }

    #[test]
    fn ids_increase_when_the_clock_steps_back() {
        let ids = IdGenerator::new(0);
        let a = ids.next_at(1_000);
        let b = ids.next_at(1_000);
        let c = ids.next_at(900);
        let d = ids.next_at(2_000);
        assert!(a < b && b < c && c < d);
        assert_eq!(a.unix_ms(), 1_000);
        assert_eq!(d.unix_ms(), 2_000);
    }

    #[test]
    fn floor_from_recovery_is_respected() {
        let ids = IdGenerator::new(5_000 << COUNTER_BITS);
        assert!(ids.next_at(10).0 > 5_000 << COUNTER_BITS);
    }
}
