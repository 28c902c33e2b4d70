//! One delivery attempt of one message to a remote destination: find the servers (MX
//! records, or the hosts a route names), try them in order until one gives per-recipient
//! answers, and report an outcome per recipient. Like `outbound`, it decides nothing.

use std::net::SocketAddr;

use bounce::ProblemKind;
use directory::NextHop;
use smtp_wire::reply::code;
use smtp_wire::{EnhancedCode, Envelope};

use crate::delivery::mx::{self, NoMailHost};
use crate::delivery::outbound::{self, AttemptError, ClientConfig, TlsMode};
use crate::delivery::routing::Destination;
use crate::delivery::{Failure, Outcome, Protocol};
use crate::dns::Dns;

/// Addresses tried in one attempt at most: a domain with dozens of MX addresses that all
/// time out must not hold a delivery slot for an hour.
const ADDRESSES_PER_ATTEMPT_MAX: usize = 6;

/// What remote delivery needs besides the message.
#[derive(Debug, Clone)]
pub struct RemoteContext {
    pub dns: Dns,
    pub client: ClientConfig,
    /// The SMTP port of MX hosts (25; tests use another).
    pub mx_port: u16,
}

/// A server to try: the name it was found under (for TLS and reports) and its address.
#[derive(Debug, Clone)]
struct Candidate {
    host: String,
    addr: SocketAddr,
}

/// One message of a batch for one destination.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub envelope: &'a Envelope,
    pub recipients: &'a [u32],
    pub data: &'a [u8],
}

