//! Relay control until the tenant directory exists: mail is accepted only for the
//! statically configured domains, and only for local parts that can name a mailbox.
//! Everything else is refused at RCPT: there is no open relay.

use std::collections::HashSet;

use smtp_wire::command::RcptTo;
use smtp_wire::{Policy, Reply, ReversePath, SessionInfo, replies};

use crate::throttling::Throttling;

/// What a session checks recipients against: relay control first (a relay attempt is
/// refused permanently whatever the sender's volume), then the throttle.
#[derive(Debug)]
pub struct SessionPolicy<'a> {
    pub relay: &'a StaticPolicy,
    pub throttling: Option<&'a Throttling>,
}

impl Policy for SessionPolicy<'_> {
    fn check_recipient(
        &self,
        session: &SessionInfo,
        sender: &ReversePath,
        rcpt: &RcptTo,
    ) -> Result<(), Reply> {
        self.relay.check_recipient(session, sender, rcpt)?;
        let Some(throttling) = self.throttling else { return Ok(()) };
        throttling.check_recipient(session.client_ip).inspect_err(|reply| {
            tracing::info!(
                client_ip = %session.client_ip,
                sender = %sender,
                recipient = %rcpt.recipient,
                reply = %reply,
                "recipient deferred by throttling"
            );
        })
    }
}

/// Accepted domains from the config, as an immutable snapshot.
#[derive(Debug, Clone)]
pub struct StaticPolicy {
    accepted: HashSet<String>,
    /// Where `<postmaster>` without a domain is delivered.
    postmaster_domain: Option<String>,
}

impl StaticPolicy {
    pub fn new(accepted_domains: &[String]) -> StaticPolicy {
        let accepted: HashSet<String> =
            accepted_domains.iter().map(|d| d.trim_end_matches('.').to_ascii_lowercase()).collect();
        let postmaster_domain = accepted_domains.first().map(|d| d.to_ascii_lowercase());
        StaticPolicy { accepted, postmaster_domain }
    }

    pub fn accepts_domain(&self, domain: &str) -> bool {
        self.accepted.contains(&domain.to_ascii_lowercase())
    }

    pub fn postmaster_domain(&self) -> Option<&str> {
        self.postmaster_domain.as_deref()
    }
}

/// The Maildir folder name for a local part, or `None` when the local part cannot be a
/// local mailbox: quoted strings, routing characters (`%`, `!`, `@` — the percent hack and
/// bang paths), path separators and leading dots are refused so that no recipient can
/// reach outside its folder or be relayed on.
pub fn mailbox_name(local_part: &str) -> Option<String> {
    let name = local_part.to_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_alphanumeric() || "._+-=".contains(c));
    valid.then_some(name)
}

impl Policy for StaticPolicy {
    fn check_recipient(
        &self,
        session: &SessionInfo,
        sender: &ReversePath,
        rcpt: &RcptTo,
    ) -> Result<(), Reply> {
        let address = &rcpt.recipient;
        let refusal = if address.domain.is_empty() {
            // Bare <postmaster> (RFC 5321 4.5.1).
            self.postmaster_domain.is_none().then(|| replies::relay_denied("postmaster"))
        } else if address.is_address_literal() || !self.accepts_domain(&address.domain) {
            Some(replies::relay_denied(&address.domain_lowercase()))
        } else if mailbox_name(&address.local_part).is_none() {
            Some(replies::unknown_user(&address.to_string()))
        } else {
            None
        };
        match refusal {
            None => Ok(()),
            Some(reply) => {
                tracing::info!(
                    client_ip = %session.client_ip,
                    sender = %sender,
                    recipient = %address,
                    reply = %reply,
                    "recipient refused"
                );
                Err(reply)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_wire::command::{Command, parse};
    use std::net::{IpAddr, Ipv4Addr};

    fn check(rcpt: &str) -> Result<(), String> {
        let policy = StaticPolicy::new(&["example.test".to_string()]);
        let info = SessionInfo {
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            helo: None,
            esmtp: true,
            tls: None,
            tls_client_names: Vec::new(),
        };
        let Ok(Command::Rcpt(r)) = parse(format!("RCPT TO:<{rcpt}>").as_bytes()) else {
            return Err("syntax".into());
        };
        policy.check_recipient(&info, &ReversePath::Null, &r).map_err(|e| e.summary())
    }

    #[test]
    fn accepted_domain_any_case() {
        assert_eq!(check("user@example.test"), Ok(()));
        assert_eq!(check("User@EXAMPLE.Test"), Ok(()));
        assert_eq!(check("postmaster"), Ok(()));
    }

    #[test]
    fn relay_attempts_are_refused() {
        let relay = |r: &str| check(r).unwrap_err();
        assert!(relay("user@other.test").starts_with("550 5.7.1"));
        assert!(relay("user@[127.0.0.1]").starts_with("550 5.7.1"));
        assert!(relay("user@example.test.evil.test").starts_with("550 5.7.1"));
        assert!(relay("@example.test:user@other.test").starts_with("550 5.7.1"));
        assert!(check("user%other.test@example.test").unwrap_err().starts_with("550 5.1.1"));
        assert!(check("other.test!user@example.test").unwrap_err().starts_with("550 5.1.1"));
        assert!(check("\"user@other.test\"@example.test").unwrap_err().starts_with("550 5.1.1"));
        assert_eq!(check("user@example.test."), Err("syntax".into()));
    }

    #[test]
    fn mailbox_names_cannot_escape() {
        assert_eq!(mailbox_name("Bob.Smith+tag"), Some("bob.smith+tag".into()));
        assert_eq!(mailbox_name(".."), None);
        assert_eq!(mailbox_name("a/b"), None);
        assert_eq!(mailbox_name("\"quoted\""), None);
        assert_eq!(mailbox_name("müller"), Some("müller".into()));
    }
}
