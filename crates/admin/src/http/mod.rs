//! The HTTP listener: the JSON API under `/api/v1` (bearer tokens, one error shape, OpenAPI
//! 3.1 generated from the handlers at `/api/v1/openapi.json`, Swagger UI at `/api/docs`) and
//! the public help pages (`/help`, `/help/<code>`).
//!
//! Handlers only translate: an extractor authenticates the token and parses the body
//! (errors name the field), the handler calls one operation on a blocking thread, the
//! answer is JSON. Serving is hyper over tokio, plain or TLS (rustls), with a cap on
//! connections, a deadline for request headers, and a body size limit.

mod api;
mod extract;
pub(crate) mod limit;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::Admin;
use crate::live::MetricsSource;

pub use extract::PeerAddr;
pub use limit::RateLimit;

/// Bytes a request body may have (API bodies are small objects).
const BODY_BYTES_MAX: usize = 64 * 1024;
/// Connections served at once; more wait in the kernel's backlog.
const CONNECTIONS_MAX: usize = 256;
/// How long a client has to send its request headers (slow-loris).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(5);

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub admin: Arc<Admin>,
    limiter: Arc<Mutex<limit::Limiter>>,
    pub(crate) web: Arc<crate::web::WebState>,
    /// What `GET /metrics` shows; without it, that path is not served.
    metrics: Option<Arc<dyn MetricsSource>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("web", &self.web)
            .field("metrics", &self.metrics.is_some())
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(admin: Arc<Admin>, trace_limit: RateLimit) -> AppState {
        AppState {
            admin,
            limiter: Arc::new(Mutex::new(limit::Limiter::new(trace_limit))),
            web: Arc::new(crate::web::WebState::default()),
            metrics: None,
        }
    }

    /// Serves `GET /metrics` from `source`.
    pub fn with_metrics(self, source: Arc<dyn MetricsSource>) -> AppState {
        AppState { metrics: Some(source), ..self }
    }

    /// Takes one trace search from `key`'s allowance: `Err(seconds to wait)` when spent.
    pub(crate) fn take_trace_search(&self, key: &str, now: std::time::Instant) -> Result<(), u64> {
        self.limiter.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take(key, now)
    }
}

/// How a request arrived: over TLS or not (cookies are `Secure` over TLS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transport {
    pub tls: bool,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sluice admin API",
        description = "Tenants, domains, recipients, connectors, reputation, outbound protection, requests, message trace, throttling and the queue of a Sluice gateway. Every call but the help pages needs `Authorization: Bearer <token>` (`sluice token create`). Errors are `{\"error\": {\"code\", \"message\", \"field\"}}`."
    ),
    modifiers(&Security),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail))
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sluice_<id>_<secret>")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document, as served.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api::routes(ApiDoc::openapi()).split_for_parts().1
}

/// Every route: the API, its document and Swagger UI, the help pages, the web pages, the
/// metrics.
pub fn router(state: AppState) -> Router {
    let (api, doc) = api::routes(ApiDoc::openapi()).split_for_parts();
    api.merge(crate::web::router())
        .route("/metrics", axum::routing::get(metrics))
        .with_state(state)
        .merge(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", doc))
        .merge(crate::help::router())
        .fallback(extract::not_found)
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
}

/// `GET /metrics`: the Prometheus text format, without a token (as exporters are scraped);
/// it shows counts and latencies, never a tenant's data.
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match &state.metrics {
        Some(source) => {
            let content_type = (axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
            ([content_type], source.render()).into_response()
        }
        None => extract::not_found().await.into_response(),
    }
}

/// Serves `app` on `listener` (with TLS when `tls` is given) until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        if connections.len() >= CONNECTIONS_MAX {
            tokio::select! {
                _ = connections.join_next() => continue,
                _ = stop.changed() => break,
            }
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "admin listener: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        connections.spawn(connection(stream, peer, tls.clone(), app.clone()));
    }
    if tokio::time::timeout(DRAIN, async { while connections.join_next().await.is_some() {} }).await.is_err()
    {
        connections.abort_all();
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
) {
    let transport = Transport { tls: tls.is_some() };
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(PeerAddr(peer));
        request.extensions_mut().insert(transport);
        app.clone().oneshot(request)
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
    let served = match tls {
        None => builder.serve_connection(TokioIo::new(stream), service).await,
        Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => builder.serve_connection(TokioIo::new(tls), service).await,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "admin listener: TLS handshake failed");
                return;
            }
            Err(_) => return,
        },
    };
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "admin listener: connection ended with an error");
    }
}
