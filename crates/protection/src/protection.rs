//! The decisions and the state behind them. One `Mutex` guards everything: a decision is
//! a few hash lookups and counter updates (about half a microsecond measured), outbound
//! mail is a small share of a gateway's traffic, and the scorer and the fingerprint (tens
//! of microseconds for a 4 KiB message), the only costly steps, run before the lock is
//! taken.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use crate::exchange::{CountEvent, Outbox, signal_bits, signals_of};
use crate::fingerprint::fingerprint;
use crate::policy::Policy;
use crate::scorer::SpamScorer;
use crate::verdict::{self, RatePeriod, SenderDomainClass, Verdict};
use crate::window::Rolling;

const HOUR_S: u64 = 3_600;
/// Tenant day windows (unregistered allowance, service domain): 96 buckets of 15 minutes.
type TenantDay = Rolling<96>;
const TENANT_DAY_BUCKET_S: u64 = 900;
/// Sender day windows: 24 buckets of an hour (there are many senders).
type SenderDay = Rolling<24>;
const SENDER_DAY_BUCKET_S: u64 = 3_600;
/// Hour windows (sender rate, tenant volume): 12 buckets of 5 minutes.
type Hour = Rolling<12>;
const HOUR_BUCKET_S: u64 = 300;
/// The threshold window, in 60 buckets of `threshold_window_s / 60`.
type Judging = Rolling<60>;
/// A fingerprint's recipients, in 12 buckets of `threshold_window_s / 12`.
type FingerprintWindow = Rolling<12>;
/// Bodies that normalise to fewer bytes than this ("Thanks!", an empty body) say nothing
/// about bulk and are never counted as one.
const BULK_BODY_BYTES_MIN: usize = 32;
/// The established hourly volume rises toward a busier hour with this time constant ...
const VOLUME_RISE_HOURS: f64 = 24.0;
/// ... and decays toward a quieter one with this half-life (two weeks), so nights and
/// weekends do not erase a tenant's standing.
const VOLUME_DECAY_HALF_LIFE_HOURS: f64 = 336.0;
/// Normalised sender addresses are cut to this many bytes (SMTP allows 256 per path).
const SENDER_KEY_BYTES_MAX: usize = 320;

/// A tenant went over its outbound threshold. The gateway persists it in the directory
/// store (the tenant stays blocked across restarts) and hands it back with
/// [`Protection::set_tripped`] at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trip {
    pub tenant: String,
    pub at_unix_s: u64,
    /// For the operator: the share, the window and how many messages each signal judged.
    pub reason: String,
}

/// What a message's content says, from [`Protection::judge`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    fingerprint: u64,
    /// How much of the body the fingerprint covers (short bodies are not bulk evidence).
    fingerprint_bytes: usize,
    score: f32,
}

/// The signals that judge a message spam or bulk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Its body fingerprint reached `bulk_recipients_min` recipients in the window.
    Bulk,
    /// The tenant's last hour is far above its established hourly volume.
    Volume,
    /// The tenant's recent bounce rate is above `bounce_rate_max`.
    Bounce,
    /// The scorer gave it at least `spam_score_min`.
    Spam,
}

impl Signal {
    pub const ALL: [Signal; 4] = [Signal::Bulk, Signal::Volume, Signal::Bounce, Signal::Spam];

    pub fn name(self) -> &'static str {
        match self {
            Signal::Bulk => "bulk fingerprint",
            Signal::Volume => "volume surge",
            Signal::Bounce => "bounce rate",
            Signal::Spam => "spam score",
        }
    }
}

/// How many entries each table holds, for metrics and for checking the bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    pub tenants: usize,
    pub senders: usize,
    pub fingerprints: usize,
}

/// Outbound protection for all tenants of a gateway. `Send + Sync`; share it by `Arc`.
#[derive(Debug)]
pub struct Protection {
    scorer: Box<dyn SpamScorer>,
    state: Mutex<State>,
}

