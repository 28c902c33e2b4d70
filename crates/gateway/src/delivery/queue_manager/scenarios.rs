//! The queue manager's state machine in simulated time: a small world performs its actions
//! (loads from a simulated spool, attempts to a destination whose answers the scenario
//! scripts, notifications), reports back after a simulated delay and jumps the clock to the
//! next event or timer. Days of queue life run in milliseconds, and every decision is
//! checked where it is made.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bounce::Action as DsnAction;
use bounce::{ProblemKind, SmtpStage};
use smtp_wire::reply::code;
use smtp_wire::{Address, ClientInfo, Envelope, Recipient, Reply, ReversePath};
use spool::{MessageId, Schedule};

use super::core::{Action, Event, Job, Loaded, QueueCore, Recovered, RemoveRefused};
use crate::delivery::outbound::TlsMode;
use crate::delivery::routing::{Destination, Route};
use crate::delivery::{Failure, Outcome};
use crate::settings::DeliveryConfig;

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// How long the world takes to answer each action.
const LOAD_MS: u64 = 1;
const ATTEMPT_MS: u64 = 2 * SECOND;
const NOTIFY_MS: u64 = 5;

/// A message as the simulated spool holds it.
#[derive(Debug, Clone)]
struct Stored {
    envelope: Arc<Envelope>,
    received_at_unix_ms: u64,
    done: BTreeSet<u32>,
    schedule: Schedule,
}

/// What the destination answers at a time.
type Answer = fn(u64) -> Outcome;

/// How an operator's removal was answered: the recipients removed and whether they were
/// bounced, or why nothing was removed.
type Answered = Result<(Vec<u32>, bool), String>;

struct World {
    core: QueueCore,
    config: DeliveryConfig,
    now: u64,
    events: BTreeMap<(u64, u64), Event>,
    sequence: u64,
    timer: Option<u64>,
    spool: BTreeMap<MessageId, Stored>,
    answer: Answer,
    /// Start times of the attempts.
    attempts: Vec<u64>,
    /// When the destination asked to slow down, with the end of the pause it asked for.
    pauses: Vec<(u64, u64)>,
    /// Copies delivered, per message and recipient.
    delivered: HashMap<(MessageId, u32), u32>,
    /// Notifications sent: message, what each reported, when.
    notices: Vec<(MessageId, Vec<DsnAction>, u64)>,
    /// The most messages ever loading, active or settling at once.
    loaded_max: usize,
    /// Messages received so far, for their ids.
    received: u64,
    /// Whether notifications reach the spool.
    notices_spooled: bool,
    /// The statuses of the reports of each notification, in order.
    notice_statuses: Vec<Vec<String>>,
    /// Operators' removals as answered: the message, the recipients removed and whether
    /// they were bounced, or why nothing was removed.
    removals: Vec<(MessageId, Answered)>,
    /// Recipients' steps, as the trace gets them.
    steps: Vec<trace::RecipientEvent>,
}

fn destination() -> Destination {
    Destination::Mx { domain: "slow.test".into(), tls: TlsMode::Opportunistic }
}

fn envelope(recipients: u32) -> Envelope {
    let rcpts = (0..recipients).map(|i| Recipient::new(Address::new(format!("r{i}"), "slow.test"))).collect();
    let sender = ReversePath::Mailbox(Address::new("alice", "sluice.test"));
    Envelope::new(sender, rcpts, ClientInfo::new("192.0.2.1".parse().expect("ip"), "client.test"))
}

fn deferred(throttled: bool) -> Outcome {
    Outcome::Deferred(if throttled {
        let reply = Reply::new(421, code(4, 7, 0), "too many messages, slow down");
        Failure::from_reply(&reply, "mx.slow.test", SmtpStage::RcptTo)
    } else {
        Failure::local(code(4, 4, 1), ProblemKind::ConnectionRefused, "connection refused")
    })
}

