//! The queue manager's decisions as a state machine, like the throttle engine: time is
//! passed in, events come in (a message spooled or recovered, a message loaded and routed,
//! an attempt finished, a notification spooled, a timer due, shutdown, an operator's list,
//! flush, retry or removal) and actions come out (load, deliver, notify, mark done, write a
//! schedule, report outcomes to outbound protection, set the timer, answer a removal). It does no I/O, never reads the clock
//! and never awaits: the async shell in `mod.rs` performs the actions and feeds back what
//! they found, and the scenario tests drive it in simulated time.
//!
//! Every live message is in exactly one place: waiting for its retry time (only its id,
//! recipients left and schedule in memory), ready (in the fresh or the retry line), loading,
//! active (loaded, routed, its recipients out for delivery in units, one unit per
//! destination), or settling (its notification being spooled).
//!
//! - Loading, active and settling messages together are bounded (`active_messages_max`);
//!   the rest stay on disk.
//! - Fresh mail and retries take turns, so a backlog of deferred mail never starves new
//!   mail, nor the reverse.
//! - Each destination (a domain's MX hosts, a fixed host list, the local Maildir) has its
//!   own concurrency limit; a destination that answers `421` or `4.7.x` is paused, and its
//!   queued units are deferred instead of sent, so Sluice slows down rather than hammers.
//! - Attempts only report outcomes per recipient. Settling decides: delivered and failed
//!   recipients are finished in the spool, but failed ones only after their bounce is
//!   durable (a bounce that cannot be spooled leaves them pending: nothing is lost);
//!   deferred ones get a persisted schedule (`schedule` decides retry, delay notice, expiry).
//! - An operator's removal takes a queued (not an active) message: with a bounce it is
//!   loaded and the removed recipients reported failed (`5.3.0`, removed by an
//!   administrator), finished only once that bounce is durable; silently they are finished
//!   at once. The rest of the message keeps its schedule.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bounce::{ProblemKind, RecipientReport, RemoteReply};
use smtp_wire::Envelope;
use smtp_wire::reply::code;
use spool::{MessageId, Schedule};

use super::reports::{Decisions, remember_replies, reports_for};
use crate::delivery::routing::{Destination, NoRoute, Route};
use crate::delivery::schedule::{AfterAttempt, after_attempt};
use crate::delivery::{Failure, Outcome};
use crate::settings::DeliveryConfig;

/// Maildir copies handed to one delivery at once: they share the file system syncs.
const MAILDIR_UNITS_PER_TASK_MAX: usize = 64;
/// Messages one remote delivery sends over one connection (connection reuse): enough to
/// save the handshakes of a backlog, few enough that one slow server does not hold many.
const MESSAGES_PER_CONNECTION_MAX: usize = 20;

/// A message the queue manager is responsible for.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    id: MessageId,
    received_at_unix_ms: u64,
    schedule: Schedule,
    /// Recipient indices not yet finished.
    pending: Vec<u32>,
    /// Held while ready or loading when the message was just spooled; dropped while
    /// waiting (the shell reads it back from the spool).
    envelope: Option<Arc<Envelope>>,
    /// Recovered from the spool at start: an earlier run may have delivered part of it.
    recovered: bool,
    /// What the attempts so far left to tell (none before the first deferral).
    last: Option<Box<LastAttempt>>,
    /// Set while an operator's removal with a bounce loads the message: these recipients
    /// are bounced as removed instead of routed.
    removing: Option<Box<Removing>>,
}

/// An operator's removal with a bounce, while its message loads (boxed: rare, and a job
/// travels by value through every event).
#[derive(Debug, Clone)]
struct Removing {
    recipients: Vec<u32>,
}

/// What a message's earlier attempts found, kept in memory only (a restart forgets it).
#[derive(Debug, Clone, Default)]
struct LastAttempt {
    /// The last real remote reply of each pending recipient, for its bounce or delay notice
    /// when a later attempt gets none (a paused destination, a refused connection). Bounded
    /// by the pending recipients and `bounce::REPLY_TEXT_BYTES_MAX` each.
    replies: Vec<(u32, RemoteReply)>,
    /// Why the last attempt left recipients pending, for `sluice queue list`.
    error: Option<String>,
}

impl Job {
    /// A message just spooled: every recipient pending, due now.
    pub(crate) fn spooled(id: MessageId, envelope: Envelope, received_at_unix_ms: u64) -> Job {
        Job {
            id,
            received_at_unix_ms,
            schedule: Schedule::default(),
            pending: (0..envelope.recipients.len() as u32).collect(),
            envelope: Some(Arc::new(envelope)),
            recovered: false,
            last: None,
            removing: None,
        }
    }

    pub(crate) fn id(&self) -> MessageId {
        self.id
    }

    /// The envelope, when the job still holds it.
    pub(crate) fn take_envelope(&mut self) -> Option<Arc<Envelope>> {
        self.envelope.take()
    }