#[derive(Debug)]
pub(crate) struct State {
    policy: Policy,
    /// Keyed by tenant id, which comes from the directory, never from the wire: bounded by
    /// the number of tenants, and never evicted (that would forget a trip).
    tenants: HashMap<String, TenantState>,
    next_tenant_id: u32,
    /// (tenant id, normalised sender address) -> its rate windows. At most `senders_max`.
    senders: HashMap<(u32, String), SenderState>,
    /// (tenant id, body fingerprint) -> its recipients in the window. At most
    /// `fingerprints_max`.
    fingerprints: HashMap<(u32, u64), FingerprintState>,
    /// Counts for the other nodes of a fleet (exchange on only).
    pub(crate) outbox: Option<Outbox>,
}

#[derive(Debug)]
struct TenantState {
    /// A small number standing for the tenant in the sender and fingerprint keys.
    id: u32,
    first_seen_s: Option<u64>,
    tripped: Option<Trip>,
    unregistered_messages: TenantDay,
    service_recipients: TenantDay,
    judged: Judged,
    volume: Volume,
}

/// The threshold window of one tenant: what the 5.7.705 decision looks at.
#[derive(Debug, Default)]
struct Judged {
    /// The bucket length these windows were filled with; a policy reload that changes it
    /// starts them afresh.
    bucket_s: u64,
    messages: Judging,
    flagged: Judging,
    /// The recipients of those messages, and of the judged ones.
    recipients: Judging,
    flagged_recipients: Judging,
    by_signal: [Judging; 4],
    delivered: Judging,
    bounced: Judging,
}

/// The tenant's own history of recipients per hour.
#[derive(Debug, Default)]
struct Volume {
    /// The clock hour being counted, and its recipients so far.
    hour: u64,
    hour_recipients: u64,
    /// Established recipients per hour: see `Volume::roll`.
    established: f64,
    /// Recipients in the last hour (rolling), what a surge is measured on.
    recent: Hour,
}

#[derive(Debug, Default)]
struct SenderState {
    last_seen_s: u64,
    hour: Hour,
    day: SenderDay,
}

#[derive(Debug, Default)]
struct FingerprintState {
    last_seen_s: u64,
    recipients: FingerprintWindow,
}

impl Protection {
    pub fn new(policy: Policy, scorer: Box<dyn SpamScorer>) -> Protection {
        let state = State {
            policy,
            tenants: HashMap::new(),
            next_tenant_id: 0,
            senders: HashMap::new(),
            fingerprints: HashMap::new(),
            outbox: None,
        };
        Protection { scorer, state: Mutex::new(state) }
    }

    /// At MAIL FROM of an outbound message: Err if the tenant is tripped (5.7.705) or the
    /// unregistered allowance is used up (5.7.750). Checking consumes nothing: a message
    /// uses the allowance when it is queued ([`Protection::count_unregistered_message`]), so
    /// transactions that never send do not use it up.
    pub fn check_sender(
        &self,
        now_unix_s: u64,
        tenant: &str,
        sender: &str,
        class: SenderDomainClass,
    ) -> Result<(), Verdict> {
        let mut state = self.lock();
        let allowance = state.policy.unregistered_sender_messages_per_day;
        let t = state.tenant(tenant, now_unix_s);
        if t.tripped.is_some() {
            return Err(verdict::tenant_tripped(tenant));
        }
        if class.uses_allowance() {
            t.unregistered_messages.advance(now_unix_s, TENANT_DAY_BUCKET_S);
            if t.unregistered_messages.total() >= u64::from(allowance) {
                return Err(verdict::unregistered_domain(tenant, sender, allowance, class));
            }
        }
        Ok(())
    }

    /// An outbound message of `tenant` from an unregistered sender domain was queued: it
    /// uses one of the day's allowance. (Sessions checking at the same moment may together
    /// pass the allowance by the few messages in flight.)
    pub fn count_unregistered_message(&self, now_unix_s: u64, tenant: &str) {
        let mut state = self.lock();
        let t = state.tenant(tenant, now_unix_s);
        t.unregistered_messages.add_at(now_unix_s, TENANT_DAY_BUCKET_S, 1);
        state.emit(|| CountEvent::Unregistered { tenant: tenant.to_string(), at_unix_s: now_unix_s });
    }

