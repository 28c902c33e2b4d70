//! What a notification reports about each recipient: the facts the queue manager hands
//! over, built only through constructors that match the queue manager's decisions
//! ([`RecipientReport::failed`], [`RecipientReport::expired`], [`RecipientReport::delayed`],
//! [`RecipientReport::delivered`]), so that no report shape exists that live delivery
//! could not produce. The golden files are rendered from the same constructors.
//!
//! A report keeps two things apart that a single "diagnostic" string used to mix: the
//! last real reply of a remote server for this recipient (with the server and the SMTP
//! stage), and what Sluice itself found on its last attempt (a refused connection, a
//! failed TLS handshake, a destination it paused). Only the first is an SMTP reply.

use smtp_wire::{EnhancedCode, Reply};
use std::fmt;

/// Remote reply text kept per recipient at most (RFC 5321 4.5.3.1.5 allows 512-byte reply
/// lines; a multi-line reply is joined): the queue manager holds one per deferred
/// recipient, so remote input must not grow it without bound.
pub const REPLY_TEXT_BYTES_MAX: usize = 512;
/// Sluice's own problem description kept at most.
pub const DETAIL_BYTES_MAX: usize = 512;

/// What happened to one recipient (RFC 3464 2.3.3 `Action`). Ordered from the most to
/// the least severe: a notification about several recipients is titled after the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Failed,
    Delayed,
    Delivered,
    Relayed,
    Expanded,
}

impl Action {
    pub(crate) fn field(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
            Action::Expanded => "expanded",
        }
    }
}

/// The SMTP command (or moment) a remote server answered, as Postfix reports it ("in reply
/// to RCPT TO"): it tells the reader whether one recipient or the whole message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SmtpStage {
    /// The banner, when the connection opened.
    Greeting,
    /// `EHLO`, `HELO` or `LHLO`.
    Hello,
    StartTls,
    MailFrom,
    RcptTo,
    /// The `DATA` command itself.
    Data,
    /// The reply after the message content (`.`).
    EndOfData,
    /// `RSET` between two messages on one connection.
    Reset,
}

impl SmtpStage {
    /// Every stage, for tests that check each has a text in every language.
    pub const ALL: [SmtpStage; 8] = [
        SmtpStage::Greeting,
        SmtpStage::Hello,
        SmtpStage::StartTls,
        SmtpStage::MailFrom,
        SmtpStage::RcptTo,
        SmtpStage::Data,
        SmtpStage::EndOfData,
        SmtpStage::Reset,
    ];

    /// The stage of a client command line (`MAIL FROM:<...>`), for the SMTP client.
    pub fn of_command(line: &str) -> SmtpStage {
        let verb = line.split([' ', ':', '\r']).next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" | "LHLO" => SmtpStage::Hello,
            "STARTTLS" => SmtpStage::StartTls,
            "MAIL" => SmtpStage::MailFrom,
            "RCPT" => SmtpStage::RcptTo,
            "DATA" => SmtpStage::Data,
            "RSET" => SmtpStage::Reset,
            _ => SmtpStage::Greeting,
        }
    }

    pub(crate) fn message_id(self) -> &'static str {
        match self {
            SmtpStage::Greeting => "stage-greeting",
            SmtpStage::Hello => "stage-hello",
            SmtpStage::StartTls => "stage-starttls",
            SmtpStage::MailFrom => "stage-mail-from",
            SmtpStage::RcptTo => "stage-rcpt-to",
            SmtpStage::Data => "stage-data",
            SmtpStage::EndOfData => "stage-end-of-data",
            SmtpStage::Reset => "stage-reset",
        }
    }
}

impl fmt::Display for SmtpStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SmtpStage::Greeting => "greeting",
            SmtpStage::Hello => "EHLO",
            SmtpStage::StartTls => "STARTTLS",
            SmtpStage::MailFrom => "MAIL FROM",
            SmtpStage::RcptTo => "RCPT TO",
            SmtpStage::Data => "DATA",
            SmtpStage::EndOfData => "end of DATA",
            SmtpStage::Reset => "RSET",
        })
    }
}

/// A remote server's reply about a recipient: the only thing a report calls an SMTP
/// diagnostic (`Diagnostic-Code: smtp;`, with the server in `Remote-MTA`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RemoteReply {
    /// The host name the server was found under (MX or smart host).
    pub mta: String,
    pub stage: SmtpStage,
    /// Basic code, enhanced code when given, and text on one line: `550 5.1.1 No such user`.
    pub text: String,
    /// The enhanced code the reply gave, or one derived from its basic code.
    pub status: EnhancedCode,
}

