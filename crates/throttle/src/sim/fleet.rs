//! Replay over a fleet: the trace's transactions split round-robin over N engines (as a TCP
//! balancer spreads connections over N nodes), each engine deciding on its own records,
//! which the others' counts reach `exchange_delay_s` after each export (every trace second),
//! as fleet mode's exchange through Redis does. Comparing the report with a single-engine
//! replay shows what the exchange delay costs.
//!
//! The clock is the trace's, in whole seconds, as in [`super::replay`]: counts exported at
//! the end of second `t` are merged at the start of the first second at or after
//! `t + max(exchange_delay_s, 1)`.

use std::collections::VecDeque;

use crate::engine::Engine;
use crate::exchange::KeyDelta;
use crate::policy::Policy;

use super::{BATCH_EVENTS, Grouper, ReplayOptions, Report, SimError, Tally, Trace};

/// Keys whose counts one engine may hold between two exports.
const PENDING_KEYS_MAX: usize = 1 << 20;

/// The fleet's shape: how many nodes, and how late each learns of the others' counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetOptions {
    /// Engines the transactions are spread over (1: a single node, no exchange).
    pub nodes: usize,
    /// Seconds between a node counting and the other nodes knowing.
    pub exchange_delay_s: u64,
}

/// Counts one node exported, on their way to the others.
struct InFlight {
    due_s: u64,
    from: usize,
    deltas: Vec<KeyDelta>,
}

/// Replays `trace` over `fleet.nodes` engines of `policy` sharing their counts.
pub fn replay_fleet(
    trace: &Trace,
    policy: Policy,
    opts: &ReplayOptions,
    fleet: FleetOptions,
) -> Result<Report, SimError> {
    let nodes = fleet.nodes.max(1);
    let mut engines = Vec::with_capacity(nodes);
    for _ in 0..nodes {
        let engine = Engine::try_new(policy.clone())?;
        if nodes > 1 {
            engine.enable_exchange(PENDING_KEYS_MAX);
        }
        engines.push(engine);
    }
    let mut grouper = Grouper::new(trace, opts.grouping, &policy);
    let mut overall = Tally::default();
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let (mut batch, mut decisions) = (Vec::with_capacity(BATCH_EVENTS), Vec::with_capacity(BATCH_EVENTS));
    let mut next_node = 0;
    for chunk in trace.events.chunk_by(|a, b| a.time_s() == b.time_s()) {
        let now = opts.epoch_s.saturating_add(chunk[0].time_s());
        while in_flight.front().is_some_and(|f| f.due_s <= now) {
            let Some(f) = in_flight.pop_front() else { break };
            for (i, engine) in engines.iter().enumerate() {
                if i != f.from {
                    engine.merge_remote(&f.deltas, now);
                }
            }
        }
        // Round robin per transaction, in order; each node decides its share of the second.
        let mut per_node: Vec<Vec<usize>> = vec![Vec::new(); nodes];
        for i in 0..chunk.len() {
            per_node[next_node].push(i);
            next_node = (next_node + 1) % nodes;
        }
        for (engine, mine) in engines.iter().zip(&per_node) {
            for part in mine.chunks(BATCH_EVENTS) {
                batch.clear();
                batch.extend(part.iter().map(|&i| (chunk[i].ip, chunk[i].recipients)));
                decisions.clear();
                engine.decide_batch(&batch, now, &mut decisions);
                for (&i, d) in part.iter().zip(&decisions) {
                    overall.add(d);
                    grouper.add(&chunk[i], d);
                }
            }
        }
        if nodes > 1 {
            let due_s = now + fleet.exchange_delay_s.max(1);
            for (from, engine) in engines.iter().enumerate() {
                let mut deltas = Vec::new();
                engine.export(&mut deltas, None);
                if !deltas.is_empty() {
                    in_flight.push_back(InFlight { due_s, from, deltas });
                }
            }
        }
    }
    Ok(Report { grouping: opts.grouping, groups: grouper.finish(trace), overall })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an IP address")
    }

    /// A new IP sending one recipient a second for ten minutes.
    fn blast() -> Trace {
        let mut trace = Trace::new();
        for t in 0..600 {
            trace.push(t, ip("198.51.100.7"), 1, None);
        }
        trace
    }

    fn deferred(nodes: usize, delay: u64) -> f64 {
        let fleet = FleetOptions { nodes, exchange_delay_s: delay };
        let report =
            replay_fleet(&blast(), Policy::default(), &ReplayOptions::default(), fleet).expect("replay");
        report.overall.deferred_fraction()
    }

    #[test]
    fn one_node_replays_as_the_single_engine_replay() {
        let single =
            super::super::replay(&blast(), Policy::default(), &ReplayOptions::default()).expect("replay");
        assert_eq!(deferred(1, 1), single.overall.deferred_fraction());
    }

    #[test]
    fn nodes_sharing_counts_defer_like_one_and_a_long_delay_lets_more_through() {
        let one = deferred(1, 1);
        assert!(one > 0.5, "a blast from a new IP is mostly deferred: {one}");
        let shared = deferred(2, 1);
        assert!((shared - one).abs() <= 0.02, "two nodes {shared} against one {one}");
        // Nodes that never hear of each other within the run each grant the allowance.
        let isolated = deferred(2, 100_000);
        assert!(isolated < one - 0.05, "two isolated nodes {isolated} against one {one}");
    }
}