    /// At each RCPT of an outbound message: service-domain limit and sender rate limits; a
    /// recipient that passes is counted (a refused one is counted nowhere). Also refuses
    /// with 5.7.705 when the tenant tripped since MAIL FROM (another session's message may
    /// have tripped it), so a long transaction cannot outlive the block.
    pub fn check_recipient(
        &self,
        now_unix_s: u64,
        tenant: &str,
        sender: &str,
        class: SenderDomainClass,
    ) -> Result<(), Verdict> {
        let mut guard = self.lock();
        let State { policy, tenants, next_tenant_id, senders, outbox, .. } = &mut *guard;
        let t = seen_tenant(tenants, next_tenant_id, tenant, now_unix_s);
        if t.tripped.is_some() {
            return Err(verdict::tenant_tripped(tenant));
        }
        let service = class == SenderDomainClass::Service;
        if service {
            t.service_recipients.advance(now_unix_s, TENANT_DAY_BUCKET_S);
            let limit = policy.service_domain_recipients_per_day;
            if t.service_recipients.total() >= u64::from(limit) {
                return Err(verdict::service_domain_limit(tenant, sender, limit));
            }
        }
        let key = sender_key(sender);
        let s = sender_entry(senders, policy.senders_max, (t.id, key.clone()), now_unix_s);
        check_sender_rate(s, policy, now_unix_s, tenant, sender)?;
        s.count(now_unix_s);
        if service {
            t.service_recipients.add(1);
        }
        if let Some(outbox) = outbox {
            let tenant = tenant.to_string();
            outbox.push(CountEvent::Recipient { tenant, sender: key, service, at_unix_s: now_unix_s });
        }
        Ok(())
    }

    /// After an outbound message is accepted (queued): scores it; `Some(trip)` the first
    /// time the tenant crosses the threshold. A message of a tenant already tripped is not
    /// judged. The same as [`Protection::judge`] then [`Protection::record_judged`].
    pub fn record_message(
        &self,
        now_unix_s: u64,
        tenant: &str,
        recipients: u32,
        message: &[u8],
    ) -> Option<Trip> {
        let judgement = self.judge(message);
        self.record_judged(now_unix_s, tenant, recipients, &judgement)
    }

    /// What the content of a message says (its body fingerprint and spam score), computed
    /// without touching any state: the gateway judges a message before the spool takes it
    /// and records it only once the spool said yes, so a message the client must send again
    /// is not counted twice.
    pub fn judge(&self, message: &[u8]) -> Judgement {
        self.judge_with(message, self.scorer.as_ref())
    }

    /// [`Protection::judge`] with another scorer for this message: the gateway's content
    /// scanner, when it gave a verdict, stands in for the configured one.
    pub fn judge_with(&self, message: &[u8], scorer: &dyn SpamScorer) -> Judgement {
        let (fingerprint, fingerprint_bytes) = fingerprint(message);
        Judgement { fingerprint, fingerprint_bytes, score: scorer.score(message) }
    }

    /// [`Protection::record_message`] for a message already judged.
    pub fn record_judged(
        &self,
        now_unix_s: u64,
        tenant: &str,
        recipients: u32,
        judgement: &Judgement,
    ) -> Option<Trip> {
        let Judgement { fingerprint: fp, fingerprint_bytes: fp_bytes, score } = *judgement;
        let mut guard = self.lock();
        let State { policy, tenants, next_tenant_id, fingerprints, outbox, .. } = &mut *guard;
        let window_s = policy.window_s();
        let t = seen_tenant(tenants, next_tenant_id, tenant, now_unix_s);
        if t.tripped.is_some() {
            return None;
        }
        t.volume.add(now_unix_s, recipients);
        t.judged.advance(now_unix_s, window_s);
        let mut signals = [false; 4];
        signals[Signal::Volume as usize] = t.surging(policy, now_unix_s);
        signals[Signal::Bounce as usize] = t.judged.bouncing(policy);
        signals[Signal::Spam as usize] = score >= policy.spam_score_min;
        let counted_fp = (fp_bytes >= BULK_BODY_BYTES_MIN).then_some(fp);
        if let Some(fp) = counted_fp {
            let f =
                fingerprint_entry(fingerprints, policy.fingerprints_max, (t.id, fp), now_unix_s, window_s);
            f.recipients.add(recipients);
            f.last_seen_s = now_unix_s;
            signals[Signal::Bulk as usize] = f.recipients.total() >= u64::from(policy.bulk_recipients_min);
        }
        t.judged.record(now_unix_s, recipients, signals);
        if let Some(outbox) = outbox {
            outbox.push(CountEvent::Message {
                tenant: tenant.to_string(),
                at_unix_s: now_unix_s,
                recipients,
                signals: signal_bits(signals),
                fingerprint: counted_fp,
            });
        }
        t.trip_if_over(policy, tenant, now_unix_s)
    }

