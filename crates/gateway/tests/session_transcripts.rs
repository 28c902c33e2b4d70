//! Runs every `tests/session_transcripts/*.txt` through the sans-IO `smtp_wire::Session`
//! with the gateway's real policy stack: `SessionChecks` over a tenant directory snapshot
//! (the fixture below), outbound protection and, when asked, IP throttling. The reply
//! texts are pinned: a change to what a sender or an admin reads is a visible diff here.
//!
//! Format (as `crates/smtp-wire/tests/transcripts.rs`): `C: text` is a client line (CRLF
//! appended), `C~ text` raw client bytes; both understand `\r`, `\n`, `\\`. `S: text` lines
//! are the expected server output, in order, after the preceding client lines were fed at
//! once. `S: [closed]` means the session closed. `#` starts a comment; every file opens
//! with a comment saying what it proves.
//!
//! Header directives (before the first `C:`/`S:` line):
//! - `@client-ip A.B.C.D`: the client's address (default 198.51.100.1);
//! - `@tls`: STARTTLS succeeds without a client certificate; `@tls-cert NAME[,NAME...]`:
//!   with a verified client certificate carrying these names (the gateway hands the
//!   session only names that chain to the client CA, so these stand for verified ones);
//!   a transcript that issues STARTTLS needs one of the two;
//! - `@throttle [key=value...]`: IP throttling with a policy tight enough to defer (keys of
//!   `throttle::Policy` below);
//! - `@protection key=value`: changes the fixture's outbound protection policy;
//! - `@static-domains [d...]`: the config's static accepted domains (default
//!   `example.test`, the embedded default config).
//!
//! Body directives: `@expect-messages N` (messages handed to storage so far) and
//! `@expect-attribution none|TENANT/CONNECTOR [outbound-relay]` (how the last message was
//! attributed, computed as the inbound connection does with `SessionChecks::attribution`).
//!
//! Refusals carry a second line `Help: https://mx.sluice.test/help/<code>`. After a
//! deliberate change of reply texts, `BLESS_TRANSCRIPTS=1 cargo test -p gateway --test
//! session_transcripts` rewrites the expected lines with the new output (review the diff).
//!
//! The policy's clock is fixed ([`CLOCK_UNIX_S`]), so even the texts that say when a limit
//! frees up are exact.

#[path = "../../smtp-wire/tests/support/escapes.rs"]
mod escapes;
use escapes::unescape;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use directory::{
    AcceptedDomain, CertName, Cidr, Connector, ConnectorKind, DeliveryTarget, DirectoryData, DomainKind,
    DomainName, Recipient, ReputationEntry, ReputationKind, Snapshot, Tenant, TenantId, TenantStatus,
    VerificationState,
};
use gateway::domains::StaticDomains;
use gateway::guard::OutboundGuard;
use gateway::inbound::checks::SessionChecks;
use gateway::inbound::throttling::Throttling;
use smtp_wire::{Action, Attribution, Session, SessionConfig};

const DEFAULT_CLIENT_IP: &str = "198.51.100.1";

fn tenant_id(id: &str) -> TenantId {
    TenantId::parse(id).expect("tenant id")
}

fn domain(name: &str, tenant: &str, kind: DomainKind, verified: bool) -> AcceptedDomain {
    AcceptedDomain {
        name: DomainName::parse("domain", name).expect("domain"),
        tenant: tenant_id(tenant),
        kind,
        match_subdomains: false,
        token: format!("token-{name}"),
        verification: if verified { VerificationState::Verified } else { VerificationState::Pending },
        service: false,
    }
}

fn cidr(text: &str) -> Cidr {
    Cidr::parse("cidr", text).expect("cidr")
}

fn connector(tenant: &str, name: &str, kind: ConnectorKind) -> Connector {
    Connector::new(tenant_id(tenant), name, kind)
}

