//! The work the queue manager's shell hands to tasks: loading and routing a message,
//! Maildir batches, remote deliveries, and writing and spooling a notification. Each
//! reports back an event; none decides.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use bounce::{ProblemKind, RecipientReport};
use smtp_wire::reply::code;
use smtp_wire::{Envelope, ReversePath};
use spool::MessageId;
use tokio::task::JoinSet;

use super::Delivery;
use super::core::{Event, Job, Loaded, Work};
use crate::delivery::maildir::{MaildirCopy, MaildirMessage, MessageSource, stream_to};
use crate::delivery::notify::{Notice, Notification};
use crate::delivery::remote;
use crate::delivery::routing::Destination;
use crate::delivery::{Failure, Outcome};
use crate::metrics::{self, AttemptKind};

/// Writes the notification about `reports` (on a blocking thread: it reads the original)
/// and spools it through the enqueue step, waiting until it is durable. `false` when it
/// could not be spooled (the failed recipients then stay queued and bounce at the next
/// attempt); `true` also when none was due, which is logged with the reason.
pub(super) async fn notify(
    shared: Arc<Delivery>,
    id: MessageId,
    envelope: Arc<Envelope>,
    received_at_unix_ms: u64,
    now: u64,
    reports: Vec<RecipientReport>,
) -> bool {
    let (writer, recipients) = (Arc::clone(&shared), reports.len());
    let notified: Vec<usize> = reports.iter().map(RecipientReport::index).collect();
    let reports_actions: Vec<bounce::Action> = reports.iter().map(RecipientReport::action).collect();
    let original = Arc::clone(&envelope);
    let rendered = tokio::task::spawn_blocking(move || {
        let original = match writer.spool.read_data(id) {
            Ok(data) => data,
            Err(e) => {
                tracing::error!(msg_id = %id, error = %e, "cannot read the message for its notification");
                return None;
            }
        };
        Some(writer.notifier.render(id, &envelope, &original, received_at_unix_ms, now, &reports))
    })
    .await;
    let Notification { envelope: notice, data } = match rendered {
        Ok(Some(Ok(Notice::Ready(notification)))) => *notification,
        Ok(Some(Ok(Notice::NotDue(why)))) => {
            tracing::info!(msg_id = %id, recipients, reason = %why, "no notification sent");
            return true;
        }
        Ok(Some(Err(e))) => {
            // A notification Sluice cannot write is a bug; holding the message would not fix it.
            tracing::error!(msg_id = %id, error = %e, "cannot write the notification");
            return true;
        }
        Ok(None) | Err(_) => return false,
    };
    let kind = notification_kind(&reports_actions);
    match shared.enqueue.store_notification(notice, data, now).await {
        Ok(notice_id) => {
            tracing::info!(msg_id = %id, notice_id = %notice_id, "notification queued");
            crate::fault::notification_durable().await;
            let notification = format!("{kind} queued as {notice_id}");
            for index in notified {
                let recipient =
                    original.recipients.get(index).map(|r| r.address.to_string()).unwrap_or_default();
                let outcome = trace::Outcome::Notified { notification: notification.clone() };
                let event =
                    trace::RecipientEvent { message: id.to_string(), at_unix_ms: now, recipient, outcome };
                shared.recorder.record(trace::TraceEvent::Recipient(event));
            }
            true
        }
        Err(e) => {
            tracing::error!(msg_id = %id, error = %e, "cannot spool the notification; the recipients stay queued");
            false
        }
    }
}

/// What a notification is, as the trace names it: a bounce when it reports a failure, a
/// delay notice, or a delivery report (`NOTIFY=SUCCESS`).
fn notification_kind(actions: &[bounce::Action]) -> &'static str {
    match actions.iter().min() {
        Some(bounce::Action::Failed) => "bounce",
        Some(bounce::Action::Delayed) => "delay notice",
        _ => "delivery report",
    }
}

/// Loads the message (its envelope, unless the job holds it) and routes its pending
/// recipients, on a blocking thread. A panic fails the load, which is retried later.
pub(super) fn spawn_load(tasks: &mut JoinSet<Event>, shared: &Arc<Delivery>, job: Job) {
    let shared = Arc::clone(shared);
    let backup = job.clone();
    tasks.spawn_blocking(move || {
        let loaded = std::panic::catch_unwind(AssertUnwindSafe(|| load(&shared, job)));
        Event::Loaded(loaded.unwrap_or_else(|_| Err((backup, "loading or routing panicked".into()))))
    });
}

fn load(shared: &Delivery, mut job: Job) -> Result<Loaded, (Job, String)> {
    let envelope = match job.take_envelope() {
        Some(envelope) => envelope,
        None => match shared.spool.read_envelope(job.id()) {
            Ok(envelope) => Arc::new(envelope),
            Err(e) => return Err((job, e.to_string())),
        },
    };
    if job.is_removal() {
        // Bounced as removed, not delivered: nothing to route.
        return Ok(Loaded { job, envelope, routes: Vec::new() });
    }
    let routes: Vec<_> =
        job.pending().iter().map(|&index| (index, shared.router.route(&envelope, index))).collect();
    for (index, route) in &routes {
        if let Err(no_route) = route
            && envelope.sender == ReversePath::Null
            && no_route.kind == ProblemKind::NoTenantRoute
        {
            // A bounce for the tenant's own user with nowhere to go: the operator (or the
            // tenant admin) must add the route; it waits in the queue.
            tracing::warn!(
                msg_id = %job.id(),
                recipient = %envelope.recipients.get(*index as usize).map(|r| r.address.to_string()).unwrap_or_default(),
                reason = %no_route.reason,
                "notification undeliverable until the tenant has an outbound connector with smart hosts for the domain (sluice connector add NAME --tenant TENANT --direction outbound --recipient-domain DOMAIN --smart-host HOST)"
            );
        }
    }
    Ok(Loaded { job, envelope, routes })
}

