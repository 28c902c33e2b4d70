//! Live bounces: the tenant's on-premises server (127.0.0.2) sends through Sluice to remote
//! servers (aiosmtpd behind a dnslib MX, py/mx_server.py) that refuse the way real ones do:
//! an unknown user, a full mailbox, a message too big (552 and 554), spam, a DMARC failure,
//! a blocklist listing, relay denied, a new-IP throttling token (`AS501`) until expiry, and
//! a closed port until expiry. Every bounce Sluice writes back is read by Sisimai (reason,
//! status, recipient, diagnostic type), Python's `email` package (structure, charset, no
//! defects) and flufl.bounce, in English and in French; and the live bounce of the
//! unknown-user case has the shape of the golden file, so the two cannot drift apart.

use serde_json::Value;
use std::path::{Path, PathBuf};

use crate::delivery::{self, Fixture, TENANT_DOMAIN};
use crate::harness::{DELIVERY_TIMEOUT, Server, Settings, free_port, maildir_files, read_lossy};
use crate::peers::{check_dsn, check_sisimai, wait_until};

/// One refusal to provoke and what every reader must make of its bounce.
struct Case {
    /// The recipient's local part, which picks the remote server's reply.
    local: &'static str,
    domain: &'static str,
    status: &'static str,
    /// Sisimai's reason and diagnostic type (`SMTP` for a remote reply, `X-SLUICE` for
    /// Sluice's own finding).
    reason: &'static str,
    diagnostic_type: &'static str,
    help: &'static str,
    /// The stage named in the human text, English and French (empty: no remote reply).
    stage: (&'static str, &'static str),
}

const RCPT: (&str, &str) = ("to RCPT TO:", "à la commande RCPT TO\u{a0}:");
const END: (&str, &str) = ("at the end of the message:", "à la fin du message\u{a0}:");

const CASES: &[Case] = &[
    case("unknown", "remote.test", "5.1.1", "userunknown", "SMTP", "5.1.1", RCPT),
    case("full", "remote.test", "5.2.2", "mailboxfull", "SMTP", "5.2.2", RCPT),
    case("big", "remote.test", "5.3.4", "mesgtoobig", "SMTP", "5.3.4", END),
    case("huge", "remote.test", "5.3.4", "mesgtoobig", "SMTP", "5.3.4", END),
    case("spam", "remote.test", "5.7.1", "spamdetected", "SMTP", "spam", END),
    case("dmarc", "remote.test", "5.7.1", "policyviolation", "SMTP", "auth-failed", END),
    case("listed", "remote.test", "5.7.1", "blocked", "SMTP", "blocklisted", RCPT),
    case("relay", "remote.test", "5.7.1", "norelaying", "SMTP", "5.7.1", RCPT),
    // Deferred until expiry: the last real reply stays in the report, the expiry is 4.4.7.
    case("probation", "throttle.test", "4.4.7", "expired", "SMTP", "AS501", RCPT),
    case("nobody", "closed.test", "4.4.7", "expired", "X-SLUICE", "4.4.7", ("", "")),
];

const fn case(
    local: &'static str,
    domain: &'static str,
    status: &'static str,
    reason: &'static str,
    diagnostic_type: &'static str,
    help: &'static str,
    stage: (&'static str, &'static str),
) -> Case {
    Case { local, domain, status, reason, diagnostic_type, help, stage }
}

const LANGS: [&str; 2] = ["en", "fr"];

fn sender() -> String {
    format!("alice@{TENANT_DOMAIN}")
}

/// The original: English or French (by `Content-Language`), a UTF-8 subject in French.
fn original(to: &str, lang: &str, id: &str, extra_headers: &str) -> String {
    let subject = if lang == "fr" { "Rapport trimestriel été" } else { "Quarterly report" };
    format!(
        "From: Alice <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: Mon, 23 Nov 2026 10:03:20 +0000\r\n\
         Message-ID: <{id}>\r\nContent-Language: {lang}\r\n{extra_headers}MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nLes chiffres, été compris.\r\n",
        from = sender()
    )
}

/// Sends one message from the tenant's on-premises server and expects it queued.
fn send(server: &Server, to: &str, data: &str) {
    let mut client = server.connect_from("127.0.0.2");
    client.expect(&format!("MAIL FROM:<{}> BODY=8BITMIME", sender()), 250);
    client.expect(&format!("RCPT TO:<{to}>"), 250);
    client.expect("DATA", 354);
    client.send_raw(data.as_bytes());
    client.send_raw(b".\r\n");
    let reply = client.reply();
    assert_eq!(reply.code, 250, "{to}: {reply}");
}

