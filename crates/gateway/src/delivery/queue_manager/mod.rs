//! The queue manager: the one owner of delivery decisions (Postfix's qmgr). Every live
//! message is in exactly one place: waiting for its retry time (only its id, recipients
//! left and schedule in memory), ready (in the fresh or the retry line), active (loaded,
//! routed, its recipients out for delivery in units, one unit per destination), or
//! settling (its notification being spooled).
//!
//! - Active messages are bounded (`active_messages_max`); the rest stay on disk.
//! - Fresh mail and retries take turns, so a backlog of deferred mail never starves new
//!   mail, nor the reverse.
//! - Each destination (a domain's MX hosts, a fixed host list, the local Maildir) has its
//!   own concurrency limit; a destination that answers `421` or `4.7.x` is paused, and its
//!   queued units are deferred instead of sent, so Sluice slows down rather than hammers.
//! - Delivery tasks only report outcomes per recipient. Settling decides: delivered and
//!   failed recipients are finished in the spool, but failed ones only after their bounce
//!   is durable (a bounce that cannot be spooled leaves them pending: nothing is lost);
//!   deferred ones get a persisted schedule (`schedule` decides retry, delay notice, expiry).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bounce::{ProblemKind, RemoteReply};
use smtp_wire::Envelope;
use smtp_wire::reply::code;
use spool::{MessageId, Schedule, Spool, SpooledMessage};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

mod reports;
mod tasks;

use reports::{Decisions, remember_replies, reports_for};
use tasks::{log_outcome, notify, prepare, spawn_delivery};

use crate::delivery::maildir::MaildirDelivery;
use crate::delivery::notify::Notifier;
use crate::delivery::remote::RemoteContext;
use crate::delivery::routing::{Destination, Router};
use crate::delivery::schedule::{AfterAttempt, after_attempt};
use crate::delivery::{Failure, Outcome};
use crate::settings::DeliveryConfig;

/// Maildir copies handed to one delivery task at once: they share the file system syncs.
const MAILDIR_UNITS_PER_TASK_MAX: usize = 64;
/// How long shutdown waits for delivery attempts in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Messages one remote delivery task sends over one connection (connection reuse): enough
/// to save the handshakes of a backlog, few enough that one slow server does not hold many.
const MESSAGES_PER_CONNECTION_MAX: usize = 20;

/// A message the queue manager is responsible for.
#[derive(Debug, Clone)]
struct Job {
    id: MessageId,
    received_at_unix_ms: u64,
    schedule: Schedule,
    /// Recipient indices not yet finished.
    pending: Vec<u32>,
    /// Loaded while ready or active; dropped while waiting (read back from the spool).
    envelope: Option<Arc<Envelope>>,
    /// Recovered from the spool at start: an earlier run may have delivered part of it.
    recovered: bool,
    /// What the attempts so far left to tell (none before the first deferral).
    last: Option<Box<LastAttempt>>,
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

/// Submits newly spooled messages to the queue manager, and asks it about its queue.
#[derive(Clone, Debug)]
pub struct QueueHandle {
    tx: mpsc::UnboundedSender<Job>,
    queries: mpsc::Sender<Query>,
}

/// An operator's question (through the control socket).
#[derive(Debug)]
enum Query {
    List(oneshot::Sender<Vec<QueueEntry>>),
    Flush(oneshot::Sender<usize>),
    /// Makes one waiting message due now; whether it was waiting.
    Retry(MessageId, oneshot::Sender<bool>),
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

/// Operator queries waiting at once; more wait for a slot (the CLI is one person).
const QUERIES_MAX: usize = 8;

impl QueueHandle {
    pub(crate) fn submit(&self, id: MessageId, envelope: Envelope, received_at_unix_ms: u64) {
        let job = Job {
            id,
            received_at_unix_ms,
            schedule: Schedule::default(),
            pending: (0..envelope.recipients.len() as u32).collect(),
            envelope: Some(Arc::new(envelope)),
            recovered: false,
            last: None,
        };
        // The receiver lives as long as the gateway; after shutdown the message stays in
        // the spool and is recovered at the next start.
        let _ = self.tx.send(job);
    }

