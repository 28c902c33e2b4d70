//! Whether a notification is due, and the message itself.

use crate::encode::{html_escape, human_date, quoted_printable, rfc5322_date};
use crate::help::{HelpText, help_code_for, help_from};
use crate::lang::{Catalog, language_for};
use crate::{BounceError, headers};
use smtp_wire::{EnhancedCode, Envelope, Notify, Recipient, Ret, ReversePath};
use std::fmt::Write as _;

/// What happened to one recipient (RFC 3464 2.3.3 `Action`). Ordered from the most to
/// the least severe: a notification about several recipients is titled after the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Failed,
    Delayed,
    Delivered,
    Relayed,
    Expanded,
}

impl Action {
    fn field(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
            Action::Expanded => "expanded",
        }
    }

    /// Whether the recipient's `NOTIFY=` asks for this action. Without `NOTIFY=` Sluice
    /// reports failures and delays (RFC 3461 4.1 leaves the default to the MTA).
    fn is_requested(self, notify: Option<Notify>) -> bool {
        let (success, failure, delay) = match notify {
            None => (false, true, true),
            Some(Notify::Never) => return false,
            Some(Notify::On { success, failure, delay }) => (success, failure, delay),
        };
        match self {
            Action::Failed => failure,
            Action::Delayed => delay,
            Action::Delivered | Action::Relayed | Action::Expanded => success,
        }
    }
}

/// The outcome of one envelope recipient, as the queue manager saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientOutcome {
    /// Index into `Envelope::recipients`.
    pub index: usize,
    pub action: Action,
    pub status: EnhancedCode,
    /// The remote server's reply, e.g. `550 5.1.1 No such user`, when one was received.
    pub diagnostic: Option<String>,
    /// The host name of the server that gave `diagnostic`.
    pub remote_mta: Option<String>,
    pub last_attempt_unix_s: u64,
    /// For delays: when the queue manager gives up.
    pub will_retry_until_unix_s: Option<u64>,
}

/// Everything a notification is made of. The caller passes the time and a unique seed
/// (for the Message-ID and MIME boundaries), so rendering is deterministic.
#[derive(Clone, Copy, Debug)]
pub struct BounceRequest<'a> {
    /// The host name of this Sluice node, e.g. `mx1.sluice.example`.
    pub reporting_mta: &'a str,
    /// Where the admin center serves help pages, e.g. `https://admin.sluice.example`.
    pub admin_base_url: &'a str,
    pub envelope: &'a Envelope,
    /// The spooled message, `Received:` header included.
    pub original: &'a [u8],
    pub arrival_unix_s: u64,
    pub now_unix_s: u64,
    pub recipients: &'a [RecipientOutcome],
    pub tenant_default_language: &'a str,
    /// Unique per notification, e.g. the spool id and a counter.
    pub message_id_seed: &'a str,
    /// `RET=FULL` returns the whole original only up to this size; beyond it the headers
    /// (RFC 3461 4.3 allows the truncation), so a bounce never doubles a huge message.
    pub full_original_bytes_max: usize,
}

/// The longest line copied from the original, CRLF excluded (RFC 5321 4.5.3.1.6 allows
/// 998 bytes before the CRLF).
const LINE_BYTES_MAX: usize = 998;

/// One recipient that the notification reports on.
struct Due<'r> {
    outcome: &'r RecipientOutcome,
    recipient: &'r Recipient,
    help: Option<HelpText>,
}

