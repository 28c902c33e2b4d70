//! The fixed-size history record of one key and its arithmetic. See the crate docs for the
//! model; this file is the only place that implements it.

use crate::key::KeyBits;
use crate::policy::Policy;

/// `last_defer_h` of a key never deferred by its own allowance.
pub(crate) const NEVER: u32 = u32::MAX;
/// CLOCK reference bit: set on use, cleared by the eviction hand.
pub(crate) const REFERENCED: u8 = 2;
/// Changed since the last incremental save.
pub(crate) const DIRTY: u8 = 4;

/// An hour is a recurring-peak candidate when it accepted this many times the established
/// volume: a peak must stand out from the sender's ordinary hours.
const RECURRING_RATIO: f32 = 1.5;
/// Peaks at the same hour of day on this many weekdays make a daily pattern.
const DAILY_PATTERN_DAYS: u32 = 3;
/// Log scale of season levels: level = 2^(code / LOG_SCALE) - 1, 0.3% resolution up to 2^32
/// in 13 bits.
const LOG_SCALE: f32 = 256.0;
const LEVEL_MASK: u16 = 0x1fff;
/// `Season::days` bit: the newest weekday bit was set on the day in `Season::code`'s top bits.
const PENDING: u8 = 0x80;

/// Policy values in the form the hot path uses, computed once.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub ip_floor: f32,
    pub prefix_floor: f32,
    pub ip_burst_min: f32,
    pub prefix_burst_min: f32,
    pub burst_hours: f32,
    pub growth: f32,
    pub rise_alpha: f32,
    /// Largest factor by which the established volume may have grown since the day began,
    /// by the hour of day being closed: `daily_growth_max ^ ((hour + 1) / 24)`.
    pub growth_by_hour: [f32; 24],
    pub peak_decay_h: f32,
    pub season_code_per_h: f64,
    pub recurring_growth: f32,
    pub recurring_min: f32,
    pub established_min: f32,
    pub churn_free: f32,
    pub probation_h: u32,
    pub dormant_h: u32,
    pub penalty_h: u32,
    pub retry_min_s: u32,
    pub retry_max_s: u32,
}

impl Params {
    pub fn new(p: &Policy) -> Params {
        Params {
            ip_floor: p.ip_floor_per_hour,
            prefix_floor: p.prefix_floor_per_hour,
            ip_burst_min: p.ip_burst_min,
            prefix_burst_min: p.prefix_burst_min,
            burst_hours: p.burst_minutes / 60.0,
            growth: p.growth_factor,
            rise_alpha: 1.0 - (-1.0 / p.rise_hours).exp(),
            growth_by_hour: std::array::from_fn(|h| p.daily_growth_max.powf((h as f32 + 1.0) / 24.0)),
            peak_decay_h: 0.5f32.powf(1.0 / p.baseline_half_life_hours),
            season_code_per_h: f64::from(LOG_SCALE) / f64::from(p.recurring_half_life_hours),
            recurring_growth: p.recurring_growth_factor,
            recurring_min: p.recurring_min_per_hour,
            established_min: p.established_min_per_hour,
            churn_free: f32::from(p.prefix_new_ips_free),
            probation_h: p.probation_hours,
            dormant_h: p.dormant_hours,
            penalty_h: p.penalty_memory_hours,
            retry_min_s: p.retry_after_min_s,
            retry_max_s: p.retry_after_max_s,
        }
    }
}

/// Longest run of consecutive busy hours one recurring peak covers.
const SPAN_MAX: u8 = 8;

/// A learned recurring busy period: a run of 1 to 8 hours of the day, the weekdays it
/// occurred on, its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Season {
    /// Bits 0..5: first hour of day (0..24); bits 5..8: run length - 1.
    pub hod: u8,
    /// Bits 0..7: weekdays it occurred on; bit 7: PENDING.
    pub days: u8,
    /// Bits 0..13: log-encoded level; bits 13..16: day number mod 8 of the newest weekday.
    pub code: u16,
}