impl World {
    fn new(config: DeliveryConfig, answer: Answer) -> World {
        World {
            core: QueueCore::new(config.clone(), Vec::new(), 0),
            config,
            now: 0,
            events: BTreeMap::new(),
            sequence: 0,
            timer: None,
            spool: BTreeMap::new(),
            answer,
            attempts: Vec::new(),
            pauses: Vec::new(),
            delivered: HashMap::new(),
            notices: Vec::new(),
            loaded_max: 0,
            received: 0,
            notices_spooled: true,
            notice_statuses: Vec::new(),
            removals: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// Spools `count` messages now, as the enqueue step does.
    fn receive(&mut self, count: u64) {
        self.receive_with(count, 1);
    }

    /// Spools `count` messages of `recipients` recipients each now.
    fn receive_with(&mut self, count: u64, recipients: u32) {
        for n in 0..count {
            let id = MessageId(1_000_000 + self.received + n);
            let envelope = envelope(recipients);
            let stored = Stored {
                envelope: Arc::new(envelope.clone()),
                received_at_unix_ms: self.now,
                done: BTreeSet::new(),
                schedule: Schedule::default(),
            };
            self.spool.insert(id, stored);
            self.core.handle(self.now, Event::Spooled(Job::spooled(id, envelope, self.now)));
        }
        self.received += count;
    }

    /// A crash and a start: what was in flight is lost; the new queue manager recovers the
    /// spool as it was written.
    fn restart(&mut self) {
        self.events.clear();
        self.timer = None;
        let recovered = self
            .spool
            .iter()
            .map(|(id, stored)| Recovered {
                id: *id,
                received_at_unix_ms: stored.received_at_unix_ms,
                recipients: stored.envelope.recipients.len() as u32,
                done: stored.done.iter().copied().collect(),
                schedule: stored.schedule,
            })
            .collect();
        self.core = QueueCore::new(self.config.clone(), recovered, self.now);
    }

    fn later(&mut self, delay: u64, event: Event) {
        self.sequence += 1;
        self.events.insert((self.now + delay, self.sequence), event);
    }

    fn perform(&mut self) {
        while let Some(action) = self.core.next_action() {
            match action {
                Action::Load(job) => self.load(job),
                Action::Deliver { destination, work } => {
                    assert!(!self.paused(), "an attempt at {} while the destination is paused", self.now);
                    self.attempts.push(self.now);
                    let outcome = (self.answer)(self.now);
                    let results = work
                        .iter()
                        .map(|w| {
                            (w.unit.id, w.unit.recipients.iter().map(|i| (*i, outcome.clone())).collect())
                        })
                        .collect();
                    self.later(ATTEMPT_MS, Event::AttemptFinished { destination, results });
                }
                Action::Notify { id, reports, .. } => {
                    self.notices.push((id, reports.iter().map(|r| r.action()).collect(), self.now));
                    self.notice_statuses.push(reports.iter().map(|r| r.status().to_string()).collect());
                    self.later(NOTIFY_MS, Event::Notified { id, spooled: self.notices_spooled });
                }
                Action::Removed { id, recipients, bounced } => {
                    self.mark_done(id, &recipients);
                    self.removals.push((id, Ok((recipients, bounced))));
                }
                Action::RemovalFailed { id, reason } => self.removals.push((id, Err(reason))),
                Action::MarkDone { id, recipients } => self.mark_done(id, &recipients),
                Action::WriteSchedule { id, schedule } => {
                    self.spool.get_mut(&id).expect("a live message").schedule = schedule;
                }
                Action::OutboundOutcomes { .. } => {}
                Action::SetTimer(at) => self.timer = at,
                Action::Trace { events, .. } => self.steps.extend(events),
            }
        }
        self.loaded_max = self.loaded_max.max(self.core.loaded());
    }

    fn load(&mut self, mut job: Job) {
        let stored = self.spool.get(&job.id()).expect("a live message");
        let envelope = job.take_envelope().unwrap_or_else(|| Arc::clone(&stored.envelope));
        let route = || Ok(Route { destination: destination(), mailbox: None });
        let routes = job.pending().iter().map(|i| (*i, route())).collect();
        self.later(LOAD_MS, Event::Loaded(Ok(Loaded { job, envelope, routes })));
    }

    fn mark_done(&mut self, id: MessageId, recipients: &[u32]) {
        let stored = self.spool.get_mut(&id).expect("a live message");
        stored.done.extend(recipients);
        if stored.done.len() == stored.envelope.recipients.len() {
            self.spool.remove(&id);
        }
    }

    fn paused(&self) -> bool {
        self.pauses.iter().any(|(from, until)| (*from..*until).contains(&self.now))
    }

    /// Runs until nothing is left to happen before `end`; the clock then stands at `end`.
    fn run_until(&mut self, end: u64) {
        loop {
            self.perform();
            let next_event = self.events.keys().next().copied();
            let next = match (next_event, self.timer) {
                (Some((at, _)), Some(timer)) if timer < at => timer,
                (Some((at, _)), _) => at,
                (None, Some(timer)) => timer,
                (None, None) => break,
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            match next_event {
                Some(key) if key.0 == next => {
                    let event = self.events.remove(&key).expect("the next event");
                    if let Event::AttemptFinished { results, .. } = &event {
                        self.count_deliveries(results);
                    }
                    if throttled(&event) {
                        // The pause starts when the queue manager learns of it.
                        let pause = self.config.destination_pause.as_millis() as u64;
                        self.pauses.push((self.now, self.now + pause));
                    }
                    self.core.handle(self.now, event);
                }
                _ => self.core.handle(self.now, Event::TimerDue),
            }
        }
        self.now = self.now.max(end);
    }

    fn count_deliveries(&mut self, results: &[(MessageId, Vec<(u32, Outcome)>)]) {
        for (id, outcomes) in results {
            for (index, outcome) in outcomes {
                if matches!(outcome, Outcome::Delivered { .. }) {
                    *self.delivered.entry((*id, *index)).or_default() += 1;
                }
            }
        }
    }
}

/// A remote server took it (a local delivery would be reported to a `NOTIFY=SUCCESS` sender).
fn delivered() -> Outcome {
    Outcome::Delivered { remote: Some("mx.slow.test".into()), reply: None }
}

fn throttled(event: &Event) -> bool {
    let Event::AttemptFinished { results, .. } = event else { return false };
    results.iter().flat_map(|(_, o)| o).any(|(_, o)| matches!(o, Outcome::Deferred(f) if f.throttled))
}

fn config() -> DeliveryConfig {
    DeliveryConfig::new("/nonexistent".into())
}

/// A thousand messages to a destination that answers `421 4.7.0` for half an hour, then
/// takes everything: Sluice never attempts it while paused, tries it only a few times while
/// it throttles, and delivers every message exactly once within the hour after it recovers.
#[test]
fn a_thousand_messages_to_a_destination_that_throttles_then_recovers() {
    const RECOVERS_AT: u64 = 30 * MINUTE;
    let answer: Answer = |now| if now < RECOVERS_AT { deferred(true) } else { delivered() };
    let mut world = World::new(config(), answer);
    world.receive(1000);
    world.run_until(RECOVERS_AT);
    let while_throttling = world.attempts.len();
    assert!(!world.pauses.is_empty(), "the destination asked to slow down");
    // Each pause lets one wave of `destination_concurrency` attempts through, no more.
    let waves = world.pauses.len();
    assert!(
        while_throttling <= waves * world.config.destination_concurrency,
        "{while_throttling} attempts in {waves} waves"
    );
    assert!(while_throttling <= 5 * world.config.destination_concurrency, "backing off: {while_throttling}");
    assert!(world.delivered.is_empty());
    world.run_until(RECOVERS_AT + 2 * HOUR);
    assert!(world.spool.is_empty(), "{} messages left", world.spool.len());
    assert_eq!(world.delivered.len(), 1000, "every message delivered");
    assert!(world.delivered.values().all(|n| *n == 1), "and only once");
    assert!(world.notices.is_empty(), "no delay notice within four hours, no bounce");
    let last = world.attempts.last().copied().unwrap_or_default();
    assert!(
        last < RECOVERS_AT + HOUR,
        "the backlog waited {}s after the recovery",
        (last - RECOVERS_AT) / SECOND
    );
}

/// A message whose server never answers: one delay notice after four hours, kept across
/// restarts (the schedule says it was sent), then a bounce when it expires after five
/// days. A restart waits for the persisted next attempt rather than retrying at once.
#[test]
fn expiry_and_delay_notices_across_restarts() {
    let mut world = World::new(config(), |_| deferred(false));
    world.receive(1);
    world.run_until(2 * HOUR);
    let before = world.attempts.len();
    let next = world.spool.values().next().expect("queued").schedule.next_attempt_unix_ms;
    assert!(next > world.now, "a retry is scheduled");
    world.restart();
    world.run_until(next - 1);
    assert_eq!(world.attempts.len(), before, "no attempt before the persisted next one");
    world.run_until(5 * HOUR);
    let delay: Vec<_> = world.notices.iter().map(|(_, actions, _)| actions.clone()).collect();
    assert_eq!(delay, [vec![DsnAction::Delayed]], "one delay notice after four hours");
    assert!(world.notices[0].2 >= 4 * HOUR);
    assert!(world.spool.values().all(|m| m.schedule.delay_notified), "and the spool knows it was sent");
    world.restart();
    world.run_until(6 * DAY);
    let actions: Vec<_> = world.notices.iter().map(|(_, actions, _)| actions.clone()).collect();
    assert_eq!(actions, [vec![DsnAction::Delayed], vec![DsnAction::Failed]], "no second delay notice");
    let bounced_at = world.notices[1].2;
    let max_age = world.config.retry.max_age.as_millis() as u64;
    assert!((max_age..max_age + HOUR).contains(&bounced_at), "bounced at {}h", bounced_at / HOUR);
    assert!(world.spool.is_empty(), "the bounced recipient is finished");
}

/// A backlog far larger than the active window, fresh mail and recovered retries alike:
/// never more than `active_messages_max` messages are loaded, fresh mail is not starved by
/// the retries, and everything is delivered.
#[test]
fn the_active_window_holds_under_a_backlog() {
    let config = DeliveryConfig { active_messages_max: 100, ..config() };
    let mut world = World::new(config.clone(), |_| delivered());
    // 3000 messages left over from an earlier run, due now, then 5000 new ones.
    world.now = HOUR;
    for n in 0..3000u64 {
        let stored = Stored {
            envelope: Arc::new(envelope(2)),
            received_at_unix_ms: 0,
            done: BTreeSet::from([0]),
            schedule: Schedule { attempts: 1, next_attempt_unix_ms: HOUR - 1, delay_notified: false },
        };
        world.spool.insert(MessageId(n + 1), stored);
    }
    world.restart();
    world.receive(5000);
    world.run_until(HOUR + 10 * SECOND);
    let fresh_done = world.delivered.keys().filter(|(id, _)| id.0 > 3000).count();
    let retries_done = world.delivered.keys().filter(|(id, _)| id.0 <= 3000).count();
    assert!(
        fresh_done > 0 && retries_done > 0,
        "fresh {fresh_done}, retries {retries_done}: they take turns"
    );
    world.run_until(DAY);
    assert!(world.loaded_max <= 100, "{} messages loaded at once", world.loaded_max);
    assert!(world.loaded_max >= 80, "the window was used: {}", world.loaded_max);
    assert!(world.spool.is_empty(), "{} messages left", world.spool.len());
    assert_eq!(world.delivered.len(), 8000);
}

/// The operator makes one waiting message due now (`queue-retry`): it is attempted at once,
/// the others keep their schedule; an id that is not waiting is refused.
#[test]
fn the_operator_retries_one_waiting_message() {
    let mut world = World::new(config(), |_| deferred(false));
    world.receive(2);
    world.run_until(10 * SECOND);
    let attempts = world.attempts.len();
    let first = *world.spool.keys().next().expect("queued");
    assert!(world.core.retry(world.now, first), "it was waiting");
    assert!(!world.core.retry(world.now, MessageId(7)), "an unknown id");
    world.run_until(11 * SECOND);
    assert_eq!(world.attempts.len(), attempts + 1, "one attempt, for the one message made due");
}

/// The operator deletes a waiting message with a bounce: one notification reporting it
/// failed with `5.3.0`, and the recipient is finished only once that bounce is spooled; it
/// is never attempted again.
#[test]
fn the_operator_deletes_a_waiting_message_with_a_bounce() {
    let mut world = World::new(config(), |_| deferred(false));
    world.receive(1);
    world.run_until(10 * SECOND);
    let id = *world.spool.keys().next().expect("queued");
    let attempts = world.attempts.len();
    world.core.remove(world.now, id, None, true).expect("a waiting message");
    world.perform();
    assert!(world.spool.contains_key(&id), "nothing finished before the bounce is durable");
    world.run_until(DAY);
    assert_eq!(
        world.notice_statuses,
        [vec!["5.3.0".to_string()]],
        "one bounce saying an administrator removed it"
    );
    assert_eq!(world.removals, [(id, Ok((vec![0], true)))]);
    assert!(world.spool.is_empty(), "the recipient is finished");
    assert_eq!(world.attempts.len(), attempts, "and never tried again");
}

/// A bounce that cannot be spooled removes nothing: the operator is told, and the message
/// keeps its recipients and its schedule.
#[test]
fn a_removal_whose_bounce_cannot_be_spooled_removes_nothing() {
    let mut world = World::new(config(), |_| deferred(false));
    world.receive(1);
    world.run_until(10 * SECOND);
    let id = *world.spool.keys().next().expect("queued");
    let schedule = world.spool[&id].schedule;
    world.notices_spooled = false;
    world.core.remove(world.now, id, None, true).expect("a waiting message");
    world.run_until(11 * SECOND);
    assert!(matches!(&world.removals[..], [(removed, Err(_))] if *removed == id), "{:?}", world.removals);
    assert!(world.spool[&id].done.is_empty(), "the recipient is still pending");
    assert_eq!(world.spool[&id].schedule, schedule, "and its schedule unchanged");
    let entries = world.core.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].state, entries[0].pending), ("waiting", 1));
}

