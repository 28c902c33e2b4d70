//! Connectors: the list of both directions with the audit's risk flags, enabling,
//! disabling and removing one after a confirmation page. New ones come from the wizard,
//! changes from the edit page.

use access::Permission;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::super::i18n::fill;
use super::super::{Viewer, done, form::PostForm, layout, run};
use super::{query, seg};
use crate::error::AdminError;
use crate::http::AppState;
use crate::views::{ConnectorAuditView, ConnectorView, RiskView};

pub async fn list(
    State(state): State<AppState>,
    v: Viewer,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(raw);
    let notice = q.get("ok").map(str::to_string);
    let saved = q.get("name").map(str::to_string);
    run(&state, v, move |a, v| {
        let w = v.w();
        let connectors = a.list_connectors(&v.cx, Some(&tenant))?;
        let audit = a.audit_connectors(&v.cx, Some(&tenant))?.connectors;
        let title = fill(w.connectors_title, &[&tenant]);
        let body = html! {
            h1 { (title) }
            @match (notice.as_deref(), &saved) {
                (Some("saved"), Some(name)) => (layout::notice(&fill(w.w_saved, &[name]))),
                (Some("edited"), Some(name)) => (layout::notice(&fill(w.edit_saved, &[name]))),
                (Some(_), _) => (layout::notice(w.done)),
                _ => {},
            }
            @if v.may(Permission::EditTenant) {
                p { a.button href=(format!("/t/{}/connectors/new", seg(&tenant))) { (w.new_connector) } }
            }
            @if connectors.is_empty() { p { (w.nothing_yet) } } @else { (table(v, &tenant, &connectors, &audit)) }
        };
        Ok(layout::page(v, &title, body).into_response())
    })
    .await
}

fn identified_by(c: &ConnectorView) -> String {
    let mut parts: Vec<String> = c.ip.clone();
    parts.extend(c.certificate_name.iter().cloned());
    parts.extend(c.recipient_domain.iter().cloned());
    parts.extend(c.smart_host.iter().map(|h| format!("→ {h}")));
    parts.join(", ")
}

/// The audit's flags of one connector (none when it has none).
fn flags_of<'a>(audit: &'a [ConnectorAuditView], c: &ConnectorView) -> &'a [RiskView] {
    audit.iter().find(|a| a.name == c.name && a.direction == c.direction).map_or(&[], |a| a.flags.as_slice())
}

fn flag_words(v: &Viewer, flag: &RiskView) -> (&'static str, &'static str) {
    let w = v.w();
    let risk = match flag.risk.as_str() {
        "high" => w.risk_high,
        "medium" => w.risk_medium,
        _ => w.risk_low,
    };
    let label = match flag.flag.as_str() {
        "broad-range" => w.flag_broad_range,
        "overlaps-other-tenant" => w.flag_overlaps,
        "on-premises-without-tls" => w.flag_on_premises_without_tls,
        "wildcard-public-suffix" => w.flag_wildcard_public_suffix,
        "recently-created" => w.flag_recently_created,
        "recently-changed" => w.flag_recently_changed,
        _ => w.flag_disabled,
    };
    (label, risk)
}

/// The help page a flag's consequence is explained on, when there is one.
fn flag_help(flag: &RiskView) -> Option<&'static str> {
    (flag.flag == "on-premises-without-tls").then_some("5.7.10")
}

/// The flags as a list: what, how risky, and the audit's reason (in English).
fn flags(v: &Viewer, flags: &[RiskView]) -> Markup {
    html! {
        @if !flags.is_empty() {
            ul.flags {
                @for f in flags {
                    @let (label, risk) = flag_words(v, f);
                    li data-flag=(f.flag) {
                        strong class=(format!("risk-{}", f.risk)) { (label) } " (" (risk) ")"
                        @if let Some(code) = flag_help(f) { " " (layout::help_link(v, code)) }
                        br;
                        span.hint lang="en" { (f.reason) }
                    }
                }
            }
        }
    }
}