impl Season {
    fn level_code(self) -> u16 {
        self.code & LEVEL_MASK
    }

    fn set_level_code(&mut self, c: u16) {
        self.code = (self.code & !LEVEL_MASK) | c.min(LEVEL_MASK);
    }

    fn level(self) -> f32 {
        (f32::from(self.level_code()) / LOG_SCALE).exp2() - 1.0
    }

    fn encode(level: f32) -> u16 {
        let code = (level.max(0.0) + 1.0).log2() * LOG_SCALE;
        // Saturating float-to-int conversion is the intent (levels above 2^32/h clamp).
        (code.round() as u16).min(LEVEL_MASK)
    }

    /// Notes an occurrence on day number `day`. A weekday seen for the first time is marked
    /// pending with the day, so that it only counts from the next day on.
    fn record_day(&mut self, day: u32) {
        let bit = 1u8 << (day % 7);
        let mark = (day % 8) as u16;
        if self.days & bit == 0 {
            self.days |= bit | PENDING;
            self.code = self.level_code() | (mark << 13);
        } else if self.code >> 13 != mark {
            self.days &= !PENDING;
        }
    }

    /// Weekdays that count at hour `h`: today's occurrence does not count today, or one busy
    /// hour would lift the rest of its run the same day.
    fn counted_days(self, h: u32) -> u8 {
        let day = h / 24;
        let mut days = self.days & !PENDING;
        if self.days & PENDING != 0 && u32::from(self.code >> 13) == day % 8 {
            days &= !(1u8 << (day % 7));
        }
        days
    }

    fn start(self) -> u8 {
        self.hod & 31
    }

    fn span(self) -> u8 {
        (self.hod >> 5) + 1
    }

    /// Hours of day from the start of the run to `x` (0 = the first hour).
    fn offset(self, x: u8) -> u8 {
        (x + 24 - self.start().min(23)) % 24
    }

    /// Whether this peak applies at hour `h`: in its run of hours (and the hour before, so
    /// the bucket is full when the peak starts), on a weekday it occurred on, or on any day
    /// once it is a daily pattern. A run only grows by an hour after that hour has closed, so
    /// a peak never lifts the hour after it: a burst cannot feed on itself.
    fn applies_at(self, h: u32) -> bool {
        if self.level_code() == 0 {
            return false;
        }
        let peak_h = if self.offset(hod(h)) < self.span() { h } else { h.saturating_add(1) };
        if self.offset(hod(peak_h)) >= self.span() {
            return false;
        }
        let days = self.counted_days(peak_h);
        days & (1 << dow(peak_h)) != 0 || days.count_ones() >= DAILY_PATTERN_DAYS
    }

    /// Takes in busy hour `x` if it is in the run or extends it by one.
    fn absorb(&mut self, x: u8) -> bool {
        let off = self.offset(x);
        if off < self.span() {
            return true;
        }
        if off == self.span() && self.span() < SPAN_MAX {
            self.hod = self.start() | (self.span() << 5);
            return true;
        }
        false
    }
}

fn hod(h: u32) -> u8 {
    // h % 24 < 24 always fits.
    (h % 24) as u8
}

fn dow(h: u32) -> u8 {
    ((h / 24) % 7) as u8
}

/// Which term set an allowance: decides the AS token and what an admin is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Floor,
    History,
    Recurring,
    /// A prefix whose allowance shrank because it keeps bringing new IPs.
    Rotation,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Allowance {
    pub per_hour: f32,
    pub burst: f32,
    pub source: Source,
}

