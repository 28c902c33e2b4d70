//! The decision logic over one shard of records, the single-threaded [`Core`] and the
//! sharded, thread-safe [`Engine`].

use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::key::{KeyBits, ThrottleKey, hash, keys_for};
use crate::policy::{Policy, PolicyError};
use crate::record::{Params, Record, Source, secs_u32};
use crate::table::Table;
use crate::tokens::AsToken;

/// Seconds since the caller's epoch (Unix time in production, trace time in simulation).
pub type Timestamp = u64;

/// Why recipients were deferred, with the figures behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Deferral {
    /// The reason token; `token.rule()` gives the reply code and text.
    pub token: AsToken,
    /// The key whose allowance was exhausted: the IP itself or its network prefix.
    pub key: ThrottleKey,
    /// Attempted recipients per hour of that key (accepted and deferred, decayed over ~1 h).
    pub observed_per_hour: f32,
    /// Its established hourly volume.
    pub baseline_per_hour: f32,
    /// Its allowance per hour right now.
    pub allowance_per_hour: f32,
    /// When the deferred recipients would fit, in seconds (within the policy's bounds).
    pub retry_after_s: u32,
}

/// The outcome for the recipients of one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Recipients to accept.
    pub accepted: u32,
    /// Recipients to defer with `451`.
    pub deferred: u32,
    /// The IP is in a bypass range (allow list or connector): accepted, not counted.
    pub bypassed: bool,
    /// Set when `deferred > 0`.
    pub defer: Option<Deferral>,
}

/// What `decide` would answer for one more recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Would be accepted.
    Accept,
    /// Would be deferred.
    Defer,
    /// In a bypass range.
    Bypass,
}

/// The state of one key, as `sluice throttle show` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyState {
    /// The key.
    pub key: ThrottleKey,
    /// Whether the engine holds history for it (false: a newcomer).
    pub tracked: bool,
    /// Hours since first seen.
    pub age_hours: u32,
    /// Past probation with a real volume: judged on its own history only.
    pub established: bool,
    /// Attempted recipients per hour (accepted and deferred).
    pub observed_per_hour: f32,
    /// Established hourly volume.
    pub baseline_per_hour: f32,
    /// Allowance per hour right now.
    pub allowance_per_hour: f32,
    /// Recipients that may be accepted right now.
    pub available_now: u32,
    /// Recipients accepted in the current clock hour.
    pub accepted_this_hour: u32,
    /// Hours since it was last deferred by its own allowance.
    pub deferred_hours_ago: Option<u32>,
    /// For a prefix: new IPs it brought recently (halved every hour).
    pub new_ips_recent: u32,
}

/// A read-only explanation for one IP.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The client IP.
    pub ip: IpAddr,
    /// What one more recipient would get now.
    pub verdict: Verdict,
    /// Why it would be deferred.
    pub defer: Option<Deferral>,
    /// The IP's own state.
    pub ip_state: KeyState,
    /// Its network prefix's state.
    pub prefix_state: KeyState,
    /// Whether the prefix allowance applies to this IP (it does until the IP is established).
    pub prefix_applies: bool,
}

/// Transactions whose memory a batch fetches at once: enough to keep the CPU's outstanding
/// miss slots busy, few enough that the lines are still cached when used.
const BATCH_TOUCH: usize = 16;

/// Policy in the form the engine uses.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub policy: Policy,
    pub params: Params,
}

/// A client's two keys and their table hashes, computed once per decision.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lookup {
    pub ip: KeyBits,
    pub prefix: KeyBits,
    pub h_ip: u64,
    pub h_prefix: u64,
}

impl Ctx {
    fn new(policy: Policy) -> Result<Ctx, PolicyError> {
        policy.validate()?;
        Ok(Ctx { params: Params::new(&policy), policy })
    }

    pub fn keys(&self, ip: IpAddr) -> (KeyBits, KeyBits) {
        keys_for(ip, self.policy.ipv4_prefix_len, self.policy.ipv6_prefix_len)
    }

