//! Posted forms: the fields, and the CSRF check every POST of a signed-in person passes
//! before any handler runs.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{Viewer, layout, session};
use crate::http::AppState;

/// Bytes a form may have (the wizard's lists of ranges are the largest).
pub const FORM_BYTES_MAX: usize = 64 * 1024;

/// The fields of a form, in order (a list field repeats its name).
#[derive(Clone, Debug, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Fields {
        Fields(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    /// The field's value, trimmed; absent or blank is `None`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// The field's value, trimmed, or empty.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").to_string()
    }

    /// Every non-blank value of a repeated field (ticked checkboxes sharing a name), trimmed.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    /// Whether a checkbox was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A list typed one per line (or comma separated), without blanks.
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.get(name)
            .unwrap_or("")
            .split(['\n', '\r', ','])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// A form posted by a signed-in person whose CSRF token matched.
#[derive(Debug)]
pub struct PostForm {
    pub v: Viewer,
    pub f: Fields,
}

impl FromRequest<AppState> for PostForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<PostForm, Response> {
        let (mut parts, body) = request.into_parts();
        let v = Viewer::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let bytes = match axum::body::to_bytes(request.into_body(), FORM_BYTES_MAX).await {
            Ok(b) => b,
            Err(_) => Bytes::new(),
        };
        let f = Fields::parse(&bytes);
        if !f.get("csrf").is_some_and(|token| session::same_secret(token, &v.csrf)) {
            return Err(csrf_refused(&v));
        }
        Ok(PostForm { v, f })
    }
}

/// The answer to a POST without this session's CSRF token: nothing was done.
pub fn csrf_refused(v: &Viewer) -> Response {
    let w = v.w();
    let body = maud::html! {
        h1 { (w.csrf_title) }
        p { (w.csrf_text) }
        p { a href="/" { (w.back_home) } }
    };
    (StatusCode::FORBIDDEN, layout::page(v, w.csrf_title, body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_trim_and_split_lists() {
        let f =
            Fields::parse(b"name=+a+&ip=203.0.113.0%2F24%0D%0A%0D%0A198.51.100.7,192.0.2.1&tls=on&blank=");
        assert_eq!(f.get("name"), Some("a"));
        assert_eq!(f.lines("ip"), ["203.0.113.0/24", "198.51.100.7", "192.0.2.1"]);
        assert!(f.checked("tls"));
        assert!(!f.checked("blank"));
        assert_eq!(f.get("missing"), None);
    }
}
