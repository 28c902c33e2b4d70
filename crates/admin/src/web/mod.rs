//! The web admin center, served at `/` beside the API: server-rendered HTML (maud, typed
//! templates compiled into the binary), English and French, every page readable and every
//! form usable without JavaScript, charts drawn as SVG on the server, the stylesheet and
//! the small script embedded in the binary.
//!
//! Pages call the same operations as the API ([`crate::Admin`]): validation, authorisation
//! and audit stay there. This module only turns forms into inputs and results into pages.
//!
//! Sign-in: a bearer token (as `sluice token create` prints it) is exchanged for a session
//! cookie (`HttpOnly`, `SameSite=Strict`, `Secure` over TLS, expiring); every request is
//! authenticated again with that token, so revoking it ends the session. Every form carries
//! the session's CSRF token and every POST is refused without it; the sign-in form has its
//! own (a cookie and a field that must agree). Sign-in attempts are rate limited per
//! client address.

mod chart;
mod form;
pub mod i18n;
mod layout;
mod pages;
mod problem;
mod session;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use bounce::Lang;
use maud::Markup;

use crate::error::{AdminError, ErrorKind};
use crate::http::{AppState, PeerAddr, Transport};
use crate::ops::Context;
pub use session::SESSIONS_MAX;
use session::Sessions;

const SESSION_COOKIE: &str = "sluice_session";
const LOGIN_COOKIE: &str = "sluice_login";
const LANG_COOKIE: &str = "sluice_lang";

/// What the pages share: the sessions and the sign-in rate limit.
#[derive(Debug)]
pub struct WebState {
    sessions: Mutex<Sessions>,
    logins: Mutex<crate::http::limit::Limiter>,
}

impl Default for WebState {
    fn default() -> WebState {
        // Five sign-in attempts at once per address, then one every 5 s.
        let limit = crate::http::RateLimit { burst: 5, every: std::time::Duration::from_secs(5) };
        WebState {
            sessions: Mutex::new(Sessions::default()),
            logins: Mutex::new(crate::http::limit::Limiter::new(limit)),
        }
    }
}

