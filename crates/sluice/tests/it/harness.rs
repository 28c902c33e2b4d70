//! The harness: a `sluice serve` process on a free loopback port with its own
//! temporary data directory, a raw SMTP client with a timeout on every read,
//! Maildir helpers, and runners for the external clients (swaks, smtp-source,
//! python3) that fail loudly when the tool is missing.
//!
//! Nothing here sleeps a fixed time to let the server finish: a check that something did
//! *not* happen first waits for a positive signal that processing is over (the control
//! socket's `status`: the queue idle, the directory generation in use; or a log line).

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub const DOMAIN: &str = "example.test";
pub const HOSTNAME: &str = "mx.sluice-it.test";
/// Upper bound on any single read from the server.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a started server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long background delivery may take to put a message in its Maildir (and the longest
/// any wait for a positive signal from the server lasts).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Hard limit for an external client run (swaks, python3, smtp-source).
const TOOL_TIMEOUT_S: u64 = 120;

/// Config keys (raw TOML values) on top of the defaults under test.
#[derive(Debug, Default, Clone)]
pub struct Settings {
    /// (section, key, raw TOML value)
    keys: Vec<(String, String, String)>,
    /// Environment variables of the server process.
    env: Vec<(String, String)>,
}

impl Settings {
    pub fn smtp(self, key: &str, toml_value: impl ToString) -> Self {
        self.key("smtp", key, toml_value)
    }

    /// Keeps the adaptive IP throttle on. Off by default: every test client is
    /// a brand-new IP (127.0.0.1) on a fresh data dir, and a burst of a few
    /// hundred messages from a new IP is exactly what the throttle defers.
    pub fn throttled(self) -> Self {
        self.key("throttle", "enabled", true)
    }

    /// Arms test-only fault points in the server process (`SLUICE_FAULTS`, see the gateway's
    /// `fault` module; the binary under test is built with them).
    pub fn faults(mut self, points: &str) -> Self {
        self.env.push(("SLUICE_FAULTS".to_owned(), points.to_owned()));
        self
    }

    pub fn key(mut self, section: &str, key: &str, toml_value: impl ToString) -> Self {
        self.keys.push((section.to_owned(), key.to_owned(), toml_value.to_string()));
        self
    }

    fn section(&self, name: &str) -> impl Iterator<Item = (&str, &str)> {
        self.keys.iter().filter(move |(s, _, _)| s == name).map(|(_, k, v)| (k.as_str(), v.as_str()))
    }
}