    pub fn lookup(&self, ip: IpAddr) -> Lookup {
        let (ip, prefix) = self.keys(ip);
        let seed = self.policy.hash_seed;
        Lookup { ip, prefix, h_ip: hash(ip, seed), h_prefix: hash(prefix, seed) }
    }

    /// IPs live in their prefix's shard, so one decision takes one lock.
    pub fn shard_of(&self, prefix: KeyBits) -> usize {
        self.shard_of_hash(hash(prefix, self.policy.hash_seed))
    }

    fn shard_of_hash(&self, h_prefix: u64) -> usize {
        // Bits 32..: independent of the slot within the shard, which comes from the top bits.
        ((h_prefix >> 32) as u32 as usize) % self.policy.shards
    }

    pub fn shard_max_keys(&self) -> usize {
        self.policy.max_keys.div_ceil(self.policy.shards)
    }
}

/// One shard: a bounded table of records and the decision logic over it.
#[derive(Debug)]
pub(crate) struct Shard {
    pub table: Table,
    /// Counts not yet exported to the other nodes of a fleet (exchange on only).
    pub pending: Option<crate::exchange::Pending>,
}

struct Loaded {
    rec: Record,
    slot: Option<usize>,
    hash: u64,
}

impl Shard {
    pub fn new(ctx: &Ctx) -> Shard {
        Shard { table: Table::new(ctx.shard_max_keys(), ctx.policy.hash_seed), pending: None }
    }

    /// Fetches the memory of both of a client's records (see [`Table::touch`]).
    #[inline]
    fn touch(&self, l: &Lookup) -> u64 {
        self.table.touch(l.h_ip) ^ self.table.touch(l.h_prefix)
    }

    fn load(&self, key: KeyBits, slot: Option<usize>, hash: u64, now: Timestamp, p: &Params) -> Loaded {
        match slot {
            Some(i) => {
                let mut rec = *self.table.get(i);
                rec.advance(now, p);
                Loaded { rec, slot: Some(i), hash }
            }
            None => Loaded { rec: Record::new(key, now, p), slot: None, hash },
        }
    }

    pub fn decide(&mut self, l: &Lookup, n: u32, now: Timestamp, p: &Params) -> Decision {
        let now_h = secs_u32(now) / 3600;
        // Both records' memory is fetched at once rather than one miss after the other.
        std::hint::black_box(self.touch(l));
        let (ip_slot, prefix_slot) = (self.table.find(l.ip, l.h_ip), self.table.find(l.prefix, l.h_prefix));
        if let Some([ip, prefix]) = ip_slot.zip(prefix_slot).and_then(|(i, j)| self.table.pair_mut(i, j)) {
            // Both keys known (the common case): update the records where they are.
            ip.advance(now, p);
            prefix.advance(now, p);
            let decision = judge(ip, prefix, n, now_h, p);
            self.note(l, n, &decision, false, now);
            return decision;
        }
        let mut ip = self.load(l.ip, ip_slot, l.h_ip, now, p);
        let mut prefix = self.load(l.prefix, prefix_slot, l.h_prefix, now, p);
        let new_ip = ip.slot.is_none();
        if new_ip {
            prefix.rec.churn = prefix.rec.churn.saturating_add(1);
        }
        let decision = judge(&mut ip.rec, &mut prefix.rec, n, now_h, p);
        self.store(prefix, l.ip, now_h, p);
        self.store(ip, l.prefix, now_h, p);
        self.note(l, n, &decision, new_ip, now);
        decision
    }

    fn store(&mut self, loaded: Loaded, protect: KeyBits, now_h: u32, p: &Params) {
        match loaded.slot {
            // The slot still holds this key: write in place. Inserting the other key may
            // have moved records (growth, eviction), hence the check.
            Some(i) if self.table.holds(i, loaded.rec.key()) => *self.table.get_mut(i) = loaded.rec,
            Some(_) => {
                let _slot = self.table.upsert(loaded.rec, Some(protect), now_h, p);
            }
            None => {
                // Fails only when a shard holds nothing but `protect` (max_keys below 2 per
                // shard); the key then stays untracked.
                let _slot = self.table.insert_new(loaded.rec, loaded.hash, Some(protect), now_h, p);
            }
        }
    }

