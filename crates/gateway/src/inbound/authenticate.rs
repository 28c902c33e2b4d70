//! Sender authentication at the end of DATA, the DNS edge of the `verdict` crate: SPF for
//! the MAIL FROM identity (the HELO name for the null sender), DKIM signatures, the ARC
//! chain and DMARC, through `mail-auth` on a resolver of its own built from `[dns]
//! resolver` with a per-query timeout, one attempt and an answer cache; the whole check is
//! bounded by `timeout` as well, after which the message is judged on no results
//! ("skipped" in `Authentication-Results:`), never held longer.

use std::net::IpAddr;
use std::net::SocketAddr;
use std::time::Duration;

use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, MessageAuthenticator};
use smtp_wire::ReversePath;
use verdict::auth::relaxed_aligned;
use verdict::{
    ArcResult, AuthResults, DkimCheck, DkimResult, DmarcCheck, DmarcPolicy, DmarcResult, SpfCheck, SpfResult,
    SpfScope,
};

use crate::dns::{DnsError, Tuning};

/// The resolved `[auth]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// The most the end of DATA waits for every lookup together.
    pub timeout: Duration,
    /// Per DNS query.
    pub dns_timeout: Duration,
    /// DNS answers cached (each for its TTL).
    pub cache_entries: u64,
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig {
            timeout: Duration::from_secs(8),
            dns_timeout: Duration::from_secs(3),
            cache_entries: 10_000,
        }
    }
}

/// DKIM signatures looked at per message; more are reported as not checked (each costs a
/// DNS lookup, and a message can carry any number).
pub const DKIM_SIGNATURES_MAX: usize = 10;

/// What the check knows about the message's arrival.
#[derive(Clone, Copy, Debug)]
pub struct Arrival<'a> {
    pub client_ip: IpAddr,
    pub helo: &'a str,
    pub sender: &'a ReversePath,
}

pub struct Authenticator {
    inner: MessageAuthenticator,
    timeout: Duration,
    /// This server's name: SPF's `%{r}` macro.
    hostname: String,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn new(
        config: &AuthConfig,
        name_server: Option<SocketAddr>,
        hostname: &str,
    ) -> Result<Authenticator, DnsError> {
        let tuning = Tuning { timeout: config.dns_timeout, attempts: 1, cache_entries: config.cache_entries };
        let resolver = crate::dns::resolver(name_server, Some(tuning))?;
        Ok(Authenticator {
            inner: MessageAuthenticator(resolver),
            timeout: config.timeout,
            hostname: hostname.to_string(),
        })
    }

    /// Checks `content` (the message as received, without Sluice's own headers).
    pub async fn check(&self, arrival: Arrival<'_>, content: &[u8]) -> AuthResults {
        match tokio::time::timeout(self.timeout, self.run(arrival, content)).await {
            Ok(results) => results,
            Err(_) => {
                skipped(arrival, format!("the DNS lookups took longer than {} s", self.timeout.as_secs()))
            }
        }
    }

    async fn run(&self, arrival: Arrival<'_>, content: &[u8]) -> AuthResults {
        let spf_identity = spf_identity(arrival);
        let spf_params = match arrival.sender {
            ReversePath::Mailbox(_) => SpfParameters::verify_mail_from(
                arrival.client_ip,
                arrival.helo,
                &self.hostname,
                &spf_identity,
            ),
            ReversePath::Null => SpfParameters::verify_ehlo(arrival.client_ip, arrival.helo, &self.hostname),
        };
        let Some(message) = AuthenticatedMessage::parse(content) else {
            let spf = self.inner.verify_spf(spf_params).await;
            return AuthResults {
                spf: spf_check(arrival, &spf_identity, &spf),
                dkim: Vec::new(),
                arc: ArcResult::None,
                dmarc: no_dmarc(String::new()),
                skipped: None,
            };
        };
        let limited = limit_signatures(message);
        let (spf, dkim, arc) = tokio::join!(
            self.inner.verify_spf(spf_params),
            self.inner.verify_dkim(&limited),
            self.inner.verify_arc(&limited),
        );
        let mail_from_domain = spf_domain(arrival);
        let dmarc =
            self.inner.verify_dmarc(DmarcParameters::new(&limited, &dkim, &mail_from_domain, &spf)).await;
        let dkim: Vec<DkimCheck> = dkim.iter().map(dkim_check).collect();
        let spf = spf_check(arrival, &spf_identity, &spf);
        let from_domain = limited.from().rsplit('@').next().unwrap_or("").to_ascii_lowercase();
        AuthResults {
            dmarc: dmarc_check(&dmarc, &from_domain, &spf, &dkim),
            spf,
            dkim,
            arc: arc_result(arc.result()),
            skipped: None,
        }
    }
}

