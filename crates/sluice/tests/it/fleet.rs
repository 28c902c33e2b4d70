//! Fleet mode on PostgreSQL (`[store] url`): two `sluice serve` nodes on one database of a
//! private cluster; a change made through one node's CLI is in force on the other at its
//! next poll of the directory's generation (every 500 ms): a tenant, its domain and its
//! connector within the promised second of each command's exit, as a client of the other
//! node sees; so is a tenant's outbound block (5.7.705) tripped on one node and released
//! through the other; `sluice migrate`
//! creates, checks and reports the schemas; a node told not to migrate refuses an old schema.

use std::process::Command;
use std::time::{Duration, Instant};

use store::test_cluster::PgCluster;

use crate::harness::{Server, Settings, sluice_cli};

fn on_database(url: &str) -> Settings {
    Settings::default().key("store", "url", format!("{url:?}"))
}

#[test]
fn a_block_added_through_node_a_refuses_the_client_on_node_b() {
    let url = PgCluster::shared().fresh_database();
    let a = Server::start_with(on_database(&url));
    let b = Server::start_with(on_database(&url));
    let mut client = b.connect_from("127.0.0.9");
    client.expect("MAIL FROM:<a@sender.test>", 250);

    a.cli_ok(&["reputation", "block", "127.0.0.9/32", "--note", "fleet test"]);
    let changed = Instant::now();
    let deadline = changed + Duration::from_secs(15);
    let refused = loop {
        let mut client = b.connect_from("127.0.0.9");
        let reply = client.cmd("MAIL FROM:<a@sender.test>");
        if reply.code != 250 || Instant::now() > deadline {
            break reply.first_line();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(refused.starts_with("550 5.7.708") && refused.contains("[127.0.0.9]"), "{refused}\n{}", b.log());
    eprintln!("node B refused the client {:?} after node A's change", changed.elapsed());
    let listed = b.cli_ok(&["reputation", "list"]);
    assert!(listed.contains("127.0.0.9/32") && listed.contains("fleet test"), "one list for both: {listed}");
    assert!(b.log().contains("opening the store") && b.log().contains("postgres://postgres@127.0.0.1:"));
}

/// A config file on `url` in a folder of its own, as an operator's host would have.
fn config_on(url: &str, extra: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sluice.toml");
    let text = format!(
        "data_dir = \"data\"\n[smtp]\nlisten = [\"127.0.0.1:{}\"]\n[admin]\nenabled = false\n[store]\nurl = {url:?}\n{extra}",
        crate::harness::free_port()
    );
    std::fs::write(&path, text).expect("write the config");
    (dir, path)
}

#[test]
fn migrate_creates_checks_and_reports_the_schemas() {
    let url = PgCluster::shared().fresh_database();
    let (_dir, config) = config_on(&url, "");
    let (code, out) = sluice_cli(&config, &["migrate", "--check"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("the directory schema is at version 0, older than the 5")
            && out.contains("run `sluice migrate`"),
        "{out}"
    );
    let (code, out) = sluice_cli(&config, &["migrate"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("directory schema: created at version 5")
            && out.contains("trace schema: created at version 2"),
        "{out}"
    );
    assert!(!out.contains("password"), "{out}");
    let (code, out) = sluice_cli(&config, &["migrate", "--check"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("directory schema: version 5, up to date"), "{out}");
}

#[test]
fn a_node_that_must_not_migrate_refuses_an_old_schema_naming_the_command() {
    let url = PgCluster::shared().fresh_database();
    let (_dir, config) = config_on(&url, "migrate_at_start = false\n");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .expect("run sluice serve");
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("older than the") && text.contains("run `sluice migrate`"), "{text}");
}

#[test]
fn a_bad_store_url_is_a_config_error_naming_the_field() {
    let (_dir, config) = config_on("mysql://db.example/sluice", "");
    let (code, out) = sluice_cli(&config, &["tenant", "list"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("store.url: not a PostgreSQL URL"), "{out}");
}

/// The nodes' tenant directory on `url`, provisioned as the delivery tests' (tenant acme,
/// its on-premises server 127.0.0.2), and the store's generation after it.
fn provision_fleet(url: &str, mx_port: u16) -> u64 {
    let target = store::PgTarget::parse(url, None).expect("a PostgreSQL URL");
    let config = store::StoreConfig {
        location: store::Location::Postgres(Box::new(target)),
        migrate: store::Migrate::Apply,
    };
    let (mut store, _) = config.open_directory().expect("open the fleet's directory");
    crate::delivery::provision_store(&mut *store, mx_port);
    store.generation().expect("generation")
}

fn wait_generation(server: &Server, generation: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.status().and_then(|s| s.get("directory_generation")?.parse::<u64>().ok()) < Some(generation)
    {
        assert!(
            Instant::now() < deadline,
            "the node never loaded generation {generation}:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tenant tripped (5.7.705) by its bulk mail through node A is refused on node B as soon as
/// B polls the shared directory, and a release through B's CLI frees it on A.
#[test]
fn a_trip_through_node_a_blocks_node_b_and_a_release_on_b_frees_a() {
    use crate::delivery::{TENANT_DOMAIN, sluice_settings};
    use crate::outbound_protection::{accepted, bulk_settings, send, trip_by_bulk};
    let url = PgCluster::shared().fresh_database();
    let mx = crate::peers::MxServer::start();
    let node = || {
        let (settings, dns) =
            sluice_settings(bulk_settings().key("store", "url", format!("{url:?}")), mx.port);
        (Server::start_with(settings), dns)
    };
    let ((a, _dns_a), (b, _dns_b)) = (node(), node());
    let generation = provision_fleet(&url, mx.port);
    wait_generation(&a, generation);
    wait_generation(&b, generation);
    let alice = format!("alice@{TENANT_DOMAIN}");
    assert!(accepted(&send(&b, &alice, "friend@remote.test", "before")), "B serves the tenant");

    trip_by_bulk(&a);
    let tripped = Instant::now();
    let refused = crate::peers::wait_until(Duration::from_secs(15), || {
        let run = send(&b, &alice, "friend@remote.test", "lunch?");
        run.output().contains("550 5.7.705").then_some(run)
    });
    assert!(refused.is_some(), "B never refused the tripped tenant:\n{}", b.log());
    eprintln!("node B refused the tenant {:?} after node A's trip", tripped.elapsed());

    b.cli_ok(&["tenant", "release", "acme", "--by", "ops", "--reason", "fleet test"]);
    let flowing = crate::peers::wait_until(Duration::from_secs(15), || {
        accepted(&send(&a, &alice, "friend@remote.test", "free again")).then_some(())
    });
    assert!(flowing.is_some(), "A still refuses after B's release:\n{}", a.log());
}

/// The partner's sending server in [`a_tenant_domain_and_connector_added_on_a_are_in_force_on_b_within_a_second`].
const PARTNER_IP: &str = "127.0.0.7";

/// The product's promise: a directory change made on any node is in force on every node
/// within one second.
const IN_FORCE_WITHIN: Duration = Duration::from_secs(1);

/// RCPT TO:<rcpt> in a new session from [`PARTNER_IP`] (a session takes the directory in
/// force when it starts).
fn partner_rcpt(node: &Server, rcpt: &str) -> crate::harness::Reply {
    let mut client = node.connect_from(PARTNER_IP);
    client.expect("MAIL FROM:<news@partner.test>", 250);
    client.cmd(&format!("RCPT TO:<{rcpt}>"))
}

/// Runs `sluice <args>` on node A, then asks node B until its answer to `rcpt` `shows` the
/// change; asserts that took at most [`IN_FORCE_WITHIN`] from the CLI's exit.
fn in_force_on_b(
    (a, b): (&Server, &Server),
    args: &[&str],
    rcpt: &str,
    shows: impl Fn(&str) -> bool,
) -> (Duration, String) {
    let before = partner_rcpt(b, rcpt).first_line();
    assert!(!shows(&before), "node B already shows `sluice {}`: {before}", args.join(" "));
    let output = a.cli_ok(args);
    let exited = Instant::now();
    let (elapsed, reply) = loop {
        let reply = partner_rcpt(b, rcpt).first_line();
        let elapsed = exited.elapsed();
        // Past the promise, keep asking a while: the failure then says how late it came.
        if shows(&reply) || elapsed > IN_FORCE_WITHIN * 10 {
            break (elapsed, reply);
        }
        // Each probe is a new session: pace them so closed ones never pile up against
        // the per-IP connection cap.
        std::thread::sleep(Duration::from_millis(10));
    };
    eprintln!("`sluice {}` through node A: in force on node B after {elapsed:?}", args.join(" "));
    assert!(shows(&reply), "node B never showed `sluice {}`: {reply}\n{}", args.join(" "), b.log());
    assert!(
        elapsed <= IN_FORCE_WITHIN,
        "`sluice {}` through node A took {elapsed:?} to be in force on node B (promised: {IN_FORCE_WITHIN:?}): {reply}",
        args.join(" ")
    );
    (elapsed, output)
}

/// A tenant, its domain (added, then verified) and its partner connector added through node
/// A's CLI are each in force on node B within one second of the command's exit, as B's
/// answers to a real client show: the tenant's service domain goes from relay denied to an
/// unknown user, the new domain from "not accepted" to "not verified" to accepted (and
/// throttled: the partner's IP spent its allowance on B), and mail from the connector's
/// address stops being throttled.
#[test]
fn a_tenant_domain_and_connector_added_on_a_are_in_force_on_b_within_a_second() {
    let url = PgCluster::shared().fresh_database();
    let settings = || {
        on_database(&url)
            .throttled()
            .key("throttle.policy", "ip_floor_per_hour", "2.0")
            .key("throttle.policy", "ip_burst_min", "2.0")
            .key("throttle.policy", "burst_minutes", "1.0")
    };
    let (a, b) = (Server::start_with(settings()), Server::start_with(settings()));
    let mut client = b.connect_from(PARTNER_IP);
    client.expect("MAIL FROM:<news@partner.test>", 250);
    let mut spent = (0..10).map(|i| client.cmd(&format!("RCPT TO:<r{i}@{}>", crate::harness::DOMAIN)));
    assert!(spent.any(|r| r.code == 451), "the partner's IP never spent its allowance on B");
    drop(client);
    let nodes = (&a, &b);
    let (tenant, _) = in_force_on_b(nodes, &["tenant", "add", "globex"], "nobody@globex.sluice.test", |r| {
        r.starts_with("550 5.1.1")
    });
    let add = ["domain", "add", "globex.example", "--tenant", "globex", "--kind", "internal-relay"];
    let (domain, added) =
        in_force_on_b(nodes, &add, "x@globex.example", |r| r.contains("globex.example is not verified"));
    let token = added.split("sluice-verification=").nth(1).expect("the TXT record to publish");
    let token: String = token.chars().take_while(char::is_ascii_alphanumeric).collect();
    let dns =
        crate::peers::DnsServer::start(&format!(r#"{{"globex.example": ["sluice-verification={token}"]}}"#));
    let resolver = dns.addr.to_string();
    let verify = ["domain", "verify", "globex.example", "--resolver", &resolver];
    let (verified, _) = in_force_on_b(nodes, &verify, "x@globex.example", |r| {
        r.starts_with("451 4.7.5") && r.contains(&format!("[{PARTNER_IP}]"))
    });
    let connector = [
        "connector",
        "add",
        "partner",
        "--tenant",
        "globex",
        "--kind",
        "partner",
        "--ip",
        "127.0.0.7/32",
        "--no-require-tls",
    ];
    let (trusted, _) = in_force_on_b(nodes, &connector, "x@globex.example", |r| r.starts_with("250"));
    let took = [tenant, domain, verified, trusted];
    eprintln!("in force on node B after {took:?}");
}
