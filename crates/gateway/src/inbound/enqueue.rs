//! The enqueue step: the only writer of new messages into the spool, for both kinds of new
//! message. A message a session received gets its `Received:` header, and the session
//! answers `250` only once the spool says it is durable; a notification the queue manager
//! wrote (a bounce, a delay notice) is spooled the same way. Each is then handed to the
//! queue manager.
//!
//! A received message's content arrives in pieces ([`Incoming`]). A small one stays in
//! memory and is spooled in one record after the end of data (the fast path). One that
//! outgrows its in-memory part streams into a data file of the spool as it arrives
//! (`Received:` header first), so what a session holds does not grow with the message.

use std::borrow::Cow;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use directory::SharedSnapshot;
use smtp_wire::{Envelope, Reply, replies};
use spool::{DataWriter, MessageId, Spool, SpoolError};
use tokio::sync::oneshot;

use crate::delivery::queue_manager::QueueHandle;
use crate::inbound::received::received_header;
use crate::metrics;
use crate::record;

/// Mail servers a message may have passed (its `Received:` headers) before Sluice takes it
/// for a loop and refuses it (RFC 5321 6.3; Postfix's `hopcount_limit` is 50 too).
const RECEIVED_HEADERS_MAX: usize = 50;

/// The `Received:` headers in the message's header section.
fn received_headers(content: &[u8]) -> usize {
    content
        .split(|b| *b == b'\n')
        .take_while(|line| !line.is_empty() && *line != b"\r")
        .filter(|line| line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"received:"))
        .count()
}

/// The refusal of a message that has passed more than [`RECEIVED_HEADERS_MAX`] servers.
fn mail_loop(hops: usize) -> Reply {
    Reply::new(
        554,
        smtp_wire::reply::code(5, 4, 6),
        format!(
            "Routing loop detected: the message has passed {hops} mail servers (Received: headers); it is refused to end the loop"
        ),
    )
}

/// What screening found, for the message's log line.
#[derive(Clone, Debug, Default)]
pub(crate) struct Notes {
    /// `spf=... dkim=... arc=... dmarc=...`, when sender authentication ran.
    pub(crate) auth: Option<String>,
    /// The scanner's verdict (or why there is none), when a scanner is configured.
    pub(crate) scan: Option<String>,
    /// The quarantine id, when some recipients were held.
    pub(crate) held: Option<String>,
}

/// The log line of a message held for all its recipients (nothing spooled).
pub(crate) fn log_held(envelope: &Envelope, notes: &Notes) {
    tracing::info!(
        client_ip = %envelope.client.ip,
        helo = %envelope.client.helo,
        sender = %envelope.sender,
        auth = notes.auth.as_deref().unwrap_or("-"),
        scan = notes.scan.as_deref().unwrap_or("-"),
        quarantine_id = notes.held.as_deref().unwrap_or("-"),
        outcome = "held",
        "message"
    );
}

#[derive(Clone, Debug)]
pub(crate) struct Enqueue {
    pub(crate) spool: Spool,
    pub(crate) hostname: String,
    pub(crate) queue: QueueHandle,
    /// Whose the recipients' domains are, for the log line.
    pub(crate) directory: Option<Arc<SharedSnapshot>>,
}

/// The content of a message being received, taken piece by piece ([`Enqueue::take_piece`])
/// and stored at the end of data ([`Enqueue::store`]).
#[derive(Debug)]
pub(crate) struct Incoming {
    in_memory_max: usize,
    /// Keep the in-memory part once streaming: the message is a tenant's outbound mail,
    /// which outbound protection judges by its content.
    keep_head: bool,
    body: Body,
    /// The in-memory part of a streamed message, when kept.
    head: Vec<u8>,
    /// A streamed message's Message-ID and Subject, read from its header section when it
    /// started streaming (for the trace).
    identity: (Option<String>, Option<String>),
    /// Screening, which marks a streamed message's head as not checked.
    unchecked: Option<std::sync::Arc<crate::inbound::screen::Screeners>>,
}

