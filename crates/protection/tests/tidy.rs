//! Guards the crate's invariants stated as absences: no I/O crates, no clock reads, no
//! filesystem or network access in the library source.

use std::path::Path;

fn library_sources() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source file");
            out.push((path.display().to_string(), text));
        }
    }
    out
}

#[test]
fn library_never_reads_the_clock_nor_does_io() {
    let sources = library_sources();
    assert!(sources.len() >= 6, "found the sources");
    let forbidden =
        ["SystemTime", "Instant", "std::fs", "std::net", "std::io", "tokio", "async fn", "thread::sleep"];
    for (path, text) in sources {
        for word in forbidden {
            assert!(!text.contains(word), "{path} mentions {word}");
        }
    }
}

#[test]
fn dependencies_are_pure() {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .expect("Cargo.toml");
    let deps = manifest.split("[dependencies]").nth(1).and_then(|s| s.split("\n[").next()).unwrap_or("");
    let names: Vec<&str> = deps
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(['.', '=', ' ']).next().unwrap_or(""))
        .collect();
    assert!(!names.is_empty(), "found the dependencies");
    for name in names {
        assert!(["thiserror", "serde"].contains(&name), "unexpected dependency {name}");
    }
}
