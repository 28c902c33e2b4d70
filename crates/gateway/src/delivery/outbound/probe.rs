//! Validation of an outbound route, step by step, for `sluice connector validate`: resolve,
//! connect, banner, EHLO, STARTTLS (protocol, cipher, certificate, verification under the
//! connector's mode), optionally a test message (MAIL, RCPT, DATA), QUIT. Each step keeps
//! the server's reply, and a failed step says what to check. The conversation uses the
//! same connection code as delivery, so a probe that passes means delivery can pass.
//!
//! Which hosts: every smart host of a smart-host route (each is the admin's to fix), or the
//! most preferred MX host that resolves (the one delivery tries first). The test message
//! goes through the first host that gets through STARTTLS only, so the recipient gets one.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use directory::NextHop;
use smtp_wire::Reply;
use smtp_wire::client::dot_stuffed;

use super::client_tls::describe_certificate;
use super::{AttemptError, ClientConfig, Conn, Protocol, TlsMode, greet, start_tls};
use crate::delivery::mx::{self, MailHosts, NoMailHost};
use crate::dns::Dns;

/// Where the probe goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeRoute {
    SmartHosts(Vec<NextHop>),
    /// The MX hosts of `domain`, on `port` (25 but in tests).
    Mx {
        domain: String,
        port: u16,
    },
}

