//! Whether a notification is due, and the message itself.

use crate::encode::{html_escape, quoted_printable, rfc5322_date};
use crate::help::{HelpText, help_code_for_report, help_from};
use crate::lang::{Catalog, language_for};
use crate::report::{Action, ProblemKind, RecipientReport};
use crate::{BounceError, headers};
use smtp_wire::{Envelope, Notify, Recipient, Ret, ReversePath};
use std::fmt::{self, Write as _};

/// Everything a notification is made of. The caller passes the time and a unique seed
/// (for the Message-ID and MIME boundaries), so rendering is deterministic.
#[derive(Clone, Copy, Debug)]
pub struct BounceRequest<'a> {
    /// The host name of this Sluice node, e.g. `mx1.sluice.example`.
    pub reporting_mta: &'a str,
    /// Where the admin center serves help pages, e.g. `https://admin.sluice.example`;
    /// `None` when no such address is reachable from outside: the reports then carry no
    /// link (the help texts themselves are in the report).
    pub admin_base_url: Option<&'a str>,
    pub envelope: &'a Envelope,
    /// The spooled message, `Received:` header included.
    pub original: &'a [u8],
    /// The original's id in Sluice's queue (`X-Sluice-Queue-ID`), for the operator's logs.
    pub queue_id: &'a str,
    pub arrival_unix_s: u64,
    pub now_unix_s: u64,
    pub recipients: &'a [RecipientReport],
    pub tenant_default_language: &'a str,
    /// Unique per notification, e.g. the spool id and a counter.
    pub message_id_seed: &'a str,
    /// `RET=FULL` returns the whole original only up to this size; beyond it the headers
    /// (RFC 3461 4.3 allows the truncation), so a bounce never doubles a huge message.
    pub full_original_bytes_max: usize,
}

/// The result of [`render`]: a notification, or why none is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rendered {
    /// The complete message, to be enqueued with the null reverse path.
    Message(Vec<u8>),
    NotDue(NotDue),
}

/// Why no notification is sent. Only loops are suppressed (RFC 5321 6.1, RFC 3461 4.1):
/// an automatic original (`Auto-Submitted:`) still gets one. Callers log every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotDue {
    /// The original has the null reverse path: it is itself a notification.
    NullSender,
    /// The original is a delivery status report sent from an address: a bounce of a bounce.
    OriginalIsReport,
    /// No reported recipient's `NOTIFY=` asks for its outcome.
    NotRequested,
}

impl fmt::Display for NotDue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotDue::NullSender => "the message has the null sender: a notification never answers another",
            NotDue::OriginalIsReport => {
                "the message is itself a delivery status report: no bounce of a bounce"
            }
            NotDue::NotRequested => "the sender's NOTIFY parameters ask for no notification of this outcome",
        })
    }
}

/// The longest line copied from the original, CRLF excluded (RFC 5321 4.5.3.1.6 allows
/// 998 bytes before the CRLF).
const LINE_BYTES_MAX: usize = 998;
/// Envelope recipients listed in the "original message" details; the rest are counted.
const LISTED_RECIPIENTS_MAX: usize = 5;

/// One recipient that the notification reports on.
struct Due<'r> {
    report: &'r RecipientReport,
    recipient: &'r Recipient,
    help: Option<HelpText>,
}

