//! Domains: the list with each one's state, adding one (the TXT record to publish, with a
//! copy button), verifying it (what DNS returned when it fails), removing it.

use access::Permission;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::super::i18n::fill;
use super::super::{Viewer, done, form::PostForm, html as page_with, layout, run};
use super::{query, seg};
use crate::Admin;
use crate::error::{AdminError, ErrorKind};
use crate::http::AppState;
use crate::views::{DomainInput, DomainView};

/// What a page shows besides the list: a notice, a failed verification, a form error.
#[derive(Default)]
struct Outcome {
    notice: Option<String>,
    verify_failed: Option<(String, AdminError)>,
    add_error: Option<AdminError>,
    typed: Option<DomainInput>,
}

pub async fn list(
    State(state): State<AppState>,
    v: Viewer,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(raw);
    let w = v.w();
    let notice = match (q.get("ok"), q.get("domain")) {
        (Some("added"), _) => Some(w.done.to_string()),
        (Some("verified"), Some(d)) => Some(fill(w.verify_ok, &[&d])),
        (Some("removed"), _) => Some(w.done.to_string()),
        _ => None,
    };
    run(&state, v, move |a, v| {
        render(a, v, &tenant, Outcome { notice, ..Outcome::default() }, StatusCode::OK)
    })
    .await
}

fn render(
    a: &Admin,
    v: &Viewer,
    tenant: &str,
    outcome: Outcome,
    status: StatusCode,
) -> Result<Response, AdminError> {
    let w = v.w();
    let domains = a.list_domains(&v.cx, Some(tenant))?;
    let title = fill(w.domains_title, &[&tenant]);
    let body = html! {
        h1 { (title) }
        @if let Some(n) = &outcome.notice { (layout::notice(n)) }
        @if let Some((name, e)) = &outcome.verify_failed { (verify_failure(v, name, e, &domains)) }
        (table(v, tenant, &domains))
        @if v.may(Permission::EditTenant) { (add_form(v, tenant, outcome.add_error.as_ref(), outcome.typed.as_ref())) }
    };
    Ok(page_with(status, layout::page(v, &title, body)))
}

fn table(v: &Viewer, tenant: &str, domains: &[DomainView]) -> Markup {
    let w = v.w();
    html! {
        div.scroll { table.responsive {
            thead { tr {
                th scope="col" { (w.domain) }
                th scope="col" { (w.kind) }
                th scope="col" { (w.status) }
                th scope="col" { (w.actions) }
            } }
            tbody {
                @for d in domains {
                    tr {
                        td data-label=(w.domain) {
                            (d.name)
                            @if d.service { " (" (w.service_domain) ")" }
                            @if d.match_subdomains { " (+ *." (d.name) ")" }
                        }
                        td data-label=(w.kind) { (layout::status_word(w, &d.kind)) }
                        td data-label=(w.status) {
                            span class=(if d.verification == "verified" { "ok" } else { "bad" }) { (layout::status_word(w, &d.verification)) }
                        }
                        td data-label=(w.actions) { (actions(v, tenant, d)) }
                    }
                    @if d.verification != "verified" { tr { td colspan="4" { (txt_record(v, d)) } } }
                }
            }
        } }
    }
}

fn txt_record(v: &Viewer, d: &DomainView) -> Markup {
    let w = v.w();
    let id = format!("txt-{}", d.name.replace('.', "-"));
    html! {
        div.record {
            span { (fill(w.txt_to_publish, &[&d.name])) (w.colon.trim_end()) }
            code #(id) { (d.txt_record) }
            button.secondary type="button" data-copy=(id) data-copied=(w.copied) hidden { (w.copy) }
        }
    }
}

fn actions(v: &Viewer, tenant: &str, d: &DomainView) -> Markup {
    let w = v.w();
    if !v.may(Permission::EditTenant) {
        return html! {};
    }
    let base = format!("/t/{}/domains/{}", seg(tenant), seg(&d.name));
    html! {
        @if d.verification != "verified" {
            form.inline method="post" action=(format!("{base}/verify")) {
                (layout::csrf(v))
                button type="submit" aria-label=(format!("{} {}", w.verify, d.name)) { (w.verify) }
            }
            " "
        }
        @if !d.service {
            a.button.secondary href=(format!("{base}/remove")) aria-label=(format!("{} {}", w.remove, d.name)) { (w.remove) }
        }
    }
}

/// What DNS returned, beside what was expected.
fn verify_failure(v: &Viewer, name: &str, e: &AdminError, domains: &[DomainView]) -> Markup {
    let w = v.w();
    let expected = domains.iter().find(|d| d.name == name).map(|d| d.txt_record.clone()).unwrap_or_default();
    html! {
        div.alert role="alert" {
            p { strong { (fill(w.verify_failed, &[&name])) } }
            dl {
                dt { (w.dns_returned) }
                dd lang="en" { (e.message) }
                dt { (w.dns_expected) }
                dd { code { (expected) } }
            }
        }
    }
}

