//! The connector wizard, in the six steps admins know: 1) from where to where, 2) name and
//! on/off, 3) how to identify the server (IP ranges or certificate name; for outbound, the
//! recipient domains), 4) security (TLS, restricted sender domains; for outbound, smart
//! hosts or MX and the TLS mode), 5) review, 6) validate step by step, then save.
//!
//! The wizard keeps nothing on the server: every answer travels in the form (hidden fields
//! for the other steps), so Back and Next work without JavaScript and a reload changes
//! nothing. Each Next asks the operations layer whether the settings so far are valid;
//! an error about a field of this step or an earlier one stops there, next to the field.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::super::form::{Fields, PostForm};
use super::super::i18n::{Words, fill};
use super::super::{Viewer, done, layout, run};
use super::{query, seg};
use crate::Admin;
use crate::error::{AdminError, ErrorKind};
use crate::http::AppState;
use crate::views::{ConnectorInput, ValidationView};

/// Every answer of the wizard.
#[derive(Clone, Debug, Default)]
struct Answers {
    route: String,
    name: String,
    enabled: bool,
    identify: String,
    ip: Vec<String>,
    cert: Vec<String>,
    recipient_domain: Vec<String>,
    require_tls: bool,
    sender_domain: Vec<String>,
    restrict: bool,
    smart_host: Vec<String>,
    tls: String,
    tls_domain: String,
    to: String,
}

const ROUTES: [&str; 4] = ["from-partner", "from-own", "to-partner", "to-own"];

impl Answers {
    fn inbound(&self) -> bool {
        self.route.starts_with("from-")
    }

    /// From a form: a checkbox counts on the step that shows it (`*_shown`), else its
    /// carried value.
    fn read(f: &Fields) -> Answers {
        let flag = |name: &str| match f.get(&format!("{name}_shown")) {
            Some(_) => f.checked(name) && f.get(name) != Some("no"),
            None => f.get(name) == Some("yes"),
        };
        Answers {
            route: f.text("route"),
            name: f.text("name"),
            enabled: flag("enabled"),
            identify: f.get("identify").unwrap_or("ip").to_string(),
            ip: f.lines("ip"),
            cert: f.lines("cert"),
            recipient_domain: f.lines("recipient_domain"),
            require_tls: flag("require_tls"),
            sender_domain: f.lines("sender_domain"),
            restrict: flag("restrict"),
            smart_host: f.lines("smart_host"),
            tls: f.get("tls").unwrap_or("opportunistic").to_string(),
            tls_domain: f.text("tls_domain"),
            to: f.text("to"),
        }
    }

    /// The operations' input.
    fn input(&self) -> ConnectorInput {
        let by_ip = self.identify != "cert";
        let mut input = ConnectorInput {
            name: self.name.clone(),
            enabled: Some(self.enabled),
            ..ConnectorInput::default()
        };
        if self.inbound() {
            input.direction = Some("inbound".into());
            input.kind = Some(if self.route == "from-own" { "on-premises" } else { "partner" }.into());
            input.ip = if by_ip { self.ip.clone() } else { Vec::new() };
            input.certificate_name = if by_ip { Vec::new() } else { self.cert.clone() };
            if self.restrict {
                input.restrict_sender_domain = self.sender_domain.clone();
            } else {
                input.sender_domain = self.sender_domain.clone();
            }
            input.require_tls = Some(self.require_tls);
        } else {
            input.direction = Some("outbound".into());
            input.recipient_domain = self.recipient_domain.clone();
            input.smart_host = self.smart_host.clone();
            input.tls = Some(self.tls.clone());
            input.tls_domain =
                (self.tls == "verify-domain" && !self.tls_domain.is_empty()).then(|| self.tls_domain.clone());
        }
        input
    }
}

/// The step an input field belongs to.
fn step_of(field: &str) -> u8 {
    match field {
        "connector.direction" | "connector.kind" => 1,
        "connector.name" => 2,
        "connector.ip" | "connector.certificate_name" | "connector.recipient_domain" => 3,
        _ => 4,
    }
}

