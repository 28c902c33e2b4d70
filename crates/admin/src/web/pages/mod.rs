//! One module per page: handlers turn the request into operation calls and render.

pub mod audit;
pub mod connector_edit;
pub mod connectors;
pub mod domains;
pub mod home;
pub mod login;
pub mod quarantine;
pub mod queue;
pub mod requests;
pub mod throttle;
pub mod trace;
pub mod wizard;

use super::form::Fields;

/// The query string's fields.
pub fn query(raw: Option<String>) -> Fields {
    Fields::parse(raw.unwrap_or_default().as_bytes())
}

/// A path segment, escaped (a space as `%20`, a slash as `%2F`).
pub fn seg(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20")
}

/// Unix seconds now, for "3 h ago".
pub fn now_s() -> u64 {
    super::now_s()
}