/// Waits for the directory change a CLI command made to reach the running server.
fn wait_for_directory(server: &Server, changes_before: usize) {
    let reloaded = wait_until(DELIVERY_TIMEOUT, || {
        (server.log().matches("directory changed").count() > changes_before).then_some(())
    });
    assert!(reloaded.is_some(), "the server did not pick up the directory change:\n{}", server.log());
}

fn start() -> Fixture {
    let settings = Settings::default()
        .key("delivery", "retry_first_s", 1)
        .key("delivery", "retry_max_s", 1)
        .key("delivery", "max_age_s", 5)
        .key("delivery", "delay_notice_s", 0)
        .key("delivery", "destination_pause_s", 60);
    delivery::start(settings)
}

/// Every bounce in alice's mailbox, by the Message-ID of the original it answers.
fn bounces_by_original(server: &Server, count: usize) -> Vec<(String, PathBuf)> {
    let dir = server.data_dir().join("mail").join(TENANT_DOMAIN).join("alice").join("new");
    let files = wait_until(DELIVERY_TIMEOUT, || {
        let files = maildir_files(&dir);
        (files.len() >= count).then_some(files)
    })
    .unwrap_or_else(|| panic!("{} of {count} bounces arrived\n{}", maildir_files(&dir).len(), server.log()));
    files
        .into_iter()
        .map(|file| {
            let text = read_lossy(&file);
            let original = text
                .lines()
                .find_map(|l| l.strip_prefix("In-Reply-To: "))
                .unwrap_or_else(|| panic!("no In-Reply-To in {}:\n{text}", file.display()))
                .trim()
                .trim_matches(['<', '>'])
                .to_owned();
            (original, file)
        })
        .collect()
}

#[test]
fn every_reader_understands_every_live_bounce_in_english_and_french() {
    let fixture = start();
    let server = &fixture.server;
    // closed.test goes through the tenant's connector to a port where nothing listens.
    let closed = free_port();
    let before = server.log().matches("directory changed").count();
    let smart_host = format!("127.0.0.1:{closed}");
    server.cli_ok(&[
        "connector",
        "add",
        "closed",
        "--tenant",
        "acme",
        "--direction",
        "outbound",
        "--recipient-domain",
        "closed.test",
        "--smart-host",
        &smart_host,
    ]);
    wait_for_directory(server, before);

    for lang in LANGS {
        for case in CASES {
            let to = format!("{}@{}", case.local, case.domain);
            send(server, &to, &original(&to, lang, &format!("{}.{lang}@acme.test", case.local), ""));
        }
    }
    let bounces = bounces_by_original(server, CASES.len() * LANGS.len());
    let files: Vec<&Path> = bounces.iter().map(|(_, f)| f.as_path()).collect();
    let python = check_dsn(&files);
    let sisimai = check_sisimai(&files);
    for (((original, file), python), sisimai) in bounces.iter().zip(&python).zip(&sisimai) {
        let (local, lang) = original.split_once('@').and_then(|(l, _)| l.split_once('.')).expect("case.lang");
        let case = CASES.iter().find(|c| c.local == local).expect("a case");
        check_bounce(case, lang, file, python, sisimai);
    }
    let log = server.log();
    assert!(!log.contains("no notification sent"), "every failure was bounced:\n{log}");
}

