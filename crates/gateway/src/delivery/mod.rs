//! Delivery: the queue manager (`queue_manager`), the one owner of every retry, delay notice
//! and bounce, with where each recipient goes (`routing`), when a message is tried again
//! (`schedule`) and what a notification says (`notify`); and the delivery attempts, which
//! only report outcomes: local Maildir folders (`maildir`) and remote SMTP/LMTP servers
//! (`remote` over the client in `outbound`, whose `probe` validates an outbound connector).

pub mod maildir;
pub mod mx;
pub(crate) mod notify;
pub mod outbound;
pub(crate) mod queue_manager;
pub mod remote;
pub mod routing;
pub mod schedule;

use bounce::{Diagnosis, LocalProblem, ProblemKind, RemoteReply, SmtpStage};
use smtp_wire::{EnhancedCode, Reply};

use outbound::RecipientOutcome;

/// How mail reaches a server: the two differ only in the greeting and the replies after the
/// data (one per recipient for LMTP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Smtp,
    Lmtp,
}

/// What happened to one recipient in a delivery attempt: what the queue manager decides on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `remote`: the server that took it (none for a local mailbox), with its reply.
    Delivered {
        remote: Option<String>,
        reply: Option<String>,
    },
    Deferred(Failure),
    Failed(Failure),
}

/// Why a recipient was not delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub status: EnhancedCode,
    /// The server's reply with the server and the command it answered, or what Sluice
    /// found itself (what bounces report; its `Display` is the log's reason).
    pub diagnosis: Diagnosis,
    /// The destination asked us to slow down (a 421, or a 4.7.x throttling reply).
    pub throttled: bool,
}

impl Failure {
    /// Sluice's own finding: `detail` in English for logs and the `X-Sluice` diagnostic,
    /// `kind` for the sentence people read.
    pub fn local(status: EnhancedCode, kind: ProblemKind, detail: impl AsRef<str>) -> Failure {
        Failure { status, diagnosis: Diagnosis::Local(LocalProblem::new(kind, detail)), throttled: false }
    }

    /// A server's negative reply to `stage`; a `421` or a `4.7.x` asks Sluice to slow down.
    pub(crate) fn from_reply(reply: &Reply, remote: &str, stage: SmtpStage) -> Failure {
        let reply = RemoteReply::new(remote, stage, reply);
        let status = reply.status;
        let throttled = reply.text.starts_with("421") || (status.class == 4 && status.subject == 7);
        Failure { status, diagnosis: Diagnosis::Reply(reply), throttled }
    }

    /// The server that answered, when one did.
    pub fn remote(&self) -> Option<&str> {
        self.diagnosis.reply().map(|r| r.mta.as_str())
    }
}

impl Outcome {
    /// A recipient's outcome from what the server at `remote` answered to `stage`.
    pub(crate) fn from_reply(outcome: RecipientOutcome, remote: &str, stage: SmtpStage) -> Outcome {
        match outcome {
            RecipientOutcome::Delivered(reply) => {
                Outcome::Delivered { remote: Some(remote.to_string()), reply: Some(reply.summary()) }
            }
            RecipientOutcome::Deferred(reply) => {
                Outcome::Deferred(Failure::from_reply(&reply, remote, stage))
            }
            RecipientOutcome::Failed(reply) => Outcome::Failed(Failure::from_reply(&reply, remote, stage)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_wire::reply::code;

    #[test]
    fn replies_become_outcomes() {
        let reply = |c, e: EnhancedCode, t: &str| Reply::new(c, e, t);
        let rcpt = SmtpStage::RcptTo;
        let throttled = Failure::from_reply(&reply(451, code(4, 7, 500), "slow down (AS501)"), "mx", rcpt);
        assert!(throttled.throttled);
        let Diagnosis::Reply(remote) = &throttled.diagnosis else { panic!("a reply") };
        assert_eq!(
            (remote.text.as_str(), remote.mta.as_str(), remote.stage),
            ("451 4.7.500 slow down (AS501)", "mx", rcpt)
        );
        let busy = Failure::from_reply(&reply(452, code(4, 2, 2), "mailbox full"), "mx", rcpt);
        assert!(!busy.throttled);
        let closing = Failure::from_reply(
            &Reply::plain(421, vec!["too many connections".into()]),
            "mx",
            SmtpStage::Greeting,
        );
        assert!(closing.throttled);
        assert_eq!(closing.status, code(4, 0, 0));
        let unknown = Failure::from_reply(&Reply::plain(550, vec!["no".into()]), "mx", rcpt);
        assert_eq!(unknown.status, code(5, 0, 0));
    }
}