    /// Delivery outcomes of the tenant's outbound recipients, for the bounce-rate signal.
    pub fn record_outcomes(&self, now_unix_s: u64, tenant: &str, delivered: u32, bounced: u32) {
        let mut state = self.lock();
        let window_s = state.policy.window_s();
        let t = state.tenant(tenant, now_unix_s);
        t.judged.add_outcomes(now_unix_s, window_s, delivered, bounced);
        state.emit(|| CountEvent::Outcomes {
            tenant: tenant.to_string(),
            at_unix_s: now_unix_s,
            delivered,
            bounced,
        });
    }

    /// Operator release: lifts the trip and starts the tenant's threshold window afresh
    /// (messages, signals, bounce outcomes, the last hour's volume, its bulk fingerprints),
    /// so the mail that tripped it cannot trip it again. Its established volume, its
    /// allowances and its senders' rate limits are kept: they are limits, not judgements.
    pub fn release(&self, tenant: &str) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(t) = state.tenants.get_mut(tenant) else { return };
        t.tripped = None;
        t.judged = Judged::default();
        t.volume.recent = Hour::default();
        let id = t.id;
        state.fingerprints.retain(|(tenant_id, _), _| *tenant_id != id);
    }

    /// Marks the tenant tripped, as the directory store says (start-up, or another node of
    /// a fleet tripped it).
    pub fn set_tripped(&self, tenant: &str, trip: Trip) {
        let mut state = self.lock();
        state.tenant_entry(tenant).tripped = Some(trip);
    }

    pub fn tripped(&self, tenant: &str) -> Option<Trip> {
        self.lock().tenants.get(tenant).and_then(|t| t.tripped.clone())
    }

    /// Config reload. Counts are kept; a changed `threshold_window_s` starts the threshold
    /// windows and the fingerprints afresh (their buckets no longer mean the same time);
    /// smaller capacities take effect at the next insertion.
    pub fn replace_policy(&self, policy: Policy) {
        let mut state = self.lock();
        if policy.window_s() != state.policy.window_s() {
            state.fingerprints.clear();
        }
        state.policy = policy;
    }

    /// How many entries each table holds.
    pub fn tracked(&self) -> Tracked {
        let state = self.lock();
        Tracked {
            tenants: state.tenants.len(),
            senders: state.senders.len(),
            fingerprints: state.fingerprints.len(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing under the lock panics; should it ever, the counters are still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn check_sender_rate(
    s: &mut SenderState,
    policy: &Policy,
    now_s: u64,
    tenant: &str,
    sender: &str,
) -> Result<(), Verdict> {
    s.day.advance(now_s, SENDER_DAY_BUCKET_S);
    s.hour.advance(now_s, HOUR_BUCKET_S);
    // The day limit first: when both are reached, it is the one that frees up later.
    let per_day = policy.sender_recipients_per_day;
    if s.day.total() >= u64::from(per_day) {
        let frees_in_s = s.day.frees_in_s(now_s, SENDER_DAY_BUCKET_S, u64::from(per_day));
        return Err(verdict::sender_rate_limit(tenant, sender, per_day, RatePeriod::Day, frees_in_s));
    }
    let per_hour = policy.sender_recipients_per_hour;
    if s.hour.total() >= u64::from(per_hour) {
        let frees_in_s = s.hour.frees_in_s(now_s, HOUR_BUCKET_S, u64::from(per_hour));
        return Err(verdict::sender_rate_limit(tenant, sender, per_hour, RatePeriod::Hour, frees_in_s));
    }
    Ok(())
}

/// One sender however it is spelled: case folded (`Bob@X` is `bob@x`), a `+tag`
/// sub-address dropped (`bob+1@x` is `bob@x`), cut to a bounded length.
pub(crate) fn sender_key(sender: &str) -> String {
    let lower = sender.trim().trim_start_matches('<').trim_end_matches('>').to_lowercase();
    let mut key = match lower.rsplit_once('@') {
        Some((local, domain)) => match local.split_once('+') {
            Some((base, _)) if !base.is_empty() => format!("{base}@{domain}"),
            _ => lower,
        },
        None => lower,
    };
    if key.len() > SENDER_KEY_BYTES_MAX {
        let mut end = SENDER_KEY_BYTES_MAX;
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        key.truncate(end);
    }
    key
}

impl State {
    fn emit(&mut self, event: impl FnOnce() -> CountEvent) {
        if let Some(outbox) = &mut self.outbox {
            outbox.push(event());
        }
    }

    /// Adds one count of another node, in the bucket of its time. A message is not counted
    /// for a tenant already tripped here (as a local one would not be); one that takes the
    /// tenant over its threshold trips it.
    pub(crate) fn merge(&mut self, event: &CountEvent, now_s: u64) -> Option<Trip> {
        let State { policy, tenants, next_tenant_id, senders, fingerprints, .. } = self;
        let window_s = policy.window_s();
        let t = seen_tenant(tenants, next_tenant_id, event.tenant(), now_s);
        match event {
            CountEvent::Unregistered { at_unix_s, .. } => {
                t.unregistered_messages.add_at(*at_unix_s, TENANT_DAY_BUCKET_S, 1);
            }
            CountEvent::Recipient { sender, service, at_unix_s, .. } => {
                let key = (t.id, sender_key(sender));
                sender_entry(senders, policy.senders_max, key, now_s).count(*at_unix_s);
                if *service {
                    t.service_recipients.add_at(*at_unix_s, TENANT_DAY_BUCKET_S, 1);
                }
            }
            CountEvent::Message { tenant, at_unix_s, recipients, signals, fingerprint } => {
                if t.tripped.is_some() {
                    return None;
                }
                let at = (*at_unix_s).min(now_s);
                t.volume.add(at, *recipients);
                t.judged.advance(now_s, window_s);
                t.judged.record(at, *recipients, signals_of(*signals));
                if let Some(fp) = fingerprint {
                    let max = policy.fingerprints_max;
                    let f = fingerprint_entry(fingerprints, max, (t.id, *fp), now_s, window_s);
                    f.recipients.add_at(at, window_s / 12, *recipients);
                    f.last_seen_s = f.last_seen_s.max(at);
                }
                return t.trip_if_over(policy, tenant, now_s);
            }
            CountEvent::Outcomes { at_unix_s, delivered, bounced, .. } => {
                t.judged.add_outcomes(*at_unix_s, window_s, *delivered, *bounced);
            }
        }
        None
    }

    fn tenant_entry(&mut self, tenant: &str) -> &mut TenantState {
        tenant_entry(&mut self.tenants, &mut self.next_tenant_id, tenant)
    }

    fn tenant(&mut self, tenant: &str, now_s: u64) -> &mut TenantState {
        seen_tenant(&mut self.tenants, &mut self.next_tenant_id, tenant, now_s)
    }
}

/// The tenant's state, created at its first sight (which starts its volume history).
fn seen_tenant<'a>(
    tenants: &'a mut HashMap<String, TenantState>,
    next_id: &mut u32,
    tenant: &str,
    now_s: u64,
) -> &'a mut TenantState {
    let t = tenant_entry(tenants, next_id, tenant);
    t.first_seen_s.get_or_insert(now_s);
    t
}

fn tenant_entry<'a>(
    tenants: &'a mut HashMap<String, TenantState>,
    next_id: &mut u32,
    tenant: &str,
) -> &'a mut TenantState {
    tenants.entry(tenant.to_string()).or_insert_with(|| {
        let id = *next_id;
        *next_id = next_id.wrapping_add(1);
        TenantState::new(id)
    })
}