impl RemoteReply {
    /// The reply `reply` of `mta` at `stage`, its text cut to [`REPLY_TEXT_BYTES_MAX`].
    pub fn new(mta: &str, stage: SmtpStage, reply: &Reply) -> RemoteReply {
        let status = reply.enhanced.unwrap_or(match reply.code {
            500..=599 => EnhancedCode::new(5, 0, 0),
            200..=399 => EnhancedCode::new(2, 0, 0),
            _ => EnhancedCode::new(4, 0, 0),
        });
        RemoteReply {
            mta: cut(mta, 255),
            stage,
            text: cut(&one_line(&reply.summary()), REPLY_TEXT_BYTES_MAX),
            status,
        }
    }
}

impl fmt::Display for RemoteReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {}, in reply to {})", self.text, self.mta, self.stage)
    }
}

/// What Sluice found itself when an attempt got no reply that explains the outcome. Each
/// kind has a sentence in every language; the raw detail (an OS error, a host and port)
/// appears only in the machine-readable `Diagnostic-Code: X-Sluice;` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    ConnectionRefused,
    TimedOut,
    /// No route to the host or network.
    Unreachable,
    /// The connection broke during the conversation.
    ConnectionLost,
    /// The TLS handshake failed or the certificate was not acceptable.
    TlsFailed,
    /// The connector requires TLS and the server does not offer STARTTLS.
    TlsNotOffered,
    /// The server does not speak SMTP (or LMTP) properly.
    ProtocolError,
    /// The DNS lookup of the domain or its servers failed.
    DnsFailed,
    /// The domain's servers have no address.
    NoAddress,
    /// The domain publishes a null MX (RFC 7505).
    NullMx,
    /// The domain does not exist.
    NoSuchDomain,
    /// The domain has no such recipient (removed from the tenant directory after the
    /// message arrived, or a local part that names no mailbox).
    UnknownRecipient,
    /// The tenant has no route (outbound connector with smart hosts) for the domain.
    NoTenantRoute,
    /// Local delivery (Maildir) failed.
    LocalDelivery,
    /// The message could not be read from the spool.
    SpoolUnreadable,
    /// Any other failure inside Sluice.
    Internal,
    /// Sluice held the recipient back because the destination had asked to slow down; no
    /// attempt was made. A scheduling fact, never a diagnostic of its own.
    DestinationPaused {
        until_unix_s: u64,
    },
    /// An administrator of this mail system removed the message (or these recipients) from
    /// the queue before it could be delivered.
    RemovedByAdministrator,
}

impl ProblemKind {
    /// Every kind (with a sample pause), for tests that check each has a text in every language.
    pub const ALL: [ProblemKind; 18] = [
        ProblemKind::ConnectionRefused,
        ProblemKind::TimedOut,
        ProblemKind::Unreachable,
        ProblemKind::ConnectionLost,
        ProblemKind::TlsFailed,
        ProblemKind::TlsNotOffered,
        ProblemKind::ProtocolError,
        ProblemKind::DnsFailed,
        ProblemKind::NoAddress,
        ProblemKind::NullMx,
        ProblemKind::NoSuchDomain,
        ProblemKind::UnknownRecipient,
        ProblemKind::NoTenantRoute,
        ProblemKind::LocalDelivery,
        ProblemKind::SpoolUnreadable,
        ProblemKind::Internal,
        ProblemKind::DestinationPaused { until_unix_s: 0 },
        ProblemKind::RemovedByAdministrator,
    ];

    pub(crate) fn message_id(self) -> &'static str {
        match self {
            ProblemKind::ConnectionRefused => "problem-connection-refused",
            ProblemKind::TimedOut => "problem-timed-out",
            ProblemKind::Unreachable => "problem-unreachable",
            ProblemKind::ConnectionLost => "problem-connection-lost",
            ProblemKind::TlsFailed => "problem-tls-failed",
            ProblemKind::TlsNotOffered => "problem-tls-not-offered",
            ProblemKind::ProtocolError => "problem-protocol",
            ProblemKind::DnsFailed => "problem-dns",
            ProblemKind::NoAddress => "problem-no-address",
            ProblemKind::NullMx => "problem-null-mx",
            ProblemKind::NoSuchDomain => "problem-no-such-domain",
            ProblemKind::UnknownRecipient => "problem-unknown-recipient",
            ProblemKind::NoTenantRoute => "problem-no-tenant-route",
            ProblemKind::LocalDelivery => "problem-local-delivery",
            ProblemKind::SpoolUnreadable => "problem-spool",
            ProblemKind::Internal => "problem-internal",
            ProblemKind::DestinationPaused { .. } => "problem-paused",
            ProblemKind::RemovedByAdministrator => "problem-removed",
        }
    }
}

