//! Postfix on both sides of Sluice, as a private instance: as the sending MTA (its smtp(8)
//! client: ESMTP, PIPELINING, opportunistic STARTTLS) relaying through Sluice, and as the
//! receiving MX Sluice delivers to (its smtpd(8) offers PIPELINING, DSN, STARTTLS and
//! 8BITMIME; its virtual(8) agent writes Maildirs; its own DSNs come back through Sluice).
//! Needs root (Postfix's master runs as root) and the `postfix` package
//! (scripts/install-test-deps.sh).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::delivery::{TENANT_DOMAIN, mailbox, start_sluice, swaks};
use crate::harness::{
    DELIVERY_TIMEOUT, DOMAIN, Server, Settings, free_port, header_block, maildir_files, read_lossy,
    require_tool, run_tool, self_signed, token,
};
use crate::peers::{check_dsn, wait_until};

/// Postfix accepts a private config directory only when the default main.cf
/// lists it by name, so the path is fixed.
const POSTFIX_DIR: &str = "/var/tmp/sluice-it-postfix";

/// One private instance at a time, across test processes too (several checkouts may run
/// their tests on one machine): they share `POSTFIX_DIR`, so each holds an exclusive lock on
/// this file while it runs.
const POSTFIX_LOCK: &str = "/var/tmp/sluice-it-postfix.lock";

#[derive(Debug)]
struct Postfix {
    dir: PathBuf,
    port: u16,
    /// The lock on `POSTFIX_LOCK`, released when dropped (after the instance stopped).
    _instance: fs::File,
}

