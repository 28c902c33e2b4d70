//! What recovery found and did, for the caller to log (`RecoveryReport::log`).

use std::fmt;
use std::path::PathBuf;

use crate::MessageId;

/// Lost message ids written into one log line at most; the report keeps them all.
const LOGGED_IDS_MAX: usize = 1000;

/// What `Spool::open` found in the spool and what it did about damage.
///
/// A torn tail (a crash during an append) is not damage: nothing in it was acknowledged, so
/// it is cut off and only counted in `torn_bytes`. Anything else that does not check out is
/// damage: its bytes are moved into `<spool>/quarantine/` with a note beside them, and every
/// message that was live and cannot be recovered because of it is named where any record
/// still names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files read, quarantined ones included.
    pub segments: u64,
    /// Intact records applied.
    pub records_read: u64,
    /// Live messages recovered.
    pub live_messages: u64,
    /// Damaged records skipped in segments that were otherwise read. A damaged run whose
    /// frames are unreadable counts as one record, so this is a lower bound; the records of
    /// whole segments moved into quarantine are not counted.
    pub records_lost: u64,
    /// Byte ranges, whole segments and data files moved into quarantine.
    pub quarantined: Vec<Quarantined>,
    /// Messages that were live and are lost, ascending: their message record was damaged
    /// (its frame still naming it), or a later record (a `Schedule`, or a `Done` that does not
    /// finish it) shows it was live, or its data file is missing or damaged. Each is reported
    /// once: recovery records the loss in the log.
    pub lost_messages: Vec<MessageId>,
    /// Whether damage may have taken messages that no record names any more (a damaged run
    /// with unreadable frames, a quarantined segment): `lost_messages` may be incomplete.
    pub unnamed_losses_possible: bool,
    /// Bytes of torn tails cut off.
    pub torn_bytes: u64,
    /// Data files that belonged to no live message (a crash between writing the data and
    /// its record, or after a message was finished), removed.
    pub orphan_files_removed: u64,
}

/// Bytes recovery moved into quarantine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    /// The file the bytes were in (a segment or a data file).
    pub source: PathBuf,
    pub offset: u64,
    pub len: u64,
    /// Where they are now; a `.txt` note beside it says what happened.
    pub file: PathBuf,
    pub reason: &'static str,
}

impl RecoveryReport {
    /// True when recovery found no damage (a torn tail is not damage).
    pub fn is_clean(&self) -> bool {
        self.quarantined.is_empty() && self.lost_messages.is_empty() && self.records_lost == 0
    }

    /// Logs the report: one `info` line with the counts, and when there was damage one
    /// `error` line per quarantined range and one with the losses and the lost ids.
    pub fn log(&self) {
        tracing::info!(
            segments = self.segments,
            records = self.records_read,
            messages = self.live_messages,
            torn_bytes = self.torn_bytes,
            orphan_files_removed = self.orphan_files_removed,
            "spool recovered"
        );
        for q in &self.quarantined {
            tracing::error!(
                source = %q.source.display(),
                offset = q.offset,
                len = q.len,
                quarantine = %q.file.display(),
                reason = q.reason,
                "spool damage moved into quarantine"
            );
        }
        if !self.is_clean() {
            tracing::error!(
                records_lost = self.records_lost,
                messages_lost = self.lost_messages.len(),
                unnamed_losses_possible = self.unnamed_losses_possible,
                lost_ids = %LostIds(&self.lost_messages),
                "spool recovery lost damaged records; the other messages were recovered"
            );
        }
    }
}

/// The lost ids for a log line, at most `LOGGED_IDS_MAX` of them.
struct LostIds<'a>(&'a [MessageId]);

impl fmt::Display for LostIds<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, id) in self.0.iter().take(LOGGED_IDS_MAX).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{id}")?;
        }
        match self.0.len().checked_sub(LOGGED_IDS_MAX) {
            Some(more) if more > 0 => write!(f, " and {more} more"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_ids_are_listed_up_to_a_limit() {
        let ids: Vec<MessageId> = (1..=3).map(MessageId).collect();
        assert_eq!(LostIds(&ids).to_string(), "0000000000000001 0000000000000002 0000000000000003");
        let many: Vec<MessageId> = (0..LOGGED_IDS_MAX as u64 + 5).map(MessageId).collect();
        assert!(LostIds(&many).to_string().ends_with("00000000000003e7 and 5 more"));
        assert_eq!(LostIds(&[]).to_string(), "");
    }

    #[test]
    fn a_torn_tail_is_not_damage() {
        let mut report = RecoveryReport { torn_bytes: 10, ..Default::default() };
        assert!(report.is_clean());
        report.lost_messages.push(MessageId(1));
        assert!(!report.is_clean());
    }
}
