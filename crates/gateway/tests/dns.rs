//! Domain verification against a real DNS server (Python dnslib) on loopback.

mod common;

use common::start_dns as start;
use gateway::dns::{Dns, MailExchangers, Verification};

#[tokio::test]
async fn verification_token_is_found_missing_or_absent() {
    let server = start(
        r#"{"owned.test": ["v=spf1 -all", "sluice-verification=tok123"],
            "other.test": ["sluice-verification=old"],
            "empty.test": []}"#,
    );
    let dns = Dns::new(Some(server.addr)).expect("resolver");
    assert_eq!(dns.verify_domain("owned.test", "tok123").await.expect("lookup"), Verification::Verified);
    assert_eq!(dns.verify_domain("OWNED.test.", "tok123").await.expect("lookup"), Verification::Verified);
    assert_eq!(
        dns.verify_domain("other.test", "tok123").await.expect("lookup"),
        Verification::TokenMissing { found: vec!["sluice-verification=old".into()] }
    );
    assert_eq!(dns.verify_domain("empty.test", "tok123").await.expect("lookup"), Verification::NoRecords);
    assert_eq!(dns.verify_domain("missing.test", "tok123").await.expect("lookup"), Verification::NoRecords);
    let txt = dns.txt("owned.test").await.expect("lookup");
    assert!(txt.contains(&"v=spf1 -all".to_string()), "{txt:?}");
}

#[tokio::test]
async fn mail_exchangers_in_preference_order_null_mx_and_implicit() {
    let server = start(
        r#"{"multi.test": {"MX": [[20, "mx2.multi.test"], [10, "mx1.multi.test"]]},
            "mx1.multi.test": {"A": ["127.0.0.10"], "AAAA": ["::1"]},
            "nomail.test": {"MX": [[0, "."]]},
            "bare.test": {"A": ["127.0.0.11"]}}"#,
    );
    let dns = Dns::new(Some(server.addr)).expect("resolver");
    assert_eq!(
        dns.mail_exchangers("multi.test").await.expect("lookup"),
        MailExchangers::Hosts(vec!["mx1.multi.test".into(), "mx2.multi.test".into()])
    );
    assert_eq!(dns.mail_exchangers("nomail.test").await.expect("lookup"), MailExchangers::NullMx);
    assert_eq!(
        dns.mail_exchangers("bare.test").await.expect("lookup"),
        MailExchangers::Implicit("bare.test".into())
    );
    assert_eq!(dns.mail_exchangers("gone.test").await.expect("lookup"), MailExchangers::NoSuchDomain);
    let mut addresses = dns.addresses("mx1.multi.test").await.expect("lookup");
    addresses.sort();
    assert_eq!(
        addresses,
        vec!["127.0.0.10".parse::<std::net::IpAddr>().expect("ip"), "::1".parse().expect("ip")]
    );
}