/// The tenant directory every transcript runs against.
fn directory() -> Arc<Snapshot> {
    let tenant = |id: &str, status| Tenant {
        id: tenant_id(id),
        display_name: id.to_string(),
        status,
        language: "en".into(),
    };
    let mut internal = domain("acme-internal.test", "acme", DomainKind::InternalRelay, true);
    internal.match_subdomains = true;
    let mut service = domain("acme.sluice.test", "acme", DomainKind::Authoritative, true);
    service.service = true;
    let mut globex_service = domain("globex.sluice.test", "globex", DomainKind::Authoritative, true);
    globex_service.service = true;
    let recipient = |tenant: &str, address: &str, aliases: &[&str]| {
        Recipient::new(tenant_id(tenant), address, aliases, DeliveryTarget::Maildir).expect("recipient")
    };

    let mut partner_ip = connector("acme", "partner-ip", ConnectorKind::Partner);
    partner_ip.ip_ranges.push(cidr("127.0.0.2/32"));
    partner_ip.require_tls = false;
    // Recognised by certificate (or, in plain text, by its IP so the TLS rule can refuse);
    // mail claiming partner.test from anywhere else is refused.
    let mut partner_cert = connector("acme", "partner-cert", ConnectorKind::Partner);
    partner_cert.certificate_names.push(CertName::parse("*.mail.partner.test").expect("cert name"));
    partner_cert.ip_ranges.push(cidr("127.0.0.3/32"));
    partner_cert.sender_domains.push(DomainName::parse("d", "partner.test").expect("domain"));
    partner_cert.restrict_sender_domains = true;
    assert!(partner_cert.require_tls, "partner connectors require TLS by default");
    let mut hq = connector("acme", "hq", ConnectorKind::OnPremises);
    hq.ip_ranges.push(cidr("127.0.0.5/32"));
    // In the low-reputation range: a connector overrides the operator's block.
    let mut bank = connector("acme", "bank", ConnectorKind::Partner);
    bank.ip_ranges.push(cidr("203.0.113.20/32"));
    bank.sender_domains.push(DomainName::parse("d", "bank.test").expect("domain"));
    bank.restrict_sender_domains = true;
    bank.require_tls = false;
    let mut globex_hq = connector("globex", "globex-hq", ConnectorKind::OnPremises);
    globex_hq.ip_ranges.push(cidr("127.0.0.6/32"));
    let mut connectors = vec![partner_ip, partner_cert, hq, bank, globex_hq];
    connectors.extend(shared_connectors());

    let reputation = |text: &str, kind| ReputationEntry {
        cidr: cidr(text),
        kind,
        note: "fixture".into(),
        expires_at_unix_s: None,
    };
    let data = DirectoryData {
        generation: 1,
        tenants: vec![
            tenant("acme", TenantStatus::Active),
            tenant("globex", TenantStatus::Suspended),
            tenant("initech", TenantStatus::Active),
            tenant("umbrella", TenantStatus::Active),
        ],
        domains: vec![
            domain("acme.test", "acme", DomainKind::Authoritative, true),
            internal,
            domain("acme-new.test", "acme", DomainKind::Authoritative, false),
            service,
            domain("globex.test", "globex", DomainKind::Authoritative, true),
            globex_service,
            domain("initech.test", "initech", DomainKind::Authoritative, true),
            domain("umbrella.test", "umbrella", DomainKind::Authoritative, true),
        ],
        recipients: vec![
            recipient("acme", "alice@acme.test", &["ali", "sales"]),
            recipient("acme", "bob@acme.test", &[]),
            recipient("acme", "it@acme-internal.test", &[]),
            recipient("globex", "ceo@globex.test", &[]),
            recipient("initech", "dave@initech.test", &["dan"]),
            recipient("initech", "erin@initech.test", &[]),
            recipient("umbrella", "eve@umbrella.test", &["eva", "evie"]),
        ],
        connectors,
        reputation: vec![
            reputation("203.0.113.0/24", ReputationKind::Block),
            reputation("203.0.113.7/32", ReputationKind::Exception),
        ],
        outbound_blocks: Vec::new(),
        outbound_connectors: Vec::new(),
    };
    Snapshot::build(data).expect("fixture directory")
}