/// The notification due for `req`, or `None` when none is: null sender, a loop risk
/// (the original is itself automatic), or no recipient whose `NOTIFY=` asks for its action.
pub fn render(req: &BounceRequest<'_>) -> Result<Option<Vec<u8>>, BounceError> {
    check_header_safe("reporting_mta", req.reporting_mta)?;
    check_header_safe("admin_base_url", req.admin_base_url)?;
    let ReversePath::Mailbox(sender) = &req.envelope.sender else { return Ok(None) };
    let (original_head, _) = headers::split(req.original);
    if is_automatic(original_head) {
        return Ok(None);
    }
    let catalog = Catalog::load(language_for(req.original, req.tenant_default_language))?;
    let due = due_recipients(req, &catalog)?;
    let Some(worst) = due.iter().map(|d| d.outcome.action).min() else { return Ok(None) };

    let seed = sanitize_seed(req.message_id_seed);
    let report_boundary = unique_boundary(&format!("=_report_{seed}"), req.original);
    let alt_boundary = unique_boundary(&format!("=_alt_{seed}"), req.original);
    let subject = subject(&catalog, worst, original_head)?;

    let mut out = String::new();
    write_top_headers(&mut out, req, &sender.to_string(), &subject, &seed, &catalog)?;
    writeln_crlf(&mut out, "Content-Type: multipart/report; report-type=delivery-status;");
    writeln_crlf(&mut out, &format!(" boundary=\"{report_boundary}\""));
    writeln_crlf(&mut out, "");
    writeln_crlf(&mut out, "This is a delivery status notification in MIME format (RFC 3464).");
    writeln_crlf(&mut out, &format!("--{report_boundary}"));
    write_human_part(&mut out, req, &catalog, &due, worst, &subject, &alt_boundary)?;
    writeln_crlf(&mut out, &format!("--{report_boundary}"));
    write_delivery_status(&mut out, req, &due);
    writeln_crlf(&mut out, &format!("--{report_boundary}"));
    let mut bytes = out.into_bytes();
    write_original(&mut bytes, req);
    bytes.extend_from_slice(format!("--{report_boundary}--\r\n").as_bytes());
    Ok(Some(bytes))
}

fn writeln_crlf(out: &mut String, line: &str) {
    out.push_str(line);
    out.push_str("\r\n");
}

/// Host names and URLs are written into headers and links unencoded; a space or control
/// character there would break the message or inject a header.
fn check_header_safe(field: &'static str, value: &str) -> Result<(), BounceError> {
    if value.is_empty() || value.bytes().any(|b| !(0x21..=0x7e).contains(&b) || b == b'"') {
        return Err(BounceError::InvalidField { field, value: value.to_owned() });
    }
    Ok(())
}

/// An original that is itself an automatic message (RFC 3834 `Auto-Submitted:` other
/// than `no`) gets no notification, so that two systems never bounce at each other.
fn is_automatic(original_head: &[u8]) -> bool {
    headers::values(original_head, "Auto-Submitted").iter().any(|value| {
        let keyword = value.split(['(', ';']).next().unwrap_or("").trim();
        !keyword.eq_ignore_ascii_case("no")
    })
}

fn due_recipients<'r>(req: &BounceRequest<'r>, catalog: &Catalog) -> Result<Vec<Due<'r>>, BounceError> {
    let count = req.envelope.recipients.len();
    let mut due = Vec::new();
    for outcome in req.recipients {
        let recipient = req
            .envelope
            .recipients
            .get(outcome.index)
            .ok_or(BounceError::RecipientIndex { index: outcome.index, count })?;
        if !outcome.action.is_requested(recipient.notify) {
            continue;
        }
        // Successes need no advice; everything else links to its help page.
        let help = match outcome.action {
            Action::Failed | Action::Delayed => {
                Some(help_from(catalog, help_code_for(outcome.status, outcome.diagnostic.as_deref()))?)
            }
            Action::Delivered | Action::Relayed | Action::Expanded => None,
        };
        due.push(Due { outcome, recipient, help });
    }
    Ok(due)
}

/// Boundaries only need to be unique against the content: the human parts are
/// quoted-printable (which cannot contain `=_`) but the original is copied as is.
fn unique_boundary(base: &str, original: &[u8]) -> String {
    let mut candidate = base.to_owned();
    let mut n = 0;
    while original.windows(candidate.len()).any(|w| w == candidate.as_bytes()) {
        n += 1;
        candidate = format!("{base}_{n}");
    }
    candidate
}

fn sanitize_seed(seed: &str) -> String {
    let clean: String =
        seed.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-').take(64).collect();
    if clean.is_empty() { "bounce".to_owned() } else { clean }
}

fn subject(catalog: &Catalog, worst: Action, original_head: &[u8]) -> Result<String, BounceError> {
    let raw = headers::values(original_head, "Subject").into_iter().next().unwrap_or_default();
    let original: String = headers::decode_encoded_words(&raw).chars().filter(|c| !c.is_control()).collect();
    let id = match worst {
        Action::Failed => "subject-failed",
        Action::Delayed => "subject-delayed",
        Action::Delivered | Action::Relayed | Action::Expanded => "subject-delivered",
    };
    let text = catalog.text(id, &[("subject", original.as_str())])?;
    // Without an original subject the prefix's own colon would dangle.
    Ok(text.trim_end_matches([' ', ':', '\u{a0}']).to_owned())
}