impl WebState {
    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Unix seconds now (the web layer's own clock: session times only).
fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The web pages' routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home::page))
        .route("/login", get(pages::login::form).post(pages::login::submit))
        .route("/logout", post(pages::login::logout))
        .route("/tenant", get(pages::home::switch_tenant))
        .route(
            "/static/app.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("static/app.css")) }),
        )
        .route(
            "/static/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("static/app.js")) }),
        )
        .route("/t/{tenant}/domains", get(pages::domains::list).post(pages::domains::add))
        .route("/t/{tenant}/domains/{domain}/verify", post(pages::domains::verify))
        .route(
            "/t/{tenant}/domains/{domain}/remove",
            get(pages::domains::confirm_remove).post(pages::domains::remove),
        )
        .route("/t/{tenant}/connectors", get(pages::connectors::list))
        .route("/t/{tenant}/connectors/new", get(pages::wizard::start).post(pages::wizard::step))
        .route(
            "/t/{tenant}/connectors/{name}/edit",
            get(pages::connector_edit::page).post(pages::connector_edit::save),
        )
        .route(
            "/t/{tenant}/connectors/{name}/{action}",
            get(pages::connectors::confirm).post(pages::connectors::act),
        )
        .route("/t/{tenant}/requests", get(pages::requests::list_tenant).post(pages::requests::create))
        .route("/requests", get(pages::requests::list_all))
        .route("/requests/{id}/{decision}", post(pages::requests::decide))
        .route("/trace", get(pages::trace::search))
        .route("/trace.csv", get(pages::trace::csv))
        .route("/trace/{id}", get(pages::trace::message))
        .route("/throttle", get(pages::throttle::page))
        .route("/throttle/allow", post(pages::throttle::allow))
        .route("/throttle/allow/remove", post(pages::throttle::unallow))
        .route("/quarantine", get(pages::quarantine::list))
        .route("/quarantine/{id}", get(pages::quarantine::preview))
        .route("/quarantine/{id}/{action}", get(pages::quarantine::confirm).post(pages::quarantine::act))
        .route("/queue", get(pages::queue::page))
        .route("/queue/flush", post(pages::queue::flush))
        .route("/queue/{id}/retry", post(pages::queue::retry))
        .route("/queue/{id}/delete", get(pages::queue::confirm_delete).post(pages::queue::delete))
        .route("/audit", get(pages::audit::page))
        .route("/release/{tenant}", post(pages::home::release))
        .layer(axum::middleware::from_fn(headers))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// Security headers on every page, and the language cookie when `?lang=` chose one.
async fn headers(request: Request, next: Next) -> Response {
    let chosen = query_param(request.uri().query(), "lang").and_then(|l| Lang::from_tag(&l));
    let secure = request.extensions().get::<Transport>().is_some_and(|t| t.tls);
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(lang) = chosen
        && let Ok(cookie) = HeaderValue::from_str(&cookie(LANG_COOKIE, lang.tag(), 365 * 86_400, secure))
    {
        h.append(header::SET_COOKIE, cookie);
    }
    response
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Secure over TLS.
fn cookie(name: &str, value: &str, max_age_s: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Strict{secure}")
}

fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The language of a request: `?lang=`, then the cookie, then `Accept-Language`.
fn language(parts: &Parts) -> Lang {
    let param = query_param(parts.uri.query(), "lang").or_else(|| read_cookie(&parts.headers, LANG_COOKIE));
    let accept = parts.headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    crate::help::choose_language(param.as_deref(), accept)
}

/// Someone who is not signed in: their language and the page they wanted.
#[derive(Debug)]
pub struct Visitor {
    pub lang: Lang,
    pub secure: bool,
    pub source: String,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Visitor, Self::Rejection> {
        Ok(Visitor {
            lang: language(parts),
            secure: parts.extensions.get::<Transport>().is_some_and(|t| t.tls),
            source: parts.extensions.get::<PeerAddr>().map_or_else(|| "unknown".into(), |p| p.0.to_string()),
        })
    }
}

/// A signed-in person: who (for the operations), in which language, with which CSRF token.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub cx: Context,
    pub lang: Lang,
    pub csrf: String,
    session: String,
    /// The tenant an operator or support chose; a tenant role's own tenant.
    pub tenant: Option<String>,
    /// The path and query of this request (for the language links).
    pub here: String,
    /// Operators and support: every tenant, for the switcher.
    pub tenants: Vec<String>,
}

impl Viewer {
    pub fn w(&self) -> &'static i18n::Words {
        i18n::words(self.lang)
    }

    pub fn role(&self) -> access::Role {
        self.cx.principal.role
    }

    pub fn may(&self, permission: access::Permission) -> bool {
        self.role().may(permission)
    }

    /// Whether this viewer is bound to one tenant.
    pub fn is_tenant_role(&self) -> bool {
        self.role().is_tenant_role()
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Viewer, Response> {
        let here = parts.uri.path_and_query().map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        let login = || {
            let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
            Redirect::to(&format!("/login?next={next}")).into_response()
        };
        let Some(id) = read_cookie(&parts.headers, SESSION_COOKIE) else { return Err(login()) };
        let Some(session) = state.web.sessions().get(&id, now_s()) else { return Err(login()) };
        let admin = Arc::clone(&state.admin);
        let bearer = session.bearer.clone();
        let source = parts.extensions.get::<PeerAddr>().map_or_else(|| "unknown".into(), |p| p.0.to_string());
        let cx_source = format!("web {source}");
        let signed_in = tokio::task::spawn_blocking(move || {
            let principal = admin.authenticate(&bearer)?;
            let cx = Context { principal, source: cx_source };
            // The tenants an operator or support may switch between.
            let tenants = match cx.principal.role.is_tenant_role() {
                true => Vec::new(),
                false => admin.list_tenants(&cx)?.into_iter().map(|t| t.id).collect(),
            };
            Ok::<_, AdminError>((cx, tenants))
        });
        let (cx, tenants) = match signed_in.await {
            Ok(Ok(found)) => found,
            _ => {
                state.web.sessions().close(&id);
                return Err(login());
            }
        };
        let principal = cx.principal.clone();
        let tenant = principal.tenant.as_ref().map(ToString::to_string).or(session.tenant);
        Ok(Viewer { cx, tenants, lang: language(parts), csrf: session.csrf, session: id, tenant, here })
    }
}

/// Runs a page on a blocking thread (operations may wait on SQLite, DNS or the server).
pub async fn run(
    state: &AppState,
    v: Viewer,
    page: impl FnOnce(&crate::Admin, &Viewer) -> Result<Response, AdminError> + Send + 'static,
) -> Response {
    let admin = Arc::clone(&state.admin);
    let viewer = v.clone();
    match tokio::task::spawn_blocking(move || page(&admin, &viewer)).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => error_page(&v, &e),
        Err(e) => error_page(&v, &AdminError::new(ErrorKind::Internal, format!("the page failed: {e}"))),
    }
}

/// A page for an error no form field explains.
pub fn error_page(v: &Viewer, e: &AdminError) -> Response {
    let w = v.w();
    let (title, text) = match e.kind {
        ErrorKind::NotFound => (w.not_found_title, w.not_found_text.to_string()),
        ErrorKind::Forbidden => (w.error_title, w.forbidden_text.to_string()),
        ErrorKind::Unavailable => (w.error_title, w.unavailable_text.to_string()),
        ErrorKind::Invalid => (w.error_title, w.invalid_text.to_string()),
        ErrorKind::Conflict => (w.error_title, w.conflict_text.to_string()),
        ErrorKind::CheckFailed => (w.error_title, w.check_failed_text.to_string()),
        ErrorKind::RateLimited { retry_after_s } => {
            (w.error_title, i18n::fill(w.rate_limited_text, &[&retry_after_s]))
        }
        ErrorKind::Unauthorized | ErrorKind::Internal => (w.error_title, w.error_title.to_string()),
    };
    let body = maud::html! {
        h1 { (title) }
        p { (text) }
        @if e.kind == ErrorKind::Invalid && e.field.is_some() {
            p { (problem::describe(w, e)) }
        } @else {
            (layout::server_detail(v, &e.message))
        }
        p { a href="/" { (w.back_home) } }
    };
    let status = StatusCode::from_u16(e.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, layout::page(v, title, body)).into_response()
}

/// A page with a status.
pub fn html(status: StatusCode, markup: Markup) -> Response {
    (status, markup).into_response()
}

/// After a change: back to `to` with a notice (`?ok=...`), so a reload changes nothing.
pub fn done(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Takes one trace search from the viewer's allowance (the API's per-token limit).
pub fn take_search(state: &AppState, v: &Viewer) -> Result<(), AdminError> {
    state.take_trace_search(&v.cx.principal.actor.to_string(), Instant::now()).map_err(|retry_after_s| {
        AdminError::new(
            ErrorKind::RateLimited { retry_after_s },
            format!("too many trace searches with this token; retry in {retry_after_s} s"),
        )
    })
}