fn table(v: &Viewer, tenant: &str, connectors: &[ConnectorView], audit: &[ConnectorAuditView]) -> Markup {
    let w = v.w();
    html! {
        div.scroll { table.responsive {
            thead { tr {
                th scope="col" { (w.name) }
                th scope="col" { (w.direction) }
                th scope="col" { (w.identified_by) }
                th scope="col" { (w.tls_required) }
                th scope="col" { (w.status) }
                th scope="col" { (w.risk_flags) }
                th scope="col" { (w.actions) }
            } }
            tbody {
                @for c in connectors {
                    tr {
                        td data-label=(w.name) { (c.name) }
                        td data-label=(w.direction) {
                            (layout::status_word(w, &c.direction))
                            @if let Some(kind) = &c.kind { " (" (layout::status_word(w, kind)) ")" }
                        }
                        td data-label=(w.identified_by) { (identified_by(c)) }
                        td data-label=(w.tls_required) {
                            @match &c.tls { Some(mode) => (tls_word(v, mode)), None => (if c.require_tls { w.yes } else { w.no }) }
                        }
                        td data-label=(w.status) {
                            @if c.enabled { span.ok { (w.enabled) } } @else { span.bad { (w.disabled) } }
                        }
                        td data-label=(w.risk_flags) { (flags(v, flags_of(audit, c))) }
                        td data-label=(w.actions) { (actions(v, tenant, c)) }
                    }
                }
            }
        } }
    }
}

pub fn tls_word(v: &Viewer, mode: &str) -> &'static str {
    let w = v.w();
    match mode {
        "required" => w.tls_required_mode,
        "verify-certificate" => w.tls_verify_certificate,
        "verify-domain" => w.tls_verify_domain,
        _ => w.tls_opportunistic,
    }
}

fn actions(v: &Viewer, tenant: &str, c: &ConnectorView) -> Markup {
    let w = v.w();
    if !v.may(Permission::EditTenant) {
        return html! {};
    }
    let base = format!("/t/{}/connectors/{}", seg(tenant), seg(&c.name));
    html! {
        a.button.secondary href=(format!("{base}/edit")) aria-label=(format!("{} {}", w.edit, c.name)) { (w.edit) }
        " "
        @if c.enabled {
            a.button.secondary href=(format!("{base}/disable")) aria-label=(format!("{} {}", w.disable, c.name)) { (w.disable) }
        } @else {
            form.inline method="post" action=(format!("{base}/enable")) {
                (layout::csrf(v))
                button.secondary type="submit" aria-label=(format!("{} {}", w.enable, c.name)) { (w.enable) }
            }
        }
        " "
        a.button.secondary href=(format!("{base}/remove")) aria-label=(format!("{} {}", w.remove, c.name)) { (w.remove) }
    }
}

fn unknown_action() -> AdminError {
    AdminError::not_found("this page")
}

/// The confirmation page of a disable or a removal.
pub async fn confirm(
    State(state): State<AppState>,
    v: Viewer,
    Path((tenant, name, action)): Path<(String, String, String)>,
) -> Response {
    run(&state, v, move |a, v| {
        let w = v.w();
        let question = match action.as_str() {
            "remove" => w.remove_connector_q,
            "disable" => w.disable_connector_q,
            _ => return Err(unknown_action()),
        };
        let c = a.connector(&v.cx, &tenant, &name)?;
        let body = html! {
            h1 { (if action == "remove" { w.remove } else { w.disable }) " " (c.name) }
            p { (fill(question, &[&c.name])) }
            form.inline method="post" action=(format!("/t/{}/connectors/{}/{}", seg(&tenant), seg(&c.name), action)) {
                (layout::csrf(v))
                button.danger type="submit" { (w.confirm) }
                a.button.secondary href=(format!("/t/{}/connectors", seg(&tenant))) { (w.cancel) }
            }
        };
        Ok(layout::page(v, w.connectors, body).into_response())
    })
    .await
}

pub async fn act(
    State(state): State<AppState>,
    Path((tenant, name, action)): Path<(String, String, String)>,
    form: PostForm,
) -> Response {
    run(&state, form.v, move |a, v| {
        match action.as_str() {
            "enable" => a.set_connector_enabled(&v.cx, &tenant, &name, true).map(|_| ())?,
            "disable" => a.set_connector_enabled(&v.cx, &tenant, &name, false).map(|_| ())?,
            "remove" => a.remove_connector(&v.cx, &tenant, &name)?,
            _ => return Err(unknown_action()),
        }
        Ok(done(&format!("/t/{}/connectors?ok={action}", seg(&tenant))))
    })
    .await
}