/// Sluice's own finding: a kind for people, a detail for machines and logs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LocalProblem {
    pub kind: ProblemKind,
    /// English, e.g. `cannot connect to 192.0.2.1:25: Connection refused (os error 111)`;
    /// cut to [`DETAIL_BYTES_MAX`].
    pub detail: String,
}

impl LocalProblem {
    pub fn new(kind: ProblemKind, detail: impl AsRef<str>) -> LocalProblem {
        LocalProblem { kind, detail: cut(&one_line(detail.as_ref()), DETAIL_BYTES_MAX) }
    }
}

/// Why one attempt did not deliver a recipient.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Diagnosis {
    Reply(RemoteReply),
    Local(LocalProblem),
}

impl Diagnosis {
    /// The remote reply, when this is one.
    pub fn reply(&self) -> Option<&RemoteReply> {
        match self {
            Diagnosis::Reply(reply) => Some(reply),
            Diagnosis::Local(_) => None,
        }
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnosis::Reply(reply) => reply.fmt(f),
            Diagnosis::Local(problem) => f.write_str(&problem.detail),
        }
    }
}

/// What a notification says about one envelope recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientReport {
    /// Index into `Envelope::recipients`.
    pub(crate) index: usize,
    pub(crate) action: Action,
    pub(crate) status: EnhancedCode,
    /// The last real reply of a remote server for this recipient, from any attempt.
    pub(crate) reply: Option<RemoteReply>,
    /// What Sluice found on the last attempt when it was not a remote reply.
    pub(crate) problem: Option<LocalProblem>,
    /// Until when the destination was paused, when the last attempt was held back.
    pub(crate) paused_until_unix_s: Option<u64>,
    /// The message waited too long (RFC 5321 4.5.4.1) and was given up.
    pub(crate) expired: bool,
    pub(crate) last_attempt_unix_s: u64,
    /// For delays: when Sluice gives up.
    pub(crate) will_retry_until_unix_s: Option<u64>,
}

/// The status Sluice reports for an expired recipient: `4.4.7` (delivery time expired) in a
/// `failed` report, as sendmail and Exchange write it; Sisimai reads it as "expired".
pub const EXPIRED_STATUS: EnhancedCode = EnhancedCode::new(4, 4, 7);

impl RecipientReport {
    /// A recipient that failed for good on this attempt: a remote `5xx`, or a permanent
    /// finding of Sluice's (null MX, no such domain, a removed recipient).
    pub fn failed(
        index: usize,
        status: EnhancedCode,
        diagnosis: Diagnosis,
        now_unix_s: u64,
    ) -> RecipientReport {
        RecipientReport::from_attempt(index, Action::Failed, status, diagnosis, None, now_unix_s)
    }

    /// A recipient still deferred after `max_age`: reported `failed` with `4.4.7`, the last
    /// real reply kept beside what the last attempt found.
    pub fn expired(
        index: usize,
        last_attempt: Diagnosis,
        last_reply: Option<RemoteReply>,
        now_unix_s: u64,
    ) -> RecipientReport {
        let mut report = RecipientReport::from_attempt(
            index,
            Action::Failed,
            EXPIRED_STATUS,
            last_attempt,
            last_reply,
            now_unix_s,
        );
        report.expired = true;
        report
    }

    /// A recipient still deferred, when the delay notice is due; `retry_until_unix_s` is
    /// when Sluice gives up.
    pub fn delayed(
        index: usize,
        status: EnhancedCode,
        last_attempt: Diagnosis,
        last_reply: Option<RemoteReply>,
        now_unix_s: u64,
        retry_until_unix_s: u64,
    ) -> RecipientReport {
        let mut report = RecipientReport::from_attempt(
            index,
            Action::Delayed,
            status,
            last_attempt,
            last_reply,
            now_unix_s,
        );
        report.will_retry_until_unix_s = Some(retry_until_unix_s);
        report
    }

    /// A recipient delivered by Sluice itself (its Maildir), reported when `NOTIFY=SUCCESS`
    /// asked; a remote server that supports DSN reports its own deliveries.
    pub fn delivered(index: usize, now_unix_s: u64) -> RecipientReport {
        RecipientReport {
            index,
            action: Action::Delivered,
            status: EnhancedCode::new(2, 0, 0),
            reply: None,
            problem: None,
            paused_until_unix_s: None,
            expired: false,
            last_attempt_unix_s: now_unix_s,
            will_retry_until_unix_s: None,
        }
    }