/// What the private instance is for.
#[derive(Debug)]
enum Role<'a> {
    /// Postfix relays everything to Sluice (`relayhost`), as a customer's MTA would.
    Sending,
    /// Postfix is the MX of `domain`: its own SMTP server (STARTTLS with a self-signed
    /// certificate, PIPELINING, DSN, 8BITMIME) delivers the listed mailboxes to Maildirs
    /// under `mail/<domain>/<local part>/` and refuses other recipients `550 5.1.1`; its
    /// notifications (DSNs) go to Sluice (`relayhost`).
    ReceivingMx { domain: &'a str, mailboxes: &'a [&'a str] },
}

impl Postfix {
    /// A sending instance relaying to Sluice on `relay_port`.
    fn start(relay_port: u16) -> Postfix {
        Postfix::start_with(relay_port, "", &[])
    }

    /// [`Postfix::start`] with `extra_main_cf` appended to main.cf (later settings win)
    /// and `etc_files` (name, content) written beside it.
    fn start_with(relay_port: u16, extra_main_cf: &str, etc_files: &[(&str, &str)]) -> Postfix {
        Postfix::launch(free_port(), relay_port, &Role::Sending, extra_main_cf, etc_files)
    }

    /// An instance that is the MX of `domain` on `port`, sending its DSNs to Sluice on
    /// `relay_port`.
    fn receiving_mx(port: u16, relay_port: u16, domain: &str, mailboxes: &[&str]) -> Postfix {
        Postfix::launch(port, relay_port, &Role::ReceivingMx { domain, mailboxes }, "", &[])
    }

    fn launch(
        port: u16,
        relay_port: u16,
        role: &Role<'_>,
        extra_main_cf: &str,
        etc_files: &[(&str, &str)],
    ) -> Postfix {
        require_tool("postfix");
        let instance = fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(POSTFIX_LOCK)
            .expect("open the Postfix instance lock");
        instance.lock().expect("lock the Postfix instance");
        let uid = Command::new("id").arg("-u").output().expect("run id");
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "the Postfix interop tests must run as root (they start a private Postfix instance)"
        );
        let dir = PathBuf::from(POSTFIX_DIR);
        stop_instance(&dir); // left over by a run that was killed
        let _ = fs::remove_dir_all(&dir);
        for sub in ["etc", "queue", "data", "log", "mail"] {
            fs::create_dir_all(dir.join(sub)).expect("create postfix dirs");
        }
        for owned in ["data", "mail"] {
            let chown = Command::new("chown").arg("postfix:postfix").arg(dir.join(owned)).status();
            assert!(chown.is_ok_and(|s| s.success()), "chown postfix {owned} dir");
        }
        register_config_dir();
        let (main_extra, master_extra) = match role {
            Role::Sending => ("bounce_queue_lifetime = 0\n".to_owned(), ""),
            Role::ReceivingMx { domain, mailboxes } => {
                (receiving_config(&dir, domain, mailboxes), MASTER_VIRTUAL)
            }
        };
        let d = dir.display();
        let main_cf = format!(
            "compatibility_level = 3.6\n\
             myhostname = postfix-it.it.test\nmydomain = it.test\nmyorigin = it.test\n\
             mydestination =\ninet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n\
             mynetworks = 127.0.0.0/8\nqueue_directory = {d}/queue\ndata_directory = {d}/data\n\
             maillog_file = {d}/log/postfix.log\nmaillog_file_prefixes = {d}\n\
             alias_maps =\nalias_database =\nlocal_transport = error:no local delivery\n\
             relayhost = [127.0.0.1]:{relay_port}\n\
             smtp_tls_security_level = may\nsmtp_tls_loglevel = 1\n\
             smtpd_peername_lookup = no\n\
             smtp_connect_timeout = 10s\nqueue_run_delay = 1s\nminimal_backoff_time = 1s\n{main_extra}{extra_main_cf}"
        );
        fs::write(dir.join("etc/main.cf"), main_cf).expect("write main.cf");
        for (name, content) in etc_files {
            fs::write(dir.join("etc").join(name), content).expect("write postfix etc file");
        }
        let master_cf = format!(
            "127.0.0.1:{port} inet n - n - - smtpd\n\
             pickup unix n - n 60 1 pickup\ncleanup unix n - n - 0 cleanup\n\
             qmgr unix n - n 300 1 qmgr\ntlsmgr unix - - n 1000? 1 tlsmgr\n\
             rewrite unix - - n - - trivial-rewrite\nbounce unix - - n - 0 bounce\n\
             defer unix - - n - 0 bounce\ntrace unix - - n - 0 bounce\n\
             verify unix - - n - 1 verify\nflush unix n - n 1000? 0 flush\n\
             proxymap unix - - n - - proxymap\nsmtp unix - - n - - smtp\n\
             relay unix - - n - - smtp\nshowq unix n - n - - showq\n\
             error unix - - n - - error\nretry unix - - n - - error\n\
             discard unix - - n - - discard\nanvil unix - - n - 1 anvil\n\
             scache unix - - n - 1 scache\npostlog unix-dgram n - n - 1 postlogd\n{master_extra}"
        );
        fs::write(dir.join("etc/master.cf"), master_cf).expect("write master.cf");
        let postfix = Postfix { dir, port, _instance: instance };
        let out =
            Command::new("postfix").arg("-c").arg(postfix.etc()).arg("start").output().expect("run postfix");
        assert!(
            out.status.success(),
            "postfix start failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            postfix.log()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "postfix not listening:\n{}", postfix.log());
            thread::sleep(Duration::from_millis(100));
        }
        postfix
    }

    fn etc(&self) -> PathBuf {
        self.dir.join("etc")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("log/postfix.log")).unwrap_or_default()
    }
}

/// The `virtual(8)` delivery agent, for the receiving MX.
const MASTER_VIRTUAL: &str = "virtual unix - n n - - virtual\n";

