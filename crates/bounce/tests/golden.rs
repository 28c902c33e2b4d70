//! Golden bounces: each kind of notification the queue manager sends, in English and
//! French, built with the constructors the queue manager uses (`RecipientReport::failed`,
//! `expired`, `delayed`, `delivered`, remote replies parsed from the wire) and compared
//! byte for byte with `tests/golden/<kind>.<lang>.eml` (rewrite them with
//! `UPDATE_GOLDEN=1`). Then read back by independent parsers: mail-parser (RFC 3464 / RFC
//! 6522 structure), Sisimai (the reference bounce classifier: reason, status, diagnostic
//! type), Python's `email` package and flufl.bounce; and the human text of key cases is
//! compared with hand-written expectations in `tests/pinned/`, which no update rewrites.

mod common;

use bounce::{Diagnosis, LocalProblem, ProblemKind, RecipientReport, SmtpStage};
use common::*;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use smtp_wire::{EnhancedCode, Envelope, Notify, Ret};
use std::path::{Path, PathBuf};
use std::process::Command;

const MX: &str = "mx.example.com";

struct Case {
    name: &'static str,
    envelope: Envelope,
    report: RecipientReport,
    arrival_unix_s: u64,
    /// The help page the human part must link to (none for a delivery).
    help: &'static str,
    /// What Sisimai must make of it: reason, status, diagnostic type.
    sisimai: (&'static str, &'static str, &'static str),
}

fn case(
    name: &'static str,
    report: RecipientReport,
    help: &'static str,
    sisimai: (&'static str, &'static str, &'static str),
) -> Case {
    Case {
        name,
        envelope: envelope(vec![recipient("bob", None)]),
        report,
        arrival_unix_s: NOW - 2 * HOUR,
        help,
        sisimai,
    }
}

fn paused_until(until: u64) -> Diagnosis {
    let kind = ProblemKind::DestinationPaused { until_unix_s: until };
    Diagnosis::Local(LocalProblem::new(kind, format!("delivery to example.com paused until {until}")))
}

fn cases() -> Vec<Case> {
    let throttled = reply(
        MX,
        SmtpStage::RcptTo,
        "451 4.7.501 Deferred: new sender over probation allowance from [198.51.100.7]. (AS501) Try again in 10 minutes",
    );
    let mut expired_as501 = case(
        "expired-AS501",
        RecipientReport::expired(0, paused_until(NOW + 600), Some(throttled), NOW),
        "AS501",
        ("expired", "4.4.7", "SMTP"),
    );
    expired_as501.arrival_unix_s = NOW - 5 * 24 * HOUR;
    let refused = Diagnosis::Local(LocalProblem::new(
        ProblemKind::ConnectionRefused,
        "cannot connect to 192.0.2.25:25: Connection refused (os error 111)",
    ));
    let mut expired_refused = case(
        "expired-connection-refused",
        RecipientReport::expired(0, refused.clone(), None, NOW),
        "4.4.7",
        ("expired", "4.4.7", "X-SLUICE"),
    );
    expired_refused.arrival_unix_s = NOW - 5 * 24 * HOUR;
    let busy = reply(MX, SmtpStage::RcptTo, "450 4.2.1 Mailbox temporarily unavailable, try again later");
    let delayed = case(
        "delayed-4.2.1",
        RecipientReport::delayed(0, busy.status, Diagnosis::Reply(busy), None, NOW, NOW + 3 * 24 * HOUR),
        "4.0.0",
        ("suspend", "4.2.1", "SMTP"),
    );
    let delayed_refused = case(
        "delayed-connection-refused",
        RecipientReport::delayed(0, EnhancedCode::new(4, 4, 1), refused, None, NOW, NOW + 3 * 24 * HOUR),
        "4.4.1",
        ("expired", "4.4.1", "X-SLUICE"),
    );
    let mut ret_full = case(
        "failed-5.2.2-ret-full",
        failed_by(0, MX, SmtpStage::RcptTo, "552 5.2.2 <bob@example.com>: Mailbox full"),
        "5.2.2",
        ("mailboxfull", "5.2.2", "SMTP"),
    );
    ret_full.envelope = with_ret_envid(
        envelope(vec![with_orcpt(recipient(
            "bob",
            Some(Notify::On { success: false, failure: true, delay: false }),
        ))]),
        Ret::Full,
        "QQ314159",
    );
    let mut delivered = case(
        "delivered-notify-success",
        RecipientReport::delivered(0, NOW),
        "",
        ("delivered", "2.0.0", "SMTP"),
    );
    delivered.envelope =
        envelope(vec![recipient("bob", Some(Notify::On { success: true, failure: true, delay: true }))]);
    // Remote refusals: (name, stage, reply, help page, Sisimai's reason).
    const REFUSALS: &[(&str, SmtpStage, &str, &str, &str)] = &[
        (
            "failed-5.1.1-unknown-user",
            SmtpStage::RcptTo,
            "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown",
            "5.1.1",
            "userunknown",
        ),
        (
            "failed-5.7.1-relay",
            SmtpStage::RcptTo,
            "554 5.7.1 <bob@example.com>: Relay access denied",
            "5.7.1",
            "norelaying",
        ),
        (
            "failed-dmarc",
            SmtpStage::EndOfData,
            "550 5.7.1 Unauthenticated email from example.org is not accepted due to domain's DMARC policy",
            "auth-failed",
            "policyviolation",
        ),
        (
            "failed-spam",
            SmtpStage::EndOfData,
            "554 5.7.1 Message rejected as spam by content filtering",
            "spam",
            "spamdetected",
        ),
        (
            "failed-blocklist",
            SmtpStage::RcptTo,
            "554 5.7.1 Service unavailable; Client host [198.51.100.7] blocked using zen.spamhaus.org",
            "blocklisted",
            "blocked",
        ),
        (
            "failed-5.7.750-unregistered-domain",
            SmtpStage::RcptTo,
            "550 5.7.750 Sender domain example.org is not verified for tenant acme and its allowance is used up",
            "5.7.750",
            "securityerror",
        ),
        (
            "failed-5.3.4-too-big",
            SmtpStage::EndOfData,
            "552 5.3.4 Message size exceeds fixed limit",
            "5.3.4",
            "mesgtoobig",
        ),
    ];
    let mut cases: Vec<Case> = REFUSALS
        .iter()
        .map(|&(name, stage, text, help, reason)| {
            let status = text.split(' ').nth(1).expect("an enhanced code");
            case(name, failed_by(0, MX, stage, text), help, (reason, status, "SMTP"))
        })
        .collect();
    let null_mx = failed_locally(
        0,
        (5, 1, 10),
        ProblemKind::NullMx,
        "example.com does not accept mail (null MX, RFC 7505)",
    );
    cases.push(case("failed-5.1.10-null-mx", null_mx, "5.1.10", ("notaccept", "5.1.10", "X-SLUICE")));
    cases.extend([expired_as501, expired_refused, delayed, delayed_refused, ret_full, delivered]);
    cases
}

fn render_case(case: &Case, lang: &str) -> Vec<u8> {
    let original = original(lang, "");
    let reports = [case.report.clone()];
    let mut req = request(&case.envelope, &original, &reports);
    req.arrival_unix_s = case.arrival_unix_s;
    message(&req)
}

fn golden_path(name: &str, lang: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.{lang}.eml"))
}

fn all_golden_files() -> Vec<(Case, &'static str, PathBuf)> {
    let mut files = Vec::new();
    for case in cases() {
        for lang in ["en", "fr"] {
            let path = golden_path(case.name, lang);
            files.push((case_clone(&case), lang, path));
        }
    }
    files
}

fn case_clone(case: &Case) -> Case {
    Case {
        name: case.name,
        envelope: case.envelope.clone(),
        report: case.report.clone(),
        arrival_unix_s: case.arrival_unix_s,
        help: case.help,
        sisimai: case.sisimai,
    }
}

#[test]
fn bounces_match_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut mismatches = Vec::new();
    for (case, lang, path) in all_golden_files() {
        let rendered = render_case(&case, lang);
        if update {
            std::fs::write(&path, &rendered).expect("write golden file");
            continue;
        }
        let expected = std::fs::read(&path).unwrap_or_default();
        if expected != rendered {
            let line = expected
                .split(|b| *b == b'\n')
                .zip(rendered.split(|b| *b == b'\n'))
                .position(|(a, b)| a != b);
            mismatches.push(format!("{} (first differing line: {line:?})", path.display()));
        }
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let expected: Vec<PathBuf> = all_golden_files().into_iter().map(|(_, _, p)| p).collect();
    for entry in std::fs::read_dir(&dir).expect("tests/golden") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "eml") && !expected.contains(&path) {
            mismatches.push(format!("{} is no case's golden file: remove it", path.display()));
        }
    }
    assert!(
        mismatches.is_empty(),
        "differ from golden files (UPDATE_GOLDEN=1 rewrites them):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn every_line_ends_in_crlf_and_fits_smtp() {
    for (case, lang, _) in all_golden_files() {
        let bytes = render_case(&case, lang);
        assert!(bytes.ends_with(b"\r\n"), "{}", case.name);
        for line in bytes.split(|b| *b == b'\n') {
            assert!(line.len() < 998, "{}: long line", case.name);
            assert!(!line.contains(&b'\r') || line.ends_with(b"\r"), "{}: bare CR", case.name);
        }
        assert!(bytes.windows(2).filter(|w| w[1] == b'\n').all(|w| w[0] == b'\r'), "{}: bare LF", case.name);
    }
}

/// The delivery-status fields as `(name, value)` pairs, unfolded, one group per block.
fn status_groups(text: &str) -> Vec<Vec<(String, String)>> {
    let unfolded = text.replace("\r\n ", " ");
    unfolded
        .split("\r\n\r\n")
        .filter(|group| !group.trim().is_empty())
        .map(|group| {
            group
                .lines()
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.to_owned(), value.trim().to_owned()))
                .collect()
        })
        .collect()
}

