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
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bounce::Action;
use smtp_wire::Envelope;
use smtp_wire::reply::code;
use spool::{MessageId, Schedule, Spool, SpooledMessage};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::maildir::{MaildirCopy, MaildirDelivery, MaildirMessage};
use crate::notify::{Notification, Notifier, Report};
use crate::remote::{self, Failure, Outcome, RemoteContext};
use crate::routing::{Destination, Router};
use crate::schedule::{AfterAttempt, after_attempt};
use crate::settings::DeliveryConfig;

/// Maildir copies handed to one delivery task at once: they share the file system syncs.
const MAILDIR_UNITS_PER_TASK_MAX: usize = 64;
/// How long shutdown waits for delivery attempts in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Messages one remote delivery task sends over one connection (connection reuse): enough
/// to save the handshakes of a backlog, few enough that one slow server does not hold many.
const MESSAGES_PER_CONNECTION_MAX: usize = 20;

/// A message the queue manager is responsible for.
#[derive(Debug)]
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

    /// Makes every waiting message due now (as `postqueue -f`); how many there were.
    pub async fn flush(&self) -> Option<usize> {
        let (reply, answer) = oneshot::channel();
        self.queries.send(Query::Flush(reply)).await.ok()?;
        answer.await.ok()
    }
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
    /// Told the outcomes of tenants' outbound mail (the bounce-rate signal).
    pub(crate) guard: Option<Arc<crate::guard::OutboundGuard>>,
}