fn add_form(v: &Viewer, tenant: &str, error: Option<&AdminError>, typed: Option<&DomainInput>) -> Markup {
    let w = v.w();
    let name_fields = ["domain.name"];
    let kind = typed.and_then(|t| t.kind.clone()).unwrap_or_else(|| "authoritative".into());
    html! {
        h2 #add { (w.add_domain) }
        (layout::form_error(v, error, &["domain.name", "domain.kind"]))
        form.stack method="post" action=(format!("/t/{}/domains", seg(tenant))) {
            (layout::csrf(v))
            div.field {
                label for="domain-name" { (w.domain) }
                p.hint #domain-name-hint { (w.domain_name_hint) }
                input #domain-name type="text" name="name" required autocomplete="off"
                    value=(typed.map(|t| t.name.as_str()).unwrap_or(""))
                    aria-invalid=[layout::invalid(error, &name_fields).then_some("true")]
                    aria-describedby=[layout::described(error, &name_fields, "domain-name", true)];
                (layout::field_error(v, error, &name_fields, "domain-name"))
            }
            fieldset {
                legend { (w.kind) }
                p.hint { (w.domain_kind_hint) }
                div.choice {
                    input #kind-auth type="radio" name="kind" value="authoritative" checked[kind == "authoritative"];
                    label for="kind-auth" { (w.authoritative) }
                }
                div.choice {
                    input #kind-relay type="radio" name="kind" value="internal-relay" checked[kind == "internal-relay"];
                    label for="kind-relay" { (w.internal_relay) }
                }
            }
            div.choice {
                input #match-sub type="checkbox" name="match_subdomains" checked[typed.is_some_and(|t| t.match_subdomains)];
                label for="match-sub" { (w.match_subdomains) }
            }
            div { button type="submit" { (w.add_domain) } }
        }
    }
}

pub async fn add(State(state): State<AppState>, Path(tenant): Path<String>, form: PostForm) -> Response {
    let input = DomainInput {
        name: form.f.text("name"),
        kind: form.f.get("kind").map(str::to_string),
        match_subdomains: form.f.checked("match_subdomains"),
    };
    run(&state, form.v, move |a, v| match a.add_domain(&v.cx, &tenant, &input) {
        Ok(added) => Ok(done(&format!("/t/{}/domains?ok=added&domain={}", seg(&tenant), seg(&added.name)))),
        Err(e) if e.kind == ErrorKind::Invalid || e.kind == ErrorKind::Conflict => {
            let outcome = Outcome { add_error: Some(e), typed: Some(input), ..Outcome::default() };
            render(a, v, &tenant, outcome, StatusCode::BAD_REQUEST)
        }
        Err(e) => Err(e),
    })
    .await
}

pub async fn verify(
    State(state): State<AppState>,
    Path((tenant, domain)): Path<(String, String)>,
    form: PostForm,
) -> Response {
    run(&state, form.v, move |a, v| match a.verify_domain(&v.cx, Some(&tenant), &domain) {
        Ok(view) => {
            Ok(done(&format!("/t/{}/domains?ok=verified&domain={}", seg(&tenant), seg(&view.domain.name))))
        }
        Err(e) if e.kind == ErrorKind::CheckFailed => {
            let outcome = Outcome { verify_failed: Some((domain.clone(), e)), ..Outcome::default() };
            render(a, v, &tenant, outcome, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e),
    })
    .await
}

pub async fn confirm_remove(
    State(state): State<AppState>,
    v: Viewer,
    Path((tenant, domain)): Path<(String, String)>,
) -> Response {
    run(&state, v, move |a, v| {
        let w = v.w();
        let d = a.domain(&v.cx, &tenant, &domain)?;
        let body = html! {
            h1 { (w.remove) " " (d.name) }
            p { (fill(w.remove_domain_q, &[&d.name])) }
            form.inline method="post" action=(format!("/t/{}/domains/{}/remove", seg(&tenant), seg(&d.name))) {
                (layout::csrf(v))
                button.danger type="submit" { (w.confirm) }
                a.button.secondary href=(format!("/t/{}/domains", seg(&tenant))) { (w.cancel) }
            }
        };
        Ok(layout::page(v, w.remove, body).into_response())
    })
    .await
}

pub async fn remove(
    State(state): State<AppState>,
    Path((tenant, domain)): Path<(String, String)>,
    form: PostForm,
) -> Response {
    run(&state, form.v, move |a, v| {
        a.remove_domain(&v.cx, Some(&tenant), &domain)?;
        Ok(done(&format!("/t/{}/domains?ok=removed", seg(&tenant))))
    })
    .await
}