fn get<'a>(group: &'a [(String, String)], name: &str) -> Option<&'a str> {
    group.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

#[test]
fn bounces_parse_back_as_rfc3464_reports() {
    for (case, lang, _) in all_golden_files() {
        let bytes = render_case(&case, lang);
        check_structure(&case, lang, &bytes);
    }
}

fn check_structure(case: &Case, lang: &str, bytes: &[u8]) {
    let name = format!("{}.{lang}", case.name);
    let message = MessageParser::default().parse(bytes).expect("parses");
    let ct = message.content_type().expect("content type");
    assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")), "{name}");
    assert_eq!(ct.attribute("report-type"), Some("delivery-status"), "{name}");
    assert_eq!(message.header_raw("Auto-Submitted").map(str::trim), Some("auto-replied"), "{name}");
    assert_eq!(message.header_raw("Content-Language").map(str::trim), Some(lang), "{name}");
    let from = message.from().and_then(|f| f.first()).and_then(|a| a.address()).expect("From");
    assert_eq!(from, format!("MAILER-DAEMON@{REPORTING_MTA}"), "{name}");
    let to = message.to().and_then(|t| t.first()).and_then(|a| a.address()).expect("To");
    assert_eq!(to, "alice@example.org", "{name}");
    let subject = message.subject().expect("Subject");
    let original_subject = if lang == "fr" { "Rapport trimestriel été" } else { "Quarterly report" };
    assert!(subject.ends_with(original_subject), "{name}: {subject}");

    let PartType::Multipart(children) = &message.parts[0].body else { panic!("{name}: root not multipart") };
    assert_eq!(children.len(), 3, "{name}");
    let part = |i: usize| message.part(children[i]).expect("part");
    let types: Vec<String> = (0..3)
        .map(|i| {
            part(i)
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
                .unwrap_or_default()
        })
        .collect();
    // The French original has a UTF-8 subject: its headers are RFC 6533 global headers.
    let third = match (case.envelope.ret == Some(Ret::Full), lang) {
        (true, "fr") => "message/global",
        (true, _) => "message/rfc822",
        (false, "fr") => "message/global-headers",
        (false, _) => "text/rfc822-headers",
    };
    assert_eq!(types, ["multipart/alternative", "message/delivery-status", third], "{name}");

    let text = message.body_text(0).expect("text part");
    let html = message.body_html(0).expect("html part");
    assert!(text.lines().next().is_some_and(|first| first.contains("bob@example.com")), "{name}: {text}");
    assert!(html.contains("<!DOCTYPE html>"), "{name}");
    if !case.help.is_empty() {
        let link = format!("{ADMIN}/help/{}", case.help);
        assert!(text.contains(&link) && html.contains(&link), "{name}: no link to {link}");
        let help = bounce::help(case.help, bounce::Lang::from_tag(lang).expect("lang")).expect("help");
        assert!(text.contains(&help.sender) && text.contains(&help.admin), "{name}: help text missing");
    }
    check_delivery_status(case, &name, part(1).contents());
    let original = String::from_utf8_lossy(part(2).contents());
    assert!(original.contains("Message-ID: <q3-report@example.org>"), "{name}");
    assert_eq!(
        original.contains("here is the report") || original.contains("voici le rapport"),
        third.starts_with("message/rfc822") || third == "message/global",
        "{name}"
    );
}