    pub(crate) fn pending(&self) -> &[u32] {
        &self.pending
    }

    /// Loaded for an operator's removal: nothing to route.
    pub(crate) fn is_removal(&self) -> bool {
        self.removing.is_some()
    }
}

/// A live message found in the spool at start.
#[derive(Debug, Clone)]
pub(crate) struct Recovered {
    pub(crate) id: MessageId,
    pub(crate) received_at_unix_ms: u64,
    pub(crate) recipients: u32,
    /// Recipient indices already finished.
    pub(crate) done: Vec<u32>,
    pub(crate) schedule: Schedule,
}

/// Some recipients of one message for one destination.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    pub(crate) id: MessageId,
    pub(crate) recipients: Vec<u32>,
    /// For Maildir, the folder of each recipient.
    pub(crate) mailboxes: Vec<PathBuf>,
}

/// A unit with what its delivery needs of its message. Not the content: the delivery reads
/// that from the spool, so active messages hold no message data in memory.
#[derive(Debug, Clone)]
pub(crate) struct Work {
    pub(crate) unit: Unit,
    pub(crate) envelope: Arc<Envelope>,
    pub(crate) received_at_unix_ms: u64,
    /// Look for copies an earlier run or attempt left (Maildir delivers exactly once).
    pub(crate) check_existing: bool,
}

/// A message loaded from the spool with the route of each pending recipient.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) job: Job,
    pub(crate) envelope: Arc<Envelope>,
    pub(crate) routes: Vec<(u32, Result<Route, NoRoute>)>,
}

/// What happened outside.
#[derive(Debug)]
pub(crate) enum Event {
    /// The enqueue step spooled a new message.
    Spooled(Job),
    /// A [`Action::Load`] finished; on error the job and the reason.
    Loaded(Result<Loaded, (Job, String)>),
    /// An [`Action::Deliver`] finished: an outcome per recipient, per message.
    AttemptFinished { destination: Destination, results: Vec<(MessageId, Vec<(u32, Outcome)>)> },
    /// An [`Action::Notify`] finished: whether the notification is durable (also `true`
    /// when none was due).
    Notified { id: MessageId, spooled: bool },
    /// The time of the last [`Action::SetTimer`] came.
    TimerDue,
    /// Start nothing new; what is in flight still reports and settles.
    Shutdown,
}

/// What the shell must do.
#[derive(Debug)]
pub(crate) enum Action {
    /// Read the message's envelope (unless the job holds it) and route its pending
    /// recipients; answer [`Event::Loaded`].
    Load(Job),
    /// One delivery attempt of these units to `destination`; answer
    /// [`Event::AttemptFinished`].
    Deliver { destination: Destination, work: Vec<Work> },
    /// Write and spool the notification about `reports`; answer [`Event::Notified`].
    Notify {
        id: MessageId,
        envelope: Arc<Envelope>,
        received_at_unix_ms: u64,
        now_unix_ms: u64,
        reports: Vec<RecipientReport>,
    },
    /// Record these recipients finished in the spool.
    MarkDone { id: MessageId, recipients: Vec<u32> },
    /// Record the message's retry schedule in the spool.
    WriteSchedule { id: MessageId, schedule: Schedule },
    /// Delivery outcomes of a tenant's outbound mail, for outbound protection's bounce rate.
    OutboundOutcomes { tenant: String, delivered: u32, failed: u32 },
    /// Send [`Event::TimerDue`] at this time (unix ms); `None`: no timer.
    SetTimer(Option<u64>),
    /// An operator's removal is decided (and its bounce durable, when one was asked for):
    /// record these recipients finished in the spool, then answer the operator.
    Removed { id: MessageId, recipients: Vec<u32>, bounced: bool },
    /// An operator's removal could not be carried out; the message stays queued as it was.
    RemovalFailed { id: MessageId, reason: String },
    /// Steps of recipients for the message trace and the delivery metrics: routed, and each
    /// attempt's outcome (delivered, deferred with the next attempt, bounced, expired).
    Trace { direction: trace::Direction, events: Vec<trace::RecipientEvent> },
}

/// Why an operator's removal was refused at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoveRefused {
    /// Not in the queue: delivered, bounced, removed, or never queued.
    Unknown,
    /// Being loaded, delivered or settled right now; asking again in a moment works.
    Busy,
    /// A recipient index that is not pending (finished already, or out of range).
    NotPending(u32),
}

/// Where a message stands, for `sluice queue list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    pub id: MessageId,
    /// `waiting` (for its next attempt), `ready`, `active` (being delivered) or `settling`
    /// (its notification being written).
    pub state: &'static str,
    pub received_at_unix_ms: u64,
    pub attempts: u32,
    /// When a waiting message is tried next.
    pub next_attempt_unix_ms: Option<u64>,
    /// Recipients not yet delivered or bounced.
    pub pending: usize,
    /// Why the last attempt did not finish it (one recipient's reason).
    pub last_error: Option<String>,
}