    pub fn peek(&self, ip: IpAddr, l: &Lookup, now: Timestamp, p: &Params) -> Explanation {
        let now_h = secs_u32(now) / 3600;
        let ipl = self.load(l.ip, self.table.find(l.ip, l.h_ip), l.h_ip, now, p);
        let prefix = self.load(l.prefix, self.table.find(l.prefix, l.h_prefix), l.h_prefix, now, p);
        let prefix_applies = !ipl.rec.is_established(now_h, p);
        let ip_avail = ipl.rec.available();
        let prefix_avail = if prefix_applies { prefix.rec.available() } else { u32::MAX };
        let defer = if ip_avail == 0 {
            Some(deferral(&ipl.rec, 1, now_h, p))
        } else if prefix_avail == 0 {
            Some(deferral(&prefix.rec, 1, now_h, p))
        } else {
            None
        };
        Explanation {
            ip,
            verdict: if defer.is_some() { Verdict::Defer } else { Verdict::Accept },
            defer,
            ip_state: key_state(&ipl, now_h, p),
            prefix_state: key_state(&prefix, now_h, p),
            prefix_applies,
        }
    }
}

/// Decides for `n` recipients from a client whose records are `ip` and `prefix` (brought
/// to now), and charges both.
fn judge(ip: &mut Record, prefix: &mut Record, n: u32, now_h: u32, p: &Params) -> Decision {
    let exempt = ip.is_established(now_h, p);
    let ip_avail = ip.available();
    let prefix_avail = if exempt { u32::MAX } else { prefix.available() };
    let accepted = n.min(ip_avail).min(prefix_avail);
    let deferred = n - accepted;
    ip.charge(n, accepted);
    prefix.charge(n, accepted);
    let defer = (deferred > 0).then(|| {
        let culprit = if ip_avail <= prefix_avail { ip } else { prefix };
        culprit.last_defer_h = now_h;
        deferral(culprit, deferred, now_h, p)
    });
    Decision { accepted, deferred, bypassed: false, defer }
}

fn token_for(rec: &Record, source: Source, now_h: u32, p: &Params) -> AsToken {
    if rec.key().is_prefix() {
        if source == Source::Rotation { AsToken::As505 } else { AsToken::As503 }
    } else if source == Source::Recurring {
        AsToken::As504
    } else if rec.age_h(now_h) < p.probation_h {
        AsToken::As501
    } else {
        AsToken::As502
    }
}

fn deferral(rec: &Record, deferred: u32, now_h: u32, p: &Params) -> Deferral {
    let a = rec.allowance(now_h, p);
    Deferral {
        token: token_for(rec, a.source, now_h, p),
        key: rec.key().to_key(),
        observed_per_hour: rec.observed,
        baseline_per_hour: rec.peak,
        allowance_per_hour: a.per_hour,
        retry_after_s: rec.retry_after_s(deferred, &a, p),
    }
}

fn key_state(l: &Loaded, now_h: u32, p: &Params) -> KeyState {
    let r = &l.rec;
    KeyState {
        key: r.key().to_key(),
        tracked: l.slot.is_some(),
        age_hours: r.age_h(now_h),
        established: r.is_established(now_h, p),
        observed_per_hour: r.observed,
        baseline_per_hour: r.peak,
        allowance_per_hour: r.allowance(now_h, p).per_hour,
        available_now: r.available(),
        accepted_this_hour: r.hour_accepted,
        new_ips_recent: u32::from(r.churn),
        deferred_hours_ago: (r.last_defer_h != crate::record::NEVER)
            .then(|| now_h.saturating_sub(r.last_defer_h)),
    }
}

fn bypass_decision(recipients: u32) -> Decision {
    Decision { accepted: recipients, deferred: 0, bypassed: true, defer: None }
}

fn bypass_explanation(ctx: &Ctx, ip: IpAddr, shard: &Shard, now: Timestamp) -> Explanation {
    let mut e = shard.peek(ip, &ctx.lookup(ip), now, &ctx.params);
    e.verdict = Verdict::Bypass;
    e.defer = None;
    e
}