fn write_top_headers(
    out: &mut String,
    req: &BounceRequest<'_>,
    sender: &str,
    subject: &str,
    seed: &str,
    catalog: &Catalog,
) -> Result<(), BounceError> {
    let display_name = catalog.text("mailer-daemon-name", &[])?;
    let mut from = String::new();
    headers::write_text_field(&mut from, "From", &display_name);
    out.push_str(from.trim_end_matches("\r\n"));
    writeln_crlf(out, &format!(" <MAILER-DAEMON@{}>", req.reporting_mta));
    writeln_crlf(out, &format!("To: <{sender}>"));
    headers::write_text_field(out, "Subject", subject);
    writeln_crlf(out, &format!("Date: {}", rfc5322_date(req.now_unix_s)));
    writeln_crlf(out, &format!("Message-ID: <{seed}@{}>", req.reporting_mta));
    let (original_head, _) = headers::split(req.original);
    if let Some(id) = headers::values(original_head, "Message-ID").into_iter().next() {
        // Threads the notification under the original in the sender's mail client.
        if id.starts_with('<') && id.ends_with('>') && id.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            writeln_crlf(out, &format!("In-Reply-To: {id}"));
            writeln_crlf(out, &format!("References: {id}"));
        }
    }
    writeln_crlf(out, "Auto-Submitted: auto-replied");
    writeln_crlf(out, "MIME-Version: 1.0");
    writeln_crlf(out, &format!("Content-Language: {}", catalog.lang().tag()));
    Ok(())
}

/// The human-readable content, built once and written as text and as HTML.
struct Human {
    intro: String,
    recipients: Vec<HumanRecipient>,
    reported_by: String,
    attached: String,
}

struct HumanRecipient {
    /// `label value` lines (labels carry their colon): recipient, status, remote reply, retry date.
    facts: Vec<(String, String)>,
    note: Option<String>,
    /// Headed paragraphs: why, sender, admin.
    sections: Vec<(String, String)>,
    link: Option<(String, String)>,
}

