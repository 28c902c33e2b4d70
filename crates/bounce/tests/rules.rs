//! When a notification is due and what it carries: NOTIFY, ENVID, RET, the null sender,
//! loops, language choice, help texts, the split between remote replies and Sluice's own
//! findings, and caller mistakes.

mod common;

use bounce::{
    BounceError, Diagnosis, HELP_CODES, Lang, LocalProblem, NotDue, ProblemKind, RECIPIENT_HELP_CODES,
    RecipientReport, Rendered, SmtpStage, help, help_code_for, help_code_for_reply, render,
};
use common::*;
use smtp_wire::{EnhancedCode, Notify, Ret, ReversePath};

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 bounce")
}

fn notify(success: bool, failure: bool, delay: bool) -> Option<Notify> {
    Some(Notify::On { success, failure, delay })
}

fn unknown_user() -> RecipientReport {
    failed_by(0, "mx.example.com", SmtpStage::RcptTo, "550 5.1.1 no such user")
}

fn delayed(index: usize) -> RecipientReport {
    let reply = reply("mx.example.com", SmtpStage::RcptTo, "450 4.4.1 later");
    RecipientReport::delayed(index, reply.status, Diagnosis::Reply(reply), None, NOW, NOW + HOUR)
}

fn render_one(notify: Option<Notify>, report: RecipientReport) -> Rendered {
    let env = envelope(vec![recipient("bob", notify)]);
    let orig = original("en", "");
    render(&request(&env, &orig, &[report])).expect("renders")
}

fn is_message(rendered: &Rendered) -> bool {
    matches!(rendered, Rendered::Message(_))
}

#[test]
fn notify_decides_which_actions_are_reported() {
    // Default (no NOTIFY): failures and delays, not successes.
    assert!(is_message(&render_one(None, unknown_user())));
    assert!(is_message(&render_one(None, delayed(0))));
    assert_eq!(render_one(None, RecipientReport::delivered(0, NOW)), Rendered::NotDue(NotDue::NotRequested));
    assert_eq!(render_one(Some(Notify::Never), unknown_user()), Rendered::NotDue(NotDue::NotRequested));
    assert!(!is_message(&render_one(notify(false, true, false), delayed(0))));
    assert!(!is_message(&render_one(notify(false, false, true), unknown_user())));
    assert!(is_message(&render_one(notify(true, false, false), RecipientReport::delivered(0, NOW))));
}

#[test]
fn only_recipients_that_asked_are_listed() {
    let env = envelope(vec![recipient("bob", None), recipient("carol", Some(Notify::Never))]);
    let orig = original("en", "");
    let reports = [unknown_user(), failed_by(1, "mx.example.com", SmtpStage::RcptTo, "550 5.1.1 no")];
    let bounce = text(&message(&request(&env, &orig, &reports)));
    assert!(bounce.contains("Final-Recipient: rfc822; bob@example.com"));
    assert!(!bounce.contains("carol@example.com"), "{bounce}");
}

#[test]
fn mixed_outcomes_take_the_subject_and_first_line_of_the_worst() {
    let env = envelope(vec![recipient("bob", None), recipient("carol", None)]);
    let orig = original("en", "");
    let reports = [delayed(0), failed_by(1, "mx.example.com", SmtpStage::RcptTo, "550 5.1.1 no")];
    let bounce = text(&message(&request(&env, &orig, &reports)));
    assert!(bounce.contains("Subject: Undeliverable: Quarterly report\r\n"));
    assert!(bounce.contains("Action: delayed") && bounce.contains("Action: failed"));
    assert!(
        bounce.contains("\r\n\r\nYour message to carol@example.com could not be delivered.\r\n"),
        "{bounce}"
    );
}