/// A message loaded and routed, its recipients out for delivery.
#[derive(Debug)]
struct Active {
    job: Job,
    envelope: Arc<Envelope>,
    outcomes: Vec<(u32, Outcome)>,
    units_left: usize,
    /// The earliest retry the destinations allow (a paused destination).
    not_before_ms: u64,
}

#[derive(Debug, Default)]
struct DestinationState {
    queued: VecDeque<Unit>,
    running: usize,
    paused_until_ms: u64,
    /// The reply that paused the destination: what the recipients held back are told, as
    /// Postfix's "delivery temporarily suspended" quotes it.
    pause_reply: Option<RemoteReply>,
}

/// A message whose notification is being spooled.
#[derive(Debug)]
struct Settling {
    job: Job,
    /// An operator's removal: `finished` are the removed recipients.
    removal: bool,
    finished: Vec<u32>,
    delivered: Vec<u32>,
    retry: Option<Schedule>,
    previous: Schedule,
}

/// The queue manager's state.
#[derive(Debug)]
pub(crate) struct QueueCore {
    config: DeliveryConfig,
    fresh: VecDeque<Job>,
    retries: VecDeque<Job>,
    fresh_next: bool,
    waiting: BTreeMap<(u64, MessageId), Job>,
    loading: usize,
    active: HashMap<MessageId, Active>,
    settling: HashMap<MessageId, Settling>,
    destinations: HashMap<Destination, DestinationState>,
    /// Deliveries and notifications in flight: what `concurrency` bounds.
    in_flight: usize,
    stopping: bool,
    timer: Option<u64>,
    actions: VecDeque<Action>,
}

impl QueueCore {
    /// The queue after a start that recovered `recovered` from the spool. Envelopes are
    /// read back when a message's turn comes: a large queue recovered at start holds only
    /// ids, recipients left and schedules in memory.
    pub(crate) fn new(config: DeliveryConfig, recovered: Vec<Recovered>, now: u64) -> QueueCore {
        let mut core = QueueCore {
            config,
            fresh: VecDeque::new(),
            retries: VecDeque::new(),
            fresh_next: true,
            waiting: BTreeMap::new(),
            loading: 0,
            active: HashMap::new(),
            settling: HashMap::new(),
            destinations: HashMap::new(),
            in_flight: 0,
            stopping: false,
            timer: None,
            actions: VecDeque::new(),
        };
        for message in recovered {
            let pending: Vec<u32> = (0..message.recipients).filter(|i| !message.done.contains(i)).collect();
            if pending.is_empty() {
                continue;
            }
            let job = Job {
                id: message.id,
                received_at_unix_ms: message.received_at_unix_ms,
                schedule: message.schedule,
                pending,
                envelope: None,
                recovered: true,
                last: None,
                removing: None,
            };
            if message.schedule.next_attempt_unix_ms > now {
                core.waiting.insert((message.schedule.next_attempt_unix_ms, job.id), job);
            } else {
                core.retries.push_back(job);
            }
        }
        core.after_event(now);
        core
    }

    /// Takes in what happened at `now` (unix ms); the resulting actions wait in
    /// [`QueueCore::next_action`].
    pub(crate) fn handle(&mut self, now: u64, event: Event) {
        match event {
            Event::Spooled(job) => self.fresh.push_back(job),
            Event::Loaded(loaded) => {
                self.loading -= 1;
                match loaded {
                    Ok(loaded) if loaded.job.is_removal() => self.bounce_removed(now, loaded),
                    Ok(loaded) => self.activate(now, loaded),
                    Err((mut job, reason)) if job.is_removal() => {
                        job.removing = None;
                        tracing::error!(msg_id = %job.id, %reason, "cannot read the message from the spool to bounce it");
                        let reason = format!("cannot read the message from the spool: {reason}");
                        self.actions.push_back(Action::RemovalFailed { id: job.id, reason });
                        self.wait(job);
                    }
                    Err((job, reason)) => {
                        tracing::error!(msg_id = %job.id, %reason, "cannot read the message from the spool; will retry");
                        self.retry_later(now, job);
                    }
                }
            }
            Event::AttemptFinished { destination, results } => {
                self.in_flight -= 1;
                self.attempt_finished(now, destination, results);
            }
            Event::Notified { id, spooled } => {
                self.in_flight -= 1;
                match self.settling.remove(&id) {
                    Some(settling) if settling.removal => self.finish_removal(settling, spooled),
                    Some(settling) => self.finish(now, settling, spooled),
                    None => {}
                }
            }
            Event::TimerDue => self.wake_due(now),
            Event::Shutdown => self.stopping = true,
        }
        self.after_event(now);
    }

