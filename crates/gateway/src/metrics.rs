//! The gateway's metrics: what `GET /metrics` on the admin listener shows, counted where it
//! happens with lock-free atomics (one add per event, no allocation, no lock).
//!
//! One process-wide set ([`global`]), as a process has one log: the listener, the
//! sessions, the queue manager, DNS, the spool writer and outbound protection all count
//! into it without a handle being threaded through each, and the binary renders it
//! ([`Metrics::render`]) beside the trace writer's numbers. Counters are totals that survive
//! restarts: the binary saves them ([`save`], every minute and at shutdown) and restores them
//! before the gateway starts ([`load`]); gauges and latency histograms start afresh.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use metrics::{Counter, Exposition, Gauge, Histogram, KeyedCounters, Kind, Saved, series};
use smtp_wire::Reply;
use throttle::AS_TABLE;
use trace::Direction;

use crate::inbound::throttling::{Bypass, Throttling};

static GLOBAL: Metrics = Metrics::new();

/// The process's metrics.
pub fn global() -> &'static Metrics {
    &GLOBAL
}

/// Why a connection was refused before its session started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionRefusal {
    /// Over `connections_max`.
    Total,
    /// Over `connections_per_ip_max`.
    PerIp,
    /// The client talked before the banner.
    Pregreet,
    /// A trusted load balancer's connection without a valid PROXY protocol header.
    ProxyHeaderMissing,
    /// A PROXY protocol header from an address `smtp.proxy_trusted` does not list.
    ProxyHeaderUntrusted,
}

impl ConnectionRefusal {
    const ALL: [ConnectionRefusal; 5] = [
        ConnectionRefusal::Total,
        ConnectionRefusal::PerIp,
        ConnectionRefusal::Pregreet,
        ConnectionRefusal::ProxyHeaderMissing,
        ConnectionRefusal::ProxyHeaderUntrusted,
    ];

    fn label(self) -> &'static str {
        match self {
            ConnectionRefusal::Total => "connections_max",
            ConnectionRefusal::PerIp => "connections_per_ip_max",
            ConnectionRefusal::Pregreet => "pregreet",
            ConnectionRefusal::ProxyHeaderMissing => "proxy_header_missing",
            ConnectionRefusal::ProxyHeaderUntrusted => "proxy_header_untrusted",
        }
    }
}

/// What one delivery attempt did for one recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    Deferred,
    Bounced,
    Expired,
}

impl DeliveryOutcome {
    const ALL: [DeliveryOutcome; 4] = [
        DeliveryOutcome::Delivered,
        DeliveryOutcome::Deferred,
        DeliveryOutcome::Bounced,
        DeliveryOutcome::Expired,
    ];

    fn label(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Deferred => "deferred",
            DeliveryOutcome::Bounced => "bounced",
            DeliveryOutcome::Expired => "expired",
        }
    }
}

/// Which lookup a DNS query was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsKind {
    Mx,
    Address,
    Txt,
    Dnsbl,
}

impl DnsKind {
    const ALL: [DnsKind; 4] = [DnsKind::Mx, DnsKind::Address, DnsKind::Txt, DnsKind::Dnsbl];

    fn label(self) -> &'static str {
        match self {
            DnsKind::Mx => "mx",
            DnsKind::Address => "address",
            DnsKind::Txt => "txt",
            DnsKind::Dnsbl => "dnsbl",
        }
    }
}

/// Where a live message stands in the queue manager.
pub const QUEUE_STATES: [&str; 5] = ["waiting", "ready", "loading", "active", "settling"];

/// Which kind of destination a delivery attempt went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptKind {
    Maildir,
    Remote,
}

const ATTEMPT_KINDS: [&str; 2] = ["maildir", "remote"];
const DIRECTIONS: [Direction; 2] = [Direction::Inbound, Direction::Outbound];

fn direction_index(direction: Direction) -> usize {
    match direction {
        Direction::Inbound => 0,
        Direction::Outbound => 1,
    }
}