/// The engine for one thread: no locks. Same decisions as [`Engine`] with the same policy
/// when `shards` is 1; used by benches and tools that own their state.
#[derive(Debug)]
pub struct Core {
    pub(crate) ctx: Ctx,
    pub(crate) shard: Shard,
}

impl Core {
    /// A core with `policy`; fails on an invalid policy.
    pub fn new(policy: Policy) -> Result<Core, PolicyError> {
        let ctx = Ctx::new(Policy { shards: 1, ..policy })?;
        let shard = Shard::new(&ctx);
        Ok(Core { ctx, shard })
    }

    /// See [`Engine::decide`].
    pub fn decide(&mut self, ip: IpAddr, recipients: u32, now: Timestamp) -> Decision {
        if recipients == 0 || self.ctx.policy.is_bypassed(ip) {
            return bypass_decision(recipients);
        }
        self.shard.decide(&self.ctx.lookup(ip), recipients, now, &self.ctx.params)
    }

    /// See [`Engine::decide_batch`].
    pub fn decide_batch(&mut self, batch: &[(IpAddr, u32)], now: Timestamp, out: &mut Vec<Decision>) {
        let mut lookups = [None; BATCH_TOUCH];
        for chunk in batch.chunks(BATCH_TOUCH) {
            let mut touched = 0;
            for (slot, (ip, n)) in lookups.iter_mut().zip(chunk) {
                *slot = (*n > 0 && !self.ctx.policy.is_bypassed(*ip)).then(|| self.ctx.lookup(*ip));
                touched ^= slot.as_ref().map_or(0, |l| self.shard.touch(l));
            }
            std::hint::black_box(touched);
            for (l, (_, n)) in lookups.iter().zip(chunk) {
                out.push(match l {
                    Some(l) => self.shard.decide(l, *n, now, &self.ctx.params),
                    None => bypass_decision(*n),
                });
            }
        }
    }

    /// Tracked keys (IPs and prefixes).
    pub fn tracked_keys(&self) -> usize {
        self.shard.table.len()
    }

    /// Bytes of table memory (slots x (record + tag byte)).
    pub fn table_bytes(&self) -> usize {
        self.shard.table.bytes()
    }
}

/// The thread-safe engine: `shards` independently locked tables, a key's shard chosen by
/// the hash of its network prefix.
#[derive(Debug)]
pub struct Engine {
    pub(crate) ctx: Ctx,
    pub(crate) shards: Box<[Mutex<Shard>]>,
}

impl Engine {
    /// An engine with `policy`. An invalid policy is replaced by the default one, so the
    /// gateway never runs unprotected; use [`Engine::try_new`] to get the error instead.
    pub fn new(policy: Policy) -> Engine {
        Engine::try_new(policy).unwrap_or_else(|_| {
            Engine::with_ctx(Ctx { params: Params::new(&Policy::default()), policy: Policy::default() })
        })
    }

    /// An engine with `policy`, or why the policy is invalid.
    pub fn try_new(policy: Policy) -> Result<Engine, PolicyError> {
        Ok(Engine::with_ctx(Ctx::new(policy)?))
    }

    fn with_ctx(ctx: Ctx) -> Engine {
        let shards = (0..ctx.policy.shards).map(|_| Mutex::new(Shard::new(&ctx))).collect();
        Engine { ctx, shards }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.ctx.policy
    }

