//! Fleet mode over Redis (`[throttle] redis_url`): real `sluice serve` nodes sharing a
//! private `redis-server`. What one node accepted from an IP counts on the others within
//! the exchange delay; a node started later begins from the shared history; with Redis
//! down every node goes on deciding on its own view, says so in its log and stats, and
//! the fleet's counts converge once Redis is back.

use std::time::{Duration, Instant};

use crate::harness::{Client, DELIVERY_TIMEOUT, DOMAIN, Server, Settings};
use crate::redis_server::RedisServer;

/// A node on `redis` whose policy lets a new IP send two recipients and then one every
/// half hour, so that each count of another node's is visible in a decision.
fn node(redis: &RedisServer) -> Server {
    Server::start_with(node_settings(redis))
}

fn node_settings(redis: &RedisServer) -> Settings {
    Settings::default()
        .throttled()
        .key("throttle", "redis_url", format!("{:?}", redis.url()))
        .key("throttle", "exchange_interval_ms", 100)
        .key("throttle.policy", "ip_floor_per_hour", "2.0")
        .key("throttle.policy", "ip_burst_min", "2.0")
        .key("throttle.policy", "burst_minutes", "1.0")
}

/// RCPT replies for `count` recipients in one transaction from `ip`.
fn rcpts(server: &Server, ip: &str, count: usize) -> Vec<u16> {
    let mut client: Client = server.connect_from(ip);
    client.expect("MAIL FROM:<sender@fleet.test>", 250);
    (0..count).map(|i| client.cmd(&format!("RCPT TO:<r{i}@{DOMAIN}>")).code).collect()
}

fn show(server: &Server, ip: &str) -> String {
    server.cli_ok(&["throttle", "show", ip])
}

fn stat(server: &Server, name: &str) -> u64 {
    let stats = server.cli_ok(&["throttle", "stats"]);
    stats
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in `sluice throttle stats`:\n{stats}"))
}

