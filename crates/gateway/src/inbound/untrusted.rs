//! While the tenant directory cannot be trusted (its database unreadable, replaced, emptied
//! or older than this node has seen), a permanent refusal decided from it could bounce a
//! tenant's mail for good: "relay denied" for a domain the directory no longer shows,
//! "unknown user" for a recipient it lost. Such refusals become `451 4.3.0` and the client
//! tries again later. What the last good snapshot accepts is still accepted, and the
//! config's static accepted domains, decided without the directory, keep their answers.

use smtp_wire::command::{MailFrom, RcptTo};
use smtp_wire::{EnvelopeChecks, Reply, ReversePath, SessionInfo, replies};

use crate::domains::StaticDomains;

/// `checks` with their permanent refusals made temporary while the directory is untrusted
/// (as it was when the session started).
#[derive(Debug)]
pub(super) struct UntrustedDirectory<'a, C> {
    pub(super) inner: C,
    pub(super) static_domains: &'a StaticDomains,
    pub(super) trusted: bool,
}

impl<C> UntrustedDirectory<'_, C> {
    fn temporary(&self, result: Result<(), Reply>, session: &SessionInfo, what: &str) -> Result<(), Reply> {
        match result {
            Err(refusal) if !self.trusted && refusal.is_permanent() => {
                tracing::info!(client_ip = %session.client_ip, %what, would_be = %refusal, "directory untrusted: deferred instead of refused");
                Err(replies::directory_unavailable())
            }
            other => other,
        }
    }
}

impl<C: EnvelopeChecks> EnvelopeChecks for UntrustedDirectory<'_, C> {
    fn check_sender(&self, session: &SessionInfo, mail: &MailFrom) -> Result<(), Reply> {
        let result = self.inner.check_sender(session, mail);
        self.temporary(result, session, "sender")
    }

    fn check_recipient(
        &self,
        session: &SessionInfo,
        sender: &ReversePath,
        rcpt: &RcptTo,
    ) -> Result<(), Reply> {
        let result = self.inner.check_recipient(session, sender, rcpt);
        let address = &rcpt.recipient;
        // A static domain (or a bare <postmaster>) is the config's, not the directory's.
        if address.domain.is_empty() || self.static_domains.accepts_domain(&address.domain) {
            return result;
        }
        self.temporary(result, session, "recipient")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_wire::command::{Command, parse};

    /// Refuses everything permanently, as a directory that lost its tenants would.
    struct RefuseAll;

    impl EnvelopeChecks for RefuseAll {
        fn check_sender(&self, _: &SessionInfo, _: &MailFrom) -> Result<(), Reply> {
            Err(Reply::new(550, smtp_wire::reply::code(5, 7, 708), "low reputation"))
        }
        fn check_recipient(&self, _: &SessionInfo, _: &ReversePath, rcpt: &RcptTo) -> Result<(), Reply> {
            Err(replies::relay_denied(&rcpt.recipient.domain))
        }
    }

    fn info() -> SessionInfo {
        SessionInfo {
            client_ip: "192.0.2.1".parse().expect("ip"),
            helo: Some("client.test".into()),
            esmtp: true,
            tls: None,
            tls_client_names: Vec::new(),
        }
    }

    fn rcpt(address: &str) -> RcptTo {
        match parse(format!("RCPT TO:<{address}>").as_bytes()) {
            Ok(Command::Rcpt(rcpt)) => rcpt,
            other => panic!("{other:?}"),
        }
    }

    fn mail() -> MailFrom {
        match parse(b"MAIL FROM:<a@sender.test>") {
            Ok(Command::Mail(mail)) => mail,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn permanent_refusals_become_451_4_3_0_only_while_untrusted_and_never_for_static_domains() {
        let statics = StaticDomains::new(&["example.test".to_string()]);
        let untrusted = UntrustedDirectory { inner: RefuseAll, static_domains: &statics, trusted: false };
        let summary = |r: Result<(), Reply>| r.expect_err("refused").summary();
        let tenant = summary(untrusted.check_recipient(&info(), &ReversePath::Null, &rcpt("bob@acme.test")));
        assert_eq!(
            tenant,
            "451 4.3.0 Temporary failure: the directory of this server's domains is unavailable, try again later"
        );
        assert!(summary(untrusted.check_sender(&info(), &mail())).starts_with("451 4.3.0"));
        let local =
            summary(untrusted.check_recipient(&info(), &ReversePath::Null, &rcpt("bob@example.test")));
        assert!(local.starts_with("550 5.7.1"), "static domains keep their answers: {local}");
        let trusted = UntrustedDirectory { trusted: true, ..untrusted };
        let refused = summary(trusted.check_recipient(&info(), &ReversePath::Null, &rcpt("bob@acme.test")));
        assert!(refused.starts_with("550 5.7.1"), "{refused}");
    }
}
