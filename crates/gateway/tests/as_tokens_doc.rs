//! `docs/throttle-tokens.md` is the one table of AS tokens for admins; it is generated from
//! `throttle::AS_TABLE` so the two cannot drift. Run with `UPDATE_DOCS=1` to rewrite it.

use std::path::Path;

use gateway::inbound::throttling::deferral_reply;
use throttle::{AS_TABLE, Deferral, ThrottleKey};

/// The receiving tenant's side, the same for every token.
const RECEIVING_ADMIN: &str = "\
## For the admin of the receiving tenant

A deferral is not a loss: the sending server keeps the mail and retries, and the excess is
accepted as the sender earns an allowance. When a sender you know is throttled (a partner, a
service you use, your own on-premises server), check first that it is legitimate: its
address is one the partner or service publishes (its SPF record, its documentation), the
deferred mail is mail you expect, and `sluice throttle show <IP>` shows a surge that matches
something the sender did (a campaign, a migration) rather than a hijack. Then create an
inbound connector for it (`sluice connector add NAME --tenant TENANT --kind partner --ip
CIDR`, or `--kind on-premises` for your own servers, or by its TLS certificate name; a
partner connector requires TLS unless `--no-require-tls`): mail through a matching connector
is attributed to you and never throttled. An operator can
instead put the range on the allow list (`sluice throttle allow CIDR --note WHY`), which
exempts it for every tenant.
";

fn render() -> String {
    let mut out = String::from(
        "# Throttling reason tokens (ASnnn)\n\n\
         Sluice defers the excess of a client IP whose volume does not fit its sending history\n\
         with a temporary `451` reply that names a token. Legitimate mail servers retry and the\n\
         mail is accepted later. This table is generated from `throttle::AS_TABLE` by\n\
         `crates/gateway/tests/as_tokens_doc.rs`; edit the code, then run that test with\n\
         `UPDATE_DOCS=1`.\n\n\
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
    out.push_str(RECEIVING_ADMIN);
    out
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