fn human(
    req: &BounceRequest<'_>,
    catalog: &Catalog,
    due: &[Due<'_>],
    worst: Action,
) -> Result<Human, BounceError> {
    let intro_id = match worst {
        Action::Failed => "intro-failed",
        Action::Delayed => "intro-delayed",
        Action::Delivered | Action::Relayed | Action::Expanded => "intro-delivered",
    };
    let recipients = due.iter().map(|d| human_recipient(req, catalog, d)).collect::<Result<_, _>>()?;
    let attached_id = match original_kind(req) {
        OriginalKind::Full => "footer-attached-full",
        OriginalKind::Headers => "footer-attached-headers",
    };
    Ok(Human {
        intro: catalog.text(intro_id, &[])?,
        recipients,
        reported_by: catalog.text("footer-reported-by", &[("host", req.reporting_mta)])?,
        attached: catalog.text(attached_id, &[])?,
    })
}

fn human_recipient(
    req: &BounceRequest<'_>,
    catalog: &Catalog,
    due: &Due<'_>,
) -> Result<HumanRecipient, BounceError> {
    let outcome = due.outcome;
    let status = outcome.status.to_string();
    let status_value = match &due.help {
        Some(help) => format!("{status} ({})", help.title),
        None => status,
    };
    let mut facts = vec![
        (catalog.text("label-recipient", &[])?, due.recipient.address.to_string()),
        (catalog.text("label-status", &[])?, status_value),
    ];
    if let Some(reply) = &outcome.diagnostic {
        let server = outcome.remote_mta.as_deref().unwrap_or("?");
        facts.push((catalog.text("label-remote-reply", &[("server", server)])?, one_line(reply)));
    }
    if let (Action::Delayed, Some(until)) = (outcome.action, outcome.will_retry_until_unix_s) {
        facts.push((catalog.text("label-retry-until", &[])?, human_date(until)));
    }
    // A failure after retries is told as such: the help text alone (say, a throttling
    // token) would read as if the message had been refused at once. A final failure with
    // a temporary status, or X.4.7, is how queue managers report expiry.
    let expired = outcome.action == Action::Failed
        && (outcome.status.class == 4 || (outcome.status.subject == 4 && outcome.status.detail == 7));
    let note = if expired {
        let since = human_date(req.arrival_unix_s);
        let last = human_date(outcome.last_attempt_unix_s);
        Some(catalog.text("note-expired", &[("since", &since), ("last", &last)])?)
    } else {
        None
    };
    let Some(help) = &due.help else {
        return Ok(HumanRecipient { facts, note, sections: Vec::new(), link: None });
    };
    let sections = vec![
        (catalog.text("heading-why", &[])?, help.why.clone()),
        (catalog.text("heading-sender", &[])?, help.sender.clone()),
        (catalog.text("heading-admin", &[])?, help.admin.clone()),
    ];
    let url = format!("{}/help/{}", req.admin_base_url.trim_end_matches('/'), help.code);
    let link = Some((catalog.text("label-more-info", &[])?, url));
    Ok(HumanRecipient { facts, note, sections, link })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn write_human_part(
    out: &mut String,
    req: &BounceRequest<'_>,
    catalog: &Catalog,
    due: &[Due<'_>],
    worst: Action,
    subject: &str,
    boundary: &str,
) -> Result<(), BounceError> {
    let human = human(req, catalog, due, worst)?;
    let lang = catalog.lang().tag();
    writeln_crlf(out, &format!("Content-Type: multipart/alternative; boundary=\"{boundary}\""));
    writeln_crlf(out, "");
    for (subtype, body) in [("plain", human_text(&human)), ("html", human_html(&human, subject, lang))] {
        writeln_crlf(out, &format!("--{boundary}"));
        writeln_crlf(out, &format!("Content-Type: text/{subtype}; charset=utf-8"));
        writeln_crlf(out, &format!("Content-Language: {lang}"));
        writeln_crlf(out, "Content-Transfer-Encoding: quoted-printable");
        writeln_crlf(out, "");
        out.push_str(&quoted_printable(&body));
    }
    writeln_crlf(out, &format!("--{boundary}--"));
    writeln_crlf(out, "");
    Ok(())
}

fn human_text(human: &Human) -> String {
    let mut text = format!("{}\n", human.intro);
    for recipient in &human.recipients {
        text.push('\n');
        for (label, value) in &recipient.facts {
            let _ = writeln!(text, "{label} {value}");
        }
        if let Some(note) = &recipient.note {
            let _ = write!(text, "\n{note}\n");
        }
        for (heading, paragraph) in &recipient.sections {
            let _ = write!(text, "\n{heading}\n{paragraph}\n");
        }
        if let Some((label, url)) = &recipient.link {
            let _ = write!(text, "\n{label} {url}\n");
        }
    }
    let _ = write!(text, "\n-- \n{}\n{}", human.reported_by, human.attached);
    text
}

fn human_html(human: &Human, subject: &str, lang: &str) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n</head>\n\
         <body style=\"font-family: sans-serif\">\n<p>{}</p>\n",
        html_escape(subject),
        html_escape(&human.intro)
    );
    for recipient in &human.recipients {
        html.push_str("<hr>\n<table>\n");
        for (label, value) in &recipient.facts {
            let _ = writeln!(
                html,
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                html_escape(label),
                html_escape(value)
            );
        }
        html.push_str("</table>\n");
        if let Some(note) = &recipient.note {
            let _ = writeln!(html, "<p>{}</p>", html_escape(note));
        }
        for (heading, paragraph) in &recipient.sections {
            let _ = writeln!(html, "<h3>{}</h3>\n<p>{}</p>", html_escape(heading), html_escape(paragraph));
        }
        if let Some((label, url)) = &recipient.link {
            let url = html_escape(url);
            let _ = writeln!(html, "<p>{} <a href=\"{url}\">{url}</a></p>", html_escape(label));
        }
    }
    let _ = write!(
        html,
        "<hr>\n<p><small>{}<br>\n{}</small></p>\n</body>\n</html>",
        html_escape(&human.reported_by),
        html_escape(&human.attached)
    );
    html
}

/// RFC 3464 2.2 and 2.3. Every value is made 7-bit (see [`unitext`]) so that the part
/// can be `message/delivery-status` rather than RFC 6533's global variant.
fn write_delivery_status(out: &mut String, req: &BounceRequest<'_>, due: &[Due<'_>]) {
    writeln_crlf(out, "Content-Type: message/delivery-status");
    writeln_crlf(out, "");
    field(out, "Reporting-MTA", &format!("dns; {}", req.reporting_mta));
    if let Some(envid) = &req.envelope.envid {
        field(out, "Original-Envelope-Id", &unitext(envid));
    }
    field(out, "Arrival-Date", &rfc5322_date(req.arrival_unix_s));
    for d in due {
        let outcome = d.outcome;
        writeln_crlf(out, "");
        if let Some(orcpt) = &d.recipient.orcpt {
            field(
                out,
                "Original-Recipient",
                &format!("{}; {}", unitext(&orcpt.addr_type), unitext(&orcpt.address)),
            );
        }
        let address = d.recipient.address.to_string();
        let addr_type = if address.is_ascii() { "rfc822" } else { "utf-8" };
        field(out, "Final-Recipient", &format!("{addr_type}; {}", unitext(&address)));
        field(out, "Action", outcome.action.field());
        field(out, "Status", &outcome.status.to_string());
        if let Some(mta) = &outcome.remote_mta {
            field(out, "Remote-MTA", &format!("dns; {}", unitext(mta)));
        }
        if let Some(reply) = &outcome.diagnostic {
            field(out, "Diagnostic-Code", &format!("smtp; {}", unitext(&one_line(reply))));
        }
        field(out, "Last-Attempt-Date", &rfc5322_date(outcome.last_attempt_unix_s));
        if let (Action::Delayed, Some(until)) = (outcome.action, outcome.will_retry_until_unix_s) {
            field(out, "Will-Retry-Until", &rfc5322_date(until));
        }
    }
    writeln_crlf(out, "");
}

