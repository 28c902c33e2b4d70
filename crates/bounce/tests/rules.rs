//! When a notification is due and what it carries: NOTIFY, ENVID, RET, the null sender,
//! loops, language choice, help texts and caller mistakes.

mod common;

use bounce::{Action, BounceError, HELP_CODES, Lang, RecipientOutcome, help, help_code_for, render};
use common::*;
use smtp_wire::{EnhancedCode, Notify, Ret, ReversePath};

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 bounce")
}

fn notify(success: bool, failure: bool, delay: bool) -> Option<Notify> {
    Some(Notify::On { success, failure, delay })
}

fn render_one(notify: Option<Notify>, action: Action, status: (u8, u16, u16)) -> Option<Vec<u8>> {
    let env = envelope(vec![recipient("bob", notify)]);
    let orig = original("en", "");
    let outcomes = [outcome(0, action, status)];
    render(&request(&env, &orig, &outcomes)).expect("renders")
}

#[test]
fn notify_decides_which_actions_are_reported() {
    // Default (no NOTIFY): failures and delays, not successes.
    assert!(render_one(None, Action::Failed, (5, 1, 1)).is_some());
    assert!(render_one(None, Action::Delayed, (4, 4, 1)).is_some());
    assert!(render_one(None, Action::Delivered, (2, 0, 0)).is_none());
    assert!(render_one(Some(Notify::Never), Action::Failed, (5, 1, 1)).is_none());
    assert!(render_one(notify(false, true, false), Action::Delayed, (4, 4, 1)).is_none());
    assert!(render_one(notify(false, false, true), Action::Failed, (5, 1, 1)).is_none());
    assert!(render_one(notify(true, false, false), Action::Relayed, (2, 0, 0)).is_some());
    assert!(render_one(notify(true, false, false), Action::Expanded, (2, 0, 0)).is_some());
}

#[test]
fn only_recipients_that_asked_are_listed() {
    let env = envelope(vec![recipient("bob", None), recipient("carol", Some(Notify::Never))]);
    let orig = original("en", "");
    let outcomes = [outcome(0, Action::Failed, (5, 1, 1)), outcome(1, Action::Failed, (5, 1, 1))];
    let bounce = text(&render(&request(&env, &orig, &outcomes)).expect("renders").expect("due"));
    assert!(bounce.contains("Final-Recipient: rfc822; bob@example.com"));
    assert!(!bounce.contains("carol@example.com"));
}

#[test]
fn mixed_outcomes_take_the_subject_of_the_worst() {
    let env = envelope(vec![recipient("bob", None), recipient("carol", None)]);
    let orig = original("en", "");
    let outcomes = [outcome(0, Action::Delayed, (4, 4, 1)), outcome(1, Action::Failed, (5, 1, 1))];
    let bounce = text(&render(&request(&env, &orig, &outcomes)).expect("renders").expect("due"));
    assert!(bounce.contains("Subject: Undeliverable: Quarterly report\r\n"));
    assert!(bounce.contains("Action: delayed") && bounce.contains("Action: failed"));
}

#[test]
fn null_sender_and_automatic_originals_get_no_bounce() {
    let mut env = envelope(vec![recipient("bob", None)]);
    let orig = original("en", "");
    let outcomes = [outcome(0, Action::Failed, (5, 1, 1))];
    env.sender = ReversePath::Null;
    assert!(render(&request(&env, &orig, &outcomes)).expect("renders").is_none());

    let env = envelope(vec![recipient("bob", None)]);
    for header in ["Auto-Submitted: auto-replied\r\n", "Auto-Submitted: auto-generated (bounce)\r\n"] {
        let orig = original("en", header);
        assert!(render(&request(&env, &orig, &outcomes)).expect("renders").is_none(), "{header}");
    }
    let orig = original("en", "Auto-Submitted: no\r\n");
    assert!(render(&request(&env, &orig, &outcomes)).expect("renders").is_some());
}

#[test]
fn envid_and_orcpt_are_reported_and_ret_chooses_the_third_part() {
    let orig = original("en", "");
    let outcomes = [outcome(0, Action::Failed, (5, 1, 1))];
    let headers_only = envelope(vec![with_orcpt(recipient("bob", None))]);
    let bounce = text(&render(&request(&headers_only, &orig, &outcomes)).expect("renders").expect("due"));
    assert!(bounce.contains("Original-Recipient: rfc822; Bob.Original@example.com\r\n"));
    assert!(!bounce.contains("Original-Envelope-Id"));
    assert!(bounce.contains("Content-Type: text/rfc822-headers") && !bounce.contains("here is the report"));

    let full = with_ret_envid(envelope(vec![recipient("bob", None)]), Ret::Full, "ENV-42");
    let bounce = text(&render(&request(&full, &orig, &outcomes)).expect("renders").expect("due"));
    assert!(bounce.contains("Original-Envelope-Id: ENV-42\r\n"));
    assert!(
        bounce.contains("Content-Type: message/rfc822") && bounce.contains("here is the report.\r\n\r\n--")
    );

    // Over the size limit, RET=FULL falls back to the headers.
    let mut req = request(&full, &orig, &outcomes);
    req.full_original_bytes_max = 100;
    let bounce = text(&render(&req).expect("renders").expect("due"));
    assert!(bounce.contains("Content-Type: text/rfc822-headers") && !bounce.contains("here is the report"));
}