/// The history of one key (IP or prefix): 59 bytes, aligned to one 64-byte cache line so
/// that reading a record costs one miss. Times are whole seconds / hours since the caller's
/// epoch, saturated into u32 (good until 2106 for the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, align(64))]
pub(crate) struct Record {
    pub addr_hi: u64,
    pub addr_lo: u64,
    /// Token bucket: recipients that may be accepted right now.
    pub tokens: f32,
    /// Attempted recipients (accepted and deferred), decayed with a one-hour time constant:
    /// the observed rate per hour.
    pub observed: f32,
    /// Established hourly volume: rises slowly toward busier hours, decays slowly.
    pub peak: f32,
    /// The established volume when the current day began: today's growth is capped
    /// relative to it.
    pub day_peak: f32,
    /// Accepted recipients in the hour of `last_s`.
    pub hour_accepted: u32,
    pub last_s: u32,
    pub first_seen_h: u32,
    /// Hour of the last deferral by this key's own allowance, or NEVER.
    pub last_defer_h: u32,
    pub seasons: [Season; 2],
    pub plen: u8,
    pub flags: u8,
    /// Prefix records: new IPs seen, halved every hour (saturating at 255).
    pub churn: u8,
}

/// e^-x for x >= 0 within 0.003, without a libm call: the observed rate only informs
/// explanations, and this runs on every decision.
#[inline]
fn decay(x: f32) -> f32 {
    if x > 8.0 {
        return 0.0;
    }
    // exp(-x) = exp(-x/4)^4, and exp(-y) ~ 1 / (1 + y + y^2/2 + y^3/6) for y <= 2.
    let y = x * 0.25;
    let e = 1.0 / (1.0 + y * (1.0 + y * (0.5 + y * (1.0 / 6.0))));
    let e2 = e * e;
    e2 * e2
}

pub(crate) fn secs_u32(now_s: u64) -> u32 {
    u32::try_from(now_s).unwrap_or(u32::MAX)
}

impl Record {
    pub const EMPTY: Record = Record {
        addr_hi: 0,
        addr_lo: 0,
        tokens: 0.0,
        observed: 0.0,
        peak: 0.0,
        day_peak: 0.0,
        hour_accepted: 0,
        last_s: 0,
        first_seen_h: 0,
        last_defer_h: NEVER,
        seasons: [Season { hod: 0, days: 0, code: 0 }; 2],
        plen: 0,
        flags: 0,
        churn: 0,
    };

    /// A key seen for the first time: a full probation bucket, no history.
    pub fn new(key: KeyBits, now_s: u64, p: &Params) -> Record {
        let now = secs_u32(now_s);
        let mut r = Record {
            addr_hi: (key.addr >> 64) as u64,
            addr_lo: key.addr as u64,
            last_s: now,
            first_seen_h: now / 3600,
            plen: key.plen,
            flags: REFERENCED | DIRTY,
            ..Record::EMPTY
        };
        r.tokens = r.allowance(now / 3600, p).burst;
        r
    }

    pub fn key(&self) -> KeyBits {
        KeyBits { addr: (u128::from(self.addr_hi) << 64) | u128::from(self.addr_lo), plen: self.plen }
    }

    fn is_prefix(&self) -> bool {
        self.plen < 128
    }

    pub fn age_h(&self, now_h: u32) -> u32 {
        now_h.saturating_sub(self.first_seen_h)
    }

    /// Past probation with a real volume: judged on its own history only.
    pub fn is_established(&self, now_h: u32, p: &Params) -> bool {
        self.age_h(now_h) >= p.probation_h && self.peak >= p.established_min
    }

    pub fn is_penalised(&self, now_h: u32, p: &Params) -> bool {
        self.last_defer_h != NEVER && now_h.saturating_sub(self.last_defer_h) < p.penalty_h
    }

    /// Brings the record to `now_s`: closes finished hours into the history, decays the
    /// observed rate and refills the bucket at the current allowance.
    pub fn advance(&mut self, now_s: u64, p: &Params) {
        let now = secs_u32(now_s);
        let (cur_h, now_h) = (self.last_s / 3600, now / 3600);
        if now_h > cur_h {
            self.churn = self.churn.checked_shr(now_h - cur_h).unwrap_or(0);
            self.close_hour(cur_h, p);
            self.skip_hours(cur_h, now_h, p);
            if now_h - cur_h > p.dormant_h {
                // Back after a long silence: what it sent then says little about it now.
                self.first_seen_h = now_h;
            }
            if now_h / 24 != cur_h / 24 {
                self.day_peak = self.peak;
            }
        }
        let dt = now.saturating_sub(self.last_s) as f32;
        if dt > 0.0 {
            self.observed *= decay(dt / 3600.0);
            let a = self.allowance(now_h, p);
            self.tokens = (self.tokens + a.per_hour * dt / 3600.0).min(a.burst);
            self.last_s = now;
        }
    }

