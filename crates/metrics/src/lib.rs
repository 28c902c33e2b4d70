//! Metrics: lock-free counters, gauges and latency histograms that the hot paths update
//! (one atomic add, no lock, no allocation), and the Prometheus text exposition (format
//! 0.0.4) that `GET /metrics` serves. The gateway declares its metrics with these and the
//! binary renders them; the spool measures its fsyncs into a [`Histogram`] it is handed.
//!
//! Counting is separate from naming: a primitive is only numbers; names, labels and help
//! texts are given when rendering ([`Exposition`]). Totals that must survive a restart are
//! saved as exposition lines and read back with [`Saved`], which keys each value by its
//! series (`name{labels}`), so a total finds its counter again whatever the order.
//!
//! Invariants: **no I/O, no clock** (durations are passed in), **no lock and no
//! allocation when counting**; every table keyed by outside input has a fixed capacity
//! ([`KeyedCounters`] counts what does not fit in one overflow cell).
//! A crate of its own because the spool (no async, no sockets) and the gateway both
//! measure, and neither may depend on the other's internals for it.

mod exposition;
mod primitives;

pub use exposition::{Exposition, Kind, Saved, series};
pub use primitives::{BUCKET_BOUNDS_US, Counter, Gauge, Histogram, KeyedCounters};
