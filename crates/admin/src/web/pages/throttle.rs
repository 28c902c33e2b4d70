//! The throttling monitor: one IP or network (hourly chart, allowance, deferred share, AS
//! token, probation state, what its next message would get), the IPs throttled now, the
//! operator allow list, and for a tenant the IPs that sent to it with the shortcut to a
//! partner connector.

use access::Permission;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::super::i18n::fill;
use super::super::{Viewer, chart, done, form::PostForm, layout, run};
use super::{now_s, query, seg};
use crate::Admin;
use crate::error::{AdminError, ErrorKind};
use crate::http::AppState;
use crate::live::{KeyStateView, ThrottleView, ThrottledIp};
use crate::views::{AllowInput, ClientParams, HistoryParams};

const DAY_CHOICES: [u32; 4] = [2, 7, 14, 28];

pub async fn page(State(state): State<AppState>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    let lookup = q.get("ip").map(str::to_string);
    let days = q.get("days").and_then(|d| d.parse().ok()).filter(|d| DAY_CHOICES.contains(d)).unwrap_or(2);
    let ok = q.get("ok").map(str::to_string);
    run(&state, v, move |a, v| {
        let w = v.w();
        let (found, status) = match &lookup {
            Some(target) => match lookup_section(a, v, target, days) {
                Ok(m) => (m, StatusCode::OK),
                Err(e) if matches!(e.kind, ErrorKind::Invalid | ErrorKind::NotFound | ErrorKind::Unavailable) => {
                    (html! { div.alert role="alert" { p { (w.error_title) } (layout::server_detail(v, &e.message)) } },
                     match e.kind {
                         ErrorKind::Invalid => StatusCode::BAD_REQUEST,
                         ErrorKind::NotFound => StatusCode::NOT_FOUND,
                         _ => StatusCode::OK,
                     })
                }
                Err(e) => return Err(e),
            },
            None => (html! {}, StatusCode::OK),
        };
        let body = html! {
            h1 { (w.throttle_title) }
            @if ok.is_some() { (layout::notice(w.done)) }
            form.stack method="get" action="/throttle" role="search" {
                div.field {
                    label for="lookup" { (w.lookup) }
                    input #lookup type="text" name="ip" value=(lookup.as_deref().unwrap_or("")) aria-describedby="lookup-hint";
                    p.hint #lookup-hint { (w.lookup_hint) }
                }
                div.field {
                    label for="days" { (w.period) }
                    select #days name="days" {
                        @for d in DAY_CHOICES { option value=(d) selected[d == days] { (fill(w.days, &[&d])) } }
                    }
                }
                div { button type="submit" { (w.show) } }
            }
            (found)
            (throttled_now(a, v)?)
            @if v.tenant.is_some() { (senders(a, v)?) }
            @if !v.is_tenant_role() { (allow_list(a, v)?) }
        };
        Ok((status, layout::page(v, w.throttle_title, body)).into_response())
    })
    .await
}

fn lookup_section(a: &Admin, v: &Viewer, target: &str, days: u32) -> Result<Markup, AdminError> {
    let w = v.w();
    let network = target.contains('/');
    // A network's prefix state is the same for all its addresses: its first one shows it.
    let explained = if network {
        let cidr = directory::Cidr::parse("throttle.ip", target)?;
        let first = cidr.to_string().split('/').next().unwrap_or("").to_string();
        a.throttle_explain(&v.cx, &first).ok()
    } else {
        Some(a.throttle_explain(&v.cx, target)?)
    };
    let history = a.throttle_history(&v.cx, target, &HistoryParams { days: Some(days) });
    Ok(html! {
        h2 { (target) }
        @if let Some(e) = &explained { (verdict(v, e, network)) }
        @match &history {
            Ok(h) => {
                p { (fill(w.deferred_share, &[&h.deferred_percent, &(h.accepted + h.deferred)])) }
                (chart::client(w, "ip-chart", &fill(w.hourly_chart, &[&days]), &h.hours, h.allowance_per_hour_now))
            },
            Err(e) => (layout::server_detail(v, &e.message)),
        }
    })
}

