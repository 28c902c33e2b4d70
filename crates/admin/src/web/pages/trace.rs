//! Message trace: the search form, a page of results with the next page's link, the
//! refusals at SMTP time that match, one message's timeline, and a result list as CSV.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::super::form::Fields;
use super::super::i18n::fill;
use super::super::{Viewer, layout, run, take_search};
use super::{now_s, query, seg};
use crate::Admin;
use crate::error::{AdminError, ErrorKind};
use crate::http::AppState;
use crate::views::{TraceDetailView, TraceMessageView, TraceParams};

/// Rows a CSV export holds at most.
const CSV_ROWS_MAX: usize = 10_000;
const STATUSES: [&str; 4] = ["received", "deferred", "delivered", "failed"];

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-05-01T14:03` (a `datetime-local` field, read as UTC) as Unix seconds; any other
/// text is passed on as typed (Unix seconds or an age such as `2h`), for the operation
/// to judge.
fn when_field(text: &str) -> String {
    let parsed = (|| {
        let (date, time) = text.split_once('T')?;
        let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
        let (y, m, day) = (d.next()??, d.next()??, d.next()??);
        let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
        let (h, min) = (t.next()??, t.next()??);
        let valid = (1..=12).contains(&m)
            && (1..=31).contains(&day)
            && (0..24).contains(&h)
            && (0..60).contains(&min);
        valid.then(|| days_from_civil(y, m, day) * 86_400 + h * 3_600 + min * 60)
    })();
    match parsed {
        Some(unix) if unix >= 0 => unix.to_string(),
        _ => text.to_string(),
    }
}

fn params(v: &Viewer, q: &Fields) -> TraceParams {
    let own = |name: &str| q.get(name).map(str::to_string);
    TraceParams {
        sender: own("sender"),
        recipient: own("recipient"),
        message_id: own("message_id"),
        ip: own("ip"),
        status: own("status"),
        direction: own("direction"),
        since: q.get("since").map(when_field),
        until: q.get("until").map(when_field),
        cursor: own("cursor"),
        limit: Some(50),
        tenant: if v.is_tenant_role() { None } else { v.tenant.clone() },
    }
}

/// The query string of the filters (without the cursor), to build links.
fn filters(q: &Fields) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for name in ["sender", "recipient", "message_id", "ip", "status", "direction", "since", "until"] {
        if let Some(value) = q.get(name) {
            out.append_pair(name, value);
        }
    }
    out.finish()
}

pub async fn search(State(state): State<AppState>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    if let Err(e) = take_search(&state, &v) {
        return super::super::error_page(&v, &e);
    }
    run(&state, v, move |a, v| {
        let p = params(v, &q);
        let (found, error, status) = match a.search_trace(&v.cx, &p) {
            Ok(page) => {
                let refused = refusals(a, v, &p);
                (results(v, &q, &page.items, page.next.as_deref(), refused), None, StatusCode::OK)
            }
            Err(e) if e.kind == ErrorKind::Invalid => (html! {}, Some(e), StatusCode::BAD_REQUEST),
            Err(e) => return Err(e),
        };
        let w = v.w();
        let page = html! {
            h1 { (w.trace_title) }
            (search_form(v, &q, error.as_ref()))
            (found)
        };
        Ok((status, layout::page(v, w.trace_title, page)).into_response())
    })
    .await
}

/// Refusals for the same filters, when the filters are ones refusals have.
fn refusals(a: &Admin, v: &Viewer, p: &TraceParams) -> Option<Markup> {
    if p.status.is_some() || p.message_id.is_some() || p.direction.is_some() || p.cursor.is_some() {
        return None;
    }
    let page = a.trace_refusals(&v.cx, &TraceParams { limit: Some(50), ..p.clone() }).ok()?;
    if page.items.is_empty() {
        return None;
    }
    let w = v.w();
    Some(html! {
        h2 { (w.refusals_title) }
        div.scroll { table.responsive {
            thead { tr {
                th scope="col" { (w.when) } th scope="col" { (w.client_ip) } th scope="col" { (w.sender) }
                th scope="col" { (w.domain) } th scope="col" { (w.count) } th scope="col" { (w.reply) }
            } }
            tbody {
                @for r in &page.items {
                    tr {
                        td data-label=(w.when) { (layout::date(r.minute_unix_s)) }
                        td data-label=(w.client_ip) { a href=(format!("/throttle?ip={}", r.client_ip)) { (r.client_ip) } }
                        td data-label=(w.sender) { code { (r.sender) } }
                        td data-label=(w.domain) { code { (r.recipient_domain) } }
                        td data-label=(w.count) { (r.count) }
                        td data-label=(w.reply) { (layout::reply(v, &r.reply)) }
                    }
                }
            }
        } }
    })
}

fn results(
    v: &Viewer,
    q: &Fields,
    items: &[TraceMessageView],
    next: Option<&str>,
    refusals: Option<Markup>,
) -> Markup {
    let w = v.w();
    let filters = filters(q);
    html! {
        p { a href=(format!("/trace.csv?{filters}")) download="trace.csv" { (w.export_csv) } }
        @if items.is_empty() { p { (w.no_messages) } } @else {
            div.scroll { table.responsive {
                thead { tr {
                    th scope="col" { (w.when) } th scope="col" { (w.sender) } th scope="col" { (w.recipient) }
                    th scope="col" { (w.subject) } th scope="col" { (w.client_ip) } th scope="col" { (w.status) }
                } }
                tbody {
                    @for m in items {
                        tr {
                            td data-label=(w.when) { a href=(format!("/trace/{}", seg(&m.message))) { (layout::date(m.received_at_unix_ms / 1000)) } }
                            td data-label=(w.sender) { code { (m.sender) } }
                            td data-label=(w.recipient) { code { (m.recipients.join(", ")) } }
                            td data-label=(w.subject) { (m.subject.as_deref().unwrap_or("")) }
                            td data-label=(w.client_ip) { (m.client_ip) }
                            td data-label=(w.status) { (layout::status_word(w, &m.status)) }
                        }
                    }
                }
            } }
        }
        nav aria-label=(w.trace_title) {
            @if q.get("cursor").is_some() { a href=(format!("/trace?{filters}")) { (w.first_page) } " " }
            @if let Some(cursor) = next {
                a href=(format!("/trace?{filters}&cursor={}", seg(cursor))) rel="next" { (w.next_page) }
            }
        }
        @if let Some(r) = refusals { (r) }
    }
}

fn search_form(v: &Viewer, q: &Fields, error: Option<&AdminError>) -> Markup {
    let w = v.w();
    let text = |id: &str, field: &str, label: &str| {
        let f = [format!("trace.{field}")];
        let fr: Vec<&str> = f.iter().map(String::as_str).collect();
        html! {
            div.field {
                label for=(id) { (label) }
                input id=(id) type="text" name=(field) value=(q.get(field).unwrap_or(""))
                    aria-invalid=[layout::invalid(error, &fr).then_some("true")]
                    aria-describedby=[layout::described(error, &fr, id, false)];
                (layout::field_error(v, error, &fr, id))
            }
        }
    };
    let date = |id: &str, field: &str, label: &str| {
        let f = [format!("trace.{field}")];
        let fr: Vec<&str> = f.iter().map(String::as_str).collect();
        html! {
            div.field {
                label for=(id) { (label) }
                input id=(id) type="datetime-local" name=(field) value=(q.get(field).unwrap_or(""))
                    aria-invalid=[layout::invalid(error, &fr).then_some("true")]
                    aria-describedby=[layout::described(error, &fr, id, field == "since")];
                @if field == "since" { p.hint id=(format!("{id}-hint")) { (w.since_hint) } }
                (layout::field_error(v, error, &fr, id))
            }
        }
    };
    let all: Vec<&str> = [
        "trace.sender",
        "trace.recipient",
        "trace.message_id",
        "trace.ip",
        "trace.status",
        "trace.since",
        "trace.until",
    ]
    .to_vec();
    html! {
        (layout::form_error(v, error, &all))
        form.stack method="get" action="/trace" role="search" {
            (text("t-sender", "sender", w.sender))
            (text("t-recipient", "recipient", w.recipient))
            (text("t-message-id", "message_id", w.message_id))
            (text("t-ip", "ip", w.client_ip))
            div.field {
                label for="t-status" { (w.status) }
                select #t-status name="status" {
                    option value="" { (w.any) }
                    @for s in STATUSES { option value=(s) selected[q.get("status") == Some(s)] { (layout::status_word(w, s)) } }
                }
            }
            (date("t-since", "since", w.since))
            (date("t-until", "until", w.until))
            div { button type="submit" { (w.search) } }
        }
    }
}

/// A CSV field: quoted when needed, and never read as a formula by a spreadsheet.
fn csv_field(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn csv_row(m: &TraceMessageView) -> String {
    let fields = [
        layout::date(m.received_at_unix_ms / 1000),
        m.message.clone(),
        m.client_ip.clone(),
        m.direction.clone(),
        m.tenant.clone().unwrap_or_default(),
        m.sender.clone(),
        m.recipients.join(" "),
        m.message_id.clone().unwrap_or_default(),
        m.subject.clone().unwrap_or_default(),
        m.size_bytes.to_string(),
        m.status.clone(),
    ];
    let mut line = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

pub async fn csv(State(state): State<AppState>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    if let Err(e) = take_search(&state, &v) {
        return super::super::error_page(&v, &e);
    }
    run(&state, v, move |a, v| {
        let mut p = TraceParams { limit: Some(trace::PAGE_MAX), cursor: None, ..params(v, &q) };
        let mut out = String::from("received_at,queue_id,client_ip,direction,tenant,sender,recipients,message_id,subject,size_bytes,status\r\n");
        let mut rows = 0;
        loop {
            let page = a.search_trace(&v.cx, &p)?;
            for m in &page.items {
                out.push_str(&csv_row(m));
            }
            rows += page.items.len();
            match page.next {
                Some(next) if rows < CSV_ROWS_MAX => p.cursor = Some(next),
                _ => break,
            }
        }
        let mut response = out.into_response();
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"sluice-trace.csv\""));
        Ok(response)
    })
    .await
}

pub async fn message(State(state): State<AppState>, v: Viewer, Path(id): Path<String>) -> Response {
    run(&state, v, move |a, v| {
        let m = a.trace_message(&v.cx, &id)?;
        let w = v.w();
        let title = fill(w.message_title, &[&m.summary.message]);
        let earlier = earlier_refusals(a, v, &m);
        let body = detail(v, &m, earlier);
        Ok(layout::page(v, &title, html! { h1 { (title) } (body) }).into_response())
    })
    .await
}

/// Refusals of the same client and sender in the day before the message was accepted
/// (a throttled first attempt, say).
fn earlier_refusals(a: &Admin, v: &Viewer, m: &TraceDetailView) -> Vec<crate::views::RefusalView> {
    let at = m.summary.received_at_unix_ms / 1000;
    let p = TraceParams {
        ip: Some(m.summary.client_ip.clone()),
        sender: (!m.summary.sender.is_empty()).then(|| m.summary.sender.clone()),
        since: Some(at.saturating_sub(86_400).to_string()),
        until: Some(at.to_string()),
        limit: Some(20),
        ..TraceParams::default()
    };
    a.trace_refusals(&v.cx, &p).map(|page| page.items).unwrap_or_default()
}

fn detail(v: &Viewer, m: &TraceDetailView, earlier: Vec<crate::views::RefusalView>) -> Markup {
    let w = v.w();
    let s = &m.summary;
    let now = now_s();
    html! {
        dl {
            dt { (w.sender) } dd { code { (s.sender) } }
            dt { (w.recipient) } dd { code { (s.recipients.join(", ")) } }
            dt { (w.subject) } dd { (s.subject.as_deref().unwrap_or("")) }
            dt { "Message-ID" } dd { code { (s.message_id.as_deref().unwrap_or("")) } }
            dt { (w.size) } dd { (s.size_bytes) }
            dt { (w.status) } dd { (layout::status_word(w, &s.status)) }
        }
        h2 { (w.timeline) }
        ol.steps {
            @for r in &earlier {
                li {
                    (layout::when(w, r.first_at_unix_ms / 1000, now)) " · " (layout::date(r.first_at_unix_ms / 1000)) " — "
                    strong { (w.s_refused) } " (" (r.count) "×) " (layout::reply(v, &r.reply))
                }
            }
            li {
                (layout::date(s.received_at_unix_ms / 1000)) " — " strong { (w.s_accepted) } " "
                (fill(w.arrived, &[&s.client_ip, &m.helo])) ", "
                @match &m.tls { Some(t) => (fill(w.over_tls, &[t])), None => (w.without_tls) }
                @if let Some(c) = &m.connector { ", " (fill(w.via_connector, &[c])) }
            }
            @for t in &m.timeline {
                li {
                    (layout::date(t.at_unix_ms / 1000)) " — " strong { (layout::status_word(w, &t.step)) } " "
                    code { (t.recipient) } " "
                    @if matches!(t.step.as_str(), "deferred" | "bounced" | "expired") { (layout::reply(v, &t.detail)) }
                    @else { span lang="en" { (t.detail) } }
                    @if let Some(next) = t.next_attempt_unix_ms { " (" (fill(w.next_attempt, &[&layout::date(next / 1000)])) ")" }
                }
            }
        }
        h2 { (w.recipient) }
        ul {
            @for r in &m.recipients { li { code { (r.address) } " — " (layout::status_word(w, &r.status)) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_fields_are_read_as_utc() {
        assert_eq!(when_field("1970-01-01T00:01"), "60");
        assert_eq!(when_field("2026-01-01T00:00"), "1767225600");
        assert_eq!(when_field("2h"), "2h", "other text is the operation's to judge");
        assert_eq!(when_field("2026-13-01T00:00"), "2026-13-01T00:00");
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}
