//! The quarantine: messages held because a tenant's policy said so (a DMARC failure, a
//! spoofed domain of its own, spam). Tenant admins list, preview, release and delete their
//! own tenant's; a message held for recipients of several tenants is the operator's to
//! decide. Releases and deletions are audited.

use access::Permission;
use directory::TenantId;

use super::{Admin, Change, Context};
use crate::error::{AdminError, ErrorKind};
use crate::live::{HeldMessageView, LiveError};
use crate::views::{AttachmentView, Done, HeldMessageContent};

/// Bytes of a held message read to show it (its attachments after that are not listed).
pub const HELD_READ_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Characters of a held message's text shown.
pub const HELD_TEXT_CHARS_MAX: usize = 64 * 1024;
/// Headers shown, and characters of each.
pub const HELD_HEADERS_MAX: usize = 200;
const HEADER_CHARS_MAX: usize = 2_000;
/// Attachments listed.
const ATTACHMENTS_MAX: usize = 200;

fn quarantine_error(e: LiveError) -> AdminError {
    match e {
        LiveError::Refused(message)
            if message.contains("no held message") || message.contains("not a quarantine id") =>
        {
            AdminError::new(ErrorKind::NotFound, message)
        }
        LiveError::Refused(message)
            if message.contains("already released") || message.contains("being released") =>
        {
            AdminError::new(ErrorKind::Conflict, message)
        }
        LiveError::Refused(message) | LiveError::NotRunning(message) => {
            AdminError::new(ErrorKind::Unavailable, message)
        }
        LiveError::Garbled(_) => AdminError::new(ErrorKind::Internal, e.to_string()),
    }
}

fn check_id(id: &str) -> Result<(), AdminError> {
    if id.is_empty() || id.len() > 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AdminError::invalid(
            "quarantine.id",
            format!("invalid quarantine.id {id:?}: expected an id as `sluice quarantine list` shows it"),
        ));
    }
    Ok(())
}

impl Admin {
    /// Held messages the caller may see, newest first (a tenant role: its tenant's).
    pub fn list_quarantine(
        &self,
        cx: &Context,
        tenant: Option<&str>,
    ) -> Result<Vec<HeldMessageView>, AdminError> {
        let scope = self.scope(cx, tenant)?;
        self.allow(cx, Permission::ReadTrace, scope.as_ref(), "read the quarantine")?;
        let all = self.quarantine.list().map_err(quarantine_error)?;
        Ok(all
            .into_iter()
            .filter(|m| scope.as_ref().is_none_or(|t| m.tenants.iter().any(|x| x == t.as_str())))
            .collect())
    }

    /// One held message, if the caller may act on it: a tenant role only on messages held
    /// for its own tenant alone.
    fn held(
        &self,
        cx: &Context,
        id: &str,
        permission: Permission,
        what: &str,
    ) -> Result<HeldMessageView, AdminError> {
        check_id(id)?;
        let entry = self.quarantine.entry(id).map_err(quarantine_error)?;
        let own = cx.principal.tenant.as_ref();
        if let Some(own) = own
            && !entry.tenants.iter().any(|t| t == own.as_str())
        {
            return Err(AdminError::not_found(format!("held message {id}")));
        }
        let tenant = entry.tenants.first().map(|t| TenantId::parse(t)).transpose()?;
        self.allow(cx, permission, tenant.as_ref(), what)?;
        if own.is_some() && entry.tenants.len() > 1 {
            return Err(AdminError::new(
                ErrorKind::Forbidden,
                format!(
                    "held message {id} is held for recipients of several tenants; the operator decides about it"
                ),
            ));
        }
        Ok(entry)
    }

    /// The message's headers and the start of its text.
    pub fn preview_quarantined(
        &self,
        cx: &Context,
        id: &str,
    ) -> Result<(HeldMessageView, String), AdminError> {
        let entry = self.held(cx, id, Permission::EditTenant, "preview held messages")?;
        let text = self.quarantine.preview(id).map_err(quarantine_error)?;
        Ok((entry, text))
    }

    /// The message decoded for reading: headers, text, attachments by name and size.
    pub fn inspect_quarantined(
        &self,
        cx: &Context,
        id: &str,
    ) -> Result<(HeldMessageView, HeldMessageContent), AdminError> {
        let entry = self.held(cx, id, Permission::EditTenant, "preview held messages")?;
        let data = self.quarantine.message(id, HELD_READ_BYTES_MAX).map_err(quarantine_error)?;
        let mut content = decode(&data);
        content.partly_read = (data.len() as u64) < entry.size && data.len() >= HELD_READ_BYTES_MAX;
        Ok((entry, content))
    }

    /// Delivers a held message to its held recipients, once.
    pub fn release_quarantined(&self, cx: &Context, id: &str) -> Result<HeldMessageView, AdminError> {
        let before = self.held(cx, id, Permission::EditTenant, "release held messages")?;
        let by = cx.principal.actor.to_string();
        let after = self.quarantine.release(id, &by).map_err(quarantine_error)?;
        let tenant = before.tenants.first().and_then(|t| TenantId::parse(t).ok());
        let mut store = self.store();
        let change = Change::new(tenant.as_ref(), "quarantine.release", id).before(&before).after(&after);
        self.audit(&mut **store, cx, change);
        Ok(after)
    }