fn verdict(v: &Viewer, e: &ThrottleView, network: bool) -> Markup {
    let w = v.w();
    let said = match (e.allow_listed, e.verdict.as_str()) {
        (true, _) => w.v_allow,
        (false, "defer") => w.v_defer,
        (false, "bypass") => w.v_bypass,
        _ => w.v_accept,
    };
    html! {
        @if !network {
            p {
                strong { (w.verdict) } (w.colon)
                span class=(if e.verdict == "defer" && !e.allow_listed { "bad" } else { "ok" }) { (said) }
                @if let Some(token) = &e.token { " — " (layout::help_link(v, token)) }
                @if let Some(retry) = e.retry_after_s { " (" (fill(w.retry_in, &[&retry])) ")" }
            }
            @if let Some(s) = &e.ip_state { (key_state(v, w.key_ip, s, e.probation_hours)) }
        }
        @if let Some(s) = &e.prefix_state { (key_state(v, &fill(w.key_prefix, &[&s.key]), s, e.probation_hours)) }
        @if !network && e.prefix_applies == Some(true) { p.hint { (w.prefix_applies) } }
    }
}

fn key_state(v: &Viewer, label: &str, s: &KeyStateView, probation_hours: Option<u32>) -> Markup {
    let w = v.w();
    let stage = if !s.tracked {
        w.newcomer.to_string()
    } else if s.established {
        w.established.to_string()
    } else if probation_hours.is_some_and(|p| s.age_hours < p) {
        fill(w.probation, &[&s.age_hours, &probation_hours.unwrap_or(0)])
    } else {
        w.warming.to_string()
    };
    let per_hour = |x: f32| fill(w.per_hour, &[&format!("{x:.0}")]);
    html! {
        h3 { (label) }
        dl {
            dt { (w.status) } dd { (stage) }
            @if s.tracked {
                dt { (w.observed) } dd { (per_hour(s.observed_per_hour)) }
                dt { (w.baseline) } dd { (per_hour(s.baseline_per_hour)) }
                dt { (w.allowance) } dd { (per_hour(s.allowance_per_hour)) }
                dt { (w.available_now) } dd { (s.available_now) }
                dt { (w.last_deferred) } dd {
                    @match s.deferred_hours_ago { Some(h) => (fill(w.ago_hours, &[&h])), None => (w.never) }
                }
            }
        }
    }
}

fn throttled_now(a: &Admin, v: &Viewer) -> Result<Markup, AdminError> {
    let w = v.w();
    Ok(match a.throttled(&v.cx) {
        Ok(list) => html! { h2 { (w.throttled_list) } (throttled_table(v, &list)) },
        Err(e) if e.kind == ErrorKind::Unavailable => {
            html! { h2 { (w.throttled_list) } (layout::server_detail(v, &e.message)) }
        }
        Err(e) => return Err(e),
    })
}

/// IPs deferred recently, each linked to its lookup.
pub fn throttled_table(v: &Viewer, list: &[ThrottledIp]) -> Markup {
    let w = v.w();
    let now = now_s();
    html! {
        @if list.is_empty() { p { (w.no_throttled) } } @else {
            div.scroll { table.responsive {
                thead { tr {
                    th scope="col" { (w.client_ip) } th scope="col" { (w.deferred_hour) } th scope="col" { (w.deferred_day) }
                    th scope="col" { (w.token_col) } th scope="col" { (w.throttled_now) } th scope="col" { (w.last_deferred) }
                } }
                tbody {
                    @for t in list {
                        tr {
                            td data-label=(w.client_ip) { a href=(format!("/throttle?ip={}", t.ip)) { (t.ip) } }
                            td data-label=(w.deferred_hour) { (t.deferred_last_hour) }
                            td data-label=(w.deferred_day) { (t.deferred_last_day) }
                            td data-label=(w.token_col) { (layout::help_link(v, &t.last_token)) }
                            td data-label=(w.throttled_now) { (if t.throttled_now { w.yes } else { w.no }) }
                            td data-label=(w.last_deferred) { (layout::when(w, t.last_deferred_at_unix_s, now)) }
                        }
                    }
                }
            } }
        }
    }
}

