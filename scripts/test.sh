#!/usr/bin/env bash
# The one test command (README and CI): install the real SMTP peers, then the
# mechanical checks, the fuzz targets' build, and the whole workspace's tests.
# `cargo test` runs last so the output ends with its summary line.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "test dependencies"
scripts/install-test-deps.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

if [[ -d fuzz ]]; then
    step "fuzz targets build"
    if cargo fuzz --version >/dev/null 2>&1; then
        # -s none: no sanitizer, so it builds on stable as well.
        cargo fuzz build -s none
    else
        cargo build --manifest-path fuzz/Cargo.toml
    fi
fi

step "cargo test"
cargo test --workspace