fn sender_entry(
    senders: &mut HashMap<(u32, String), SenderState>,
    capacity: usize,
    key: (u32, String),
    now_s: u64,
) -> &mut SenderState {
    if !senders.contains_key(&key) {
        make_room(
            senders,
            capacity,
            |s| {
                s.day.advance(now_s, SENDER_DAY_BUCKET_S);
                s.hour.advance(now_s, HOUR_BUCKET_S);
                !s.day.is_empty()
            },
            |s| (s.day.total(), s.last_seen_s),
        );
    }
    senders.entry(key).or_default()
}

fn fingerprint_entry(
    fingerprints: &mut HashMap<(u32, u64), FingerprintState>,
    capacity: usize,
    key: (u32, u64),
    now_s: u64,
    window_s: u64,
) -> &mut FingerprintState {
    let bucket_s = window_s / 12;
    if !fingerprints.contains_key(&key) {
        make_room(
            fingerprints,
            capacity,
            |f| {
                f.recipients.advance(now_s, bucket_s);
                !f.recipients.is_empty()
            },
            |f| (f.recipients.total(), f.last_seen_s),
        );
    }
    let f = fingerprints.entry(key).or_default();
    f.recipients.advance(now_s, bucket_s);
    f
}

/// Makes room for one more entry when `map` is at `capacity`: first drops the entries
/// `keep` says are spent (their windows are empty), then, if that freed less than an
/// eighth, the lightest entries by `weight` (count, then last use: the oldest go first)
/// down to seven eighths of the capacity. Each sweep is linear, and is followed by at
/// least `capacity / 8` insertions without one.
fn make_room<K: Eq + Hash + Clone, V>(
    map: &mut HashMap<K, V>,
    capacity: usize,
    mut keep: impl FnMut(&mut V) -> bool,
    weight: impl Fn(&V) -> (u64, u64),
) {
    let capacity = capacity.max(1);
    if map.len() < capacity {
        return;
    }
    map.retain(|_, v| keep(v));
    let target = capacity - capacity.div_ceil(8);
    if map.len() <= target {
        return;
    }
    let excess = map.len() - target;
    let mut ranked: Vec<((u64, u64), K)> = map.iter().map(|(k, v)| (weight(v), k.clone())).collect();
    ranked.select_nth_unstable_by_key(excess - 1, |(w, _)| *w);
    for (_, k) in &ranked[..excess] {
        map.remove(k);
    }
}

