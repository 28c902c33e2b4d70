//! The directory commands (`sluice tenant|domain|recipient|connector|reputation`) against
//! the embedded store of a data directory, and `sluice domain verify` against a real DNS
//! server on loopback (dnslib).

use std::fs;
use std::path::PathBuf;

use crate::peers::DnsServer;

/// A config file with only `data_dir`, in its own temp dir.
struct DataDir {
    dir: tempfile::TempDir,
}

impl DataDir {
    fn new() -> DataDir {
        DataDir::with_config("")
    }

    /// `extra` is appended to the config file (TOML sections after `data_dir`).
    fn with_config(extra: &str) -> DataDir {
        let dir = tempfile::Builder::new().prefix("sluice-dir-").tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let config = format!("data_dir = {:?}\n{extra}", data.display().to_string());
        fs::write(dir.path().join("sluice.toml"), config).expect("write config");
        DataDir { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("sluice.toml")
    }

    /// Runs `sluice <args> --config <file>`: (exit code, stdout + stderr).
    fn run(&self, args: &[&str]) -> (Option<i32>, String) {
        crate::harness::sluice_cli(&self.config(), args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, text) = self.run(args);
        assert_eq!(code, Some(0), "`sluice {}` failed:\n{text}", args.join(" "));
        text
    }

    /// Fails, with a message containing every one of `needles`.
    fn fails(&self, args: &[&str], needles: &[&str]) -> String {
        let (code, text) = self.run(args);
        assert!(code.is_some_and(|c| c != 0), "`sluice {}` should fail:\n{text}", args.join(" "));
        for needle in needles {
            assert!(text.contains(needle), "`sluice {}`: expected {needle:?} in:\n{text}", args.join(" "));
        }
        text
    }
}

/// The token from `domain add`'s output (`sluice-verification=<token>`).
fn token_of(add_output: &str) -> String {
    let start =
        add_output.find("sluice-verification=").expect("TXT record printed") + "sluice-verification=".len();
    add_output[start..].chars().take_while(char::is_ascii_alphanumeric).collect()
}

#[test]
fn directory_happy_path() {
    let d = DataDir::new();
    let text = d.ok(&["tenant", "add", "acme", "--name", "Acme Corp"]);
    assert!(text.contains("acme.sluice.test"), "service domain named:\n{text}");
    assert!(d.dir.path().join("data").join("sluice.db").exists(), "the store is <data_dir>/sluice.db");
    d.ok(&["tenant", "add", "globex", "--service-domain", "mx.example.net", "--language", "fr"]);
    let list = d.ok(&["tenant", "list"]);
    assert!(list.contains("acme") && list.contains("Acme Corp") && list.contains("globex"), "{list}");

    let added = d.ok(&["domain", "add", "acme.example", "--tenant", "acme"]);
    let token = token_of(&added);
    assert!(token.len() >= 16, "token in:\n{added}");
    let domains = d.ok(&["domain", "list", "--tenant", "acme"]);
    assert!(domains.contains("acme.example") && domains.contains("pending"), "{domains}");
    assert!(domains.contains("acme.sluice.test") && domains.contains("verified"), "{domains}");

    d.ok(&["recipient", "add", "Bob@acme.example", "--tenant", "acme", "--alias", "robert"]);
    d.ok(&["recipient", "add", "carol@acme.example", "--tenant", "acme", "--smtp", "mail.acme.example:2525"]);
    let recipients = d.ok(&["recipient", "list", "--tenant", "acme"]);
    assert!(recipients.contains("bob@acme.example") && recipients.contains("robert"), "{recipients}");
    assert!(recipients.contains("smtp mail.acme.example:2525"), "{recipients}");

    d.ok(&[
        "connector",
        "add",
        "hq",
        "--tenant",
        "acme",
        "--kind",
        "on-premises",
        "--ip",
        "192.0.2.0/24",
        "--ip",
        "2001:db8::/32",
        "--cert-name",
        "*.mail.acme.example",
        "--require-tls",
    ]);
    d.ok(&[
        "connector",
        "add",
        "partner",
        "--tenant",
        "acme",
        "--kind",
        "partner",
        "--ip",
        "198.51.100.0/24",
        "--restrict-sender-domain",
        "partner.example",
        "--no-require-tls",
    ]);
    let show = d.ok(&["connector", "show", "hq", "--tenant", "acme"]);
    for needle in
        ["on-premises", "192.0.2.0/24", "2001:db8::/32", "*.mail.acme.example", "require tls:    yes"]
    {
        assert!(show.contains(needle), "{needle:?} in:\n{show}");
    }
    let show = d.ok(&["connector", "show", "partner", "--tenant", "acme"]);
    assert!(show.contains("partner.example") && show.contains("restrict sender domains: yes"), "{show}");
    assert!(show.contains("require tls:    no"), "{show}");
    d.ok(&["connector", "disable", "hq", "--tenant", "acme"]);
    let list = d.ok(&["connector", "list"]);
    assert!(list.lines().any(|l| l.contains("hq") && l.contains("disabled")), "{list}");
    d.ok(&["connector", "enable", "hq", "--tenant", "acme"]);
    let list = d.ok(&["connector", "list", "--tenant", "acme"]);
    assert!(list.lines().any(|l| l.contains("hq") && l.contains("enabled")), "{list}");

    let show = d.ok(&["tenant", "show", "acme"]);
    for needle in ["Acme Corp", "active", "acme.example", "hq", "partner", "recipients:   2"] {
        assert!(show.contains(needle), "{needle:?} in:\n{show}");
    }
    d.ok(&["tenant", "suspend", "acme"]);
    assert!(d.ok(&["tenant", "show", "acme"]).contains("suspended"));
    d.ok(&["tenant", "resume", "acme"]);
    assert!(d.ok(&["tenant", "show", "acme"]).contains("status:       active"));

    d.ok(&["reputation", "block", "203.0.113.0/24", "--note", "ticket 42"]);
    d.ok(&["reputation", "except", "203.0.113.8/29"]);
    let rep = d.ok(&["reputation", "list"]);
    assert!(
        rep.lines().any(|l| l.contains("203.0.113.0/24") && l.contains("block") && l.contains("ticket 42"))
    );
    assert!(rep.lines().any(|l| l.contains("203.0.113.8/29") && l.contains("exception")), "{rep}");
    d.ok(&["reputation", "remove", "203.0.113.8/29"]);
    assert!(!d.ok(&["reputation", "list"]).contains("203.0.113.8/29"));

    d.ok(&["recipient", "remove", "carol@acme.example"]);
    assert!(!d.ok(&["recipient", "list", "--tenant", "acme"]).contains("carol"));
    d.ok(&["connector", "remove", "partner", "--tenant", "acme"]);
    assert!(!d.ok(&["connector", "list"]).contains("partner.example"));
    d.ok(&["domain", "remove", "acme.example"]);
    assert!(!d.ok(&["domain", "list"]).contains("acme.example "));
    assert!(
        d.ok(&["recipient", "list", "--tenant", "acme"]).contains("no recipients"),
        "removed with the domain"
    );
}

#[test]
fn directory_errors_name_the_field() {
    let d = DataDir::new();
    d.ok(&["tenant", "add", "acme"]);
    d.ok(&["tenant", "add", "globex"]);
    d.ok(&["domain", "add", "shared.example", "--tenant", "acme"]);

    d.fails(
        &["connector", "add", "hq", "--tenant", "acme", "--kind", "partner", "--ip", "192.0.2.300/24"],
        &["connector.ip", "192.0.2.300/24"],
    );
    d.fails(
        &["connector", "add", "hq", "--tenant", "acme", "--kind", "partner", "--ip", "192.0.2.1/24"],
        &["connector.ip", "host bits"],
    );
    // A pending claim blocks nobody: globex claims the name too, and is told who else does.
    let claim = d.ok(&["domain", "add", "Shared.Example", "--tenant", "globex"]);
    assert!(claim.contains("tenant acme also claims shared.example"), "{claim}");
    d.fails(&["domain", "add", "shared.example", "--tenant", "acme"], &["shared.example", "tenant acme"]);
    d.fails(
        &["domain", "remove", "shared.example"],
        &["claimed by several tenants (acme, globex)", "--tenant"],
    );
    d.fails(&["domain", "add", "x.example", "--tenant", "nobody"], &["unknown tenant nobody"]);
    d.fails(
        &["connector", "add", "c", "--tenant", "nobody", "--kind", "partner", "--ip", "192.0.2.0/24"],
        &["unknown tenant nobody"],
    );
    d.fails(&["recipient", "add", "a@shared.example", "--tenant", "nobody"], &["unknown tenant nobody"]);
    d.fails(&["tenant", "show", "nobody"], &["unknown tenant nobody"]);
    d.fails(&["tenant", "suspend", "nobody"], &["unknown tenant nobody"]);
    d.fails(
        &["connector", "add", "c", "--tenant", "acme", "--kind", "friend", "--ip", "192.0.2.0/24"],
        &["connector.kind", "friend", "partner or on-premises"],
    );
    d.fails(&["domain", "add", "y.example", "--tenant", "acme", "--kind", "open"], &["domain.kind"]);
    d.fails(&["tenant", "add", "acme"], &["tenant acme already exists"]);
    d.fails(&["tenant", "add", "a.b"], &["tenant.id"]);
    d.fails(&["recipient", "add", "a@elsewhere.example", "--tenant", "acme"], &["recipient.address"]);
    d.fails(&["reputation", "block", "not-a-net"], &["reputation.cidr"]);
    d.fails(&["connector", "show", "ghost", "--tenant", "acme"], &["ghost"]);
    d.fails(&["domain", "verify", "unknown.example"], &["unknown domain unknown.example"]);
    d.fails(&["domain", "verify", "shared.example", "--resolver", "nowhere"], &["resolver"]);
}

/// `tenant add` takes the service domain from `[directory] service_domain`; the flag
/// overrides it; a bad value is refused naming the config field.
#[test]
fn tenant_service_domain_comes_from_the_config() {
    let d = DataDir::with_config("[directory]\nservice_domain = \"Mail.Example.NET\"\n");
    let text = d.ok(&["tenant", "add", "acme"]);
    assert!(text.contains("service domain acme.mail.example.net"), "{text}");
    let text = d.ok(&["tenant", "add", "globex", "--service-domain", "other.example"]);
    assert!(text.contains("service domain globex.other.example"), "{text}");
    let domains = d.ok(&["domain", "list"]);
    assert!(
        domains.lines().any(|l| l.contains("acme.mail.example.net") && l.contains("verified")),
        "{domains}"
    );

    let bad = DataDir::with_config("[directory]\nservice_domain = \"not a domain\"\n");
    bad.fails(&["tenant", "add", "acme"], &["directory.service_domain", "not a domain"]);
    let d = DataDir::new();
    assert!(d.ok(&["tenant", "add", "acme"]).contains("acme.sluice.test"), "the embedded default");
}

fn verify_with(d: &DataDir, domain: &str, records: &str) -> (Option<i32>, String) {
    let dns = DnsServer::start(records);
    d.run(&["domain", "verify", domain, "--resolver", &dns.addr.to_string()])
}

#[test]
fn domain_verify_against_a_real_dns_server() {
    let d = DataDir::new();
    d.ok(&["tenant", "add", "acme"]);
    let token = token_of(&d.ok(&["domain", "add", "acme.example", "--tenant", "acme"]));
    let good_token = token_of(&d.ok(&["domain", "add", "good.example", "--tenant", "acme"]));

    // A wrong token: refused, saying what was found and what to publish.
    let records = r#"{"acme.example": ["sluice-verification=0000wrong", "v=spf1 -all"]}"#;
    let (code, text) = verify_with(&d, "acme.example", records);
    assert!(code.is_some_and(|c| c != 0), "a wrong token verified:\n{text}");
    assert!(text.contains("sluice-verification=0000wrong"), "found value shown:\n{text}");
    assert!(text.contains(&format!("sluice-verification={token}")), "expected record shown:\n{text}");
    assert!(d.ok(&["domain", "list"]).lines().any(|l| l.contains("acme.example") && l.contains("pending")));

    // No TXT at all.
    let (code, text) = verify_with(&d, "acme.example", r#"{"other.example": ["x"]}"#);
    assert!(code.is_some_and(|c| c != 0) && text.contains("no TXT records"), "{text}");

    // The right token: verified and recorded.
    let records = format!(r#"{{"good.example": ["v=spf1 -all", "sluice-verification={good_token}"]}}"#);
    let (code, text) = verify_with(&d, "good.example", &records);
    assert_eq!(code, Some(0), "the right token did not verify:\n{text}");
    assert!(text.contains("verified"), "{text}");
    let list = d.ok(&["domain", "list"]);
    assert!(list.lines().any(|l| l.contains("good.example") && l.contains("verified")), "{list}");
    assert!(list.lines().any(|l| l.contains("acme.example") && l.contains("pending")), "{list}");
}