    pub(crate) fn lock(&self, i: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding the lock cannot leave a record half-written (records are
        // copied in and out whole), so a poisoned shard is still consistent.
        self.shards[i].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decides for `recipients` recipients of one transaction from `ip` at `now`, and records
    /// the outcome: accepted recipients count as volume; deferred ones only as attempts.
    pub fn decide(&self, ip: IpAddr, recipients: u32, now: Timestamp) -> Decision {
        if recipients == 0 || self.ctx.policy.is_bypassed(ip) {
            return bypass_decision(recipients);
        }
        let l = self.ctx.lookup(ip);
        let mut shard = self.lock(self.ctx.shard_of_hash(l.h_prefix));
        shard.decide(&l, recipients, now, &self.ctx.params)
    }

    /// [`Engine::decide`] for several transactions at the same `now`, appended to `out` in
    /// order. Same decisions as one call each. Faster on large tables: the shards the batch
    /// needs are locked once, in ascending order (so that two batches cannot deadlock), and
    /// the memory of up to 16 transactions is fetched in parallel.
    pub fn decide_batch(&self, batch: &[(IpAddr, u32)], now: Timestamp, out: &mut Vec<Decision>) {
        let todo: Vec<(usize, Lookup, usize)> = batch
            .iter()
            .enumerate()
            .filter(|(_, (ip, n))| *n > 0 && !self.ctx.policy.is_bypassed(*ip))
            .map(|(i, (ip, _))| {
                let l = self.ctx.lookup(*ip);
                (i, l, self.ctx.shard_of_hash(l.h_prefix))
            })
            .collect();
        let mut needed: Vec<usize> = todo.iter().map(|t| t.2).collect();
        needed.sort_unstable();
        needed.dedup();
        let mut guards: Vec<MutexGuard<'_, Shard>> = needed.iter().map(|s| self.lock(*s)).collect();
        let guard = |shard: usize| needed.binary_search(&shard).unwrap_or(0);
        let base = out.len();
        out.extend(batch.iter().map(|(_, n)| bypass_decision(*n)));
        for chunk in todo.chunks(BATCH_TOUCH) {
            let touched = chunk.iter().fold(0, |acc, (_, l, s)| acc ^ guards[guard(*s)].touch(l));
            std::hint::black_box(touched);
            for (i, l, s) in chunk {
                out[base + i] = guards[guard(*s)].decide(l, batch[*i].1, now, &self.ctx.params);
            }
        }
    }

    /// What `decide` would answer for one more recipient, without recording anything.
    pub fn peek(&self, ip: IpAddr, now: Timestamp) -> Explanation {
        let l = self.ctx.lookup(ip);
        let shard = self.lock(self.ctx.shard_of_hash(l.h_prefix));
        if self.ctx.policy.is_bypassed(ip) {
            return bypass_explanation(&self.ctx, ip, &shard, now);
        }
        shard.peek(ip, &l, now, &self.ctx.params)
    }

    /// Tracked keys (IPs and prefixes).
    pub fn tracked_keys(&self) -> usize {
        (0..self.shards.len()).map(|i| self.lock(i).table.len()).sum()
    }

    /// Bytes of table memory (slots x (record + tag byte)), for metrics and the bench.
    pub fn table_bytes(&self) -> usize {
        (0..self.shards.len()).map(|i| self.lock(i).table.bytes()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn engine_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Engine>();
    }

    #[test]
    fn only_the_excess_is_deferred() {
        let e = Engine::new(Policy::default());
        let d = e.decide(ip("198.51.100.7"), 150, 1000);
        assert_eq!((d.accepted, d.deferred), (100, 50));
        let def = d.defer.unwrap();
        assert_eq!(def.token, AsToken::As501);
        assert_eq!(def.key, ThrottleKey::Ip(ip("198.51.100.7")));
        assert_eq!(def.allowance_per_hour, 300.0);
        assert_eq!(def.baseline_per_hour, 0.0);
        assert_eq!(def.observed_per_hour, 150.0);
        assert_eq!(def.retry_after_s, 600);
    }

    fn last_deferral(e: &Engine, hosts: u32, each: u32) -> Deferral {
        let mut last = None;
        for host in 1..=hosts {
            let d = e.decide(ip(&format!("203.0.113.{host}")), each, 0);
            last = d.defer.or(last);
        }
        last.unwrap()
    }

    #[test]
    fn concurrent_decisions_never_exceed_the_allowance() {
        let e = Engine::new(Policy::default());
        let who = ip("203.0.113.77");
        let accepted: u32 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).map(|k| e.decide(who, 1, k / 100).accepted).sum::<u32>()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        // The bucket starts at 100 and refills at 300/h for at most 10 s: 100 + 300 * 10 / 3600.
        assert!((100..=101).contains(&accepted), "{accepted}");
    }

    #[test]
    fn prefix_aggregate_defers_newcomers() {
        let def = last_deferral(&Engine::new(Policy::default()), 10, 150);
        assert_eq!(def.token, AsToken::As503);
        assert_eq!(def.key.to_string(), "203.0.113.0/24");
        assert_eq!(def.allowance_per_hour, 1000.0);
    }

    #[test]
    fn address_rotation_shares_one_allowance() {
        let def = last_deferral(&Engine::new(Policy::default()), 200, 60);
        assert_eq!(def.token, AsToken::As505);
        assert_eq!(def.key.to_string(), "203.0.113.0/24");
        assert_eq!(def.allowance_per_hour, 1000.0 * 16.0 / 200.0);
    }

    #[test]
    fn batch_decides_like_single_calls() {
        let (single, batched) = (Engine::new(Policy::default()), Engine::new(Policy::default()));
        let mut core = Core::new(Policy::default()).unwrap();
        let batch: Vec<(IpAddr, u32)> = (0..100u32)
            .map(|i| (IpAddr::V4(std::net::Ipv4Addr::from(0xc633_6400 + i % 7)), 1 + i % 40))
            .collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        batched.decide_batch(&batch, 5, &mut a);
        core.decide_batch(&batch, 5, &mut b);
        let c: Vec<Decision> = batch.iter().map(|(ip, n)| single.decide(*ip, *n, 5)).collect();
        assert_eq!(a, c);
        assert_eq!(b, c);
    }

    #[test]
    fn bypass_is_never_counted() {
        let policy = Policy { bypass: vec!["203.0.113.0/24".parse().unwrap()], ..Policy::default() };
        let e = Engine::new(policy);
        let d = e.decide(ip("203.0.113.5"), 10_000, 0);
        assert!(d.bypassed && d.deferred == 0);
        assert_eq!(e.tracked_keys(), 0);
        assert_eq!(e.peek(ip("203.0.113.5"), 0).verdict, Verdict::Bypass);
    }

    #[test]
    fn peek_explains_without_recording() {
        let e = Engine::new(Policy::default());
        e.decide(ip("2001:db8::1"), 100, 0);
        let x = e.peek(ip("2001:db8::1"), 0);
        assert_eq!(x.verdict, Verdict::Defer);
        assert_eq!(x.defer.as_ref().unwrap().token, AsToken::As501);
        assert_eq!(x.ip_state.accepted_this_hour, 100);
        assert_eq!(x.prefix_state.key.to_string(), "2001:db8::/64");
        assert!(x.ip_state.tracked && x.prefix_applies);
        assert_eq!(e.peek(ip("2001:db8::1"), 0), x, "peek changes nothing");
        let fresh = e.peek(ip("2001:db8:1::1"), 0);
        assert!(!fresh.ip_state.tracked);
        assert_eq!(e.tracked_keys(), 2);
    }

    #[test]
    fn invalid_policy_is_refused_or_replaced() {
        let bad = Policy { growth_factor: 0.5, ..Policy::default() };
        assert!(Engine::try_new(bad.clone()).is_err());
        assert_eq!(Engine::new(bad).policy(), &Policy::default());
    }

    #[test]
    fn flooding_new_keys_does_not_evict_established_or_penalised_keys() {
        let e = Engine::new(Policy { max_keys: 64, shards: 1, ..Policy::default() });
        let (known, spammer) = (ip("198.51.100.7"), ip("203.0.113.9"));
        for h in 0..96u64 {
            e.decide(known, 50, h * 3600);
        }
        let now = 96 * 3600;
        assert!(e.decide(spammer, 1000, now).deferred > 0);
        for n in 0..10_000u32 {
            let flood = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n * 256));
            e.decide(flood, 1, now + u64::from(n % 3600));
        }
        assert!(e.tracked_keys() <= 64);
        let k = e.peek(known, now + 3600);
        assert!(k.ip_state.tracked && k.ip_state.established, "{k:?}");
        assert!(k.prefix_state.tracked, "an established prefix stays too");
        let s = e.peek(spammer, now + 3600);
        assert!(s.ip_state.tracked && s.ip_state.deferred_hours_ago.is_some(), "{s:?}");
    }
}
