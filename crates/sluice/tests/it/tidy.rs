//! The workspace's invariants stated as absences (ARCHITECTURE.md), checked mechanically,
//! every crate in one place: the pure crates depend on nothing that does I/O and their
//! source never reads the clock nor touches files or sockets; no library crate but the
//! gateway and the admin plane opens sockets or pulls in an async runtime or TLS (the store
//! only through its PostgreSQL client); the admin plane never depends on the gateway; only
//! `store` speaks SQL; only the enqueue step writes new messages into the spool; no error
//! both shows and returns its cause; the throttle's decision path knows nothing of scenarios.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// No I/O, no clock, no async: decisions only, tested without sockets.
const PURE: [&str; 9] =
    ["smtp-wire", "throttle", "directory", "bounce", "protection", "access", "trace", "metrics", "verdict"];

/// What a pure crate may depend on directly.
const PURE_DEPENDENCIES: [&str; 10] = [
    "smtp-wire",
    "directory",
    "thiserror",
    "serde",
    "serde_json",
    "crc32fast",
    "idna",
    "fluent-bundle",
    "unic-langid",
    "sha2",
];

/// Crates that mean I/O: an async runtime, sockets, TLS, DNS, a database, the workspace's
/// own I/O crates.
const IO_CRATES: [&str; 12] = [
    "tokio",
    "mio",
    "socket2",
    "rustls",
    "tokio-rustls",
    "hickory-resolver",
    "rusqlite",
    "libsqlite3-sys",
    "gateway",
    "spool",
    "store",
    "sluice",
];

/// What no crate but the gateway, the admin plane and the binary that starts both may pull in.
const NETWORK_CRATES: [&str; 6] = ["tokio", "mio", "socket2", "rustls", "tokio-rustls", "hickory-resolver"];

/// The crates that do network I/O.
const NETWORKED: [&str; 3] = ["gateway", "admin", "sluice"];

/// The store talks to PostgreSQL (fleet mode) through these clients, which bring a runtime,
/// sockets and TLS of their own; nothing else in the store may.
const DATABASE_CLIENTS: [&str; 2] = ["postgres", "tokio-postgres-rustls"];

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The folder names of the workspace's crates.
fn workspace_crates() -> Vec<String> {
    let entries = std::fs::read_dir(crates_dir()).expect("crates").flatten();
    let crates = entries.filter(|e| e.path().join("Cargo.toml").exists());
    crates.map(|e| e.file_name().to_string_lossy().into_owned()).collect()
}

/// Every `.rs` file under `dir`, sub-folders included.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The library and binary sources of a crate (not its tests or benches).
fn sources(krate: &str) -> Vec<(String, String)> {
    let files = rust_files(&crates_dir().join(krate).join("src"));
    assert!(!files.is_empty(), "no sources found for {krate}");
    let read = |path: PathBuf| {
        let text = std::fs::read_to_string(&path).expect("source");
        (path.strip_prefix(crates_dir()).unwrap_or(&path).display().to_string(), text)
    };
    files.into_iter().map(read).collect()
}

/// The names under `[dependencies]` of a crate's manifest.
fn direct_dependencies(krate: &str) -> Vec<String> {
    let manifest = crates_dir().join(krate).join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("crate manifest");
    let section = text.split("\n[dependencies]\n").nth(1);
    let section = section.unwrap_or_else(|| panic!("{}: no [dependencies] header", manifest.display()));
    let body = section.split("\n[").next().unwrap_or_default();
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(['.', '=', ' ']).next().unwrap_or_default().to_string())
        .collect()
}

/// The platform the tests run on (dependencies of other platforms are not resolved).
fn host() -> String {
    let output = Command::new("rustc").arg("-vV").output().expect("rustc -vV");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let host = text.lines().find_map(|l| l.strip_prefix("host: ")).expect("rustc names its host");
    host.to_string()
}