    /// The next thing to do, oldest first.
    pub(crate) fn next_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Makes every waiting message due now (as `postqueue -f`); how many there were.
    pub(crate) fn flush(&mut self, now: u64) -> usize {
        let count = self.waiting.len();
        let due = std::mem::take(&mut self.waiting);
        self.retries.extend(due.into_values());
        tracing::info!(messages = count, "queue flushed by the operator");
        self.after_event(now);
        count
    }

    /// Makes one waiting message due now; whether it was waiting (not an unknown id, nor one
    /// already being tried).
    pub(crate) fn retry(&mut self, now: u64, id: MessageId) -> bool {
        let key = self.waiting.keys().find(|(_, waiting)| *waiting == id).copied();
        let Some(job) = key.and_then(|key| self.waiting.remove(&key)) else { return false };
        tracing::info!(msg_id = %id, "message made due now by the operator");
        self.retries.push_back(job);
        self.after_event(now);
        true
    }

    /// An operator removes `recipients` (every pending one when `None`) of a queued message
    /// (waiting or ready, not one being tried). Without a bounce they are recorded finished
    /// at once ([`Action::Removed`]); with one, the message is loaded and the bounce spooled
    /// first, and they are recorded finished only once it is durable, as for any failure.
    /// The answer comes as [`Action::Removed`] or [`Action::RemovalFailed`].
    pub(crate) fn remove(
        &mut self,
        now: u64,
        id: MessageId,
        recipients: Option<Vec<u32>>,
        bounce: bool,
    ) -> Result<(), RemoveRefused> {
        let busy = self.active.contains_key(&id) || self.settling.contains_key(&id);
        let chosen = |job: &Job| -> Result<Vec<u32>, RemoveRefused> {
            let mut chosen = recipients.clone().unwrap_or_else(|| job.pending.clone());
            chosen.sort_unstable();
            chosen.dedup();
            match chosen.iter().find(|i| !job.pending.contains(i)) {
                Some(index) => Err(RemoveRefused::NotPending(*index)),
                None => Ok(chosen),
            }
        };
        let found = self.queued(id).ok_or(if busy { RemoveRefused::Busy } else { RemoveRefused::Unknown })?;
        let chosen = chosen(found)?;
        let mut job = self.take_queued(id).ok_or(RemoveRefused::Unknown)?;
        tracing::info!(msg_id = %id, recipients = chosen.len(), bounce, "recipients removed from the queue by the operator");
        if bounce {
            job.removing = Some(Box::new(Removing { recipients: chosen }));
            self.loading += 1;
            self.actions.push_back(Action::Load(job));
        } else {
            job.pending.retain(|i| !chosen.contains(i));
            self.actions.push_back(Action::Removed { id, recipients: chosen, bounced: false });
            if !job.pending.is_empty() {
                self.wait(job);
            }
        }
        self.after_event(now);
        Ok(())
    }

    /// A message waiting or ready.
    fn queued(&self, id: MessageId) -> Option<&Job> {
        let waiting = self.waiting.iter().find(|((_, w), _)| *w == id).map(|(_, job)| job);
        waiting.or_else(|| self.fresh.iter().chain(&self.retries).find(|job| job.id == id))
    }

    /// Takes a message out of the waiting room or the ready lines.
    fn take_queued(&mut self, id: MessageId) -> Option<Job> {
        if let Some(key) = self.waiting.keys().find(|(_, waiting)| *waiting == id).copied() {
            return self.waiting.remove(&key);
        }
        for line in [&mut self.fresh, &mut self.retries] {
            if let Some(at) = line.iter().position(|job| job.id == id) {
                return line.remove(at);
            }
        }
        None
    }

    /// A message loaded for an operator's removal: its bounce, reporting the removed
    /// recipients as failed by the administrator (`5.3.0`, see `bounce_removed`'s note).
    fn bounce_removed(&mut self, now: u64, loaded: Loaded) {
        let Loaded { mut job, envelope, .. } = loaded;
        let removed = job.removing.take().map(|r| r.recipients).unwrap_or_default();
        // 5.3.0 "other mail system status": the mail system itself (its administrator)
        // ended delivery. Not 5.7.1, which tells the sender it was refused by policy and
        // so to fix something on its side; not 5.1.x/5.2.x, nothing is wrong with the
        // recipient.
        let failure = Failure::local(
            code(5, 3, 0),
            ProblemKind::RemovedByAdministrator,
            "removed from the queue by an administrator of this mail system",
        );
        let reports = removed
            .iter()
            .map(|i| {
                RecipientReport::failed(*i as usize, failure.status, failure.diagnosis.clone(), now / 1000)
            })
            .collect();
        job.pending.retain(|i| !removed.contains(i));
        let previous = job.schedule;
        let settling =
            Settling { job, removal: true, finished: removed, delivered: Vec::new(), retry: None, previous };
        self.notify(now, settling, envelope, reports);
    }