pub async fn start(
    State(state): State<AppState>,
    v: Viewer,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(raw);
    let route = q.get("route").filter(|r| ROUTES.contains(r)).unwrap_or("from-partner").to_string();
    let answers = Answers {
        require_tls: route == "from-partner",
        route,
        enabled: true,
        identify: "ip".into(),
        ip: q.lines("ip"),
        tls: "opportunistic".into(),
        ..Answers::default()
    };
    run(&state, v, move |a, v| {
        a.tenant(&v.cx, &tenant)?;
        Ok(render(v, &tenant, 1, &answers, None, None, StatusCode::OK))
    })
    .await
}

pub async fn step(State(state): State<AppState>, Path(tenant): Path<String>, form: PostForm) -> Response {
    let at: u8 = form.f.get("step").and_then(|s| s.parse().ok()).filter(|s| (1..=6).contains(s)).unwrap_or(1);
    let go = form.f.text("go");
    let mut answers = Answers::read(&form.f);
    if at == 1 && form.f.get("route_was") != Some(answers.route.as_str()) {
        // A new choice of direction resets the TLS default to the direction's.
        answers.require_tls = answers.route == "from-partner";
    }
    run(&state, form.v, move |a, v| advance(a, v, &tenant, at, &go, &answers)).await
}

fn advance(
    a: &Admin,
    v: &Viewer,
    tenant: &str,
    at: u8,
    go: &str,
    answers: &Answers,
) -> Result<Response, AdminError> {
    if go == "back" {
        return Ok(render(v, tenant, at.saturating_sub(1).max(1), answers, None, None, StatusCode::OK));
    }
    if at == 1 && !ROUTES.contains(&answers.route.as_str()) {
        let e =
            AdminError::invalid_value("connector.direction", "", "choose where mail comes from and goes to");
        return Ok(render(v, tenant, 1, answers, Some(&e), None, StatusCode::BAD_REQUEST));
    }
    if go == "save" {
        return match a.add_connector(&v.cx, tenant, &answers.input()) {
            Ok(saved) => {
                Ok(done(&format!("/t/{}/connectors?ok=saved&name={}", seg(tenant), seg(&saved.name))))
            }
            Err(e) if matches!(e.kind, ErrorKind::Invalid | ErrorKind::Conflict) => {
                let back_to = e.field.as_deref().map_or(2, step_of);
                Ok(render(v, tenant, back_to, answers, Some(&e), None, StatusCode::BAD_REQUEST))
            }
            Err(e) => Err(e),
        };
    }
    let next = (at + 1).min(6);
    if (2..=5).contains(&next)
        && let Err(e) = a.connector_settings(&v.cx, tenant, &answers.input())
    {
        let stop = e.field.as_deref().map_or(at, step_of);
        if e.kind != ErrorKind::Invalid {
            return Err(e);
        }
        if stop < next || next == 5 {
            return Ok(render(v, tenant, stop.min(4), answers, Some(&e), None, StatusCode::BAD_REQUEST));
        }
    }
    if next == 6 {
        let to = (!answers.to.is_empty()).then_some(answers.to.as_str());
        let checked = a.check_connector(&v.cx, tenant, &answers.input(), to)?;
        return Ok(render(v, tenant, 6, answers, None, Some(&checked), StatusCode::OK));
    }
    Ok(render(v, tenant, next, answers, None, None, StatusCode::OK))
}

fn step_title(w: &Words, step: u8) -> &'static str {
    match step {
        1 => w.w_step1,
        2 => w.w_step2,
        3 => w.w_step3,
        4 => w.w_step4,
        5 => w.w_step5,
        _ => w.w_step6,
    }
}