#[test]
fn only_loops_are_suppressed_and_each_says_why() {
    let mut env = envelope(vec![recipient("bob", None)]);
    let orig = original("en", "");
    let reports = [unknown_user()];
    env.sender = ReversePath::Null;
    assert_eq!(
        render(&request(&env, &orig, &reports)).expect("renders"),
        Rendered::NotDue(NotDue::NullSender)
    );

    let env = envelope(vec![recipient("bob", None)]);
    // RFC 5321 6.1: an automatic message with a sender address still gets its bounce.
    for header in ["Auto-Submitted: auto-replied\r\n", "Auto-Submitted: auto-generated (bounce)\r\n", ""] {
        let orig = original("en", header);
        assert!(is_message(&render(&request(&env, &orig, &reports)).expect("renders")), "{header}");
    }
    // A delivery report sent from an address is a bounce: answering it would loop.
    let report = text(&original("en", ""))
        .replace(
            "Content-Type: text/plain; charset=utf-8",
            "Content-Type: multipart/report; report-type=\"delivery-status\";\r\n boundary=x",
        )
        .into_bytes();
    let rendered = render(&request(&env, &report, &reports)).expect("renders");
    assert_eq!(rendered, Rendered::NotDue(NotDue::OriginalIsReport));
    assert!(NotDue::OriginalIsReport.to_string().contains("bounce of a bounce"));
}

#[test]
fn envid_and_orcpt_are_reported_and_ret_chooses_the_third_part() {
    let orig = original("en", "");
    let reports = [unknown_user()];
    let headers_only = envelope(vec![with_orcpt(recipient("bob", None))]);
    let bounce = text(&message(&request(&headers_only, &orig, &reports)));
    assert!(bounce.contains("Original-Recipient: rfc822; Bob.Original@example.com\r\n"));
    assert!(!bounce.contains("Original-Envelope-Id"));
    assert!(bounce.contains("Content-Type: text/rfc822-headers") && !bounce.contains("here is the report"));

    let full = with_ret_envid(envelope(vec![recipient("bob", None)]), Ret::Full, "ENV-42");
    let bounce = text(&message(&request(&full, &orig, &reports)));
    assert!(bounce.contains("Original-Envelope-Id: ENV-42\r\nReporting-MTA:"), "RFC 3464 field order");
    assert!(
        bounce.contains("Content-Type: message/rfc822") && bounce.contains("here is the report.\r\n\r\n--")
    );

    // Over the size limit, RET=FULL falls back to the headers.
    let mut req = request(&full, &orig, &reports);
    req.full_original_bytes_max = 100;
    let bounce = text(&message(&req));
    assert!(bounce.contains("Content-Type: text/rfc822-headers") && !bounce.contains("here is the report"));
}

#[test]
fn utf8_original_headers_are_returned_as_global_headers() {
    let env = envelope(vec![recipient("bob", None)]);
    let reports = [unknown_user()];
    let french = original("fr", "");
    let bounce = message(&request(&env, &french, &reports));
    let bounce = text(&bounce);
    assert!(
        bounce.contains("Content-Type: message/global-headers\r\nContent-Transfer-Encoding: 8bit\r\n"),
        "{bounce}"
    );
    assert!(bounce.contains("Subject: Rapport trimestriel été\r\n"));
    // Raw 8-bit headers in no charset become UTF-8 with the bad bytes replaced.
    let mut latin1 = original("en", "");
    let at = latin1.windows(9).position(|w| w == b"Quarterly").expect("subject");
    latin1[at] = 0xC9;
    let bounce = message(&request(&env, &latin1, &reports));
    let bounce = text(&bounce);
    assert!(bounce.contains("Subject: \u{fffd}uarterly report\r\n"), "{bounce}");
}

#[test]
fn language_follows_the_original_then_the_tenant() {
    let env = envelope(vec![recipient("bob", None)]);
    let reports = [unknown_user()];
    let french = original("fr", "");
    let bounce = text(&message(&request(&env, &french, &reports)));
    assert!(
        bounce.contains(
            "Subject: Non =?UTF-8?Q?remis=C2=A0=3A?= Rapport trimestriel\r\n =?UTF-8?Q?=C3=A9t=C3=A9?=\r\n"
        ),
        "{bounce}"
    );
    assert!(bounce.contains("Content-Language: fr\r\n"));
    assert!(bounce.contains("\r\n\r\nCeci est un avis de remise au format MIME (RFC 3464).\r\n"));

    let unlabelled = text(&original("en", "")).replace("Content-Language: en\r\n", "").into_bytes();
    let mut req = request(&env, &unlabelled, &reports);
    req.tenant_default_language = "fr-BE";
    let bounce = text(&message(&req));
    assert!(bounce.contains("Content-Language: fr\r\n"));
    req.tenant_default_language = "xx";
    let bounce = text(&message(&req));
    assert!(bounce.contains("Content-Language: en\r\n"));
}

