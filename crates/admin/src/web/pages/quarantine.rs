//! The quarantine: held messages listed (filtered by recipient, sender and reason, a page
//! at a time), one previewed (headers, its text decoded, HTML only as plain text, its
//! attachments listed and never served), released once or deleted after a confirmation
//! page. An operator sees every tenant's, a tenant's people their own; a reader sees the
//! list without actions. Who may do what is the operations' decision.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::super::form::{Fields, PostForm};
use super::super::i18n::{Words, fill};
use super::super::{Viewer, done, layout, run};
use super::{now_s, query, seg};
use crate::error::{AdminError, ErrorKind};
use crate::http::AppState;
use crate::live::HeldMessageView;
use crate::views::HeldMessageContent;

/// Held messages on one page of the list.
pub const PAGE_ROWS: usize = 50;
/// Characters of a filter kept.
const FILTER_CHARS_MAX: usize = 200;

/// The list's filters, from the query string.
#[derive(Debug, Default)]
struct Filter {
    recipient: String,
    sender: String,
    reason: String,
    page: usize,
}

impl Filter {
    fn read(q: &Fields) -> Filter {
        let text = |name: &str| q.text(name).to_lowercase().chars().take(FILTER_CHARS_MAX).collect();
        let page = q.get("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(1).max(1);
        Filter { recipient: text("recipient"), sender: text("sender"), reason: text("reason"), page }
    }

    fn keeps(&self, m: &HeldMessageView) -> bool {
        let reason_kind = |r: &String| match self.reason.as_str() {
            "dmarc" => r.starts_with("dmarc="),
            "spoofing" => r.starts_with("spoofed "),
            "spam" => r.starts_with("spam "),
            _ => true,
        };
        m.recipients.iter().any(|r| r.to_lowercase().contains(&self.recipient))
            && m.sender.to_lowercase().contains(&self.sender)
            && (self.reason.is_empty() || m.reasons.iter().any(reason_kind))
    }

    /// The query string of page `page` with these filters.
    fn link(&self, page: usize) -> String {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("recipient", &self.recipient)
            .append_pair("sender", &self.sender)
            .append_pair("reason", &self.reason)
            .append_pair("page", &page.to_string())
            .finish();
        format!("/quarantine?{q}")
    }
}

/// A policy's reason in words (`dmarc=fail (p=reject) header.from=bank.example`).
fn reason(w: &Words, text: &str) -> Markup {
    let after = |key: &str| text.split(key).nth(1).and_then(|r| r.split([' ', ')']).next()).unwrap_or("");
    let words = if text.starts_with("dmarc=") {
        Some(fill(w.q_r_dmarc, &[&after("header.from="), &after("(p=")]))
    } else if text.starts_with("spoofed ") {
        Some(fill(w.q_r_spoofed, &[&after("header.from=")]))
    } else if text.starts_with("spam ") {
        Some(fill(w.q_r_spam, &[&after("score="), &after("required=")]))
    } else {
        None
    };
    match words {
        Some(words) => html! { (words) },
        None => html! { span lang="en" { (text) } },
    }
}

fn size(w: &Words, bytes: u64) -> String {
    match bytes {
        0..1_024 => fill(w.q_bytes, &[&bytes]),
        1_024..1_048_576 => fill(w.q_kib, &[&bytes.div_ceil(1_024)]),
        _ => fill(w.q_mib, &[&format!("{:.1}", bytes as f64 / 1_048_576.0)]),
    }
}

fn expiry(w: &Words, expires_at_unix_s: u64, now: u64) -> Markup {
    let left = expires_at_unix_s.saturating_sub(now);
    let text = match left / 86_400 {
        0 => w.q_expires_day.to_string(),
        _ => fill(w.q_expires_days, &[&left.div_ceil(86_400)]),
    };
    html! { time datetime=(layout::iso(expires_at_unix_s)) title=(layout::date(expires_at_unix_s)) { (text) } }
}

fn state(w: &Words, m: &HeldMessageView) -> Markup {
    match m.state.as_str() {
        "released" => {
            let by = m.released_by.as_deref().unwrap_or("");
            let at = layout::date(m.released_at_unix_s.unwrap_or(0));
            html! { (fill(w.q_released_by, &[&by, &at])) }
        }
        "releasing" => html! { (w.q_state_releasing) },
        _ => html! { (w.q_state_held) },
    }
}

/// Whether this viewer may preview, release and delete (a reader may only list).
fn acts(v: &Viewer) -> bool {
    v.may(access::Permission::EditTenant)
}

/// Page `asked` of `len` rows (the last one when past the end): the page, how many there
/// are, and its rows.
fn paged(len: usize, asked: usize) -> (usize, usize, std::ops::Range<usize>) {
    let pages = len.div_ceil(PAGE_ROWS).max(1);
    let page = asked.clamp(1, pages);
    (page, pages, (page - 1) * PAGE_ROWS..len.min(page * PAGE_ROWS))
}

pub async fn list(State(state): State<AppState>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    run(&state, v, move |a, v| {
        let filter = Filter::read(&q);
        let held: Vec<HeldMessageView> =
            a.list_quarantine(&v.cx, None)?.into_iter().filter(|m| filter.keeps(m)).collect();
        let (page, pages, rows) = paged(held.len(), filter.page);
        let shown = &held[rows];
        let w = v.w();
        let body = html! {
            h1 { (w.quarantine) }
            (flash(w, &q))
            p { (w.q_intro) }
            (filters(w, &filter))
            p { (fill(w.q_count, &[&held.len(), &page, &pages])) }
            @if shown.is_empty() { p { (w.nothing_yet) } } @else { (table(v, shown)) }
            @if pages > 1 {
                nav aria-label=(w.q_pages) {
                    @if page > 1 { a rel="prev" href=(filter.link(page - 1)) { (w.q_previous) } " " }
                    @if page < pages { a rel="next" href=(filter.link(page + 1)) { (w.next_page) } }
                }
            }
        };
        Ok(layout::page(v, w.quarantine, body).into_response())
    })
    .await
}

fn flash(w: &Words, q: &Fields) -> Markup {
    let id = q.text("id");
    match q.get("ok") {
        Some("released") => layout::notice(&fill(w.q_released, &[&id, &q.text("queue")])),
        Some("deleted") => layout::notice(&fill(w.q_deleted, &[&id])),
        _ => html! {},
    }
}

fn filters(w: &Words, f: &Filter) -> Markup {
    let reasons = [
        ("", w.q_any_reason),
        ("dmarc", w.q_reason_dmarc),
        ("spoofing", w.q_reason_spoofing),
        ("spam", w.q_reason_spam),
    ];
    html! {
        form.filters method="get" action="/quarantine" role="search" {
            div.field { label for="q-recipient" { (w.recipient) } input #q-recipient type="search" name="recipient" value=(f.recipient); }
            div.field { label for="q-sender" { (w.sender) } input #q-sender type="search" name="sender" value=(f.sender); }
            div.field {
                label for="q-reason" { (w.q_reason) }
                select #q-reason name="reason" {
                    @for (value, label) in reasons { option value=(value) selected[f.reason == value] { (label) } }
                }
            }
            div { button type="submit" { (w.filter) } }
        }
    }
}

fn table(v: &Viewer, shown: &[HeldMessageView]) -> Markup {
    let w = v.w();
    let now = now_s();
    let many_tenants = !v.is_tenant_role();
    html! {
        div.scroll { table.responsive {
            thead { tr {
                @if many_tenants { th scope="col" { (w.tenant) } }
                th scope="col" { (w.q_held_at) } th scope="col" { (w.q_envelope) } th scope="col" { (w.subject) }
                th scope="col" { (w.q_reason) } th scope="col" { (w.state) }
                @if acts(v) { th scope="col" { (w.actions) } }
            } }
            tbody {
                @for m in shown {
                    tr {
                        @if many_tenants { td data-label=(w.tenant) { (m.tenants.join(", ")) } }
                        td data-label=(w.q_held_at) { (layout::when(w, m.held_at_unix_s, now)) }
                        td data-label=(w.q_envelope) { (m.sender) br; "→ " (m.recipients.join(", ")) }
                        td data-label=(w.subject) {
                            @if acts(v) && m.state == "held" {
                                a href=(format!("/quarantine/{}", seg(&m.id))) { (subject(w, &m.subject)) }
                            } @else { (subject(w, &m.subject)) }
                            br; span.detail { (size(w, m.size)) }
                        }
                        td data-label=(w.q_reason) { @for r in &m.reasons { (reason(w, r)) br; } }
                        td data-label=(w.state) {
                            (state(w, m)) br;
                            span.detail { (w.q_expiry) (w.colon) (expiry(w, m.expires_at_unix_s, now)) }
                        }
                        @if acts(v) { td data-label=(w.actions) { (actions(w, m)) } }
                    }
                }
            }
        } }
    }
}

/// A subject to show (a message without one still gets a link text).
fn subject<'a>(w: &'a Words, subject: &'a str) -> &'a str {
    if subject.trim().is_empty() { w.q_no_subject } else { subject }
}

fn actions(w: &Words, m: &HeldMessageView) -> Markup {
    let base = format!("/quarantine/{}", seg(&m.id));
    html! {
        @if m.state == "held" {
            a.button.secondary href=(format!("{base}/release")) aria-label=(format!("{} {}", w.q_release, m.id)) { (w.q_release) } " "
            a.button.secondary href=(format!("{base}/delete")) aria-label=(format!("{} {}", w.q_delete, m.id)) { (w.q_delete) }
        }
    }
}

/// The summary of a held message (preview and confirmation pages).
fn summary(w: &Words, m: &HeldMessageView) -> Markup {
    let now = now_s();
    html! {
        dl {
            dt { (w.q_held_at) } dd { (layout::when(w, m.held_at_unix_s, now)) }
            dt { (w.sender) } dd { (m.sender) }
            dt { (w.q_recipients) } dd { (m.recipients.join(", ")) }
            dt { (w.subject) } dd { (m.subject) }
            dt { (w.q_reason) } dd { @for r in &m.reasons { (reason(w, r)) br; } }
            dt { (w.size) } dd { (size(w, m.size)) }
            dt { (w.q_expiry) } dd { (expiry(w, m.expires_at_unix_s, now)) }
            dt { (w.state) } dd { (state(w, m)) }
        }
    }
}

pub async fn preview(State(state): State<AppState>, v: Viewer, Path(id): Path<String>) -> Response {
    run(&state, v, move |a, v| {
        let w = v.w();
        let (m, content) = a.inspect_quarantined(&v.cx, &id)?;
        let title = fill(w.q_preview_of, &[&m.id]);
        let base = format!("/quarantine/{}", seg(&m.id));
        let body = html! {
            h1 { (title) }
            (summary(w, &m))
            @if m.state == "held" {
                p {
                    a.button href=(format!("{base}/release")) { (w.q_release) } " "
                    a.button.secondary href=(format!("{base}/delete")) { (w.q_delete) }
                }
            }
            (contents(w, &content))
            p { a href="/quarantine" { (w.q_back) } }
        };
        Ok(layout::page(v, &title, body).into_response())
    })
    .await
}

fn contents(w: &Words, c: &HeldMessageContent) -> Markup {
    let headers: String = c.headers.iter().map(|(name, value)| format!("{name}: {value}\n")).collect();
    html! {
        h2 { (w.q_headers) }
        pre.message { (headers) }
        h2 { (w.q_text) }
        @if c.text_from_html { p.hint { (w.q_from_html) } }
        @if c.cut { p.hint { (w.q_cut) } }
        @if c.text.trim().is_empty() { p { (w.q_no_text) } } @else { pre.message { (c.text) } }
        h2 { (w.q_attachments) }
        @if c.partly_read { p.hint { (w.q_partly_read) } }
        @if c.attachments.is_empty() { p { (w.q_no_attachments) } } @else {
            table {
                thead { tr { th scope="col" { (w.q_name) } th scope="col" { (w.q_type) } th scope="col" { (w.size) } } }
                tbody {
                    @for a in &c.attachments {
                        tr {
                            td { @if a.name.is_empty() { (w.q_unnamed) } @else { code { (a.name) } } }
                            td { code { (a.content_type) } }
                            td { (size(w, a.size)) }
                        }
                    }
                }
            }
        }
    }
}

/// The held message as listed (also after its release, when the preview has no message).
fn listed(a: &crate::Admin, v: &Viewer, id: &str) -> Result<HeldMessageView, AdminError> {
    let found = a.list_quarantine(&v.cx, None)?.into_iter().find(|m| m.id == id);
    found.ok_or_else(|| AdminError::not_found(format!("held message {id}")))
}

/// A release of a message released before: says so, by whom and when (409).
fn already_released(v: &Viewer, m: &HeldMessageView) -> Response {
    let w = v.w();
    let by = m.released_by.as_deref().unwrap_or("");
    let at = layout::date(m.released_at_unix_s.unwrap_or(0));
    let text = fill(w.q_already_released, &[&m.id, &by, &at]);
    let body = html! {
        h1 { (fill(w.q_release_title, &[&m.id])) }
        div.alert role="alert" { p { (text) } }
        p { a href="/quarantine" { (w.q_back) } }
    };
    (StatusCode::CONFLICT, layout::page(v, w.quarantine, body)).into_response()
}

/// The confirmation page of a release or a deletion.
pub async fn confirm(
    State(state): State<AppState>,
    v: Viewer,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    run(&state, v, move |a, v| {
        let w = v.w();
        let (title, question, danger) = match action.as_str() {
            "release" => (w.q_release_title, w.q_release_q, false),
            "delete" => (w.q_delete_title, w.q_delete_q, true),
            _ => return Err(AdminError::not_found("this page")),
        };
        // The operation decides who may: a reader or another tenant gets its refusal here.
        let (m, _) = a.preview_quarantined(&v.cx, &id).or_else(|e| match e.kind {
            ErrorKind::NotFound => Ok((listed(a, v, &id)?, String::new())),
            _ => Err(e),
        })?;
        if m.state == "released" && action == "release" {
            return Ok(already_released(v, &m));
        }
        let title = fill(title, &[&m.id]);
        let body = html! {
            h1 { (title) }
            p { (question) }
            (summary(w, &m))
            form.inline method="post" action=(format!("/quarantine/{}/{action}", seg(&m.id))) {
                (layout::csrf(v))
                @if danger { button.danger type="submit" { (w.confirm) } } @else { button type="submit" { (w.confirm) } }
                a.button.secondary href="/quarantine" { (w.cancel) }
            }
        };
        Ok(layout::page(v, &title, body).into_response())
    })
    .await
}

pub async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    form: PostForm,
) -> Response {
    run(&state, form.v, move |a, v| match action.as_str() {
        "release" => match a.release_quarantined(&v.cx, &id) {
            Ok(m) => {
                let queue = m.queue_id.unwrap_or_default();
                Ok(done(&format!("/quarantine?ok=released&id={}&queue={}", seg(&m.id), seg(&queue))))
            }
            Err(e) if e.kind == ErrorKind::Conflict => match listed(a, v, &id)? {
                m if m.state == "released" => Ok(already_released(v, &m)),
                _ => Err(e),
            },
            Err(e) => Err(e),
        },
        "delete" => {
            a.delete_quarantined(&v.cx, &id)?;
            Ok(done(&format!("/quarantine?ok=deleted&id={}", seg(&id))))
        }
        _ => Err(AdminError::not_found("this page")),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::{EN, FR};

    #[test]
    fn the_policies_reasons_are_in_words() {
        for (text, en, fr) in [
            (
                "dmarc=fail (p=quarantine) header.from=careful.test",
                "Fails the DMARC policy of careful.test (p=quarantine)",
                "Ne respecte pas la politique DMARC de careful.test (p=quarantine)",
            ),
            ("spoofed header.from=acme.test", "your domain acme.test", "votre domaine acme.test"),
            (
                "spam action=\"add header\" score=7.50 required=6.00",
                "score 7.50 (limit 6.00)",
                "score 7.50 (seuil 6.00)",
            ),
        ] {
            assert!(reason(&EN, text).into_string().contains(en), "{text}");
            assert!(reason(&FR, text).into_string().contains(fr), "{text}");
        }
        assert!(reason(&EN, "something new").into_string().contains("lang=\"en\""));
    }

    #[test]
    fn pages_hold_fifty_rows_and_a_page_past_the_end_is_the_last() {
        for (len, asked, expected) in [
            (0, 1, (1, 1, 0..0)),
            (50, 1, (1, 1, 0..50)),
            (51, 2, (2, 2, 50..51)),
            (120, 9, (3, 3, 100..120)),
            (120, 0, (1, 3, 0..50)),
        ] {
            assert_eq!(paged(len, asked), expected, "{len} rows, page {asked}");
        }
    }

    #[test]
    fn filters_keep_what_matches_every_one_given() {
        let m = HeldMessageView {
            id: "1".into(),
            sender: "Billing@Careful.test".into(),
            recipients: vec!["bob@acme.example".into()],
            reasons: vec!["dmarc=fail (p=quarantine) header.from=careful.test".into()],
            held_at_unix_s: 0,
            expires_at_unix_s: 0,
            tenants: vec!["acme".into()],
            client_ip: String::new(),
            subject: String::new(),
            size: 0,
            state: "held".into(),
            released_by: None,
            released_at_unix_s: None,
            queue_id: None,
        };
        for (query, kept) in [
            ("", true),
            ("sender=billing%40careful", true),
            ("recipient=BOB&reason=dmarc", true),
            ("reason=spam", false),
            ("recipient=ann", false),
        ] {
            assert_eq!(Filter::read(&Fields::parse(query.as_bytes())).keeps(&m), kept, "{query}");
        }
    }
}
