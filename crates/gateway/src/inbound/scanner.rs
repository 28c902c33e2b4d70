//! The content scanner: rspamd over its HTTP protocol (`POST <rspamd_url>/checkv2`, the
//! message as the body, the envelope in request headers), one connection per message with
//! a deadline for the whole exchange. Its answer is parsed by `verdict::scan`; an outage
//! (refused connection, deadline, an error status, an answer that does not parse) is an
//! [`Unavailable`] with the reason, which the caller turns into "accepted and marked
//! unscanned" or `451 4.7.1` as configured. Counters for `sluice throttle stats`-style
//! reports are kept here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::rt::TokioIo;
use smtp_wire::{Envelope, ReversePath};
use tokio::net::TcpStream;
use verdict::ScanVerdict;
use verdict::scan::RESPONSE_BYTES_MAX;

/// What to do when the scanner cannot judge a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFailure {
    /// Accept it, marked `X-Spam-Status: Unscanned (...)`.
    Accept,
    /// Answer `451 4.7.1`: the client tries again later.
    Defer,
}

/// The resolved `[scanner]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannerConfig {
    /// `host:port` of rspamd's normal worker.
    pub authority: String,
    /// The path prefix before `/checkv2` (empty for rspamd itself).
    pub base_path: String,
    pub timeout: Duration,
    pub on_failure: OnFailure,
    /// Larger messages are not sent; they are marked unscanned (and never deferred for it).
    pub scan_bytes_max: usize,
}

impl ScannerConfig {
    /// Parses `http://host:port[/path]` (rspamd speaks plain HTTP; run it on the same host
    /// or a private network).
    pub fn parse_url(url: &str) -> Result<(String, String), String> {
        let rest = url.strip_prefix("http://").ok_or("must start with http:// (rspamd speaks plain HTTP)")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let uri: hyper::Uri = format!("http://{authority}/").parse().map_err(|_| "is not a URL")?;
        if uri.host().is_none_or(str::is_empty) || authority.contains('@') {
            return Err("must name a host (and port), e.g. http://127.0.0.1:11333".into());
        }
        let port = uri.port_u16().unwrap_or(80);
        let host = uri.host().unwrap_or_default();
        Ok((format!("{host}:{port}"), path.to_string()))
    }
}

/// The scanner could not judge the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

#[derive(Debug, Default)]
pub struct ScannerCounters {
    pub scanned: AtomicU64,
    pub spam: AtomicU64,
    pub unavailable: AtomicU64,
    pub too_large: AtomicU64,
}

#[derive(Debug)]
pub struct Scanner {
    pub config: ScannerConfig,
    pub counters: ScannerCounters,
}

impl Scanner {
    pub fn new(config: ScannerConfig) -> Scanner {
        Scanner { config, counters: ScannerCounters::default() }
    }

    /// Scans `content` (the message as it will be stored). `Ok(None)` for a message over
    /// `scan_bytes_max`, which is not sent.
    pub async fn scan(
        &self,
        envelope: &Envelope,
        content: &[u8],
    ) -> Result<Option<ScanVerdict>, Unavailable> {
        if content.len() > self.config.scan_bytes_max {
            self.counters.too_large.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let exchange = self.exchange(envelope, Bytes::copy_from_slice(content));
        let outcome = match tokio::time::timeout(self.config.timeout, exchange).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Unavailable(format!("no answer within {} ms", self.config.timeout.as_millis()))),
        };
        let counter = match &outcome {
            Ok(v) if v.action.is_spam() => &self.counters.spam,
            Ok(_) => &self.counters.scanned,
            Err(_) => &self.counters.unavailable,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        outcome.map(Some)
    }

    async fn exchange(&self, envelope: &Envelope, body: Bytes) -> Result<ScanVerdict, Unavailable> {
        let authority = &self.config.authority;
        let stream = TcpStream::connect(authority)
            .await
            .map_err(|e| Unavailable(format!("cannot connect to {authority}: {e}")))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Unavailable(format!("HTTP handshake with {authority} failed: {e}")))?;
        let request = request(&self.config, envelope, body)?;
        let exchange = async {
            let response = sender.send_request(request).await.map_err(|e| Unavailable(format!("{e}")))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), RESPONSE_BYTES_MAX)
                .collect()
                .await
                .map_err(|e| Unavailable(format!("reading the answer: {e}")))?
                .to_bytes();
            if !status.is_success() {
                return Err(Unavailable(format!("{authority} answered HTTP {status}")));
            }
            ScanVerdict::parse(&body).map_err(|e| Unavailable(e.to_string()))
        };
        tokio::pin!(exchange, conn);
        tokio::select! {
            biased;
            verdict = &mut exchange => verdict,
            // The connection ended first: the answer, if any, is buffered in the body.
            _ = &mut conn => exchange.await,
        }
    }
}

/// rspamd's request headers for the envelope (its protocol's `IP`, `Helo`, `From`, `Rcpt`).
fn request(
    config: &ScannerConfig,
    envelope: &Envelope,
    body: Bytes,
) -> Result<Request<Full<Bytes>>, Unavailable> {
    let sender = match &envelope.sender {
        ReversePath::Mailbox(address) => address.to_string(),
        ReversePath::Null => String::new(),
    };
    let mut builder = Request::post(format!("{}/checkv2", config.base_path))
        .header("Host", &config.authority)
        .header("Connection", "close")
        .header("IP", envelope.client.ip.to_string())
        .header("From", header_safe(&sender));
    if !envelope.client.helo.is_empty() {
        builder = builder.header("Helo", header_safe(&envelope.client.helo));
    }
    for recipient in &envelope.recipients {
        builder = builder.header("Rcpt", header_safe(&recipient.address.to_string()));
    }
    builder.body(Full::new(body)).map_err(|e| Unavailable(format!("cannot build the request: {e}")))
}

/// Envelope text as an HTTP header value: visible ASCII only (SMTPUTF8 addresses are sent
/// with other bytes as `?`; rspamd reads the message's own headers too).
fn header_safe(text: &str) -> String {
    text.chars().map(|c| if (' '..='~').contains(&c) { c } else { '?' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            ScannerConfig::parse_url("http://127.0.0.1:11333"),
            Ok(("127.0.0.1:11333".into(), String::new()))
        );
        assert_eq!(
            ScannerConfig::parse_url("http://scan.example/rspamd/"),
            Ok(("scan.example:80".into(), "/rspamd".into()))
        );
        assert!(ScannerConfig::parse_url("https://127.0.0.1:11333").is_err());
        assert!(ScannerConfig::parse_url("http://").is_err());
        assert!(ScannerConfig::parse_url("http://user@host:1").is_err());
    }
}