/// Removing one recipient of two without a bounce: it is finished at once with no
/// notification; the other keeps its schedule and is retried when it is due.
#[test]
fn the_operator_removes_one_recipient_silently() {
    let mut world = World::new(config(), |_| deferred(false));
    world.receive_with(1, 2);
    world.run_until(10 * SECOND);
    let id = *world.spool.keys().next().expect("queued");
    let next = world.spool[&id].schedule.next_attempt_unix_ms;
    let attempts = world.attempts.len();
    world.core.remove(world.now, id, Some(vec![1]), false).expect("a waiting message");
    world.perform();
    assert_eq!(world.removals, [(id, Ok((vec![1], false)))]);
    assert_eq!(world.spool[&id].done, BTreeSet::from([1]));
    world.run_until(next - 1);
    assert_eq!(world.attempts.len(), attempts, "the other recipient waits for its schedule");
    world.run_until(next + 10 * SECOND);
    assert_eq!(world.attempts.len(), attempts + 1, "and is tried when it is due");
    assert!(world.notices.is_empty(), "no bounce was asked for");
}

/// What the queue manager refuses at once: an unknown id, a message being delivered, a
/// recipient already finished.
#[test]
fn removals_the_queue_manager_refuses() {
    let mut world = World::new(config(), |_| deferred(false));
    world.receive_with(1, 2);
    let id = *world.spool.keys().next().expect("queued");
    world.run_until(LOAD_MS);
    assert_eq!(world.core.remove(world.now, id, None, true), Err(RemoveRefused::Busy), "being delivered");
    assert_eq!(world.core.remove(world.now, MessageId(7), None, true), Err(RemoveRefused::Unknown));
    world.run_until(10 * SECOND);
    world.core.remove(world.now, id, Some(vec![0]), false).expect("waiting");
    world.perform();
    let again = world.core.remove(world.now, id, Some(vec![0, 1]), false);
    assert_eq!(again, Err(RemoveRefused::NotPending(0)), "already removed");
    assert_eq!(world.core.remove(world.now, id, Some(vec![5]), false), Err(RemoveRefused::NotPending(5)));
    assert_eq!(world.spool[&id].done, BTreeSet::from([0]), "the refusals changed nothing");
}

