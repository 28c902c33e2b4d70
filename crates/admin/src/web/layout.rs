//! The page shell (skip link, header with who is signed in, the tenant switcher, the
//! language switch, the menu a role may use), and small pieces every page uses: dates,
//! status words, help links, field errors.

use access::{Permission, Role};
use maud::{DOCTYPE, Markup, html};

use super::Viewer;
use super::i18n::{Words, fill};
use crate::error::AdminError;

/// A whole page.
pub fn page(v: &Viewer, title: &str, body: Markup) -> Markup {
    let w = v.w();
    html! {
        (DOCTYPE)
        html lang=(v.lang.tag()) {
            (head(w, title))
            body {
                a.skip href="#main" { (w.skip) }
                header.top {
                    a.brand href="/" { (w.app_name) }
                    (tenant_switch(v))
                    (language_switch(v))
                    form.inline method="post" action="/logout" {
                        (csrf(v))
                        button type="submit" { (w.sign_out) }
                    }
                }
                (menu(v))
                main #main tabindex="-1" {
                    p.who { (fill(w.signed_in_as, &[&v.cx.principal.actor, &role_name(w, v.role())])) }
                    (body)
                }
                script src="/static/app.js" defer {}
            }
        }
    }
}

fn head(w: &Words, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · " (w.app_name) }
            link rel="stylesheet" href="/static/app.css";
        }
    }
}

/// A page for someone not signed in (the sign-in page).
pub fn bare(lang: bounce::Lang, title: &str, body: Markup) -> Markup {
    let w = super::i18n::words(lang);
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            (head(w, title))
            body {
                main #main.narrow { (body) }
                script src="/static/app.js" defer {}
            }
        }
    }
}

pub fn role_name(w: &Words, role: Role) -> &'static str {
    match role {
        Role::Operator => w.role_operator,
        Role::Support => w.role_support,
        Role::TenantAdmin => w.role_tenant_admin,
        Role::TenantReader => w.role_tenant_reader,
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf(v: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(v.csrf); }
}

fn menu(v: &Viewer) -> Markup {
    let w = v.w();
    let mut items: Vec<(String, &str)> = vec![("/".into(), w.home)];
    if let Some(t) = &v.tenant {
        items.push((format!("/t/{t}/domains"), w.domains));
        items.push((format!("/t/{t}/connectors"), w.connectors));
    }
    items.push(("/trace".into(), w.trace));
    items.push(("/throttle".into(), w.throttling));
    items.push(("/quarantine".into(), w.quarantine));
    items.push((
        match (&v.tenant, v.is_tenant_role()) {
            (Some(t), true) => format!("/t/{t}/requests"),
            _ => "/requests".into(),
        },
        w.requests,
    ));
    if v.may(Permission::Operate) {
        items.push(("/queue".into(), w.queue));
    }
    items.push(("/audit".into(), w.audit));
    let help = format!("/help?lang={}", v.lang.tag());
    let path = v.here.split('?').next().unwrap_or("/");
    html! {
        nav.menu aria-label=(w.nav_label) {
            ul {
                @for (href, label) in &items {
                    @let current = *href == path;
                    li { a href=(href) aria-current=[current.then_some("page")] { (label) } }
                }
                li { a href=(help) { (w.help) } }
            }
        }
    }
}

fn tenant_switch(v: &Viewer) -> Markup {
    let w = v.w();
    if v.is_tenant_role() {
        return html! { span.tenant { (w.tenant) (w.colon) strong { (v.tenant.as_deref().unwrap_or("")) } } };
    }
    html! {
        form.inline.tenant method="get" action="/tenant" {
            label for="tenant-switch" { (w.tenant) }
            select #tenant-switch name="tenant" {
                option value="" selected[v.tenant.is_none()] { (w.all_tenants) }
                @for t in &v.tenants {
                    option value=(t) selected[v.tenant.as_deref() == Some(t.as_str())] { (t) }
                }
            }
            button type="submit" { (w.switch_tenant) }
        }
    }
}

/// Links to this page in each language.
fn language_switch(v: &Viewer) -> Markup {
    let (path, query) = v.here.split_once('?').unwrap_or((&v.here, ""));
    let kept: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "lang")
        .map(|(k, val)| (k.into_owned(), val.into_owned()))
        .collect();
    let link = |tag: &str| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, val) in &kept {
            q.append_pair(k, val);
        }
        q.append_pair("lang", tag);
        format!("{path}?{}", q.finish())
    };
    html! {
        nav.lang aria-label=(v.w().language) {
            a href=(link("en")) lang="en" hreflang="en" aria-current=[(v.lang.tag() == "en").then_some("true")] { "English" }
            " · "
            a href=(link("fr")) lang="fr" hreflang="fr" aria-current=[(v.lang.tag() == "fr").then_some("true")] { "Français" }
        }
    }
}

/// A date in UTC (`2026-05-01 14:03 UTC`), the same in every language.
pub fn date(unix_s: u64) -> String {
    let (y, m, d) = smtp_wire::date::civil_from_days(unix_s / 86_400);
    let rem = unix_s % 86_400;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3_600, rem % 3_600 / 60)
}

