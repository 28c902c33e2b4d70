//! Adaptive IP throttling in the SMTP session: each accepted-domain recipient is put to the
//! throttle engine, and a deferral becomes `451 4.7.5xx <reason> from [IP]. (ASnnn) <retry
//! hint>`. The operator allow list is checked first and is reloadable; the engine's own
//! history persists through a [`crate::history::HistoryStore`], and so do the decision
//! counters ([`ThrottleCounters`]).
//!
//! In observe mode ([`ThrottleMode::Observe`]) everything is decided, recorded, counted and
//! logged as if enforcing, but a recipient that would be deferred is accepted: the log says
//! `would defer recipient ... (ASnnn)` and `throttle stats` counts it apart.
//!
//! Deferrals are logged through [`crate::inbound::deferral_log`]: the first of a client IP and
//! token per minute in full, the rest as one line with their count.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use smtp_wire::reply::EnhancedCode;
use smtp_wire::{Address, Reply, ReversePath, reply::code};
use throttle::{AS_TABLE, AsToken, Deferral, Engine, Explanation};

use crate::allow_list::AllowEntry;
use crate::deferrals::{Deferred, RecentDeferral, RecentDeferrals};
use crate::inbound::deferral_log::{DeferralLog, Line, LogKey, Summary, WINDOW_S};
pub use crate::settings::ThrottleMode;

/// The log line of a throttling deferral (`sluice simulate --log` reads it).
pub const DEFERRAL_LINE: &str = throttle::sim::sluice_log::DEFERRAL_LINE;
/// The log line of a recipient observe mode accepted that enforcing would have deferred.
pub const WOULD_DEFER_LINE: &str = throttle::sim::sluice_log::WOULD_DEFER_LINE;

/// Why a recipient was let through without being judged (counted, never throttled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bypass {
    /// The recipient's tenant has an inbound connector that matched the session.
    Connector,
    /// The operator allow list covers the client.
    AllowList,
    /// A `bypass` range of the throttle policy covers the client.
    Policy,
}

impl Bypass {
    pub const ALL: [Bypass; 3] = [Bypass::Connector, Bypass::AllowList, Bypass::Policy];

    pub fn name(self) -> &'static str {
        match self {
            Bypass::Connector => "connector",
            Bypass::AllowList => "allow_list",
            Bypass::Policy => "policy",
        }
    }
}

/// Decision counters per verdict and AS token, since [`ThrottleCounters::since_s`]; they
/// survive restarts (saved with the history as [`ThrottleCounters::values`]).
#[derive(Debug, Default)]
pub struct ThrottleCounters {
    accepted: AtomicU64,
    bypassed: [AtomicU64; Bypass::ALL.len()],
    /// Deferred recipients per token, in `AS_TABLE` order.
    deferred: [AtomicU64; AS_TABLE.len()],
    /// Observe mode: accepted recipients enforcing would have deferred, per token.
    would_defer: [AtomicU64; AS_TABLE.len()],
    /// When counting began (Unix seconds): the first start with counters.
    since_s: AtomicU64,
}

const ACCEPTED: &str = "throttle_recipients_accepted";
const SINCE: &str = "throttle_counters_since_seconds";

fn token_slot(token: AsToken) -> usize {
    AS_TABLE.iter().position(|r| r.token == token).unwrap_or(0)
}

impl ThrottleCounters {
    fn new(now_s: u64) -> ThrottleCounters {
        let counters = ThrottleCounters::default();
        counters.since_s.store(now_s, Ordering::Relaxed);
        counters
    }

    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    pub fn bypassed(&self, how: Bypass) -> u64 {
        self.bypassed[how as usize].load(Ordering::Relaxed)
    }

    pub fn deferred(&self, token: AsToken) -> u64 {
        self.deferred[token_slot(token)].load(Ordering::Relaxed)
    }