pub(crate) struct QueueManager {
    shared: Arc<Delivery>,
    config: DeliveryConfig,
    incoming: mpsc::UnboundedReceiver<Job>,
    queries: mpsc::Receiver<Query>,
    handle: QueueHandle,
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
    ) -> (QueueManager, QueueHandle) {
        let (tx, incoming) = mpsc::unbounded_channel();
        let (query_tx, queries) = mpsc::channel(QUERIES_MAX);
        let handle = QueueHandle { tx, queries: query_tx };
        let mut manager = QueueManager {
            shared: Arc::new(shared),
            config,
            incoming,
            queries,
            handle: handle.clone(),
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
            };
            if message.schedule.next_attempt_unix_ms > now {
                manager.waiting.insert((message.schedule.next_attempt_unix_ms, job.id), job);
            } else {
                manager.retries.push_back(job);
            }
        }
        (manager, handle)
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
                paused_units
                    .extend(state.queued.drain(..).map(|u| (destination.clone(), u, state.paused_until_ms)));
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
        for (destination, unit, until) in paused_units {
            let wait =
                Duration::from_millis(until.saturating_sub(now)).max(pause.min(Duration::from_secs(1)));
            let failure = Failure::local(
                code(4, 7, 0),
                format!(
                    "{destination} asked Sluice to slow down; waiting {}s before the next attempt",
                    wait.as_secs()
                ),
            );
            let outcomes = unit.recipients.iter().map(|i| (*i, Outcome::Deferred(failure.clone()))).collect();
            if let Some(active) = self.active.get_mut(&unit.id) {
                active.not_before_ms = active.not_before_ms.max(until);
            }
            self.unit_done(unit.id, outcomes);
        }
        self.destinations.retain(|_, s| !s.queued.is_empty() || s.running > 0 || s.paused_until_ms > now);
    }

    /// Loads and routes ready messages while the active window has room, taking fresh mail
    /// and retries in turn.
    fn start_preparing(&mut self) {
        while self.active.len() + self.preparing < self.config.active_messages_max {
            let take_fresh = (self.fresh_next && !self.fresh.is_empty()) || self.retries.is_empty();
            let job = if take_fresh { self.fresh.pop_front() } else { self.retries.pop_front() };
            let Some(job) = job else { break };
            self.fresh_next = !take_fresh;
            self.preparing += 1;
            let shared = Arc::clone(&self.shared);
            self.tasks.spawn_blocking(move || TaskDone::Prepared(Box::new(prepare(&shared, job))));
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
        if !deferred.is_empty() {
            let policy = &self.config.retry;
            match after_attempt(policy, previous, job.received_at_unix_ms, now, not_before_ms) {
                AfterAttempt::Expire => {
                    tracing::warn!(msg_id = %job.id, "message expired; bouncing the recipients left");
                    failed.append(&mut deferred);
                }
                AfterAttempt::Retry { schedule, notify_delay } => {
                    retry = Some(schedule);
                    delayed_until_s =
                        notify_delay.then(|| policy.expires_at_ms(job.received_at_unix_ms) / 1000);
                }
            }
        }
        let age_ms = now.saturating_sub(job.received_at_unix_ms);
        let reports = reports_for(&outcomes, &failed, delayed_until_s, age_ms);
        if let (Some(guard), Some(a)) = (&self.shared.guard, &envelope.client.attribution)
            && a.outbound_relay
        {
            let seconds = now / 1000;
            guard.protection.record_outcomes(seconds, &a.tenant, delivered.len() as u32, failed.len() as u32);
        }
        let mut finished = delivered.clone();
        finished.extend(&failed);
        job.pending.retain(|i| !finished.contains(i));
        let settling = Settling { job, finished, delivered, retry, previous };
        if reports.is_empty() {
            self.finish(settling, true);
            return;
        }
        let (id, received) = (settling.job.id, settling.job.received_at_unix_ms);
        self.settling.insert(id, settling);
        let (shared, handle) = (Arc::clone(&self.shared), self.handle.clone());
        self.tasks.spawn_blocking(move || {
            let notified = notify(&shared, &handle, id, &envelope, received, now, &reports);
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
            None => Schedule {
                attempts: previous.attempts.saturating_add(1),
                next_attempt_unix_ms: now_ms()
                    .saturating_add(self.config.retry.backoff(1).as_millis() as u64),
                delay_notified: previous.delay_notified,
            },
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

/// What the notification of a settled attempt reports, in recipient order: failures (an
/// expired recipient as `5.4.7` with its last error), delays when the delay notice is due
/// (`delayed_until_s`: when Sluice gives up), and local deliveries (for `NOTIFY=SUCCESS`;
/// a remote server that supports DSN reports its own).
fn reports_for(
    outcomes: &[(u32, Outcome)],
    failed: &[u32],
    delayed_until_s: Option<u64>,
    age_ms: u64,
) -> Vec<Report> {
    let mut reports: Vec<Report> = outcomes
        .iter()
        .filter_map(|(index, outcome)| {
            if failed.contains(index) {
                let mut report = Report::from_outcome(*index, outcome, Action::Failed);
                if let (Outcome::Deferred(f), Some(failure)) = (outcome, report.failure.as_mut()) {
                    failure.status = code(5, 4, 7);
                    failure.diagnostic = format!(
                        "delivery gave up after {}; the last attempt said: {}",
                        age_text(age_ms),
                        f.diagnostic
                    );
                }
                return Some(report);
            }
            match outcome {
                Outcome::Deferred(_) => delayed_until_s.map(|until| Report {
                    will_retry_until_unix_s: Some(until),
                    ..Report::from_outcome(*index, outcome, Action::Delayed)
                }),
                Outcome::Delivered { remote: None } => {
                    Some(Report::from_outcome(*index, outcome, Action::Delivered))
                }
                _ => None,
            }
        })
        .collect();
    reports.sort_by_key(|r| r.index);
    reports
}

/// A message's age for a person: `5 days`, `3 hours`, `12 minutes`, `6 seconds`.
fn age_text(ms: u64) -> String {
    let s = ms / 1000;
    let (n, unit) = match s {
        0..60 => (s, "second"),
        60..3_600 => (s / 60, "minute"),
        3_600..86_400 => (s / 3_600, "hour"),
        _ => (s / 86_400, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Writes the notification about `reports` and spools it, waiting until it is durable;
/// runs on a blocking thread. `false` when it could not be spooled (the failed recipients
/// then stay queued and bounce at the next attempt); `true` also when none was due.
fn notify(
    shared: &Delivery,
    handle: &QueueHandle,
    id: MessageId,
    envelope: &Envelope,
    received_at_unix_ms: u64,
    now: u64,
    reports: &[Report],
) -> bool {
    let original = match shared.spool.read_data(id) {
        Ok(data) => data,
        Err(e) => {
            tracing::error!(msg_id = %id, error = %e, "cannot read the message for its notification");
            return false;
        }
    };
    let rendered = shared.notifier.render(id, envelope, &original, received_at_unix_ms, now, reports);
    let Notification { envelope: notice, data } = match rendered {
        Ok(Some(notification)) => notification,
        Ok(None) => return true,
        Err(e) => {
            // A notification Sluice cannot write is a bug; holding the message would not fix it.
            tracing::error!(msg_id = %id, error = %e, "cannot write the notification");
            return true;
        }
    };
    let (tx, rx) = std::sync::mpsc::channel();
    shared.spool.enqueue(
        notice.clone(),
        now,
        data,
        Box::new(move |result| {
            let _ = tx.send(result);
        }),
    );
    match rx.recv() {
        Ok(Ok(notice_id)) => {
            tracing::info!(msg_id = %id, notice_id = %notice_id, "notification queued");
            handle.submit(notice_id, notice, now);
            true
        }
        Ok(Err(e)) => {
            tracing::error!(msg_id = %id, error = %e, "cannot spool the notification; the recipients stay queued");
            false
        }
        Err(_) => false,
    }
}

fn log_outcome(id: MessageId, envelope: &Envelope, index: u32, outcome: &Outcome) {
    let recipient =
        envelope.recipients.get(index as usize).map(|r| r.address.to_string()).unwrap_or_default();
    match outcome {
        Outcome::Delivered { remote } => {
            tracing::info!(msg_id = %id, %recipient, remote = remote.as_deref().unwrap_or("local"), "delivered")
        }
        Outcome::Deferred(f) => {
            tracing::info!(msg_id = %id, %recipient, status = %f.status, reason = %f.diagnostic, "delivery deferred")
        }
        Outcome::Failed(f) => {
            tracing::warn!(msg_id = %id, %recipient, status = %f.status, reason = %f.diagnostic, "delivery failed")
        }
    }
}

/// Loads the message and routes its pending recipients; runs on a blocking thread.
fn prepare(shared: &Delivery, mut job: Job) -> Result<Prepared, (Job, String)> {
    let envelope = match job.envelope.take() {
        Some(envelope) => envelope,
        None => match shared.spool.read_envelope(job.id) {
            Ok(envelope) => Arc::new(envelope),
            Err(e) => return Err((job, e.to_string())),
        },
    };
    let mut units: Vec<(Destination, Unit)> = Vec::new();
    let mut unroutable = Vec::new();
    for &index in &job.pending {
        match shared.router.route(&envelope, index) {
            Ok(route) => {
                let unit = match units.iter_mut().find(|(d, _)| *d == route.destination) {
                    Some((_, unit)) => unit,
                    None => {
                        let unit = Unit { id: job.id, recipients: Vec::new(), mailboxes: Vec::new() };
                        units.push((route.destination, unit));
                        &mut units.last_mut().expect("just pushed").1
                    }
                };
                unit.recipients.push(index);
                unit.mailboxes.extend(route.mailbox);
            }
            Err(no_route) => {
                let failure = Failure::local(no_route.status, no_route.reason.clone());
                let outcome = if no_route.is_permanent() {
                    Outcome::Failed(failure)
                } else {
                    Outcome::Deferred(failure)
                };
                unroutable.push((index, outcome));
            }
        }
    }
    // A Maildir unit holds one copy per recipient; split it so batches can mix messages.
    let units = units
        .into_iter()
        .flat_map(|(destination, unit)| match destination {
            Destination::Maildir => unit
                .recipients
                .into_iter()
                .zip(unit.mailboxes)
                .map(|(index, mailbox)| {
                    (
                        Destination::Maildir,
                        Unit { id: unit.id, recipients: vec![index], mailboxes: vec![mailbox] },
                    )
                })
                .collect::<Vec<_>>(),
            other => vec![(other, unit)],
        })
        .collect();
    Ok(Prepared { job, envelope, units, unroutable })
}

/// A unit with what its delivery task needs of its message. The content is read from
/// the spool by the task itself, so active messages hold no message data in memory.
struct Work {
    unit: Unit,
    envelope: Arc<Envelope>,
    received_at_unix_ms: u64,
    check_existing: bool,
}

fn spawn_delivery(
    tasks: &mut JoinSet<TaskDone>,
    shared: &Arc<Delivery>,
    active: &HashMap<MessageId, Active>,
    destination: Destination,
    units: Vec<Unit>,
) {
    let work: Vec<Work> = units
        .into_iter()
        .filter_map(|unit| {
            let a = active.get(&unit.id)?;
            Some(Work {
                unit,
                envelope: Arc::clone(&a.envelope),
                received_at_unix_ms: a.job.received_at_unix_ms,
                check_existing: a.job.recovered || a.job.schedule.attempts > 0,
            })
        })
        .collect();
    let shared = Arc::clone(shared);
    match destination {
        Destination::Maildir => {
            tasks.spawn_blocking(move || {
                let results = deliver_maildir(&shared, &work);
                TaskDone::Delivered { destination: Destination::Maildir, results }
            });
        }
        remote_destination => {
            tasks.spawn(async move {
                let results = deliver_remote(&shared, &remote_destination, &work).await;
                TaskDone::Delivered { destination: remote_destination, results }
            });
        }
    }
}

fn spool_unreadable(recipients: &[u32], error: impl std::fmt::Display) -> Vec<(u32, Outcome)> {
    let failure = Failure::local(code(4, 3, 0), format!("cannot read the message from the spool: {error}"));
    recipients.iter().map(|i| (*i, Outcome::Deferred(failure.clone()))).collect()
}

/// Several messages for one remote destination, over one connection when the server
/// allows; a message whose content cannot be read is deferred without holding the others.
async fn deliver_remote(
    shared: &Arc<Delivery>,
    destination: &Destination,
    work: &[Work],
) -> Vec<(MessageId, Vec<(u32, Outcome)>)> {
    let (spool, ids) = (shared.spool.clone(), work.iter().map(|w| w.unit.id).collect::<Vec<_>>());
    let contents = tokio::task::spawn_blocking(move || {
        ids.iter().map(|id| spool.read_data(*id).map_err(|e| e.to_string())).collect::<Vec<_>>()
    })
    .await
    .unwrap_or_else(|e| work.iter().map(|_| Err(e.to_string())).collect());
    let readable: Vec<(&Work, &Vec<u8>)> =
        work.iter().zip(&contents).filter_map(|(w, c)| Some((w, c.as_ref().ok()?))).collect();
    let messages: Vec<remote::Message<'_>> = readable
        .iter()
        .map(|(w, data)| remote::Message { envelope: &w.envelope, recipients: &w.unit.recipients, data })
        .collect();
    let mut delivered = remote::deliver(&shared.remote, destination, &messages).await.into_iter();
    work.iter()
        .zip(&contents)
        .map(|(w, content)| {
            let outcomes = match content {
                Ok(_) => delivered.next().unwrap_or_default(),
                Err(e) => spool_unreadable(&w.unit.recipients, e),
            };
            (w.unit.id, outcomes)
        })
        .collect()
}

/// One Maildir batch; a panic fails the batch (it is retried), never the process.
fn deliver_maildir(shared: &Delivery, work: &[Work]) -> Vec<(MessageId, Vec<(u32, Outcome)>)> {
    // Several units of a batch may be copies of one message: read each message once.
    let mut contents: HashMap<MessageId, Result<Vec<u8>, String>> = HashMap::new();
    for w in work {
        contents
            .entry(w.unit.id)
            .or_insert_with(|| shared.spool.read_data(w.unit.id).map_err(|e| e.to_string()));
    }
    let ids: Vec<String> = work.iter().map(|w| w.unit.id.to_string()).collect();
    let messages: Vec<Option<MaildirMessage<'_>>> = work
        .iter()
        .zip(&ids)
        .map(|(w, id)| {
            let data = contents.get(&w.unit.id)?.as_ref().ok()?;
            Some(MaildirMessage {
                id,
                received_at_unix_ms: w.received_at_unix_ms,
                envelope: &w.envelope,
                data,
                check_existing: w.check_existing,
            })
        })
        .collect();
    let copies: Vec<MaildirCopy<'_, '_>> = work
        .iter()
        .zip(&messages)
        .filter_map(|(w, message)| Some((w, message.as_ref()?)))
        .flat_map(|(w, message)| {
            w.unit.recipients.iter().zip(&w.unit.mailboxes).map(move |(index, mailbox)| MaildirCopy {
                message,
                index: *index,
                mailbox,
            })
        })
        .collect();
    let results = std::panic::catch_unwind(AssertUnwindSafe(|| shared.maildir.deliver_batch(&copies)))
        .unwrap_or_else(|_| copies.iter().map(|_| Err(crate::maildir::DeliveryError::Panicked)).collect());
    let mut results = results.into_iter();
    work.iter()
        .map(|w| {
            let outcomes = match contents.get(&w.unit.id) {
                Some(Ok(_)) => w
                    .unit
                    .recipients
                    .iter()
                    .map(|index| {
                        let outcome = match results.next() {
                            Some(Ok(())) => Outcome::Delivered { remote: None },
                            Some(Err(e)) => Outcome::Deferred(Failure::local(code(4, 3, 0), e.to_string())),
                            None => Outcome::Deferred(Failure::local(
                                code(4, 3, 0),
                                "delivery produced no result",
                            )),
                        };
                        (*index, outcome)
                    })
                    .collect(),
                Some(Err(e)) => spool_unreadable(&w.unit.recipients, e),
                None => spool_unreadable(&w.unit.recipients, "not read"),
            };
            (w.unit.id, outcomes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deferred(reason: &str) -> Outcome {
        Outcome::Deferred(Failure::local(code(4, 3, 0), reason))
    }

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(age_text(6_000), "6 seconds");
        assert_eq!(age_text(60_000), "1 minute");
        assert_eq!(age_text(3 * 3_600_000 + 5), "3 hours");
        assert_eq!(age_text(5 * 86_400_000), "5 days");
    }

    #[test]
    fn reports_say_failed_expired_delayed_and_delivered_in_recipient_order() {
        let outcomes = vec![
            (2, deferred("451 4.3.0 try later")),
            (0, Outcome::Failed(Failure::local(code(5, 1, 1), "550 5.1.1 no such user"))),
            (1, Outcome::Delivered { remote: None }),
            (3, Outcome::Delivered { remote: Some("mx.example".into()) }),
            (4, deferred("451 4.4.1 no answer")),
        ];
        // Recipient 4 expired; recipient 2 is still deferred and a delay notice is due.
        let reports = reports_for(&outcomes, &[0, 4], Some(1_000), 5 * 86_400_000);
        let summary: Vec<(u32, Action)> = reports.iter().map(|r| (r.index, r.action)).collect();
        assert_eq!(
            summary,
            [(0, Action::Failed), (1, Action::Delivered), (2, Action::Delayed), (4, Action::Failed)],
            "a remote delivery is the remote server's to report"
        );
        let expired = reports[3].failure.as_ref().expect("failure");
        assert_eq!(expired.status, code(5, 4, 7));
        assert_eq!(
            expired.diagnostic,
            "delivery gave up after 5 days; the last attempt said: 451 4.4.1 no answer"
        );
        assert_eq!(reports[2].will_retry_until_unix_s, Some(1_000));
        // No delay notice due: the deferred recipient is not reported.
        let quiet = reports_for(&outcomes, &[0], None, 60_000);
        assert!(quiet.iter().all(|r| r.action != Action::Delayed));
    }
}