    /// Folds the accepted volume of hour `h` into the established volume and, when it stands
    /// out, into the recurring peaks.
    fn close_hour(&mut self, h: u32, p: &Params) {
        let volume = self.hour_accepted as f32;
        let before = self.peak;
        self.peak = if volume > before {
            // Growth is capped relative to the volume that the floor already grants, so a
            // new key is not slowed below the floor, and a fast ramp cannot compound.
            let floor = if self.is_prefix() { p.prefix_floor } else { p.ip_floor };
            let cap = self.day_peak.max(floor / p.growth) * p.growth_by_hour[23];
            (before + (volume - before) * p.rise_alpha).min(cap)
        } else {
            (before * p.peak_decay_h).max(volume)
        };
        if volume >= p.recurring_min && volume >= RECURRING_RATIO * before {
            self.note_recurring(h, volume);
        }
        self.hour_accepted = 0;
    }

    /// Silent hours decay the established volume and the recurring peaks. Season decay is
    /// computed from absolute hour boundaries so that rounding never accumulates.
    fn skip_hours(&mut self, from_h: u32, to_h: u32, p: &Params) {
        let silent = to_h - from_h - 1;
        if silent > 0 {
            self.peak *= p.peak_decay_h.powf(silent as f32);
        }
        let steps = (f64::from(to_h) * p.season_code_per_h).floor()
            - (f64::from(from_h) * p.season_code_per_h).floor();
        let steps = steps.clamp(0.0, f64::from(u16::MAX)) as u16;
        for s in &mut self.seasons {
            s.set_level_code(s.level_code().saturating_sub(steps));
        }
    }

    fn note_recurring(&mut self, h: u32, volume: f32) {
        let code = Season::encode(volume);
        for s in &mut self.seasons {
            if s.level_code() > 0 && s.absorb(hod(h)) {
                s.record_day(h / 24);
                s.set_level_code(s.level_code().max(code));
                return;
            }
        }
        // Replace the weakest peak, but only by a stronger one: a one-off spike must not
        // erase an established pattern.
        let weakest = if self.seasons[0].level_code() <= self.seasons[1].level_code() { 0 } else { 1 };
        if self.seasons[weakest].level_code() < code {
            let mut s = Season { hod: hod(h), days: 0, code };
            s.record_day(h / 24);
            self.seasons[weakest] = s;
        }
    }

    /// Level of the recurring peak that applies at hour `h`, 0 when none does.
    fn recurring_level(&self, h: u32) -> f32 {
        if self.seasons[0].level_code() | self.seasons[1].level_code() == 0 {
            return 0.0;
        }
        self.seasons.iter().filter(|s| s.applies_at(h)).map(|s| s.level()).fold(0.0, f32::max)
    }

    /// What the key may send per hour at hour `h`, and which term set it.
    pub fn allowance(&self, h: u32, p: &Params) -> Allowance {
        let (floor, burst_min) = if self.is_prefix() {
            (p.prefix_floor, p.prefix_burst_min)
        } else if self.is_established(h, p) {
            // Judged on its own history: the newcomer's floor would let a hijacked
            // low-volume server send many times its normal volume.
            (0.0, p.ip_burst_min)
        } else {
            (p.ip_floor, p.ip_burst_min)
        };
        let history = p.growth * self.peak;
        let recurring = p.recurring_growth * self.recurring_level(h);
        let (per_hour, source) = if recurring > history.max(floor) {
            (recurring, Source::Recurring)
        } else if history > floor {
            (history, Source::History)
        } else {
            (floor, Source::Floor)
        };
        let burst = (per_hour * p.burst_hours).max(burst_min);
        let churn = f32::from(self.churn);
        if churn > p.churn_free {
            // Address rotation: every new IP of the network shares what one would get.
            let share = p.churn_free / churn;
            return Allowance { per_hour: per_hour * share, burst: burst * share, source: Source::Rotation };
        }
        Allowance { per_hour, burst, source }
    }

