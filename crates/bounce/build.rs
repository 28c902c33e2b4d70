//! Embeds every `locales/<tag>.ftl` file, so that adding a language is adding one file: the
//! registry (`LOCALES` in `$OUT_DIR/locales.rs`) is generated from the folder's listing.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("locales");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut files: Vec<(String, PathBuf)> = fs::read_dir(&dir)
        .expect("crates/bounce/locales exists")
        .map(|entry| entry.expect("readable locales entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "ftl"))
        .filter_map(|path| {
            let tag = path.file_stem()?.to_str()?.to_owned();
            Some((tag, path))
        })
        .collect();
    // Sorted so that the generated table, and therefore the build, is reproducible.
    files.sort();
    let mut out = String::from("pub(crate) const LOCALES: &[(&str, &str)] = &[\n");
    for (tag, path) in &files {
        println!("cargo::rerun-if-changed={}", path.display());
        writeln!(out, "    ({tag:?}, include_str!({:?})),", path.display().to_string())
            .expect("writing to a String cannot fail");
    }
    out.push_str("];\n");
    let target = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("locales.rs");
    fs::write(target, out).expect("OUT_DIR is writable");
}
