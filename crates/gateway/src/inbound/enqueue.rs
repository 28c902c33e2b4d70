//! The enqueue step: the only writer of new messages into the spool, for both kinds of new
//! message. A message a session received gets its `Received:` header, and the session
//! answers `250` only once the spool says it is durable; a notification the queue manager
//! wrote (a bounce, a delay notice) is spooled the same way. Each is then handed to the
//! queue manager.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use smtp_wire::{Envelope, ReceivedMessage, Reply, replies};
use spool::{MessageId, Spool, SpoolError};
use tokio::sync::oneshot;

use crate::delivery::queue_manager::QueueHandle;
use crate::inbound::received::received_header;

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

#[derive(Clone, Debug)]
pub(crate) struct Enqueue {
    pub(crate) spool: Spool,
    pub(crate) hostname: String,
    pub(crate) queue: QueueHandle,
}

impl Enqueue {
    /// Stores the message durably; the id on success, the reply to send otherwise.
    /// `throttle_accepted` (recipients the throttle engine judged) goes into the log line.
    pub(crate) async fn store(
        &self,
        message: ReceivedMessage,
        throttle_accepted: u32,
    ) -> Result<String, Reply> {
        let started = Instant::now();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let ReceivedMessage { envelope, content } = message;
        let sender_local_part = match &envelope.sender {
            smtp_wire::ReversePath::Mailbox(a) => Some(a.local_part.as_str()),
            smtp_wire::ReversePath::Null => None,
        };
        crate::fault::session(sender_local_part);
        let hops = received_headers(&content);
        if hops > RECEIVED_HEADERS_MAX {
            tracing::warn!(client_ip = %envelope.client.ip, sender = %envelope.sender, hops, "mail loop: message refused");
            return Err(Reply::new(
                554,
                smtp_wire::reply::code(5, 4, 6),
                format!(
                    "Routing loop detected: the message has passed {hops} mail servers (Received: headers); it is refused to end the loop"
                ),
            ));
        }
        let header = received_header(&envelope, &self.hostname, now.as_secs());
        let mut data = Vec::with_capacity(header.len() + content.len());
        data.extend_from_slice(header.as_bytes());
        data.extend_from_slice(&content);
        drop(content);
        let size = data.len();
        let received_at_unix_ms = now.as_millis() as u64;
        let outcome = self.write(envelope.clone(), received_at_unix_ms, data).await;
        let queue_us = started.elapsed().as_micros() as u64;
        let recipients: Vec<String> = envelope.recipients.iter().map(|r| r.address.to_string()).collect();
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
                outcome = %outcome,
                queue_us,
                "message"
            );
        };
        match outcome {
            Ok(id) => {
                let id_text = id.to_string();
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
}
