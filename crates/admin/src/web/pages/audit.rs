//! The audit log, newest first, filtered by who, action, tenant and time, a page at a time.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::super::{Viewer, layout, run};
use super::query;
use crate::error::ErrorKind;
use crate::http::AppState;
use crate::views::AuditParams;

const PAGE: usize = 50;

pub async fn page(State(state): State<AppState>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    run(&state, v, move |a, v| {
        let w = v.w();
        let p = AuditParams {
            tenant: if v.is_tenant_role() { None } else { q.get("tenant").map(str::to_string).or_else(|| v.tenant.clone()) },
            actor: q.get("actor").map(str::to_string),
            action: q.get("action").map(str::to_string),
            since: q.get("since").map(str::to_string),
            until: None,
            before: q.get("before").and_then(|b| b.parse().ok()),
            limit: Some(PAGE),
        };
        let (entries, error) = match a.list_audit(&v.cx, &p) {
            Ok(e) => (e, None),
            Err(e) if e.kind == ErrorKind::Invalid => (Vec::new(), Some(e)),
            Err(e) => return Err(e),
        };
        let since_f = ["audit.since"];
        let mut older = form_urlencoded::Serializer::new(String::new());
        for name in ["actor", "action", "since", "tenant"] {
            if let Some(value) = q.get(name) {
                older.append_pair(name, value);
            }
        }
        if let Some(last) = entries.last() {
            older.append_pair("before", &last.id.to_string());
        }
        let body = html! {
            h1 { (w.audit_title) }
            form.stack method="get" action="/audit" role="search" {
                div.field { label for="a-actor" { (w.actor) } input #a-actor type="text" name="actor" value=(q.get("actor").unwrap_or("")); }
                div.field { label for="a-action" { (w.action) } input #a-action type="text" name="action" value=(q.get("action").unwrap_or("")); }
                div.field {
                    label for="a-since" { (w.since) }
                    input #a-since type="text" name="since" value=(q.get("since").unwrap_or(""))
                        aria-invalid=[layout::invalid(error.as_ref(), &since_f).then_some("true")]
                        aria-describedby=[layout::described(error.as_ref(), &since_f, "a-since", true)];
                    p.hint #a-since-hint { "2h, 7d, …" }
                    (layout::field_error(v, error.as_ref(), &since_f, "a-since"))
                }
                div { button type="submit" { (w.filter) } }
            }
            @if entries.is_empty() { p { (w.nothing_yet) } } @else {
                div.scroll { table.responsive {
                    thead { tr {
                        th scope="col" { (w.when) } th scope="col" { (w.actor) } th scope="col" { (w.tenant) }
                        th scope="col" { (w.action) } th scope="col" { (w.object) } th scope="col" { (w.source) } th scope="col" { (w.change) }
                    } }
                    tbody {
                        @for e in &entries {
                            tr {
                                td data-label=(w.when) { (layout::date(e.at_unix_s)) }
                                td data-label=(w.actor) { (e.actor) }
                                td data-label=(w.tenant) { (e.tenant.as_deref().unwrap_or("")) }
                                td data-label=(w.action) { code { (e.action) } }
                                td data-label=(w.object) { (e.object) }
                                td data-label=(w.source) { (e.source) }
                                td data-label=(w.change) {
                                    @if e.before.is_some() || e.after.is_some() {
                                        details {
                                            summary { (w.change) }
                                            @if let Some(b) = &e.before { pre { "- " (b) } }
                                            @if let Some(after) = &e.after { pre { "+ " (after) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                } }
                @if entries.len() == PAGE { p { a href=(format!("/audit?{}", older.finish())) rel="next" { (w.older) } } }
            }
        };
        let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
        Ok((status, layout::page(v, w.audit_title, body)).into_response())
    })
    .await
}
