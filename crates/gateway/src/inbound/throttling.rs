//! Adaptive IP throttling in the SMTP session: each accepted-domain recipient is put to the
//! throttle engine, and a deferral becomes `451 4.7.5xx <reason> from [IP]. (ASnnn) <retry
//! hint>`. The operator allow list is checked first and is reloadable; the engine's own
//! history persists through a [`crate::history::HistoryStore`].

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use smtp_wire::reply::EnhancedCode;
use smtp_wire::{Reply, reply::code};
use throttle::{AS_TABLE, Cidr, Deferral, Engine, Explanation};

/// Decision counters, for metrics.
#[derive(Debug, Default)]
pub struct ThrottleCounters {
    pub accepted: AtomicU64,
    pub allow_listed: AtomicU64,
    pub bypassed: AtomicU64,
    /// Deferred recipients per token, in `AS_TABLE` order.
    pub deferred: [AtomicU64; AS_TABLE.len()],
}

/// How a recipient got past the throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// The engine judged and accepted it: it counts as the client's volume.
    Judged,
    /// The operator allow list or a bypass range covers the client: neither judged nor counted.
    Exempt,
}

#[derive(Debug)]
pub struct Throttling {
    engine: Arc<Engine>,
    allow: RwLock<Arc<Vec<Cidr>>>,
    counters: ThrottleCounters,
    recent: Mutex<crate::deferrals::RecentDeferrals>,
}

impl Throttling {
    pub fn new(engine: Arc<Engine>, allow: Vec<Cidr>) -> Throttling {
        Throttling {
            engine,
            allow: RwLock::new(Arc::new(allow)),
            counters: ThrottleCounters::default(),
            recent: Mutex::default(),
        }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn counters(&self) -> &ThrottleCounters {
        &self.counters
    }

    /// Replaces the operator allow list.
    pub fn set_allow_list(&self, allow: Vec<Cidr>) {
        *self.allow.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(allow);
    }

    pub fn allow_list(&self) -> Arc<Vec<Cidr>> {
        Arc::clone(&self.allow.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn is_allow_listed(&self, ip: IpAddr) -> bool {
        self.allow.read().unwrap_or_else(PoisonError::into_inner).iter().any(|c| c.contains(ip))
    }

    /// Decides for one recipient from `ip` now, and records it.
    pub fn check_recipient(&self, ip: IpAddr) -> Result<Admitted, Reply> {
        if self.is_allow_listed(ip) {
            self.counters.allow_listed.fetch_add(1, Ordering::Relaxed);
            return Ok(Admitted::Exempt);
        }
        let now = now_s();
        let decision = self.engine.decide(ip, 1, now);
        if decision.bypassed {
            self.counters.bypassed.fetch_add(1, Ordering::Relaxed);
            return Ok(Admitted::Exempt);
        }
        match decision.defer {
            Some(deferral) if decision.deferred > 0 => {
                let slot = AS_TABLE.iter().position(|r| r.token == deferral.token).unwrap_or(0);
                self.counters.deferred[slot].fetch_add(1, Ordering::Relaxed);
                let token = deferral.token.rule().name;
                self.recent.lock().unwrap_or_else(PoisonError::into_inner).record(ip, token, now);
                Err(deferral_reply(ip, &deferral))
            }
            _ => {
                self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                Ok(Admitted::Judged)
            }
        }
    }

    /// IPs deferred within the last day, most deferred first.
    pub fn recently_deferred(&self) -> Vec<crate::deferrals::RecentDeferral> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner).list(now_s())
    }

    /// What the next recipient from `ip` would get, without recording anything.
    pub fn explain(&self, ip: IpAddr) -> Explanation {
        self.engine.peek(ip, now_s())
    }
}

/// Seconds since the Unix epoch: the engine's clock in production.
pub fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `451 4.7.501 Deferred: <reason> from [IP]. (AS501) Try again in 10 minutes`.
pub fn deferral_reply(ip: IpAddr, deferral: &Deferral) -> Reply {
    let rule = deferral.token.rule();
    Reply::new(
        451,
        parse_enhanced(rule.enhanced).unwrap_or(code(4, 7, 500)),
        format!(
            "Deferred: {} from [{ip}]. ({}) {}",
            rule.reason,
            rule.name,
            retry_hint(deferral.retry_after_s)
        ),
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

/// The explanation as `sluice throttle show` prints it.
pub fn render_explanation(e: &Explanation, allow_listed: bool) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let verdict = match (allow_listed, e.verdict) {
        (true, _) => "accept (operator allow list)".to_string(),
        (false, throttle::Verdict::Accept) => "accept".to_string(),
        (false, throttle::Verdict::Bypass) => "accept (bypass range in the throttle policy)".to_string(),
        (false, throttle::Verdict::Defer) => match &e.defer {
            Some(d) => deferral_reply(e.ip, d).summary(),
            None => "defer".to_string(),
        },
    };
    let _ = writeln!(out, "{}: the next recipient would get: {verdict}", e.ip);
    if let Some(d) = e.defer.as_ref().filter(|_| !allow_listed) {
        let rule = d.token.rule();
        let _ = writeln!(out, "  reason: {} {} (triggered by {})", rule.name, rule.reason, d.key);
        let _ = writeln!(out, "  rule: {}", rule.rule);
        let _ = writeln!(out, "  retry after: {} s", d.retry_after_s);
    }
    for (label, s) in [("ip", &e.ip_state), ("prefix", &e.prefix_state)] {
        let _ = writeln!(out, "{label} {}:", s.key);
        if !s.tracked {
            let _ = writeln!(out, "  no history (a newcomer)");
            continue;
        }
        let deferred = s.deferred_hours_ago.map_or("never".to_string(), |h| format!("{h} h ago"));
        let _ = writeln!(
            out,
            "  age {} h, established: {}, baseline {:.0}/h, allowance {:.0}/h, observed {:.0}/h\n  accepted this hour {}, available now {}, last deferred {deferred}",
            s.age_hours,
            s.established,
            s.baseline_per_hour,
            s.allowance_per_hour,
            s.observed_per_hour,
            s.accepted_this_hour,
            s.available_now,
        );
    }
    let _ = writeln!(out, "prefix allowance applies to this ip: {}", e.prefix_applies);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blast_from_a_new_ip_is_deferred_with_the_contract_text() {
        let t = Throttling::new(Arc::new(Engine::new(throttle::Policy::default())), Vec::new());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let mut deferred = None;
        for _ in 0..2000 {
            if let Err(reply) = t.check_recipient(ip) {
                deferred = Some(reply);
                break;
            }
        }
        let reply = deferred.expect("a new IP sending 2000 at once is deferred");
        let text = reply.summary();
        assert!(text.starts_with("451 4.7.5"), "{text}");
        assert!(text.contains("from [203.0.113.7]. (AS5"), "{text}");
        assert!(text.contains("Try again in"), "{text}");
    }

    #[test]
    fn allow_listed_ips_are_never_deferred() {
        let t = Throttling::new(Arc::new(Engine::new(throttle::Policy::default())), Vec::new());
        t.set_allow_list(vec!["203.0.113.0/24".parse().unwrap()]);
        for _ in 0..5000 {
            t.check_recipient("203.0.113.9".parse().unwrap()).unwrap();
        }
        assert_eq!(t.counters().allow_listed.load(Ordering::Relaxed), 5000);
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