/// Connectors several tenants declared for the same clients (initech and umbrella are
/// active tenants beside acme):
/// - 127.0.0.20, a filtering service: acme's partner connector `filter` allows plain text,
///   initech's `filter` requires TLS;
/// - initech's `initech-cert` knows its partner by the certificate mx.initech.test and, from
///   127.0.0.21, requires it;
/// - 127.0.0.30, a hosting provider running acme's and initech's own servers: on-premises
///   connectors `hosted` of both, by IP and by the provider's certificate `*.hosting.test`;
///   acme's also names its own server's certificate relay.acme.test.
fn shared_connectors() -> Vec<Connector> {
    let mut acme_filter = connector("acme", "filter", ConnectorKind::Partner);
    acme_filter.ip_ranges.push(cidr("127.0.0.20/32"));
    acme_filter.require_tls = false;
    let mut initech_filter = connector("initech", "filter", ConnectorKind::Partner);
    initech_filter.ip_ranges.push(cidr("127.0.0.20/32"));
    let mut initech_cert = connector("initech", "initech-cert", ConnectorKind::Partner);
    initech_cert.ip_ranges.push(cidr("127.0.0.21/32"));
    initech_cert.certificate_names.push(CertName::parse("mx.initech.test").expect("cert name"));
    let hosted = |tenant: &str, certs: &[&str]| {
        let mut c = connector(tenant, "hosted", ConnectorKind::OnPremises);
        c.ip_ranges.push(cidr("127.0.0.30/32"));
        c.certificate_names = certs.iter().map(|n| CertName::parse(n).expect("cert name")).collect();
        c
    };
    vec![
        acme_filter,
        initech_filter,
        initech_cert,
        hosted("acme", &["*.hosting.test", "relay.acme.test"]),
        hosted("initech", &["*.hosting.test"]),
    ]
}

/// Small limits, so a transcript reaches each one in a few commands.
fn protection_policy() -> protection::Policy {
    protection::Policy {
        unregistered_sender_messages_per_day: 2,
        service_domain_recipients_per_day: 3,
        sender_recipients_per_hour: 4,
        sender_recipients_per_day: 4,
        ..protection::Policy::default()
    }
}

fn apply_protection(policy: &mut protection::Policy, setting: &str) -> Result<(), String> {
    let (key, value) = setting.split_once('=').ok_or("expected @protection key=value")?;
    let value: u32 = value.parse().map_err(|_| format!("{key}: not a number"))?;
    match key {
        "unregistered_sender_messages_per_day" => policy.unregistered_sender_messages_per_day = value,
        "service_domain_recipients_per_day" => policy.service_domain_recipients_per_day = value,
        "sender_recipients_per_hour" => policy.sender_recipients_per_hour = value,
        "sender_recipients_per_day" => policy.sender_recipients_per_day = value,
        _ => return Err(format!("unknown @protection key {key}")),
    }
    Ok(())
}

/// A newcomer IP may send two recipients at once, then is deferred; the retry hint is
/// pinned by making its bounds equal.
fn throttle_policy(settings: &str) -> Result<throttle::Policy, String> {
    let mut policy = throttle::Policy {
        ip_floor_per_hour: 1.0,
        prefix_floor_per_hour: 1.0,
        burst_minutes: 1.0,
        ip_burst_min: 2.0,
        prefix_burst_min: 2.0,
        retry_after_min_s: 600,
        retry_after_max_s: 600,
        ..throttle::Policy::default()
    };
    for setting in settings.split_whitespace() {
        let (key, value) = setting.split_once('=').ok_or("expected @throttle key=value")?;
        let value: f32 = value.parse().map_err(|_| format!("{key}: not a number"))?;
        match key {
            "ip_burst_min" => policy.ip_burst_min = value,
            "prefix_burst_min" => policy.prefix_burst_min = value,
            _ => return Err(format!("unknown @throttle key {key}")),
        }
    }
    policy.validate().map_err(|e| e.to_string())?;
    Ok(policy)
}

#[derive(Debug)]
struct Header {
    client_ip: IpAddr,
    /// `Some(names)` when STARTTLS may succeed.
    tls: Option<Vec<String>>,
    throttle: Option<throttle::Policy>,
    protection: protection::Policy,
    static_domains: Vec<String>,
}

