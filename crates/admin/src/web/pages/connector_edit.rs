//! Editing a connector on one page, pre-filled with its settings. The form holds the whole
//! lists; what was added and removed is worked out against the connector as it is when the
//! form is saved, and saved through the operation the API and the CLI use (so the change is
//! recorded with who, when, what and why). An error stays on the page, next to its field.

use access::Permission;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::super::form::{Fields, PostForm};
use super::super::i18n::fill;
use super::super::{Viewer, done, layout, run};
use super::seg;
use super::wizard::{checkbox, field, textarea, tls_fields};
use crate::error::{AdminError, ErrorKind};
use crate::http::AppState;
use crate::views::{ConnectorEdit, ConnectorView};

/// The settings the form shows: the connector's, or those posted.
#[derive(Clone, Debug, Default)]
struct Settings {
    enabled: bool,
    ip: Vec<String>,
    cert: Vec<String>,
    sender_domain: Vec<String>,
    restrict: bool,
    require_tls: bool,
    recipient_domain: Vec<String>,
    smart_host: Vec<String>,
    tls: String,
    tls_domain: String,
    note: String,
}

impl Settings {
    fn of(c: &ConnectorView) -> Settings {
        Settings {
            enabled: c.enabled,
            ip: c.ip.clone(),
            cert: c.certificate_name.clone(),
            sender_domain: c.sender_domain.clone(),
            restrict: c.restrict_sender_domains,
            require_tls: c.require_tls,
            recipient_domain: c.recipient_domain.clone(),
            smart_host: c.smart_host.clone(),
            tls: c.tls.clone().unwrap_or_default(),
            tls_domain: c.tls_domain.clone().unwrap_or_default(),
            note: String::new(),
        }
    }

    fn read(f: &Fields) -> Settings {
        Settings {
            enabled: f.checked("enabled"),
            ip: f.lines("ip"),
            cert: f.lines("cert"),
            sender_domain: f.lines("sender_domain"),
            restrict: f.checked("restrict"),
            require_tls: f.checked("require_tls"),
            recipient_domain: f.lines("recipient_domain"),
            smart_host: f.lines("smart_host"),
            tls: f.get("tls").unwrap_or("opportunistic").to_string(),
            tls_domain: f.text("tls_domain"),
            note: f.text("note"),
        }
    }

    /// The change from `now` to these settings, in the direction's own keys.
    fn edit_of(&self, now: &ConnectorView) -> ConnectorEdit {
        let mut e = ConnectorEdit {
            enabled: Some(self.enabled),
            note: (!self.note.is_empty()).then(|| self.note.clone()),
            ..ConnectorEdit::default()
        };
        if now.direction == "inbound" {
            (e.add_ip, e.remove_ip) = diff(&now.ip, &self.ip);
            (e.add_certificate_name, e.remove_certificate_name) = diff(&now.certificate_name, &self.cert);
            (e.add_sender_domain, e.remove_sender_domain) = diff(&now.sender_domain, &self.sender_domain);
            e.restrict_sender_domains = Some(self.restrict);
            e.require_tls = Some(self.require_tls);
        } else {
            (e.add_recipient_domain, e.remove_recipient_domain) =
                diff(&now.recipient_domain, &self.recipient_domain);
            (e.add_smart_host, e.remove_smart_host) = diff(&now.smart_host, &self.smart_host);
            e.tls = Some(self.tls.clone());
            e.tls_domain = (!self.tls_domain.is_empty()).then(|| self.tls_domain.clone());
        }
        e
    }
}

/// What to add to `now` and remove from it to make `wanted` (each in its order).
fn diff(now: &[String], wanted: &[String]) -> (Vec<String>, Vec<String>) {
    let mut add: Vec<String> = Vec::new();
    for w in wanted {
        if !now.contains(w) && !add.contains(w) {
            add.push(w.clone());
        }
    }
    let remove = now.iter().filter(|n| !wanted.contains(n)).cloned().collect();
    (add, remove)
}

// The operation's field names, by the form field they concern.
const IP: [&str; 3] = ["connector.add_ip", "connector.remove_ip", "connector.ip"];
const CERT: [&str; 3] =
    ["connector.add_certificate_name", "connector.remove_certificate_name", "connector.certificate_name"];
const SENDER: [&str; 4] = [
    "connector.add_sender_domain",
    "connector.remove_sender_domain",
    "connector.sender_domain",
    "connector.restrict_sender_domains",
];
const RECIPIENT: [&str; 3] =
    ["connector.add_recipient_domain", "connector.remove_recipient_domain", "connector.recipient_domain"];
const HOSTS: [&str; 3] = ["connector.add_smart_host", "connector.remove_smart_host", "connector.smart_host"];
const TLS: [&str; 2] = ["connector.tls", "connector.tls_domain"];
const EVERY_FIELD: [&[&str]; 6] = [&IP, &CERT, &SENDER, &RECIPIENT, &HOSTS, &TLS];

fn editor_only(v: &Viewer) -> Result<(), AdminError> {
    match v.may(Permission::EditTenant) {
        true => Ok(()),
        false => Err(AdminError::forbidden(v.role(), "edit connectors")),
    }
}

