//! `docs/throttle-tokens.md` is the one table of AS tokens for admins; it is generated from
//! `throttle::AS_TABLE` and the help pages' text for the receiving organisation's admin, so
//! they cannot drift. Run with `UPDATE_DOCS=1` to rewrite it.

use std::path::Path;

use gateway::inbound::throttling::deferral_reply;
use throttle::{AS_TABLE, Deferral, ThrottleKey};

/// Where a tenant's admin checks a throttled sender and creates its connector: the admin
/// center and its API, never operator commands (tenant admins have none).
const RECEIVING_ADMIN_HOW: &str = "\
How, in the admin center or its API (a tenant-admin token sees the clients that sent to its
organisation in the last 10 days):

- what the sending IP gets now and why: `GET /api/v1/throttle/ips/<IP>`, which also names your
  connectors that cover it;
- the mail it sent you and what was deferred: the message trace, `GET
  /api/v1/trace/messages?ip=<IP>&status=deferred`;
- the connector: the connector wizard (from a partner organisation or from your own mail
  server, identified by IP addresses or by certificate name, TLS required), or `POST
  /api/v1/tenants/<tenant>/connectors` with `{\"name\": \"partner relay\", \"kind\": \"partner\",
  \"ip\": [\"203.0.113.0/24\"]}` (`\"kind\": \"on-premises\"` for your own servers,
  `\"certificate_name\"` for a certificate name).

A connector applies to your own recipients only: another organisation using the same sender
decides for its own.
";

/// The operator's tools for the same questions.
const OPERATOR: &str = "\
## For the operator

- `sluice throttle show <IP>`: what the IP's next recipient would get and why, and which
  tenants' connectors and which allow-list entry cover it.
- `sluice throttle list --throttled [--since 1h] [--json]`: the IPs and network prefixes
  deferred recently, with their counts per token, most first.
- `sluice throttle stats`: the counters per verdict and token since they began (they survive
  restarts); recipients through a connector or the allow list are counted as bypassed.
- `[throttle] mode = \"observe\"`: decide, log (`would defer recipient ... (AS501)`) and count
  everything as if enforcing, but accept; switch to `\"enforce\"` with a reload once the
  figures look right.
- `sluice throttle allow CIDR --note WHY`: exempts a range for every tenant; prefer the
  tenant's own connector, which exempts it for that tenant's recipients only.
- The log writes the first deferral of a client IP and token in a minute in full and the
  rest of that minute as one line with their count (`rcpt_count`, `repeated=true`).
";

fn render() -> String {
    let mut out = String::from(
        "# Throttling reason tokens (ASnnn)\n\n\
         Sluice defers the excess of a client IP whose volume does not fit its sending history\n\
         with a temporary `451` reply that names a token. Legitimate mail servers retry and the\n\
         mail is accepted later. This page is generated from `throttle::AS_TABLE` and the help\n\
         pages' texts (`crates/bounce/locales/`) by `crates/gateway/tests/as_tokens_doc.rs`;\n\
         edit those, then run that test with `UPDATE_DOCS=1`.\n\n\
         | token | reply | rule |\n|---|---|---|\n",
    );
    for rule in AS_TABLE {
        let example = deferral_reply(
            "203.0.113.7".parse().expect("ip"),
            &Deferral {
                token: rule.token,
                key: ThrottleKey::Ip("203.0.113.7".parse().expect("ip")),
                observed_per_hour: 0.0,
                baseline_per_hour: 0.0,
                allowance_per_hour: 0.0,
                retry_after_s: 600,
            },
        );
        out.push_str(&format!("| {} | `{}` | {} |\n", rule.name, example.summary(), rule.rule));
    }
    out.push_str("\n## What to do\n\nFor the admin of the sending server:\n\n");
    for rule in AS_TABLE {
        out.push_str(&format!("### {}: {}\n\n{}\n\n", rule.name, rule.reason, rule.help));
    }
    let english = bounce::Lang::from_tag("en").expect("en");
    let recipient = bounce::help("AS501", english).and_then(|h| h.recipient_admin).expect("AS501 help");
    out.push_str("## For the admin of the receiving tenant\n\n");
    out.push_str(&wrap(&recipient, 92));
    out.push_str("\n\n");
    out.push_str(RECEIVING_ADMIN_HOW);
    out.push('\n');
    out.push_str(OPERATOR);
    out
}

/// Words of `text` in lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> String {
    let mut lines: Vec<String> = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("a line");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines.join("\n")
}

#[test]
fn the_token_table_in_docs_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/throttle-tokens.md");
    let expected = render();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).expect("write docs");
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(actual == expected, "docs/throttle-tokens.md is stale; rerun this test with UPDATE_DOCS=1");
}
