#!/usr/bin/env bash
# Builds the fuzz targets with coverage instrumentation and runs each one for a bounded time.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 20 s, every target)
#
# Each target starts from its committed seeds (fuzz/seeds/<target>/) and the working corpus
# (fuzz/corpus/<target>/, git-ignored, where new interesting inputs are kept between runs).
# A crash or a failed assertion stops the run with a non-zero status and leaves the input in
# fuzz/artifacts/<target>/; turn it into a regression test (a unit test in the crate, or a
# seed) before fixing it. Works on stable Rust: the build uses the same coverage flags as
# `cargo fuzz build -s none`, so cargo-fuzz itself is not needed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-20}
shift || true
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 1)); then
    echo "fuzz.sh: the first argument is the seconds per target (a positive number), not \"$seconds\"" >&2
    exit 2
fi

host=$(rustc -vV | sed -n 's/^host: //p')
flags=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    --cfg fuzzing
    -Cdebug-assertions
    -Coverflow-checks
)
# --target keeps the flags off build scripts and proc macros. The binaries land under
# CARGO_TARGET_DIR when it is set (a shared build cache), else under fuzz/target.
RUSTFLAGS="${flags[*]}" cargo build --release --manifest-path fuzz/Cargo.toml --target "$host" --bins
target_dir=${CARGO_TARGET_DIR:-fuzz/target}

mapfile -t all < <(awk '/^\[\[bin\]\]/ { bin = 1 } bin && /^name = / { gsub(/"/, "", $3); print $3; bin = 0 }' fuzz/Cargo.toml)
targets=("$@")
if ((${#targets[@]} == 0)); then
    targets=("${all[@]}")
fi

for target in "${targets[@]}"; do
    binary="$target_dir/$host/release/$target"
    if [[ ! -x $binary ]]; then
        echo "fuzz.sh: no fuzz target \"$target\" (targets: ${all[*]})" >&2
        exit 2
    fi
    if [[ ! -d fuzz/seeds/$target ]]; then
        echo "fuzz.sh: fuzz/seeds/$target is missing: every target needs a committed seed corpus" >&2
        exit 1
    fi
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    echo "fuzz.sh: $target for ${seconds}s" >&2
    # New inputs go into the first directory; the seeds are read only.
    log="fuzz/artifacts/$target/last-run.log"
    status=0
    "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$target/" "fuzz/corpus/$target" "fuzz/seeds/$target" \
        >"$log" 2>&1 || status=$?
    grep -E '^(INFO: seed corpus|#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units)' "$log" >&2 || true
    if ((status != 0)); then
        tail -n 40 "$log" >&2
        echo "fuzz.sh: $target failed (status $status); the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