    /// Holds the message as settling while its notification is written and spooled.
    fn notify(
        &mut self,
        now: u64,
        settling: Settling,
        envelope: Arc<Envelope>,
        reports: Vec<RecipientReport>,
    ) {
        let (id, received_at_unix_ms) = (settling.job.id, settling.job.received_at_unix_ms);
        self.settling.insert(id, settling);
        self.in_flight += 1;
        self.actions.push_back(Action::Notify {
            id,
            envelope,
            received_at_unix_ms,
            now_unix_ms: now,
            reports,
        });
    }

    /// The bounce of an operator's removal is durable (the recipients are finished) or not
    /// (they stay pending); the rest of the message keeps its schedule.
    fn finish_removal(&mut self, settling: Settling, spooled: bool) {
        let Settling { mut job, finished, .. } = settling;
        let id = job.id;
        if spooled {
            self.actions.push_back(Action::Removed { id, recipients: finished, bounced: true });
        } else {
            job.pending.extend(&finished);
            job.pending.sort_unstable();
            let reason = "the bounce could not be spooled; nothing was removed".to_string();
            self.actions.push_back(Action::RemovalFailed { id, reason });
        }
        if !job.pending.is_empty() {
            self.wait(job);
        }
    }

    /// Back to wait for its scheduled attempt (due at once when it was ready), its schedule
    /// unchanged: an operator's removal is no attempt.
    fn wait(&mut self, mut job: Job) {
        job.envelope = None;
        self.waiting.insert((job.schedule.next_attempt_unix_ms, job.id), job);
    }

