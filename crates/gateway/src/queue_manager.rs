//! The queue manager: the one owner of delivery decisions. It keeps every live message
//! either ready, in flight or waiting for its retry time; runs a bounded number of
//! delivery attempts at once; records finished recipients in the spool; and schedules
//! retries with exponential backoff. Delivery attempts only report outcomes.
//!
//! Until bounces exist (a later step), a recipient that cannot be delivered stays queued
//! and is retried; nothing accepted is ever dropped.

use std::collections::{BTreeMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use smtp_wire::Envelope;
use spool::{MessageId, Spool, SpooledMessage};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::maildir::{MaildirDelivery, MaildirMessage};
use crate::settings::DeliveryConfig;

/// Messages handed to one delivery task at once: their copies share the file system syncs.
const BATCH_JOBS_MAX: usize = 64;

/// A message the queue manager is responsible for.
#[derive(Debug)]
struct Job {
    id: MessageId,
    envelope: Arc<Envelope>,
    received_at_unix_ms: u64,
    /// Recipient indices not yet finished.
    pending: Vec<u32>,
    attempts: u32,
    /// Recovered from the spool at start: an earlier run may have delivered part of it.
    recovered: bool,
}

/// Submits newly spooled messages to the queue manager.
#[derive(Clone, Debug)]
pub struct QueueHandle {
    tx: mpsc::UnboundedSender<Job>,
}

impl QueueHandle {
    pub(crate) fn submit(&self, id: MessageId, envelope: smtp_wire::Envelope, received_at_unix_ms: u64) {
        let pending = (0..envelope.recipients.len() as u32).collect();
        let job = Job {
            id,
            envelope: Arc::new(envelope),
            received_at_unix_ms,
            pending,
            attempts: 0,
            recovered: false,
        };
        // The receiver lives as long as the gateway; after shutdown the message stays in
        // the spool and is recovered at the next start.
        let _ = self.tx.send(job);
    }
}

struct Attempt {
    job: Job,
    delivered: Vec<u32>,
    failed: Vec<(u32, String)>,
}

pub(crate) struct QueueManager {
    spool: Spool,
    delivery: Arc<MaildirDelivery>,
    config: DeliveryConfig,
    incoming: mpsc::UnboundedReceiver<Job>,
    ready: VecDeque<Job>,
    waiting: BTreeMap<(Instant, MessageId), Job>,
    active: JoinSet<Vec<Attempt>>,
}

impl QueueManager {
    pub(crate) fn new(
        spool: Spool,
        delivery: MaildirDelivery,
        config: DeliveryConfig,
        recovered: Vec<SpooledMessage>,
    ) -> (QueueManager, QueueHandle) {
        let ready = recovered.into_iter().filter_map(recovered_job).collect();
        let (tx, incoming) = mpsc::unbounded_channel();
        let manager = QueueManager {
            spool,
            incoming,
            delivery: Arc::new(delivery),
            config,
            ready,
            waiting: BTreeMap::new(),
            active: JoinSet::new(),
        };
        (manager, QueueHandle { tx })
    }

    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            self.dispatch();
            let wake = self.waiting.keys().next().map(|(at, _)| *at);
            tokio::select! {
                job = self.incoming.recv() => match job {
                    Some(job) => self.ready.push_back(job),
                    None => break,
                },
                Some(done) = self.active.join_next(), if !self.active.is_empty() => match done {
                    Ok(attempts) => attempts.into_iter().for_each(|a| self.settle(a)),
                    Err(e) => tracing::error!(error = %e, "delivery task failed"),
                },
                _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => self.wake_due(),
                _ = stop.changed() => break,
            }
        }
        // Let attempts in flight finish so their outcomes are recorded.
        while let Some(done) = self.active.join_next().await {
            if let Ok(attempts) = done {
                attempts.into_iter().for_each(|a| self.settle(a));
            }
        }
    }

    fn dispatch(&mut self) {
        while self.active.len() < self.config.concurrency && !self.ready.is_empty() {
            let take = self.ready.len().min(BATCH_JOBS_MAX);
            let jobs: Vec<Job> = self.ready.drain(..take).collect();
            let spool = self.spool.clone();
            let delivery = Arc::clone(&self.delivery);
            self.active.spawn_blocking(move || attempt_batch(&spool, &delivery, jobs));
        }
    }

    fn wake_due(&mut self) {
        let now = Instant::now();
        while let Some(entry) = self.waiting.first_entry() {
            if entry.key().0 > now {
                break;
            }
            self.ready.push_back(entry.remove());
        }
    }

    fn settle(&mut self, attempt: Attempt) {
        let Attempt { mut job, delivered, failed } = attempt;
        if !delivered.is_empty() {
            let id = job.id;
            self.spool.complete(
                id,
                &delivered,
                Box::new(move |result| {
                    if let Err(e) = result {
                        tracing::warn!(msg_id = %id, error = %e, "could not record delivery in the spool");
                    }
                }),
            );
            job.pending.retain(|i| !delivered.contains(i));
        }
        if failed.is_empty() {
            return;
        }
        job.attempts += 1;
        let delay = retry_delay(&self.config, job.attempts);
        for (index, reason) in &failed {
            tracing::warn!(msg_id = %job.id, recipient = index, attempts = job.attempts, retry_in_s = delay.as_secs(), %reason, "delivery deferred");
        }
        self.waiting.insert((Instant::now() + delay, job.id), job);
    }
}