/// The notification due for `req`, or why none is: the original is a notification itself
/// (null sender, or a delivery report), or no recipient's `NOTIFY=` asks for its outcome.
pub fn render(req: &BounceRequest<'_>) -> Result<Rendered, BounceError> {
    check_header_safe("reporting_mta", req.reporting_mta)?;
    if let Some(url) = req.admin_base_url {
        check_header_safe("admin_base_url", url)?;
    }
    check_header_safe("queue_id", req.queue_id)?;
    let ReversePath::Mailbox(sender) = &req.envelope.sender else {
        return Ok(Rendered::NotDue(NotDue::NullSender));
    };
    let (original_head, _) = headers::split(req.original);
    if is_delivery_report(original_head) {
        return Ok(Rendered::NotDue(NotDue::OriginalIsReport));
    }
    let catalog = Catalog::load(language_for(req.original, req.tenant_default_language))?;
    let due = due_recipients(req, &catalog)?;
    let Some(worst) = due.iter().map(|d| d.report.action).min() else {
        return Ok(Rendered::NotDue(NotDue::NotRequested));
    };

    let seed = sanitize_seed(req.message_id_seed);
    let report_boundary = unique_boundary(&format!("=_report_{seed}"), req.original);
    let alt_boundary = unique_boundary(&format!("=_alt_{seed}"), req.original);
    let subject = subject(&catalog, worst, original_head)?;

    let mut out = String::new();
    write_top_headers(&mut out, req, &sender.to_string(), &subject, &seed, &catalog)?;
    writeln_crlf(&mut out, "Content-Type: multipart/report; report-type=delivery-status;");
    writeln_crlf(&mut out, &format!(" boundary=\"{report_boundary}\""));
    writeln_crlf(&mut out, "");
    writeln_crlf(&mut out, &preamble(&catalog)?);
    writeln_crlf(&mut out, &format!("--{report_boundary}"));
    write_human_part(&mut out, req, &catalog, &due, worst, &subject, &alt_boundary)?;
    writeln_crlf(&mut out, &format!("--{report_boundary}"));
    write_delivery_status(&mut out, req, &due);
    writeln_crlf(&mut out, &format!("--{report_boundary}"));
    let mut bytes = out.into_bytes();
    write_original(&mut bytes, req);
    bytes.extend_from_slice(format!("--{report_boundary}--\r\n").as_bytes());
    Ok(Rendered::Message(bytes))
}

fn writeln_crlf(out: &mut String, line: &str) {
    out.push_str(line);
    out.push_str("\r\n");
}

/// Host names, ids and URLs are written into headers and links unencoded; a space or
/// control character there would break the message or inject a header.
fn check_header_safe(field: &'static str, value: &str) -> Result<(), BounceError> {
    if value.is_empty() || value.bytes().any(|b| !(0x21..=0x7e).contains(&b) || b == b'"') {
        return Err(BounceError::InvalidField { field, value: value.to_owned() });
    }
    Ok(())
}

/// An original that is itself a delivery status report (RFC 3464), whatever its sender:
/// answering it could make two systems bounce at each other. `Auto-Submitted:` alone does
/// not count: RFC 5321 6.1 requires a notification to any non-null reverse path.
fn is_delivery_report(original_head: &[u8]) -> bool {
    headers::values(original_head, "Content-Type").iter().any(|value| {
        let lower = value.to_ascii_lowercase();
        let mut params = lower.split(';').map(str::trim);
        params.next() == Some("multipart/report")
            && params.any(|p| {
                let Some((name, value)) = p.split_once('=') else { return false };
                name.trim() == "report-type"
                    && matches!(value.trim().trim_matches('"'), "delivery-status" | "global-delivery-status")
            })
    })
}

/// Whether the recipient's `NOTIFY=` asks for `action`. Without `NOTIFY=` Sluice reports
/// failures and delays (RFC 3461 4.1 leaves the default to the MTA).
fn is_requested(action: Action, notify: Option<Notify>) -> bool {
    let (success, failure, delay) = match notify {
        None => (false, true, true),
        Some(Notify::Never) => return false,
        Some(Notify::On { success, failure, delay }) => (success, failure, delay),
    };
    match action {
        Action::Failed => failure,
        Action::Delayed => delay,
        Action::Delivered | Action::Relayed | Action::Expanded => success,
    }
}

