//! Golden bounces: every kind of notification, in English and French, compared byte for
//! byte with `tests/golden/<kind>.<lang>.eml` (rewrite them with `UPDATE_GOLDEN=1`), then
//! parsed back with mail-parser to check the RFC 3464 / RFC 6522 structure.

mod common;

use bounce::{Action, RecipientOutcome, render};
use common::*;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use smtp_wire::{Envelope, Notify, Ret};
use std::path::PathBuf;

struct Case {
    name: &'static str,
    envelope: Envelope,
    outcome: RecipientOutcome,
    arrival_unix_s: u64,
    /// The help page the human part must link to.
    help: &'static str,
}

fn case(name: &'static str, outcome: RecipientOutcome, help: &'static str) -> Case {
    Case {
        name,
        envelope: envelope(vec![recipient("bob", None)]),
        outcome,
        arrival_unix_s: NOW - 2 * HOUR,
        help,
    }
}

fn cases() -> Vec<Case> {
    let mx = "mx.example.com";
    let failed = |status| outcome(0, Action::Failed, status);
    let mut expired = case(
        "failed-AS501-expired",
        remote(
            failed((4, 7, 501)),
            mx,
            "451 4.7.501 Deferred: new sender over probation allowance from [198.51.100.7]. (AS501) Try again in 10 minutes",
        ),
        "AS501",
    );
    expired.arrival_unix_s = NOW - 5 * 24 * HOUR;
    let mut delayed = outcome(0, Action::Delayed, (4, 2, 1));
    delayed.will_retry_until_unix_s = Some(NOW + 3 * 24 * HOUR);
    let mut ret_full = case(
        "failed-5.2.2-ret-full",
        remote(failed((5, 2, 2)), mx, "552 5.2.2 <bob@example.com>: mailbox full"),
        "5.2.2",
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
        remote(outcome(0, Action::Delivered, (2, 0, 0)), mx, "250 2.0.0 Ok: queued as 4XYZ"),
        "",
    );
    delivered.envelope =
        envelope(vec![recipient("bob", Some(Notify::On { success: true, failure: true, delay: true }))]);
    vec![
        case(
            "failed-5.1.1-unknown-user",
            remote(
                failed((5, 1, 1)),
                mx,
                "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown",
            ),
            "5.1.1",
        ),
        case("failed-5.7.1-relay", remote(failed((5, 7, 1)), mx, "550 5.7.1 Relaying denied"), "5.7.1"),
        case("failed-5.7.705-tenant-threshold", failed((5, 7, 705)), "5.7.705"),
        case(
            "failed-5.7.708-low-reputation-ip",
            remote(
                failed((5, 7, 708)),
                mx,
                "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP",
            ),
            "5.7.708",
        ),
        case("failed-5.7.750-unregistered-domain", failed((5, 7, 750)), "5.7.750"),
        expired,
        case(
            "failed-5.3.4-too-big",
            remote(failed((5, 3, 4)), mx, "552 5.3.4 Message size exceeds fixed limit"),
            "5.3.4",
        ),
        case(
            "delayed-4.2.1",
            remote(delayed, mx, "450 4.2.1 Mailbox temporarily unavailable, try again later"),
            "4.0.0",
        ),
        ret_full,
        delivered,
    ]
}

fn render_case(case: &Case, lang: &str) -> Vec<u8> {
    let original = original(lang, "");
    let outcomes = [case.outcome.clone()];
    let mut req = request(&case.envelope, &original, &outcomes);
    req.arrival_unix_s = case.arrival_unix_s;
    render(&req).expect("renders").expect("a notification is due")
}

fn golden_path(name: &str, lang: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.{lang}.eml"))
}

#[test]
fn bounces_match_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut mismatches = Vec::new();
    for case in cases() {
        for lang in ["en", "fr"] {
            let rendered = render_case(&case, lang);
            let path = golden_path(case.name, lang);
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
    }
    assert!(
        mismatches.is_empty(),
        "differ from golden files (UPDATE_GOLDEN=1 rewrites them):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn every_line_ends_in_crlf_and_fits_smtp() {
    for case in cases() {
        for lang in ["en", "fr"] {
            let bytes = render_case(&case, lang);
            assert!(bytes.ends_with(b"\r\n"), "{}", case.name);
            for line in bytes.split(|b| *b == b'\n') {
                assert!(line.len() < 998, "{}: long line", case.name);
                assert!(!line.contains(&b'\r') || line.ends_with(b"\r"), "{}: bare CR", case.name);
            }
            assert!(
                bytes.windows(2).filter(|w| w[1] == b'\n').all(|w| w[0] == b'\r'),
                "{}: bare LF",
                case.name
            );
        }
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
    for case in cases() {
        for lang in ["en", "fr"] {
            let bytes = render_case(&case, lang);
            check_structure(&case, lang, &bytes);
        }
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
    let third = if case.envelope.ret == Some(Ret::Full) { "message/rfc822" } else { "text/rfc822-headers" };
    assert_eq!(types, ["multipart/alternative", "message/delivery-status", third], "{name}");

    let text = message.body_text(0).expect("text part");
    let html = message.body_html(0).expect("html part");
    assert!(text.contains("bob@example.com"), "{name}");
    assert!(html.contains("<!DOCTYPE html>"), "{name}");
    if !case.help.is_empty() {
        let link = format!("{ADMIN}/help/{}", case.help);
        assert!(text.contains(&link) && html.contains(&link), "{name}: no link to {link}");
        let help = bounce::help(case.help, bounce::Lang::from_tag(lang).expect("lang")).expect("help");
        assert!(text.contains(&help.sender) && text.contains(&help.admin), "{name}: help text missing");
    }
    check_delivery_status(case, &name, part(1).contents());
    let original = std::str::from_utf8(part(2).contents()).expect("utf-8 original");
    assert!(original.contains("Message-ID: <q3-report@example.org>"), "{name}");
    assert_eq!(
        original.contains("here is the report") || original.contains("voici le rapport"),
        third == "message/rfc822",
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
    assert!(get(message_fields, "Arrival-Date").is_some(), "{name}");
    assert_eq!(get(message_fields, "Original-Envelope-Id"), case.envelope.envid.as_deref(), "{name}");
    assert_eq!(get(rcpt, "Final-Recipient"), Some("rfc822; bob@example.com"), "{name}");
    let orcpt = case.envelope.recipients[0].orcpt.as_ref().map(|o| format!("{}; {}", o.addr_type, o.address));
    assert_eq!(get(rcpt, "Original-Recipient"), orcpt.as_deref(), "{name}");
    let action = format!("{:?}", case.outcome.action).to_lowercase();
    assert_eq!(get(rcpt, "Action"), Some(action.as_str()), "{name}");
    assert_eq!(get(rcpt, "Status"), Some(case.outcome.status.to_string().as_str()), "{name}");
    let diagnostic = case.outcome.diagnostic.as_ref().map(|d| format!("smtp; {d}"));
    assert_eq!(get(rcpt, "Diagnostic-Code"), diagnostic.as_deref(), "{name}");
    let remote = case.outcome.remote_mta.as_ref().map(|m| format!("dns; {m}"));
    assert_eq!(get(rcpt, "Remote-MTA"), remote.as_deref(), "{name}");
    assert!(get(rcpt, "Last-Attempt-Date").is_some(), "{name}");
    assert_eq!(get(rcpt, "Will-Retry-Until").is_some(), case.outcome.action == Action::Delayed, "{name}");
}