/// main.cf lines of the receiving MX: its domain's mailboxes (a `texthash` map needs no
/// `postmap`), owned by the `postfix` user, and STARTTLS with a self-signed certificate whose
/// use Postfix notes in its `Received:` header.
fn receiving_config(dir: &Path, domain: &str, mailboxes: &[&str]) -> String {
    let map: String = mailboxes.iter().map(|m| format!("{m}@{domain} {domain}/{m}/\n")).collect();
    fs::write(dir.join("etc/vmailbox"), map).expect("write the mailbox map");
    let (cert, key) = self_signed(&dir.join("etc"), &format!("mx.{domain}"));
    let id = |flag: &str| {
        let out = Command::new("id").arg(flag).arg("postfix").output().expect("run id");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let (uid, gid) = (id("-u"), id("-g"));
    let d = dir.display();
    format!(
        "virtual_mailbox_domains = {domain}\nvirtual_mailbox_base = {d}/mail\n\
         virtual_mailbox_maps = texthash:{d}/etc/vmailbox\n\
         virtual_uid_maps = static:{uid}\nvirtual_gid_maps = static:{gid}\n\
         smtpd_tls_security_level = may\nsmtpd_tls_cert_file = {cert}\nsmtpd_tls_key_file = {key}\n\
         smtpd_tls_loglevel = 1\nsmtpd_tls_received_header = yes\n"
    )
}

fn stop_instance(dir: &Path) {
    let pid_file = dir.join("queue/pid/master.pid");
    if !pid_file.exists() {
        return;
    }
    let _ = Command::new("postfix").arg("-c").arg(dir.join("etc")).arg("stop").output();
    let pid = fs::read_to_string(&pid_file).unwrap_or_default();
    let pid = pid.trim();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pid.is_empty() && Path::new(&format!("/proc/{pid}")).exists() {
        if Instant::now() > deadline {
            let _ = Command::new("kill").arg("-KILL").arg(pid).status();
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("postfix log of the failed test:\n{}", self.log());
        }
        stop_instance(&self.dir);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Lists POSTFIX_DIR in the default main.cf's alternate_config_directories
/// (creating a minimal main.cf on a "No configuration" install).
fn register_config_dir() {
    let main_cf = PathBuf::from("/etc/postfix/main.cf");
    if !main_cf.exists() {
        fs::write(
            &main_cf,
            format!("compatibility_level = 3.6\nalternate_config_directories = {POSTFIX_DIR}\n"),
        )
        .expect("write /etc/postfix/main.cf");
        return;
    }
    let current = Command::new("postconf").args(["-h", "alternate_config_directories"]).output();
    let current = current.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default();
    if current.split([',', ' ']).any(|d| d == POSTFIX_DIR) {
        return;
    }
    let value = if current.is_empty() { POSTFIX_DIR.to_owned() } else { format!("{current}, {POSTFIX_DIR}") };
    let status = Command::new("postconf")
        .arg("-e")
        .arg(format!("alternate_config_directories = {value}"))
        .status()
        .expect("run postconf");
    assert!(status.success(), "postconf -e alternate_config_directories failed");
}

/// Hands one message to Postfix's own SMTP server with swaks.
fn inject(postfix: &Postfix, to: &str, subject: &str) {
    let port = postfix.port.to_string();
    let header = format!("Subject: {subject}");
    let args = [
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--from",
        "sender@it.test",
        "--to",
        to,
        "--header",
        &header,
    ];
    let run = run_tool(&require_tool("swaks"), &args);
    assert_eq!(run.code, Some(0), "injecting into postfix:\n{run}");
}

#[test]
fn postfix_relays_through_sluice_with_starttls() {
    let swaks = require_tool("swaks");
    let server = Server::start();
    let postfix = Postfix::start(server.port);
    let port = postfix.port.to_string();
    let subjects: Vec<String> = (0..3).map(|_| token("postfix")).collect();
    for subject in &subjects {
        inject(&postfix, &format!("pf@{DOMAIN}"), subject);
    }
    let relay = run_tool(
        &swaks,
        &["--server", "127.0.0.1", "--port", &port, "--from", "sender@it.test", "--to", "x@other.test"],
    );
    assert_eq!(relay.code, Some(0), "injecting the relay attempt into postfix:\n{relay}");

    let mail = server.wait_for_mail("pf", 3);
    for subject in &subjects {
        assert_eq!(mail.iter().filter(|m| m.contains(subject.as_str())).count(), 1, "{subject} once");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = postfix.log();
        let sent = log.lines().filter(|l| l.contains("status=sent") && l.contains("queued as")).count();
        let bounced = log.lines().any(|l| l.contains("status=bounced") && l.contains("550 5.7.1"));
        if sent >= 3 && bounced {
            assert!(
                log.contains("TLS connection established to 127.0.0.1"),
                "postfix did not use STARTTLS:\n{log}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "postfix log lacks 3 status=sent and a 550 5.7.1 bounce after 30 s:\n{log}"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// The throttle seen by a real MTA: Postfix relays a burst through a throttled Sluice, the
/// excess gets `451 4.7.5xx`, Postfix keeps it deferred, and once the operator allow-lists
/// the network a queue flush delivers every message exactly once.
#[test]
fn postfix_keeps_throttled_mail_deferred_and_delivers_it_later() {
    // A tiny allowance so a handful of messages is a "blast"; retry hints stay short.
    let settings = crate::harness::Settings::default()
        .throttled()
        .key("throttle.policy", "ip_floor_per_hour", "2.0")
        .key("throttle.policy", "ip_burst_min", "2.0")
        .key("throttle.policy", "burst_minutes", "1.0");
    let server = Server::start_with(settings);
    let postfix = Postfix::start(server.port);
    let subjects: Vec<String> = (0..6).map(|_| token("pf-throttle")).collect();
    for subject in &subjects {
        inject(&postfix, &format!("pft@{DOMAIN}"), subject);
    }
    let deferred = |log: &str| log.lines().any(|l| l.contains("status=deferred") && l.contains("451 4.7.5"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !deferred(&postfix.log()) {
        assert!(Instant::now() < deadline, "no 451 4.7.5xx deferral in the postfix log:\n{}", postfix.log());
        thread::sleep(Duration::from_millis(200));
    }
    // Postfix retries every second; a message shows its reason while it waits in the
    // deferred queue, not while it is being tried again (`*`, the active queue).
    let listing = || {
        let queue =
            Command::new("postqueue").arg("-c").arg(postfix.etc()).arg("-p").output().expect("postqueue -p");
        String::from_utf8_lossy(&queue.stdout).into_owned()
    };
    let waiting = wait_until(DELIVERY_TIMEOUT, || listing().contains("451 4.7.5").then_some(()));
    assert!(waiting.is_some(), "the throttled mail waits in postfix's deferred queue:\n{}", listing());
    assert!(server.settled_mail_count("pft") < subjects.len(), "nothing was throttled");

    server.cli_ok(&["throttle", "allow", "127.0.0.0/8", "--note", "postfix interop"]);
    server.wait_log_count("throttle allow list reloaded", 1);
    let flush =
        Command::new("postqueue").arg("-c").arg(postfix.etc()).arg("-f").status().expect("postqueue -f");
    assert!(flush.success(), "postqueue -f");
    let mail = server.wait_for_mail("pft", subjects.len());
    for subject in &subjects {
        assert_eq!(mail.iter().filter(|m| m.contains(subject.as_str())).count(), 1, "{subject} exactly once");
    }
}

/// A maillog written by a real Postfix MX replays through `sluice simulate --postfix-log`:
/// queued messages count per client with their recipients, a 4xx RCPT reject is a deferred
/// recipient, a 5xx one is not replayed (it would never reach a throttle). With
/// `UPDATE_SAMPLES=1` the log is also written to the throttle crate's test data, the
/// real-format sample its parser is tested on.
#[test]
fn postfix_maillog_replays_through_simulate() {
    let access = "later@sim.test 450 4.7.1 Try again later\ngone@sim.test 550 5.1.1 No such user here\n";
    // Postfix takes mail for sim.test and relays it to a port nobody listens on: the
    // messages stay queued (and are retried), which is all the log needs.
    let main_cf = format!(
        "relay_domains = sim.test\n\
         smtpd_recipient_restrictions = check_recipient_access texthash:{POSTFIX_DIR}/etc/access, permit_mynetworks, reject\n"
    );
    let postfix = Postfix::start_with(free_port(), &main_cf, &[("access", access)]);
    let port = postfix.port.to_string();
    let swaks = require_tool("swaks");
    let send = |from_ip: &str, to: &str| {
        let args = [
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--local-interface",
            from_ip,
            "--from",
            "s@it.test",
            "--to",
            to,
        ];
        run_tool(&swaks, &args)
    };
    for to in ["a@sim.test", "a@sim.test", "b@sim.test,c@sim.test,d@sim.test"] {
        let run = send("127.0.0.2", to);
        assert_eq!(run.code, Some(0), "{run}");
    }
    let mixed = send("127.0.0.3", "e@sim.test,later@sim.test,gone@sim.test");
    assert!(mixed.output().contains("450 4.7.1") && mixed.output().contains("550 5.1.1"), "{mixed}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = postfix.log();
        let clients = log.lines().filter(|l| l.contains("/smtpd[") && l.contains(": client=")).count();
        let queued: std::collections::HashSet<&str> = log
            .lines()
            .filter(|l| l.contains("/qmgr[") && l.contains("nrcpt="))
            .filter_map(|l| l.split(": ").nth(1))
            .collect();
        if clients == 4 && queued.len() == 4 {
            break log;
        }
        assert!(Instant::now() < deadline, "postfix did not queue the 4 messages in 30 s:\n{log}");
        thread::sleep(Duration::from_millis(200));
    };
    if std::env::var_os("UPDATE_SAMPLES").is_some() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../throttle/tests/data/postfix-maillog.txt");
        fs::write(&sample, &log).expect("write the maillog sample");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let maillog = dir.path().join("maillog");
    fs::write(&maillog, &log).expect("write maillog");
    let maillog = maillog.to_str().expect("utf-8 path");
    let by_ip = crate::simulate::simulate_json(&["--postfix-log", maillog, "--group-by", "ip"]);
    let steady = &by_ip["groups"]["127.0.0.2"];
    assert_eq!(
        (steady["transactions"].as_u64(), steady["recipients"].as_u64()),
        (Some(3), Some(5)),
        "{by_ip}\n{log}"
    );
    let mixed = &by_ip["groups"]["127.0.0.3"];
    assert_eq!(
        (mixed["transactions"].as_u64(), mixed["recipients"].as_u64()),
        (Some(2), Some(2)),
        "{by_ip}\n{log}"
    );
    let by_verdict = crate::simulate::simulate_json(&["--postfix-log", maillog]);
    assert_eq!(by_verdict["groups"]["deferred by Postfix"]["recipients"], 1, "{by_verdict}");
    assert_eq!(by_verdict["groups"]["accepted by Postfix"]["recipients"], 6, "{by_verdict}");
    let source = by_verdict["source"][0].as_str().unwrap_or_default();
    assert!(source.contains("4 messages queued") && source.contains("1 permanently"), "{source}");
}

/// Files in the receiving MX's Maildir for `local@remote.test`, once there are `count`.
fn wait_for_postfix_mail(postfix: &Postfix, local: &str, count: usize) -> Vec<String> {
    let dir = postfix.dir.join("mail/remote.test").join(local).join("new");
    let found = wait_until(DELIVERY_TIMEOUT, || {
        let files = maildir_files(&dir);
        (files.len() >= count).then_some(files)
    });
    let files = found
        .unwrap_or_else(|| panic!("{} holds fewer than {count} messages:\n{}", dir.display(), postfix.log()));
    files.iter().map(|f| read_lossy(f)).collect()
}

/// Sluice's outbound mail to `remote.test` goes to Postfix as its MX: over STARTTLS, with the
/// 8-bit body byte for byte, and with the DSN parameters passed on. Postfix's own success
/// notice (NOTIFY=SUCCESS) comes back through Sluice naming the ENVID and ORCPT the client
/// gave Sluice and returning headers only (RET=HDRS); the recipient Postfix refuses gets
/// Sluice's bounce with the same parameters and Postfix's own reply.
#[test]
fn postfix_as_the_mx_receives_over_starttls_and_gets_the_dsn_parameters() {
    let mx_port = free_port();
    let (server, _dns) = start_sluice(Settings::default(), mx_port);
    let postfix = Postfix::receiving_mx(mx_port, server.port, "remote.test", &["ok"]);
    let alice = format!("alice@{TENANT_DOMAIN}");
    let mut client = server.connect_from("127.0.0.2");
    client.expect(&format!("MAIL FROM:<{alice}> RET=HDRS ENVID=it-envid-42 BODY=8BITMIME"), 250);
    client.expect("RCPT TO:<ok@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;first.ok@remote.test", 250);
    client.expect("RCPT TO:<nobody@remote.test> NOTIFY=FAILURE ORCPT=rfc822;first.nobody@remote.test", 250);
    client.expect("DATA", 354);
    let subject = token("pf-mx");
    let text = "Gr\u{fc}\u{df}e aus Z\u{fc}rich: 8-bit bytes from end to end";
    client.send_raw(
        format!(
            "From: <{alice}>\r\nTo: <ok@remote.test>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n.\r\n"
        )
        .as_bytes(),
    );
    let reply = client.reply();
    assert_eq!(reply.code, 250, "{reply}");

    let delivered = wait_for_postfix_mail(&postfix, "ok", 1);
    assert!(delivered[0].contains(&subject) && delivered[0].contains(text), "{}", delivered[0]);
    let received = header_block(&delivered[0]);
    assert!(
        received.contains("from mx.sluice-it.test") && received.contains("(using TLS"),
        "Postfix notes the STARTTLS it did with Sluice:\n{received}"
    );

    let notices = wait_until(DELIVERY_TIMEOUT, || {
        let files = maildir_files(&mailbox(&server, "alice"));
        (files.len() >= 2).then_some(files)
    })
    .unwrap_or_else(|| panic!("alice did not get both notifications:\n{}\n{}", server.log(), postfix.log()));
    let reports = check_dsn(&notices.iter().map(PathBuf::as_path).collect::<Vec<&Path>>());
    let by_action = |action: &str| {
        reports
            .iter()
            .find(|r| r["recipients"][0]["Action"] == action)
            .unwrap_or_else(|| panic!("no {action:?} report: {reports:#?}"))
    };
    let compact = |v: &serde_json::Value| v.as_str().unwrap_or_default().replace(' ', "");
    let success = by_action("delivered");
    assert!(compact(&success["reporting_mta"]).contains("postfix-it.it.test"), "Postfix's own: {success}");
    assert_eq!(success["per_message"]["Original-Envelope-Id"], "it-envid-42", "{success}");
    assert_eq!(compact(&success["recipients"][0]["Original-Recipient"]), "rfc822;first.ok@remote.test");
    assert!(
        success["parts"].as_array().is_some_and(|p| p.contains(&"text/rfc822-headers".into())),
        "{success}"
    );
    let failure = by_action("failed");
    assert_eq!(failure["per_message"]["Original-Envelope-Id"], "it-envid-42", "{failure}");
    let refused = &failure["recipients"][0];
    assert_eq!(compact(&refused["Original-Recipient"]), "rfc822;first.nobody@remote.test", "{failure}");
    assert_eq!(refused["Status"], "5.1.1", "{failure}");
    assert_eq!(refused["Remote-MTA"], "dns; mx.remote.test", "{failure}");
    let diagnostic = refused["Diagnostic-Code"].as_str().unwrap_or_default();
    assert!(
        diagnostic.contains("550 5.1.1") && diagnostic.contains("User unknown"),
        "Postfix's reply: {failure}"
    );
    assert!(
        failure["parts"].as_array().is_some_and(|p| p.contains(&"text/rfc822-headers".into())),
        "{failure}"
    );
}

/// Messages that waited while the MX was down go out over one connection once it is back:
/// Postfix's own summary of each connection (`disconnect from ... mail=N`) counts them, and
/// every connection did STARTTLS.
#[test]
fn postfix_as_the_mx_takes_a_backlog_over_one_connection() {
    const MESSAGES: usize = 6;
    let mx_port = free_port();
    let settings = Settings::default().key("delivery", "retry_first_s", 3600).key(
        "delivery",
        "destination_concurrency",
        1,
    );
    let (server, _dns) = start_sluice(settings, mx_port);
    let alice = format!("alice@{TENANT_DOMAIN}");
    // Nothing listens on the MX port yet: each message is deferred and waits an hour.
    for n in 0..MESSAGES {
        swaks(&server, "127.0.0.2", &alice, "ok@remote.test", &format!("backlog {n}"));
    }
    server.wait_idle();
    let queue = server.cli_ok(&["queue", "list"]);
    assert!(queue.starts_with(&format!("{MESSAGES} messages: {MESSAGES} waiting")), "{queue}");

    let postfix = Postfix::receiving_mx(mx_port, server.port, "remote.test", &["ok"]);
    server.cli_ok(&["queue", "flush"]);
    wait_for_postfix_mail(&postfix, "ok", MESSAGES);
    let connections = wait_until(DELIVERY_TIMEOUT, || {
        let log = postfix.log();
        let sessions: Vec<String> = log
            .lines()
            .filter(|l| l.contains("smtpd[") && l.contains("disconnect from") && l.contains(" mail="))
            .map(str::to_owned)
            .collect();
        (sessions.iter().map(|l| counter(l, "mail")).sum::<usize>() == MESSAGES).then_some(sessions)
    })
    .unwrap_or_else(|| panic!("Postfix did not log {MESSAGES} transactions:\n{}", postfix.log()));
    assert!(connections.iter().all(|l| counter(l, "starttls") == 1), "{connections:#?}");
    assert!(
        connections.iter().any(|l| counter(l, "mail") >= 2),
        "every message had a connection of its own: {connections:#?}"
    );
    assert!(connections.len() < MESSAGES, "{connections:#?}");
}

/// `name=N` in Postfix's disconnect summary (`... ehlo=2 starttls=1 mail=3 ...`); 0 if absent.
fn counter(line: &str, name: &str) -> usize {
    let prefix = format!("{name}=");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&prefix))
        .and_then(|n| n.split('/').next()?.parse().ok())
        .unwrap_or(0)
}
