//! A private PostgreSQL cluster for tests (feature `test-cluster`): one per test binary,
//! started on first use in a temporary directory with its own port and socket directory,
//! and a fresh database per test. Durability is off (`fsync=off`): nothing a test writes
//! needs to survive a power cut, and creating a database takes milliseconds instead of a
//! second.
//!
//! The cluster runs as the `postgres` user when the tests run as root (PostgreSQL refuses
//! to run as root), as the current user otherwise. It is stopped and its directory removed
//! by a watchdog shell that waits for the test process to exit: a test binary has no
//! teardown hook, and a cluster left behind would hold its port and memory. A missing
//! PostgreSQL installation fails the test that asked for it, naming the remedy
//! (`scripts/install-test-deps.sh`), never skips it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::PgTarget;

/// A running private cluster.
#[derive(Debug)]
pub struct PgCluster {
    dir: PathBuf,
    port: u16,
    databases: AtomicU32,
}

static SHARED: OnceLock<PgCluster> = OnceLock::new();

/// The folder holding `initdb` and `pg_ctl`: Debian's newest `/usr/lib/postgresql/N/bin`.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/install-test-deps.sh"
        ),
    }
}

fn output(cmd: &mut Command) -> String {
    try_output(cmd).unwrap_or_else(|e| panic!("{e}"))
}

/// `program` as the user the cluster runs as.
fn as_owner(program: &Path, root: bool) -> Command {
    if root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// The `attempt`th port to try: spread by process id, so parallel test binaries rarely
/// collide; a port taken anyway makes the server fail to start and the next one is tried.
fn candidate_port(attempt: u32) -> u16 {
    let spread = std::process::id().wrapping_mul(7919).wrapping_add(attempt.wrapping_mul(104_729));
    20_000 + (spread % 30_000) as u16
}

fn try_output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("running {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

impl PgCluster {
    /// The cluster of this test binary, started on first use.
    pub fn shared() -> &'static PgCluster {
        SHARED.get_or_init(PgCluster::start)
    }

    fn start() -> PgCluster {
        let bin = bin_dir();
        let root = output(Command::new("id").arg("-u")) == "0";
        let dir = std::env::temp_dir().join(format!("sluice-pg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the cluster's directory");
        if root {
            let uid: u32 = output(Command::new("id").args(["-u", "postgres"])).parse().expect("postgres uid");
            let gid: u32 = output(Command::new("id").args(["-g", "postgres"])).parse().expect("postgres gid");
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the cluster's directory");
        }
        let data = dir.join("data");
        output(
            as_owner(&bin.join("initdb"), root)
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
                .arg(&data),
        );
        Self::watch(&bin, &dir, root);
        let mut failures = Vec::new();
        for attempt in 0..5 {
            let port = candidate_port(attempt);
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                dir.display()
            );
            let started = try_output(
                as_owner(&bin.join("pg_ctl"), root)
                    .args(["-w", "-t", "60", "-D"])
                    .arg(&data)
                    .args(["-o", &options, "-l"])
                    .arg(dir.join("log"))
                    .arg("start"),
            );
            match started {
                Ok(_) => return PgCluster { dir, port, databases: AtomicU32::new(0) },
                Err(e) => failures.push(e),
            }
        }
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        panic!("the test PostgreSQL cluster did not start: {failures:?}\n{log}")
    }

    /// Stops the cluster and removes its folder once this process has exited.
    fn watch(bin: &Path, dir: &Path, root: bool) {
        let prefix = if root { "runuser -u postgres -- " } else { "" };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {prefix}{pg_ctl} -D {data} stop -m immediate >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            pg_ctl = bin.join("pg_ctl").display(),
            data = dir.join("data").display(),
            dir = dir.display(),
        );
        // Never waited for: it outlives this process by design (and exits only after it).
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the cluster's watchdog");
    }

    /// The port the cluster listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder of the cluster (its socket, its log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of database `name` as the superuser, without TLS.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}?sslmode=disable", self.port)
    }

    /// Creates an empty database of its own for one test and returns its URL.
    pub fn fresh_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to the test cluster: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE: {e}"));
        self.url(&name)
    }

    /// [`Self::fresh_database`] as a store target.
    pub fn fresh_target(&self) -> PgTarget {
        PgTarget::parse(&self.fresh_database(), None).unwrap_or_else(|e| panic!("{e}"))
    }
}