#[test]
fn language_follows_the_original_then_the_tenant() {
    let env = envelope(vec![recipient("bob", None)]);
    let outcomes = [outcome(0, Action::Failed, (5, 1, 1))];
    let french = original("fr", "");
    let bounce = text(&render(&request(&env, &french, &outcomes)).expect("renders").expect("due"));
    assert!(bounce.contains("Subject: Non remis : Rapport trimestriel =?UTF-8?Q?=C3=A9t=C3=A9?=\r\n"));
    assert!(bounce.contains("Content-Language: fr\r\n"));

    let unlabelled = text(&original("en", "")).replace("Content-Language: en\r\n", "").into_bytes();
    let mut req = request(&env, &unlabelled, &outcomes);
    req.tenant_default_language = "fr-BE";
    let bounce = text(&render(&req).expect("renders").expect("due"));
    assert!(bounce.contains("Content-Language: fr\r\n"));
    req.tenant_default_language = "xx";
    let bounce = text(&render(&req).expect("renders").expect("due"));
    assert!(bounce.contains("Content-Language: en\r\n"));
}

#[test]
fn remote_text_is_escaped_in_html_and_kept_7bit_in_the_report() {
    let env = envelope(vec![recipient("bob", None)]);
    let orig = original("en", "");
    let outcomes =
        [remote(outcome(0, Action::Failed, (5, 0, 0)), "mx.example.com", "550 <script>x</script> refusé")];
    let bounce = text(&render(&request(&env, &orig, &outcomes)).expect("renders").expect("due"));
    let html_start = bounce.find("Content-Type: text/html").expect("html part");
    let html = &bounce[html_start..html_start + bounce[html_start..].find("\r\n--=_").expect("part end")];
    // Undo the quoted-printable soft breaks before looking for the escaped text.
    let html = html.replace("=\r\n", "");
    assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"), "{html}");
    assert!(bounce.contains("Diagnostic-Code: smtp; 550 <script>x</script> refus\\x{00E9}\r\n"));
}

#[test]
fn boundaries_never_occur_in_the_original() {
    let env = envelope(vec![recipient("bob", None)]);
    let orig = original("en", "X-Trap: =_report_0000000000000001.1\r\n");
    let outcomes = [outcome(0, Action::Failed, (5, 1, 1))];
    let bounce = text(&render(&request(&env, &orig, &outcomes)).expect("renders").expect("due"));
    assert!(bounce.contains("boundary=\"=_report_0000000000000001.1_1\""));
}

#[test]
fn caller_mistakes_are_typed_errors() {
    let env = envelope(vec![recipient("bob", None)]);
    let orig = original("en", "");
    let outcomes = [outcome(3, Action::Failed, (5, 1, 1))];
    let err = render(&request(&env, &orig, &outcomes)).expect_err("bad index");
    assert!(matches!(err, BounceError::RecipientIndex { index: 3, count: 1 }));

    let outcomes = [outcome(0, Action::Failed, (5, 1, 1))];
    let mut req = request(&env, &orig, &outcomes);
    req.reporting_mta = "mx.example\r\nBcc: victim@example.net";
    assert!(matches!(render(&req), Err(BounceError::InvalidField { field: "reporting_mta", .. })));
}

#[test]
fn nothing_due_without_outcomes() {
    let env = envelope(vec![recipient("bob", None)]);
    let orig = original("en", "");
    let outcomes: [RecipientOutcome; 0] = [];
    assert!(render(&request(&env, &orig, &outcomes)).expect("renders").is_none());
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
    assert!(help("9.9.9", en).is_none());
}

#[test]
fn each_emitted_code_links_to_its_own_page() {
    let code = |c, s, d| help_code_for(EnhancedCode::new(c, s, d), None);
    for (status, page) in [
        ((5, 7, 705), "5.7.705"),
        ((5, 7, 708), "5.7.708"),
        ((5, 7, 750), "5.7.750"),
        ((5, 7, 751), "5.7.751"),
        ((4, 7, 752), "4.7.752"),
    ] {
        assert_eq!(code(status.0, status.1, status.2), page);
    }
    let throttled = "451 4.7.505 Deferred: too many new addresses from this network from [203.0.113.7]. (AS505) Try again in 10 minutes";
    assert_eq!(help_code_for(EnhancedCode::new(4, 7, 505), Some(throttled)), "AS505");
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
    let outcomes = [outcome(0, Action::Failed, (5, 1, 1))];
    let bounce = text(&render(&request(&env, &orig, &outcomes)).expect("renders").expect("due"));
    assert!(bounce.contains("Subject: Undeliverable: =?UTF-8?Q?R=C3=A9union?= du lundi\r\n"), "{bounce}");
}

#[test]
fn overlong_original_header_lines_are_cut_to_the_smtp_limit() {
    let env = with_ret_envid(envelope(vec![recipient("bob", None)]), Ret::Full, "E1");
    let long = format!("X-Long: {}\r\n", "x".repeat(2000));
    let orig = original("en", &long);
    let outcomes = [outcome(0, Action::Failed, (5, 1, 1))];
    let bounce = render(&request(&env, &orig, &outcomes)).expect("renders").expect("due");
    assert!(bounce.split(|b| *b == b'\n').all(|line| line.len() <= 999));
    assert!(text(&bounce).contains("Content-Type: text/rfc822-headers"), "long lines fall back to headers");
}

#[test]
fn utf8_recipients_use_the_rfc6533_escaped_form() {
    let mut r = recipient("bob", None);
    r.address = address("jösé", "example.com");
    let env = envelope(vec![r]);
    let orig = original("en", "");
    let outcomes = [outcome(0, Action::Failed, (5, 1, 1))];
    let bounce = text(&render(&request(&env, &orig, &outcomes)).expect("renders").expect("due"));
    assert!(bounce.contains("Final-Recipient: utf-8; j\\x{00F6}s\\x{00E9}@example.com\r\n"), "{bounce}");
}