/// Distinct SMTP replies (code with enhanced code) counted apart; more share one line.
const REPLY_KINDS_MAX: usize = 256;

#[derive(Debug)]
pub struct Metrics {
    pub connections_open: Gauge,
    pub connections: Counter,
    connections_refused: [Counter; ConnectionRefusal::ALL.len()],
    replies: KeyedCounters<REPLY_KINDS_MAX>,
    /// The throttle, whose decision counters are its own (saved with its history).
    throttling: Mutex<Option<Arc<Throttling>>>,
    pub throttle_tracked_keys: Gauge,
    messages_accepted: [Counter; 2],
    deliveries: [[Counter; DeliveryOutcome::ALL.len()]; 2],
    /// Live messages per state, in [`QUEUE_STATES`] order.
    pub queue: [Gauge; QUEUE_STATES.len()],
    attempt_latency: [Histogram; ATTEMPT_KINDS.len()],
    /// End of DATA to the `250` being ready (the message durable in the spool).
    pub accept_latency: Histogram,
    /// The spool writer's appends with their `sync_data`: the spool's own histogram,
    /// attached when the gateway opens it.
    spool_sync_latency: Mutex<Option<Arc<Histogram>>>,
    dns_lookups: [Counter; DnsKind::ALL.len()],
    dns_failures: [Counter; DnsKind::ALL.len()],
    pub protection_trips: Counter,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// `code` and enhanced code packed into one non-zero key of the reply table.
fn reply_key(reply: &Reply) -> u64 {
    let code = u64::from(reply.code.min(999)) << 48;
    match reply.enhanced {
        Some(e) => {
            code | 1 << 47 | u64::from(e.class) << 32 | u64::from(e.subject) << 16 | u64::from(e.detail)
        }
        None => code,
    }
}

/// The code and enhanced code (`""` when the reply has none) of a reply-table key.
fn reply_labels(key: u64) -> (String, String) {
    let code = (key >> 48).to_string();
    if key & 1 << 47 == 0 {
        return (code, String::new());
    }
    let (class, subject, detail) = ((key >> 32) & 0xff, (key >> 16) & 0xffff, key & 0xffff);
    (code, format!("{class}.{subject}.{detail}"))
}

/// The key of a saved reply series, if its labels are a reply's.
fn reply_key_of(code: &str, enhanced: &str) -> Option<u64> {
    let code: u16 = code.parse().ok().filter(|c| (100..1000).contains(c))?;
    let enhanced = match enhanced {
        "" => None,
        text => {
            let mut parts = text.split('.').map(str::parse::<u16>);
            let (class, subject, detail) = (parts.next()?.ok()?, parts.next()?.ok()?, parts.next()?.ok()?);
            Some(smtp_wire::EnhancedCode::new(u8::try_from(class).ok()?, subject, detail))
        }
    };
    Some(reply_key(&Reply { code, enhanced, lines: Vec::new() }))
}

const REPLIES: &str = "sluice_smtp_replies_total";

/// A family of counters with its name and help, and each counter with its labels.
type CounterVisit<'a> = &'a mut dyn FnMut(&'static str, &'static str, &[(&str, &str)], &Counter);

impl Metrics {
    pub const fn new() -> Metrics {
        Metrics {
            connections_open: Gauge::new(),
            connections: Counter::new(),
            connections_refused: [const { Counter::new() }; ConnectionRefusal::ALL.len()],
            replies: KeyedCounters::new(),
            throttling: Mutex::new(None),
            throttle_tracked_keys: Gauge::new(),
            messages_accepted: [const { Counter::new() }; 2],
            deliveries: [const { [const { Counter::new() }; DeliveryOutcome::ALL.len()] }; 2],
            queue: [const { Gauge::new() }; QUEUE_STATES.len()],
            attempt_latency: [const { Histogram::new() }; ATTEMPT_KINDS.len()],
            accept_latency: Histogram::new(),
            spool_sync_latency: Mutex::new(None),
            dns_lookups: [const { Counter::new() }; DnsKind::ALL.len()],
            dns_failures: [const { Counter::new() }; DnsKind::ALL.len()],
            protection_trips: Counter::new(),
        }
    }

