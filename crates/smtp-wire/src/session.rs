//! The server side of one SMTP session as a state machine: fed bytes, it answers with
//! actions for the I/O driver (send a reply, read more, upgrade to TLS, store a message,
//! close). It never blocks, reads a clock or touches a socket.
//!
//! PIPELINING (RFC 2920) falls out of the design: the driver passes everything it has
//! read, the session consumes one command at a time, and the driver flushes its replies
//! only when the session asks for more input.

use std::net::IpAddr;
use std::sync::Arc;

use crate::command::{self, Command, MailFrom, RcptTo};
use crate::data::{BareNewline, ContentProblem, DataReceiver, Progress};
use crate::envelope::{ClientInfo, Envelope, Recipient, ReversePath};
use crate::replies;
use crate::reply::Reply;

/// Limits and identity for sessions; resolved from the gateway's config.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub hostname: String,
    pub message_bytes_max: usize,
    pub recipients_per_message_max: usize,
    pub command_line_bytes_max: usize,
    /// Permanent errors and protocol errors allowed before the session is closed.
    pub errors_per_session_max: u32,
    /// Commands that move no mail (NOOP, RSET, VRFY, HELP, EHLO...) allowed per session.
    pub junk_commands_max: u32,
    /// `errors_per_session_max` while the server is under stress ([`Session::set_stress`]).
    pub stress_errors_per_session_max: u32,
    /// `junk_commands_max` while the server is under stress.
    pub stress_junk_commands_max: u32,
    /// Whether STARTTLS is offered.
    pub starttls: bool,
    /// Bare CR / bare LF in commands and message content: refused, or taken as CRLF.
    pub bare_newline: BareNewline,
    /// Message content is handed to the driver in pieces of about this many bytes
    /// ([`Action::Content`]); a message no larger comes whole with [`Action::Message`].
    pub data_chunk_bytes: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            hostname: "localhost".into(),
            message_bytes_max: 50 * 1024 * 1024,
            recipients_per_message_max: 1000,
            command_line_bytes_max: 2048,
            errors_per_session_max: 20,
            junk_commands_max: 100,
            // Postfix under stress allows one hard error; EHLO, STARTTLS, EHLO and a RSET
            // count as junk here, so a normal session needs a few.
            stress_errors_per_session_max: 1,
            stress_junk_commands_max: 5,
            starttls: true,
            bare_newline: BareNewline::Reject,
            data_chunk_bytes: 64 * 1024,
        }
    }
}

/// What the envelope checks see of the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub client_ip: IpAddr,
    pub helo: Option<String>,
    pub esmtp: bool,
    /// Protocol and cipher when TLS is up.
    pub tls: Option<String>,
    /// Names (subjectAltName DNS names, then subject common names) of a client certificate
    /// that was presented during STARTTLS and chains to the configured client CA bundle.
    pub tls_client_names: Vec<String>,
}

/// Decisions that need knowledge outside the protocol (accepted domains, throttling).
/// Called on the hot path: implementations answer from memory, without I/O.
pub trait EnvelopeChecks {
    /// After MAIL FROM passed the protocol checks.
    fn check_sender(&self, _session: &SessionInfo, _mail: &MailFrom) -> Result<(), Reply> {
        Ok(())
    }
    /// For each RCPT TO that passed the protocol checks.
    fn check_recipient(
        &self,
        session: &SessionInfo,
        sender: &ReversePath,
        rcpt: &RcptTo,
    ) -> Result<(), Reply>;
}

/// A complete message handed to the driver for storage.
#[derive(Debug)]
pub struct ReceivedMessage {
    pub envelope: Envelope,
    /// The content as received, dot-unstuffed, CRLF line ends: all of it, or for a large
    /// message what came after the last [`Action::Content`] piece.
    pub content: Vec<u8>,
}

/// What the driver must do next.
#[derive(Debug)]
pub enum Action {
    /// Queue this reply for sending, then call `step` again.
    Reply(Reply),
    /// Flush queued replies and read more input (with the timeout of [`Session::phase`]).
    NeedInput,
    /// Send this reply, flush, then perform the TLS handshake and call
    /// [`Session::tls_established`]. Input buffered so far has already been discarded.
    StartTls(Reply),
    /// The client sent DATA for this envelope (final: no recipient can be added now).
    /// Reserve what the transfer needs, then call [`Session::data_admitted`] for the reply
    /// to queue (`354`, or the refusal given, e.g. `452 4.3.1` when memory is short).
    StartData(Box<Envelope>),
    /// A piece of the message content (dot-unstuffed), in order: pass it on towards storage,
    /// then call `step` again. The transfer then ends with [`Action::Message`] (the rest of
    /// the content) or [`Action::DataRefused`].
    Content(Vec<u8>),
    /// The content is refused (too large, NUL, bare line ending): drop what
    /// [`Action::Content`] passed on, queue this reply and call `step` again.
    DataRefused(Reply),
    /// Store the message, then call [`Session::message_stored`] for the reply.
    Message(Box<ReceivedMessage>),
    /// Send this reply, flush and close the connection.
    Close(Reply),
}