impl TenantState {
    fn new(id: u32) -> TenantState {
        TenantState {
            id,
            first_seen_s: None,
            tripped: None,
            unregistered_messages: TenantDay::default(),
            service_recipients: TenantDay::default(),
            judged: Judged::default(),
            volume: Volume::default(),
        }
    }

    /// Trips the tenant when its threshold window is over the threshold.
    fn trip_if_over(&mut self, policy: &Policy, tenant: &str, now_s: u64) -> Option<Trip> {
        let reason = self.judged.over_threshold(policy)?;
        let trip = Trip { tenant: tenant.to_string(), at_unix_s: now_s, reason };
        self.tripped = Some(trip.clone());
        Some(trip)
    }

    /// Whether the tenant's last hour is far above its established level. A tenant seen
    /// for less than `volume_history_hours_min` has no level to judge against.
    fn surging(&self, policy: &Policy, now_s: u64) -> bool {
        let age_s = now_s.saturating_sub(self.first_seen_s.unwrap_or(now_s));
        if age_s < u64::from(policy.volume_history_hours_min) * HOUR_S {
            return false;
        }
        let level = self.volume.established.max(f64::from(policy.volume_floor_recipients_per_hour));
        self.volume.recent.total() as f64 > f64::from(policy.volume_factor) * level
    }
}

impl SenderState {
    /// One recipient at `at_s` (now, or another node's time) in both rate windows.
    fn count(&mut self, at_s: u64) {
        self.day.add_at(at_s, SENDER_DAY_BUCKET_S, 1);
        self.hour.add_at(at_s, HOUR_BUCKET_S, 1);
        self.last_seen_s = self.last_seen_s.max(at_s);
    }
}

impl Volume {
    /// Recipients at `at_s`; a count from an hour already closed here (another node's,
    /// delayed) goes into the current hour.
    fn add(&mut self, at_s: u64, recipients: u32) {
        self.roll(at_s);
        self.hour_recipients += u64::from(recipients);
        self.recent.add_at(at_s, HOUR_BUCKET_S, recipients);
    }

