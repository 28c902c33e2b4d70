//! Relay control: the tenant directory decides (see `SessionChecks`), each recipient by the
//! connectors of its own tenant; the config's static accepted domains (`StaticDomains`)
//! still take mail for local mailboxes, only for local parts that can name a mailbox.
//! Everything else is refused at RCPT: there is no open relay.

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use directory::{ClientCert, Refusal, RefusalKind, Relay, RouteTarget, SessionContext, Snapshot, Transport};
use smtp_wire::command::{MailFrom, RcptTo};
use smtp_wire::reply::EnhancedCode;
use smtp_wire::{Attribution, EnvelopeChecks, Reply, ReversePath, Session, SessionInfo, replies};

use crate::delivery::maildir::mailbox_name;
use crate::domains::{Owner, StaticDomains, owner};
use crate::inbound::throttling::{Admitted, Attempt, Bypass, Throttling};

/// What a session checks recipients against: relay control first (a relay attempt is
/// refused permanently whatever the sender's volume), then the throttle for the recipients
/// no connector vouches for. Relay control is the tenant directory's (each recipient by
/// the connectors of its own tenant); the config's static accepted domains still receive
/// mail for local mailboxes when the directory does not know the domain.
#[derive(Debug)]
pub struct SessionChecks<'a> {
    pub static_domains: &'a StaticDomains,
    pub directory: Option<&'a Snapshot>,
    pub throttling: Option<&'a Throttling>,
    pub protection: Option<&'a protection::Protection>,
    /// The outcome of the outbound sender check of the current transaction: it runs once,
    /// at the first outbound recipient (allowances count messages, not recipients).
    outbound_sender: RefCell<Option<Result<(), Reply>>>,
    /// Recipients of the current transaction the throttle engine judged and accepted; the
    /// message's log line carries it so that `sluice simulate --log` can replay the traffic.
    throttle_accepted: Cell<u32>,
    /// How the current transaction's message is attributed: the tenant its relayed mail
    /// belongs to (decided at MAIL FROM), else the connector that admitted its first trusted
    /// recipient.
    attribution: RefCell<Option<Attribution>>,
    /// Unix seconds for outbound protection's windows and reputation expiry: the system
    /// clock, or a fixed one in tests so the texts that say when a limit frees up are exact.
    clock: fn() -> u64,
    /// Where refusals point for help (`<admin_url>/help/<code>`), when known.
    help_url: Option<&'a str>,
    /// What relay control found about each accepted recipient of the current transaction,
    /// in the envelope's order: the end of DATA judges sender authentication per recipient.
    recipients: RefCell<Vec<RecipientFacts>>,
    /// What the directory knows of the client (every connector it matches), computed when
    /// the session starts and again after STARTTLS (a client certificate may name
    /// connectors), not at every command. The session keeps the snapshot it started with,
    /// so nothing else can change it.
    context: SessionContext,
}

impl<'a> SessionChecks<'a> {
    pub fn new(
        static_domains: &'a StaticDomains,
        directory: Option<&'a Snapshot>,
        throttling: Option<&'a Throttling>,
        protection: Option<&'a protection::Protection>,
        client_ip: IpAddr,
    ) -> SessionChecks<'a> {
        SessionChecks {
            static_domains,
            directory,
            throttling,
            protection,
            outbound_sender: RefCell::new(None),
            throttle_accepted: Cell::new(0),
            attribution: RefCell::new(None),
            recipients: RefCell::new(Vec::new()),
            clock: now_unix_s,
            help_url: None,
            context: session_context(directory, client_ip, Transport::Plain, now_unix_s()),
        }
    }

    /// The same with a fixed clock (unix seconds), so tests pin the texts that say when a
    /// limit frees up and what has expired.
    pub fn with_clock(mut self, clock: fn() -> u64) -> SessionChecks<'a> {
        self.context.now_unix_s = clock();
        SessionChecks { clock, ..self }
    }

    /// Refusals of the directory and of outbound protection end with a second line pointing
    /// at `<admin_url>/help/<code>`, the page that explains the code to the sender's admin.
    pub fn with_help(self, admin_url: &'a str) -> SessionChecks<'a> {
        SessionChecks { help_url: Some(admin_url.trim_end_matches('/')), ..self }
    }

    /// STARTTLS completed: tells the SMTP session, and computes the directory context again
    /// with the client certificate's verified names. The connection driver and the
    /// transcript tests both call this.
    pub fn tls_established(&mut self, session: &mut Session, description: String, client_names: Vec<String>) {
        let cert = (!client_names.is_empty()).then(|| ClientCert { names: client_names.clone() });
        let transport = Transport::Tls { client_cert: cert.as_ref() };
        let zone = self.context.dnsbl_zone.take();
        self.context = session_context(self.directory, session.info().client_ip, transport, (self.clock)());
        self.context.dnsbl_zone = zone;
        session.tls_established(description, client_names);
    }

    /// The recipients of the transaction just finished that the throttle engine judged and
    /// accepted (for the message's log line), counting from zero again.
    pub fn take_throttle_accepted(&self) -> u32 {
        self.throttle_accepted.take()
    }

    /// The DNS blocklist zone that lists the client (the connection's lookup found it):
    /// from now on the directory refuses the client wherever no connector vouches for it.
    pub fn dnsbl_listed(&mut self, zone: String) {
        self.context.dnsbl_zone = Some(zone);
    }

    /// The accepted recipients' facts of the transaction just finished, in the envelope's
    /// order, starting afresh.
    pub fn take_recipients(&self) -> Vec<RecipientFacts> {
        self.recipients.take()
    }

    /// What the directory knows of the client.
    pub fn context(&self) -> &SessionContext {
        &self.context
    }

    /// How the transaction's message is attributed, recorded with it so the queue manager
    /// routes a tenant's outbound mail through its outbound connectors.
    pub fn attribution(&self) -> Option<Attribution> {
        self.attribution.borrow().clone()
    }

    fn refusal(&self, refusal: Refusal) -> Reply {
        with_help(refusal_reply(refusal), self.help_url)
    }

    fn verdict(&self, verdict: protection::Verdict) -> Reply {
        with_help(verdict_reply(verdict), self.help_url)
    }
}