fn parse_header(line: &str, header: &mut Header) -> Result<bool, String> {
    if let Some(ip) = line.strip_prefix("@client-ip ") {
        header.client_ip = ip.trim().parse().map_err(|_| format!("bad IP {ip}"))?;
    } else if line == "@tls" {
        header.tls = Some(Vec::new());
    } else if let Some(names) = line.strip_prefix("@tls-cert ") {
        header.tls = Some(names.split(',').map(|n| n.trim().to_string()).collect());
    } else if let Some(settings) = line.strip_prefix("@throttle") {
        header.throttle = Some(throttle_policy(settings)?);
    } else if let Some(setting) = line.strip_prefix("@protection ") {
        apply_protection(&mut header.protection, setting.trim())?;
    } else if let Some(domains) = line.strip_prefix("@static-domains") {
        header.static_domains = domains.split_whitespace().map(str::to_string).collect();
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// The time outbound protection sees in every transcript: 2026-01-01 00:02:00 UTC, two
/// minutes into a five-minute bucket, so "frees up in about N minutes" is the same every run.
const CLOCK_UNIX_S: u64 = 1_767_225_720;

/// The session and what the connection around it would do.
struct Runner<'a> {
    session: Session,
    checks: SessionChecks<'a>,
    guard: &'a OutboundGuard,
    directory: &'a Snapshot,
    tls: Option<Vec<String>>,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Content pieces of the transfer under way.
    content: Vec<u8>,
    closed: bool,
    messages: Vec<Option<Attribution>>,
    /// With `BLESS_TRANSCRIPTS=1`: blocks of expected lines (their line numbers, or the line
    /// to insert before) to replace with what the server said.
    blessings: Option<Vec<Blessing>>,
}

/// Expected lines to replace (their line numbers, or the line to insert before) and what
/// the server said instead.
type Blessing = (Vec<usize>, usize, Vec<String>);

impl Runner<'_> {
    fn run_until_input(&mut self) -> Result<(), String> {
        while !self.closed {
            let step = self.session.step(&self.input, &self.checks);
            self.input.drain(..step.consumed);
            match step.action {
                Action::Reply(r) => r.write_to(&mut self.output),
                Action::NeedInput => break,
                Action::StartTls(r) => {
                    r.write_to(&mut self.output);
                    self.input.clear();
                    let names = self.tls.clone().ok_or("STARTTLS without @tls or @tls-cert")?;
                    self.checks.tls_established(&mut self.session, "TLSv1.3 with cipher TEST".into(), names);
                }
                Action::StartData(_) => self.session.data_admitted(Ok(())).write_to(&mut self.output),
                Action::Content(piece) => self.content.extend(piece),
                Action::DataRefused(r) => {
                    self.content.clear();
                    r.write_to(&mut self.output);
                }
                Action::Message(mut message) => {
                    // As the connection does: the transaction's attribution, and an outbound
                    // message, once stored, counted by the outbound guard.
                    message.envelope.client.attribution = self.checks.attribution();
                    let mut content = std::mem::take(&mut self.content);
                    content.extend(message.content);
                    let outbound = self.guard.assess(
                        self.directory,
                        self.checks.static_domains,
                        &message.envelope,
                        &content,
                        None,
                    );
                    if let Some(outbound) = outbound {
                        self.guard.message_queued(outbound);
                    }
                    self.messages.push(message.envelope.client.attribution);
                    let id = format!("{:016x}", self.messages.len());
                    self.session.message_stored(Ok(id)).write_to(&mut self.output);
                }
                Action::Close(r) => {
                    r.write_to(&mut self.output);
                    self.output.extend_from_slice(b"[closed]\r\n");
                    self.closed = true;
                }
            }
        }
        Ok(())
    }

    fn take_output_lines(&mut self) -> Vec<String> {
        let text = String::from_utf8_lossy(&std::mem::take(&mut self.output)).into_owned();
        text.split("\r\n").filter(|l| !l.is_empty()).map(str::to_string).collect()
    }

    /// Compares the output so far with the expected lines (1-based line numbers); `at` is the
    /// line being read, named when output came that no line expected.
    fn check(&mut self, file: &str, at: usize, expected: &mut Vec<(usize, String)>) -> Result<(), String> {
        let got = self.take_output_lines();
        let want = std::mem::take(expected);
        if let Some(blessings) = &mut self.blessings {
            if want.iter().map(|(_, w)| w).ne(got.iter()) {
                blessings.push((want.iter().map(|(n, _)| *n).collect(), at, got));
            }
            return Ok(());
        }
        for i in 0..want.len().max(got.len()) {
            let (w, g) = (want.get(i), got.get(i));
            let same = matches!((w, g), (Some((_, w)), Some(g)) if w == g);
            if !same {
                let line = w.or(want.last()).map_or(at, |(n, _)| *n);
                let show = |s: Option<&String>| s.map_or("(nothing)".to_string(), |s| format!("S: {s}"));
                return Err(format!(
                    "{file}:{line}: server output differs\n  expected: {}\n       got: {}\n  whole block expected:\n{}\n  whole block got:\n{}",
                    show(w.map(|(_, w)| w)),
                    show(g),
                    want.iter().map(|(_, l)| format!("    S: {l}")).collect::<Vec<_>>().join("\n"),
                    got.iter().map(|l| format!("    S: {l}")).collect::<Vec<_>>().join("\n"),
                ));
            }
        }
        Ok(())
    }

    fn expect_attribution(&self, file: &str, line: usize, want: &str) -> Result<(), String> {
        let last = self.messages.last().ok_or_else(|| format!("{file}:{line}: no message stored yet"))?;
        let got = match last {
            None => "none".to_string(),
            Some(a) => {
                let relay = if a.outbound_relay { " outbound-relay" } else { "" };
                format!("{}/{}{relay}", a.tenant, a.connector)
            }
        };
        match got == want.trim() {
            true => Ok(()),
            false => Err(format!("{file}:{line}: attribution\n  expected: {want}\n       got: {got}")),
        }
    }
}