fn render(
    v: &Viewer,
    tenant: &str,
    step: u8,
    a: &Answers,
    error: Option<&AdminError>,
    checked: Option<&ValidationView>,
    status: StatusCode,
) -> Response {
    let w = v.w();
    let title = fill(w.wizard_title, &[&step]);
    let body = html! {
        h1 { (title) (w.colon) (step_title(w, step)) }
        ol.wizard-progress {
            @for s in 1..=6u8 {
                li aria-current=[(s == step).then_some("step")] { (s) ". " (step_title(w, s)) }
            }
        }
        (layout::form_error(v, error, &fields_of(step)))
        form.stack method="post" action=(format!("/t/{}/connectors/new", seg(tenant))) novalidate {
            (layout::csrf(v))
            input type="hidden" name="step" value=(step);
            (carried(a, step))
            @match step {
                1 => (step1(v, a, error)),
                2 => (step2(v, a, error)),
                3 => (step3(v, a, error)),
                4 => (step4(v, a, error)),
                5 => (review(v, a)),
                _ => (validate(v, a, checked)),
            }
            div.buttons {
                @if step > 1 { button.secondary type="submit" name="go" value="back" formnovalidate { (w.w_back) } " " }
                @match step {
                    6 => {
                        button.secondary type="submit" name="go" value="check" { (w.w_validate) } " "
                        button type="submit" name="go" value="save" { (w.save) }
                    },
                    5 => button type="submit" name="go" value="next" { (w.w_validate) },
                    _ => button type="submit" name="go" value="next" { (w.w_next) },
                }
            }
        }
    };
    (status, layout::page(v, &title, body)).into_response()
}

/// The operation fields each step holds, for placing errors.
fn fields_of(step: u8) -> Vec<&'static str> {
    match step {
        1 => vec!["connector.direction", "connector.kind"],
        2 => vec!["connector.name"],
        3 => vec!["connector.ip", "connector.certificate_name", "connector.recipient_domain"],
        4 => vec![
            "connector.sender_domain",
            "connector.restrict_sender_domains",
            "connector.require_tls",
            "connector.smart_host",
            "connector.tls",
            "connector.tls_domain",
        ],
        _ => vec![],
    }
}

/// The answers of the other steps as hidden fields.
fn carried(a: &Answers, step: u8) -> Markup {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mut hidden: Vec<(&str, String)> = Vec::new();
    if step != 1 {
        hidden.push(("route", a.route.clone()));
    }
    if step != 2 {
        hidden.push(("name", a.name.clone()));
        hidden.push(("enabled", yes(a.enabled).into()));
    }
    if step != 3 {
        hidden.push(("identify", a.identify.clone()));
        hidden.push(("ip", a.ip.join("\n")));
        hidden.push(("cert", a.cert.join("\n")));
        hidden.push(("recipient_domain", a.recipient_domain.join("\n")));
    }
    if step != 4 {
        hidden.push(("require_tls", yes(a.require_tls).into()));
        hidden.push(("sender_domain", a.sender_domain.join("\n")));
        hidden.push(("restrict", yes(a.restrict).into()));
        hidden.push(("smart_host", a.smart_host.join("\n")));
        hidden.push(("tls", a.tls.clone()));
        hidden.push(("tls_domain", a.tls_domain.clone()));
    }
    if step != 6 {
        hidden.push(("to", a.to.clone()));
    }
    if step == 1 {
        hidden.push(("route_was", a.route.clone()));
    }
    html! { @for (name, value) in &hidden { input type="hidden" name=(name) value=(value); } }
}

pub(super) fn field(
    v: &Viewer,
    error: Option<&AdminError>,
    fields: &[&str],
    id: &str,
    label: &str,
    hint: Option<&str>,
    input: Markup,
) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            @if let Some(h) = hint { p.hint id=(format!("{id}-hint")) { (h) } }
            (input)
            (layout::field_error(v, error, fields, id))
        }
    }
}

pub(super) fn textarea(
    error: Option<&AdminError>,
    fields: &[&str],
    id: &str,
    name: &str,
    lines: &[String],
    hint: bool,
) -> Markup {
    html! {
        textarea id=(id) name=(name) rows="4"
            aria-invalid=[layout::invalid(error, fields).then_some("true")]
            aria-describedby=[layout::described(error, fields, id, hint)] { (lines.join("\n")) }
    }
}