/// A session's context; without a directory, only its address and transport.
fn session_context(
    directory: Option<&Snapshot>,
    client_ip: IpAddr,
    transport: Transport<'_>,
    now_unix_s: u64,
) -> SessionContext {
    match directory {
        Some(directory) => directory.session(client_ip, transport, now_unix_s),
        None => Snapshot::default().session(client_ip, transport, now_unix_s),
    }
}

fn verdict_reply(verdict: protection::Verdict) -> Reply {
    let (class, subject, detail) = verdict.enhanced;
    Reply::new(verdict.code, EnhancedCode::new(class, subject, detail), verdict.text)
}

/// Adds the help page's address as the reply's last line.
pub(crate) fn with_help(mut reply: Reply, help_url: Option<&str>) -> Reply {
    if let (Some(base), Some(code)) = (help_url, reply.enhanced) {
        reply.lines.push(format!("Help: {base}/help/{code}"));
    }
    reply
}

/// How a tenant's sender domain stands for outbound protection: a domain another tenant
/// verified is never presented as one this tenant could add.
pub fn sender_class(
    directory: &Snapshot,
    tenant: &directory::TenantId,
    domain: &str,
) -> protection::SenderDomainClass {
    match directory.sender_domain(tenant, domain) {
        directory::SenderDomain::Verified(d) if d.service => protection::SenderDomainClass::Service,
        directory::SenderDomain::Verified(_) => protection::SenderDomainClass::Verified,
        directory::SenderDomain::Unverified(_) | directory::SenderDomain::NotRegistered => {
            match directory.accepting(domain) {
                Some(other) if &other.tenant != tenant => protection::SenderDomainClass::OtherTenant,
                _ => protection::SenderDomainClass::Unregistered,
            }
        }
    }
}

/// How the sender of a message attributed to `attribution`'s tenant stands for outbound
/// protection (the null sender is the tenant's own server bouncing: verified).
pub fn outbound_sender_class(
    directory: &Snapshot,
    attribution: &Attribution,
    sender: &ReversePath,
) -> protection::SenderDomainClass {
    match (directory::TenantId::parse(&attribution.tenant), sender) {
        (Ok(tenant), ReversePath::Mailbox(address)) => sender_class(directory, &tenant, &address.domain),
        _ => protection::SenderDomainClass::Verified,
    }
}

fn now_unix_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(crate) fn refusal_reply(refusal: Refusal) -> Reply {
    let (class, subject, detail) = refusal.enhanced;
    Reply::new(refusal.code, EnhancedCode::new(class, subject, detail), refusal.text)
}

fn domain_of(sender: &ReversePath) -> Option<&str> {
    match sender {
        ReversePath::Mailbox(a) => Some(a.domain.as_str()),
        ReversePath::Null => None,
    }
}