/// One delivery attempt: a Maildir batch on a blocking thread, or a remote delivery. A
/// panic in either becomes deferred outcomes for its units.
pub(super) fn spawn_delivery(
    tasks: &mut JoinSet<Event>,
    shared: &Arc<Delivery>,
    destination: Destination,
    work: Vec<Work>,
) {
    let shared = Arc::clone(shared);
    match destination {
        Destination::Maildir => {
            tasks.spawn_blocking(move || {
                let started = Instant::now();
                let results = deliver_maildir(&shared, &work);
                metrics::global().attempt_finished(AttemptKind::Maildir, started.elapsed());
                Event::AttemptFinished { destination: Destination::Maildir, results }
            });
        }
        remote_destination => {
            tasks.spawn(async move {
                // The attempt runs as its own task so that a panic in it becomes deferred
                // outcomes for its units instead of units that never report.
                let units: Vec<(MessageId, Vec<u32>)> =
                    work.iter().map(|w| (w.unit.id, w.unit.recipients.clone())).collect();
                let destination = remote_destination.clone();
                let started = Instant::now();
                let attempt = tokio::spawn(async move { deliver_remote(&shared, &destination, &work).await });
                let results = attempt.await.unwrap_or_else(|e| {
                    tracing::error!(destination = %remote_destination, error = %e, "delivery attempt failed");
                    let failure = Failure::local(
                        code(4, 3, 0),
                        ProblemKind::Internal,
                        "the delivery attempt failed inside Sluice",
                    );
                    let deferred =
                        |rs: &[u32]| rs.iter().map(|i| (*i, Outcome::Deferred(failure.clone()))).collect();
                    units.iter().map(|(id, rs)| (*id, deferred(rs))).collect()
                });
                metrics::global().attempt_finished(AttemptKind::Remote, started.elapsed());
                Event::AttemptFinished { destination: remote_destination, results }
            });
        }
    }
}

fn spool_unreadable(recipients: &[u32], error: impl std::fmt::Display) -> Vec<(u32, Outcome)> {
    let failure = Failure::local(
        code(4, 3, 0),
        ProblemKind::SpoolUnreadable,
        format!("cannot read the message from the spool: {error}"),
    );
    recipients.iter().map(|i| (*i, Outcome::Deferred(failure.clone()))).collect()
}

/// Several messages for one remote destination, over one connection when the server
/// allows; a message whose content cannot be read is deferred without holding the others.
async fn deliver_remote(
    shared: &Arc<Delivery>,
    destination: &Destination,
    work: &[Work],
) -> Vec<(MessageId, Vec<(u32, Outcome)>)> {
    let recipients = work.iter().flat_map(|w| w.unit.recipients.iter().map(|i| (&w.envelope, *i as usize)));
    crate::fault::delivery(
        recipients.filter_map(|(e, i)| Some(e.recipients.get(i)?.address.local_part.as_str())),
    );
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

/// Messages up to this size are read whole once per Maildir batch; larger ones stream from
/// the spool into each copy, so a batch of large messages holds none of them whole.
const MAILDIR_WHOLE_BYTES_MAX: u64 = 1 << 20;

/// A large message's content, streamed from the spool into each copy (its CRC checked by
/// the reader: a damaged message fails the copy instead of being delivered).
#[derive(Debug)]
struct SpooledContent {
    spool: spool::Spool,
    id: MessageId,
}

impl MessageSource for SpooledContent {
    fn write_to(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut reader = self.spool.open_data(self.id).map_err(std::io::Error::other)?;
        stream_to(&mut reader, out)
    }
}

/// A message's content for a Maildir batch: read whole when small, else to be streamed.
fn maildir_content(spool: &spool::Spool, id: MessageId) -> Result<Box<dyn MessageSource>, String> {
    let mut reader = spool.open_data(id).map_err(|e| e.to_string())?;
    if reader.len() > MAILDIR_WHOLE_BYTES_MAX {
        return Ok(Box::new(SpooledContent { spool: spool.clone(), id }));
    }
    let mut data = Vec::with_capacity(reader.len() as usize);
    std::io::Read::read_to_end(&mut reader, &mut data).map_err(|e| e.to_string())?;
    Ok(Box::new(data))
}

/// One Maildir batch; a panic fails the batch (it is retried), never the process.
fn deliver_maildir(shared: &Delivery, work: &[Work]) -> Vec<(MessageId, Vec<(u32, Outcome)>)> {
    // Several units of a batch may be copies of one message: read each message once.
    let mut contents: HashMap<MessageId, Result<Box<dyn MessageSource>, String>> = HashMap::new();
    for w in work {
        contents.entry(w.unit.id).or_insert_with(|| maildir_content(&shared.spool, w.unit.id));
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
                data: data.as_ref(),
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
        .unwrap_or_else(|_| {
            copies.iter().map(|_| Err(crate::delivery::maildir::DeliveryError::Panicked)).collect()
        });
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
                            Some(Ok(())) => Outcome::Delivered { remote: None, reply: None },
                            Some(Err(e)) => Outcome::Deferred(Failure::local(
                                code(4, 3, 0),
                                ProblemKind::LocalDelivery,
                                e.to_string(),
                            )),
                            None => Outcome::Deferred(Failure::local(
                                code(4, 3, 0),
                                ProblemKind::Internal,
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