pub(super) fn checkbox(id: &str, name: &str, checked: bool, label: &str) -> Markup {
    html! {
        input type="hidden" name=(format!("{name}_shown")) value="1";
        div.choice {
            input id=(id) type="checkbox" name=(name) value="yes" checked[checked];
            label for=(id) { (label) }
        }
    }
}

fn step1(v: &Viewer, a: &Answers, error: Option<&AdminError>) -> Markup {
    let w = v.w();
    let labels = [w.w_from_partner, w.w_from_own, w.w_to_partner, w.w_to_own];
    html! {
        fieldset aria-invalid=[layout::invalid(error, &["connector.direction"]).then_some("true")] {
            legend { (w.w_step1) }
            @for (route, label) in ROUTES.iter().zip(labels) {
                div.choice {
                    input id=(format!("route-{route}")) type="radio" name="route" value=(route) checked[a.route == *route];
                    label for=(format!("route-{route}")) { (label) }
                }
            }
            (layout::field_error(v, error, &["connector.direction", "connector.kind"], "route"))
        }
    }
}

fn step2(v: &Viewer, a: &Answers, error: Option<&AdminError>) -> Markup {
    let w = v.w();
    let f = ["connector.name"];
    html! {
        (field(v, error, &f, "name", w.name, Some(w.w_name_hint), html! {
            input #name type="text" name="name" value=(a.name) required autocomplete="off"
                aria-invalid=[layout::invalid(error, &f).then_some("true")]
                aria-describedby=[layout::described(error, &f, "name", true)];
        }))
        (checkbox("enabled", "enabled", a.enabled, w.w_enabled))
    }
}

fn step3(v: &Viewer, a: &Answers, error: Option<&AdminError>) -> Markup {
    let w = v.w();
    if !a.inbound() {
        let f = ["connector.recipient_domain"];
        return field(
            v,
            error,
            &f,
            "recipient_domain",
            w.w_recipient_domains,
            None,
            textarea(error, &f, "recipient_domain", "recipient_domain", &a.recipient_domain, false),
        );
    }
    let ip_f = ["connector.ip"];
    let cert_f = ["connector.certificate_name"];
    html! {
        fieldset {
            legend { (w.w_step3) }
            div.choice {
                input #identify-ip type="radio" name="identify" value="ip" checked[a.identify != "cert"];
                label for="identify-ip" { (w.w_by_ip) }
            }
            div.choice {
                input #identify-cert type="radio" name="identify" value="cert" checked[a.identify == "cert"];
                label for="identify-cert" { (w.w_by_cert) }
            }
        }
        (field(v, error, &ip_f, "ip", w.w_ips, Some(w.w_ips_hint), textarea(error, &ip_f, "ip", "ip", &a.ip, true)))
        (field(v, error, &cert_f, "cert", w.w_certs, Some(w.w_certs_hint), textarea(error, &cert_f, "cert", "cert", &a.cert, true)))
    }
}

fn step4(v: &Viewer, a: &Answers, error: Option<&AdminError>) -> Markup {
    let w = v.w();
    if a.inbound() {
        let f = ["connector.sender_domain", "connector.restrict_sender_domains"];
        return html! {
            (checkbox("require_tls", "require_tls", a.require_tls, w.w_require_tls))
            (field(v, error, &f, "sender_domain", w.w_sender_domains, None, textarea(error, &f, "sender_domain", "sender_domain", &a.sender_domain, false)))
            (checkbox("restrict", "restrict", a.restrict, w.w_restrict))
        };
    }
    let hosts = ["connector.smart_host"];
    html! {
        (field(v, error, &hosts, "smart_host", w.w_smart_hosts, None, textarea(error, &hosts, "smart_host", "smart_host", &a.smart_host, false)))
        (tls_fields(v, error, &a.tls, &a.tls_domain))
    }
}