/// What relay control found about an accepted recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientFacts {
    /// The tenant whose domain (or outbound relay) it is; `None` for the config's static
    /// domains.
    pub tenant: Option<directory::TenantId>,
    /// One of its own tenant's connectors admitted it (another tenant's connector, such as
    /// the sending tenant's on-premises server, never vouches for it).
    pub trusted: bool,
    /// It leaves Sluice (the sending tenant's outbound relay): outbound protection judges
    /// it, not the recipient policy. Mail to another tenant of the service is not: its
    /// recipient's tenant judges it like any inbound mail.
    pub outbound: bool,
}

impl RecipientFacts {
    /// What a recipient's route says: its tenant (the sending tenant's for outbound relay),
    /// whether that tenant's own connector admitted it, whether it leaves Sluice.
    fn of(route: &directory::RecipientRoute) -> RecipientFacts {
        let outbound = matches!(route.target, RouteTarget::OutboundRelay { .. });
        RecipientFacts { tenant: Some(route.tenant.clone()), trusted: route.connector.is_some(), outbound }
    }

    fn local() -> RecipientFacts {
        RecipientFacts { tenant: None, trusted: false, outbound: false }
    }
}

/// How a recipient passed relay control.
enum Admission {
    /// A connector vouches for it (its tenant's, or the sending tenant's own server): never
    /// throttled.
    Trusted,
    Accepted,
}

impl SessionChecks<'_> {
    fn relay_control(
        &self,
        session: &SessionInfo,
        sender: &ReversePath,
        rcpt: &RcptTo,
    ) -> Result<(Admission, RecipientFacts), Reply> {
        let local = || {
            let checked = self.static_domains.check_recipient(session, sender, rcpt);
            checked.map(|()| (Admission::Accepted, RecipientFacts::local()))
        };
        let Some(directory) = self.directory else { return local() };
        let address = &rcpt.recipient;
        // Bare <postmaster> (RFC 5321 4.5.1) is a local mailbox.
        if address.domain.is_empty() {
            return local();
        }
        let decision =
            directory.check_recipient(&self.context, domain_of(sender), &address.local_part, &address.domain);
        // A domain the directory does not accept (relay denied, or a tenant's outbound relay)
        // may still be one of the config's own: those are local mailboxes, never outbound.
        let declined = match &decision {
            Ok(route) => matches!(route.target, RouteTarget::OutboundRelay { .. }),
            Err(refusal) => refusal.kind == RefusalKind::RelayDenied,
        };
        if declined && owner(Some(directory), self.static_domains, &address.domain) == Owner::Local {
            return local();
        }
        // Every route is delivered by the queue manager (Maildir, the tenant's server,
        // outbound relay); trust decides only whether the throttle applies.
        let route = decision.map_err(|refusal| self.refusal(refusal))?;
        if let Some(outbound) = &route.outbound {
            self.outbound_protection(directory, &outbound.tenant, sender)?;
        }
        if let Some(connector) = route.connector.as_ref().filter(|_| route.outbound.is_none()) {
            tracing::info!(client_ip = %session.client_ip, %sender, recipient = %address, tenant = %route.tenant, %connector, "recipient accepted through its tenant's inbound connector");
            self.attribution.borrow_mut().get_or_insert_with(|| Attribution {
                tenant: route.tenant.to_string(),
                connector: connector.clone(),
                outbound_relay: false,
            });
        }
        let facts = RecipientFacts::of(&route);
        Ok((if route.is_throttled() { Admission::Accepted } else { Admission::Trusted }, facts))
    }

    /// A tenant's outbound recipient: the sender check once per transaction (`5.7.705`
    /// tripped tenant, `5.7.750` unregistered sender domain), then the per-recipient limits
    /// (`5.7.751` service domain, `4.7.752` sender rate). Bounces (null sender) from the
    /// tenant's server pass: refusing them would only make its queue bounce them back.
    fn outbound_protection(
        &self,
        directory: &Snapshot,
        tenant: &directory::TenantId,
        sender: &ReversePath,
    ) -> Result<(), Reply> {
        let (Some(protection), ReversePath::Mailbox(address)) = (self.protection, sender) else {
            return Ok(());
        };
        let class = sender_class(directory, tenant, &address.domain);
        let (now, sender_text) = ((self.clock)(), address.to_string());
        let mut checked = self.outbound_sender.borrow_mut();
        let outcome = checked.get_or_insert_with(|| {
            protection.check_sender(now, tenant.as_str(), &sender_text, class).map_err(|v| self.verdict(v))
        });
        outcome.clone()?;
        protection.check_recipient(now, tenant.as_str(), &sender_text, class).map_err(|v| self.verdict(v))
    }

    /// A new transaction: which tenant its relayed mail belongs to, logged with every
    /// connector the client matches (once per transaction, before any refusal).
    fn start_transaction(&self, directory: &Snapshot, session: &SessionInfo, sender: &ReversePath) {
        self.outbound_sender.replace(None);
        let ctx = &self.context;
        let relay = directory.relay(ctx, domain_of(sender));
        let relayed = match &relay {
            Relay::Tenant(m) if m.is_trusted() => Some(Attribution {
                tenant: m.connector.tenant.to_string(),
                connector: m.connector.name.clone(),
                outbound_relay: true,
            }),
            _ => None,
        };
        self.attribution.replace(relayed);
        if ctx.connectors.is_empty() {
            return;
        }
        let matched: Vec<String> = ctx
            .connectors
            .iter()
            .map(|m| format!("{}/{} ({}{})", m.connector.tenant, m.connector.name, m.by, trust_note(m)))
            .collect();
        let relay_for = match &relay {
            Relay::Tenant(m) => m.connector.tenant.to_string(),
            Relay::Ambiguous { tenants } => {
                format!("nobody: {tenants} tenants' on-premises connectors match")
            }
            Relay::Nobody => "nobody".into(),
        };
        tracing::info!(
            client_ip = %session.client_ip,
            connectors = %matched.join(", "),
            more = ctx.overflow,
            relay_for = %relay_for,
            "client recognised by inbound connectors"
        );
    }
}

