//! Requests: a tenant admin asks for a 5.7.708 exception or a 5.7.705 release with a
//! justification; support and operators approve or deny with a note.

use access::Permission;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::super::form::Fields;
use super::super::{Viewer, done, form::PostForm, layout, run};
use super::{now_s, query, seg};
use crate::Admin;
use crate::error::{AdminError, ErrorKind};
use crate::http::AppState;
use crate::views::{DecisionInput, RequestInput, RequestParams, RequestView};

pub async fn list_tenant(
    State(state): State<AppState>,
    v: Viewer,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(raw);
    run(&state, v, move |a, v| render(a, v, Some(&tenant), &q, None, StatusCode::OK)).await
}

pub async fn list_all(State(state): State<AppState>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    run(&state, v, move |a, v| {
        let tenant = v.tenant.clone();
        render(a, v, tenant.as_deref(), &q, None, StatusCode::OK)
    })
    .await
}

fn render(
    a: &Admin,
    v: &Viewer,
    tenant: Option<&str>,
    q: &Fields,
    error: Option<(&AdminError, &RequestInput)>,
    status: StatusCode,
) -> Result<Response, AdminError> {
    let w = v.w();
    let requests = a.list_requests(&v.cx, tenant, &RequestParams::default())?;
    let body = html! {
        h1 { (w.requests_title) }
        @if q.get("ok").is_some() { (layout::notice(w.done)) }
        (table(v, &requests))
        @if let Some(t) = tenant.filter(|_| v.may(Permission::AskRequest)) {
            (new_form(v, t, q, error))
        }
    };
    Ok((status, layout::page(v, w.requests_title, body)).into_response())
}

fn kind_word(v: &Viewer, kind: &str) -> &'static str {
    if kind == "outbound-release" { v.w().r_release } else { v.w().r_exception }
}

fn table(v: &Viewer, requests: &[RequestView]) -> Markup {
    let w = v.w();
    let now = now_s();
    let decide = v.may(Permission::DecideRequest);
    html! {
        @if requests.is_empty() { p { (w.nothing_yet) } } @else {
            div.scroll { table.responsive {
                thead { tr {
                    th scope="col" { "#" } th scope="col" { (w.tenant) } th scope="col" { (w.kind) }
                    th scope="col" { (w.justification) } th scope="col" { (w.requested_by) } th scope="col" { (w.status) }
                    @if decide { th scope="col" { (w.actions) } }
                } }
                tbody {
                    @for r in requests {
                        tr {
                            td data-label="#" { (r.id) }
                            td data-label=(w.tenant) { (r.tenant) }
                            td data-label=(w.kind) {
                                (kind_word(v, &r.kind))
                                @if let Some(c) = &r.cidr { " " code { (c) } }
                            }
                            td data-label=(w.justification) { (r.justification) }
                            td data-label=(w.requested_by) { (r.requested_by) " · " (layout::when(w, r.requested_at_unix_s, now)) }
                            td data-label=(w.status) {
                                (status_word(v, &r.status))
                                @if let Some(n) = &r.note { br; (r.decided_by.as_deref().unwrap_or("")) (w.colon) (n) }
                            }
                            @if decide {
                                td data-label=(w.actions) {
                                    @if r.status == "pending" { (decision_form(v, r.id)) }
                                }
                            }
                        }
                    }
                }
            } }
        }
    }
}

fn status_word(v: &Viewer, status: &str) -> &'static str {
    let w = v.w();
    match status {
        "approved" => w.approved,
        "denied" => w.denied,
        _ => w.waiting,
    }
}

fn decision_form(v: &Viewer, id: u64) -> Markup {
    let w = v.w();
    html! {
        form.stack method="post" action=(format!("/requests/{id}/approve")) {
            (layout::csrf(v))
            div.field {
                label for=(format!("note-{id}")) { (w.decision_note) }
                input id=(format!("note-{id}")) type="text" name="note" required;
            }
            div {
                button type="submit" formaction=(format!("/requests/{id}/approve")) { (w.approve) } " "
                button.danger type="submit" formaction=(format!("/requests/{id}/deny")) { (w.deny) }
            }
        }
    }
}

