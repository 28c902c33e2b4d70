#!/usr/bin/env bash
# Benchmark (not a test): memory under hostile input. SESSIONS concurrent clients each
# send one message of BYTES (Postfix's smtp-source, one message per session, all at
# once) to a release Sluice with its default memory settings; prints the server's peak
# resident memory (VmHWM) against the aim (200 concurrent 50 MB messages under 512 MB),
# the bound the settings give, and how long the transfers took.
#
# Usage: bench/large_messages_rss.sh [-s SESSIONS] [-l BYTES] [--deliver] [--keep]
#   -s         concurrent sessions, one message each   (default 200)
#   -l         message size in bytes                    (default 50000000)
#   --deliver  let delivery into Maildir run meanwhile (needs twice the disk space);
#              by default delivery is held (the Maildir domain folder is a file), so the
#              disk holds the spool's copy only and the figure is the receiving side's
#   --keep     keep the work directory (logs) instead of removing it
# Needs smtp-source (scripts/install-test-deps.sh) and SESSIONS x BYTES of free disk.
set -euo pipefail

sessions=200
size=50000000
deliver=0
keep=0
while (($#)); do
    case $1 in
        -s) sessions=$2; shift 2 ;;
        -l) size=$2; shift 2 ;;
        --deliver) deliver=1; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
smtp_source=/usr/sbin/smtp-source
domain=example.test
[[ -x $smtp_source ]] || "$repo/scripts/install-test-deps.sh"

work=$(mktemp -d /var/tmp/sluice-rss-bench.XXXXXX)
need_bytes=$((sessions * size * (1 + deliver) + (1 << 30)))
free_bytes=$(($(df --output=avail -k "$work" | tail -1) * 1024))
if ((free_bytes < need_bytes)); then
    echo "bench: $work has $((free_bytes >> 20)) MiB free, this run needs about $((need_bytes >> 20)) MiB" >&2
    rmdir "$work"
    exit 1
fi
sluice_pid=
cleanup() {
    local rc=$?
    set +e
    if [[ -n $sluice_pid ]] && kill -0 "$sluice_pid" 2>/dev/null; then
        kill -KILL "$sluice_pid"
        wait "$sluice_pid" 2>/dev/null
    fi
    if ((keep)); then echo "bench: work directory kept: $work" >&2; else rm -rf "$work"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench: building sluice (release)" >&2
(cd "$repo" && cargo build --release -p sluice --quiet)
target=$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/sluice/data/mail"
if ((!deliver)); then
    # A file where the domain's Maildir folder belongs: every delivery defers at once.
    touch "$work/sluice/data/mail/$domain"
fi
cat >"$work/sluice/sluice.toml" <<CF
data_dir = "$work/sluice/data"
hostname = "sluice-bench.bench.test"
[smtp]
listen = ["127.0.0.1:$port"]
connections_max = 2000
connections_per_ip_max = 1000
connections_per_network_max = 1000
# One transfer of this benchmark may take minutes on a loaded machine.
data_total_timeout_s = 3600
[delivery]
accepted_domains = ["$domain"]
[throttle]
enabled = false
[admin]
enabled = false
CF
RUST_LOG=info "$target/release/sluice" serve --config "$work/sluice/sluice.toml" \
    >"$work/sluice/stdout.log" 2>"$work/sluice/sluice.log" &
sluice_pid=$!
deadline=$((SECONDS + 30))
until python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1).close()' "$port" 2>/dev/null; do
    ((SECONDS < deadline)) || { tail -20 "$work/sluice/sluice.log" >&2; exit 1; }
    sleep 0.1
done
rss_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$sluice_pid/status"; }
idle_kib=$(rss_kib VmRSS)

echo "bench: $sessions sessions x $size bytes -> 127.0.0.1:$port (idle RSS $((idle_kib >> 10)) MiB)" >&2
t0=$(date +%s%N)
"$smtp_source" -s "$sessions" -m "$sessions" -l "$size" -f sender@bench.test -t "rcpt@$domain" \
    "127.0.0.1:$port" >"$work/smtp-source.log" 2>&1 || {
    echo "bench: smtp-source failed:" >&2
    tail -20 "$work/smtp-source.log" >&2
    exit 1
}
t1=$(date +%s%N)
queued=$(grep -c 'outcome=queued' "$work/sluice/sluice.log" || true)
peak_kib=$(rss_kib VmHWM)
python3 - "$sessions" "$size" "$queued" "$t0" "$t1" "$idle_kib" "$peak_kib" <<'PY'
import sys
sessions, size, queued, t0, t1, idle, peak = map(int, sys.argv[1:])
seconds = (t1 - t0) / 1e9
print(f"large_messages_rss: {queued} of {sessions} messages of {size} bytes queued in {seconds:.1f} s "
      f"({sessions * size / seconds / 1e6:.0f} MB/s)")
print(f"large_messages_rss: peak RSS {peak / 1024:.0f} MiB (idle {idle / 1024:.0f} MiB); aim: under 512 MiB")
# Default settings: each transfer reserves 256 KiB in memory + 144 KiB of buffers, all of
# them together at most data_memory_total_bytes_max (256 MiB).
bound = min(sessions * (256 + 144) * 1024, 256 << 20)
print(f"large_messages_rss: the transfers' memory budget bounds their buffers at {bound >> 20} MiB")
sys.exit(0 if queued == sessions else 1)
PY