    /// Every message in every state but the few being loaded, oldest first.
    pub(crate) fn entries(&self) -> Vec<QueueEntry> {
        let entry = |job: &Job, state: &'static str, next: Option<u64>| QueueEntry {
            id: job.id,
            state,
            received_at_unix_ms: job.received_at_unix_ms,
            attempts: job.schedule.attempts,
            next_attempt_unix_ms: next,
            pending: job.pending.len(),
            last_error: job.last.as_ref().and_then(|l| l.error.clone()),
        };
        let mut entries: Vec<QueueEntry> = self
            .waiting
            .iter()
            .map(|((at, _), job)| entry(job, "waiting", Some(*at)))
            .chain(self.fresh.iter().chain(&self.retries).map(|job| entry(job, "ready", None)))
            .chain(self.active.values().map(|a| entry(&a.job, "active", None)))
            .chain(self.settling.values().map(|s| entry(&s.job, "settling", None)))
            .collect();
        entries.sort_by_key(|e| (e.received_at_unix_ms, e.id));
        entries
    }

    /// Messages loading, active or settling: what `active_messages_max` bounds.
    pub(crate) fn loaded(&self) -> usize {
        self.loading + self.active.len() + self.settling.len()
    }

    fn after_event(&mut self, now: u64) {
        if !self.stopping {
            self.dispatch(now);
        }
        let wake = self.waiting.keys().next().map(|(at, _)| *at);
        if wake != self.timer {
            self.timer = wake;
            self.actions.push_back(Action::SetTimer(wake));
        }
    }

    fn wake_due(&mut self, now: u64) {
        while let Some(entry) = self.waiting.first_entry() {
            if entry.key().0 > now {
                break;
            }
            self.retries.push_back(entry.remove());
        }
    }

    fn dispatch(&mut self, now: u64) {
        self.start_loading();
        let mut paused_units = Vec::new();
        for (destination, state) in &mut self.destinations {
            if state.paused_until_ms > now {
                let (until, reply) = (state.paused_until_ms, &state.pause_reply);
                paused_units
                    .extend(state.queued.drain(..).map(|u| (destination.clone(), u, until, reply.clone())));
                continue;
            }
            while !state.queued.is_empty()
                && state.running < self.config.destination_concurrency
                && self.in_flight < self.config.concurrency
            {
                let take = match destination {
                    Destination::Maildir => state.queued.len().min(MAILDIR_UNITS_PER_TASK_MAX),
                    _ => state.queued.len().min(MESSAGES_PER_CONNECTION_MAX),
                };
                let units: Vec<Unit> = state.queued.drain(..take).collect();
                state.running += 1;
                self.in_flight += 1;
                let work = units.into_iter().filter_map(|unit| work(&self.active, unit)).collect();
                self.actions.push_back(Action::Deliver { destination: destination.clone(), work });
            }
        }
        for (destination, unit, until, reply) in paused_units {
            self.defer_paused(now, &destination, unit, until, reply);
        }
        self.destinations.retain(|_, s| !s.queued.is_empty() || s.running > 0 || s.paused_until_ms > now);
    }

    /// A unit for a destination that asked Sluice to slow down: deferred unsent, its
    /// message retried no earlier than the pause ends. `reply` is what paused it.
    fn defer_paused(
        &mut self,
        now: u64,
        destination: &Destination,
        unit: Unit,
        until: u64,
        reply: Option<RemoteReply>,
    ) {
        let pause = self.config.destination_pause;
        let wait = Duration::from_millis(until.saturating_sub(now)).max(pause.min(Duration::from_secs(1)));
        // A scheduling fact, not a diagnosis: the recipient's report keeps its last real
        // reply and tells the pause beside it.
        let failure = Failure::local(
            code(4, 7, 0),
            ProblemKind::DestinationPaused { until_unix_s: until / 1000 },
            format!(
                "{} asked Sluice to slow down; waiting {}s before the next attempt",
                destination.name(),
                wait.as_secs()
            ),
        );
        let outcomes = unit.recipients.iter().map(|i| (*i, Outcome::Deferred(failure.clone()))).collect();
        if let Some(active) = self.active.get_mut(&unit.id) {
            active.not_before_ms = active.not_before_ms.max(until);
            // A recipient never tried has no reply of its own: the destination's is the
            // real one that holds it back.
            if let Some(reply) = reply {
                let last = active.job.last.get_or_insert_with(Box::default);
                for index in &unit.recipients {
                    if !last.replies.iter().any(|(i, _)| i == index) {
                        last.replies.push((*index, reply.clone()));
                    }
                }
            }
        }
        self.unit_done(now, unit.id, outcomes);
    }

    /// Loads ready messages while the active window has room, taking fresh mail and
    /// retries in turn.
    fn start_loading(&mut self) {
        // Settling messages count too: their notifications read the whole original.
        while self.loaded() < self.config.active_messages_max {
            let take_fresh = (self.fresh_next && !self.fresh.is_empty()) || self.retries.is_empty();
            let job = if take_fresh { self.fresh.pop_front() } else { self.retries.pop_front() };
            let Some(job) = job else { break };
            self.fresh_next = !take_fresh;
            self.loading += 1;
            self.actions.push_back(Action::Load(job));
        }
    }

    fn attempt_finished(
        &mut self,
        now: u64,
        destination: Destination,
        results: Vec<(MessageId, Vec<(u32, Outcome)>)>,
    ) {
        let throttled = results
            .iter()
            .flat_map(|(_, outcomes)| outcomes)
            .any(|(_, o)| matches!(o, Outcome::Deferred(f) if f.throttled));
        let pause_until = now.saturating_add(millis(self.config.destination_pause));
        if let Some(state) = self.destinations.get_mut(&destination) {
            state.running = state.running.saturating_sub(1);
            if throttled {
                state.paused_until_ms = pause_until;
                state.pause_reply =
                    results.iter().flat_map(|(_, outcomes)| outcomes).find_map(|(_, o)| match o {
                        Outcome::Deferred(f) if f.throttled => f.diagnosis.reply().cloned(),
                        _ => None,
                    });
                tracing::warn!(%destination, pause_s = self.config.destination_pause.as_secs(), "destination asked to slow down; pausing deliveries to it");
            }
        }
        for (id, outcomes) in results {
            if throttled && let Some(active) = self.active.get_mut(&id) {
                active.not_before_ms = active.not_before_ms.max(pause_until);
            }
            self.unit_done(now, id, outcomes);
        }
    }

    /// A loaded message: its routed recipients grouped into one unit per destination (a
    /// Maildir unit per copy, so batches can mix messages); the unroutable settle at once.
    fn activate(&mut self, now: u64, loaded: Loaded) {
        let Loaded { job, envelope, routes } = loaded;
        let id = job.id;
        let routed = routes
            .iter()
            .filter_map(|(index, route)| {
                let to = route.as_ref().ok()?.destination.to_string();
                Some((*index, trace::Outcome::Routed { to }))
            })
            .collect();
        self.trace(now, id, &envelope, routed);
        let (units, unroutable) = units_of(id, routes);
        let active =
            Active { job, envelope, outcomes: Vec::new(), units_left: units.len() + 1, not_before_ms: 0 };
        self.active.insert(id, active);
        for (destination, unit) in units {
            self.destinations.entry(destination).or_default().queued.push_back(unit);
        }
        // Counted as one unit so a message with no routable recipient settles here.
        self.unit_done(now, id, unroutable);
    }

    fn unit_done(&mut self, now: u64, id: MessageId, outcomes: Vec<(u32, Outcome)>) {
        let Some(active) = self.active.get_mut(&id) else { return };
        active.outcomes.extend(outcomes);
        active.units_left -= 1;
        if active.units_left == 0
            && let Some(active) = self.active.remove(&id)
        {
            self.settle(now, active);
        }
    }

    /// Decides what the attempt's outcomes mean for the message.
    fn settle(&mut self, now: u64, active: Active) {
        let Active { mut job, envelope, outcomes, not_before_ms, .. } = active;
        let previous = job.schedule;
        let (mut delivered, mut failed, mut deferred) = (Vec::new(), Vec::new(), Vec::new());
        for (index, outcome) in &outcomes {
            log_outcome(job.id, &envelope, *index, outcome);
            match outcome {
                Outcome::Delivered { .. } => delivered.push(*index),
                Outcome::Failed(_) => failed.push(*index),
                Outcome::Deferred(_) => deferred.push(*index),
            }
        }
        let mut retry = None;
        let mut delayed_until_s = None;
        let mut expired = false;
        let mut expired_now = Vec::new();
        if !deferred.is_empty() {
            let timing = &self.config.retry;
            match after_attempt(timing, previous, job.received_at_unix_ms, now, not_before_ms) {
                AfterAttempt::Expire => {
                    tracing::warn!(msg_id = %job.id, "message expired; bouncing the recipients left");
                    expired_now.clone_from(&deferred);
                    failed.append(&mut deferred);
                    expired = true;
                }
                AfterAttempt::Retry { schedule, notify_delay } => {
                    retry = Some(schedule);
                    delayed_until_s =
                        notify_delay.then(|| timing.expires_at_ms(job.received_at_unix_ms) / 1000);
                }
            }
        }
        let success_requested: Vec<u32> = (0..envelope.recipients.len() as u32)
            .filter(|i| {
                let notify = envelope.recipients.get(*i as usize).and_then(|r| r.notify);
                matches!(notify, Some(smtp_wire::Notify::On { success: true, .. }))
            })
            .collect();
        let decided = Decisions {
            success_requested: &success_requested,
            failed: &failed,
            expired,
            delayed_until_s,
            last_replies: job.last.as_ref().map_or(&[], |l| &l.replies),
            now_s: now / 1000,
        };
        let reports = reports_for(&outcomes, &decided);
        let next_attempt = retry.map(|s: Schedule| s.next_attempt_unix_ms);
        let steps = outcomes
            .iter()
            .map(|(index, outcome)| {
                (*index, trace_outcome(outcome, next_attempt, expired_now.contains(index)))
            })
            .collect();
        self.trace(now, job.id, &envelope, steps);
        if let Some(a) = envelope.client.attribution.as_ref().filter(|a| a.outbound_relay) {
            let (delivered, failed) = (delivered.len() as u32, failed.len() as u32);
            self.actions.push_back(Action::OutboundOutcomes { tenant: a.tenant.clone(), delivered, failed });
        }
        let mut finished = delivered.clone();
        finished.extend(&failed);
        job.pending.retain(|i| !finished.contains(i));
        remember(&mut job, &outcomes);
        let settling = Settling { job, removal: false, finished, delivered, retry, previous };
        if reports.is_empty() {
            self.finish(now, settling, true);
            return;
        }
        self.notify(now, settling, envelope, reports);
    }

    /// Tells the trace and the metrics what happened to some recipients of a message.
    fn trace(&mut self, now: u64, id: MessageId, envelope: &Envelope, steps: Vec<(u32, trace::Outcome)>) {
        if steps.is_empty() {
            return;
        }
        let message = id.to_string();
        let events = steps
            .into_iter()
            .map(|(index, outcome)| trace::RecipientEvent {
                message: message.clone(),
                at_unix_ms: now,
                recipient: envelope
                    .recipients
                    .get(index as usize)
                    .map(|r| r.address.to_string())
                    .unwrap_or_default(),
                outcome,
            })
            .collect();
        self.actions.push_back(Action::Trace { direction: crate::record::direction(envelope), events });
    }

    /// Live messages per state, in `metrics::QUEUE_STATES` order.
    pub(crate) fn state_counts(&self) -> [usize; 5] {
        [
            self.waiting.len(),
            self.fresh.len() + self.retries.len(),
            self.loading,
            self.active.len(),
            self.settling.len(),
        ]
    }

    /// Records the settled recipients and puts the message back to wait if any are left.
    fn finish(&mut self, now: u64, settling: Settling, notified: bool) {
        let Settling { mut job, finished, delivered, retry, previous, .. } = settling;
        let done = if notified {
            finished
        } else {
            // The failed recipients wait for the next attempt to bounce them again.
            job.pending.extend(finished.iter().filter(|i| !delivered.contains(i)));
            delivered
        };
        if !done.is_empty() {
            self.actions.push_back(Action::MarkDone { id: job.id, recipients: done });
        }
        if job.pending.is_empty() {
            return;
        }
        job.schedule = match retry {
            Some(s) if notified => s,
            Some(s) => Schedule { delay_notified: previous.delay_notified, ..s },
            // Only a notification that could not be spooled leaves recipients with no retry
            // decision: back off as for any failed attempt.
            None => backed_off(&self.config, previous, now),
        };
        self.park(job);
    }

    fn retry_later(&mut self, now: u64, mut job: Job) {
        job.schedule = backed_off(&self.config, job.schedule, now);
        self.park(job);
    }

    /// Persists the schedule and leaves only the id, recipients and schedule in memory.
    fn park(&mut self, mut job: Job) {
        self.actions.push_back(Action::WriteSchedule { id: job.id, schedule: job.schedule });
        job.envelope = None;
        self.waiting.insert((job.schedule.next_attempt_unix_ms, job.id), job);
    }
}