/// Delivers `messages` to `destination` over as few connections as possible (one, unless a
/// server fails mid-way and the rest go to the next one): one outcome per recipient, per
/// message, in order.
pub async fn deliver(
    ctx: &RemoteContext,
    destination: &Destination,
    messages: &[Message<'_>],
) -> Vec<Vec<(u32, Outcome)>> {
    let every = |outcome: Outcome, messages: &[Message<'_>]| -> Vec<Vec<(u32, Outcome)>> {
        messages.iter().map(|m| m.recipients.iter().map(|i| (*i, outcome.clone())).collect()).collect()
    };
    let (candidates, protocol, tls) = match destination {
        Destination::Maildir => {
            let failure = Failure::local(code(4, 3, 0), ProblemKind::Internal, "not a remote destination");
            return every(Outcome::Deferred(failure), messages);
        }
        Destination::Mx { domain, tls } => match mx_candidates(ctx, domain).await {
            Ok(c) => (c, Protocol::Smtp, tls.clone()),
            Err(outcome) => return every(outcome, messages),
        },
        Destination::Hosts { hosts, protocol, tls } => match host_candidates(ctx, hosts).await {
            Ok(c) => (c, *protocol, tls.clone()),
            Err(outcome) => return every(outcome, messages),
        },
    };
    let mut results: Vec<Vec<(u32, Outcome)>> = Vec::with_capacity(messages.len());
    let mut last_error: Option<(String, AttemptError)> = None;
    // Whether any server asked to slow down, even if a later one failed otherwise: the
    // destination is paused on that, not on the last error alone.
    let mut slow_down = false;
    for candidate in candidates.iter().take(ADDRESSES_PER_ATTEMPT_MAX) {
        let opened = match protocol {
            Protocol::Smtp => open_smtp(ctx, candidate, &tls).await,
            Protocol::Lmtp => outbound::Session::lmtp(candidate.addr, &ctx.client).await,
        };
        // A server that refuses even to talk (a 5xx banner or greeting) is skipped like one
        // that is down (Postfix's smtp_skip_5xx_greeting): a backup may take the mail.
        let mut session = match opened {
            Ok(session) => session,
            Err(e) => {
                tracing::info!(host = %candidate.host, addr = %candidate.addr, error = %e, "server not usable; trying the next");
                slow_down |= asks_to_slow_down(&e);
                last_error = Some((candidate.host.clone(), e));
                continue;
            }
        };
        while let Some(message) = messages.get(results.len()) {
            match session.send(&ctx.client, message.envelope, message.recipients, message.data).await {
                Ok(outcomes) => results.push(
                    outcomes
                        .into_iter()
                        .map(|(i, o, stage)| (i, Outcome::from_reply(o, &candidate.host, stage)))
                        .collect(),
                ),
                Err(e) => {
                    tracing::info!(host = %candidate.host, error = %e, "connection lost; the rest go to the next server");
                    slow_down |= asks_to_slow_down(&e);
                    last_error = Some((candidate.host.clone(), e));
                    break;
                }
            }
        }
        if results.len() == messages.len() {
            session.quit(&ctx.client).await;
            return results;
        }
    }
    // Every server refused, or the last one did permanently: that is the verdict.
    let outcome = match last_error {
        Some((host, AttemptError::Refused { reply, stage, .. })) if reply.is_permanent() => {
            Outcome::Failed(Failure::from_reply(&reply, &host, stage))
        }
        Some((host, AttemptError::Refused { reply, stage, .. })) => {
            Outcome::Deferred(Failure::from_reply(&reply, &host, stage))
        }
        // No server answered: Sluice's own finding, naming the host it tried.
        Some((host, e)) => {
            Outcome::Deferred(Failure::local(attempt_status(&e), problem_kind(&e), format!("{host}: {e}")))
        }
        None => Outcome::Deferred(Failure::local(
            code(4, 4, 4),
            ProblemKind::NoAddress,
            format!("no address found for {}", destination.name()),
        )),
    };
    let outcome = match outcome {
        Outcome::Deferred(failure) => {
            Outcome::Deferred(Failure { throttled: failure.throttled || slow_down, ..failure })
        }
        other => other,
    };
    results.extend(every(outcome, &messages[results.len()..]));
    results
}

/// An SMTP session with `candidate`. Under opportunistic TLS a refused STARTTLS or a failed
/// handshake is tried again in plain text on a new connection (RFC 7435: opportunistic
/// security must not make delivery worse than no security; Postfix's `may` level does the
/// same); stricter modes
/// never fall back.
async fn open_smtp(
    ctx: &RemoteContext,
    candidate: &Candidate,
    tls: &TlsMode,
) -> Result<outbound::Session, AttemptError> {
    match outbound::Session::smtp(candidate.addr, &candidate.host, tls, &ctx.client).await {
        Err(AttemptError::Tls { reason, .. }) if *tls == TlsMode::Opportunistic => {
            tracing::info!(host = %candidate.host, addr = %candidate.addr, %reason, "STARTTLS failed; trying again without TLS");
            outbound::Session::smtp(candidate.addr, &candidate.host, &TlsMode::Off, &ctx.client).await
        }
        other => other,
    }
}

/// A `421` or a `4.7.x` refusal of the connection: the server wants fewer or slower attempts.
fn asks_to_slow_down(error: &AttemptError) -> bool {
    matches!(error, AttemptError::Refused { reply, stage, .. } if Failure::from_reply(reply, "", *stage).throttled)
}

/// What kind of problem an attempt that got no usable reply met, for the sentence a bounce
/// shows instead of the OS's text.
fn problem_kind(error: &AttemptError) -> ProblemKind {
    use std::io::ErrorKind;
    match error {
        AttemptError::Connect { kind: ErrorKind::ConnectionRefused, .. } => ProblemKind::ConnectionRefused,
        AttemptError::Connect { kind: ErrorKind::TimedOut, .. } => ProblemKind::TimedOut,
        AttemptError::Connect { .. } => ProblemKind::Unreachable,
        // The SMTP client's own texts for a silent server.
        AttemptError::Io { reason, .. } if reason.contains("timed out") => ProblemKind::TimedOut,
        AttemptError::Io { .. } => ProblemKind::ConnectionLost,
        AttemptError::Tls { .. } => ProblemKind::TlsFailed,
        AttemptError::TlsNotOffered { .. } => ProblemKind::TlsNotOffered,
        AttemptError::Refused { .. } | AttemptError::Protocol { .. } => ProblemKind::ProtocolError,
    }
}

fn attempt_status(error: &AttemptError) -> EnhancedCode {
    match error {
        AttemptError::Connect { .. } => code(4, 4, 1),
        AttemptError::Io { .. } => code(4, 4, 2),
        AttemptError::Tls { .. } | AttemptError::TlsNotOffered { .. } => code(4, 7, 10),
        AttemptError::Refused { .. } | AttemptError::Protocol { .. } => code(4, 0, 0),
    }
}

/// The addresses of a domain's mail exchangers in preference order, or the outcome for
/// every recipient when there are none (RFC 5321 5.1, RFC 7505).
async fn mx_candidates(ctx: &RemoteContext, domain: &str) -> Result<Vec<Candidate>, Outcome> {
    if let Some(ip) = smtp_wire::address_literal(domain) {
        return Ok(vec![Candidate { host: domain.to_string(), addr: SocketAddr::new(ip, ctx.mx_port) }]);
    }
    let hosts = match mx::mail_hosts(&ctx.dns, domain).await {
        Ok(found) => found.hosts,
        Err(NoMailHost::NullMx) => {
            return Err(Outcome::Failed(Failure::local(
                code(5, 1, 10),
                ProblemKind::NullMx,
                format!("{domain} does not accept mail (null MX, RFC 7505)"),
            )));
        }
        Err(NoMailHost::NoSuchDomain) => {
            return Err(Outcome::Failed(Failure::local(
                code(5, 1, 2),
                ProblemKind::NoSuchDomain,
                format!("the domain {domain} does not exist"),
            )));
        }
        Err(NoMailHost::Lookup(e)) => {
            return Err(Outcome::Deferred(Failure::local(
                code(4, 4, 3),
                ProblemKind::DnsFailed,
                e.to_string(),
            )));
        }
    };
    let hops: Vec<NextHop> = hosts.into_iter().map(|host| NextHop { host, port: ctx.mx_port }).collect();
    host_candidates(ctx, &hops).await
}

async fn host_candidates(ctx: &RemoteContext, hops: &[NextHop]) -> Result<Vec<Candidate>, Outcome> {
    let mut candidates = Vec::new();
    let mut lookup_error = None;
    for hop in hops {
        match mx::addresses(&ctx.dns, &hop.host, hop.port).await {
            Ok(addrs) => {
                candidates.extend(addrs.into_iter().map(|addr| Candidate { host: hop.host.clone(), addr }))
            }
            Err(e) => lookup_error = Some(e),
        }
        if candidates.len() >= ADDRESSES_PER_ATTEMPT_MAX {
            break;
        }
    }
    if candidates.is_empty() {
        let (kind, reason) = match lookup_error {
            Some(e) => (ProblemKind::DnsFailed, e.to_string()),
            None => {
                let names: Vec<String> = hops.iter().map(|h| h.host.clone()).collect();
                (ProblemKind::NoAddress, format!("no address found for {}", names.join(", ")))
            }
        };
        return Err(Outcome::Deferred(Failure::local(code(4, 4, 4), kind, reason)));
    }
    Ok(candidates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_errors_become_problem_kinds() {
        let addr: SocketAddr = "192.0.2.1:25".parse().unwrap();
        let connect = |kind| AttemptError::Connect { addr, reason: "x".into(), kind };
        assert_eq!(
            problem_kind(&connect(std::io::ErrorKind::ConnectionRefused)),
            ProblemKind::ConnectionRefused
        );
        assert_eq!(problem_kind(&connect(std::io::ErrorKind::TimedOut)), ProblemKind::TimedOut);
        assert_eq!(problem_kind(&connect(std::io::ErrorKind::HostUnreachable)), ProblemKind::Unreachable);
        let io = |reason: &str| AttemptError::Io { addr, reason: reason.into() };
        assert_eq!(problem_kind(&io("timed out waiting for a reply")), ProblemKind::TimedOut);
        assert_eq!(problem_kind(&io("connection closed by the server")), ProblemKind::ConnectionLost);
        assert_eq!(problem_kind(&AttemptError::Tls { addr, reason: "x".into() }), ProblemKind::TlsFailed);
    }
}