    /// Whole recipients available now.
    pub fn available(&self) -> u32 {
        // The saturating float-to-int cast truncates toward zero: the floor of a
        // non-negative number, without a libm call on the hot path.
        self.tokens as u32
    }

    /// Records `accepted` recipients out of `attempted`.
    pub fn charge(&mut self, attempted: u32, accepted: u32) {
        self.observed += attempted as f32;
        if accepted > 0 {
            // Only whole available tokens are accepted, so this stays >= 0 but for rounding;
            // a bucket in debt (fleet mode) keeps its debt when nothing is accepted.
            self.tokens = (self.tokens - accepted as f32).max(0.0);
        }
        self.hour_accepted = self.hour_accepted.saturating_add(accepted);
        self.flags |= REFERENCED | DIRTY;
    }

    /// Adds counts another node of a fleet made for this key (brought to their time first).
    /// Accepted recipients use the bucket, down to one bucket of debt: within the exchange
    /// delay each node accepted what its own view allowed, and the debt pays that back.
    pub fn absorb_remote(
        &mut self,
        attempted: u32,
        accepted: u32,
        new_ips: u32,
        first_seen_h: u32,
        deferred_h: u32,
        p: &Params,
    ) {
        self.observed += attempted as f32;
        let burst = self.allowance(self.last_s / 3600, p).burst;
        self.tokens = (self.tokens - accepted as f32).max(-burst);
        self.hour_accepted = self.hour_accepted.saturating_add(accepted);
        self.churn = self.churn.saturating_add(u8::try_from(new_ips).unwrap_or(u8::MAX));
        self.first_seen_h = self.first_seen_h.min(first_seen_h);
        if deferred_h != NEVER && (self.last_defer_h == NEVER || deferred_h > self.last_defer_h) {
            self.last_defer_h = deferred_h;
        }
        self.flags |= REFERENCED | DIRTY;
    }

    /// Seconds until `needed` recipients fit in the bucket, within the policy's bounds.
    pub fn retry_after_s(&self, needed: u32, a: &Allowance, p: &Params) -> u32 {
        let missing = (needed as f32).min(a.burst) - self.tokens;
        let exact = missing.max(0.0) * 3600.0 / a.per_hour;
        // Saturating float-to-int conversion truncates; round up by hand (no libm call).
        let secs = exact as u32;
        let secs = if (secs as f32) < exact { secs.saturating_add(1) } else { secs };
        secs.clamp(p.retry_min_s, p.retry_max_s)
    }

    /// How much history would be lost by evicting this key. Established and recently
    /// penalised keys rank above every key that is neither, whatever their volume.
    pub fn retention_score(&self, now_h: u32, p: &Params) -> f32 {
        let idle_h = now_h.saturating_sub(self.last_s / 3600) as f32;
        let peak = self.peak * p.peak_decay_h.powf(idle_h);
        let protected =
            self.is_penalised(now_h, p) || (self.age_h(now_h) >= p.probation_h && peak >= p.established_min);
        let tier = if protected { 1.0e9 } else { 0.0 };
        let recency = if self.flags & REFERENCED != 0 { 2.0 } else { 1.0 };
        tier + (peak + 1.0) * recency / (1.0 + idle_h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::keys_for;

    fn params() -> Params {
        Params::new(&Policy::default())
    }

    fn ip_record(now: u64) -> Record {
        let (ip, _) = keys_for("198.51.100.7".parse().unwrap(), 24, 64);
        Record::new(ip, now, &params())
    }

    #[test]
    fn record_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Record>(), 64);
    }

