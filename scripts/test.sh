#!/usr/bin/env bash
# The one test command (README and CI): install the real SMTP peers, then the
# mechanical checks, every fuzz target for a bounded time (FUZZ_SECONDS each, default
# 20), and the whole workspace's tests. `cargo test` runs last so the output ends with
# its summary line.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "test dependencies"
scripts/install-test-deps.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "fuzz targets, ${FUZZ_SECONDS:-20}s each"
scripts/fuzz.sh "${FUZZ_SECONDS:-20}"

step "cargo test"
cargo test --workspace