fn check_bounce(case: &Case, lang: &str, file: &Path, python: &Value, sisimai: &Value) {
    let name = format!("{}.{lang} ({})", case.local, file.display());
    let address = format!("{}@{}", case.local, case.domain);
    // Sisimai: the reason and status, never "onhold" (its word for "cannot tell").
    let results = sisimai["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{name}: {sisimai}");
    let found = &results[0];
    assert_eq!(found["recipient"], address.as_str(), "{name}: {found}");
    assert_eq!(found["reason"], case.reason, "{name}: {found}");
    assert_eq!(found["status"], case.status, "{name}: {found}");
    assert_eq!(found["diagnostic_type"], case.diagnostic_type, "{name}: {found}");
    // Python's email and flufl.bounce: clean structure, UTF-8 text, a permanent failure.
    assert_eq!(python["defects"], serde_json::json!([]), "{name}: {python}");
    assert_eq!(python["text_charsets"], serde_json::json!(["utf-8", "utf-8"]), "{name}");
    assert_eq!(python["permanent"], serde_json::json!([address]), "{name}: {python}");
    let third = if lang == "fr" { "message/global-headers" } else { "text/rfc822-headers" };
    assert_eq!(
        python["parts"],
        serde_json::json!(["multipart/alternative", "message/delivery-status", third]),
        "{name}"
    );
    let rcpt = &python["recipients"][0];
    assert_eq!(rcpt["Status"], case.status, "{name}: {rcpt}");
    let diagnostic = rcpt["Diagnostic-Code"].as_str().unwrap_or_default();
    match case.diagnostic_type {
        "SMTP" => {
            assert!(diagnostic.starts_with("smtp; 4") || diagnostic.starts_with("smtp; 5"), "{name}: {rcpt}");
            assert_eq!(rcpt["Remote-MTA"], "dns; mx.remote.test", "{name}: {rcpt}");
        }
        _ => {
            assert!(diagnostic.starts_with("X-Sluice; "), "{name}: {rcpt}");
            assert!(rcpt.get("Remote-MTA").is_none(), "no server answered: {name}: {rcpt}");
        }
    }
    check_human_text(case, lang, &name, python["human_text"].as_str().unwrap_or_default());
}

fn check_human_text(case: &Case, lang: &str, name: &str, text: &str) {
    let address = format!("{}@{}", case.local, case.domain);
    let first = text.lines().next().unwrap_or_default();
    assert!(first.contains(&address), "{name}: the first line names the recipient: {first}");
    assert!(text.contains(&format!("/help/{}", case.help)), "{name}: no link to {}:\n{text}", case.help);
    assert!(!text.contains(" ? :") && !text.contains("from ?:") && !text.contains("de ?"), "{name}:\n{text}");
    let stage = if lang == "fr" { case.stage.1 } else { case.stage.0 };
    if !stage.is_empty() {
        assert!(
            text.contains(&format!("mx.remote.test {stage}")),
            "{name}: stage {stage:?} missing:\n{text}"
        );
    }
    if lang == "fr" {
        // Every sentence a person reads is French: none of Sluice's English leaks in.
        for english in
            ["os error", "Connection refused", "asked Sluice", "gave up", "Reply from", "Recipient:"]
        {
            assert!(!text.contains(english), "{name}: {english:?} in the French text:\n{text}");
        }
        assert!(text.contains("Détails du message d'origine"), "{name}:\n{text}");
    }
}

/// Auto-Submitted originals still get their bounce (RFC 5321 6.1); an original that is
/// itself a delivery report is the only kind left unanswered, and the log says why.
#[test]
fn automatic_originals_are_bounced_and_only_loops_are_suppressed_with_a_logged_reason() {
    let fixture = start();
    let server = &fixture.server;
    let to = "unknown@remote.test";
    send(server, to, &original(to, "en", "auto@acme.test", "Auto-Submitted: auto-replied\r\n"));
    let report = original(to, "en", "report@acme.test", "").replace(
        "Content-Type: text/plain; charset=utf-8",
        "Content-Type: multipart/report; report-type=delivery-status;\r\n boundary=\"b\"",
    );
    send(server, to, &report);
    let bounces = bounces_by_original(server, 1);
    assert_eq!(bounces[0].0, "auto@acme.test", "{bounces:?}");
    let logged = wait_until(DELIVERY_TIMEOUT, || {
        let log = server.log();
        log.lines().find(|l| l.contains("no notification sent")).map(str::to_owned)
    })
    .unwrap_or_else(|| panic!("the suppression was not logged:\n{}", server.log()));
    assert!(logged.contains("bounce of a bounce"), "{logged}");
    // The suppression was the report's outcome, so nothing else is on its way.
    assert_eq!(
        maildir_files(&server.data_dir().join("mail").join(TENANT_DOMAIN).join("alice").join("new")).len(),
        1
    );
}