fn run_transcript(path: &Path, directory: &Snapshot) -> Result<(), String> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{file}: {e}"))?;
    if !text.starts_with('#') {
        return Err(format!("{file}:1: must open with a comment saying what it proves"));
    }
    let mut header = Header {
        client_ip: DEFAULT_CLIENT_IP.parse().expect("default IP"),
        tls: None,
        throttle: None,
        protection: protection_policy(),
        static_domains: vec!["example.test".into()],
    };
    let mut lines = text.lines().enumerate().peekable();
    while let Some((n, line)) = lines.peek() {
        let known = parse_header(line, &mut header).map_err(|e| format!("{file}:{}: {e}", n + 1))?;
        if !(known || line.starts_with('#') || line.trim().is_empty()) {
            break;
        }
        lines.next();
    }
    let relay = StaticDomains::new(&header.static_domains);
    let throttling = header
        .throttle
        .map(|p| Throttling::new(Arc::new(throttle::Engine::new(p)), Vec::new(), Default::default()));
    let protection = protection::Protection::new(header.protection, Box::new(protection::HeuristicScorer));
    let guard = OutboundGuard::with_clock(protection, || CLOCK_UNIX_S);
    let config = SessionConfig { hostname: "mx.sluice.test".into(), ..SessionConfig::default() };
    let mut runner = Runner {
        session: Session::new(Arc::new(config), header.client_ip),
        checks: SessionChecks::new(
            &relay,
            Some(directory),
            throttling.as_ref(),
            Some(&guard.protection),
            header.client_ip,
        )
        .with_clock(|| CLOCK_UNIX_S)
        .with_help("https://mx.sluice.test"),
        guard: &guard,
        directory,
        tls: header.tls,
        input: Vec::new(),
        output: Vec::new(),
        content: Vec::new(),
        closed: false,
        messages: Vec::new(),
        blessings: std::env::var_os("BLESS_TRANSCRIPTS").map(|_| Vec::new()),
    };
    runner.session.greeting().write_to(&mut runner.output);
    let mut expected: Vec<(usize, String)> = Vec::new();
    let (mut pending, mut server_lines) = (false, 0);
    for (n, line) in lines {
        let n = n + 1;
        let client = match (line.strip_prefix("C: "), line.strip_prefix("C~ ")) {
            (Some(c), _) => Some(unescape(c).map(|mut b| {
                b.extend_from_slice(b"\r\n");
                b
            })),
            (None, Some(raw)) => Some(unescape(raw)),
            (None, None) => None,
        };
        if let Some(bytes) = client {
            runner.check(&file, n, &mut expected)?;
            if runner.closed {
                return Err(format!("{file}:{n}: client line after close"));
            }
            runner.input.extend_from_slice(&bytes.map_err(|e| format!("{file}:{n}: {e}"))?);
            pending = true;
        } else if let Some(server) = line.strip_prefix("S: ") {
            if std::mem::take(&mut pending) {
                runner.run_until_input().map_err(|e| format!("{file}:{n}: {e}"))?;
            }
            expected.push((n, server.to_string()));
            server_lines += 1;
        } else if let Some(count) = line.strip_prefix("@expect-messages ") {
            if std::mem::take(&mut pending) {
                runner.run_until_input().map_err(|e| format!("{file}:{n}: {e}"))?;
            }
            runner.check(&file, n, &mut expected)?;
            let want: usize = count.trim().parse().map_err(|_| format!("{file}:{n}: bad count"))?;
            if runner.messages.len() != want {
                return Err(format!(
                    "{file}:{n}: messages stored\n  expected: {want}\n       got: {}",
                    runner.messages.len()
                ));
            }
        } else if let Some(want) = line.strip_prefix("@expect-attribution ") {
            if std::mem::take(&mut pending) {
                runner.run_until_input().map_err(|e| format!("{file}:{n}: {e}"))?;
            }
            runner.check(&file, n, &mut expected)?;
            runner.expect_attribution(&file, n, want)?;
        } else if !(line.starts_with('#') || line.trim().is_empty()) {
            return Err(format!(
                "{file}:{n}: unknown line {line:?} (header directives go before the first C:/S:)"
            ));
        }
    }
    if pending {
        runner.run_until_input().map_err(|e| format!("{file}: {e}"))?;
    }
    runner.check(&file, text.lines().count() + 1, &mut expected)?;
    if let Some(blessings) = runner.blessings.take() {
        bless(path, &text, blessings)?;
    }
    if server_lines == 0 {
        return Err(format!("{file}: no S: lines, so nothing was checked"));
    }
    Ok(())
}