    /// Deletes a held message.
    pub fn delete_quarantined(&self, cx: &Context, id: &str) -> Result<Done, AdminError> {
        let before = self.held(cx, id, Permission::EditTenant, "delete held messages")?;
        self.quarantine.delete(id).map_err(quarantine_error)?;
        let tenant = before.tenants.first().and_then(|t| TenantId::parse(t).ok());
        let mut store = self.store();
        self.audit(&mut **store, cx, Change::new(tenant.as_ref(), "quarantine.delete", id).before(&before));
        Ok(Done { message: format!("held message {id} deleted") })
    }
}

/// A message's headers, first text part and attachments, each within its bound. HTML is
/// turned into plain text here, so a page never has markup from the message to render.
pub fn decode(data: &[u8]) -> HeldMessageContent {
    use mail_parser::{MessageParser, MimeHeaders};
    let Some(message) = MessageParser::default().parse(data) else {
        let text = String::from_utf8_lossy(data);
        return HeldMessageContent {
            text: bounded(&text, HELD_TEXT_CHARS_MAX).0,
            ..HeldMessageContent::default()
        };
    };
    let all: Vec<(String, String)> = message
        .headers_raw()
        .map(|(name, value)| (name.to_string(), bounded(&unfold(value), HEADER_CHARS_MAX).0))
        .collect();
    let mut cut = all.len() > HELD_HEADERS_MAX;
    let headers = all.into_iter().take(HELD_HEADERS_MAX).collect();
    let text_from_html =
        message.text_body_count() > 0 && message.text_part(0).is_some_and(|p| p.is_text_html());
    let (text, text_cut) = bounded(&message.body_text(0).unwrap_or_default(), HELD_TEXT_CHARS_MAX);
    cut |= text_cut || message.attachment_count() > ATTACHMENTS_MAX;
    let attachments = message
        .attachments()
        .take(ATTACHMENTS_MAX)
        .map(|part| AttachmentView {
            name: part.attachment_name().map_or_else(String::new, |n| bounded(n, 200).0),
            content_type: part.content_type().map_or_else(
                || "application/octet-stream".to_string(),
                |t| match t.subtype() {
                    Some(sub) => format!("{}/{sub}", t.ctype()),
                    None => t.ctype().to_string(),
                },
            ),
            size: part.len() as u64,
        })
        .collect();
    let subject = bounded(message.subject().unwrap_or_default(), 1_000).0;
    HeldMessageContent { headers, subject, text, text_from_html, cut, partly_read: false, attachments }
}

/// A header's value on one line, control characters out.
fn unfold(value: &str) -> String {
    let one_line: String =
        value.split(['\r', '\n']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
    one_line.chars().filter(|c| !c.is_control()).collect()
}

/// `text`'s first `chars_max` characters, and whether it was longer.
fn bounded(text: &str, chars_max: usize) -> (String, bool) {
    match text.char_indices().nth(chars_max) {
        Some((at, _)) => (text[..at].to_string(), true),
        None => (text.to_string(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &str = "From: Ann <ann@bank.example>\r\nTo: bob@acme.example\r\nSubject: =?UTF-8?Q?Facture_=C3=A9chue?=\r\n\
        \tcontinued\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
        --b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
        <p>Pay <b>now</b></p><script>alert(1)</script>\r\n\
        --b\r\nContent-Type: application/pdf; name=invoice.pdf\r\nContent-Disposition: attachment; filename=invoice.pdf\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n";

    #[test]
    fn html_becomes_text_and_attachments_are_listed_by_name_and_size() {
        let c = decode(MIXED.as_bytes());
        assert_eq!(c.subject, "Facture échue continued");
        assert!(c.text_from_html, "{c:?}");
        assert!(c.text.contains("Pay") && c.text.contains("now"), "{c:?}");
        assert!(!c.text.contains('<') && !c.text.contains("alert"), "no markup, no script: {:?}", c.text);
        let pdf =
            AttachmentView { name: "invoice.pdf".into(), content_type: "application/pdf".into(), size: 9 };
        assert_eq!(c.attachments, vec![pdf]);
        let subject = c.headers.iter().find(|(n, _)| n == "Subject").expect("Subject header");
        assert_eq!(subject.1, "=?UTF-8?Q?Facture_=C3=A9chue?= continued");
        assert!(!c.cut);
    }

    #[test]
    fn the_text_and_the_headers_are_bounded() {
        let long = format!("Subject: long\r\n\r\n{}", "é".repeat(HELD_TEXT_CHARS_MAX + 10));
        let c = decode(long.as_bytes());
        assert_eq!(c.text.chars().count(), HELD_TEXT_CHARS_MAX);
        assert!(c.cut);
        let many = format!("{}\r\nbody\r\n", "X-A: 1\r\n".repeat(HELD_HEADERS_MAX + 5));
        let c = decode(many.as_bytes());
        assert_eq!(c.headers.len(), HELD_HEADERS_MAX);
        assert!(c.cut);
    }
}