/// Polls `sluice throttle show IP` until it contains `needle` (the exchange delay is a
/// fraction of a second; the deadline is generous for a loaded machine).
fn wait_show(server: &Server, ip: &str, needle: &str) -> Duration {
    let start = Instant::now();
    loop {
        let out = show(server, ip);
        if out.contains(needle) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < DELIVERY_TIMEOUT,
            "`throttle show {ip}` never said {needle:?}:\n{out}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn recipients_accepted_on_node_a_count_against_the_ip_on_node_b() {
    let redis = RedisServer::start();
    let a = node(&redis);
    let b = node(&redis);
    assert_eq!(rcpts(&a, "127.0.0.5", 2), [250, 250], "the allowance of a new IP on A");
    let took = wait_show(&b, "127.0.0.5", "accepted this hour 2");
    eprintln!("node B knew of node A's recipients after {took:?}");
    let on_b = rcpts(&b, "127.0.0.5", 1);
    assert_eq!(on_b, [451], "node B accepted beyond the IP's fleet-wide allowance:\n{}", b.log());
    // Both nodes tell the same story of the IP: its two recipients and its deferral.
    wait_show(&a, "127.0.0.5", "accepted this hour 2");
    assert!(stat(&b, "fleet_throttle_deltas_merged") >= 2, "the IP and its prefix");
    assert_eq!(stat(&a, "fleet_redis_connected"), 1);
}

#[test]
fn a_node_started_later_begins_from_the_shared_history() {
    let redis = RedisServer::start();
    let a = node(&redis);
    assert_eq!(rcpts(&a, "127.0.0.6", 3), [250, 250, 451]);
    // Published: the IP's record is in Redis once A's batch is.
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    while stat(&a, "fleet_batches_published") == 0 {
        assert!(Instant::now() < deadline, "node A never published:\n{}", a.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let c = node(&redis);
    assert!(c.log().contains("shared throttle history loaded"), "{}", c.log());
    assert!(stat(&c, "fleet_shared_records_loaded") >= 2, "the IP and its prefix");
    assert_eq!(rcpts(&c, "127.0.0.6", 1), [451], "a new node forgot the IP's spent allowance:\n{}", c.log());
    assert!(show(&c, "127.0.0.6").contains("accepted this hour 2"), "{}", show(&c, "127.0.0.6"));

    // What the README promises of Redis' memory per tracked key: one small string, with
    // the configured lifetime (30 days by default).
    let mut key = b"sluice:throttle:record:".to_vec();
    key.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 6, 128]);
    let bytes: u64 =
        redis.command(&[b"MEMORY", b"USAGE", &key]).trim_start_matches(':').parse().expect("bytes");
    eprintln!("Redis holds one IP's record in {bytes} bytes");
    assert!((100..=200).contains(&bytes), "{bytes} bytes for one IP's record");
    let ttl: u64 = redis.command(&[b"TTL", &key]).trim_start_matches(':').parse().expect("seconds");
    assert!((29 * 86_400..=30 * 86_400).contains(&ttl), "TTL {ttl} s");
}

#[test]
fn with_redis_down_nodes_decide_locally_and_converge_when_it_returns() {
    let mut redis = RedisServer::start();
    let a = node(&redis);
    let b = node(&redis);
    redis.kill();
    a.wait_log_count("Redis unreachable", 1);
    b.wait_log_count("Redis unreachable", 1);
    // Decisions go on, on each node's own view: each accepts the new IP's allowance.
    let started = Instant::now();
    assert_eq!(rcpts(&a, "127.0.0.7", 2), [250, 250], "{}", a.log());
    assert_eq!(rcpts(&b, "127.0.0.7", 2), [250, 250], "{}", b.log());
    eprintln!("4 recipients decided in {:?} with Redis down", started.elapsed());
    // Mail flows: a message through A is delivered.
    let mut client = a.connect_from("127.0.0.8");
    client.send_message(
        "sender@fleet.test",
        &[&format!("outage@{DOMAIN}")],
        "Subject: outage\r\n\r\nbody\r\n",
    );
    a.wait_for_mail("outage", 1);
    assert_eq!(stat(&a, "fleet_redis_connected"), 0);
    assert_eq!(stat(&a, "fleet_redis_outages"), 1);
    assert!(stat(&a, "fleet_redis_down_since_unix_s") > 0);

    redis.restart();
    a.wait_log_count("Redis reachable again", 1);
    b.wait_log_count("Redis reachable again", 1);
    // The counts each node kept through the outage reach the other.
    wait_show(&a, "127.0.0.7", "accepted this hour 4");
    wait_show(&b, "127.0.0.7", "accepted this hour 4");
    assert_eq!(stat(&b, "fleet_redis_connected"), 1);
}

/// A node on `redis` asking `resolver` about the DNSBL zone (throttling off).
fn dnsbl_node(redis: &RedisServer, resolver: &str) -> Server {
    let settings = Settings::default()
        .key("throttle", "redis_url", format!("{:?}", redis.url()))
        .key("throttle", "exchange_interval_ms", 100)
        .key("reputation", "dnsbl_zones", format!("[\"{}\"]", crate::dnsbl::ZONE))
        .key("reputation", "dnsbl_timeout_ms", 2000)
        .key("dns", "resolver", format!("\"{resolver}\""));
    let server = Server::start_with(settings);
    crate::dnsbl::provision(&server);
    server
}

#[test]
fn a_dnsbl_verdict_found_by_node_a_is_used_by_node_b() {
    let redis = RedisServer::start();
    let records = format!(r#"{{"2.0.0.127.{}": {{"A": ["127.0.0.2"]}}}}"#, crate::dnsbl::ZONE);
    let dns = crate::peers::DnsServer::start(&records);
    let a = dnsbl_node(&redis, &dns.addr.to_string());
    let refused = a.connect_from("127.0.0.2").cmd("MAIL FROM:<news@sender.test>");
    assert!(refused.first_line().starts_with("550 5.7.708"), "{refused}");
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    while stat(&a, "fleet_batches_published") == 0 {
        assert!(Instant::now() < deadline, "node A never published its verdict:\n{}", a.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    // B's resolver never answers: only A's verdict can list the client there.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a silent DNS port");
    let b = dnsbl_node(&redis, &silent.local_addr().expect("addr").to_string());
    let refused = b.connect_from("127.0.0.2").cmd("MAIL FROM:<news@sender.test>");
    assert!(
        refused.first_line().starts_with("550 5.7.708"),
        "B did not use A's verdict: {refused}\n{}",
        b.log()
    );
    assert_eq!(stat(&b, "fleet_dnsbl_shared_hits"), 1);
    assert_eq!(b.log_count("DNSBL lookup failed"), 0, "B asked the zone itself:\n{}", b.log());
}

/// Bulk mail from the tenant spread over two nodes counts against its one threshold: after
/// two bulk messages through A, B trips the tenant on its own first (the third), where a
/// node on its own would accept three.
#[test]
fn outbound_protection_counts_are_fleet_wide() {
    use crate::delivery::{TENANT_DOMAIN, start, start_sluice};
    use crate::outbound_protection::{accepted, bulk_settings, send};
    let redis = RedisServer::start();
    let on_redis = |s: Settings| {
        s.key("throttle", "redis_url", format!("{:?}", redis.url())).key(
            "throttle",
            "exchange_interval_ms",
            100,
        )
    };
    let a = start(on_redis(bulk_settings()));
    let (b, _dns) = start_sluice(on_redis(bulk_settings()), a.mx.port);
    let alice = format!("alice@{TENANT_DOMAIN}");
    let bulk = |server: &Server| {
        let body = "WIN BIG NOW!!! Click here to claim your prize: http://prize.example/claim";
        send(server, &alice, "a@remote.test,b@remote.test,c@remote.test", body)
    };
    for n in 0..2 {
        let run = bulk(&a.server);
        assert!(accepted(&run), "bulk message {n} through A:\n{run}");
    }
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    // Each message brings an event per recipient as well: wait for A's two messages.
    while stat(&b, "fleet_protection_messages_merged") < 2 {
        assert!(Instant::now() < deadline, "B never merged A's messages:\n{}", b.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let third = bulk(&b);
    assert!(accepted(&third), "the third bulk message, B's first:\n{third}");
    let fourth = bulk(&b);
    assert!(
        fourth.output().contains("550 5.7.705"),
        "B counted only its own messages:\n{fourth}\n{}",
        b.log()
    );
}

/// Connections of one blast, recipients per connection, and the pause between recipients:
/// 2,000 recipients at about 500 a second, a bounded run in which the fleet's exchange
/// delay (a few tens of milliseconds here) is a small part.
const BLAST_CONNECTIONS: usize = 40;
const BLAST_RCPTS: usize = 50;
const BLAST_PAUSE: Duration = Duration::from_millis(2);

/// A blast from `local` to `addr`: (accepted, deferred) recipients.
fn paced_blast(addr: std::net::SocketAddr, local: &str) -> (usize, usize) {
    let (mut accepted, mut deferred) = (0, 0);
    for c in 0..BLAST_CONNECTIONS {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
        let from: std::net::SocketAddr = format!("{local}:0").parse().expect("local address");
        socket.bind(&from.into()).expect("bind the local address");
        socket.connect(&addr.into()).expect("connect");
        let mut client = Client::from_stream(socket.into());
        client.greet();
        client.expect("MAIL FROM:<blaster@fleet.test>", 250);
        for i in 0..BLAST_RCPTS {
            match client.cmd(&format!("RCPT TO:<c{c}r{i}@{DOMAIN}>")).code {
                250 => accepted += 1,
                451 => deferred += 1,
                other => panic!("RCPT answered {other}"),
            }
            std::thread::sleep(BLAST_PAUSE);
        }
        client.expect("QUIT", 221);
    }
    (accepted, deferred)
}

/// Two nodes behind HAProxy (round robin, PROXY v2) sharing Redis defer a blast from one
/// client IP like one node alone does, and either node explains the IP the same way.
#[test]
fn a_blast_through_haproxy_to_two_nodes_is_deferred_like_one_node() {
    let redis = RedisServer::start();
    let fleet_node = || {
        Server::start_with(
            Settings::default()
                .throttled()
                .key("throttle", "redis_url", format!("{:?}", redis.url()))
                .key("throttle", "exchange_interval_ms", 20)
                .smtp("proxy_protocol", true)
                .smtp("proxy_trusted", "[\"127.0.0.1/32\"]"),
        )
    };
    let (a, b) = (fleet_node(), fleet_node());
    let single = Server::start_with(Settings::default().throttled());
    let proxy = crate::proxy::haproxy_before_all(&[&a, &b]);
    let through = std::net::SocketAddr::from(([127, 0, 0, 4], proxy.port));
    // The harness's own readiness probe is such a connection; HAProxy's must not be.
    let unheaded = "without a valid PROXY protocol header";
    let before = [a.log_count(unheaded), b.log_count(unheaded)];

    let (fleet, one) = std::thread::scope(|s| {
        let fleet = s.spawn(|| paced_blast(through, "127.0.0.20"));
        let one = s.spawn(|| paced_blast(single.addr(), "127.0.0.21"));
        (fleet.join().expect("fleet blast"), one.join().expect("single blast"))
    });
    let fraction = |(accepted, deferred): (usize, usize)| deferred as f64 / (accepted + deferred) as f64;
    eprintln!(
        "deferred through HAProxy to two nodes {:.2}% ({fleet:?}), one node {:.2}% ({one:?})",
        100.0 * fraction(fleet),
        100.0 * fraction(one)
    );
    assert!(a.log_count("127.0.0.20") > 0 && b.log_count("127.0.0.20") > 0, "both nodes served the client");
    assert!(fraction(one) > 0.5, "the single node deferred the blast: {one:?}");
    assert!(
        (fraction(fleet) - fraction(one)).abs() <= 0.02,
        "two nodes {fleet:?} against one {one:?}:\n{}\n{}",
        a.log(),
        b.log()
    );
    // HAProxy's SMTP health checks (PROXY v2 LOCAL) were served, none refused.
    for (node, before) in [&a, &b].into_iter().zip(before) {
        assert_eq!(node.log_count(unheaded), before, "{}", node.log());
    }
    // Each node's record of the IP holds the whole fleet's recipients.
    let story = format!("accepted this hour {}", fleet.0);
    wait_show(&a, "127.0.0.20", &story);
    wait_show(&b, "127.0.0.20", &story);
}

/// Messages of the crash test: one swaks run each, through HAProxy.
const CRASH_BURST: usize = 30;

/// swaks through `proxy` from 127.0.0.30 with `token` as the subject; true when queued.
fn swaks_through(proxy: &crate::proxy::Haproxy, token: &str) -> bool {
    let swaks = crate::harness::require_tool("swaks");
    let port = proxy.port.to_string();
    let to = format!("burst@{DOMAIN}");
    let header = format!("Subject: {token}");
    let args = ["--server", "127.0.0.4", "--port", &port, "--local-interface", "127.0.0.30"];
    let run = crate::harness::run_tool(
        &swaks,
        &[&args[..], &["--from", "s@fleet.test", "--to", &to, "--header", &header, "--timeout", "20"]]
            .concat(),
    );
    run.output().contains("250 2.0.0 Ok: queued")
}

/// Subjects of the messages in `burst`'s Maildir on both nodes.
fn delivered(nodes: [&Server; 2]) -> Vec<String> {
    let files = nodes.iter().flat_map(|n| crate::harness::maildir_files(&n.maildir_new("burst")));
    files
        .flat_map(|f| {
            let text = crate::harness::read_lossy(&f);
            text.lines().filter_map(|l| l.strip_prefix("Subject: ").map(str::to_string)).collect::<Vec<_>>()
        })
        .collect()
}

/// Node A killed with SIGKILL in the middle of a burst through HAProxy: node B goes on
/// serving, and every message A acknowledged (and could not deliver yet) is delivered once
/// A is back.
#[test]
fn a_node_killed_mid_burst_loses_nothing_it_acknowledged() {
    let redis = RedisServer::start();
    let on_redis = || Settings::default().key("throttle", "redis_url", format!("{:?}", redis.url()));
    let behind = |s: Settings| s.smtp("proxy_protocol", true).smtp("proxy_trusted", "[\"127.0.0.1/32\"]");
    // A retries a deferred message within a second of its restart.
    let mut a = Server::start_with(behind(on_redis()).key("delivery", "retry_first_s", 1));
    let b = Server::start_with(behind(on_redis()));
    let proxy = crate::proxy::haproxy_before_all(&[&a, &b]);
    // A cannot deliver to the mailbox until it restarts (a file where its folder belongs,
    // which even root cannot create folders in): what it acknowledges is still in its
    // spool when it is killed.
    let blocker = a.data_dir().join("mail").join(DOMAIN).join("burst");
    std::fs::create_dir_all(blocker.parent().expect("parent")).expect("mail folder");
    std::fs::write(&blocker, "not a folder").expect("blocker");

    let acked = std::sync::Mutex::new(Vec::new());
    let sent = std::sync::atomic::AtomicUsize::new(0);
    let killed_after = std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..CRASH_BURST {
                let token = format!("burst-{i}");
                if swaks_through(&proxy, &token) {
                    acked.lock().expect("acked").push(token);
                }
                sent.store(i + 1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let deadline = Instant::now() + DELIVERY_TIMEOUT;
        while acked.lock().expect("acked").len() < CRASH_BURST / 3 {
            assert!(Instant::now() < deadline, "the burst did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        a.kill9();
        sent.load(std::sync::atomic::Ordering::SeqCst)
    });
    let acked = acked.into_inner().expect("acked");
    let after_kill = acked
        .iter()
        .filter(|t| t.trim_start_matches("burst-").parse::<usize>().is_ok_and(|i| i > killed_after))
        .count();
    eprintln!("{} of {CRASH_BURST} acknowledged, {after_kill} after node A was killed", acked.len());
    assert!(after_kill >= CRASH_BURST / 3, "node B did not keep serving: {acked:?}");

    let pending = acked.len() - delivered([&a, &b]).len();
    eprintln!("{pending} acknowledged messages undelivered when node A was killed");
    assert!(pending > 0, "nothing acknowledged by A was still undelivered when it was killed");
    std::fs::remove_file(&blocker).expect("remove the blocker");
    a.spawn();
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    loop {
        let found = delivered([&a, &b]);
        let missing: Vec<&String> = acked.iter().filter(|t| !found.contains(t)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "acknowledged but never delivered: {missing:?}\n{}", a.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}