    /// Closes the hours that ended: the established level moves toward each closed hour's
    /// volume, upward with a 24-hour time constant (one busy hour moves it by 1/24 of the
    /// gap: a surge is judged against the level before it), downward with a two-week
    /// half-life.
    fn roll(&mut self, now_s: u64) {
        let hour = now_s / HOUR_S;
        if hour <= self.hour {
            return;
        }
        let decay = 0.5f64.powf(1.0 / VOLUME_DECAY_HALF_LIFE_HOURS);
        let closed = self.hour_recipients as f64;
        if closed > self.established {
            self.established += (closed - self.established) / VOLUME_RISE_HOURS;
        } else {
            self.established = closed + (self.established - closed) * decay;
        }
        let empty_hours = (hour - self.hour - 1).min(i32::MAX as u64) as i32;
        self.established *= decay.powi(empty_hours);
        self.hour = hour;
        self.hour_recipients = 0;
    }
}

impl Judged {
    fn advance(&mut self, now_s: u64, window_s: u64) {
        let bucket_s = (window_s / 60).max(1);
        if self.bucket_s != bucket_s {
            *self = Judged { bucket_s, ..Judged::default() };
        }
        for w in self.windows_mut() {
            w.advance(now_s, bucket_s);
        }
    }

    fn windows_mut(&mut self) -> impl Iterator<Item = &mut Judging> {
        [
            &mut self.messages,
            &mut self.flagged,
            &mut self.recipients,
            &mut self.flagged_recipients,
            &mut self.delivered,
            &mut self.bounced,
        ]
        .into_iter()
        .chain(self.by_signal.iter_mut())
    }

    fn bouncing(&self, policy: &Policy) -> bool {
        let bounced = self.bounced.total();
        let outcomes = self.delivered.total() + bounced;
        outcomes >= u64::from(policy.bounce_outcomes_min)
            && bounced as f64 > f64::from(policy.bounce_rate_max) * outcomes as f64
    }

    /// Counts a judged message made at `at_s` (now, or another node's time).
    fn record(&mut self, at_s: u64, recipients: u32, signals: [bool; 4]) {
        let b = self.bucket_s;
        self.messages.add_at(at_s, b, 1);
        self.recipients.add_at(at_s, b, recipients);
        if signals.contains(&true) {
            self.flagged.add_at(at_s, b, 1);
            self.flagged_recipients.add_at(at_s, b, recipients);
        }
        for (window, _) in self.by_signal.iter_mut().zip(signals).filter(|(_, on)| *on) {
            window.add_at(at_s, b, 1);
        }
    }

    fn add_outcomes(&mut self, at_s: u64, window_s: u64, delivered: u32, bounced: u32) {
        self.advance(at_s, window_s);
        self.delivered.add_at(at_s, self.bucket_s, delivered);
        self.bounced.add_at(at_s, self.bucket_s, bounced);
    }

    /// The trip reason when the share of judged messages, or of the recipients of judged
    /// messages, is over the threshold.
    fn over_threshold(&self, policy: &Policy) -> Option<String> {
        let threshold = f64::from(policy.threshold_share);
        let over = |judged: u64, all: u64, min: u32| {
            let share = judged as f64 / all.max(1) as f64;
            (all >= u64::from(min.max(1)) && share > threshold).then_some(share)
        };
        let (messages, flagged) = (self.messages.total(), self.flagged.total());
        let (recipients, flagged_recipients) = (self.recipients.total(), self.flagged_recipients.total());
        let (judged, all, unit, share, min, min_unit) =
            if let Some(share) = over(flagged, messages, policy.threshold_messages_min) {
                (flagged, messages, "messages", share, policy.threshold_messages_min, "messages")
            } else {
                let min = policy.threshold_recipients_min;
                let share = over(flagged_recipients, recipients, min)?;
                (flagged_recipients, recipients, "recipients of messages", share, min, "recipients")
            };
        let signals: Vec<String> = Signal::ALL
            .iter()
            .zip(&self.by_signal)
            .map(|(signal, w)| format!("{} {}", signal.name(), w.total()))
            .collect();
        let minutes = policy.window_s() / 60;
        Some(format!(
            "{judged} of the last {all} {unit} in {minutes} minutes ({}%) were judged spam or bulk, over the \
             threshold of {}% (from {min} {min_unit}); messages judged by signal: {}",
            percent(share),
            percent(threshold),
            signals.join(", ")
        ))
    }
}