    /// Every live message the queue manager holds, oldest first; `None` when it stopped.
    pub async fn list(&self) -> Option<Vec<QueueEntry>> {
        let (reply, answer) = oneshot::channel();
        self.queries.send(Query::List(reply)).await.ok()?;
        answer.await.ok()
    }

    /// Makes one waiting message due now; `Some(false)` when it is not waiting (unknown,
    /// or already being tried); `None` when the queue manager stopped.
    pub async fn retry(&self, id: MessageId) -> Option<bool> {
        let (reply, answer) = oneshot::channel();
        self.queries.send(Query::Retry(id, reply)).await.ok()?;
        answer.await.ok()
    }

    /// Makes every waiting message due now (as `postqueue -f`); how many there were.
    pub async fn flush(&self) -> Option<usize> {
        let (reply, answer) = oneshot::channel();
        self.queries.send(Query::Flush(reply)).await.ok()?;
        answer.await.ok()
    }
}

#[cfg(test)]
impl QueueHandle {
    /// A handle with no queue manager behind it: what is submitted stays in the spool, as
    /// after a shutdown.
    pub(crate) fn detached() -> QueueHandle {
        let (tx, _) = mpsc::unbounded_channel();
        let (queries, _) = mpsc::channel(1);
        QueueHandle { tx, queries }
    }
}

/// The receiving end of a [`QueueHandle`]: the queue manager's.
#[derive(Debug)]
pub(crate) struct Inbox {
    incoming: mpsc::UnboundedReceiver<Job>,
    queries: mpsc::Receiver<Query>,
}

/// A handle for the enqueue step and the control socket, and the queue manager's end.
pub(crate) fn channel() -> (QueueHandle, Inbox) {
    let (tx, incoming) = mpsc::unbounded_channel();
    let (query_tx, queries) = mpsc::channel(QUERIES_MAX);
    (QueueHandle { tx, queries: query_tx }, Inbox { incoming, queries })
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

/// Some recipients of one message for one destination.
#[derive(Debug)]
struct Unit {
    id: MessageId,
    recipients: Vec<u32>,
    /// For Maildir, the folder of each recipient.
    mailboxes: Vec<PathBuf>,
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

/// A loaded and routed message, from a blocking task.
struct Prepared {
    job: Job,
    envelope: Arc<Envelope>,
    units: Vec<(Destination, Unit)>,
    unroutable: Vec<(u32, Outcome)>,
}

enum TaskDone {
    Prepared(Box<Result<Prepared, (Job, String)>>),
    Delivered {
        destination: Destination,
        results: Vec<(MessageId, Vec<(u32, Outcome)>)>,
    },
    /// The notification of a settling message is durable (or none was due), or failed.
    Notified {
        id: MessageId,
        notified: bool,
    },
}

/// A message whose notification is being spooled.
struct Settling {
    job: Job,
    finished: Vec<u32>,
    delivered: Vec<u32>,
    retry: Option<Schedule>,
    previous: Schedule,
}

/// Everything delivery tasks share.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) spool: Spool,
    pub(crate) router: Router,
    pub(crate) maildir: Arc<MaildirDelivery>,
    pub(crate) remote: RemoteContext,
    pub(crate) notifier: Notifier,
    /// Notifications are new messages: the one enqueue path spools them.
    pub(crate) enqueue: crate::inbound::enqueue::Enqueue,
    /// Told the outcomes of tenants' outbound mail (the bounce-rate signal).
    pub(crate) guard: Option<Arc<crate::guard::OutboundGuard>>,
}

pub(crate) struct QueueManager {
    shared: Arc<Delivery>,
    config: DeliveryConfig,
    incoming: mpsc::UnboundedReceiver<Job>,
    queries: mpsc::Receiver<Query>,
    fresh: VecDeque<Job>,
    retries: VecDeque<Job>,
    fresh_next: bool,
    waiting: BTreeMap<(u64, MessageId), Job>,
    preparing: usize,
    active: HashMap<MessageId, Active>,
    settling: HashMap<MessageId, Settling>,
    destinations: HashMap<Destination, DestinationState>,
    tasks: JoinSet<TaskDone>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl QueueManager {
    pub(crate) fn new(
        shared: Delivery,
        config: DeliveryConfig,
        recovered: Vec<SpooledMessage>,
        inbox: Inbox,
    ) -> QueueManager {
        let mut manager = QueueManager {
            shared: Arc::new(shared),
            config,
            incoming: inbox.incoming,
            queries: inbox.queries,
            fresh: VecDeque::new(),
            retries: VecDeque::new(),
            fresh_next: true,
            waiting: BTreeMap::new(),
            preparing: 0,
            active: HashMap::new(),
            settling: HashMap::new(),
            destinations: HashMap::new(),
            tasks: JoinSet::new(),
        };
        let now = now_ms();
        for message in recovered {
            let pending: Vec<u32> =
                (0..message.envelope.recipients.len() as u32).filter(|i| !message.done.contains(i)).collect();
            if pending.is_empty() {
                continue;
            }
            // Envelopes are read back when a message's turn comes: a large queue recovered
            // at start holds only ids, recipients left and schedules in memory.
            let job = Job {
                id: message.id,
                received_at_unix_ms: message.received_at_unix_ms,
                schedule: message.schedule,
                pending,
                envelope: None,
                recovered: true,
                last: None,
            };
            if message.schedule.next_attempt_unix_ms > now {
                manager.waiting.insert((message.schedule.next_attempt_unix_ms, job.id), job);
            } else {
                manager.retries.push_back(job);
            }
        }
        manager
    }

    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            self.dispatch();
            let wake = self.waiting.keys().next().map(|(at, _)| *at);
            let sleep = wake.map(|at| Duration::from_millis(at.saturating_sub(now_ms())));
            tokio::select! {
                job = self.incoming.recv() => match job {
                    Some(job) => self.fresh.push_back(job),
                    None => break,
                },
                Some(query) = self.queries.recv() => self.answer(query),
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => match done {
                    Ok(done) => self.on_task_done(done),
                    // A task that panicked lost its unit's outcomes; its message stays in
                    // the spool and is retried at the next start.
                    Err(e) => tracing::error!(error = %e, "delivery task failed"),
                },
                _ = tokio::time::sleep(sleep.unwrap_or_default()), if sleep.is_some() => self.wake_due(),
                _ = stop.changed() => break,
            }
        }
        // Let attempts in flight finish so their outcomes are recorded, but not for as long
        // as a silent remote server could hold one (minutes): after the grace period they
        // are cut off, and their messages, still in the spool, are tried again at the next
        // start.
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while let Some(done) = self.tasks.join_next().await {
                if let Ok(done) = done {
                    self.on_task_done(done);
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                tasks = self.tasks.len(),
                "delivery attempts still running at shutdown were cut off; they are retried at the next start"
            );
            self.tasks.abort_all();
        }
    }

    fn answer(&mut self, query: Query) {
        match query {
            Query::List(reply) => {
                let _ = reply.send(self.entries());
            }
            Query::Flush(reply) => {
                let count = self.waiting.len();
                let due = std::mem::take(&mut self.waiting);
                self.retries.extend(due.into_values());
                tracing::info!(messages = count, "queue flushed by the operator");
                let _ = reply.send(count);
            }
            Query::Retry(id, reply) => {
                let key = self.waiting.keys().find(|(_, waiting)| *waiting == id).copied();
                let job = key.and_then(|key| self.waiting.remove(&key));
                let found = job.is_some();
                if let Some(job) = job {
                    tracing::info!(id = %id, "message made due now by the operator");
                    self.retries.push_back(job);
                }
                let _ = reply.send(found);
            }
        }
    }

    /// What `answer` lists: every message in every state but the few being loaded.
    fn entries(&self) -> Vec<QueueEntry> {
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

    fn wake_due(&mut self) {
        let now = now_ms();
        while let Some(entry) = self.waiting.first_entry() {
            if entry.key().0 > now {
                break;
            }
            self.retries.push_back(entry.remove());
        }
    }

    fn dispatch(&mut self) {
        self.start_preparing();
        let now = now_ms();
        let pause = self.config.destination_pause;
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
                && self.tasks.len() < self.config.concurrency + self.preparing
            {
                let take = match destination {
                    Destination::Maildir => state.queued.len().min(MAILDIR_UNITS_PER_TASK_MAX),
                    _ => state.queued.len().min(MESSAGES_PER_CONNECTION_MAX),
                };
                let units: Vec<Unit> = state.queued.drain(..take).collect();
                state.running += 1;
                spawn_delivery(&mut self.tasks, &self.shared, &self.active, destination.clone(), units);
            }
        }
        for (destination, unit, until, reply) in paused_units {
            let wait =
                Duration::from_millis(until.saturating_sub(now)).max(pause.min(Duration::from_secs(1)));
            // A scheduling fact, not a diagnosis: the recipient's report keeps its last
            // real reply and tells the pause beside it.
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
                // A recipient never tried has no reply of its own: the destination's is
                // the real one that holds it back.
                if let Some(reply) = reply {
                    let last = active.job.last.get_or_insert_with(Box::default);
                    for index in &unit.recipients {
                        if !last.replies.iter().any(|(i, _)| i == index) {
                            last.replies.push((*index, reply.clone()));
                        }
                    }
                }
            }
            self.unit_done(unit.id, outcomes);
        }
        self.destinations.retain(|_, s| !s.queued.is_empty() || s.running > 0 || s.paused_until_ms > now);
    }