/// Bytes of input consumed and the action to take.
#[derive(Debug)]
pub struct Step {
    pub consumed: usize,
    pub action: Action,
}

/// Which timeout applies while waiting for input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Command,
    Data,
}

#[derive(Debug)]
struct Transaction {
    mail: MailFrom,
    recipients: Vec<Recipient>,
}

/// One SMTP session.
#[derive(Debug)]
pub struct Session {
    config: Arc<SessionConfig>,
    info: SessionInfo,
    transaction: Option<Transaction>,
    data: Option<DataReceiver>,
    /// After an overlong command line: skip input up to the next LF.
    discarding_line: bool,
    /// The driver is deciding about a DATA command ([`Action::StartData`]).
    awaiting_admission: bool,
    awaiting_storage: bool,
    errors: u32,
    junk_commands: u32,
    closed: bool,
    /// The server is near its connection cap: the stress limits apply.
    stressed: bool,
}

impl Session {
    pub fn new(config: Arc<SessionConfig>, client_ip: IpAddr) -> Session {
        Session {
            config,
            info: SessionInfo {
                client_ip,
                helo: None,
                esmtp: false,
                tls: None,
                tls_client_names: Vec::new(),
            },
            transaction: None,
            data: None,
            discarding_line: false,
            awaiting_admission: false,
            awaiting_storage: false,
            errors: 0,
            junk_commands: 0,
            closed: false,
            stressed: false,
        }
    }

    /// Whether the server is under stress (near its connection cap); the driver says so
    /// before each step. Under stress the session allows fewer errors and junk commands,
    /// counting those it already had.
    pub fn set_stress(&mut self, stressed: bool) {
        self.stressed = stressed;
    }

    fn errors_max(&self) -> u32 {
        if self.stressed {
            self.config.stress_errors_per_session_max
        } else {
            self.config.errors_per_session_max
        }
    }

    fn junk_commands_max(&self) -> u32 {
        if self.stressed { self.config.stress_junk_commands_max } else { self.config.junk_commands_max }
    }

    pub fn greeting(&self) -> Reply {
        replies::greeting(&self.config.hostname)
    }

    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    pub fn phase(&self) -> Phase {
        if self.data.is_some() { Phase::Data } else { Phase::Command }
    }

    /// Whether a message transaction (MAIL given) is open.
    pub fn in_transaction(&self) -> bool {
        self.transaction.is_some()
    }

    /// Consumes input and says what to do next. Call repeatedly until `NeedInput`.
    pub fn step(&mut self, input: &[u8], policy: &dyn EnvelopeChecks) -> Step {
        if self.closed || self.awaiting_storage || self.awaiting_admission {
            return Step { consumed: 0, action: Action::NeedInput };
        }
        if self.data.is_some() {
            return self.step_data(input);
        }
        if self.errors >= self.errors_max() {
            return self.close(replies::too_many_errors());
        }
        if self.discarding_line {
            let Some(lf) = input.iter().position(|&b| b == b'\n') else {
                return Step { consumed: input.len(), action: Action::NeedInput };
            };
            self.discarding_line = false;
            let rest = self.step(&input[lf + 1..], policy);
            return Step { consumed: lf + 1 + rest.consumed, action: rest.action };
        }
        if let Some(protocol) = command::foreign_protocol(input) {
            return self.close(replies::foreign_protocol(protocol));
        }
        let Some(lf) = input.iter().position(|&b| b == b'\n') else {
            if input.len() > self.config.command_line_bytes_max {
                self.discarding_line = true;
                return self.error(input.len(), replies::line_too_long(self.config.command_line_bytes_max));
            }
            return Step { consumed: 0, action: Action::NeedInput };
        };
        let consumed = lf + 1;
        if consumed > self.config.command_line_bytes_max {
            return self.error(consumed, replies::line_too_long(self.config.command_line_bytes_max));
        }
        let Some(line) = self.command_line(&input[..lf]) else {
            return self.error(consumed, replies::bare_line_ending_in_command());
        };
        let action = match command::parse(line) {
            Ok(command) => self.command(command, policy),
            Err(reply) => Err(reply),
        };
        match action {
            Ok(Action::StartTls(reply)) => Step { consumed: input.len(), action: Action::StartTls(reply) },
            Ok(action) => Step { consumed, action },
            Err(reply) => self.error(consumed, reply),
        }
    }