fn new_form(v: &Viewer, tenant: &str, q: &Fields, error: Option<(&AdminError, &RequestInput)>) -> Markup {
    let w = v.w();
    let (e, typed) = match error {
        Some((e, t)) => (Some(e), Some(t)),
        None => (None, None),
    };
    let kind = typed
        .map(|t| t.kind.clone())
        .or_else(|| q.get("kind").map(str::to_string))
        .unwrap_or_else(|| "reputation-exception".into());
    let cidr_f = ["request.cidr"];
    let just_f = ["request.justification"];
    html! {
        h2 { (w.new_request) }
        (layout::form_error(v, e, &["request.cidr", "request.justification", "request.kind"]))
        form.stack method="post" action=(format!("/t/{}/requests", seg(tenant))) {
            (layout::csrf(v))
            fieldset {
                legend { (w.kind) }
                div.choice {
                    input #kind-exception type="radio" name="kind" value="reputation-exception" checked[kind != "outbound-release"];
                    label for="kind-exception" { (w.r_exception) " " (layout::help_link(v, "5.7.708")) }
                }
                div.choice {
                    input #kind-release type="radio" name="kind" value="outbound-release" checked[kind == "outbound-release"];
                    label for="kind-release" { (w.r_release) " " (layout::help_link(v, "5.7.705")) }
                }
            }
            div.field {
                label for="r-cidr" { (w.r_cidr) }
                p.hint #r-cidr-hint { (w.lookup_hint) }
                input #r-cidr type="text" name="cidr" value=(typed.and_then(|t| t.cidr.as_deref()).unwrap_or(""))
                    aria-invalid=[layout::invalid(e, &cidr_f).then_some("true")]
                    aria-describedby=[layout::described(e, &cidr_f, "r-cidr", true)];
                (layout::field_error(v, e, &cidr_f, "r-cidr"))
            }
            div.field {
                label for="r-just" { (w.justification) }
                p.hint #r-just-hint { (w.justification_hint) }
                textarea #r-just name="justification" required
                    aria-invalid=[layout::invalid(e, &just_f).then_some("true")]
                    aria-describedby=[layout::described(e, &just_f, "r-just", true)] { (typed.map(|t| t.justification.as_str()).unwrap_or("")) }
                (layout::field_error(v, e, &just_f, "r-just"))
            }
            div { button type="submit" { (w.send_request) } }
        }
    }
}

pub async fn create(State(state): State<AppState>, Path(tenant): Path<String>, form: PostForm) -> Response {
    let kind = form.f.get("kind").unwrap_or("reputation-exception").to_string();
    let input = RequestInput {
        cidr: if kind == "outbound-release" { None } else { form.f.get("cidr").map(str::to_string) },
        kind,
        justification: form.f.text("justification"),
    };
    run(&state, form.v, move |a, v| match a.create_request(&v.cx, &tenant, &input) {
        Ok(_) => Ok(done(&format!("/t/{}/requests?ok=sent", seg(&tenant)))),
        Err(e) if e.kind == ErrorKind::Invalid => {
            render(a, v, Some(&tenant), &Fields::default(), Some((&e, &input)), StatusCode::BAD_REQUEST)
        }
        Err(e) => Err(e),
    })
    .await
}

pub async fn decide(
    State(state): State<AppState>,
    Path((id, decision)): Path<(String, String)>,
    form: PostForm,
) -> Response {
    let input = DecisionInput { note: form.f.text("note") };
    run(&state, form.v, move |a, v| {
        let id: u64 = id.parse().map_err(|_| AdminError::not_found(format!("request {id}")))?;
        let approve = match decision.as_str() {
            "approve" => true,
            "deny" => false,
            _ => return Err(AdminError::not_found("this page")),
        };
        a.decide_request(&v.cx, id, approve, &input)?;
        Ok(done("/requests?ok=decided"))
    })
    .await
}