    /// Shows the latency of this spool's syncs (the spool measures them itself).
    pub fn watch_spool(&self, sync_latency: Arc<Histogram>) {
        *self.spool_sync_latency.lock().unwrap_or_else(PoisonError::into_inner) = Some(sync_latency);
    }

    /// Shows this throttle's decision counters.
    pub fn watch_throttling(&self, throttling: Arc<Throttling>) {
        *self.throttling.lock().unwrap_or_else(PoisonError::into_inner) = Some(throttling);
    }

    pub fn connection_refused(&self, why: ConnectionRefusal) {
        let i = ConnectionRefusal::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.connections_refused[i].inc();
    }

    /// A reply sent to an SMTP client.
    pub fn reply_sent(&self, reply: &Reply) {
        self.replies.add(reply_key(reply), 1);
    }

    pub fn message_accepted(&self, direction: Direction) {
        self.messages_accepted[direction_index(direction)].inc();
    }

    pub fn delivery(&self, direction: Direction, outcome: DeliveryOutcome) {
        let i = DeliveryOutcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        self.deliveries[direction_index(direction)][i].inc();
    }

    pub fn attempt_finished(&self, kind: AttemptKind, elapsed: Duration) {
        let i = match kind {
            AttemptKind::Maildir => 0,
            AttemptKind::Remote => 1,
        };
        self.attempt_latency[i].observe(elapsed);
    }

    /// One DNS query and whether it failed (a time-out or a server failure; "no such name"
    /// is an answer).
    pub fn dns_lookup(&self, kind: DnsKind, failed: bool) {
        let i = DnsKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        self.dns_lookups[i].inc();
        if failed {
            self.dns_failures[i].inc();
        }
    }

    /// Every counter, family by family, with the labels of its series.
    fn counters(&self, visit: CounterVisit<'_>) {
        let f = "sluice_connections_total";
        visit(f, "SMTP connections admitted.", &[], &self.connections);
        let f = "sluice_connections_refused_total";
        let help = "SMTP connections refused before the session, by reason (the limit that refused it, pre-greet talk, a PROXY protocol header missing or untrusted).";
        for (why, counter) in ConnectionRefusal::ALL.iter().zip(&self.connections_refused) {
            visit(f, help, &[("reason", why.label())], counter);
        }
        let f = "sluice_messages_accepted_total";
        let help = "Messages accepted (250 after DATA), by direction.";
        for (direction, counter) in DIRECTIONS.iter().zip(&self.messages_accepted) {
            visit(f, help, &[("direction", direction.as_str())], counter);
        }
        let f = "sluice_deliveries_total";
        let help = "Recipients' delivery outcomes, one per recipient and attempt: delivered, deferred (to be retried), bounced, expired; by direction.";
        for (direction, outcomes) in DIRECTIONS.iter().zip(&self.deliveries) {
            for (outcome, counter) in DeliveryOutcome::ALL.iter().zip(outcomes) {
                visit(f, help, &[("direction", direction.as_str()), ("outcome", outcome.label())], counter);
            }
        }
        let dns = [
            (
                "sluice_dns_lookups_total",
                "DNS queries, by kind (mx, address, txt, dnsbl).",
                &self.dns_lookups,
            ),
            (
                "sluice_dns_failures_total",
                "DNS queries that got no answer (time-out, server failure), by kind.",
                &self.dns_failures,
            ),
        ];
        for (f, help, counters) in dns {
            for (kind, counter) in DnsKind::ALL.iter().zip(counters) {
                visit(f, help, &[("kind", kind.label())], counter);
            }
        }
        let help = "Tenants blocked for exceeding the outbound threshold (5.7.705) by this node.";
        visit("sluice_protection_trips_total", help, &[], &self.protection_trips);
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self, out: &mut Exposition) {
        let mut family = "";
        self.counters(&mut |name, help, labels, counter| {
            if name != family {
                out.family(name, Kind::Counter, help);
                family = name;
            }
            out.sample(name, labels, counter.get());
        });
        self.render_replies(out);
        self.render_throttle(out);
        self.render_gauges(out);
        self.render_histograms(out);
    }

