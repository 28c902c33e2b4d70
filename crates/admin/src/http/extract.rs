//! Turning HTTP into operation inputs and results into HTTP: the caller's token, JSON bodies
//! and query strings with errors naming the field, and the one error shape.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::AppState;
use crate::error::{AdminError, ErrorKind};
use crate::ops::Context;

/// The client's address, set on every request by the connection that carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// An operation's error as an HTTP answer.
#[derive(Debug)]
pub struct ApiError(pub AdminError);

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> ApiError {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.0.body())).into_response();
        if let ErrorKind::RateLimited { retry_after_s } = self.0.kind
            && let Ok(value) = HeaderValue::from_str(&retry_after_s.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if self.0.kind == ErrorKind::Unauthorized {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type ApiResult<T> = Result<Json<T>, ApiError>;

/// Runs an operation on a blocking thread (it may wait on SQLite, DNS or the server).
pub async fn call<T: Send + 'static>(
    state: &AppState,
    op: impl FnOnce(&crate::Admin) -> Result<T, AdminError> + Send + 'static,
) -> ApiResult<T> {
    let admin = std::sync::Arc::clone(&state.admin);
    match tokio::task::spawn_blocking(move || op(&admin)).await {
        Ok(result) => result.map(Json).map_err(ApiError),
        Err(e) => Err(ApiError(AdminError::new(ErrorKind::Internal, format!("the operation failed: {e}")))),
    }
}

/// The authenticated caller.
#[derive(Debug)]
pub struct Caller(pub Context);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let source =
            parts.extensions.get::<PeerAddr>().map_or_else(|| "unknown".to_string(), |p| p.0.to_string());
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::to_string);
        let Some(bearer) = bearer else {
            return Err(ApiError(AdminError::new(
                ErrorKind::Unauthorized,
                "a bearer token is required (Authorization: Bearer sluice_...); create one with `sluice token create`",
            )));
        };
        let Json(principal) = call(state, move |admin| admin.authenticate(&bearer)).await?;
        Ok(Caller(Context { principal, source }))
    }
}

/// The caller, after taking one request from its trace-search allowance.
#[derive(Debug)]
pub struct LimitedCaller(pub Context);

impl FromRequestParts<AppState> for LimitedCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<LimitedCaller, ApiError> {
        let Caller(cx) = Caller::from_request_parts(parts, state).await?;
        let key = cx.principal.actor.to_string();
        let taken = state.take_trace_search(&key, std::time::Instant::now());
        match taken {
            Ok(()) => Ok(LimitedCaller(cx)),
            Err(retry_after_s) => Err(ApiError(AdminError::new(
                ErrorKind::RateLimited { retry_after_s },
                format!("too many trace searches with this token; retry in {retry_after_s} s"),
            ))),
        }
    }
}

/// An input object: its name prefixes the field in errors (`domain` + `name`).
pub trait Input: DeserializeOwned {
    const OBJECT: &'static str;
}

/// `field` of `object` from a serde error path and message: the path when it names one,
/// else the field a message quotes in backticks (`missing field \`name\``).
fn field_of(object: &str, path: &str, message: &str) -> String {
    let key = match path.split(['.', '[']).next() {
        Some(key) if !key.is_empty() && key != "?" => key.to_string(),
        _ => message.split('`').nth(1).unwrap_or("").to_string(),
    };
    if key.is_empty() { object.to_string() } else { format!("{object}.{key}") }
}

/// A JSON body, parsed with errors naming the field.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: Input> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Body<T>, ApiError> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(ApiError(AdminError::invalid(
                T::OBJECT,
                "send the body as JSON (Content-Type: application/json)",
            )));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            ApiError(AdminError::invalid(T::OBJECT, format!("the body could not be read: {e}")))
        })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Ok(value) => Ok(Body(value)),
            Err(e) => {
                let path = e.path().to_string();
                let message = e.inner().to_string();
                let field = field_of(T::OBJECT, &path, &message);
                Err(ApiError(AdminError::invalid(field.clone(), format!("invalid {field}: {message}"))))
            }
        }
    }
}

/// A query string, parsed with errors naming the parameter.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: Input> FromRequestParts<AppState> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Params<T>, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(value) => Ok(Params(value)),
            Err(e) => {
                let path = e.path().to_string();
                let message = e.inner().to_string();
                let field = field_of(T::OBJECT, &path, &message);
                Err(ApiError(AdminError::invalid(field.clone(), format!("invalid {field}: {message}"))))
            }
        }
    }
}

/// Unknown paths get the same error shape.
pub async fn not_found() -> ApiError {
    ApiError(AdminError::new(
        ErrorKind::NotFound,
        "no such path; the API is described at /api/v1/openapi.json",
    ))
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn fields_come_from_the_path_or_the_message() {
        assert_eq!(field_of("connector", "ip[0]", "invalid type"), "connector.ip");
        assert_eq!(field_of("domain", ".", "missing field `name`"), "domain.name");
        assert_eq!(field_of("domain", ".", "unknown field `nam`, expected one of `name`"), "domain.nam");
        assert_eq!(field_of("domain", ".", "expected value at line 1"), "domain");
    }
}