fn retry_delay(config: &DeliveryConfig, attempts: u32) -> Duration {
    let factor = 1u32.checked_shl(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
    config.retry_first.saturating_mul(factor).min(config.retry_max)
}

fn recovered_job(message: SpooledMessage) -> Option<Job> {
    let pending: Vec<u32> =
        (0..message.envelope.recipients.len() as u32).filter(|i| !message.done.contains(i)).collect();
    (!pending.is_empty()).then(|| Job {
        id: message.id,
        envelope: Arc::new(message.envelope),
        received_at_unix_ms: message.received_at_unix_ms,
        pending,
        attempts: 0,
        recovered: true,
    })
}

/// One delivery attempt for all pending recipients of several jobs; runs on a blocking
/// thread. A panic fails the attempt (the jobs are retried), never the process.
fn attempt_batch(spool: &Spool, delivery: &MaildirDelivery, jobs: Vec<Job>) -> Vec<Attempt> {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| deliver_jobs(spool, delivery, &jobs)));
    let results = outcome.unwrap_or_else(|_| {
        jobs.iter()
            .map(|job| job.pending.iter().map(|i| (*i, Err("delivery attempt panicked".into()))).collect())
            .collect()
    });
    jobs.into_iter()
        .zip(results)
        .map(|(job, results)| {
            let mut attempt = Attempt { job, delivered: Vec::new(), failed: Vec::new() };
            for (index, result) in results {
                match result {
                    Ok(()) => attempt.delivered.push(index),
                    Err(reason) => attempt.failed.push((index, reason)),
                }
            }
            attempt
        })
        .collect()
}

type RecipientResults = Vec<(u32, Result<(), String>)>;

fn deliver_jobs(spool: &Spool, delivery: &MaildirDelivery, jobs: &[Job]) -> Vec<RecipientResults> {
    let ids: Vec<String> = jobs.iter().map(|j| j.id.to_string()).collect();
    let data: Vec<Result<Vec<u8>, String>> =
        jobs.iter().map(|j| spool.read_data(j.id).map_err(|e| e.to_string())).collect();
    let messages: Vec<Option<MaildirMessage<'_>>> = jobs
        .iter()
        .zip(&ids)
        .zip(&data)
        .map(|((job, id), data)| {
            let data = data.as_ref().ok()?;
            Some(MaildirMessage {
                id,
                received_at_unix_ms: job.received_at_unix_ms,
                envelope: &job.envelope,
                data,
                check_existing: job.recovered || job.attempts > 0,
            })
        })
        .collect();
    let items: Vec<(&MaildirMessage<'_>, u32)> = messages
        .iter()
        .zip(jobs)
        .filter_map(|(m, job)| m.as_ref().map(|m| (m, job)))
        .flat_map(|(m, job)| job.pending.iter().map(move |i| (m, *i)))
        .collect();
    let mut delivered = delivery.deliver_batch(&items).into_iter();
    jobs.iter()
        .zip(&data)
        .map(|(job, data)| match data {
            Err(e) => job.pending.iter().map(|i| (*i, Err(e.clone()))).collect(),
            Ok(_) => job
                .pending
                .iter()
                .map(|i| {
                    let result = delivered.next().map(|r| r.map_err(|e| e.to_string()));
                    (*i, result.unwrap_or_else(|| Err("delivery produced no result".into())))
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let config = DeliveryConfig {
            maildir_root: "/x".into(),
            concurrency: 1,
            retry_first: Duration::from_secs(60),
            retry_max: Duration::from_secs(600),
        };
        let delays: Vec<u64> = (1..=6).map(|a| retry_delay(&config, a).as_secs()).collect();
        assert_eq!(delays, [60, 120, 240, 480, 600, 600]);
        assert_eq!(retry_delay(&config, 200).as_secs(), 600);
    }
}