    fn render_replies(&self, out: &mut Exposition) {
        let help =
            "SMTP replies sent, by class (2, 4, 5), code and enhanced code (empty for replies without one).";
        out.family(REPLIES, Kind::Counter, help);
        for (key, count) in self.replies.entries() {
            let (code, enhanced) = reply_labels(key);
            let class = &code[..1];
            out.sample(REPLIES, &[("class", class), ("code", &code), ("enhanced", &enhanced)], count);
        }
        if self.replies.overflow() > 0 {
            out.sample(
                REPLIES,
                &[("class", ""), ("code", "other"), ("enhanced", "")],
                self.replies.overflow(),
            );
        }
    }

    /// The throttle's decisions (when it is on): its own counters, which it saves with its
    /// history, so they are not among [`Metrics::totals`].
    fn render_throttle(&self, out: &mut Exposition) {
        let Some(throttling) = self.throttling.lock().unwrap_or_else(PoisonError::into_inner).clone() else {
            return;
        };
        let c = throttling.counters();
        let f = "sluice_throttle_decisions_total";
        let help = "Recipients put to the throttle, by verdict (accept; bypass, by what let it through; defer and, in observe mode, would_defer, by AS token).";
        out.family(f, Kind::Counter, help);
        out.sample(f, &[("verdict", "accept")], c.accepted());
        for how in Bypass::ALL {
            out.sample(f, &[("verdict", "bypass"), ("via", how.name())], c.bypassed(how));
        }
        for rule in AS_TABLE {
            out.sample(f, &[("verdict", "defer"), ("token", rule.name)], c.deferred(rule.token));
        }
        for rule in AS_TABLE {
            out.sample(f, &[("verdict", "would_defer"), ("token", rule.name)], c.would_defer(rule.token));
        }
    }

    fn render_gauges(&self, out: &mut Exposition) {
        let f = "sluice_connections_open";
        out.family(f, Kind::Gauge, "SMTP sessions in progress.");
        out.sample(f, &[], self.connections_open.get());
        let f = "sluice_queue_messages";
        out.family(f, Kind::Gauge, "Messages in the queue manager, by state (waiting for a retry, ready, loading, active, settling).");
        for (state, gauge) in QUEUE_STATES.iter().zip(&self.queue) {
            out.sample(f, &[("state", state)], gauge.get());
        }
        let f = "sluice_throttle_tracked_keys";
        out.family(f, Kind::Gauge, "IPs and prefixes with a throttle history (as of the last history save).");
        out.sample(f, &[], self.throttle_tracked_keys.get());
    }

    fn render_histograms(&self, out: &mut Exposition) {
        let f = "sluice_smtp_accept_seconds";
        out.family(
            f,
            Kind::Histogram,
            "End of DATA to the 250 reply being ready: the message durable in the spool.",
        );
        out.histogram(f, &[], &self.accept_latency);
        let f = "sluice_delivery_attempt_seconds";
        out.family(
            f,
            Kind::Histogram,
            "Delivery attempts, by kind of destination (maildir batch, remote server conversation).",
        );
        for (kind, histogram) in ATTEMPT_KINDS.iter().zip(&self.attempt_latency) {
            out.histogram(f, &[("kind", kind)], histogram);
        }
        let f = "sluice_spool_sync_seconds";
        out.family(f, Kind::Histogram, "Spool writes with their fdatasync (one per group commit).");
        let spool = self.spool_sync_latency.lock().unwrap_or_else(PoisonError::into_inner).clone();
        out.histogram(f, &[], spool.as_deref().unwrap_or(&Histogram::new()));
    }