/// Each package's normal dependencies, transitively, from `cargo metadata` (dev and
/// build dependencies do not ship in the crate).
fn transitive_dependencies() -> HashMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--filter-platform", &host()])
        .arg("--manifest-path")
        .arg(crates_dir().join("../Cargo.toml"))
        .output()
        .expect("cargo metadata");
    assert!(output.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata JSON");
    let name_of: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let mut normal: HashMap<&str, Vec<&str>> = HashMap::new();
    for node in metadata["resolve"]["nodes"].as_array().expect("resolve nodes") {
        let deps = node["deps"].as_array().into_iter().flatten().filter(|d| {
            d["dep_kinds"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
        });
        let id = node["id"].as_str().expect("node id");
        normal.insert(id, deps.filter_map(|d| d["pkg"].as_str()).collect());
    }
    // Every package, not only the members: the store's registry dependencies are checked
    // too (two versions of one crate share a name and their closures).
    let mut closures: HashMap<String, BTreeSet<String>> = HashMap::new();
    for package in normal.keys() {
        let (mut seen, mut stack) = (BTreeSet::new(), normal.get(package).cloned().unwrap_or_default());
        while let Some(id) = stack.pop() {
            if seen.insert(name_of[id].to_string()) {
                stack.extend(normal.get(id).into_iter().flatten());
            }
        }
        closures.entry(name_of[package].to_string()).or_default().extend(seen);
    }
    closures
}

#[test]
fn pure_crates_depend_on_nothing_that_does_io() {
    for krate in PURE {
        for dep in direct_dependencies(krate) {
            assert!(PURE_DEPENDENCIES.contains(&dep.as_str()), "{krate} depends on {dep}");
        }
    }
    let all = transitive_dependencies();
    assert!(all["gateway"].contains("mio"), "the walk finds dependencies of dependencies");
    for krate in PURE {
        let deps = all.get(krate).unwrap_or_else(|| panic!("{krate} is not a workspace member"));
        let io: Vec<&str> = IO_CRATES.into_iter().filter(|c| deps.contains(*c)).collect();
        assert!(io.is_empty(), "{krate} pulls in {io:?}");
    }
    let through_clients = store_network_dependencies_without_its_clients(&all);
    assert!(all["store"].contains("tokio"), "the check sees the client's runtime it allows");
    assert!(through_clients.is_empty(), "store pulls in {through_clients:?} besides its PostgreSQL client");
    for krate in workspace_crates() {
        if NETWORKED.contains(&krate.as_str()) || krate == "store" {
            continue;
        }
        let deps = &all[&krate];
        let network: Vec<&str> = NETWORK_CRATES.into_iter().filter(|c| deps.contains(*c)).collect();
        assert!(
            network.is_empty(),
            "{krate} pulls in {network:?}: only the gateway and the admin plane do network I/O"
        );
    }
    assert!(
        !all["admin"].contains("gateway"),
        "the admin plane is a sibling of the gateway, not a dependent"
    );
}

/// The network crates the store's direct dependencies other than its PostgreSQL clients
/// (and `rustls`, which only configures the client's TLS) bring in.
fn store_network_dependencies_without_its_clients(all: &HashMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut others = direct_dependencies("store");
    others.retain(|d| !DATABASE_CLIENTS.contains(&d.as_str()) && d != "rustls");
    let mut found = BTreeSet::new();
    for dep in others {
        if NETWORK_CRATES.contains(&dep.as_str()) {
            found.insert(dep.clone());
        }
        for d in all.get(&dep).into_iter().flatten() {
            if NETWORK_CRATES.contains(&d.as_str()) {
                found.insert(d.clone());
            }
        }
    }
    found.into_iter().collect()
}

#[test]
fn only_the_store_speaks_sql() {
    for krate in workspace_crates().into_iter().filter(|k| k != "store") {
        for client in ["rusqlite", "postgres", "tokio-postgres"] {
            assert!(!direct_dependencies(&krate).iter().any(|d| d == client), "{krate} depends on {client}");
        }
    }
}

#[test]
fn pure_crates_never_read_the_clock_nor_touch_files_or_sockets() {
    let forbidden = [
        "SystemTime",
        "Instant::now",
        "std::fs",
        "File::",
        "std::net::Tcp",
        "std::net::Udp",
        "std::os::unix::net",
        "std::env",
        "tokio",
        "async fn",
        "thread::sleep",
    ];
    for krate in PURE {
        for (path, text) in sources(krate) {
            for word in forbidden {
                assert!(!text.contains(word), "{path} mentions {word}");
            }
        }
    }
}

/// The throttle engine judges traffic, not test cases: only its replay (`sim`) and the
/// scenario generators know labels and scenario names, never the decision path.
#[test]
fn the_throttle_decision_path_never_sees_scenarios_or_labels() {
    let decision_path = ["engine.rs", "record.rs", "table.rs", "key.rs", "policy.rs"];
    let files = sources("throttle");
    for name in decision_path {
        let (path, text) = files.iter().find(|(p, _)| p.ends_with(&format!("src/{name}"))).expect(name);
        for word in ["scenario", "Scenario", "label", "sim::"] {
            assert!(!text.contains(word), "{path} mentions {word}");
        }
    }
}

/// No library crate but the gateway and the admin plane opens sockets; the binary, which
/// wires them, binds the admin plane's listener and talks to the gateway's control socket.
#[test]
fn only_the_gateway_and_the_admin_plane_open_sockets() {
    let words =
        ["TcpListener", "TcpStream", "UdpSocket", "UnixListener", "UnixStream", "socket2", "tokio::net"];
    for krate in workspace_crates().into_iter().filter(|k| !NETWORKED.contains(&k.as_str())) {
        for (path, text) in sources(&krate) {
            for word in words {
                assert!(
                    !text.contains(word),
                    "{path} uses {word}: only the gateway and the admin plane open sockets"
                );
            }
        }
    }
}

/// Enqueue is the only writer of new messages, for messages received and notifications
/// alike: nothing else in the program calls the spool's `enqueue` or starts a streamed
/// message (`begin_message`, whose writer's `submit` spools it).
#[test]
fn only_the_enqueue_step_writes_new_messages() {
    let mut writers = Vec::new();
    for krate in workspace_crates().into_iter().filter(|k| k != "spool") {
        writers.extend(
            sources(&krate)
                .into_iter()
                .filter(|(_, text)| text.contains(".enqueue(") || text.contains(".begin_message("))
                .map(|(p, _)| p),
        );
    }
    assert_eq!(writers, ["gateway/src/inbound/enqueue.rs"], "callers of the spool's enqueue");
}

/// The fields a thiserror variant returns from `source()`: `#[from]` / `#[source]` ones
/// (`0` in a tuple variant) and any field named `source`.
fn source_fields(variant: &str) -> Vec<String> {
    let mut fields = Vec::new();
    for marker in ["#[from]", "#[source]"] {
        for (at, _) in variant.match_indices(marker) {
            let before = variant[..at].trim_end();
            let after = variant[at + marker.len()..].trim_start();
            if before.ends_with('(') {
                fields.push("0".to_string());
            } else if let Some((name, _)) = after.split_once(':') {
                fields.push(name.trim().trim_start_matches("pub ").to_string());
            }
        }
    }
    let words = variant.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'));
    if words.into_iter().any(|w| w == "source:") {
        fields.push("source".to_string());
    }
    fields.sort();
    fields.dedup();
    fields
}

/// Issue seen: `database disk image is malformed: database disk image is malformed`. An
/// error that shows its cause in its text must not also return it from `source()`, or the
/// binary's chain (`sluice: a: b: c`) repeats it; each layer does one or the other.
#[test]
fn no_error_both_displays_and_returns_its_source() {
    let mut offenders = Vec::new();
    for (path, text) in workspace_crates().iter().flat_map(|krate| sources(krate)) {
        for (at, _) in text.match_indices("#[error(\"") {
            let rest = &text[at + "#[error(\"".len()..];
            let Some(end) = rest.find("\")]") else { continue };
            let format = &rest[..end];
            let after = &rest[end..];
            let variant_end = [after.find("#[error("), after.find("\n}")].into_iter().flatten().min();
            let variant = &after[..variant_end.unwrap_or(after.len())];
            for field in source_fields(variant) {
                if format.contains(&format!("{{{field}}}")) || format.contains(&format!("{{{field}:")) {
                    offenders.push(format!("{path}: \"{format}\" shows its source `{field}`"));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "errors that display and return their source:\n{}", offenders.join("\n"));
}