    /// A command line without its line end; `None` when it holds a bare CR, or ends in a
    /// bare LF and bare line ends are refused.
    fn command_line<'a>(&self, line: &'a [u8]) -> Option<&'a [u8]> {
        let line = match line.strip_suffix(b"\r") {
            Some(line) => line,
            None if self.config.bare_newline == BareNewline::Normalize => line,
            None => return None,
        };
        (!line.contains(&b'\r')).then_some(line)
    }

    /// The driver has what a DATA transfer needs (`Ok`: the `354` reply is returned and
    /// content is expected) or not (`Err(reply)`: that reply, and the transaction stays
    /// open, so the client may try DATA again or RSET).
    pub fn data_admitted(&mut self, admitted: Result<(), Reply>) -> Reply {
        if !self.awaiting_admission {
            return replies::need_mail();
        }
        self.awaiting_admission = false;
        match admitted {
            Ok(()) => {
                self.data = Some(DataReceiver::new(self.config.message_bytes_max, self.config.bare_newline));
                replies::start_data()
            }
            Err(reply) => reply,
        }
    }

    /// The driver stored the message (`Ok(id)`) or could not (`Err(reply)`, e.g. `451 4.3.0`).
    pub fn message_stored(&mut self, outcome: Result<String, Reply>) -> Reply {
        self.awaiting_storage = false;
        self.transaction = None;
        match outcome {
            Ok(id) => replies::queued(&id),
            Err(reply) => reply,
        }
    }

    /// TLS is up: the session starts again from scratch (RFC 3207 4.2). `client_names` are
    /// the verified client certificate's names (empty without one).
    pub fn tls_established(&mut self, description: String, client_names: Vec<String>) {
        self.info.tls = Some(description);
        self.info.tls_client_names = client_names;
        self.info.helo = None;
        self.info.esmtp = false;
        self.transaction = None;
    }

    /// The reply to send when the read timeout of the current phase expires.
    pub fn timeout_reply(&self) -> Reply {
        replies::timeout(&self.config.hostname)
    }

    fn close(&mut self, reply: Reply) -> Step {
        self.closed = true;
        Step { consumed: 0, action: Action::Close(reply) }
    }

    /// A negative reply to a client mistake or a permanent refusal: counted.
    fn error(&mut self, consumed: usize, reply: Reply) -> Step {
        if reply.is_permanent() {
            self.errors += 1;
        }
        Step { consumed, action: Action::Reply(reply) }
    }

    fn step_data(&mut self, input: &[u8]) -> Step {
        let Some(receiver) = self.data.as_mut() else {
            return Step { consumed: 0, action: Action::NeedInput };
        };
        match receiver.feed(input) {
            Progress::NeedMore if receiver.buffered() >= self.config.data_chunk_bytes => {
                Step { consumed: input.len(), action: Action::Content(receiver.take_content()) }
            }
            Progress::NeedMore => Step { consumed: input.len(), action: Action::NeedInput },
            Progress::Complete { consumed } => match self.finish_data() {
                Ok(action) => Step { consumed, action },
                Err(reply) => {
                    let step = self.error(consumed, reply);
                    let Action::Reply(reply) = step.action else { return step };
                    Step { consumed, action: Action::DataRefused(reply) }
                }
            },
        }
    }

    fn finish_data(&mut self) -> Result<Action, Reply> {
        let receiver = self.data.take();
        let transaction = self.transaction.take();
        let (Some(receiver), Some(transaction)) = (receiver, transaction) else {
            return Err(replies::need_mail());
        };
        let content = receiver.finish().map_err(|problem| match problem {
            ContentProblem::TooLarge => replies::message_too_big(self.config.message_bytes_max),
            ContentProblem::BareLineEnding => replies::bare_line_ending(),
            ContentProblem::Nul => replies::nul_in_content(),
        })?;
        self.awaiting_storage = true;
        let envelope = self.envelope(&transaction);
        Ok(Action::Message(Box::new(ReceivedMessage { envelope, content })))
    }

    fn envelope(&self, transaction: &Transaction) -> Envelope {
        let Transaction { mail, recipients } = transaction;
        Envelope {
            sender: match &mail.sender {
                Some(address) => ReversePath::Mailbox(address.clone()),
                None => ReversePath::Null,
            },
            recipients: recipients.clone(),
            body: mail.body.unwrap_or_default(),
            smtputf8: mail.smtputf8,
            ret: mail.ret,
            envid: mail.envid.clone(),
            declared_size: mail.size,
            client: ClientInfo {
                ip: self.info.client_ip,
                helo: self.info.helo.clone().unwrap_or_default(),
                esmtp: self.info.esmtp,
                tls: self.info.tls.clone(),
                attribution: None,
            },
        }
    }

    fn command(&mut self, command: Command, policy: &dyn EnvelopeChecks) -> Result<Action, Reply> {
        if !matches!(command, Command::Mail(_) | Command::Rcpt(_) | Command::Data | Command::Quit) {
            self.junk_commands += 1;
            if self.junk_commands > self.junk_commands_max() {
                self.closed = true;
                return Ok(Action::Close(replies::too_many_junk_commands()));
            }
        }
        match command {
            Command::Ehlo(name) => Ok(self.hello(name, true)),
            Command::Helo(name) => Ok(self.hello(name, false)),
            Command::Mail(mail) => self.mail(mail, policy),
            Command::Rcpt(rcpt) => self.rcpt(rcpt, policy),
            Command::Data => self.data_command(),
            Command::Rset => {
                self.transaction = None;
                Ok(Action::Reply(replies::ok()))
            }
            Command::Noop => Ok(Action::Reply(replies::ok())),
            Command::Quit => {
                self.closed = true;
                Ok(Action::Close(replies::bye()))
            }
            Command::StartTls => self.start_tls(),
            Command::Vrfy => Ok(Action::Reply(replies::vrfy_disabled())),
            Command::Expn => Err(replies::expn_disabled()),
            Command::Help => Ok(Action::Reply(replies::help())),
            Command::Auth => Err(replies::auth_not_offered()),
            Command::Bdat => Err(replies::bdat_not_offered()),
        }
    }

    fn hello(&mut self, name: String, esmtp: bool) -> Action {
        self.transaction = None;
        let hostname = &self.config.hostname;
        let first = format!("{hostname} Hello {name} [{}]", self.info.client_ip);
        self.info.helo = Some(name);
        self.info.esmtp = esmtp;
        if !esmtp {
            return Action::Reply(Reply::plain(250, vec![hostname.clone()]));
        }
        let mut lines = vec![
            first,
            "PIPELINING".to_string(),
            format!("SIZE {}", self.config.message_bytes_max),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "DSN".to_string(),
        ];
        if self.config.starttls && self.info.tls.is_none() {
            lines.push("STARTTLS".to_string());
        }
        Action::Reply(Reply::plain(250, lines))
    }

    fn mail(&mut self, mail: MailFrom, policy: &dyn EnvelopeChecks) -> Result<Action, Reply> {
        if self.info.helo.is_none() {
            return Err(replies::need_helo());
        }
        if self.transaction.is_some() {
            return Err(replies::nested_mail());
        }
        if !self.info.esmtp && mail.has_parameters() {
            return Err(replies::parameters_need_ehlo());
        }
        if mail.size.is_some_and(|size| size > self.config.message_bytes_max as u64) {
            return Err(replies::message_too_big(self.config.message_bytes_max));
        }
        if mail.sender.as_ref().is_some_and(|a| a.is_utf8()) && !mail.smtputf8 {
            return Err(replies::utf8_needs_smtputf8());
        }
        policy.check_sender(&self.info, &mail)?;
        self.transaction = Some(Transaction { mail, recipients: Vec::new() });
        Ok(Action::Reply(replies::sender_ok()))
    }

    fn rcpt(&mut self, rcpt: RcptTo, policy: &dyn EnvelopeChecks) -> Result<Action, Reply> {
        let Some(transaction) = self.transaction.as_mut() else {
            return Err(replies::need_mail());
        };
        if transaction.recipients.len() >= self.config.recipients_per_message_max {
            return Err(replies::too_many_recipients(self.config.recipients_per_message_max));
        }
        if !self.info.esmtp && (rcpt.notify.is_some() || rcpt.orcpt.is_some()) {
            return Err(replies::parameters_need_ehlo());
        }
        if rcpt.recipient.is_utf8() && !transaction.mail.smtputf8 {
            return Err(replies::utf8_needs_smtputf8());
        }
        let sender = match &transaction.mail.sender {
            Some(address) => ReversePath::Mailbox(address.clone()),
            None => ReversePath::Null,
        };
        policy.check_recipient(&self.info, &sender, &rcpt)?;
        transaction.recipients.push(Recipient {
            address: rcpt.recipient,
            notify: rcpt.notify,
            orcpt: rcpt.orcpt,
        });
        Ok(Action::Reply(replies::recipient_ok()))
    }

    fn data_command(&mut self) -> Result<Action, Reply> {
        let Some(transaction) = &self.transaction else {
            return Err(replies::need_mail());
        };
        if transaction.recipients.is_empty() {
            return Err(replies::no_valid_recipients());
        }
        self.awaiting_admission = true;
        Ok(Action::StartData(Box::new(self.envelope(transaction))))
    }

    fn start_tls(&mut self) -> Result<Action, Reply> {
        if !self.config.starttls {
            return Err(replies::starttls_not_offered());
        }
        if self.info.tls.is_some() {
            return Err(replies::already_tls());
        }
        if self.info.helo.is_none() {
            return Err(replies::need_helo());
        }
        self.transaction = None;
        Ok(Action::StartTls(replies::ready_to_start_tls()))
    }
}