/// Rewrites a transcript's expected blocks with what the server said (`BLESS_TRANSCRIPTS=1`,
/// for a deliberate change of reply texts: review the diff before committing it).
fn bless(path: &Path, text: &str, blessings: Vec<Blessing>) -> Result<(), String> {
    let mut lines: Vec<Option<String>> = text.lines().map(|l| Some(l.to_string())).collect();
    let mut inserts: Vec<(usize, Vec<String>)> = Vec::new();
    for (numbers, at, got) in blessings {
        let got: Vec<String> = got.iter().map(|g| format!("S: {g}")).collect();
        match numbers.first() {
            Some(&first) => {
                for n in &numbers {
                    lines[n - 1] = None;
                }
                inserts.push((first - 1, got));
            }
            None => inserts.push((at - 1, got)),
        }
    }
    let mut out: Vec<String> = Vec::new();
    for (i, line) in lines.into_iter().enumerate() {
        for (_, block) in inserts.iter().filter(|(at, _)| *at == i) {
            out.extend(block.iter().cloned());
        }
        out.extend(line);
    }
    let count = text.lines().count();
    for (_, block) in inserts.iter().filter(|(at, _)| *at >= count) {
        out.extend(block.iter().cloned());
    }
    std::fs::write(path, out.join("\n") + "\n").map_err(|e| format!("{}: {e}", path.display()))
}

fn transcript_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/session_transcripts")
}

/// Every file of the folder is a transcript and every transcript runs; all failures are
/// reported together.
#[test]
fn session_transcripts() {
    let directory = directory();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(transcript_dir())
        .expect("tests/session_transcripts")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    let strays: Vec<_> = paths.iter().filter(|p| p.extension().is_none_or(|e| e != "txt")).collect();
    assert!(strays.is_empty(), "files that would not run (only *.txt do): {strays:?}");
    let mut ran = 0;
    let mut failures = Vec::new();
    for path in &paths {
        if let Err(e) = run_transcript(path, &directory) {
            failures.push(e);
        }
        ran += 1;
    }
    assert_eq!(ran, paths.len(), "every transcript ran");
    assert!(ran >= 20, "transcripts missing: only {ran} found");
    assert!(
        failures.is_empty(),
        "{} of {ran} transcripts failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The runner itself: a wrong expected line fails with the file, line and both texts.
#[test]
fn a_mismatch_names_file_line_expected_and_got() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broken.txt");
    std::fs::write(
        &path,
        "# broken on purpose\nS: 220 mx.sluice.test ESMTP Sluice\nC: QUIT\nS: 221 2.0.0 Bye bye\n",
    )
    .expect("write");
    let err = run_transcript(&path, &directory()).expect_err("a wrong line must fail");
    assert!(err.contains("broken.txt:4: server output differs"), "{err}");
    assert!(err.contains("expected: S: 221 2.0.0 Bye bye"), "{err}");
    assert!(err.contains("got: S: 221 2.0.0 Bye"), "{err}");
}
