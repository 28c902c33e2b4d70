//! Workspace invariants stated as absences (STYLE.md): the pure crates build without an
//! async runtime, TLS or HTTP, and only the gateway opens sockets.

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
    for krate in ["smtp-wire", "throttle", "spool", "directory", "bounce"] {
        for dep in dependencies(krate) {
            for forbidden in ["tokio", "rustls", "tokio-rustls", "axum", "hyper", "socket2", "gateway"] {
                assert_ne!(dep, forbidden, "{krate} must not depend on {forbidden}");
            }
        }
    }
}

#[test]
fn only_the_gateway_opens_sockets() {
    for krate in ["smtp-wire", "throttle", "spool", "directory", "bounce", "store"] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(krate).join("src");
        for entry in std::fs::read_dir(&src).expect("src").flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            for word in ["TcpListener", "TcpStream", "UdpSocket", "UnixListener"] {
                assert!(!text.contains(word), "{} uses {word}", entry.path().display());
            }
        }
    }
}