/// A share as a percentage with at most two decimals: `50.25`, `50`, so a share just over
/// the threshold does not read as equal to it.
fn percent(share: f64) -> f64 {
    (share * 10_000.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scorer::HeuristicScorer;

    const T0: u64 = 1_800_000_000;

    fn body(words: &str) -> Vec<u8> {
        format!("Date: x\r\nMessage-ID: <x>\r\n\r\nA body long enough to be fingerprinted: {words}\r\n")
            .into_bytes()
    }

    fn word(mut i: u64) -> String {
        let mut w = String::new();
        loop {
            w.push(char::from(b'a' + (i % 26) as u8));
            i /= 26;
            if i == 0 {
                return w;
            }
        }
    }

    fn fingerprint_count(p: &Protection, tenant: &str, message: &[u8]) -> Option<u64> {
        let state = p.lock();
        let id = state.tenants.get(tenant)?.id;
        state.fingerprints.get(&(id, fingerprint(message).0)).map(|f| f.recipients.total())
    }

    #[test]
    fn eviction_drops_spent_senders_first_then_the_lightest() {
        let p = Protection::new(Policy { senders_max: 4, ..Policy::default() }, Box::new(HeuristicScorer));
        for _ in 0..500 {
            assert_eq!(
                p.check_recipient(T0, "acme", "old@acme.example", SenderDomainClass::Verified),
                Ok(())
            );
        }
        let later = T0 + 2 * 86_400;
        for sender in ["a@acme.example", "b@acme.example", "c@acme.example", "d@acme.example"] {
            assert_eq!(p.check_recipient(later, "acme", sender, SenderDomainClass::Verified), Ok(()));
        }
        let state = p.lock();
        let mut kept: Vec<&str> = state.senders.keys().map(|(_, s)| s.as_str()).collect();
        kept.sort_unstable();
        // "old" sent the most, but two days ago: its windows are empty, it goes first.
        assert_eq!(kept, ["a@acme.example", "b@acme.example", "c@acme.example", "d@acme.example"]);
    }

    #[test]
    fn a_flood_of_random_bodies_does_not_evict_a_bulk_run() {
        let p =
            Protection::new(Policy { fingerprints_max: 100, ..Policy::default() }, Box::new(HeuristicScorer));
        let run = body("the same newsletter");
        for i in 0..90 {
            assert_eq!(p.record_message(T0 + i, "acme", 1, &run), None);
        }
        for i in 0..5_000u64 {
            p.record_message(T0 + 100 + i / 10, "flood", 1, &body(&format!("random {}", word(i))));
        }
        assert!(p.tracked().fingerprints <= 100);
        assert_eq!(fingerprint_count(&p, "acme", &run), Some(90));
        for i in 0..10 {
            p.record_message(T0 + 700 + i, "acme", 1, &run);
        }
        assert_eq!(fingerprint_count(&p, "acme", &run), Some(100));
    }

    #[test]
    fn release_forgets_the_tenants_fingerprints_only() {
        let p = Protection::new(Policy::default(), Box::new(HeuristicScorer));
        let run = body("the same newsletter");
        p.record_message(T0, "acme", 60, &run);
        p.record_message(T0, "globex", 60, &run);
        p.release("acme");
        assert_eq!(fingerprint_count(&p, "acme", &run), None);
        assert_eq!(fingerprint_count(&p, "globex", &run), Some(60));
    }

    #[test]
    fn a_longer_window_after_a_reload_starts_the_fingerprints_afresh() {
        let p = Protection::new(Policy::default(), Box::new(HeuristicScorer));
        let run = body("the same newsletter");
        p.record_message(T0, "acme", 99, &run);
        p.replace_policy(Policy { threshold_window_s: 7_200, ..Policy::default() });
        // Without the reset the count would sit in a bucket the new, slower clock never
        // reaches again, and never expire.
        p.record_message(T0 + 3 * 3_600, "acme", 1, &run);
        assert_eq!(fingerprint_count(&p, "acme", &run), Some(1));
    }
}
