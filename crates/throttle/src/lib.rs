//! Adaptive IP throttling: decides, for each recipient from a client IP, whether to accept
//! it now or defer it with a temporary `451 4.7.5xx` reply, from that IP's own history and
//! its network prefix's.
//!
//! Invariants, stated as absences: this crate does no I/O, never reads the clock (`now` is a
//! parameter, seconds since the caller's epoch), never awaits, never panics on input, and
//! never holds more than `max_keys` records.
//!
//! # The model
//!
//! Every key, a client IP and its network prefix (IPv4 /24, IPv6 /64 by default), has one
//! record (one 64-byte cache line) that keeps history at four time scales:
//!
//! * **minutes**: a token bucket. It refills at the key's hourly *allowance* and holds
//!   `burst_minutes` (15) of it. A transaction's recipients are accepted while whole tokens
//!   remain and the excess is deferred, so a sender over its allowance still gets its
//!   allowance through, in proportion, and nobody is cut off outright.
//! * **hours**: the recipients accepted in the current clock hour, and an observed rate
//!   (attempts, accepted and deferred, decayed with a one-hour time constant) for
//!   explanations.
//! * **days**: the *established volume* `E`, recipients per hour. When an hour closes, `E`
//!   moves toward that hour's accepted volume: upward with a 24-hour time constant
//!   (`rise_hours`), so one busy hour moves it by 1/24 of the gap and a busy day by 63%, but
//!   never beyond `daily_growth_max` (2) times what it was when the day began (or than what
//!   the floor already grants); downward it only decays, with a two-week half-life, so
//!   weekends and holidays do not erase a sender's standing.
//! * **weeks**: two *recurring peaks*, each a run of up to 8 hours of the day, the weekdays
//!   it occurred on and a level (log-encoded, decaying with a four-week half-life). An hour
//!   becomes part of a peak when it accepted at least 50 and 1.5 x `E`. A peak applies in its
//!   hours (and the hour before, so that the bucket is full when it starts) on the weekdays
//!   it occurred on, or on every day once it has been seen on three weekdays. A run grows by
//!   an hour only after that hour has closed, so a peak never lifts the hour after it: a
//!   burst cannot feed on itself.
//!
//! Plus when the key was first seen and when it was last deferred by its own allowance.
//!
//! **Allowance** = max(floor, `growth_factor` (2) x `E`, `recurring_growth_factor` (3) x the
//! level of the recurring peak that applies now). The floor is 300/h for an IP, 1,000/h for a
//! prefix; an *established* IP has none (below).
//!
//! **Probation**: a new key has no `E`, so it gets the floor and a full bucket (100): a new
//! IP can send a steady couple of hundred an hour from its first minute (S1), but a blast
//! gets about 400 through in its first hour (S4: 96% deferred). Until it is 72 hours old it
//! is "new" (AS501), and until it also has an `E` of 20/h it is not *established*. A key
//! silent for `dormant_hours` (two weeks) starts a new probation when it comes back, keeping
//! what is left of its `E`: what it sent a month ago says little about it now, and a sender
//! back from holidays must not be held below a newcomer.
//!
//! **Warm-up (S3, S13, S14)**: a sender that uses its allowance pulls `E` up, which raises
//! the allowance. With a factor 2 over an `E` that lags a day behind, a ramp of 40% a day
//! keeps a margin of about 20% over what it sends, even when the ramp is in daily steps; a
//! smooth ramp keeps 50%, and a ramp that doubles every day still passes (S13).
//!
//! **Fast ramps (S11)**: `E` may grow by at most `daily_growth_max` (2) a day. Without that
//! cap a sender saturating its allowance all day would grow it 2.7x a day (e^1, from the
//! 24-hour rise), so a new IP tripling its volume daily got only a third deferred. With it,
//! a sender growing faster than doubling has its accepted volume doubling a day and the
//! rest of its growth deferred (S11: 18,600 -> 37,200 -> 74,400 accepted on days 4-6, 56%
//! of the ramp deferred), while doubling warm-ups keep their margin (the cap binds only on
//! senders that saturate their allowance). The cap counts from where `E` stood when the day
//! began, so a sender active in office hours only can grow as fast as one active all day.
//!
//! **Deferred attempts never count**: only accepted recipients enter the hour's volume, `E`
//! and the recurring peaks. Hammering at 20,000/h earns exactly what sending at 5,000/h
//! earns (tested): the allowance, no more. Deferrals only feed the observed rate and the
//! "recently penalised" mark.
//!
//! **Surge (S5, S12)**: an established IP is judged on its own history alone: it is held to
//! 2 x `E` (or a recurring peak it has earned), without the newcomer's floor, which would let
//! a hijacked low-volume server send many times its normal volume (a server with weeks at
//! 50/h got 300/h from the floor: 6x its volume). `E` barely moves within hours, so a
//! hijacked IP with 100/h of history sending 5,000 gets ~300 through (S5, AS502) and one
//! with 50/h sending 2,000/h for six hours ~750 of 12,000 (S12). Its normal peaks still
//! pass: `E` settles near its busy hours (it rises toward them and decays slowly), so daily
//! peaks of 2-3x its average (S15) and month-end days (S16) fit in 2 x `E`, and peaks that
//! recur become recurring peaks. When the surge stops the bucket refills at the unchanged
//! allowance, so its normal traffic flows again at once (S8): there is no punitive penalty
//! box.
//!
//! **Recurring peaks (S2)**: the first Monday 09:00 is judged as probation (~400 accepted)
//! and recorded as a peak. The next Monday at 09:00 the allowance is 3x the peak's level,
//! whose level then rises to what was accepted: 400 -> ~1,250 -> ~4,000 -> the full 5,000 on
//! the fourth Monday. A daily newsletter learns the same way on consecutive days. The
//! recurrence is what earns it: a one-off spike only pays off a week later, at the same hour.
//!
//! **Prefix aggregate (S6, S7)**: the prefix record is charged with every accepted
//! recipient of its IPs and has its own allowance (floor 1,000/h). An IP that is not yet
//! established must fit both its own bucket and its prefix's, so a handful of new IPs of a
//! /24 share about 1,250 in their first hour (AS503) however they spread their traffic. An
//! established IP is judged on its own history only (its traffic is still
//! charged to the prefix, which never goes negative), so a snowshoe next door cannot defer
//! a neighbour with a history. A lone sender's prefix has at least its IP's history and a
//! higher floor, so the prefix never binds before the IP's own allowance.
//!
//! **Address rotation**: a prefix record also counts the new IPs it brings (halved every
//! hour). Beyond 16, its allowance and bucket are divided in proportion (AS505), so rotating
//! through thousands of addresses shares what one address would get, however slowly the
//! rotation goes: 200 new IPs of a /24 in one hour get ~200 through (S6: 98% deferred),
//! 5,000 addresses of a /64 ~300 (S7: 99%), and the same rotation spread over a day is
//! still over 95% deferred.
//!
//! **The trade-off**: S4 allows a new IP at most ~500 in its first hour, so no engine can
//! both pass S4 and never defer a brand-new sender at a steady 2,000/h. Here such a sender
//! earns its allowance in about three and a half days, as its allowance doubles a day from
//! the floor (then it is never deferred again); over 30 days 6.3% of its first attempts are
//! deferred (1.3% at 500/h, none up to 300/h). A sender with a history, or one that ramps up
//! by up to doubling a day, is not deferred.
//!
//! **Bypass (S10)**: IPs in `Policy::bypass` (operator allow list, connectors) are accepted
//! and not counted.
//!
//! # Memory and eviction
//!
//! Records live in `shards` (64) open-addressing tables (linear probing, load <= 7/8) behind
//! `std::sync::Mutex`es; an IP and its prefix hash to the same shard, so a decision takes
//! one lock. Each record is 64-byte aligned, one cache line, and a tag byte per slot (7 bits
//! of the key's hash) lets a lookup scan the tags and read only the matching record: one
//! record line per key, and the tags (1/64 of the table) mostly cached. A shard holds at
//! most `max_keys / shards` keys. When full, a CLOCK hand samples
//! 16 keys and evicts the least valuable: keys that are established (past probation with an
//! `E` of 20/h) or were deferred by their own allowance in the last week rank above every
//! other key, then by decayed `E`, recent use and idleness. Flooding new keys therefore
//! evicts other flood keys, not a spammer's penalised history nor a legitimate sender's.
//!
//! # Performance (`cargo bench -p throttle`, a 2-core VM shared with other builds)
//!
//! A decision reads two records (the IP's and its prefix's) and their tag lines; on a large
//! table that is two cache misses and, with 4 KiB pages, two page walks: those, not the
//! arithmetic, bound it. Counted with cachegrind (`benches/misses.rs`: 1 M IPs, a 32 MiB
//! last level, single decisions drawn uniformly): 2.1 last-level misses, 5.2 first-level
//! misses and about 730 instructions per decision, against 5.3, 9.1 and 920 for the
//! previous layout (56-byte records probed in place, which straddled two cache lines 7 times
//! in 8, copied out and back on every decision).
//!
//! Timed, the bench reports decisions per CPU second of the deciding thread beside the wall
//! clock: on a shared machine the wall clock mostly measures other processes. With 10 M IPs
//! (17.6 M keys, uniform over IPv4), per CPU second, the previous layout's figures from the
//! same bench in the same session in brackets: one thread 1.7 M/s uniform (1.3), 2.8 M/s
//! Zipf (2.5); batches of 64 (`decide_batch`, as the replay uses) 2.2 M/s uniform (1.4),
//! 3.4 M/s Zipf (2.3); 13-16 M/s while the records are cache-resident. Huge pages remove the
//! page walks: with the tables in transparent huge pages (run the gateway with
//! `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, as the system's THP mode here is `madvise`) one
//! thread does 2.2-2.6 M/s uniform and 3.4-4.1 M/s Zipf, batches 2.6 and 4.2 M/s. That is
//! short of 5 M/s on this VM, where a miss plus a nested page walk costs several hundred
//! nanoseconds. Memory: 65 bytes per slot (a 64-byte record and its tag), 85 bytes per key at
//! the 10 M-IP point (1.38 GiB for 10 M IPs and their 7.6 M prefixes with `max_keys` 20 M; a
//! shard never exceeds 8/7 of its share of `max_keys` in slots). Snapshot of those 17.6 M
//! keys: 1.05 GB, saved and restored in 2.8-3.0 s of CPU time.
//!
//! # Persistence
//!
//! [`Engine::save`] / [`Engine::restore`] write and read a compact versioned binary
//! snapshot shard by shard (each shard is copied under its lock and written after);
//! [`Engine::save_delta`] / [`Engine::apply_delta`] carry only the keys changed since the
//! previous save. The layout is documented in `src/persist.rs`.
//!
//! # Explanations and tokens
//!
//! Every deferral names its [`AsToken`] (see [`AS_TABLE`]), the key that triggered it, the
//! observed rate, the established volume, the allowance and a retry-after estimate (time
//! for the bucket to hold the deferred recipients, 60 s to 1 h). [`Engine::peek`] gives the
//! same for `sluice throttle show` without recording anything.
//!
//! # Simulation
//!
//! [`sim`] replays traffic with its own clock, from CSV traces ([`sim::csv`]), Postfix
//! maillogs ([`sim::postfix`]) or Sluice's JSON log ([`sim::sluice_log`]), deciding the
//! transactions of each second in batches; [`scenarios`] generates the acceptance scenarios
//! S1-S17 deterministically, each with its bars (`docs/throttle-scenarios.md`). Deferred
//! counts are first attempts: the replay does not retry.

mod engine;
pub mod exchange;
mod key;
mod persist;
mod policy;
mod record;
pub mod scenarios;
pub mod sim;
mod table;
mod tokens;

pub use engine::{Core, Decision, Deferral, Engine, Explanation, KeyState, Timestamp, Verdict};
pub use key::ThrottleKey;
pub use persist::{RestoreError, SnapshotKind};
pub use policy::{Cidr, CidrError, Policy, PolicyError};
pub use tokens::{AS_TABLE, AsRule, AsToken};