/// What the trace says of an attempt's outcome for one recipient: a deferral names the next
/// attempt; one that ran out of time is an expiry.
fn trace_outcome(outcome: &Outcome, next_attempt: Option<u64>, expired: bool) -> trace::Outcome {
    let text = |f: &Failure| match &f.diagnosis {
        bounce::Diagnosis::Reply(reply) => reply.to_string(),
        bounce::Diagnosis::Local(problem) => format!("{} {}", f.status, problem.detail),
    };
    match outcome {
        Outcome::Delivered { remote, reply } => trace::Outcome::Delivered {
            host: remote.clone().unwrap_or_else(|| "local mailbox".into()),
            reply: reply.clone().unwrap_or_default(),
        },
        Outcome::Deferred(f) if expired => trace::Outcome::Expired { reply: text(f) },
        Outcome::Deferred(f) => {
            trace::Outcome::Deferred { reply: text(f), next_attempt_unix_ms: next_attempt }
        }
        Outcome::Failed(f) => trace::Outcome::Bounced { reply: text(f) },
    }
}

/// Keeps what this attempt's outcomes tell about the recipients still pending: their newest
/// real remote reply, and one reason for `sluice queue list`.
fn remember(job: &mut Job, outcomes: &[(u32, Outcome)]) {
    let mut last = job.last.take().unwrap_or_default();
    remember_replies(&mut last.replies, outcomes, &job.pending);
    last.error = outcomes.iter().find_map(|(index, outcome)| match outcome {
        Outcome::Deferred(f) if job.pending.contains(index) => Some(f.diagnosis.to_string()),
        _ => None,
    });
    job.last = (!last.replies.is_empty() || last.error.is_some()).then_some(last);
}

