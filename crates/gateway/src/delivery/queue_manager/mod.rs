//! The queue manager: the one owner of delivery decisions (Postfix's qmgr). Its decisions
//! are a sans-IO state machine (`core`); this module is the async shell that feeds it
//! events (messages spooled, tasks finished, its timer, shutdown, operator queries) and
//! performs the actions it returns, each as an owned task (`tasks`) that reports back and
//! decides nothing. `reports` maps a settled attempt's outcomes to what its notification
//! says.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smtp_wire::Envelope;
use spool::{MessageId, Spool, SpooledMessage};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

mod core;
mod reports;
#[cfg(test)]
mod scenarios;
mod tasks;

use self::core::{Action, Event, Job, QueueCore, Recovered};
pub use self::core::{QueueEntry, RemoveRefused};
use crate::delivery::maildir::MaildirDelivery;
use crate::delivery::notify::Notifier;
use crate::delivery::remote::RemoteContext;
use crate::delivery::routing::Router;
use crate::metrics::{self, DeliveryOutcome};
use crate::settings::DeliveryConfig;

/// How long shutdown waits for delivery attempts in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Operator queries waiting at once; more wait for a slot (the CLI is one person).
const QUERIES_MAX: usize = 8;

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
    /// Removes recipients of a queued message, with a bounce or silently.
    Remove {
        id: MessageId,
        recipients: Option<Vec<u32>>,
        bounce: bool,
        reply: oneshot::Sender<Removal>,
    },
}

/// How an operator's removal ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// These recipients are finished in the spool (their bounce durable first, when one
    /// was asked for).
    Removed {
        recipients: Vec<u32>,
        bounced: bool,
    },
    Refused(RemoveRefused),
    /// Nothing was removed: why (the bounce or the spool record failed).
    Failed(String),
}