    pub fn would_defer(&self, token: AsToken) -> u64 {
        self.would_defer[token_slot(token)].load(Ordering::Relaxed)
    }

    pub fn since_s(&self) -> u64 {
        self.since_s.load(Ordering::Relaxed)
    }

    /// Every counter with its Prometheus sample name, in a fixed order.
    fn named(&self) -> Vec<(String, &AtomicU64)> {
        let mut out = vec![(ACCEPTED.to_string(), &self.accepted)];
        for (how, counter) in Bypass::ALL.iter().zip(&self.bypassed) {
            out.push((format!("throttle_recipients_bypassed{{via=\"{}\"}}", how.name()), counter));
        }
        for (kind, counters) in [("deferred", &self.deferred), ("would_defer", &self.would_defer)] {
            for (rule, counter) in AS_TABLE.iter().zip(counters) {
                out.push((format!("throttle_recipients_{kind}{{token=\"{}\"}}", rule.name), counter));
            }
        }
        out
    }

    /// Every counter as a Prometheus sample name and its value, and when counting began:
    /// what `throttle stats` prints and what the history store saves.
    pub fn values(&self) -> Vec<(String, u64)> {
        let mut out = vec![(SINCE.to_string(), self.since_s())];
        out.extend(self.named().into_iter().map(|(name, c)| (name, c.load(Ordering::Relaxed))));
        out
    }

    /// Adds saved [`ThrottleCounters::values`] to the counters; counting began when the
    /// saved ones did. Returns the names it does not know (from another version).
    pub fn restore(&self, saved: &[(String, u64)]) -> Vec<String> {
        let named = self.named();
        let mut unknown = Vec::new();
        for (name, value) in saved {
            if name == SINCE {
                self.since_s.fetch_min(*value, Ordering::Relaxed);
            } else if let Some((_, counter)) = named.iter().find(|(n, _)| n == name) {
                counter.fetch_add(*value, Ordering::Relaxed);
            } else {
                unknown.push(name.clone());
            }
        }
        unknown
    }
}

/// How a recipient got past the throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// The engine judged and accepted it: it counts as the client's volume.
    Judged,
    /// The operator allow list or a bypass range covers the client: neither judged nor counted.
    Exempt,
    /// Observe mode: the engine would have deferred it (recorded as a deferral), accepted.
    Observed,
}

/// Who sent a recipient, for the log line of its deferral.
#[derive(Clone, Copy, Debug)]
pub struct Attempt<'a> {
    pub ip: IpAddr,
    pub sender: &'a ReversePath,
    pub recipient: &'a Address,
}

#[derive(Debug)]
pub struct Throttling {
    engine: Arc<Engine>,
    allow: RwLock<Arc<Vec<AllowEntry>>>,
    observe: AtomicBool,
    counters: ThrottleCounters,
    recent: Mutex<RecentDeferrals>,
    log: Mutex<DeferralLog>,
}