#[test]
fn remote_text_is_escaped_in_html_and_kept_7bit_in_the_report() {
    let env = envelope(vec![recipient("bob", None)]);
    let orig = original("en", "");
    let reports = [failed_by(0, "mx.example.com", SmtpStage::RcptTo, "550 <script>x</script> refusé")];
    let bounce = text(&message(&request(&env, &orig, &reports)));
    let html_start = bounce.find("Content-Type: text/html").expect("html part");
    let html = &bounce[html_start..html_start + bounce[html_start..].find("\r\n--=_").expect("part end")];
    // Undo the quoted-printable soft breaks before looking for the escaped text.
    let html = html.replace("=\r\n", "");
    assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"), "{html}");
    assert!(bounce.contains("Diagnostic-Code: smtp; 550 <script>x</script> refus\\x{00E9}\r\n"));
}

/// RFC 3464: `smtp;` is for the remote server's reply, with that server as Remote-MTA;
/// Sluice's own findings are `X-Sluice;` and name no Remote-MTA.
#[test]
fn only_remote_replies_are_smtp_diagnostics() {
    let env = envelope(vec![recipient("bob", None)]);
    let orig = original("en", "");
    let refused = LocalProblem::new(
        ProblemKind::ConnectionRefused,
        "cannot connect to 192.0.2.1:25: Connection refused (os error 111)",
    );
    let reports = [RecipientReport::delayed(
        0,
        EnhancedCode::new(4, 4, 1),
        Diagnosis::Local(refused),
        None,
        NOW,
        NOW + HOUR,
    )];
    let bounce = text(&message(&request(&env, &orig, &reports)));
    assert!(bounce.contains("Diagnostic-Code: X-Sluice; cannot connect to 192.0.2.1:25: Connection\r\n refused (os error 111)\r\n"), "{bounce}");
    assert!(!bounce.contains("Remote-MTA") && !bounce.contains("smtp;"), "{bounce}");
    // The human text says it in words, in the reader's language, and never "?".
    assert!(bounce.contains("Problem: The recipient's mail server refused the connection."), "{bounce}");
    let french = original("fr", "");
    let bounce = text(&message(&request(&env, &french, &reports)));
    assert!(!bounce.contains("os error") || bounce.find("os error") > bounce.find("message/delivery-status"));
    assert!(
        bounce.contains("Probl=C3=A8me=C2=A0: Le serveur de messagerie du destinataire a refus="),
        "{bounce}"
    );
}

/// A paused destination is a scheduling fact told beside the last real reply, never in
/// its place, and no internal destination key shows.
#[test]
fn a_pause_keeps_the_last_real_reply() {
    let env = envelope(vec![recipient("bob", None)]);
    let orig = original("en", "");
    let throttled =
        reply("mx.example.com", SmtpStage::RcptTo, "451 4.7.501 Deferred (AS501) Try again in 10 minutes");
    let paused = Diagnosis::Local(LocalProblem::new(
        ProblemKind::DestinationPaused { until_unix_s: NOW + 600 },
        "paused",
    ));
    let reports =
        [RecipientReport::delayed(0, throttled.status, paused, Some(throttled), NOW, NOW + 3 * 24 * HOUR)];
    let bounce = text(&message(&request(&env, &orig, &reports)));
    assert!(bounce.contains("Remote-MTA: dns; mx.example.com\r\nDiagnostic-Code: smtp; 451 4.7.501 Deferred (AS501) Try again in 10 minutes\r\n"), "{bounce}");
    let human = bounce.replace("=\r\n", "");
    assert!(
        human.contains(
            "Reply from mx.example.com to RCPT TO: 451 4.7.501 Deferred (AS501) Try again in 10 minutes\r\n"
        ),
        "{human}"
    );
    assert!(
        human.contains("Delivery to example.com is paused until 23 November 2026 at 12:13 UTC"),
        "{human}"
    );
    assert!(!bounce.contains("mx:") && !bounce.contains("slow down; waiting"), "{bounce}");
    assert!(bounce.contains("/help/AS501"), "{bounce}");
}