#[derive(Debug)]
enum Body {
    Memory(Vec<u8>),
    Streaming(DataWriter),
    /// Refused before its end (a mail loop seen in the header section, or a spool write
    /// that could not run): the rest is read and dropped, then this is the reply.
    Refused(Reply),
}

impl Incoming {
    /// A message whose content stays in memory up to `in_memory_max` bytes; `keep_head`:
    /// keep that part for outbound protection's judgement if the message streams.
    pub(crate) fn new(in_memory_max: usize, keep_head: bool) -> Incoming {
        Incoming {
            in_memory_max,
            keep_head,
            body: Body::Memory(Vec::new()),
            head: Vec::new(),
            identity: (None, None),
            unchecked: None,
        }
    }

    /// The in-memory part's size limit: a larger message streams to the spool.
    pub(crate) fn in_memory_max(&self) -> usize {
        self.in_memory_max
    }

    /// Marks the head of the message with what screening writes when it cannot see the
    /// whole message (it streams): applied to the in-memory part before it goes to the spool.
    pub(crate) fn mark_unchecked(&mut self, screeners: std::sync::Arc<crate::inbound::screen::Screeners>) {
        self.unchecked = Some(screeners);
    }

    /// The whole content, `tail` included, when it is in memory (the message is then empty
    /// here); else `tail` back: the message streams to the spool.
    pub(crate) fn take_whole(&mut self, tail: Vec<u8>) -> Result<Vec<u8>, Vec<u8>> {
        match &mut self.body {
            Body::Memory(content) => {
                let mut whole = std::mem::take(content);
                if whole.is_empty() {
                    whole = tail;
                } else {
                    whole.extend_from_slice(&tail);
                }
                Ok(whole)
            }
            Body::Streaming(_) | Body::Refused(_) => Err(tail),
        }
    }

    /// The content outbound protection judges, `tail` being what came after the last
    /// piece: all of it, or a streamed message's in-memory part (empty unless kept), which
    /// holds the header section and the start of the body its judgement reads.
    pub(crate) fn judged<'a>(&'a self, tail: &'a [u8]) -> Cow<'a, [u8]> {
        match &self.body {
            Body::Memory(content) if content.is_empty() => Cow::Borrowed(tail),
            Body::Memory(content) => Cow::Owned([content.as_slice(), tail].concat()),
            Body::Streaming(_) | Body::Refused(_) => Cow::Borrowed(&self.head),
        }
    }

    /// The message's Message-ID and Subject, `tail` being what came after the last piece.
    pub(crate) fn identity(&self, tail: &[u8]) -> (Option<String>, Option<String>) {
        match &self.body {
            Body::Memory(content) if content.is_empty() => bounce::message_identity(tail),
            Body::Memory(content) => bounce::message_identity(&[content.as_slice(), tail].concat()),
            Body::Streaming(_) | Body::Refused(_) => self.identity.clone(),
        }
    }
}

/// Writes `parts` into the spool's writer on a blocking thread (a spilled writer does file
/// I/O). A failed write is kept by the writer and reported by its `submit`.
async fn write_blocking<const N: usize>(mut writer: DataWriter, parts: [Vec<u8>; N]) -> Body {
    let written = tokio::task::spawn_blocking(move || {
        for part in &parts {
            if writer.write_all(part).is_err() {
                break;
            }
        }
        writer
    })
    .await;
    match written {
        Ok(writer) => Body::Streaming(writer),
        Err(e) => {
            tracing::error!(error = %e, "spool write task failed; the message will get 451");
            Body::Refused(replies::spool_unavailable())
        }
    }
}