/// An outbound connector's TLS mode and the name its certificate must carry.
pub(super) fn tls_fields(v: &Viewer, error: Option<&AdminError>, mode_now: &str, domain: &str) -> Markup {
    let w = v.w();
    let tls = ["connector.tls", "connector.tls_domain"];
    let modes = [
        ("opportunistic", w.tls_opportunistic),
        ("required", w.tls_required_mode),
        ("verify-certificate", w.tls_verify_certificate),
        ("verify-domain", w.tls_verify_domain),
    ];
    html! {
        (field(v, error, &tls, "tls", w.w_tls_mode, None, html! {
            select #tls name="tls" aria-describedby=[layout::described(error, &tls, "tls", false)] {
                @for (mode, label) in modes { option value=(mode) selected[mode_now == mode] { (label) } }
            }
        }))
        (field(v, error, &tls, "tls_domain", w.w_tls_domain, None, html! {
            input #tls_domain type="text" name="tls_domain" value=(domain) aria-describedby=[layout::described(error, &tls, "tls_domain", false)];
        }))
    }
}

fn review(v: &Viewer, a: &Answers) -> Markup {
    let w = v.w();
    let yes = |b: bool| if b { w.yes } else { w.no };
    let labels = [w.w_from_partner, w.w_from_own, w.w_to_partner, w.w_to_own];
    let route = ROUTES.iter().position(|r| *r == a.route).map_or("", |i| labels[i]);
    let list = |items: &[String]| if items.is_empty() { w.none.to_string() } else { items.join(", ") };
    html! {
        dl.review {
            dt { (w.w_step1) } dd { (route) }
            dt { (w.name) } dd { (a.name) }
            dt { (w.enabled) } dd { (yes(a.enabled)) }
            @if a.inbound() {
                @if a.identify == "cert" { dt { (w.w_certs) } dd { (list(&a.cert)) } }
                @else { dt { (w.w_ips) } dd { (list(&a.ip)) } }
                dt { (w.w_require_tls) } dd { (yes(a.require_tls)) }
                dt { (w.w_sender_domains) } dd { (list(&a.sender_domain)) }
                dt { (w.w_restrict) } dd { (yes(a.restrict)) }
            } @else {
                dt { (w.w_recipient_domains) } dd { (list(&a.recipient_domain)) }
                dt { (w.w_smart_hosts) } dd { (list(&a.smart_host)) }
                dt { (w.w_tls_mode) } dd { (super::connectors::tls_word(v, &a.tls)) }
            }
        }
    }
}

fn step_name<'a>(w: &'a Words, step: &str) -> &'a str {
    match step {
        "settings" => w.st_settings,
        "name" => w.st_name,
        "traffic" => w.st_traffic,
        "tls" => w.st_tls,
        "throttling" => w.st_throttling,
        "certificate" => w.st_certificate,
        "resolve" => w.st_resolve,
        "connect" => w.st_connect,
        "banner" => w.st_banner,
        "ehlo" => w.st_ehlo,
        "starttls" => w.st_starttls,
        "mail" => w.st_mail,
        "rcpt" => w.st_rcpt,
        "data" => w.st_data,
        "quit" => w.st_quit,
        _ => w.st_settings,
    }
}

fn validate(v: &Viewer, a: &Answers, checked: Option<&ValidationView>) -> Markup {
    let w = v.w();
    html! {
        p { (w.w_validate_intro) }
        @if !a.inbound() {
            div.field {
                label for="to" { (w.w_test_to) }
                input #to type="text" name="to" value=(a.to) autocomplete="off";
            }
        }
        @if let Some(c) = checked {
            @if c.passed { (layout::notice(w.w_passed)) } @else { div.alert role="alert" { p { (w.w_failed) } } }
            ol.steps aria-live="polite" {
                @for s in &c.steps {
                    li {
                        strong { (step_name(w, &s.step)) } " "
                        code { (s.target) } " "
                        @if s.passed { span.ok { (w.step_ok) } } @else { span.bad { (w.step_failed) } }
                        br;
                        span lang="en" { (s.detail) }
                        @if let Some(r) = &s.reply { br; (w.w_reply) (w.colon) (layout::reply(v, r)) }
                        @if let Some(check) = &s.check { br; (w.w_what_to_check) (w.colon) span lang="en" { (check) } }
                    }
                }
            }
        }
    }
}