    /// `last_reply` is an earlier attempt's reply, used when this attempt got none.
    fn from_attempt(
        index: usize,
        action: Action,
        status: EnhancedCode,
        diagnosis: Diagnosis,
        last_reply: Option<RemoteReply>,
        now_unix_s: u64,
    ) -> RecipientReport {
        let (reply, problem) = match diagnosis {
            Diagnosis::Reply(reply) => (Some(reply), None),
            Diagnosis::Local(problem) => (last_reply, Some(problem)),
        };
        let paused_until_unix_s = match problem.as_ref().map(|p| p.kind) {
            Some(ProblemKind::DestinationPaused { until_unix_s }) => Some(until_unix_s),
            _ => None,
        };
        RecipientReport {
            index,
            action,
            status,
            reply,
            problem,
            paused_until_unix_s,
            expired: false,
            last_attempt_unix_s: now_unix_s,
            will_retry_until_unix_s: None,
        }
    }

    pub fn index(&self) -> usize {
        self.index
    }

    pub fn action(&self) -> Action {
        self.action
    }

    /// The status written in the report (`4.4.7` for an expired recipient).
    pub fn status(&self) -> EnhancedCode {
        self.status
    }

    pub fn is_expired(&self) -> bool {
        self.expired
    }

    /// The last real remote reply reported.
    pub fn reply(&self) -> Option<&RemoteReply> {
        self.reply.as_ref()
    }

    /// Sluice's own finding reported.
    pub fn problem(&self) -> Option<&LocalProblem> {
        self.problem.as_ref()
    }
}

fn one_line(text: &str) -> String {
    text.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` cut to at most `bytes_max` bytes on a character boundary.
fn cut(text: &str, bytes_max: usize) -> String {
    if text.len() <= bytes_max {
        return text.to_owned();
    }
    let mut end = bytes_max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_come_from_command_lines() {
        assert_eq!(SmtpStage::of_command("MAIL FROM:<a@b>\r\n"), SmtpStage::MailFrom);
        assert_eq!(SmtpStage::of_command("rcpt TO:<a@b>"), SmtpStage::RcptTo);
        assert_eq!(SmtpStage::of_command("EHLO x"), SmtpStage::Hello);
        assert_eq!(SmtpStage::of_command("LHLO x"), SmtpStage::Hello);
        assert_eq!(SmtpStage::of_command("DATA\r\n"), SmtpStage::Data);
        assert_eq!(SmtpStage::of_command("RSET\r\n"), SmtpStage::Reset);
        assert_eq!(SmtpStage::of_command("STARTTLS\r\n"), SmtpStage::StartTls);
    }

    #[test]
    fn remote_text_is_one_bounded_line() {
        let long = Reply { code: 550, enhanced: None, lines: vec!["é".repeat(400), "second".into()] };
        let reply = RemoteReply::new("mx.example", SmtpStage::RcptTo, &long);
        assert!(reply.text.len() <= REPLY_TEXT_BYTES_MAX && reply.text.starts_with("550 é"));
        assert!(!reply.text.contains('\n'));
        assert_eq!(reply.status, EnhancedCode::new(5, 0, 0));
    }

    #[test]
    fn a_local_attempt_keeps_the_last_real_reply() {
        let reply = RemoteReply::new(
            "mx.example",
            SmtpStage::RcptTo,
            &Reply::new(451, EnhancedCode::new(4, 7, 501), "slow down (AS501)"),
        );
        let paused =
            Diagnosis::Local(LocalProblem::new(ProblemKind::DestinationPaused { until_unix_s: 9 }, "x"));
        let report = RecipientReport::expired(0, paused, Some(reply.clone()), 5);
        assert_eq!(report.reply(), Some(&reply));
        assert_eq!(report.status(), EXPIRED_STATUS);
        assert_eq!(report.paused_until_unix_s, Some(9));
        // A reply on this attempt wins over an earlier one.
        let fresh = RemoteReply { text: "452 4.2.2 full".into(), ..reply.clone() };
        let report = RecipientReport::delayed(
            0,
            EnhancedCode::new(4, 2, 2),
            Diagnosis::Reply(fresh.clone()),
            Some(reply),
            5,
            6,
        );
        assert_eq!(report.reply(), Some(&fresh));
        assert!(report.problem().is_none());
    }
}