#[test]
fn the_report_names_the_client_arrival_and_queue_id() {
    let env = envelope(vec![recipient("bob", None)]);
    let orig = original("en", "");
    let bounce = text(&message(&request(&env, &orig, &[unknown_user()])));
    assert!(
        bounce.contains(concat!(
            "Reporting-MTA: dns; mx1.sluice.example\r\n",
            "Received-From-MTA: dns; client.example.org ([192.0.2.10])\r\n",
            "Arrival-Date: Mon, 23 Nov 2026 10:03:21 +0000\r\n",
            "X-Sluice-Queue-ID: 00000000000000a1\r\n"
        )),
        "{bounce}"
    );
    let mut hostile = env.clone();
    hostile.client.helo = "evil (x) \r\nInjected: yes".into();
    let bounce = text(&message(&request(&hostile, &orig, &[unknown_user()])));
    assert!(bounce.contains("Received-From-MTA: dns; evilxInjected:yes ([192.0.2.10])\r\n"), "{bounce}");
}

#[test]
fn boundaries_never_occur_in_the_original() {
    let env = envelope(vec![recipient("bob", None)]);
    let orig = original("en", "X-Trap: =_report_0000000000000001.1\r\n");
    let bounce = text(&message(&request(&env, &orig, &[unknown_user()])));
    assert!(bounce.contains("boundary=\"=_report_0000000000000001.1_1\""));
}

#[test]
fn caller_mistakes_are_typed_errors() {
    let env = envelope(vec![recipient("bob", None)]);
    let orig = original("en", "");
    let reports = [failed_by(3, "mx.example.com", SmtpStage::RcptTo, "550 5.1.1 no")];
    let err = render(&request(&env, &orig, &reports)).expect_err("bad index");
    assert!(matches!(err, BounceError::RecipientIndex { index: 3, count: 1 }));

    let reports = [unknown_user()];
    let mut req = request(&env, &orig, &reports);
    req.reporting_mta = "mx.example\r\nBcc: victim@example.net";
    assert!(matches!(render(&req), Err(BounceError::InvalidField { field: "reporting_mta", .. })));
    let mut req = request(&env, &orig, &reports);
    req.queue_id = "a b";
    assert!(matches!(render(&req), Err(BounceError::InvalidField { field: "queue_id", .. })));
}

#[test]
fn nothing_due_without_reports() {
    let env = envelope(vec![recipient("bob", None)]);
    let orig = original("en", "");
    assert_eq!(render(&request(&env, &orig, &[])).expect("renders"), Rendered::NotDue(NotDue::NotRequested));
}

#[test]
fn every_help_code_has_texts_in_every_language() {
    for lang in Lang::all() {
        for code in HELP_CODES {
            let text = help(code, lang).unwrap_or_else(|| panic!("{code} in {}", lang.tag()));
            assert_eq!(text.code, *code);
            assert!(
                !text.title.is_empty()
                    && !text.why.is_empty()
                    && !text.sender.is_empty()
                    && !text.admin.is_empty()
            );
        }
    }
    let en = Lang::from_tag("en").expect("en");
    assert_eq!(help("as501", en).map(|h| h.code), Some("AS501"));
    assert_eq!(help("5.1.1", en).and_then(|h| h.recipient_admin), None);
    assert!(help("9.9.9", en).is_none());
}

/// A receiving service that throttles the sending IP is never explained with DNS advice:
/// the sender's admin warms the address up, asks for a connector, or calls support.
#[test]
fn throttling_pages_advise_warm_up_and_connectors_never_dns() {
    for lang in Lang::all() {
        for code in ["AS501", "AS502", "AS503", "throttled"] {
            let page = help(code, lang).expect("page");
            let text = format!("{} {} {}", page.why, page.sender, page.admin);
            assert!(!text.contains("MX"), "{code} in {}: {text}", lang.tag());
            assert!(text.to_lowercase().contains("connect"), "{code} in {}: no connector advice", lang.tag());
        }
    }
    let throttled = help("throttled", Lang::from_tag("en").expect("en")).expect("page");
    assert!(
        throttled.admin.contains("Warm it up") && throttled.admin.contains("support"),
        "{}",
        throttled.admin
    );
}

