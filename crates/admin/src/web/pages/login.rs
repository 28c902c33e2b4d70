//! Signing in with a token, and out.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::super::form::{Fields, PostForm};
use super::super::i18n::{fill, words};
use super::super::session::{LIFETIME_S, random_hex, same_secret};
use super::super::{LOGIN_COOKIE, SESSION_COOKIE, Visitor, cookie, layout, now_s, read_cookie};
use super::query;
use crate::http::AppState;

/// Where to go after signing in: a local path only (never another site).
fn next_path(text: Option<&str>) -> String {
    match text {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_string(),
        _ => "/".into(),
    }
}

fn render(visitor: &Visitor, check: &str, next: &str, error: Option<String>, status: StatusCode) -> Response {
    let w = words(visitor.lang);
    let body = html! {
        h1 { (w.app_name) }
        h2 { (w.login_title) }
        p { (w.login_intro) }
        @if let Some(e) = &error {
            div.alert role="alert" { p #token-error { (e) } }
        }
        form.stack method="post" action="/login" {
            input type="hidden" name="login_csrf" value=(check);
            input type="hidden" name="next" value=(next);
            div.field {
                label for="token" { (w.token) }
                input #token type="password" name="token" autocomplete="off" required
                    aria-invalid=[error.is_some().then_some("true")]
                    aria-describedby=[error.is_some().then_some("token-error")];
            }
            div { button type="submit" { (w.sign_in) } }
        }
        p { a href=(format!("/help?lang={}", visitor.lang.tag())) { (w.help) } }
    };
    let mut response = (status, layout::bare(visitor.lang, w.login_title, body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie(LOGIN_COOKIE, check, 3_600, visitor.secure)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

pub async fn form(visitor: Visitor, RawQuery(raw): RawQuery) -> Response {
    let next = next_path(query(raw).get("next"));
    match random_hex() {
        Some(check) => render(&visitor, &check, &next, None, StatusCode::OK),
        None => (StatusCode::SERVICE_UNAVAILABLE, "no randomness from the operating system").into_response(),
    }
}

pub async fn submit(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let w = words(visitor.lang);
    let f = Fields::parse(&body);
    let next = next_path(f.get("next"));
    let fresh = random_hex().unwrap_or_default();
    let expected = read_cookie(&headers, LOGIN_COOKIE);
    // The form's own check: the field must match the cookie the form was served with.
    let matches =
        matches!((f.get("login_csrf"), expected.as_deref()), (Some(a), Some(b)) if same_secret(a, b));
    if !matches {
        return render(&visitor, &fresh, &next, Some(w.csrf_text.into()), StatusCode::FORBIDDEN);
    }
    let address = visitor.source.rsplit_once(':').map_or(visitor.source.as_str(), |(ip, _)| ip).to_string();
    // Only failed attempts count: someone guessing tokens is slowed down, people are not.
    let logins = || state.web.logins.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Err(wait) = logins().peek(&address, Instant::now()) {
        let text = fill(w.login_slow_down, &[&wait]);
        return render(&visitor, &fresh, &next, Some(text), StatusCode::TOO_MANY_REQUESTS);
    }
    let token = f.text("token");
    let admin = Arc::clone(&state.admin);
    let presented = token.clone();
    let valid = tokio::task::spawn_blocking(move || admin.authenticate(&presented)).await;
    if !matches!(valid, Ok(Ok(_))) {
        let _ = logins().take(&address, Instant::now());
        return render(&visitor, &fresh, &next, Some(w.login_failed.into()), StatusCode::UNAUTHORIZED);
    }
    let Some((id, _)) = state.web.sessions().open(&token, now_s()) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no randomness from the operating system").into_response();
    };
    let mut response = Redirect::to(&next).into_response();
    let h = response.headers_mut();
    for value in
        [cookie(SESSION_COOKIE, &id, LIFETIME_S, visitor.secure), cookie(LOGIN_COOKIE, "", 0, visitor.secure)]
    {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.append(header::SET_COOKIE, v);
        }
    }
    response
}

pub async fn logout(State(state): State<AppState>, form: PostForm) -> Response {
    state.web.sessions().close(&form.v.session);
    let mut response = Redirect::to("/login").into_response();
    // Clearing needs no Secure attribute, even over TLS.
    if let Ok(v) = HeaderValue::from_str(&cookie(SESSION_COOKIE, "", 0, false)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::next_path;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(next_path(Some("/trace?ip=1")), "/trace?ip=1");
        for bad in ["//evil.example/", "https://evil.example/", "/\\evil", "evil"] {
            assert_eq!(next_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(next_path(None), "/");
    }
}