/// A message to send through the route (`--to`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestMessage {
    pub from: String,
    pub to: String,
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    pub route: ProbeRoute,
    pub tls: TlsMode,
    pub message: Option<TestMessage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Resolve,
    Connect,
    Banner,
    Ehlo,
    StartTls,
    Mail,
    Rcpt,
    Data,
    Quit,
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepKind::Resolve => "resolve",
            StepKind::Connect => "connect",
            StepKind::Banner => "banner",
            StepKind::Ehlo => "ehlo",
            StepKind::StartTls => "starttls",
            StepKind::Mail => "mail",
            StepKind::Rcpt => "rcpt",
            StepKind::Data => "data",
            StepKind::Quit => "quit",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    Passed,
    /// `check`: what the admin should look at.
    Failed {
        check: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeStep {
    pub kind: StepKind,
    /// The host (and port) the step was about, or the domain for an MX lookup.
    pub target: String,
    pub outcome: StepOutcome,
    pub detail: String,
    /// The server's reply, for steps that got one.
    pub reply: Option<Reply>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeReport {
    pub steps: Vec<ProbeStep>,
}

impl ProbeReport {
    pub fn first_failure(&self) -> Option<&ProbeStep> {
        self.steps.iter().find(|s| matches!(s.outcome, StepOutcome::Failed { .. }))
    }

    fn pass(&mut self, kind: StepKind, target: &str, detail: impl Into<String>, reply: Option<Reply>) {
        let detail = detail.into();
        self.steps.push(ProbeStep {
            kind,
            target: target.into(),
            outcome: StepOutcome::Passed,
            detail,
            reply,
        });
    }

    fn fail(&mut self, kind: StepKind, target: &str, detail: impl Into<String>, check: impl Into<String>) {
        let outcome = StepOutcome::Failed { check: check.into() };
        self.steps.push(ProbeStep {
            kind,
            target: target.into(),
            outcome,
            detail: detail.into(),
            reply: None,
        });
    }

    /// A failed step from an attempt error, keeping the server's reply when there was one.
    fn fail_attempt(&mut self, kind: StepKind, target: &str, error: &AttemptError, check: impl Into<String>) {
        self.fail(kind, target, error.to_string(), check);
        if let (AttemptError::Refused { reply, .. }, Some(step)) = (error, self.steps.last_mut()) {
            step.detail = reply.summary();
            step.reply = Some(reply.clone());
        }
    }
}

/// One host to talk to: its name (for SNI and certificate checks) and addresses.
#[derive(Debug)]
struct Target {
    label: String,
    name: String,
    addrs: Vec<SocketAddr>,
}

/// Runs the steps; never fails as a whole, the report says what failed.
pub async fn probe(dns: &Dns, config: &ClientConfig, request: &ProbeRequest) -> ProbeReport {
    let mut report = ProbeReport::default();
    let targets = match &request.route {
        ProbeRoute::SmartHosts(hosts) => resolve_smart_hosts(dns, hosts, &mut report).await,
        ProbeRoute::Mx { domain, port } => {
            resolve_mx(dns, domain, *port, &mut report).await.into_iter().collect()
        }
    };
    let mut message = request.message.as_ref();
    for target in &targets {
        probe_host(target, config, &request.tls, &mut message, &mut report).await;
    }
    report
}

async fn resolve_smart_hosts(dns: &Dns, hosts: &[NextHop], report: &mut ProbeReport) -> Vec<Target> {
    let mut targets = Vec::new();
    for hop in hosts {
        let label = hop.to_string();
        if let Ok(ip) = hop.host.parse::<IpAddr>() {
            report.pass(StepKind::Resolve, &label, format!("{ip} is an IP address"), None);
            targets.push(Target {
                label,
                name: hop.host.clone(),
                addrs: vec![SocketAddr::new(ip, hop.port)],
            });
            continue;
        }
        if let Some(target) = resolve_host(dns, &hop.host, hop.port, report).await {
            targets.push(target);
        }
    }
    targets
}

async fn resolve_host(dns: &Dns, host: &str, port: u16, report: &mut ProbeReport) -> Option<Target> {
    let label = format!("{host}:{port}");
    let check = format!("that {host} is spelled right and has an A or AAAA record (dig +short {host} A)");
    match mx::addresses(dns, host, port).await {
        Ok(addrs) if addrs.is_empty() => report.fail(StepKind::Resolve, &label, "no A or AAAA record", check),
        Err(e) => report.fail(StepKind::Resolve, &label, e.to_string(), check),
        Ok(addrs) => {
            let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            report.pass(StepKind::Resolve, &label, list.join(", "), None);
            return Some(Target { label, name: host.to_string(), addrs });
        }
    }
    None
}

async fn resolve_mx(dns: &Dns, domain: &str, port: u16, report: &mut ProbeReport) -> Option<Target> {
    let check = format!("the MX records of {domain} (dig +short {domain} MX)");
    let hosts = match mx::mail_hosts(dns, domain).await {
        Ok(MailHosts { hosts, implicit: false }) => {
            report.pass(StepKind::Resolve, domain, format!("MX {}", hosts.join(", ")), None);
            hosts
        }
        Ok(MailHosts { hosts, implicit: true }) => {
            report.pass(StepKind::Resolve, domain, "no MX record: the domain itself is the mail host", None);
            hosts
        }
        Err(NoMailHost::NullMx) => {
            report.fail(StepKind::Resolve, domain, "null MX (MX 0 .): the domain accepts no mail", check);
            return None;
        }
        Err(NoMailHost::NoSuchDomain) => {
            report.fail(StepKind::Resolve, domain, "the domain does not exist (NXDOMAIN)", check);
            return None;
        }
        Err(NoMailHost::Lookup(e)) => {
            report.fail(StepKind::Resolve, domain, e.to_string(), check);
            return None;
        }
    };
    for host in hosts {
        if let Some(target) = resolve_host(dns, &host, port, report).await {
            return Some(target);
        }
    }
    None
}

/// Connect through QUIT with one host; the test message when it is still to be sent.
async fn probe_host(
    target: &Target,
    config: &ClientConfig,
    tls: &TlsMode,
    message: &mut Option<&TestMessage>,
    report: &mut ProbeReport,
) {
    let Some(conn) = connect(target, config, report).await else { return };
    let Some(mut conn) = session(conn, target, config, tls, report).await else { return };
    if let Some(m) = message.take()
        && !send_message(&mut conn, target, config, m, report).await
    {
        return;
    }
    let label = target.label.as_str();
    match conn.command("QUIT\r\n", config.reply_timeout).await {
        Ok(reply) => report.pass(StepKind::Quit, label, reply.summary(), Some(reply)),
        Err(e) => report.fail_attempt(
            StepKind::Quit,
            label,
            &e,
            "nothing: mail the server accepted is not affected",
        ),
    }
}

async fn connect(target: &Target, config: &ClientConfig, report: &mut ProbeReport) -> Option<Conn> {
    let mut failures = Vec::new();
    for addr in &target.addrs {
        match Conn::open(*addr, config).await {
            Ok(conn) => {
                failures.push(format!("connected to {addr}"));
                report.pass(StepKind::Connect, &target.label, failures.join("; "), None);
                return Some(conn);
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    let port = target.addrs.first().map_or(0, SocketAddr::port);
    let check = format!(
        "that the server runs and accepts connections on port {port} from this gateway (listening address, firewall)"
    );
    report.fail(StepKind::Connect, &target.label, failures.join("; "), check);
    None
}

/// Banner, EHLO, STARTTLS as the mode demands, EHLO again over TLS.
async fn session(
    mut conn: Conn,
    target: &Target,
    config: &ClientConfig,
    tls: &TlsMode,
    report: &mut ProbeReport,
) -> Option<Conn> {
    let label = target.label.as_str();
    match conn.expect_positive(None, config.reply_timeout).await {
        Ok(reply) => report.pass(StepKind::Banner, label, reply.summary(), Some(reply)),
        Err(e) => {
            let check = "the server refused this gateway at connect: read its reply, ask its admin to allow this gateway's IP";
            report.fail_attempt(StepKind::Banner, label, &e, check);
            return None;
        }
    }
    let starttls = ehlo(&mut conn, config, label, report).await?;
    if *tls == TlsMode::Off {
        return Some(conn);
    }
    if !starttls {
        if tls.requires_tls() {
            let check = "enable STARTTLS on the server, or set the connector's TLS mode to opportunistic";
            report.fail(StepKind::StartTls, label, format!("not offered, and the TLS mode is {tls}"), check);
            conn.quit(config).await;
            return None;
        }
        report.pass(StepKind::StartTls, label, "not offered: mail goes in plain text (opportunistic)", None);
        return Some(conn);
    }
    let mut conn = handshake(conn, target, config, tls, report).await?;
    ehlo(&mut conn, config, label, report).await?;
    Some(conn)
}

/// EHLO; whether the server offers STARTTLS.
async fn ehlo(conn: &mut Conn, config: &ClientConfig, label: &str, report: &mut ProbeReport) -> Option<bool> {
    match greet(conn, config, Protocol::Smtp).await {
        Ok(reply) => {
            let caps = super::Capabilities::from_ehlo(&reply);
            let offered: Vec<&str> = reply.lines.iter().skip(1).map(String::as_str).collect();
            let detail = format!(
                "{} {}; capabilities: {}",
                reply.code,
                reply.lines.first().map_or("", String::as_str),
                offered.join(", ")
            );
            report.pass(StepKind::Ehlo, label, detail, Some(reply));
            Some(caps.starttls)
        }
        Err(e) => {
            let check =
                format!("that the server accepts EHLO {} (this gateway's hostname)", config.helo_name);
            report.fail_attempt(StepKind::Ehlo, label, &e, check);
            None
        }
    }
}

async fn handshake(
    mut conn: Conn,
    target: &Target,
    config: &ClientConfig,
    tls: &TlsMode,
    report: &mut ProbeReport,
) -> Option<Conn> {
    let label = target.label.as_str();
    if let Err(e) = conn.expect_positive(Some("STARTTLS\r\n"), config.reply_timeout).await {
        report.fail_attempt(StepKind::StartTls, label, &e, "the server's TLS set-up (certificate and key)");
        return None;
    }
    match start_tls(conn, &target.name, tls, config).await {
        Ok((conn, info)) => {
            let cert = info.certificate.as_ref().map_or_else(|| "none".into(), |c| describe_certificate(c));
            let detail = format!(
                "{} {}; certificate: {cert}; {}",
                info.protocol,
                info.cipher,
                verification(tls, &target.name)
            );
            report.pass(StepKind::StartTls, label, detail, None);
            Some(conn)
        }
        Err((e, cert)) => {
            let shown = cert
                .as_ref()
                .map_or_else(String::new, |c| format!("; certificate: {}", describe_certificate(c)));
            report.fail(StepKind::StartTls, label, format!("{e}{shown}"), tls_check(tls, &target.name));
            None
        }
    }
}

fn verification(tls: &TlsMode, name: &str) -> String {
    match tls {
        TlsMode::VerifyCertificate => format!("verified: chains to a trusted root, valid for {name}"),
        TlsMode::VerifyDomain(d) => format!("verified: chains to a trusted root, valid for {d}"),
        other => format!("not verified (TLS mode {other} encrypts without authenticating the server)"),
    }
}

fn tls_check(tls: &TlsMode, name: &str) -> String {
    match tls {
        TlsMode::VerifyCertificate | TlsMode::VerifyDomain(_) => {
            let name = match tls {
                TlsMode::VerifyDomain(d) => d.as_str(),
                _ => name,
            };
            format!(
                "that the server's certificate is valid for {name}, current, and issued by a CA this gateway trusts (public roots, or [delivery] tls_ca_file); or change the connector's TLS mode"
            )
        }
        _ => "the server's TLS set-up (protocol versions, ciphers, certificate and key)".into(),
    }
}

/// MAIL, RCPT, DATA with a short test message, one command at a time so each step has its
/// own reply. Whether the conversation can go on to QUIT.
async fn send_message(
    conn: &mut Conn,
    target: &Target,
    config: &ClientConfig,
    message: &TestMessage,
    report: &mut ProbeReport,
) -> bool {
    let label = target.label.as_str();
    let from_check = format!("that the server relays for this gateway and the sender <{}>", message.from);
    let to_check = format!("that the server accepts or relays mail for <{}> from this gateway", message.to);
    let steps: [(StepKind, String, String); 3] = [
        (StepKind::Mail, format!("MAIL FROM:<{}>\r\n", message.from), from_check),
        (StepKind::Rcpt, format!("RCPT TO:<{}>\r\n", message.to), to_check),
        (StepKind::Data, "DATA\r\n".into(), "the server's reply to DATA".into()),
    ];
    for (kind, line, check) in steps {
        match conn.expect_positive(Some(&line), config.reply_timeout).await {
            Ok(reply) if kind != StepKind::Data => report.pass(kind, label, reply.summary(), Some(reply)),
            Ok(_) => {}
            Err(e) => {
                report.fail_attempt(kind, label, &e, check);
                conn.quit(config).await;
                return false;
            }
        }
    }
    let sent = conn.send(&dot_stuffed(&test_content(config, message))).await;
    let end = match sent {
        Ok(()) => conn.expect_positive(None, config.data_end_timeout).await,
        Err(e) => Err(e),
    };
    match end {
        Ok(reply) => report.pass(StepKind::Data, label, reply.summary(), Some(reply)),
        Err(e) => {
            report.fail_attempt(StepKind::Data, label, &e, "the server's reply: it refused the test message");
            return false;
        }
    }
    true
}

fn test_content(config: &ClientConfig, message: &TestMessage) -> Vec<u8> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}.validate@{helo}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nAuto-Submitted: auto-generated\r\n\r\n\
         This message tests an outbound connector of the Sluice gateway {helo}.\r\nNo action is needed.\r\n",
        from = message.from,
        to = message.to,
        subject = message.subject,
        date = smtp_wire::date::rfc5322(now.as_secs()),
        id = now.as_nanos(),
        helo = config.helo_name,
    )
    .into_bytes()
}
