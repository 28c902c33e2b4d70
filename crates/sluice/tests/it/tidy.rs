//! Workspace invariants stated as absences (STYLE.md): the pure crates build without an
//! async runtime, TLS or HTTP, only the gateway (and the admin plane's HTTP listener) opens
//! sockets, the admin plane never depends on the gateway, and only `store` speaks SQL.

use std::path::Path;

fn dependencies(krate: &str) -> Vec<String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(krate).join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("crate manifest");
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once(['=', '.']) {
            out.push(name.trim().to_string());
        }
    }
    out
}

#[test]
fn pure_crates_have_no_runtime_tls_or_sockets() {
    for krate in ["smtp-wire", "throttle", "spool", "directory", "bounce", "access", "trace"] {
        for dep in dependencies(krate) {
            for forbidden in ["tokio", "rustls", "tokio-rustls", "axum", "hyper", "socket2", "gateway"] {
                assert_ne!(dep, forbidden, "{krate} must not depend on {forbidden}");
            }
        }
    }
}

#[test]
fn only_the_gateway_opens_sockets() {
    for krate in ["smtp-wire", "throttle", "spool", "directory", "bounce", "store", "access", "trace"] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(krate).join("src");
        for entry in std::fs::read_dir(&src).expect("src").flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            for word in ["TcpListener", "TcpStream", "UdpSocket", "UnixListener"] {
                assert!(!text.contains(word), "{} uses {word}", entry.path().display());
            }
        }
    }
}

/// Every `.rs` file under the crates' `src/` folders.
fn source_files() -> Vec<std::path::PathBuf> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the crates folder");
    let mut pending: Vec<_> =
        std::fs::read_dir(crates).expect("crates").flatten().map(|e| e.path().join("src")).collect();
    let mut files = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
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
    for path in source_files() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for (at, _) in text.match_indices("#[error(\"") {
            let rest = &text[at + "#[error(\"".len()..];
            let Some(end) = rest.find("\")]") else { continue };
            let format = &rest[..end];
            let after = &rest[end..];
            let variant_end = [after.find("#[error("), after.find("\n}")].into_iter().flatten().min();
            let variant = &after[..variant_end.unwrap_or(after.len())];
            for field in source_fields(variant) {
                if format.contains(&format!("{{{field}}}")) || format.contains(&format!("{{{field}:")) {
                    offenders.push(format!("{}: \"{format}\" shows its source `{field}`", path.display()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "errors that display and return their source:\n{}", offenders.join("\n"));
}

#[test]
fn the_admin_plane_is_a_sibling_of_the_gateway() {
    assert!(!dependencies("admin").iter().any(|d| d == "gateway"), "admin must not depend on gateway");
}

#[test]
fn only_the_store_speaks_sql() {
    for krate in [
        "smtp-wire",
        "throttle",
        "spool",
        "directory",
        "bounce",
        "access",
        "trace",
        "admin",
        "gateway",
        "protection",
    ] {
        assert!(!dependencies(krate).iter().any(|d| d == "rusqlite"), "{krate} must not depend on rusqlite");
    }
}

/// Every `.rs` file under `dir`, sub-folders included.
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// ARCHITECTURE.md: enqueue is the only writer of new messages, for messages received and
/// notifications alike; nothing else in the program calls the spool's `enqueue`.
#[test]
fn only_the_enqueue_step_writes_new_messages() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut writers = Vec::new();
    for krate in std::fs::read_dir(&crates).expect("crates").flatten() {
        if krate.file_name() == "spool" {
            continue;
        }
        for path in rust_files(&krate.path().join("src")) {
            let text = std::fs::read_to_string(&path).expect("source");
            if text.contains(".enqueue(") {
                writers.push(path.strip_prefix(&crates).unwrap_or(&path).display().to_string());
            }
        }
    }
    assert_eq!(writers, ["gateway/src/inbound/enqueue.rs"], "callers of the spool's enqueue");
}