/// The IPs that sent to the tenant, with the partner-connector shortcut.
fn senders(a: &Admin, v: &Viewer) -> Result<Markup, AdminError> {
    let w = v.w();
    let tenant = v.tenant.clone().unwrap_or_default();
    let p =
        ClientParams { tenant: Some(tenant.clone()), since: Some("10d".into()), ..ClientParams::default() };
    let list = match a.clients(&v.cx, &p) {
        Ok(list) => list,
        Err(e) if e.kind == ErrorKind::Unavailable => {
            return Ok(html! { h2 { (w.senders_title) } p { (w.trace_off) } });
        }
        Err(e) => return Err(e),
    };
    let now = now_s();
    Ok(html! {
        h2 { (w.senders_title) }
        @if list.is_empty() { p { (w.nothing_yet) } } @else {
            div.scroll { table.responsive {
                thead { tr {
                    th scope="col" { (w.client_ip) } th scope="col" { (w.s_accepted) } th scope="col" { (w.tls_share) }
                    th scope="col" { (w.s_throttled) } th scope="col" { (w.s_refused) } th scope="col" { (w.last_seen) }
                    @if v.may(Permission::EditTenant) { th scope="col" { (w.actions) } }
                } }
                tbody {
                    @for c in &list {
                        tr {
                            td data-label=(w.client_ip) { a href=(format!("/throttle?ip={}", c.ip)) { (c.ip) } }
                            td data-label=(w.s_accepted) { (c.accepted) }
                            td data-label=(w.tls_share) { (c.accepted_tls) }
                            td data-label=(w.s_throttled) { (c.throttled) }
                            td data-label=(w.s_refused) { (c.refused) }
                            td data-label=(w.last_seen) { (layout::when(w, c.last_seen_unix_s, now)) }
                            @if v.may(Permission::EditTenant) {
                                td data-label=(w.actions) {
                                    a href=(format!("/t/{}/connectors/new?route=from-partner&ip={}", seg(&tenant), seg(&c.ip))) aria-label=(format!("{} {}", w.create_partner, c.ip)) { (w.create_partner) }
                                }
                            }
                        }
                    }
                }
            } }
        }
    })
}

fn allow_list(a: &Admin, v: &Viewer) -> Result<Markup, AdminError> {
    let w = v.w();
    let entries = match a.list_allowed(&v.cx) {
        Ok(e) => e,
        Err(e) if e.kind == ErrorKind::Unavailable => {
            return Ok(html! { h2 { (w.allow_list) } p { (w.throttle_off) } });
        }
        Err(e) => return Err(e),
    };
    let operate = v.may(Permission::Operate);
    Ok(html! {
        h2 { (w.allow_list) }
        @if entries.is_empty() { p { (w.nothing_yet) } } @else {
            table.responsive {
                thead { tr { th scope="col" { (w.network) } th scope="col" { (w.note) } @if operate { th scope="col" { (w.actions) } } } }
                tbody {
                    @for e in &entries {
                        tr {
                            td data-label=(w.network) { (e.cidr) }
                            td data-label=(w.note) { (e.note) }
                            @if operate {
                                td data-label=(w.actions) {
                                    form.inline method="post" action="/throttle/allow/remove" {
                                        (layout::csrf(v))
                                        input type="hidden" name="cidr" value=(e.cidr);
                                        button.secondary type="submit" aria-label=(format!("{} {}", w.remove, e.cidr)) { (w.remove) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if operate {
            form.stack method="post" action="/throttle/allow" {
                (layout::csrf(v))
                div.field {
                    label for="allow-cidr" { (w.network) }
                    input #allow-cidr type="text" name="cidr" required aria-describedby="allow-cidr-hint";
                    p.hint #allow-cidr-hint { (w.lookup_hint) }
                }
                div.field {
                    label for="allow-note" { (w.note) }
                    input #allow-note type="text" name="note";
                }
                div { button type="submit" { (w.add) } }
            }
        }
    })
}

pub async fn allow(State(state): State<AppState>, form: PostForm) -> Response {
    let input = AllowInput { cidr: form.f.text("cidr"), note: form.f.get("note").map(str::to_string) };
    run(&state, form.v, move |a, v| {
        a.allow_network(&v.cx, &input)?;
        Ok(done("/throttle?ok=allowed"))
    })
    .await
}

pub async fn unallow(State(state): State<AppState>, form: PostForm) -> Response {
    let cidr = form.f.text("cidr");
    run(&state, form.v, move |a, v| {
        a.remove_allowed(&v.cx, &cidr)?;
        Ok(done("/throttle?ok=removed"))
    })
    .await
}
