//! Home: the mail flow of the last day and week, the most throttled IPs, the queue, open
//! requests, and the tenant's outbound block with its evidence.

use access::Permission;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::super::i18n::fill;
use super::super::{Viewer, chart, done, form::PostForm, layout, run};
use super::query;
use crate::Admin;
use crate::error::{AdminError, ErrorKind};
use crate::http::AppState;
use crate::views::{FlowParams, ReleaseInput, RequestParams};

pub async fn page(State(state): State<AppState>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let ok = query(raw).get("ok").map(str::to_string);
    run(&state, v, move |a, v| {
        Ok(layout::page(v, v.w().home_title, body(a, v, ok.as_deref())?).into_response())
    })
    .await
}

/// An operation whose failure is shown in place (the server down, the trace off) rather
/// than failing the whole page.
fn soft<T>(result: Result<T, AdminError>) -> Result<Result<T, AdminError>, AdminError> {
    match result {
        Err(e) if matches!(e.kind, ErrorKind::Internal) => Err(e),
        other => Ok(other),
    }
}

fn body(a: &Admin, v: &Viewer, ok: Option<&str>) -> Result<Markup, AdminError> {
    let w = v.w();
    let flow = |since: &str, bucket: &str| {
        let p = FlowParams {
            tenant: v.tenant.clone(),
            since: Some(since.into()),
            bucket: Some(bucket.into()),
            ..FlowParams::default()
        };
        a.mail_flow(&v.cx, &p)
    };
    let day = soft(flow("24h", "1h"))?;
    let week = soft(flow("7d", "6h"))?;
    let throttled = soft(a.throttled(&v.cx))?;
    let pending =
        a.list_requests(&v.cx, v.tenant.as_deref(), &RequestParams { status: Some("pending".into()) })?;
    let queue = if v.may(Permission::Operate) { Some(soft(a.queue_list(&v.cx, Some(1)))?) } else { None };
    Ok(html! {
        h1 { (w.home_title) }
        @if ok == Some("released") { (layout::notice(w.done)) }
        div.cards {
            @if let Some(q) = &queue {
                div.card {
                    h2 { (w.queue_size) }
                    @match q {
                        Ok(q) => p.big { a href="/queue" { (q.total) } },
                        Err(e) => (layout::server_detail(v, &e.message)),
                    }
                }
            }
            div.card {
                h2 { (w.open_requests) }
                p.big { a href=(requests_link(v)) { (pending.len()) } }
            }
        }
        @if let Some(t) = &v.tenant {
            (outbound(a, v, t)?)
        } @else if !v.is_tenant_role() {
            (tenants(a, v)?)
        }
        @match (&day, &week) {
            (Ok(day), Ok(week)) => {
                (chart::flow(w, "flow-day", w.flow_24h, &day.buckets))
                (chart::flow(w, "flow-week", w.flow_7d, &week.buckets))
            },
            (Err(e), _) | (_, Err(e)) => {
                h2 { (w.flow_24h) }
                p { (w.trace_off) }
                (layout::server_detail(v, &e.message))
            },
        }
        h2 { (w.most_throttled) }
        @match &throttled {
            Ok(list) => (super::throttle::throttled_table(v, &list[..list.len().min(10)])),
            Err(e) => (layout::server_detail(v, &e.message)),
        }
    })
}

fn requests_link(v: &Viewer) -> String {
    match (&v.tenant, v.is_tenant_role()) {
        (Some(t), true) => format!("/t/{t}/requests"),
        _ => "/requests".into(),
    }
}

/// The tenant's outbound block, its evidence, and what the viewer can do about it.
fn outbound(a: &Admin, v: &Viewer, tenant: &str) -> Result<Markup, AdminError> {
    let w = v.w();
    let state = a.outbound_state(&v.cx, tenant)?;
    Ok(html! {
        section.card aria-labelledby="outbound-title" {
            h2 #outbound-title { (fill(w.outbound_state, &[&tenant])) }
            @match &state.block {
                None => p.ok { (w.not_blocked) },
                Some(block) => {
                    p.bad { (fill(w.blocked, &[&layout::date(block.blocked_at_unix_s)])) " " (layout::help_link(v, "5.7.705")) }
                    h3 { (w.evidence) }
                    p lang="en" { (block.reason) }
                    @if v.may(Permission::Release) {
                        form.stack method="post" action=(format!("/release/{}", super::seg(tenant))) {
                            (layout::csrf(v))
                            div.field {
                                label for="release-reason" { (w.reason) }
                                input #release-reason type="text" name="reason" required;
                            }
                            div { button type="submit" { (w.release_now) } }
                        }
                    } @else if v.may(Permission::AskRequest) {
                        p { a.button href=(format!("/t/{}/requests?kind=outbound-release", super::seg(tenant))) { (w.ask_release) } }
                    }
                },
            }
            @if let Some(last) = state.releases.first() {
                p.hint { (fill(w.last_release, &[&layout::date(last.released_at_unix_s), &last.released_by])) }
            }
        }
    })
}

/// Operators and support without a chosen tenant: every tenant with its state.
fn tenants(a: &Admin, v: &Viewer) -> Result<Markup, AdminError> {
    let w = v.w();
    let list = a.list_tenants(&v.cx)?;
    Ok(html! {
        h2 { (w.tenants_title) }
        @if list.is_empty() { p { (w.nothing_yet) } } @else {
            div.scroll { table.responsive {
                thead { tr { th scope="col" { (w.tenant) } th scope="col" { (w.status) } th scope="col" { (w.outbound) } } }
                tbody {
                    @for t in list.iter().take(200) {
                        @let blocked = a.outbound_state(&v.cx, &t.id).map(|s| s.block.is_some()).unwrap_or(false);
                        tr {
                            td data-label=(w.tenant) { a href=(format!("/tenant?tenant={}", super::seg(&t.id))) { (t.id) } " " (t.name) }
                            td data-label=(w.status) { (layout::status_word(w, &t.status)) }
                            td data-label=(w.outbound) {
                                @if blocked { span.bad { "5.7.705" } } @else { span.ok { (w.not_blocked) } }
                            }
                        }
                    }
                }
            } }
        }
    })
}

/// Operators and support choose the tenant they look at.
pub async fn switch_tenant(State(state): State<AppState>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let chosen = query(raw).get("tenant").map(str::to_string);
    if v.is_tenant_role() {
        return Redirect::to("/").into_response();
    }
    let check = chosen.clone();
    let session = v.session.clone();
    let web = state.web.clone();
    run(&state, v, move |a, v| {
        if let Some(t) = &check {
            a.tenant(&v.cx, t)?;
        }
        web.sessions().set_tenant(&session, check.clone());
        Ok(Redirect::to("/").into_response())
    })
    .await
}

pub async fn release(State(state): State<AppState>, Path(tenant): Path<String>, form: PostForm) -> Response {
    let input = ReleaseInput { reason: form.f.text("reason"), by: None };
    run(&state, form.v, move |a, v| {
        a.release_outbound(&v.cx, &tenant, &input)?;
        Ok(done("/?ok=released"))
    })
    .await
}