pub async fn page(
    State(state): State<AppState>,
    v: Viewer,
    Path((tenant, name)): Path<(String, String)>,
) -> Response {
    run(&state, v, move |a, v| {
        editor_only(v)?;
        let c = a.connector(&v.cx, &tenant, &name)?;
        Ok(render(v, &tenant, &c, &Settings::of(&c), None, StatusCode::OK))
    })
    .await
}

pub async fn save(
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    form: PostForm,
) -> Response {
    let wanted = Settings::read(&form.f);
    run(&state, form.v, move |a, v| {
        editor_only(v)?;
        let now = a.connector(&v.cx, &tenant, &name)?;
        match a.edit_connector(&v.cx, &tenant, &name, &wanted.edit_of(&now)) {
            Ok(c) => Ok(done(&format!("/t/{}/connectors?ok=edited&name={}", seg(&tenant), seg(&c.name)))),
            Err(e) if e.kind == ErrorKind::Invalid => {
                Ok(render(v, &tenant, &now, &wanted, Some(&e), StatusCode::BAD_REQUEST))
            }
            Err(e) => Err(e),
        }
    })
    .await
}

fn render(
    v: &Viewer,
    tenant: &str,
    c: &ConnectorView,
    s: &Settings,
    error: Option<&AdminError>,
    status: StatusCode,
) -> Response {
    let w = v.w();
    let title = fill(w.edit_connector_title, &[&c.name]);
    let every: Vec<&str> = EVERY_FIELD.iter().flat_map(|f| f.iter().copied()).collect();
    let body = html! {
        h1 { (title) }
        p { (w.edit_connector_intro) }
        (layout::form_error(v, error, &every))
        form.stack method="post" action=(format!("/t/{}/connectors/{}/edit", seg(tenant), seg(&c.name))) novalidate {
            (layout::csrf(v))
            (checkbox("enabled", "enabled", s.enabled, w.edit_enabled))
            @if c.direction == "inbound" { (inbound(v, s, error)) } @else { (outbound(v, s, error)) }
            div.field {
                label for="note" { (w.edit_note) }
                input #note type="text" name="note" maxlength="500" value=(s.note);
            }
            div.buttons {
                button type="submit" { (w.save) }
                " "
                a.button.secondary href=(format!("/t/{}/connectors", seg(tenant))) { (w.cancel) }
            }
        }
    };
    (status, layout::page(v, &title, body)).into_response()
}

fn inbound(v: &Viewer, s: &Settings, error: Option<&AdminError>) -> Markup {
    let w = v.w();
    html! {
        (field(v, error, &IP, "ip", w.w_ips, Some(w.w_ips_hint), textarea(error, &IP, "ip", "ip", &s.ip, true)))
        (field(v, error, &CERT, "cert", w.w_certs, Some(w.w_certs_hint), textarea(error, &CERT, "cert", "cert", &s.cert, true)))
        (checkbox("require_tls", "require_tls", s.require_tls, w.w_require_tls))
        (field(v, error, &SENDER, "sender_domain", w.w_sender_domains, None, textarea(error, &SENDER, "sender_domain", "sender_domain", &s.sender_domain, false)))
        (checkbox("restrict", "restrict", s.restrict, w.w_restrict))
    }
}

fn outbound(v: &Viewer, s: &Settings, error: Option<&AdminError>) -> Markup {
    let w = v.w();
    html! {
        (field(v, error, &RECIPIENT, "recipient_domain", w.w_recipient_domains, None, textarea(error, &RECIPIENT, "recipient_domain", "recipient_domain", &s.recipient_domain, false)))
        (field(v, error, &HOSTS, "smart_host", w.w_smart_hosts, None, textarea(error, &HOSTS, "smart_host", "smart_host", &s.smart_host, false)))
        (tls_fields(v, error, &s.tls, &s.tls_domain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn a_list_becomes_what_to_add_and_what_to_remove() {
        for (now, wanted, add, remove) in [
            (&["a", "b"][..], &["a", "b"][..], &[][..], &[][..]),
            (&["a"], &["a", "c"], &["c"], &[]),
            (&["a", "b"], &["b"], &[], &["a"]),
            (&["a"], &["c", "c"], &["c"], &["a"]),
            (&[], &[], &[], &[]),
        ] {
            assert_eq!(diff(&list(now), &list(wanted)), (list(add), list(remove)), "{now:?} -> {wanted:?}");
        }
    }

    #[test]
    fn an_inbound_edit_sends_only_inbound_keys() {
        let now = ConnectorView {
            name: "partner".into(),
            tenant: "acme".into(),
            direction: "inbound".into(),
            enabled: true,
            kind: Some("partner".into()),
            ip: list(&["192.0.2.0/24"]),
            certificate_name: Vec::new(),
            sender_domain: Vec::new(),
            restrict_sender_domains: false,
            require_tls: true,
            recipient_domain: Vec::new(),
            smart_host: Vec::new(),
            tls: None,
            tls_domain: None,
            created_at_unix_s: 0,
            created_by: String::new(),
            changed_at_unix_s: 0,
            changed_by: String::new(),
            change_note: String::new(),
        };
        let wanted = Settings { ip: list(&["192.0.2.0/24", "198.51.100.7"]), ..Settings::of(&now) };
        let e = wanted.edit_of(&now);
        assert_eq!(e.add_ip, ["198.51.100.7"]);
        assert!(e.remove_ip.is_empty() && e.tls.is_none() && e.add_smart_host.is_empty());
        assert_eq!(e.require_tls, Some(now.require_tls));
    }
}