fn check_delivery_status(case: &Case, name: &str, contents: &[u8]) {
    let groups = status_groups(std::str::from_utf8(contents).expect("ascii report"));
    assert_eq!(groups.len(), 2, "{name}: one per-message and one per-recipient group");
    let (message_fields, rcpt) = (&groups[0], &groups[1]);
    assert_eq!(
        get(message_fields, "Reporting-MTA"),
        Some(format!("dns; {REPORTING_MTA}").as_str()),
        "{name}"
    );
    assert_eq!(
        get(message_fields, "Received-From-MTA"),
        Some("dns; client.example.org ([192.0.2.10])"),
        "{name}"
    );
    assert_eq!(get(message_fields, "X-Sluice-Queue-ID"), Some("00000000000000a1"), "{name}");
    assert!(get(message_fields, "Arrival-Date").is_some(), "{name}");
    assert_eq!(get(message_fields, "Original-Envelope-Id"), case.envelope.envid.as_deref(), "{name}");
    assert_eq!(get(rcpt, "Final-Recipient"), Some("rfc822; bob@example.com"), "{name}");
    let orcpt = case.envelope.recipients[0].orcpt.as_ref().map(|o| format!("{}; {}", o.addr_type, o.address));
    assert_eq!(get(rcpt, "Original-Recipient"), orcpt.as_deref(), "{name}");
    let action = format!("{:?}", case.report.action()).to_lowercase();
    assert_eq!(get(rcpt, "Action"), Some(action.as_str()), "{name}");
    assert_eq!(get(rcpt, "Status"), Some(case.report.status().to_string().as_str()), "{name}");
    // `smtp;` only for a remote reply, with its server; Sluice's own findings are X-Sluice.
    let diagnostic = match (case.report.reply(), case.report.problem()) {
        (Some(reply), _) => Some(format!("smtp; {}", reply.text)),
        (None, Some(problem)) => Some(format!("X-Sluice; {}", problem.detail)),
        (None, None) => None,
    };
    assert_eq!(get(rcpt, "Diagnostic-Code"), diagnostic.as_deref(), "{name}");
    let remote = case.report.reply().map(|r| format!("dns; {}", r.mta));
    assert_eq!(get(rcpt, "Remote-MTA"), remote.as_deref(), "{name}");
    assert!(get(rcpt, "Last-Attempt-Date").is_some(), "{name}");
    assert_eq!(
        get(rcpt, "Will-Retry-Until").is_some(),
        case.report.action() == bounce::Action::Delayed,
        "{name}"
    );
}