impl Enqueue {
    /// Takes the next piece of `incoming`'s content: into memory while the whole fits its
    /// in-memory part, else into the spool (started now if it was in memory).
    pub(crate) async fn take_piece(&self, incoming: &mut Incoming, envelope: &Envelope, piece: Vec<u8>) {
        let body = std::mem::replace(&mut incoming.body, Body::Memory(Vec::new()));
        incoming.body = match body {
            Body::Memory(mut content) if content.len() + piece.len() <= incoming.in_memory_max => {
                if content.is_empty() {
                    content = piece;
                } else {
                    content.extend_from_slice(&piece);
                }
                Body::Memory(content)
            }
            Body::Memory(content) => {
                let content = match &incoming.unchecked {
                    Some(screeners) => screeners.mark_unchecked(content, incoming.in_memory_max),
                    None => content,
                };
                if incoming.keep_head {
                    incoming.head.clone_from(&content);
                }
                // The header section is in this part: what the trace keeps of it, now.
                incoming.identity = bounce::message_identity(&content);
                self.start_streaming(envelope, content, piece).await
            }
            Body::Streaming(writer) => write_blocking(writer, [piece]).await,
            refused @ Body::Refused(_) => refused,
        };
    }

    /// The message outgrew memory: its `Received:` header, what it had in memory and
    /// `piece` start its data file. A mail loop is refused here already: the header section
    /// is in the part that was in memory.
    async fn start_streaming(&self, envelope: &Envelope, content: Vec<u8>, piece: Vec<u8>) -> Body {
        let hops = received_headers(&content);
        if hops > RECEIVED_HEADERS_MAX {
            return Body::Refused(mail_loop(hops));
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let header = received_header(envelope, &self.hostname, now.as_secs()).into_bytes();
        let mut writer = self.spool.begin_message();
        if let Err(e) = writer.spill_now() {
            // Kept by the writer: the message gets 451 at its end, nothing is held meanwhile.
            tracing::error!(error = %e, "cannot start a data file in the spool");
        }
        write_blocking(writer, [header, content, piece]).await
    }

    /// Stores a received message durably: `tail` is the content after the last piece. The
    /// id on success, the reply to send otherwise. `throttle_accepted` (recipients the
    /// throttle engine judged) goes into the log line.
    pub(crate) async fn store(
        &self,
        envelope: Envelope,
        incoming: Incoming,
        tail: Vec<u8>,
        throttle_accepted: u32,
        notes: &Notes,
    ) -> Result<String, Reply> {
        let started = Instant::now();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let sender_local_part = match &envelope.sender {
            smtp_wire::ReversePath::Mailbox(a) => Some(a.local_part.as_str()),
            smtp_wire::ReversePath::Null => None,
        };
        crate::fault::session(sender_local_part);
        let received_at_unix_ms = now.as_millis() as u64;
        let (outcome, size) = match incoming.body {
            Body::Memory(mut content) => {
                if content.is_empty() {
                    content = tail;
                } else {
                    content.extend_from_slice(&tail);
                }
                let hops = received_headers(&content);
                if hops > RECEIVED_HEADERS_MAX {
                    tracing::warn!(client_ip = %envelope.client.ip, sender = %envelope.sender, hops, "mail loop: message refused");
                    return Err(mail_loop(hops));
                }
                let header = received_header(&envelope, &self.hostname, now.as_secs());
                let mut data = Vec::with_capacity(header.len() + content.len());
                data.extend_from_slice(header.as_bytes());
                data.extend_from_slice(&content);
                drop(content);
                let size = data.len() as u64;
                (self.write(envelope.clone(), received_at_unix_ms, data).await, size)
            }
            Body::Streaming(writer) => self.submit(writer, envelope.clone(), tail, received_at_unix_ms).await,
            Body::Refused(reply) => {
                tracing::warn!(client_ip = %envelope.client.ip, sender = %envelope.sender, reply = %reply, "message refused while streaming");
                return Err(reply);
            }
        };
        let elapsed = started.elapsed();
        let queue_us = elapsed.as_micros() as u64;
        let recipients: Vec<String> = envelope.recipients.iter().map(|r| r.address.to_string()).collect();
        let direction = record::direction(&envelope);
        let attribution = envelope.client.attribution.as_ref();
        let snapshot = self.directory.as_ref().map(|d| d.current());
        let tenants: Vec<String> =
            record::tenants(&envelope, snapshot.as_deref()).iter().map(ToString::to_string).collect();
        let log = |outcome: &str, id: &str| {
            tracing::info!(
                msg_id = %id,
                client_ip = %envelope.client.ip,
                helo = %envelope.client.helo,
                tls = envelope.client.tls.is_some(),
                sender = %envelope.sender,
                recipients = %recipients.join(","),
                rcpt_count = recipients.len(),
                throttle_accepted,
                size,
                tenant = %if tenants.is_empty() { "-".to_string() } else { tenants.join(",") },
                connector = %attribution.map_or("-", |a| a.connector.as_str()),
                direction = %direction,
                auth = notes.auth.as_deref().unwrap_or("-"),
                scan = notes.scan.as_deref().unwrap_or("-"),
                quarantine_id = notes.held.as_deref().unwrap_or("-"),
                outcome = %outcome,
                queue_us,
                "message"
            );
        };
        match outcome {
            Ok(id) => {
                let id_text = id.to_string();
                let m = metrics::global();
                m.accept_latency.observe(elapsed);
                m.message_accepted(direction);
                log("queued", &id_text);
                self.queue.submit(id, envelope, received_at_unix_ms);
                Ok(id_text)
            }
            Err(SpoolError::Closed) => {
                tracing::error!("spool writer stopped; replying 451");
                log("deferred-spool-stopped", "-");
                Err(replies::spool_unavailable())
            }
            Err(error) => {
                tracing::error!(error = %error, "spool write failed; replying 451");
                log("deferred-spool-error", "-");
                Err(replies::spool_unavailable())
            }
        }
    }

    /// Spools a notification the queue manager wrote and hands it to the queue manager:
    /// its id once it is durable.
    pub(crate) async fn store_notification(
        &self,
        envelope: Envelope,
        data: Vec<u8>,
        now_unix_ms: u64,
    ) -> Result<MessageId, SpoolError> {
        let id = self.write(envelope.clone(), now_unix_ms, data).await?;
        self.queue.submit(id, envelope, now_unix_ms);
        Ok(id)
    }

    /// Spools a message imported from another node's queue (its reception time kept) and
    /// hands it to the queue manager: its id once it is durable.
    pub(crate) async fn store_imported(
        &self,
        envelope: Envelope,
        data: Vec<u8>,
        received_at_unix_ms: u64,
    ) -> Result<MessageId, SpoolError> {
        self.store_notification(envelope, data, received_at_unix_ms).await
    }

    /// Releases a message from the quarantine exactly once (see `crate::quarantine`): marks
    /// it releasing, spools it with the release's time as its arrival, marks it released,
    /// then hands it to the queue manager. `by` is who released it (for the record).
    pub(crate) async fn release(
        &self,
        quarantine: std::sync::Arc<crate::quarantine::Quarantine>,
        id: String,
        by: String,
    ) -> Result<crate::quarantine::Entry, String> {
        let q = std::sync::Arc::clone(&quarantine);
        let begun = tokio::task::spawn_blocking(move || q.begin_release(&id)).await;
        let (entry, data) = begun.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
        let envelope = entry.envelope();
        let at = entry.releasing_at_unix_ms.unwrap_or_default();
        let spooled = self.write(envelope.clone(), at, data).await;
        let q = std::sync::Arc::clone(&quarantine);
        let spool_id = match spooled {
            Ok(spool_id) => spool_id,
            Err(e) => {
                let _ = tokio::task::spawn_blocking(move || q.release_failed(entry)).await;
                return Err(format!("the spool refused the message ({e}); it is still held"));
            }
        };
        let (id_text, who) = (spool_id.to_string(), by.clone());
        let released = tokio::task::spawn_blocking(move || q.released(entry, &who, &id_text)).await;
        self.queue.submit(spool_id, envelope, at);
        let entry = released.map_err(|e| e.to_string())?.map_err(|e| {
            format!("the message was queued as {spool_id} but its release could not be recorded ({e}); a restart finishes it")
        })?;
        tracing::info!(quarantine_id = %entry.id, msg_id = %spool_id, by = %by, "message released from the quarantine");
        Ok(entry)
    }

    /// The one call of the spool's `enqueue` in the gateway: waits until the message is
    /// durable (or refused).
    async fn write(
        &self,
        envelope: Envelope,
        received_at_unix_ms: u64,
        data: Vec<u8>,
    ) -> Result<MessageId, SpoolError> {
        let (tx, rx) = oneshot::channel();
        self.spool.enqueue(
            envelope,
            received_at_unix_ms,
            data,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        rx.await.unwrap_or(Err(SpoolError::Closed))
    }

    /// Ends a streamed message: writes its tail, syncs its data file and adds its record
    /// (on a blocking thread), then waits until the record is durable. Also returns the
    /// message's size.
    async fn submit(
        &self,
        writer: DataWriter,
        envelope: Envelope,
        tail: Vec<u8>,
        received_at_unix_ms: u64,
    ) -> (Result<MessageId, SpoolError>, u64) {
        let (tx, rx) = oneshot::channel();
        let submitted = tokio::task::spawn_blocking(move || {
            let mut writer = writer;
            let _ = writer.write_all(&tail);
            let size = writer.len();
            writer.submit(
                envelope,
                received_at_unix_ms,
                Box::new(move |result| {
                    let _ = tx.send(result);
                }),
            );
            size
        })
        .await;
        let Ok(size) = submitted else { return (Err(SpoolError::Closed), 0) };
        (rx.await.unwrap_or(Err(SpoolError::Closed)), size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_headers_are_counted_in_the_header_section_only() {
        let message =
            b"Received: from a\r\n\tby b\r\nRECEIVED: from c\r\nSubject: x\r\n\r\nReceived: in the body\r\n";
        assert_eq!(received_headers(message), 2);
        assert_eq!(received_headers(b"Received: x\n\nReceived: y\n"), 1);
        assert_eq!(received_headers(b""), 0);
    }

    /// The trace's Message-ID and Subject: read from the whole content of a message kept in
    /// memory, and from the header section of one that streamed to the spool (its pieces
    /// are no longer at hand when it ends).
    #[tokio::test]
    async fn a_message_keeps_its_identity_in_memory_and_when_streamed() {
        use smtp_wire::Address;
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(spool::SpoolConfig::new(dir.path().join("spool"))).expect("spool").spool;
        let enqueue = Enqueue {
            spool,
            hostname: "mx.sluice.test".into(),
            queue: crate::delivery::queue_manager::QueueHandle::detached(),
            directory: None,
        };
        let envelope =
            crate::fixtures::acme_outbound(Address::new("it", "acme.test"), &[Address::new("b", "x.test")]);
        let head = b"Message-ID: <m1@acme.test>\r\nSubject: figures\r\n\r\n".to_vec();
        let expected = (Some("m1@acme.test".to_string()), Some("figures".to_string()));

        let mut small = Incoming::new(1 << 20, false);
        enqueue.take_piece(&mut small, &envelope, head[..20].to_vec()).await;
        assert_eq!(small.identity(&head[20..]), expected, "in memory: pieces and tail together");

        let mut large = Incoming::new(head.len(), false);
        enqueue.take_piece(&mut large, &envelope, head.clone()).await;
        enqueue.take_piece(&mut large, &envelope, vec![b'x'; 4096]).await;
        assert!(matches!(large.body, Body::Streaming(_)), "{:?}", large.body);
        assert_eq!(large.identity(b"tail\r\n"), expected, "streamed: from its header section");
    }
}