    #[test]
    fn new_key_gets_probation_floor() {
        let r = ip_record(0);
        let a = r.allowance(0, &params());
        assert_eq!(a.source, Source::Floor);
        assert_eq!(a.per_hour, 300.0);
        assert_eq!(r.available(), 100);
    }

    #[test]
    fn established_volume_rises_slowly_and_decays_slowly() {
        let p = params();
        let mut r = ip_record(0);
        for h in 0..24 * 7 {
            r.hour_accepted = 200;
            r.advance((h + 1) * 3600, &p);
        }
        assert!((r.peak - 200.0).abs() < 2.0, "a week at 200/h establishes 200/h: {}", r.peak);
        let one_busy_hour = {
            let mut s = r;
            s.hour_accepted = 2000;
            s.advance(24 * 7 * 3600 + 3600, &p);
            s.peak
        };
        assert!(one_busy_hour < 300.0, "one hour barely moves it: {one_busy_hour}");
        r.advance((24 * 7 + 24 * 14) * 3600, &p);
        assert!((r.peak - 100.0).abs() < 5.0, "two silent weeks halve it: {}", r.peak);
    }

    #[test]
    fn recurring_peak_is_learned_for_its_weekday_only() {
        let p = params();
        let mut r = ip_record(0);
        r.hour_accepted = 400;
        r.advance(3600 * 10, &p); // closes hour 0 (weekday 0, 00:00)
        let next_week = 24 * 7;
        assert!(r.recurring_level(next_week) > 300.0);
        assert_eq!(r.recurring_level(next_week + 24), 0.0, "not on the next day");
        assert_eq!(r.recurring_level(next_week + 1), 0.0, "not the hour after");
        assert!(r.recurring_level(next_week - 1) > 300.0, "the hour before, to fill the bucket");
        assert_eq!(r.allowance(next_week, &p).source, Source::Recurring);
    }

    #[test]
    fn decay_approximates_exp() {
        for i in 0..200 {
            let x = i as f32 * 0.05;
            assert!((decay(x) - (-x).exp()).abs() < 3e-3, "{x}");
        }
    }

    #[test]
    fn recurring_peak_spans_consecutive_hours() {
        let p = params();
        let mut r = ip_record(9 * 3600);
        for h in 9..12 {
            r.hour_accepted = 400;
            r.advance((h + 1) * 3600, &p);
        }
        let next_week = 24 * 7;
        for h in 8..12 {
            assert!(r.recurring_level(next_week + h) > 300.0, "hour {h}");
        }
        assert_eq!(r.recurring_level(next_week + 12), 0.0);
        assert_eq!(r.seasons.iter().filter(|s| s.level_code() > 0).count(), 1, "one run, one slot");
    }

    #[test]
    fn a_busy_hour_does_not_lift_the_rest_of_its_day() {
        let p = params();
        let mut r = ip_record(0);
        for h in 0..48u64 {
            for m in 0..60u64 {
                r.advance(h * 3600 + m * 60, &p);
                let n = r.available();
                r.charge(1000, n);
            }
            let a = r.allowance(h as u32, &p);
            assert_ne!(a.source, Source::Recurring, "hour {h}: {r:?}");
        }
    }

    #[test]
    fn season_code_round_trips() {
        for level in [0.0f32, 1.0, 50.0, 400.0, 5000.0, 1.0e6] {
            let back = Season { hod: 0, days: 1, code: Season::encode(level) }.level();
            assert!((back - level).abs() <= level * 0.003 + 0.01, "{level} -> {back}");
        }
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let p = params();
        let mut r = ip_record(10_000);
        r.charge(50, 50);
        r.advance(5_000, &p);
        assert_eq!(r.last_s, 10_000);
        assert_eq!(r.hour_accepted, 50);
    }

    #[test]
    fn retry_after_is_bounded() {
        let p = params();
        let mut r = ip_record(0);
        r.charge(100, 100);
        let a = r.allowance(0, &p);
        assert_eq!(r.retry_after_s(1, &a, &p), 60);
        assert_eq!(r.retry_after_s(1_000_000, &a, &p), 1200);
    }
}