/// The schedule after one more failed attempt, by the retry timing's backoff.
fn backed_off(config: &DeliveryConfig, previous: Schedule, now: u64) -> Schedule {
    let attempts = previous.attempts.saturating_add(1);
    Schedule {
        attempts,
        next_attempt_unix_ms: now.saturating_add(millis(config.retry.backoff(attempts))),
        delay_notified: previous.delay_notified,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What a delivery of `unit` needs of its active message.
fn work(active: &HashMap<MessageId, Active>, unit: Unit) -> Option<Work> {
    let a = active.get(&unit.id)?;
    Some(Work {
        unit,
        envelope: Arc::clone(&a.envelope),
        received_at_unix_ms: a.job.received_at_unix_ms,
        check_existing: a.job.recovered || a.job.schedule.attempts > 0,
    })
}

type Units = Vec<(Destination, Unit)>;

/// Groups routed recipients into one unit per destination, a Maildir unit per copy (so
/// Maildir batches can mix messages); recipients with no route get their outcome.
fn units_of(id: MessageId, routes: Vec<(u32, Result<Route, NoRoute>)>) -> (Units, Vec<(u32, Outcome)>) {
    let mut units: Units = Vec::new();
    let mut unroutable = Vec::new();
    for (index, route) in routes {
        match route {
            Ok(Route { destination: Destination::Maildir, mailbox }) => {
                let mailboxes = mailbox.into_iter().collect();
                units.push((Destination::Maildir, Unit { id, recipients: vec![index], mailboxes }));
            }
            Ok(route) => match units.iter_mut().find(|(d, _)| *d == route.destination) {
                Some((_, unit)) => unit.recipients.push(index),
                None => {
                    let unit = Unit { id, recipients: vec![index], mailboxes: Vec::new() };
                    units.push((route.destination, unit));
                }
            },
            Err(no_route) => {
                let failure = Failure::local(no_route.status, no_route.kind, &no_route.reason);
                let outcome = if no_route.is_permanent() {
                    Outcome::Failed(failure)
                } else {
                    Outcome::Deferred(failure)
                };
                unroutable.push((index, outcome));
            }
        }
    }
    (units, unroutable)
}

fn log_outcome(id: MessageId, envelope: &Envelope, index: u32, outcome: &Outcome) {
    let recipient =
        envelope.recipients.get(index as usize).map(|r| r.address.to_string()).unwrap_or_default();
    match outcome {
        Outcome::Delivered { remote, .. } => {
            tracing::info!(msg_id = %id, %recipient, remote = remote.as_deref().unwrap_or("local"), "delivered")
        }
        Outcome::Deferred(f) => {
            tracing::info!(msg_id = %id, %recipient, status = %f.status, reason = %f.diagnosis, "delivery deferred")
        }
        Outcome::Failed(f) => {
            tracing::warn!(msg_id = %id, %recipient, status = %f.status, reason = %f.diagnosis, "delivery failed")
        }
    }
}