fn trust_note(m: &directory::ConnectorMatch) -> &'static str {
    if m.is_trusted() { "" } else { ", tenant suspended" }
}

impl EnvelopeChecks for SessionChecks<'_> {
    fn check_sender(&self, session: &SessionInfo, mail: &MailFrom) -> Result<(), Reply> {
        self.throttle_accepted.set(0);
        self.recipients.borrow_mut().clear();
        let Some(directory) = self.directory else {
            self.outbound_sender.replace(None);
            self.attribution.replace(None);
            return Ok(());
        };
        let sender = mail.sender.clone().map_or(ReversePath::Null, ReversePath::Mailbox);
        self.start_transaction(directory, session, &sender);
        directory.check_client(&self.context).map_err(|refusal| self.refusal(refusal))
    }

    fn check_recipient(
        &self,
        session: &SessionInfo,
        sender: &ReversePath,
        rcpt: &RcptTo,
    ) -> Result<(), Reply> {
        let log = |what: &'static str| {
            move |reply: &Reply| {
                let (client_ip, recipient) = (session.client_ip, &rcpt.recipient);
                tracing::info!(%client_ip, %sender, %recipient, rcpt_count = 1u32, %reply, "{what}");
            }
        };
        let (admission, facts) =
            self.relay_control(session, sender, rcpt).inspect_err(log("recipient refused"))?;
        if let Some(throttling) = self.throttling {
            if matches!(admission, Admission::Trusted) {
                throttling.count_bypass(Bypass::Connector);
            } else {
                // The throttle logs its own deferrals (a blast's are folded into one line a minute).
                let attempt = Attempt { ip: session.client_ip, sender, recipient: &rcpt.recipient };
                let admitted = throttling.check_recipient(attempt)?;
                if admitted == Admitted::Judged {
                    self.throttle_accepted.set(self.throttle_accepted.get().saturating_add(1));
                }
            }
        }
        self.recipients.borrow_mut().push(facts);
        Ok(())
    }
}

impl EnvelopeChecks for StaticDomains {
    fn check_recipient(&self, _: &SessionInfo, _: &ReversePath, rcpt: &RcptTo) -> Result<(), Reply> {
        let address = &rcpt.recipient;
        let refusal = if address.domain.is_empty() {
            // Bare <postmaster> (RFC 5321 4.5.1), delivered to the first accepted domain's.
            self.postmaster_domain().is_none().then(|| {
                Reply::new(
                    550,
                    smtp_wire::reply::code(5, 1, 1),
                    "Recipient address rejected: this server has no local domain for a bare <postmaster>; \
                     write to postmaster@ the domain you mean",
                )
            })
        } else if address.is_address_literal() || !self.accepts_domain(&address.domain) {
            Some(replies::relay_denied(&address.domain_lowercase()))
        } else if mailbox_name(&address.local_part).is_none() {
            Some(replies::unknown_user(&address.to_string()))
        } else {
            None
        };
        refusal.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_wire::command::{Command, parse};
    use std::net::{IpAddr, Ipv4Addr};

    fn check(rcpt: &str) -> Result<(), String> {
        let policy = StaticDomains::new(&["example.test".to_string()]);
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
}