fn run_json(program: &str, script: &Path, files: &[PathBuf]) -> Vec<serde_json::Value> {
    let output =
        Command::new(program).arg(script).args(files).output().unwrap_or_else(|e| {
            panic!("{program} {}: {e} (run scripts/install-test-deps.sh)", script.display())
        });
    assert!(output.status.success(), "{}: {}", script.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON value per line"))
        .collect()
}

/// Sisimai classifies every golden bounce as the case says: no "onhold" (its word for
/// "cannot tell"), an expiry as "expired", and `X-Sluice` only for Sluice's own findings.
#[test]
fn sisimai_reads_every_golden_bounce_as_intended() {
    let files = all_golden_files();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parsers/sisimai_check.pl");
    let paths: Vec<PathBuf> = files.iter().map(|(_, _, p)| p.clone()).collect();
    let results = run_json("perl", &script, &paths);
    assert_eq!(results.len(), files.len());
    for ((case, lang, _), value) in files.iter().zip(&results) {
        let found = &value["results"];
        assert_eq!(found.as_array().map(Vec::len), Some(1), "{}.{lang}: {value}", case.name);
        let r = &found[0];
        let (reason, status, diagnostic_type) = case.sisimai;
        assert_eq!(r["recipient"], "bob@example.com", "{}.{lang}: {r}", case.name);
        assert_eq!(r["reason"], reason, "{}.{lang}: {r}", case.name);
        assert_eq!(r["status"], status, "{}.{lang}: {r}", case.name);
        assert_eq!(r["diagnostic_type"], diagnostic_type, "{}.{lang}: {r}", case.name);
    }
}

/// Python's `email` finds no defect and reads every text part's charset; flufl.bounce
/// (GNU Mailman's detector) sees failures, expiries included, as permanent and delays as
/// temporary.
#[test]
fn python_email_and_flufl_bounce_read_every_golden_bounce() {
    let files = all_golden_files();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sluice/tests/it/py/dsn_check.py");
    let paths: Vec<PathBuf> = files.iter().map(|(_, _, p)| p.clone()).collect();
    let results = run_json("python3", &script, &paths);
    for ((case, lang, _), value) in files.iter().zip(&results) {
        let name = format!("{}.{lang}", case.name);
        assert_eq!(value["defects"], serde_json::json!([]), "{name}: {value}");
        assert_eq!(value["text_charsets"], serde_json::json!(["utf-8", "utf-8"]), "{name}: {value}");
        // flufl.bounce prefers the original recipient (ORCPT) when the report names one.
        let address = match &case.envelope.recipients[0].orcpt {
            Some(orcpt) => orcpt.address.clone(),
            None => "bob@example.com".to_owned(),
        };
        let (permanent, temporary) = match case.report.action() {
            bounce::Action::Failed => (serde_json::json!([address]), serde_json::json!([])),
            bounce::Action::Delayed => (serde_json::json!([]), serde_json::json!([address])),
            _ => (serde_json::json!([]), serde_json::json!([])),
        };
        assert_eq!(value["permanent"], permanent, "{name}: {value}");
        assert_eq!(value["temporary"], temporary, "{name}: {value}");
    }
}

/// The human text of key cases, written by hand in `tests/pinned/` (never regenerated):
/// the code must say exactly this.
#[test]
fn key_cases_say_exactly_the_pinned_texts() {
    let pinned = [
        "failed-5.1.1-unknown-user",
        "failed-5.7.750-unregistered-domain",
        "expired-connection-refused",
        "expired-AS501",
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pinned");
    let mut differences = Vec::new();
    for (case, lang, _) in all_golden_files().into_iter().filter(|(c, _, _)| pinned.contains(&c.name)) {
        let bytes = render_case(&case, lang);
        let message = MessageParser::default().parse(&bytes).expect("parses");
        let text = message.body_text(0).expect("text part").replace("\r\n", "\n");
        let path = dir.join(format!("{}.{lang}.txt", case.name));
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if text.trim_end() != expected.trim_end() {
            differences.push(format!("{}:\n--- pinned\n{expected}\n--- rendered\n{text}", path.display()));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