/// What the trace is told of a message deferred once and then delivered: each attempt's
/// routing and outcome in order, the deferral naming the next attempt (the one that came);
/// a message that never gets through ends with its expiry.
#[test]
fn each_step_of_a_message_reaches_the_trace_in_order() {
    let mut world = World::new(config(), |now| if now < MINUTE { deferred(false) } else { delivered() });
    world.receive(1);
    world.run_until(HOUR);
    let kinds: Vec<&str> = world
        .steps
        .iter()
        .map(|s| match &s.outcome {
            trace::Outcome::Routed { to } => {
                assert_eq!(to, "mx:slow.test");
                "routed"
            }
            trace::Outcome::Deferred { .. } => "deferred",
            trace::Outcome::Delivered { .. } => "delivered",
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["routed", "deferred", "routed", "delivered"]);
    let trace::Outcome::Deferred { reply, next_attempt_unix_ms: Some(next) } = &world.steps[1].outcome else {
        panic!("a deferral with its next attempt: {:?}", world.steps[1])
    };
    assert!(reply.starts_with("4.4.1 connection refused"), "{reply}");
    let second = world.attempts.get(1).copied().unwrap_or_default();
    assert!((*next..*next + SECOND).contains(&second), "announced for {next}, came at {second}");
    assert!(
        world
            .steps
            .iter()
            .all(|s| s.recipient == "r0@slow.test" && s.message == MessageId(1_000_000).to_string())
    );

    let mut world = World::new(config(), |_| deferred(false));
    world.receive(1);
    world.run_until(6 * DAY);
    let last = world.steps.last().map(|s| &s.outcome);
    assert!(
        matches!(last, Some(trace::Outcome::Expired { reply }) if reply.contains("connection refused")),
        "{last:?}"
    );
}