    /// The totals to keep across a restart, as exposition lines.
    pub fn totals(&self) -> String {
        let mut out = Exposition::new();
        self.counters(&mut |name, _, labels, counter| out.sample(name, labels, counter.get()));
        for (key, count) in self.replies.entries() {
            let (code, enhanced) = reply_labels(key);
            out.sample(REPLIES, &[("class", &code[..1]), ("code", &code), ("enhanced", &enhanced)], count);
        }
        out.finish()
    }

    /// Adds the totals an earlier run saved (at start, before anything counts).
    pub fn restore(&self, saved: &Saved) {
        self.counters(&mut |name, _, labels, counter| {
            if let Some(total) = saved.get(&series(name, labels)) {
                counter.restore(total);
            }
        });
        for (labels, total) in saved.family(REPLIES) {
            let label = |name: &str| labels.iter().find(|(l, _)| l == name).map_or("", |(_, v)| v.as_str());
            if let Some(key) = reply_key_of(label("code"), label("enhanced")) {
                self.replies.add(key, total);
            }
        }
    }
}

/// Writes the process's totals to `path` (a temporary file, synced, renamed over it), so a
/// crash leaves the previous totals or the new ones, never half of a file.
pub fn save(path: &Path) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(global().totals().as_bytes())?;
    file.sync_data()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// Restores the totals saved at `path` into the process's metrics; how many series were
/// found (none when there is no file yet).
pub fn load(path: &Path) -> std::io::Result<usize> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let saved = Saved::parse(&text);
    global().restore(&saved);
    Ok(saved.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_wire::reply::code;

    #[test]
    fn reply_keys_round_trip_through_their_labels() {
        let replies = [
            Reply::new(550, code(5, 7, 1), "x"),
            Reply::new(451, code(4, 7, 501), "x"),
            Reply::plain(220, vec!["hi".into()]),
            Reply::new(250, code(2, 0, 0), "x"),
        ];
        for reply in &replies {
            let key = reply_key(reply);
            let (code, enhanced) = reply_labels(key);
            assert_eq!(reply_key_of(&code, &enhanced), Some(key), "{reply}");
        }
        assert_eq!(reply_labels(reply_key(&replies[1])), ("451".into(), "4.7.501".into()));
        assert_eq!(reply_labels(reply_key(&replies[2])), ("220".into(), String::new()));
        assert_eq!(reply_key_of("5x0", ""), None);
        assert_eq!(reply_key_of("550", "5.7"), None);
    }

    /// Every counter, the keyed replies included, comes back from the saved totals; gauges
    /// and histograms start afresh.
    #[test]
    fn totals_survive_a_restart() {
        let before = Metrics::new();
        before.connections.add(7);
        before.connection_refused(ConnectionRefusal::PerIp);
        before.delivery(Direction::Outbound, DeliveryOutcome::Bounced);
        before.reply_sent(&Reply::new(550, code(5, 7, 1), "relay"));
        before.reply_sent(&Reply::new(550, code(5, 7, 1), "relay"));
        before.dns_lookup(DnsKind::Dnsbl, true);
        before.connections_open.set(3);
        before.accept_latency.observe(Duration::from_millis(1));
        let after = Metrics::new();
        after.restore(&Saved::parse(&before.totals()));
        assert_eq!(after.totals(), before.totals());
        let mut scrape = Exposition::new();
        after.render(&mut scrape);
        let scrape = scrape.finish();
        assert!(
            scrape.contains("sluice_smtp_replies_total{class=\"5\",code=\"550\",enhanced=\"5.7.1\"} 2\n"),
            "{scrape}"
        );
        assert!(scrape.contains("sluice_connections_open 0\n"), "a gauge is not a total");
        assert!(scrape.contains("sluice_smtp_accept_seconds_count 0\n"), "nor is a latency");
    }
}
