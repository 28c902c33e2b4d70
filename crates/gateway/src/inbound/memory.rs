//! The memory budget of DATA transfers: what all sessions receiving a message may hold at
//! once. Each transfer reserves, when its DATA command arrives, the most it can hold (its
//! in-memory part and its buffers); a reservation that does not fit is refused and the
//! client gets `452 4.3.1`, before it sends any content. A message larger than its
//! in-memory part streams into the spool, so what a transfer holds does not grow with the
//! message's size.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use smtp_wire::Envelope;

use crate::settings::DataMemory;

/// The driver's read buffer, which content passes through.
pub(crate) const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Memory that DATA transfers hold, shared by all sessions.
#[derive(Debug, Default)]
pub(crate) struct MemoryBudget {
    used: AtomicUsize,
}

/// One transfer's share of the budget; returned on drop.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

/// What one transfer keeps in memory and reserves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TransferMemory {
    /// Content beyond this many bytes streams into the spool.
    pub(crate) in_memory_max: usize,
    /// The in-memory part, the session's piece buffer, the spool writer's buffer and the
    /// read buffer.
    pub(crate) reserved: usize,
}

impl TransferMemory {
    /// For a message to `envelope`: the configured in-memory part, or the SIZE the client
    /// declared when that is smaller (a client that sends more only streams sooner).
    pub(crate) fn for_message(
        envelope: &Envelope,
        limits: &DataMemory,
        piece_bytes: usize,
    ) -> TransferMemory {
        let declared =
            envelope.declared_size.map_or(usize::MAX, |s| usize::try_from(s).unwrap_or(usize::MAX));
        let in_memory_max = limits.transfer_bytes_max.min(declared.max(piece_bytes));
        // A piece arrives while the previous one is being written (the spool writer's
        // buffer holds at most one piece), and reads pass through the read buffer.
        let reserved = in_memory_max + 2 * piece_bytes + READ_CHUNK_BYTES;
        TransferMemory { in_memory_max, reserved }
    }
}

impl MemoryBudget {
    /// Reserves `bytes` if the total stays within `max`.
    pub(crate) fn reserve(self: &Arc<Self>, bytes: usize, max: usize) -> Option<Reservation> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= max)
            })
            .ok()?;
        Some(Reservation { budget: Arc::clone(self), bytes })
    }

    /// Bytes reserved now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_wire::{Address, ClientInfo, Recipient, ReversePath};

    fn envelope(declared_size: Option<u64>) -> Envelope {
        let client = ClientInfo::new("192.0.2.1".parse().expect("ip"), "client.test");
        let recipients = vec![Recipient::new(Address::new("bob", "example.test"))];
        Envelope { declared_size, ..Envelope::new(ReversePath::Null, recipients, client) }
    }

    #[test]
    fn reservations_stay_within_the_budget_and_come_back_on_drop() {
        let budget = Arc::new(MemoryBudget::default());
        let first = budget.reserve(600, 1000).expect("fits");
        assert!(budget.reserve(600, 1000).is_none(), "1200 > 1000");
        let second = budget.reserve(400, 1000).expect("exactly full");
        assert_eq!(budget.used(), 1000);
        drop(first);
        assert_eq!(budget.used(), 400);
        assert!(budget.reserve(600, 1000).is_some());
        drop(second);
    }

    #[test]
    fn a_declared_size_shrinks_the_in_memory_part() {
        let limits = DataMemory { transfer_bytes_max: 256 << 10, total_bytes_max: 1 << 30 };
        let piece = 64 << 10;
        let unknown = TransferMemory::for_message(&envelope(None), &limits, piece);
        assert_eq!(unknown.in_memory_max, 256 << 10);
        assert_eq!(unknown.reserved, (256 << 10) + (128 << 10) + READ_CHUNK_BYTES);
        let small = TransferMemory::for_message(&envelope(Some(4000)), &limits, piece);
        assert_eq!(small.in_memory_max, piece, "never below one piece");
        let large = TransferMemory::for_message(&envelope(Some(50 << 20)), &limits, piece);
        assert_eq!(large.in_memory_max, 256 << 10);
    }
}