/// A tenant's user who is not listed in Sluice (the mailbox lives on the tenant's own
/// server) gets its bounce through the tenant's route; without one the bounce waits in the
/// queue, where the operator sees why.
#[test]
fn a_bounce_for_an_unlisted_sender_goes_back_through_the_tenant_route() {
    let fixture = start();
    let server = &fixture.server;
    let dave = format!("dave@{TENANT_DOMAIN}");
    let mut client = server.connect_from("127.0.0.2");
    let to = "unknown@remote.test";
    let data = original(to, "en", "dave@acme.test", "").replace(&sender(), &dave);
    client.expect(&format!("MAIL FROM:<{dave}>"), 250);
    client.expect(&format!("RCPT TO:<{to}>"), 250);
    client.expect("DATA", 354);
    client.send_raw(data.as_bytes());
    client.send_raw(b".\r\n");
    assert_eq!(client.reply().code, 250);

    let waiting = wait_until(DELIVERY_TIMEOUT, || {
        let out = server.cli_ok(&["queue", "list"]);
        out.contains(&format!("<> -> {dave}")).then_some(out)
    })
    .unwrap_or_else(|| panic!("the bounce is not in the queue:\n{}", server.log()));
    assert!(waiting.contains("(no route to the own server of tenant acme"), "{waiting}");
    assert!(server.log().contains("notification undeliverable until the tenant has an outbound connector"));

    let before = server.log().matches("directory changed").count();
    let smart_host = format!("127.0.0.1:{}", fixture.mx.port);
    server.cli_ok(&[
        "connector",
        "add",
        "head office mail",
        "--tenant",
        "acme",
        "--direction",
        "outbound",
        "--recipient-domain",
        TENANT_DOMAIN,
        "--smart-host",
        &smart_host,
    ]);
    wait_for_directory(server, before);
    server.cli_ok(&["queue", "flush"]);
    let messages = fixture.mx.wait_for_messages(1);
    let (mail_from, rcpts, data) = &messages[0];
    assert_eq!((mail_from.as_str(), rcpts.as_slice()), ("<>", [dave.clone()].as_slice()), "{messages:?}");
    assert!(
        data.contains("report-type=delivery-status")
            && data.contains("Final-Recipient: rfc822; unknown@remote.test"),
        "{data}"
    );
}

/// The shape of a bounce, its variable parts (addresses, hosts, dates, ids, sizes) masked:
/// MIME parts, report field names, and the human text line by line.
fn shape(report: &Value) -> Vec<String> {
    let keys = |v: &Value| {
        v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>().join(",")).unwrap_or_default()
    };
    let mut shape = vec![report["parts"].to_string(), keys(&report["per_message"])];
    shape.extend(report["recipients"].as_array().into_iter().flatten().map(keys));
    const UNITS: [&str; 6] = ["bytes", "KB", "MB", "octets", "ko", "Mo"];
    for line in report["human_text"].as_str().unwrap_or_default().lines() {
        let mut masked_previous = false;
        let words: Vec<&str> = line
            .split(' ')
            .map(|word| {
                let variable = word.contains(['@', '.', '<', '[', ':']) && word.len() > 2
                    || word.chars().any(|c| c.is_ascii_digit())
                    || masked_previous && UNITS.contains(&word);
                masked_previous = variable;
                if variable { "#" } else { word }
            })
            .collect();
        shape.push(words.join(" "));
    }
    shape
}

/// The golden unknown-user bounce and the live one have one shape: the golden files show
/// what Sluice really sends.
#[test]
fn the_golden_bounce_has_the_shape_of_the_live_one() {
    let fixture = start();
    let server = &fixture.server;
    for lang in LANGS {
        let to = "unknown@remote.test";
        send(server, to, &original(to, lang, &format!("unknown.{lang}@acme.test"), ""));
    }
    let bounces = bounces_by_original(server, 2);
    for (original, file) in &bounces {
        let lang = if original.contains(".fr@") { "fr" } else { "en" };
        let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../bounce/tests/golden/failed-5.1.1-unknown-user.{lang}.eml"));
        let reports = check_dsn(&[file.as_path(), golden.as_path()]);
        let (live, golden) = (shape(&reports[0]), shape(&reports[1]));
        let differences: Vec<String> = live
            .iter()
            .zip(&golden)
            .filter(|(l, g)| l != g)
            .map(|(l, g)| format!("live:   {l}\ngolden: {g}"))
            .collect();
        assert!(
            differences.is_empty() && live.len() == golden.len(),
            "{lang}: the golden file drifted from live bounces (regenerate it with UPDATE_GOLDEN=1 cargo test -p bounce):\n{}\n{}",
            differences.join("\n"),
            reports[0]["human_text"]
        );
    }
}