/// Sluice's throttling pages tell the receiving organisation's admin the product's fix (a
/// connector for a sender it has checked), in every language, without operator commands.
#[test]
fn throttling_pages_tell_the_receiving_admin_to_check_then_create_a_connector() {
    for lang in Lang::all() {
        for code in RECIPIENT_HELP_CODES {
            let page = help(code, lang).expect("page");
            let text = page.recipient_admin.unwrap_or_else(|| panic!("{code} in {}: no part", lang.tag()));
            let lower = text.to_lowercase();
            for word in ["spf", "connect", "tls"] {
                assert!(lower.contains(word), "{code} in {}: no {word:?} in {text}", lang.tag());
            }
            assert!(lower.contains("partner") || lower.contains("partenaire"), "{code}: {text}");
            assert!(
                !text.contains("sluice ") && !text.contains("--"),
                "{code}: an operator command in {text}"
            );
        }
    }
}

/// Every page any bounce can link to has texts in every language: the choice runs over
/// every status family, every recognised wording and every Sluice finding.
#[test]
fn every_page_a_bounce_can_link_to_has_texts_in_every_language() {
    let wordings = [
        "",
        "(AS501)",
        "(AS502)",
        "(AS503)",
        "(AS504)",
        "(AS505)",
        "(AS843)",
        "relay access denied",
        "dmarc policy",
        "blocked using zen.spamhaus.org",
        "rejected as spam",
        "user unknown",
        "mailbox full",
        "message too big",
        "must issue a starttls command",
        "rate limit exceeded",
        "nothing recognisable",
    ];
    let mut pages = std::collections::BTreeSet::new();
    for class in [4u8, 5] {
        for subject in 0..=7u16 {
            for detail in (0..=30u16).chain([500, 501, 599, 699, 705, 708, 750, 751, 752, 800]) {
                for wording in wordings {
                    pages.insert(help_code_for(EnhancedCode::new(class, subject, detail), Some(wording)));
                }
            }
        }
    }
    for kind in ProblemKind::ALL {
        let diagnosis = Diagnosis::Local(LocalProblem::new(kind, "x"));
        for report in [
            RecipientReport::failed(0, EnhancedCode::new(5, 0, 0), diagnosis.clone(), NOW),
            RecipientReport::delayed(0, EnhancedCode::new(4, 0, 0), diagnosis.clone(), None, NOW, NOW),
            RecipientReport::expired(0, diagnosis, None, NOW),
        ] {
            let env = envelope(vec![recipient("bob", None)]);
            let orig = original("en", "");
            let bounce = text(&message(&request(&env, &orig, &[report])));
            let page = bounce
                .split("/help/")
                .nth(1)
                .and_then(|rest| rest.split(['\r', '\n', '"', '<']).next())
                .expect("a link");
            pages.insert(
                HELP_CODES
                    .iter()
                    .find(|c| **c == page)
                    .copied()
                    .unwrap_or_else(|| panic!("{kind:?} links to {page}")),
            );
        }
    }
    for lang in Lang::all() {
        for page in &pages {
            assert!(help(page, lang).is_some(), "{page} has no help text in {}", lang.tag());
        }
    }
}

/// The 4xx/5xx replies of a folder of transcripts (`S: ` lines), a multi-line reply
/// (`550-5.7.1 text`, `550 5.7.1 Help: ...`) as one: `550 5.7.1 text Help: ...`.
fn transcript_replies(dir: &str) -> Vec<String> {
    let mut replies = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let path = entry.expect("entry").path();
        let transcript = std::fs::read_to_string(&path).expect("transcript");
        let mut pending: Option<String> = None;
        for reply in transcript.lines().filter_map(|line| line.strip_prefix("S: ")) {
            if !(reply.starts_with('4') || reply.starts_with('5')) || reply.len() < 4 {
                continue;
            }
            let (code, rest) = reply.split_at(3);
            let text = rest.get(1..).unwrap_or("");
            let joined = match pending.take() {
                // A continuation line repeats the enhanced code: keep its text only.
                Some(first) => format!("{first} {}", text.split_once(' ').map_or(text, |(_, t)| t)),
                None => format!("{code} {text}"),
            };
            match rest.starts_with('-') {
                true => pending = Some(joined),
                false => replies.push(joined),
            }
        }
    }
    replies
}