/// A date with how long ago it was.
pub fn when(w: &Words, unix_s: u64, now_s: u64) -> Markup {
    let age = now_s.saturating_sub(unix_s);
    let ago = if age < 3_600 {
        fill(w.ago_minutes, &[&(age / 60)])
    } else if age < 2 * 86_400 {
        fill(w.ago_hours, &[&(age / 3_600)])
    } else {
        fill(w.ago_days, &[&(age / 86_400)])
    };
    html! { time datetime=(iso(unix_s)) title=(date(unix_s)) { (ago) } }
}

pub fn iso(unix_s: u64) -> String {
    let (y, m, d) = smtp_wire::date::civil_from_days(unix_s / 86_400);
    let rem = unix_s % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3_600, rem % 3_600 / 60, rem % 60)
}

/// A status word of the operations (`pending`, `verified`, ...) in the viewer's language.
pub fn status_word(w: &Words, status: &str) -> &'static str {
    match status {
        "pending" => w.pending,
        "verified" => w.verified,
        "authoritative" => w.authoritative,
        "internal-relay" => w.internal_relay,
        "received" => w.received,
        "deferred" => w.deferred,
        "delivered" => w.delivered,
        "failed" => w.failed,
        "bounced" => w.bounced,
        "expired" => w.expired,
        "routed" => w.routed,
        "notified" => w.notified,
        "approved" => w.approved,
        "denied" => w.denied,
        "inbound" => w.inbound,
        "outbound" => w.outbound,
        "partner" => w.partner,
        "on-premises" => w.on_premises,
        "active" => w.active,
        "suspended" => w.suspended,
        _ => w.none,
    }
}

/// The enhanced status code in an SMTP reply (`451 4.7.501 ...` gives `4.7.501`).
pub fn reply_code(reply: &str) -> Option<&str> {
    let code = reply.split_whitespace().nth(1)?;
    let parts: Vec<&str> = code.split('.').collect();
    (parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
        .then_some(code)
}

/// A link to the help page of a code (help pages exist for every code Sluice uses).
pub fn help_link(v: &Viewer, code: &str) -> Markup {
    let known = bounce::HELP_CODES.iter().any(|c| c.eq_ignore_ascii_case(code));
    html! {
        @if known {
            a.code href=(format!("/help/{code}?lang={}", v.lang.tag())) { (code) }
        } @else {
            code { (code) }
        }
    }
}

/// A reply text with its code linked to the help page. Replies are the servers' own
/// words, marked as English for assistive technology.
pub fn reply(v: &Viewer, text: &str) -> Markup {
    html! {
        @if reply_code(text).is_some() {
            a.code href=(format!("/help/{}?lang={}", bounce::help_code_for_reply(text), v.lang.tag())) {
                (reply_code(text).unwrap_or_default())
            }
            " "
        }
        span.reply lang="en" { (text) }
    }
}

/// An operation's own message (English), shown under a translated lead.
pub fn server_detail(v: &Viewer, message: &str) -> Markup {
    html! {
        p.detail { (v.w().server_said) " " span lang="en" { (message) } }
    }
}

/// The error under a field, when the operation named that field.
pub fn field_error(v: &Viewer, error: Option<&AdminError>, fields: &[&str], id: &str) -> Markup {
    match error.filter(|e| e.field.as_deref().is_some_and(|f| fields.contains(&f))) {
        Some(e) => html! {
            p.field-error id=(format!("{id}-error")) role="alert" { (super::problem::describe(v.w(), e)) }
        },
        None => html! {},
    }
}

/// `aria-describedby` for a field: its hint (when it has one) and its error (when there is
/// one); `None` when neither.
pub fn described(error: Option<&AdminError>, fields: &[&str], id: &str, hint: bool) -> Option<String> {
    let has_error = error.and_then(|e| e.field.as_deref()).is_some_and(|f| fields.contains(&f));
    match (hint, has_error) {
        (true, true) => Some(format!("{id}-hint {id}-error")),
        (true, false) => Some(format!("{id}-hint")),
        (false, true) => Some(format!("{id}-error")),
        (false, false) => None,
    }
}

/// Whether the error is about one of `fields`.
pub fn invalid(error: Option<&AdminError>, fields: &[&str]) -> bool {
    error.and_then(|e| e.field.as_deref()).is_some_and(|f| fields.contains(&f))
}

/// An error not tied to a field, above a form.
pub fn form_error(v: &Viewer, error: Option<&AdminError>, fields: &[&str]) -> Markup {
    match error.filter(|e| !e.field.as_deref().is_some_and(|f| fields.contains(&f))) {
        Some(e) => html! {
            div.alert role="alert" {
                p { (v.w().error_title) }
                @if e.kind == crate::ErrorKind::Invalid && e.field.is_some() {
                    p { (super::problem::describe(v.w(), e)) }
                } @else {
                    (server_detail(v, &e.message))
                }
            }
        },
        None => html! {},
    }
}

/// A notice after a change.
pub fn notice(text: &str) -> Markup {
    html! { div.notice role="status" { p { (text) } } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_and_exact() {
        assert_eq!(date(0), "1970-01-01 00:00 UTC");
        assert_eq!(date(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(date(1_767_225_599), "2025-12-31 23:59 UTC");
        assert_eq!(iso(1_767_225_600), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn reply_codes_are_found() {
        assert_eq!(reply_code("451 4.7.501 Deferred: (AS501)"), Some("4.7.501"));
        assert_eq!(reply_code("250 ok"), None);
        assert_eq!(reply_code(""), None);
    }
}