impl Throttling {
    pub fn new(engine: Arc<Engine>, allow: Vec<AllowEntry>, mode: ThrottleMode) -> Throttling {
        Throttling {
            engine,
            allow: RwLock::new(Arc::new(allow)),
            observe: AtomicBool::new(mode == ThrottleMode::Observe),
            counters: ThrottleCounters::new(now_s()),
            recent: Mutex::default(),
            log: Mutex::default(),
        }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn counters(&self) -> &ThrottleCounters {
        &self.counters
    }

    pub fn mode(&self) -> ThrottleMode {
        if self.observe.load(Ordering::Relaxed) { ThrottleMode::Observe } else { ThrottleMode::Enforce }
    }

    /// Switches between enforcing and observing (a reload); sessions see it at their next
    /// recipient.
    pub fn set_mode(&self, mode: ThrottleMode) {
        self.observe.store(mode == ThrottleMode::Observe, Ordering::Relaxed);
    }

    /// Replaces the operator allow list.
    pub fn set_allow_list(&self, allow: Vec<AllowEntry>) {
        *self.allow.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(allow);
    }

    pub fn allow_list(&self) -> Arc<Vec<AllowEntry>> {
        Arc::clone(&self.allow.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The allow-list entry covering `ip` (the longest), if any.
    pub fn allow_entry(&self, ip: IpAddr) -> Option<AllowEntry> {
        let allow = self.allow_list();
        allow.iter().filter(|e| e.cidr.contains(ip)).max_by_key(|e| e.cidr.prefix_len()).cloned()
    }

    pub fn is_allow_listed(&self, ip: IpAddr) -> bool {
        self.allow.read().unwrap_or_else(PoisonError::into_inner).iter().any(|e| e.cidr.contains(ip))
    }

    /// A recipient that a connector of its tenant let through: counted, never judged.
    pub fn count_bypass(&self, how: Bypass) {
        self.counters.bypassed[how as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Decides for one recipient from `attempt.ip` now, and records, counts and logs it.
    pub fn check_recipient(&self, attempt: Attempt<'_>) -> Result<Admitted, Reply> {
        if self.is_allow_listed(attempt.ip) {
            self.count_bypass(Bypass::AllowList);
            return Ok(Admitted::Exempt);
        }
        let now = now_s();
        let decision = self.engine.decide(attempt.ip, 1, now);
        if decision.bypassed {
            self.count_bypass(Bypass::Policy);
            return Ok(Admitted::Exempt);
        }
        match decision.defer {
            Some(deferral) if decision.deferred > 0 => {
                let observed = self.mode() == ThrottleMode::Observe;
                let reply = deferral_reply(attempt.ip, &deferral);
                self.note_deferral(&attempt, &deferral, &reply, observed, now);
                if observed { Ok(Admitted::Observed) } else { Err(reply) }
            }
            _ => {
                self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                Ok(Admitted::Judged)
            }
        }
    }

    /// Counts a deferral (or a would-defer), keeps it for the throttled list, and logs it in
    /// full or folds it into its minute's summary.
    fn note_deferral(&self, a: &Attempt<'_>, d: &Deferral, reply: &Reply, observed: bool, now: u64) {
        let slot = token_slot(d.token);
        let counters = if observed { &self.counters.would_defer } else { &self.counters.deferred };
        counters[slot].fetch_add(1, Ordering::Relaxed);
        let deferred = Deferred { ip: a.ip, key: d.key, token: d.token, observed };
        self.recent.lock().unwrap_or_else(PoisonError::into_inner).record(&deferred, now);
        let key = LogKey { ip: a.ip, token: d.token, observed };
        let (line, closed) =
            self.log.lock().unwrap_or_else(PoisonError::into_inner).record(key, d.retry_after_s, now);
        log_summaries(&closed);
        if line == Line::Full {
            let (client_ip, sender, recipient) = (a.ip, a.sender, a.recipient);
            if observed {
                tracing::info!(%client_ip, %sender, %recipient, rcpt_count = 1u32, %reply, "{WOULD_DEFER_LINE}");
            } else {
                tracing::info!(%client_ip, %sender, %recipient, rcpt_count = 1u32, %reply, "{DEFERRAL_LINE}");
            }
        }
    }

    /// Writes the summaries of the deferral log's windows that have closed.
    pub fn flush_log(&self) {
        let closed = self.log.lock().unwrap_or_else(PoisonError::into_inner).due(now_s());
        log_summaries(&closed);
    }

    /// Writes every open window's summary (at shutdown, once sessions are done).
    pub fn drain_log(&self) {
        let closed = self.log.lock().unwrap_or_else(PoisonError::into_inner).drain();
        log_summaries(&closed);
    }

    /// Keys deferred (or, observing, that would have been) within the last `window_s`
    /// seconds, most first.
    pub fn recently_deferred(&self, window_s: u64) -> Vec<RecentDeferral> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner).list(now_s(), window_s)
    }

    /// What the next recipient from `ip` would get, without recording anything.
    pub fn explain(&self, ip: IpAddr) -> Explanation {
        self.engine.peek(ip, now_s())
    }
}

/// One line per closed window with repeats: the deferrals after the first, with their count
/// in `rcpt_count` (what `sluice simulate --log` adds up).
fn log_summaries(closed: &[Summary]) {
    for s in closed {
        let client_ip = s.key.ip;
        let reply = reply_for(client_ip, s.key.token, s.retry_after_s);
        let (rcpt_count, over_s) = (s.repeats, s.last_s - s.first_repeat_s);
        let line = if s.key.observed { WOULD_DEFER_LINE } else { DEFERRAL_LINE };
        tracing::info!(%client_ip, rcpt_count, repeated = true, over_s, window_s = WINDOW_S, %reply, "{line}");
    }
}

/// Seconds since the Unix epoch: the engine's clock in production.
pub fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `451 4.7.501 Deferred: <reason> from [IP]. (AS501) Try again in 10 minutes`.
pub fn deferral_reply(ip: IpAddr, deferral: &Deferral) -> Reply {
    reply_for(ip, deferral.token, deferral.retry_after_s)
}

fn reply_for(ip: IpAddr, token: AsToken, retry_after_s: u32) -> Reply {
    let rule = token.rule();
    Reply::new(
        451,
        parse_enhanced(rule.enhanced).unwrap_or(code(4, 7, 500)),
        format!("Deferred: {} from [{ip}]. ({}) {}", rule.reason, rule.name, retry_hint(retry_after_s)),
    )
}

fn retry_hint(seconds: u32) -> String {
    match seconds {
        0..=119 => format!("Try again in {} seconds", seconds.max(1)),
        _ => format!("Try again in {} minutes", seconds.div_ceil(60)),
    }
}

fn parse_enhanced(text: &str) -> Option<EnhancedCode> {
    let mut parts = text.split('.');
    let class = parts.next()?.parse().ok()?;
    let subject = parts.next()?.parse().ok()?;
    let detail = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some(EnhancedCode::new(class, subject, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttling(mode: ThrottleMode) -> Throttling {
        Throttling::new(Arc::new(Engine::new(throttle::Policy::default())), Vec::new(), mode)
    }

    fn check(t: &Throttling, ip: &str) -> Result<Admitted, Reply> {
        let sender = ReversePath::Mailbox(Address::new("a", "example.net"));
        let recipient = Address::new("b", "example.test");
        t.check_recipient(Attempt { ip: ip.parse().unwrap(), sender: &sender, recipient: &recipient })
    }

    /// Recipients from one new IP until the first deferral (or `max`): the admissions.
    fn blast(t: &Throttling, ip: &str, max: usize) -> (Vec<Admitted>, Option<Reply>) {
        let mut admitted = Vec::new();
        for _ in 0..max {
            match check(t, ip) {
                Ok(a) => admitted.push(a),
                Err(reply) => return (admitted, Some(reply)),
            }
        }
        (admitted, None)
    }

    #[test]
    fn a_blast_from_a_new_ip_is_deferred_with_the_contract_text() {
        let t = throttling(ThrottleMode::Enforce);
        let (admitted, deferred) = blast(&t, "203.0.113.7", 2000);
        let reply = deferred.expect("a new IP sending 2000 at once is deferred");
        let text = reply.summary();
        assert!(text.starts_with("451 4.7.5"), "{text}");
        assert!(text.contains("from [203.0.113.7]. (AS5"), "{text}");
        assert!(text.contains("Try again in"), "{text}");
        assert!(admitted.iter().all(|a| *a == Admitted::Judged));
        assert_eq!(t.counters().accepted(), admitted.len() as u64);
        assert_eq!(t.counters().deferred(AsToken::As501), 1);
        assert_eq!(t.counters().would_defer(AsToken::As501), 0);
    }

    #[test]
    fn observe_mode_accepts_what_enforcing_defers_and_counts_it_apart() {
        let (enforcing, observing) = (throttling(ThrottleMode::Enforce), throttling(ThrottleMode::Observe));
        let (judged, _) = blast(&enforcing, "203.0.113.7", 2000);
        let (admitted, refusal) = blast(&observing, "203.0.113.7", 2000);
        assert!(refusal.is_none(), "observe mode deferred: {refusal:?}");
        let accepted = admitted.iter().filter(|a| **a == Admitted::Judged).count();
        assert_eq!(accepted, judged.len(), "the same judgement as enforcing");
        assert_eq!(admitted[accepted], Admitted::Observed);
        let would: u64 = AS_TABLE.iter().map(|r| observing.counters().would_defer(r.token)).sum();
        assert_eq!(would, 2000 - accepted as u64);
        assert_eq!(AS_TABLE.iter().map(|r| observing.counters().deferred(r.token)).sum::<u64>(), 0);
        let listed = observing.recently_deferred(3_600);
        assert_eq!(listed[0].total(), would);
        assert!(listed[0].deferred.is_empty(), "{listed:?}");
        // Back to enforcing (a reload): the next recipient is deferred.
        observing.set_mode(ThrottleMode::Enforce);
        assert!(check(&observing, "203.0.113.7").is_err());
    }

    #[test]
    fn allow_listed_ips_are_never_deferred() {
        let t = throttling(ThrottleMode::Enforce);
        let entry = AllowEntry { cidr: "203.0.113.0/24".parse().unwrap(), note: "partner".into() };
        t.set_allow_list(vec![entry.clone()]);
        let (admitted, refusal) = blast(&t, "203.0.113.9", 5000);
        assert!(refusal.is_none() && admitted.iter().all(|a| *a == Admitted::Exempt));
        assert_eq!(t.counters().bypassed(Bypass::AllowList), 5000);
        assert_eq!(t.allow_entry("203.0.113.9".parse().unwrap()), Some(entry));
    }

    #[test]
    fn counters_restore_adds_and_keeps_the_earliest_start() {
        let t = throttling(ThrottleMode::Enforce);
        blast(&t, "203.0.113.7", 1000);
        t.count_bypass(Bypass::Connector);
        let saved = t.counters().values();
        let restarted = throttling(ThrottleMode::Enforce);
        restarted.count_bypass(Bypass::Connector);
        let mut with_unknown = saved.clone();
        with_unknown.push(("throttle_recipients_something_new".into(), 3));
        assert_eq!(restarted.counters().restore(&with_unknown), vec!["throttle_recipients_something_new"]);
        assert_eq!(restarted.counters().bypassed(Bypass::Connector), 2);
        assert_eq!(restarted.counters().accepted(), t.counters().accepted());
        assert_eq!(restarted.counters().deferred(AsToken::As501), t.counters().deferred(AsToken::As501));
        assert_eq!(
            restarted.counters().since_s(),
            t.counters().since_s().min(restarted.counters().since_s())
        );
        let names: Vec<String> = saved.iter().map(|(n, _)| n.clone()).collect();
        assert!(names.contains(&"throttle_recipients_would_defer{token=\"AS505\"}".to_string()), "{names:?}");
    }

    #[test]
    fn retry_hints() {
        assert_eq!(retry_hint(30), "Try again in 30 seconds");
        assert_eq!(retry_hint(600), "Try again in 10 minutes");
        assert_eq!(retry_hint(601), "Try again in 11 minutes");
    }

    #[test]
    fn every_token_has_a_valid_enhanced_code() {
        for rule in AS_TABLE {
            let code = parse_enhanced(rule.enhanced).expect(rule.enhanced);
            assert_eq!((code.class, code.subject), (4, 7));
            assert!((500..700).contains(&code.detail), "{}", rule.enhanced);
        }
    }
}