    /// Loads and routes ready messages while the active window has room, taking fresh mail
    /// and retries in turn.
    fn start_preparing(&mut self) {
        // Settling messages count too: their notification tasks read the whole original.
        while self.active.len() + self.preparing + self.settling.len() < self.config.active_messages_max {
            let take_fresh = (self.fresh_next && !self.fresh.is_empty()) || self.retries.is_empty();
            let job = if take_fresh { self.fresh.pop_front() } else { self.retries.pop_front() };
            let Some(job) = job else { break };
            self.fresh_next = !take_fresh;
            self.preparing += 1;
            let shared = Arc::clone(&self.shared);
            // A panic while loading or routing must not lose the job: it is retried later.
            let backup = job.clone();
            self.tasks.spawn_blocking(move || {
                let prepared =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| prepare(&shared, job)));
                let prepared =
                    prepared.unwrap_or_else(|_| Err((backup, "loading or routing panicked".into())));
                TaskDone::Prepared(Box::new(prepared))
            });
        }
    }

    fn on_task_done(&mut self, done: TaskDone) {
        match done {
            TaskDone::Prepared(prepared) => {
                self.preparing -= 1;
                match *prepared {
                    Ok(prepared) => self.activate(prepared),
                    Err((job, reason)) => {
                        tracing::error!(msg_id = %job.id, %reason, "cannot read the message from the spool; will retry");
                        self.retry_later(job);
                    }
                }
            }
            TaskDone::Notified { id, notified } => {
                if let Some(settling) = self.settling.remove(&id) {
                    self.finish(settling, notified);
                }
            }
            TaskDone::Delivered { destination, results } => {
                let throttled = results
                    .iter()
                    .flat_map(|(_, outcomes)| outcomes)
                    .any(|(_, o)| matches!(o, Outcome::Deferred(f) if f.throttled));
                let now = now_ms();
                let pause_until = now.saturating_add(self.config.destination_pause.as_millis() as u64);
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
                    self.unit_done(id, outcomes);
                }
            }
        }
    }

    fn activate(&mut self, prepared: Prepared) {
        let Prepared { job, envelope, units, unroutable } = prepared;
        let id = job.id;
        let active =
            Active { job, envelope, outcomes: Vec::new(), units_left: units.len() + 1, not_before_ms: 0 };
        self.active.insert(id, active);
        for (destination, unit) in units {
            self.destinations.entry(destination).or_default().queued.push_back(unit);
        }
        // Counted as one unit so a message with no routable recipient settles here.
        self.unit_done(id, unroutable);
    }

    fn unit_done(&mut self, id: MessageId, outcomes: Vec<(u32, Outcome)>) {
        let Some(active) = self.active.get_mut(&id) else { return };
        active.outcomes.extend(outcomes);
        active.units_left -= 1;
        if active.units_left == 0
            && let Some(active) = self.active.remove(&id)
        {
            self.settle(active);
        }
    }

    /// Decides what the attempt's outcomes mean for the message.
    fn settle(&mut self, active: Active) {
        let Active { mut job, envelope, outcomes, not_before_ms, .. } = active;
        let now = now_ms();
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
        if !deferred.is_empty() {
            let policy = &self.config.retry;
            match after_attempt(policy, previous, job.received_at_unix_ms, now, not_before_ms) {
                AfterAttempt::Expire => {
                    tracing::warn!(msg_id = %job.id, "message expired; bouncing the recipients left");
                    failed.append(&mut deferred);
                    expired = true;
                }
                AfterAttempt::Retry { schedule, notify_delay } => {
                    retry = Some(schedule);
                    delayed_until_s =
                        notify_delay.then(|| policy.expires_at_ms(job.received_at_unix_ms) / 1000);
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
        if let (Some(guard), Some(a)) = (&self.shared.guard, &envelope.client.attribution)
            && a.outbound_relay
        {
            let seconds = now / 1000;
            guard.protection.record_outcomes(seconds, &a.tenant, delivered.len() as u32, failed.len() as u32);
        }
        let mut finished = delivered.clone();
        finished.extend(&failed);
        job.pending.retain(|i| !finished.contains(i));
        let mut last = job.last.take().unwrap_or_default();
        remember_replies(&mut last.replies, &outcomes, &job.pending);
        last.error = outcomes.iter().find_map(|(index, outcome)| match outcome {
            Outcome::Deferred(f) if job.pending.contains(index) => Some(f.diagnosis.to_string()),
            _ => None,
        });
        job.last = (!last.replies.is_empty() || last.error.is_some()).then_some(last);
        let settling = Settling { job, finished, delivered, retry, previous };
        if reports.is_empty() {
            self.finish(settling, true);
            return;
        }
        let (id, received) = (settling.job.id, settling.job.received_at_unix_ms);
        self.settling.insert(id, settling);
        let shared = Arc::clone(&self.shared);
        self.tasks.spawn(async move {
            // A panic counts as "not spooled": the failed recipients bounce at the next attempt.
            let notifying = tokio::spawn(notify(shared, id, envelope, received, now, reports));
            let notified = notifying.await.unwrap_or(false);
            TaskDone::Notified { id, notified }
        });
    }

    /// Records the settled recipients and puts the message back to wait if any are left.
    fn finish(&mut self, settling: Settling, notified: bool) {
        let Settling { mut job, finished, delivered, retry, previous } = settling;
        let done = if notified {
            finished
        } else {
            // The failed recipients wait for the next attempt to bounce them again.
            job.pending.extend(finished.iter().filter(|i| !delivered.contains(i)));
            delivered
        };
        if !done.is_empty() {
            let id = job.id;
            self.shared.spool.complete(
                id,
                &done,
                Box::new(move |result| {
                    if let Err(e) = result {
                        tracing::warn!(msg_id = %id, error = %e, "could not record finished recipients in the spool");
                    }
                }),
            );
        }
        if job.pending.is_empty() {
            return;
        }
        let schedule = match retry {
            Some(s) if notified => s,
            Some(s) => Schedule { delay_notified: previous.delay_notified, ..s },
            // Only a notification that could not be spooled leaves recipients with no retry
            // decision: back off as for any failed attempt.
            None => {
                let attempts = previous.attempts.saturating_add(1);
                let wait = self.config.retry.backoff(attempts).as_millis() as u64;
                Schedule {
                    attempts,
                    next_attempt_unix_ms: now_ms().saturating_add(wait),
                    delay_notified: previous.delay_notified,
                }
            }
        };
        job.schedule = schedule;
        self.park(job);
    }

    fn retry_later(&mut self, mut job: Job) {
        let attempts = job.schedule.attempts.saturating_add(1);
        job.schedule = Schedule {
            attempts,
            next_attempt_unix_ms: now_ms()
                .saturating_add(self.config.retry.backoff(attempts).as_millis() as u64),
            ..job.schedule
        };
        self.park(job);
    }

    /// Persists the schedule and leaves only the id, recipients and schedule in memory.
    fn park(&mut self, mut job: Job) {
        let id = job.id;
        self.shared.spool.schedule(
            id,
            job.schedule,
            Box::new(move |result| {
                if let Err(e) = result {
                    tracing::warn!(msg_id = %id, error = %e, "could not record the retry schedule in the spool");
                }
            }),
        );
        job.envelope = None;
        self.waiting.insert((job.schedule.next_attempt_unix_ms, id), job);
    }
}