fn field(out: &mut String, name: &str, value: &str) {
    let tokens: Vec<String> = value.split(' ').filter(|t| !t.is_empty()).map(str::to_owned).collect();
    headers::write_folded(out, name, &tokens);
}

/// Printable ASCII kept, everything else as `\x{HHHH}` (RFC 6533 3's escape), so that
/// remote reply text or a UTF-8 address cannot break the 7-bit report.
fn unitext(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            ' '..='~' if ch != '\\' => out.push(ch),
            _ => {
                let _ = write!(out, "\\x{{{:04X}}}", u32::from(ch));
            }
        }
    }
    // No token may pass the line limit even where folding finds no space.
    out.split(' ').map(|t| t.chars().take(900).collect::<String>()).collect::<Vec<_>>().join(" ")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OriginalKind {
    Full,
    Headers,
}

/// The whole original only when the sender asked for it, it fits the limit and its lines
/// fit SMTP's; otherwise its headers, which is what RFC 3461 `RET=HDRS` (and the default) ask.
fn original_kind(req: &BounceRequest<'_>) -> OriginalKind {
    let lines_fit = || headers::lines(req.original).all(|line| line.len() <= LINE_BYTES_MAX);
    if req.envelope.ret == Some(Ret::Full) && req.original.len() <= req.full_original_bytes_max && lines_fit()
    {
        OriginalKind::Full
    } else {
        OriginalKind::Headers
    }
}

fn write_original(out: &mut Vec<u8>, req: &BounceRequest<'_>) {
    let (content_type, content) = match original_kind(req) {
        OriginalKind::Full => ("message/rfc822", req.original),
        OriginalKind::Headers => ("text/rfc822-headers", headers::split(req.original).0),
    };
    let encoding = if content.is_ascii() { "7bit" } else { "8bit" };
    out.extend_from_slice(
        format!("Content-Type: {content_type}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n").as_bytes(),
    );
    // Line ends normalised to CRLF: the spool holds CRLF already, but a bare LF copied
    // into a bounce would make the bounce itself refused by strict receivers.
    for line in headers::lines(content) {
        // Only headers can be over SMTP's line limit here (a full original with such lines
        // is sent as headers); they are informative, so cutting them is harmless.
        out.extend_from_slice(&line[..line.len().min(LINE_BYTES_MAX)]);
        out.extend_from_slice(b"\r\n");
    }
    // The CRLF before the closing boundary belongs to the boundary (RFC 2046 5.1.1): this
    // one is the empty line that ends `text/rfc822-headers`, or keeps the last line end of
    // a full original.
    out.extend_from_slice(b"\r\n");
}
