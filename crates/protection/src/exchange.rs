//! Fleet mode: the counts behind every limit and the threshold, shared between nodes.
//!
//! With exchange on ([`Protection::enable_exchange`]), every count this node makes is also
//! kept as a [`CountEvent`] (bounded: beyond `events_max` between two takes, events are
//! dropped and counted, never the decision). The gateway takes them
//! ([`Protection::take_events`]), ships them to the other nodes, and merges theirs
//! ([`Protection::merge_events`]) into the same windows, each count in the bucket of the
//! time it was made (a count older than its window is ignored). Decisions stay local: a
//! node refuses once its view of the fleet's counts reaches a limit, so within the exchange
//! delay the fleet may pass a limit by what the other nodes counted meanwhile. A merged
//! message that takes the tenant over its threshold trips it here too (the store keeps one
//! block whichever node writes it first).

use serde::{Deserialize, Serialize};

use crate::protection::{Protection, Trip};

/// One count made by one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CountEvent {
    /// A queued message from an unregistered sender domain (5.7.750 allowance).
    Unregistered { tenant: String, at_unix_s: u64 },
    /// A recipient that passed the sender's rate limits (4.7.752) and, from the service
    /// domain, the tenant's daily limit (5.7.751). `sender` is normalised.
    Recipient { tenant: String, sender: String, service: bool, at_unix_s: u64 },
    /// A queued message judged for the threshold (5.7.705): its recipients, the signals
    /// that flagged it (bit per [`crate::Signal`] in `Signal::ALL` order) and its body
    /// fingerprint when the body was long enough to count.
    Message { tenant: String, at_unix_s: u64, recipients: u32, signals: u8, fingerprint: Option<u64> },
    /// Delivery outcomes of the tenant's outbound recipients (bounce rate).
    Outcomes { tenant: String, at_unix_s: u64, delivered: u32, bounced: u32 },
}

impl CountEvent {
    /// The tenant the count belongs to.
    pub fn tenant(&self) -> &str {
        match self {
            CountEvent::Unregistered { tenant, .. }
            | CountEvent::Recipient { tenant, .. }
            | CountEvent::Message { tenant, .. }
            | CountEvent::Outcomes { tenant, .. } => tenant,
        }
    }
}

/// Events not yet taken, at most `max`.
#[derive(Debug)]
pub(crate) struct Outbox {
    events: Vec<CountEvent>,
    max: usize,
    dropped: u64,
}

impl Outbox {
    pub(crate) fn push(&mut self, event: CountEvent) {
        if self.events.len() >= self.max {
            self.dropped += 1;
        } else {
            self.events.push(event);
        }
    }
}

pub(crate) fn signal_bits(signals: [bool; 4]) -> u8 {
    signals.iter().enumerate().fold(0, |bits, (i, on)| bits | (u8::from(*on) << i))
}

pub(crate) fn signals_of(bits: u8) -> [bool; 4] {
    std::array::from_fn(|i| bits & (1 << i) != 0)
}

impl Protection {
    /// Keeps every count as an event for the other nodes, at most `events_max` between two
    /// [`Protection::take_events`].
    pub fn enable_exchange(&self, events_max: usize) {
        self.lock().outbox = Some(Outbox { events: Vec::new(), max: events_max.max(1), dropped: 0 });
    }

    /// Moves the events counted since the last take into `out`; returns how many were
    /// dropped meanwhile because the outbox was full.
    pub fn take_events(&self, out: &mut Vec<CountEvent>) -> u64 {
        let mut state = self.lock();
        let Some(outbox) = state.outbox.as_mut() else { return 0 };
        out.append(&mut outbox.events);
        std::mem::take(&mut outbox.dropped)
    }

    /// Adds other nodes' counts. Returns the trips they caused here (a tenant that the
    /// merged counts take over its threshold), for the caller to handle like its own.
    pub fn merge_events(&self, events: &[CountEvent], now_unix_s: u64) -> Vec<Trip> {
        let mut state = self.lock();
        let mut trips = Vec::new();
        for event in events {
            if let Some(trip) = state.merge(event, now_unix_s) {
                trips.push(trip);
            }
        }
        trips
    }
}