fn due_recipients<'r>(req: &BounceRequest<'r>, catalog: &Catalog) -> Result<Vec<Due<'r>>, BounceError> {
    let count = req.envelope.recipients.len();
    let mut due = Vec::new();
    for report in req.recipients {
        let recipient = req
            .envelope
            .recipients
            .get(report.index)
            .ok_or(BounceError::RecipientIndex { index: report.index, count })?;
        if !is_requested(report.action, recipient.notify) {
            continue;
        }
        // Successes need no advice; everything else links to its help page.
        let help = help_code_for_report(report).map(|code| help_from(catalog, code)).transpose()?;
        due.push(Due { report, recipient, help });
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

/// The text before the first part, shown only by mail readers without MIME. It stays in
/// 7-bit ASCII (the top level has no transfer encoding of its own): a locale whose text is
/// not ASCII gets the English one.
fn preamble(catalog: &Catalog) -> Result<String, BounceError> {
    let text = catalog.text("mime-preamble", &[])?;
    if text.is_ascii() {
        return Ok(text);
    }
    Ok("This is a delivery status notification in MIME format (RFC 3464).".to_owned())
}

fn original_subject(original_head: &[u8]) -> String {
    let raw = headers::values(original_head, "Subject").into_iter().next().unwrap_or_default();
    headers::decode_encoded_words(&raw).chars().filter(|c| !c.is_control()).collect()
}

fn subject(catalog: &Catalog, worst: Action, original_head: &[u8]) -> Result<String, BounceError> {
    let original = original_subject(original_head);
    let id = match worst {
        Action::Failed => "subject-failed",
        Action::Delayed => "subject-delayed",
        Action::Delivered | Action::Relayed | Action::Expanded => "subject-delivered",
    };
    let text = catalog.text(id, &[("subject", original.as_str())])?;
    // Without an original subject the prefix's own colon would dangle.
    Ok(text.trim_end_matches([' ', ':', '\u{a0}', '\u{202f}']).to_owned())
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
    if let Some(id) = original_message_id(original_head) {
        // Threads the notification under the original in the sender's mail client.
        writeln_crlf(out, &format!("In-Reply-To: {id}"));
        writeln_crlf(out, &format!("References: {id}"));
    }
    writeln_crlf(out, "Auto-Submitted: auto-replied");
    writeln_crlf(out, "MIME-Version: 1.0");
    writeln_crlf(out, &format!("Content-Language: {}", catalog.lang().tag()));
    Ok(())
}

/// The original's `Message-ID:` when it is one clean `<...>` token.
/// The `Message-ID:` (without its angle brackets) and the decoded `Subject:` of a message,
/// read as a bounce quotes them: for the message trace.
pub fn message_identity(message: &[u8]) -> (Option<String>, Option<String>) {
    let (head, _) = headers::split(message);
    let id = original_message_id(head).map(|id| id[1..id.len() - 1].to_string());
    let subject = Some(original_subject(head)).filter(|s| !s.trim().is_empty());
    (id, subject)
}

fn original_message_id(original_head: &[u8]) -> Option<String> {
    let id = headers::values(original_head, "Message-ID").into_iter().next()?;
    let clean = id.starts_with('<')
        && id.ends_with('>')
        && id.len() <= 250
        && id.bytes().all(|b| (0x21..=0x7e).contains(&b));
    clean.then_some(id)
}

/// The human-readable content, built once and written as text and as HTML.
struct Human {
    /// First line: the recipients and the outcome.
    intro: String,
    /// What happens next.
    next: String,
    recipients: Vec<HumanRecipient>,
    original_heading: String,
    /// `label value` lines about the original message.
    original: Vec<(String, String)>,
    reported_by: String,
    attached: String,
}

struct HumanRecipient {
    /// `label value` lines (labels carry their colon): recipient, status, remote reply,
    /// Sluice's own finding, retry date.
    facts: Vec<(String, String)>,
    /// Sentences about scheduling: a paused destination, an expiry.
    notes: Vec<String>,
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
    let (intro_id, next_id) = match worst {
        Action::Failed => ("intro-failed", "next-failed"),
        Action::Delayed => ("intro-delayed", "next-delayed"),
        Action::Delivered | Action::Relayed | Action::Expanded => ("intro-delivered", "next-delivered"),
    };
    let headline: Vec<String> =
        due.iter().filter(|d| d.report.action == worst).map(|d| d.recipient.address.to_string()).collect();
    let recipients = due.iter().map(|d| human_recipient(req, catalog, d)).collect::<Result<_, _>>()?;
    let attached_id = match original_kind(req) {
        OriginalKind::Full => "footer-attached-full",
        OriginalKind::Headers => "footer-attached-headers",
    };
    Ok(Human {
        intro: catalog.text(intro_id, &[("recipients", &list(catalog, &headline)?)])?,
        next: catalog.text(next_id, &[])?,
        recipients,
        original_heading: catalog.text("heading-original", &[])?,
        original: original_details(req, catalog, due)?,
        reported_by: catalog.text("footer-reported-by", &[("host", req.reporting_mta)])?,
        attached: catalog.text(attached_id, &[])?,
    })
}

/// `a, b, c` or, past [`LISTED_RECIPIENTS_MAX`], `a, b, c, d, e and 3 more`.
fn list(catalog: &Catalog, items: &[String]) -> Result<String, BounceError> {
    let shown = items.iter().take(LISTED_RECIPIENTS_MAX).cloned().collect::<Vec<_>>().join(", ");
    let more = items.len().saturating_sub(LISTED_RECIPIENTS_MAX);
    if more == 0 {
        return Ok(shown);
    }
    let mut args = fluent_bundle::FluentArgs::new();
    args.set("list", shown);
    args.set("count", more);
    catalog.text_args("list-and-more", &args)
}

fn human_recipient(
    req: &BounceRequest<'_>,
    catalog: &Catalog,
    due: &Due<'_>,
) -> Result<HumanRecipient, BounceError> {
    let report = due.report;
    let status = report.status.to_string();
    // The status is titled after its own meaning: an expiry is an expiry even when the
    // advice is about the throttling that caused it.
    let status_value = match (&due.help, report.expired) {
        (Some(_), true) => format!("{status} ({})", help_from(catalog, "4.4.7")?.title),
        (Some(help), false) => format!("{status} ({})", help.title),
        (None, _) => status,
    };
    let domain = due.recipient.address.domain.as_str();
    let mut facts = vec![
        (catalog.text("label-recipient", &[])?, due.recipient.address.to_string()),
        (catalog.text("label-status", &[])?, status_value),
    ];
    if let Some(reply) = &report.reply {
        let stage = catalog.text(reply.stage.message_id(), &[])?;
        let label = catalog.text("label-remote-reply", &[("server", &reply.mta), ("stage", &stage)])?;
        facts.push((label, reply.text.clone()));
    }
    let mut notes = Vec::new();
    match report.problem.as_ref().map(|p| p.kind) {
        // Once expired, a pause no longer matters to anyone.
        Some(ProblemKind::DestinationPaused { .. }) if report.expired => {}
        Some(ProblemKind::DestinationPaused { until_unix_s }) => {
            let until = catalog.date(until_unix_s)?;
            notes.push(catalog.text("note-paused", &[("domain", domain), ("until", &until)])?);
        }
        Some(kind) => {
            let sentence = catalog.text(kind.message_id(), &[("domain", domain)])?;
            facts.push((catalog.text("label-problem", &[])?, sentence));
        }
        None => {}
    }
    if let (Action::Delayed, Some(until)) = (report.action, report.will_retry_until_unix_s) {
        facts.push((catalog.text("label-retry-until", &[])?, catalog.date(until)?));
    }
    if report.expired {
        let since = catalog.date(req.arrival_unix_s)?;
        let last = catalog.date(report.last_attempt_unix_s)?;
        notes.push(catalog.text("note-expired", &[("since", &since), ("last", &last)])?);
    }
    let Some(help) = &due.help else {
        return Ok(HumanRecipient { facts, notes, sections: Vec::new(), link: None });
    };
    let sections = vec![
        (catalog.text("heading-why", &[])?, help.why.clone()),
        (catalog.text("heading-sender", &[])?, help.sender.clone()),
        (catalog.text("heading-admin", &[])?, help.admin.clone()),
    ];
    let link = match req.admin_base_url {
        Some(base) => {
            let url = format!("{}/help/{}", base.trim_end_matches('/'), help.code);
            Some((catalog.text("label-more-info", &[])?, url))
        }
        None => None,
    };
    Ok(HumanRecipient { facts, notes, sections, link })
}

/// What the sender needs to recognise the message: when it was sent, by and to whom, its
/// subject, id and size.
fn original_details(
    req: &BounceRequest<'_>,
    catalog: &Catalog,
    due: &[Due<'_>],
) -> Result<Vec<(String, String)>, BounceError> {
    let (head, _) = headers::split(req.original);
    let sent = headers::values(head, "Date")
        .first()
        .and_then(|d| headers::parse_date(d))
        .unwrap_or(req.arrival_unix_s);
    // The recipients this report is about: the others may have been delivered, and the
    // report need not list them.
    let recipients: Vec<String> = due.iter().map(|d| d.recipient.address.to_string()).collect();
    let mut details = vec![
        (catalog.text("label-sent", &[])?, catalog.date(sent)?),
        (catalog.text("label-from", &[])?, sender_address(&req.envelope.sender)),
        (catalog.text("label-to", &[])?, list(catalog, &recipients)?),
    ];
    let subject = original_subject(head);
    if !subject.trim().is_empty() {
        details.push((catalog.text("label-subject", &[])?, subject));
    }
    if let Some(id) = original_message_id(head) {
        details.push((catalog.text("label-message-id", &[])?, id));
    }
    details.push((catalog.text("label-size", &[])?, catalog.size(req.original.len())?));
    Ok(details)
}

/// The envelope sender as people write it, without angle brackets.
fn sender_address(sender: &ReversePath) -> String {
    match sender {
        ReversePath::Mailbox(address) => address.to_string(),
        ReversePath::Null => "<>".to_owned(),
    }
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
    let mut text = format!("{}\n{}\n", human.intro, human.next);
    for recipient in &human.recipients {
        text.push('\n');
        for (label, value) in &recipient.facts {
            let _ = writeln!(text, "{label} {value}");
        }
        for note in &recipient.notes {
            let _ = write!(text, "\n{note}\n");
        }
        for (heading, paragraph) in &recipient.sections {
            let _ = write!(text, "\n{heading}\n{paragraph}\n");
        }
        if let Some((label, url)) = &recipient.link {
            let _ = write!(text, "\n{label} {url}\n");
        }
    }
    let _ = write!(text, "\n{}\n", human.original_heading);
    for (label, value) in &human.original {
        let _ = writeln!(text, "{label} {value}");
    }
    let _ = write!(text, "\n-- \n{}\n{}", human.reported_by, human.attached);
    text
}

fn html_table(html: &mut String, rows: &[(String, String)]) {
    html.push_str("<table>\n");
    for (label, value) in rows {
        let _ = writeln!(
            html,
            "<tr><th align=\"left\" valign=\"top\">{}</th><td>{}</td></tr>",
            html_escape(label),
            html_escape(value)
        );
    }
    html.push_str("</table>\n");
}

fn human_html(human: &Human, subject: &str, lang: &str) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n</head>\n\
         <body style=\"font-family: sans-serif\">\n<p><strong>{}</strong><br>\n{}</p>\n",
        html_escape(subject),
        html_escape(&human.intro),
        html_escape(&human.next)
    );
    for recipient in &human.recipients {
        html.push_str("<hr>\n");
        html_table(&mut html, &recipient.facts);
        for note in &recipient.notes {
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
    let _ = writeln!(html, "<hr>\n<h3>{}</h3>", html_escape(&human.original_heading));
    html_table(&mut html, &human.original);
    let _ = write!(
        html,
        "<hr>\n<p><small>{}<br>\n{}</small></p>\n</body>\n</html>",
        html_escape(&human.reported_by),
        html_escape(&human.attached)
    );
    html
}

/// RFC 3464 2.2 and 2.3, fields in the order of its grammar. Every value is made 7-bit (see
/// [`unitext`]) so that the part can be `message/delivery-status` rather than RFC 6533's
/// global variant. `smtp;` diagnostics are only ever a remote server's reply, with that
/// server as `Remote-MTA`; Sluice's own findings are `X-Sluice;` without one.
fn write_delivery_status(out: &mut String, req: &BounceRequest<'_>, due: &[Due<'_>]) {
    writeln_crlf(out, "Content-Type: message/delivery-status");
    writeln_crlf(out, "");
    if let Some(envid) = &req.envelope.envid {
        field(out, "Original-Envelope-Id", &unitext(envid));
    }
    field(out, "Reporting-MTA", &format!("dns; {}", req.reporting_mta));
    let client = &req.envelope.client;
    field(
        out,
        "Received-From-MTA",
        &format!("dns; {} ([{}])", unitext(&client_name(&client.helo)), client.ip),
    );
    field(out, "Arrival-Date", &rfc5322_date(req.arrival_unix_s));
    field(out, "X-Sluice-Queue-ID", req.queue_id);
    for d in due {
        let report = d.report;
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
        field(out, "Action", report.action.field());
        field(out, "Status", &report.status.to_string());
        match (&report.reply, &report.problem) {
            (Some(reply), _) => {
                field(out, "Remote-MTA", &format!("dns; {}", unitext(&reply.mta)));
                field(out, "Diagnostic-Code", &format!("smtp; {}", unitext(&reply.text)));
            }
            (None, Some(problem)) => {
                field(out, "Diagnostic-Code", &format!("X-Sluice; {}", unitext(&problem.detail)));
            }
            (None, None) => {}
        }
        field(out, "Last-Attempt-Date", &rfc5322_date(report.last_attempt_unix_s));
        if let (Action::Delayed, Some(until)) = (report.action, report.will_retry_until_unix_s) {
            field(out, "Will-Retry-Until", &rfc5322_date(until));
        }
    }
    writeln_crlf(out, "");
}

/// The client's EHLO name as one token (it is remote input): spaces and parentheses,
/// which would end the name or open a comment, are dropped.
fn client_name(helo: &str) -> String {
    let name: String =
        helo.chars().filter(|c| !c.is_whitespace() && !matches!(c, '(' | ')' | ';')).take(255).collect();
    if name.is_empty() { "unknown".to_owned() } else { name }
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
    let (head, _) = headers::split(req.original);
    let head_is_text = std::str::from_utf8(head).is_ok();
    if req.envelope.ret == Some(Ret::Full)
        && req.original.len() <= req.full_original_bytes_max
        && head_is_text
        && lines_fit()
    {
        OriginalKind::Full
    } else {
        OriginalKind::Headers
    }
}

/// The original's headers or the whole original. Headers in UTF-8 (an internationalised
/// message, RFC 6532) are `message/global-headers` / `message/global` (RFC 6533 3): the
/// `text/rfc822-headers` and `message/rfc822` types promise ASCII headers, and a reader
/// would decode them as such. Headers in no charset at all (raw 8-bit) are returned as
/// UTF-8 with the invalid bytes replaced, as only their information matters.
fn write_original(out: &mut Vec<u8>, req: &BounceRequest<'_>) {
    let (head, _) = headers::split(req.original);
    let head_ascii = head.is_ascii();
    let (content_type, content): (&str, std::borrow::Cow<'_, [u8]>) = match original_kind(req) {
        OriginalKind::Full if head_ascii => ("message/rfc822", req.original.into()),
        OriginalKind::Full => ("message/global", req.original.into()),
        OriginalKind::Headers if head_ascii => ("text/rfc822-headers", head.into()),
        OriginalKind::Headers => {
            ("message/global-headers", String::from_utf8_lossy(head).into_owned().into_bytes().into())
        }
    };
    let encoding = if content.is_ascii() { "7bit" } else { "8bit" };
    out.extend_from_slice(
        format!("Content-Type: {content_type}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n").as_bytes(),
    );
    // Line ends normalised to CRLF: the spool holds CRLF already, but a bare LF copied
    // into a bounce would make the bounce itself refused by strict receivers.
    for line in headers::lines(&content) {
        // Only headers can be over SMTP's line limit here (a full original with such lines
        // is sent as headers); they are informative, so cutting them is harmless.
        let mut end = line.len().min(LINE_BYTES_MAX);
        // Never cut inside a UTF-8 sequence.
        while end < line.len() && end > 0 && (line[end] & 0xC0) == 0x80 {
            end -= 1;
        }
        out.extend_from_slice(&line[..end]);
        out.extend_from_slice(b"\r\n");
    }
    // The CRLF before the closing boundary belongs to the boundary (RFC 2046 5.1.1): this
    // one is the empty line that ends the headers, or keeps the last line end of a full
    // original.
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::message_identity;

    #[test]
    fn the_trace_gets_the_message_id_bare_and_the_subject_decoded() {
        let message = b"Subject: =?UTF-8?Q?Caf=C3=A9?=\r\n au lait\r\nMessage-ID: <a.1@x.test>\r\n\r\nMessage-ID: <body@x>\r\n";
        assert_eq!(message_identity(message), (Some("a.1@x.test".into()), Some("Café au lait".into())));
        assert_eq!(message_identity(b"Message-ID: not bracketed\r\n\r\nbody"), (None, None));
    }
}