/// The message with at most [`DKIM_SIGNATURES_MAX`] signatures.
fn limit_signatures(mut message: AuthenticatedMessage<'_>) -> AuthenticatedMessage<'_> {
    message.dkim_headers.truncate(DKIM_SIGNATURES_MAX);
    message
}

/// The identity SPF checks: the MAIL FROM address, or `postmaster@<HELO>` for bounces.
fn spf_identity(arrival: Arrival<'_>) -> String {
    match arrival.sender {
        ReversePath::Mailbox(address) => address.to_string(),
        ReversePath::Null => format!("postmaster@{}", arrival.helo),
    }
}

fn spf_domain(arrival: Arrival<'_>) -> String {
    match arrival.sender {
        ReversePath::Mailbox(address) => address.domain.to_ascii_lowercase(),
        ReversePath::Null => arrival.helo.to_ascii_lowercase(),
    }
}

fn skipped(arrival: Arrival<'_>, why: String) -> AuthResults {
    AuthResults {
        spf: SpfCheck {
            result: SpfResult::None,
            scope: scope(arrival),
            identity: spf_identity(arrival),
            domain: spf_domain(arrival),
        },
        dkim: Vec::new(),
        arc: ArcResult::None,
        dmarc: no_dmarc(String::new()),
        skipped: Some(why),
    }
}

fn scope(arrival: Arrival<'_>) -> SpfScope {
    match arrival.sender {
        ReversePath::Mailbox(_) => SpfScope::MailFrom,
        ReversePath::Null => SpfScope::Helo,
    }
}

fn no_dmarc(from_domain: String) -> DmarcCheck {
    DmarcCheck {
        result: DmarcResult::None,
        from_domain,
        policy: None,
        spf_aligned: false,
        dkim_aligned: false,
    }
}

fn spf_check(arrival: Arrival<'_>, identity: &str, spf: &mail_auth::SpfOutput) -> SpfCheck {
    let result = match spf.result() {
        mail_auth::SpfResult::Pass => SpfResult::Pass,
        mail_auth::SpfResult::Fail => SpfResult::Fail,
        mail_auth::SpfResult::SoftFail => SpfResult::SoftFail,
        mail_auth::SpfResult::Neutral => SpfResult::Neutral,
        mail_auth::SpfResult::TempError => SpfResult::TempError,
        mail_auth::SpfResult::PermError => SpfResult::PermError,
        mail_auth::SpfResult::None => SpfResult::None,
    };
    SpfCheck { result, scope: scope(arrival), identity: identity.to_string(), domain: spf_domain(arrival) }
}

fn dkim_check(output: &mail_auth::DkimOutput<'_>) -> DkimCheck {
    let (result, reason) = match output.result() {
        mail_auth::DkimResult::Pass => (DkimResult::Pass, None),
        mail_auth::DkimResult::Neutral(e) => (DkimResult::Neutral, Some(e.to_string())),
        mail_auth::DkimResult::Fail(e) => (DkimResult::Fail, Some(e.to_string())),
        mail_auth::DkimResult::PermError(e) => (DkimResult::PermError, Some(e.to_string())),
        mail_auth::DkimResult::TempError(e) => (DkimResult::TempError, Some(e.to_string())),
        mail_auth::DkimResult::None => (DkimResult::None, None),
    };
    let signature = output.signature();
    let b64 = signature.map(|s| base64_prefix(&s.b)).unwrap_or_default();
    DkimCheck {
        result,
        domain: signature.map(|s| s.d.to_ascii_lowercase()).unwrap_or_default(),
        selector: signature.map(|s| s.s.clone()).unwrap_or_default(),
        signature_prefix: b64,
        reason,
    }
}

fn arc_result(result: &mail_auth::DkimResult) -> ArcResult {
    match result {
        mail_auth::DkimResult::Pass => ArcResult::Pass,
        mail_auth::DkimResult::Fail(_) | mail_auth::DkimResult::Neutral(_) => ArcResult::Fail,
        mail_auth::DkimResult::PermError(_) => ArcResult::PermError,
        mail_auth::DkimResult::TempError(_) => ArcResult::TempError,
        mail_auth::DkimResult::None => ArcResult::None,
    }
}

fn dmarc_check(
    output: &mail_auth::DmarcOutput,
    from_domain: &str,
    spf: &SpfCheck,
    dkim: &[DkimCheck],
) -> DmarcCheck {
    let result = match output.result() {
        mail_auth::DmarcResult::Pass => DmarcResult::Pass,
        mail_auth::DmarcResult::Fail(_) => DmarcResult::Fail,
        mail_auth::DmarcResult::TempError(_) => DmarcResult::TempError,
        mail_auth::DmarcResult::PermError(_) => DmarcResult::PermError,
        mail_auth::DmarcResult::None => DmarcResult::None,
    };
    let policy = output.dmarc_record().map(|_| match output.policy() {
        mail_auth::dmarc::Policy::Reject => DmarcPolicy::Reject,
        mail_auth::dmarc::Policy::Quarantine => DmarcPolicy::Quarantine,
        mail_auth::dmarc::Policy::None | mail_auth::dmarc::Policy::Unspecified => DmarcPolicy::None,
    });
    let spf_aligned = spf.result == SpfResult::Pass && relaxed_aligned(&spf.domain, from_domain);
    let dkim_aligned =
        dkim.iter().any(|d| d.result == DkimResult::Pass && relaxed_aligned(&d.domain, from_domain));
    DmarcCheck { result, from_domain: from_domain.to_string(), policy, spf_aligned, dkim_aligned }
}

/// The first characters of a signature in base64, as `header.b` shows them.
fn base64_prefix(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3).take(3) {
        let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out.chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_prefixes_are_base64() {
        assert_eq!(base64_prefix(b"Man"), "TWFu");
        assert_eq!(base64_prefix(b"Many hands"), "TWFueSBo");
        assert_eq!(base64_prefix(b""), "");
    }
}