impl QueueHandle {
    pub(crate) fn submit(&self, id: MessageId, envelope: Envelope, received_at_unix_ms: u64) {
        // The receiver lives as long as the gateway; after shutdown the message stays in
        // the spool and is recovered at the next start.
        let _ = self.tx.send(Job::spooled(id, envelope, received_at_unix_ms));
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

    /// Removes `recipients` (indices; every pending one when `None`) of a waiting or ready
    /// message, bouncing them to the sender first when `bounce`; answers once the removal
    /// is durable. `None` when the queue manager stopped.
    pub async fn remove(&self, id: MessageId, recipients: Option<Vec<u32>>, bounce: bool) -> Option<Removal> {
        let (reply, answer) = oneshot::channel();
        self.queries.send(Query::Remove { id, recipients, bounce, reply }).await.ok()?;
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
    /// Where each recipient's steps go (the message trace).
    pub(crate) recorder: crate::record::Recorder,
}

/// The async shell around [`QueueCore`].
pub(crate) struct QueueManager {
    core: QueueCore,
    shared: Arc<Delivery>,
    inbox: Inbox,
    tasks: JoinSet<Event>,
    /// When the core wants [`Event::TimerDue`].
    timer: Option<u64>,
    /// Operators waiting for their removal, by message (one removal per message at once:
    /// the core refuses a message already being removed).
    removals: HashMap<MessageId, oneshot::Sender<Removal>>,
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
        let recovered = recovered
            .into_iter()
            .map(|m| Recovered {
                id: m.id,
                received_at_unix_ms: m.received_at_unix_ms,
                recipients: m.envelope.recipients.len() as u32,
                done: m.done,
                schedule: m.schedule,
            })
            .collect();
        QueueManager {
            core: QueueCore::new(config, recovered, now_ms()),
            shared: Arc::new(shared),
            inbox,
            tasks: JoinSet::new(),
            timer: None,
            removals: HashMap::new(),
        }
    }

    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            self.perform();
            let sleep = self.timer.map(|at| Duration::from_millis(at.saturating_sub(now_ms())));
            let event = tokio::select! {
                job = self.inbox.incoming.recv() => match job {
                    Some(job) => Event::Spooled(job),
                    None => break,
                },
                Some(query) = self.inbox.queries.recv() => {
                    self.answer(query);
                    continue;
                }
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => match done {
                    Ok(event) => event,
                    // Every task turns its own panics into outcomes; only an abort lands here.
                    Err(e) => {
                        tracing::error!(error = %e, "delivery task failed");
                        continue;
                    }
                },
                _ = tokio::time::sleep(sleep.unwrap_or_default()), if sleep.is_some() => Event::TimerDue,
                _ = stop.changed() => break,
            };
            self.core.handle(now_ms(), event);
        }
        self.core.handle(now_ms(), Event::Shutdown);
        self.perform();
        // Let attempts in flight finish so their outcomes are recorded, but not for as long
        // as a silent remote server could hold one (minutes): after the grace period they
        // are cut off, and their messages, still in the spool, are tried again at the next
        // start.
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while let Some(done) = self.tasks.join_next().await {
                if let Ok(event) = done {
                    self.core.handle(now_ms(), event);
                    self.perform();
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
                let _ = reply.send(self.core.entries());
            }
            Query::Flush(reply) => {
                let _ = reply.send(self.core.flush(now_ms()));
            }
            Query::Retry(id, reply) => {
                let _ = reply.send(self.core.retry(now_ms(), id));
            }
            Query::Remove { id, recipients, bounce, reply } => {
                match self.core.remove(now_ms(), id, recipients, bounce) {
                    Ok(()) => {
                        self.removals.insert(id, reply);
                    }
                    Err(refused) => {
                        let _ = reply.send(Removal::Refused(refused));
                    }
                }
            }
        }
    }

    /// Performs what the core decided.
    fn perform(&mut self) {
        while let Some(action) = self.core.next_action() {
            match action {
                Action::Load(job) => tasks::spawn_load(&mut self.tasks, &self.shared, job),
                Action::Deliver { destination, work } => {
                    tasks::spawn_delivery(&mut self.tasks, &self.shared, destination, work)
                }
                Action::Notify { id, envelope, received_at_unix_ms, now_unix_ms, reports } => {
                    let shared = Arc::clone(&self.shared);
                    self.tasks.spawn(async move {
                        // A panic counts as "not spooled": the failed recipients bounce at the
                        // next attempt.
                        let notify = tasks::notify(shared, id, envelope, received_at_unix_ms, now_unix_ms, reports);
                        let spooled = tokio::spawn(notify).await.unwrap_or(false);
                        Event::Notified { id, spooled }
                    });
                }
                Action::MarkDone { id, recipients } => self.shared.spool.complete(
                    id,
                    &recipients,
                    Box::new(move |result| {
                        if let Err(e) = result {
                            tracing::warn!(msg_id = %id, error = %e, "could not record finished recipients in the spool");
                        }
                    }),
                ),
                Action::WriteSchedule { id, schedule } => self.shared.spool.schedule(
                    id,
                    schedule,
                    Box::new(move |result| {
                        if let Err(e) = result {
                            tracing::warn!(msg_id = %id, error = %e, "could not record the retry schedule in the spool");
                        }
                    }),
                ),
                Action::OutboundOutcomes { tenant, delivered, failed } => {
                    if let Some(guard) = &self.shared.guard {
                        guard.protection.record_outcomes(guard.now_unix_s(), &tenant, delivered, failed);
                    }
                }
                Action::SetTimer(at) => self.timer = at,
                Action::Removed { id, recipients, bounced } => {
                    let reply = self.removals.remove(&id);
                    let removed = Removal::Removed { recipients: recipients.clone(), bounced };
                    self.shared.spool.complete(
                        id,
                        &recipients,
                        Box::new(move |result| {
                            let answer = match result {
                                Ok(()) => removed,
                                Err(e) => {
                                    tracing::warn!(msg_id = %id, error = %e, "could not record removed recipients in the spool");
                                    Removal::Failed(format!(
                                        "could not record the removal in the spool ({e}); the recipients come back at the next start"
                                    ))
                                }
                            };
                            if let Some(reply) = reply {
                                let _ = reply.send(answer);
                            }
                        }),
                    )
                }
                Action::RemovalFailed { id, reason } => {
                    if let Some(reply) = self.removals.remove(&id) {
                        let _ = reply.send(Removal::Failed(reason));
                    }
                }
                Action::Trace { direction, events } => self.record(direction, events),
            }
        }
        let queue = &metrics::global().queue;
        for (gauge, count) in queue.iter().zip(self.core.state_counts()) {
            gauge.set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// Counts each recipient's outcome and hands the steps to the trace.
    fn record(&self, direction: trace::Direction, events: Vec<trace::RecipientEvent>) {
        let m = metrics::global();
        for event in &events {
            let outcome = match event.outcome {
                trace::Outcome::Delivered { .. } => DeliveryOutcome::Delivered,
                trace::Outcome::Deferred { .. } => DeliveryOutcome::Deferred,
                trace::Outcome::Bounced { .. } => DeliveryOutcome::Bounced,
                trace::Outcome::Expired { .. } => DeliveryOutcome::Expired,
                trace::Outcome::Routed { .. } | trace::Outcome::Notified { .. } => continue,
            };
            m.delivery(direction, outcome);
        }
        if self.shared.recorder.is_on() {
            events.into_iter().for_each(|e| self.shared.recorder.record(trace::TraceEvent::Recipient(e)));
        }
    }
}