/// A running `sluice serve`, killed (SIGKILL) when dropped. Its data directory
/// lives as long as this value, across restarts.
#[derive(Debug)]
pub struct Server {
    dir: tempfile::TempDir,
    pub port: u16,
    /// The admin API's port (`[admin] listen`).
    pub admin_port: u16,
    child: Option<Child>,
    starts: u32,
    /// Environment variables for the next starts.
    env: Vec<(String, String)>,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(Settings::default())
    }

    pub fn start_with(settings: Settings) -> Server {
        let dir = tempfile::Builder::new().prefix("sluice-it-").tempdir().expect("create temp dir");
        let port = free_port();
        let admin_port = free_port();
        let config = render_config(dir.path(), port, admin_port, &settings);
        fs::write(dir.path().join("sluice.toml"), config).expect("write config");
        let mut server = Server { dir, port, admin_port, child: None, starts: 0, env: settings.env };
        server.spawn();
        server
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("sluice.toml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Maildir `new/` of one recipient, per the layout contract.
    pub fn maildir_new(&self, local_part: &str) -> PathBuf {
        self.data_dir().join("mail").join(DOMAIN).join(local_part).join("new")
    }

    fn log_path(&self, start: u32) -> PathBuf {
        self.dir.path().join(format!("sluice.{start}.log"))
    }

    /// Everything the server wrote to stderr, all runs so far.
    pub fn log(&self) -> String {
        let mut all = String::new();
        for start in 1..=self.starts {
            let text = fs::read_to_string(self.log_path(start)).unwrap_or_default();
            let _ = writeln!(all, "--- sluice run {start} ---\n{text}");
        }
        all
    }

    /// Starts (or restarts, on the same data dir and port) the server and
    /// waits until its port accepts connections.
    pub fn spawn(&mut self) {
        self.spawn_with(&[]);
    }

    /// [`Server::spawn`] with more `serve` arguments (e.g. `--accept-directory`).
    pub fn spawn_with(&mut self, args: &[&str]) {
        assert!(self.child.is_none(), "server already running");
        self.starts += 1;
        let log = fs::File::create(self.log_path(self.starts)).expect("create log file");
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("serve")
            .args(args)
            .arg("--config")
            .arg(self.config_path())
            .current_dir(self.dir.path())
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log file"))
            .stderr(log)
            .spawn()
            .expect("spawn sluice");
        self.child = Some(child);
        self.wait_listening();
    }

    /// Runs `sluice serve` (stopped server) expecting it to refuse to start: its exit code
    /// and everything it wrote.
    pub fn serve_refused(&self) -> (Option<i32>, String) {
        assert!(self.child.is_none(), "server running");
        let out = self.dir.path().join("refused.log");
        let log = fs::File::create(&out).expect("create log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["serve", "--config"])
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log file"))
            .stderr(log)
            .spawn()
            .expect("spawn sluice");
        let deadline = Instant::now() + START_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "sluice serve did not refuse to start within {START_TIMEOUT:?}:\n{}",
                    read_lossy(&out)
                );
            }
            thread::sleep(Duration::from_millis(50));
        };
        (status.code(), read_lossy(&out))
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child_status() {
                panic!("sluice exited with {status} before listening on {}", self.addr());
            }
            if TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!("sluice did not listen on {} within {START_TIMEOUT:?}", self.addr());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts without the fault points the server was started with.
    pub fn disarm_faults(&mut self) {
        self.env.retain(|(k, _)| k != "SLUICE_FAULTS");
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.child_status().is_none()
    }

    fn child_status(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        child.try_wait().expect("try_wait")
    }

    /// SIGKILL, as a crash would: no drain, no cleanup.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// SIGTERM, then waits (bounded) for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let status =
            Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        self.wait_exit(timeout)
    }

    /// Waits (bounded) for the server to exit by itself; kills it after.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take().expect("server running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr())
    }

    /// A greeted client whose connection comes from `local` (any 127.0.0.0/8 address
    /// answers here), so one test can play several sending IPs.
    pub fn connect_from(&self, local: &str) -> Client {
        let mut client = self.connect_from_ungreeted(local);
        client.greet();
        client
    }

    /// A connection from `local` whose banner is still to be read.
    pub fn connect_from_ungreeted(&self, local: &str) -> Client {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
        let local: SocketAddr = format!("{local}:0").parse().expect("local address");
        socket.bind(&local.into()).expect("bind the local address");
        socket.connect(&self.addr().into()).expect("connect");
        Client::from_stream(socket.into())
    }

    /// Runs `sluice <args> --config <this server's config>`: (exit code, stdout + stderr).
    pub fn cli(&self, args: &[&str]) -> (Option<i32>, String) {
        sluice_cli(&self.config_path(), args)
    }

    /// [`Server::cli`] that must succeed; its output.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let (code, text) = self.cli(args);
        assert_eq!(code, Some(0), "sluice {}:\n{text}", args.join(" "));
        text
    }

    /// Waits until `local_part`'s Maildir `new/` holds at least `count`
    /// messages and returns their contents.
    pub fn wait_for_mail(&self, local_part: &str, count: usize) -> Vec<String> {
        let dir = self.maildir_new(local_part);
        let deadline = Instant::now() + DELIVERY_TIMEOUT;
        loop {
            let files = maildir_files(&dir);
            if files.len() >= count {
                return files.iter().map(|f| read_lossy(f)).collect();
            }
            if Instant::now() > deadline {
                panic!(
                    "{} holds {} of {count} expected messages after {DELIVERY_TIMEOUT:?}",
                    dir.display(),
                    files.len()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Number of messages in `local_part`'s Maildir `new/` once the server's queue is idle
    /// ([`Server::wait_idle`]): a message that would still arrive is counted or makes the
    /// wait fail, never missed.
    pub fn settled_mail_count(&self, local_part: &str) -> usize {
        self.wait_idle();
        maildir_files(&self.maildir_new(local_part)).len()
    }

    /// The control socket's `status` facts (`name value` lines); `None` when nothing answers.
    pub fn status(&self) -> Option<std::collections::BTreeMap<String, String>> {
        use std::io::Read;
        let mut stream =
            std::os::unix::net::UnixStream::connect(self.data_dir().join("control.sock")).ok()?;
        stream.set_read_timeout(Some(READ_TIMEOUT)).ok()?;
        stream.write_all(b"status\n").ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        let facts =
            answer.lines().filter_map(|l| l.split_once(' ')).map(|(k, v)| (k.to_owned(), v.to_owned()));
        Some(facts.collect())
    }

    /// Waits until the queue is idle: every message the server accepted has been delivered,
    /// bounced or is waiting for a retry, with nothing loaded, in delivery or being recorded.
    /// Sessions still open can add more; callers wait once their clients have their replies.
    pub fn wait_idle(&self) {
        let deadline = Instant::now() + DELIVERY_TIMEOUT;
        loop {
            let status = self.status();
            if status.as_ref().and_then(|s| s.get("queue_idle")).is_some_and(|v| v == "yes") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the queue is not idle after {DELIVERY_TIMEOUT:?}: {status:?}\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until new sessions use the directory as it is in the database now (after the
    /// test or the CLI changed it; the server polls the database every second).
    pub fn wait_directory_current(&self) {
        use directory::DirectoryStore as _;
        let generation = directory_store(self).generation().expect("directory generation");
        let deadline = Instant::now() + DELIVERY_TIMEOUT;
        loop {
            let status = self.status();
            let in_use = status.as_ref().and_then(|s| s.get("directory_generation")?.parse::<u64>().ok());
            if in_use.is_some_and(|g| g >= generation) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server does not use directory generation {generation} after {DELIVERY_TIMEOUT:?}: {status:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many lines of the log (all runs) contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// Waits until at least `count` log lines contain `needle`.
    pub fn wait_log_count(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + DELIVERY_TIMEOUT;
        while self.log_count(needle) < count {
            assert!(
                Instant::now() < deadline,
                "fewer than {count} log lines with {needle:?} after {DELIVERY_TIMEOUT:?}:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Replaces the config file's content but keeps its modification time (a new file with
    /// the old time, renamed over it), so the server's file watcher cannot see the change:
    /// only a SIGHUP can apply it.
    pub fn rewrite_config_unseen(&self, content: &str) {
        let path = self.config_path();
        let mtime = fs::metadata(&path).and_then(|m| m.modified()).expect("config mtime");
        let staged = path.with_extension("toml.new");
        fs::write(&staged, content).expect("write the new config");
        fs::File::options().write(true).open(&staged).and_then(|f| f.set_modified(mtime)).expect("set mtime");
        fs::rename(&staged, &path).expect("replace the config");
        let now = fs::metadata(&path).and_then(|m| m.modified()).expect("config mtime");
        assert_eq!(now, mtime, "the config's modification time must not change");
    }

    /// Sends SIGHUP and waits for the reload it causes (`settings reloaded` logged once more).
    pub fn sighup_and_wait_reload(&self) {
        let before = self.log_count("settings reloaded");
        let status =
            Command::new("kill").arg("-HUP").arg(self.pid().to_string()).status().expect("kill -HUP");
        assert!(status.success(), "kill -HUP failed");
        self.wait_log_count("settings reloaded", before + 1);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        if thread::panicking() {
            eprintln!("server log of the failed test:\n{}", self.log());
        }
    }
}

fn render_config(dir: &Path, port: u16, admin_port: u16, settings: &Settings) -> String {
    let data_dir = dir.join("data");
    let mut config =
        format!("data_dir = {}\nhostname = \"{HOSTNAME}\"\n", toml_string(&data_dir.to_string_lossy()));
    for section in [
        "smtp",
        "tls",
        "delivery",
        "dns",
        "throttle",
        "throttle.policy",
        "protection.policy",
        "directory",
        "reputation",
        "admin",
        "trace",
        "log",
        "store",
        "auth",
        "scanner",
        "quarantine",
        "policy",
    ] {
        // Tests run in parallel: each server's admin API gets its own port.
        if section == "admin" && !settings.section("admin").any(|(k, _)| k == "listen") {
            let _ = writeln!(config, "\n[admin]\nlisten = \"127.0.0.1:{admin_port}\"");
            for (key, value) in settings.section(section) {
                let _ = writeln!(config, "{key} = {value}");
            }
            continue;
        }
        let _ = writeln!(config, "\n[{section}]");
        if section == "throttle" && !settings.section("throttle").any(|(k, _)| k == "enabled") {
            let _ = writeln!(config, "enabled = false");
        }
        if section == "smtp" && !settings.section("smtp").any(|(k, _)| k == "listen") {
            let _ = writeln!(config, "listen = [\"127.0.0.1:{port}\"]");
        }
        if section == "delivery" {
            let _ = writeln!(config, "accepted_domains = [\"{DOMAIN}\"]");
        }
        for (key, value) in settings.section(section) {
            // `{port}` stands for the port this server was given.
            let value = value.replace("{port}", &port.to_string());
            let _ = writeln!(config, "{key} = {value}");
        }
    }
    config
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The server's directory store, as the CLI opens it.
pub fn directory_store(server: &Server) -> store::SqliteStore {
    store::SqliteStore::open(&server.data_dir().join("sluice.db")).expect("open the directory")
}

/// Gives the existing tenant `acme` the verified authoritative domain `acme.test` with the
/// Maildir recipient `user@acme.test`.
pub fn add_acme_test(store: &mut store::SqliteStore) {
    add_verified_domain(store, "acme", "acme.test");
}

/// Gives the existing `tenant` the verified authoritative `domain` with the Maildir
/// recipient `user@<domain>` (the DNS check is `sluice domain verify`'s, tested elsewhere).
pub fn add_verified_domain(store: &mut store::SqliteStore, tenant: &str, domain: &str) {
    use directory::{DeliveryTarget, DirectoryStore, DomainKind, DomainName, NewDomain, Recipient, TenantId};
    let id = TenantId::parse(tenant).expect("id");
    let new = NewDomain {
        name: DomainName::parse("domain", domain).expect("domain"),
        kind: DomainKind::Authoritative,
        match_subdomains: false,
    };
    store.add_domain(&id, &new).expect("add domain");
    store.mark_domain_verified(&id, &new.name).expect("verify");
    let user =
        Recipient::new(id, &format!("user@{domain}"), &[], DeliveryTarget::Maildir).expect("recipient");
    store.add_recipient(&user).expect("add recipient");
}

/// swaks to `server` from the loopback address `local_ip`, with `args` after the
/// connection options (a 20 s timeout per step).
pub fn swaks_from(server: &Server, local_ip: &str, args: &[&str]) -> ToolRun {
    let port = server.port.to_string();
    let mut all =
        vec!["--server", "127.0.0.1", "--port", &port, "--local-interface", local_ip, "--timeout", "20"];
    all.extend_from_slice(args);
    run_tool(&require_tool("swaks"), &all)
}

/// Runs `sluice <args> --config <config>`: (exit code, stdout + stderr).
pub fn sluice_cli(config: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run sluice");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

/// A loopback port nobody listens on right now, and never handed out before in this test
/// process: the tests run side by side, and two servers given one port would answer for
/// each other (one fails to bind, its test talks to the other's server).
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local addr").port();
        if HANDED_OUT.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(port) {
            return port;
        }
    }
}

/// Files in a Maildir folder, sorted (missing folder = empty).
pub fn maildir_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

pub fn read_lossy(path: &Path) -> String {
    String::from_utf8_lossy(&fs::read(path).expect("read mail file")).into_owned()
}

/// Header block of a stored message (up to the first empty line).
pub fn header_block(message: &str) -> &str {
    let end = message.find("\r\n\r\n").or_else(|| message.find("\n\n")).unwrap_or(message.len());
    &message[..end]
}

/// Header fields of a stored message, one per entry, continuation lines
/// joined.
pub fn unfolded_headers(message: &str) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for line in header_block(message).lines() {
        let line = line.trim_end_matches('\r');
        match fields.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => last.push_str(line),
            _ => fields.push(line.to_owned()),
        }
    }
    fields
}

/// One SMTP reply: code and text lines (without the `ddd-`/`ddd ` prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// The first line as a one-line reply (`550 5.7.1 Relay access denied ...`): refusals
    /// carry their help link on a last line of their own.
    pub fn first_line(&self) -> String {
        format!("{} {}", self.code, self.lines.first().map_or("", String::as_str))
    }
}

/// A reply line from a tool's transcript (`550-5.7.1 ...`) as a one-line reply
/// (`550 5.7.1 ...`): refusals carry their help link on a last line of their own.
pub fn one_line(line: &str) -> String {
    match line.as_bytes().get(3) {
        Some(b'-') => format!("{} {}", &line[..3], &line[4..]),
        _ => line.to_string(),
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i + 1 == self.lines.len() { ' ' } else { '-' };
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}{sep}{line}", self.code)?;
        }
        Ok(())
    }
}

/// What a read from the server produced.
#[derive(Debug)]
pub enum Next {
    Reply(Reply),
    /// The server closed the connection.
    Closed,
    /// Nothing within the timeout.
    Silent,
}

/// A raw SMTP client over `TcpStream` with a timeout on every read and write.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, READ_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        Client::from_stream(stream)
    }

    pub fn from_stream(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(READ_TIMEOUT)).expect("set read timeout");
        stream.set_write_timeout(Some(READ_TIMEOUT)).expect("set write timeout");
        let writer = stream.try_clone().expect("clone stream");
        Client { reader: BufReader::new(stream), writer }
    }

    pub fn set_read_timeout(&self, timeout: Duration) {
        self.writer.set_read_timeout(Some(timeout)).expect("set read timeout");
    }

    /// Sends bytes exactly as given (no line ending added).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to server");
    }

    /// Like [`Client::send_raw`] but reports failure instead of panicking.
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Reads one reply; panics on EOF or timeout.
    pub fn reply(&mut self) -> Reply {
        match self.read() {
            Next::Reply(reply) => reply,
            Next::Closed => panic!("server closed the connection where a reply was expected"),
            Next::Silent => panic!("no reply within {READ_TIMEOUT:?}"),
        }
    }

    /// Reads one reply, EOF or timeout (with the stream's current timeout).
    pub fn read(&mut self) -> Next {
        match self.try_reply() {
            Ok(Some(reply)) => Next::Reply(reply),
            Ok(None) => Next::Closed,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Next::Silent,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => Next::Closed,
            Err(e) => panic!("reading a reply: {e}"),
        }
    }

    /// `Ok(None)` on a clean EOF before any byte of a reply.
    pub fn try_reply(&mut self) -> std::io::Result<Option<Reply>> {
        let mut code = None;
        let mut lines = Vec::new();
        loop {
            let mut raw = Vec::new();
            let n = self.reader.read_until(b'\n', &mut raw)?;
            if n == 0 {
                if lines.is_empty() {
                    return Ok(None);
                }
                return Err(std::io::Error::new(ErrorKind::UnexpectedEof, "EOF inside a multi-line reply"));
            }
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\r', '\n']);
            let (this_code, sep, text) = parse_reply_line(line)?;
            if *code.get_or_insert(this_code) != this_code {
                return Err(bad_reply(line));
            }
            lines.push(text.to_owned());
            if sep == ' ' {
                return Ok(Some(Reply { code: this_code, lines }));
            }
        }
    }

    /// Sends one command line (CRLF appended) and reads its reply.
    pub fn cmd(&mut self, line: &str) -> Reply {
        self.send_raw(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Reads the banner and says EHLO; returns the EHLO reply.
    pub fn greet(&mut self) -> Reply {
        let banner = self.reply();
        assert_eq!(banner.code, 220, "banner: {banner}");
        let ehlo = self.cmd("EHLO client.it.test");
        assert_eq!(ehlo.code, 250, "EHLO: {ehlo}");
        ehlo
    }

    /// Expects the code, else panics showing the whole reply.
    pub fn expect(&mut self, line: &str, code: u16) -> Reply {
        let reply = self.cmd(line);
        assert_eq!(reply.code, code, "C: {line}\nS: {reply}");
        reply
    }

    /// A whole transaction; returns the reply to the end of DATA.
    /// `body` uses CRLF line endings and must be dot-stuffed already.
    pub fn send_message(&mut self, from: &str, to: &[&str], body: &str) -> Reply {
        self.expect(&format!("MAIL FROM:<{from}>"), 250);
        for rcpt in to {
            self.expect(&format!("RCPT TO:<{rcpt}>"), 250);
        }
        self.expect("DATA", 354);
        self.send_raw(body.as_bytes());
        self.send_raw(b"\r\n.\r\n");
        self.reply()
    }
}

fn parse_reply_line(line: &str) -> std::io::Result<(u16, char, &str)> {
    let bytes = line.as_bytes();
    if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
        return Err(bad_reply(line));
    }
    let code: u16 = line[..3].parse().map_err(|_| bad_reply(line))?;
    match bytes.get(3) {
        None => Ok((code, ' ', "")),
        Some(b' ') => Ok((code, ' ', &line[4..])),
        Some(b'-') => Ok((code, '-', &line[4..])),
        Some(_) => Err(bad_reply(line)),
    }
}

fn bad_reply(line: &str) -> std::io::Error {
    std::io::Error::new(ErrorKind::InvalidData, format!("not an SMTP reply line: {line:?}"))
}

/// A simple RFC 5322 message with CRLF endings and a unique token.
pub fn message(from: &str, to: &str, subject: &str, body: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@it.test>\r\n\r\n{body}"
    )
}

/// `250 2.0.0 Ok: queued as <16 hex digits>` -> the id, else `None`.
pub fn queued_id(reply: &Reply) -> Option<String> {
    if reply.code != 250 {
        return None;
    }
    let text = reply.lines.last()?;
    let id = text.strip_prefix("2.0.0 Ok: queued as ")?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
}

/// A unique token per call, for matching messages in Maildirs.
pub fn token(label: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{label}-{}-{n}-{nanos:x}", std::process::id())
}

/// Fails with a clear message when an external tool the test needs is not
/// installed (CI installs them with scripts/install-test-deps.sh; a missing
/// tool is a failure, never a silent skip).
pub fn require_tool(tool: &str) -> PathBuf {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    match found {
        Some(path) if !path.as_os_str().is_empty() => path,
        _ => panic!("this test needs `{tool}`, which is not installed: run scripts/install-test-deps.sh"),
    }
}

/// Runs an external client under a hard timeout (coreutils `timeout`).
/// Runs openssl with `args`, failing the test with its output.
pub fn openssl(args: &[&str]) {
    let run = run_tool(&require_tool("openssl"), args);
    assert_eq!(run.code, Some(0), "openssl {}:\n{run}", args.join(" "));
}

/// A self-signed certificate for `name` (subject and SAN) in `dir`: the `cert.pem` and
/// `key.pem` paths.
pub fn self_signed(dir: &Path, name: &str) -> (String, String) {
    let cert = dir.join("cert.pem").to_string_lossy().into_owned();
    let key = dir.join("key.pem").to_string_lossy().into_owned();
    let (subject, san) = (format!("/CN={name}"), format!("subjectAltName=DNS:{name}"));
    openssl(&[
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subject, "-addext", &san,
        "-keyout", &key, "-out", &cert,
    ]);
    (cert, key)
}

pub fn run_tool(program: &Path, args: &[&str]) -> ToolRun {
    let output: Output = Command::new("timeout")
        .arg("--kill-after=5")
        .arg(TOOL_TIMEOUT_S.to_string())
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run external tool under timeout(1)");
    let run = ToolRun {
        command: format!("{} {}", program.display(), args.join(" ")),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_ne!(run.code, Some(124), "{} timed out after {TOOL_TIMEOUT_S}s\n{run}", run.command);
    run
}

#[derive(Debug)]
pub struct ToolRun {
    pub command: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl ToolRun {
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Display for ToolRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}