/// Every reply Sluice's SMTP server gives (the transcripts pin them all) links to a page
/// with texts in every language; the policy replies (relay control, connectors, outbound
/// protection, throttling) each to the page of exactly that code or token.
#[test]
fn every_reply_sluice_gives_has_a_help_page() {
    let policy =
        transcript_replies(concat!(env!("CARGO_MANIFEST_DIR"), "/../gateway/tests/session_transcripts"));
    let protocol = transcript_replies(concat!(env!("CARGO_MANIFEST_DIR"), "/../smtp-wire/tests/transcripts"));
    assert!(
        policy.len() > 20 && protocol.len() > 20,
        "transcripts found: {} and {}",
        policy.len(),
        protocol.len()
    );
    for reply in &policy {
        let page = help_code_for_reply(reply);
        let code = reply.split_ascii_whitespace().nth(1).unwrap_or("");
        let token_page = page.starts_with("AS") && reply.contains(&format!("({page})"));
        assert!(page == code || token_page, "{reply:?} links to {page}, not its own page");
    }
    for reply in policy.iter().chain(&protocol) {
        let page = help_code_for_reply(reply);
        for lang in Lang::all() {
            assert!(help(page, lang).is_some(), "{reply:?}: {page} in {}", lang.tag());
        }
    }
}

#[test]
fn every_documented_throttling_token_has_a_help_page() {
    // docs/throttle-tokens.md is generated from throttle::AS_TABLE; reading it keeps this
    // crate free of a dependency on the engine while catching a token added without help.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/throttle-tokens.md"))
        .expect("docs/throttle-tokens.md");
    let tokens: Vec<&str> = doc
        .lines()
        .filter_map(|line| line.strip_prefix("| AS"))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    assert!(!tokens.is_empty());
    for digits in tokens {
        let token = format!("AS{digits}");
        assert!(HELP_CODES.contains(&token.as_str()), "{token} has no help text");
    }
}

#[test]
fn encoded_original_subjects_are_decoded_into_the_new_subject() {
    let env = envelope(vec![recipient("bob", None)]);
    let orig = text(&original("en", ""))
        .replace("Subject: Quarterly report", "Subject: =?UTF-8?Q?R=C3=A9union?= du lundi")
        .into_bytes();
    let bounce = text(&message(&request(&env, &orig, &[unknown_user()])));
    assert!(bounce.contains("Subject: Undeliverable: =?UTF-8?Q?R=C3=A9union?= du lundi\r\n"), "{bounce}");
}

#[test]
fn overlong_original_header_lines_are_cut_to_the_smtp_limit() {
    let env = with_ret_envid(envelope(vec![recipient("bob", None)]), Ret::Full, "E1");
    let long = format!("X-Long: {}\r\n", "x".repeat(2000));
    let orig = original("en", &long);
    let bounce = message(&request(&env, &orig, &[unknown_user()]));
    assert!(bounce.split(|b| *b == b'\n').all(|line| line.len() <= 999));
    assert!(text(&bounce).contains("Content-Type: text/rfc822-headers"), "long lines fall back to headers");
}

#[test]
fn utf8_recipients_use_the_rfc6533_escaped_form() {
    let mut r = recipient("bob", None);
    r.address = address("jösé", "example.com");
    let env = envelope(vec![r]);
    let orig = original("en", "");
    let bounce = text(&message(&request(&env, &orig, &[unknown_user()])));
    assert!(bounce.contains("Final-Recipient: utf-8; j\\x{00F6}s\\x{00E9}@example.com\r\n"), "{bounce}");
}

/// Without an admin address reachable from outside, the report still explains itself (the
/// help texts are in it) but links nowhere.
#[test]
fn no_admin_address_means_no_help_link() {
    let env = envelope(vec![recipient("bob", None)]);
    let orig = original("en", "");
    let reports = [unknown_user()];
    let linked = text(&message(&request(&env, &orig, &reports)));
    assert!(linked.contains(&format!("{ADMIN}/help/5.1.1")), "{linked}");
    let unlinked =
        text(&message(&bounce::BounceRequest { admin_base_url: None, ..request(&env, &orig, &reports) }));
    assert!(!unlinked.contains("/help/") && !unlinked.contains("More information"), "{unlinked}");
    assert!(unlinked.contains("I'm the sender: what do I do?"), "{unlinked}");
}
