#!/usr/bin/env bash
# Benchmark (not a test): fleet mode on one machine. Prints, in one run:
#   1. messages/second accepted through HAProxy (round robin, PROXY v2) to two Sluice
#      nodes sharing a private Redis, against one node reached directly (smtp-source,
#      fsync durability, throttling on with an allowance no client reaches);
#   2. RCPT decision latency p50/p99 (client side: RCPT written -> reply read) on one node
#      with Redis sharing on and off, from many client IPs (127.0.1.x), one RCPT at a time.
#
# Usage: bench/fleet.sh [-m MESSAGES] [-s SESSIONS] [-r RCPTS] [--keep]
#   -m   messages per acceptance run   (default 20000, env BENCH_MESSAGES)
#   -s   concurrent sessions           (default 50)
#   -r   RCPTs timed per latency run   (default 20000)
#   --keep   keep the work directory (logs) instead of removing it
# BENCH_SLUICE_BIN=path uses that binary instead of building a release one.
# Needs scripts/install-test-deps.sh (smtp-source, redis-server, haproxy, python3).
# On one machine both nodes share its cores: the fleet line shows the cost of the PROXY hop
# and of the exchange, not the capacity of two machines.
set -euo pipefail

messages=${BENCH_MESSAGES:-20000}
sessions=50
rcpts=20000
keep=0
while (($#)); do
    case $1 in
        -m) messages=$2; shift 2 ;;
        -s) sessions=$2; shift 2 ;;
        -r) rcpts=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
domain=example.test
rcpt=rcpt@$domain
delivery_timeout_s=${BENCH_DELIVERY_TIMEOUT_S:-600}
for tool in /usr/sbin/smtp-source redis-server haproxy python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing: run scripts/install-test-deps.sh" >&2; exit 1; }
done

work=$(mktemp -d /var/tmp/sluice-bench-fleet.XXXXXX)
pids=()

stop_all() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}

cleanup() {
    local rc=$?
    set +e
    stop_all
    if ((keep)); then echo "bench: work directory kept: $work" >&2; else rm -rf "$work"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_banner() { # host port timeout_s
    local deadline=$((SECONDS + $3))
    until python3 - "$1" "$2" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 2)
s.settimeout(5)
ok = s.recv(512).startswith(b"220")
s.sendall(b"QUIT\r\n")
sys.exit(0 if ok else 1)
PY
    do
        if ((SECONDS >= deadline)); then echo "bench: no SMTP banner on $1:$2 after $3 s" >&2; return 1; fi
        sleep 0.2
    done
}

count_files() { # dir
    if [[ -d $1 ]]; then find "$1" -maxdepth 1 -type f | wc -l; else echo 0; fi
}

# BENCH_SLUICE_BIN: a binary already built (e.g. a debug one for a quick check of the script).
sluice_bin=${BENCH_SLUICE_BIN:-}
if [[ -z $sluice_bin ]]; then
    (cd "$repo" && cargo build --release -p sluice --quiet)
    target=$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    sluice_bin=$target/release/sluice
fi

redis_port=$(free_port)
start_redis() {
    mkdir -p "$work/redis"
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --save "" \
        --appendonly no >"$work/redis/redis.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1).close()' \
            "$redis_port" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench: redis-server did not start" >&2
    return 1
}

start_node() { # name port redis(0|1) proxy(0|1)
    local name=$1 port=$2 redis=$3 proxy=$4 dir=$work/$1
    mkdir -p "$dir"
    {
        echo "data_dir = \"$dir/data\""
        echo "hostname = \"$name.bench.test\""
        echo "[smtp]"
        echo "listen = [\"127.0.0.1:$port\"]"
        echo "connections_max = 2000"
        echo "connections_per_ip_max = 1000"
        if ((proxy)); then
            echo "proxy_protocol = true"
            echo "proxy_trusted = [\"127.0.0.1/32\"]"
        fi
        echo "[admin]"
        echo "enabled = false"
        echo "[trace]"
        echo "enabled = false"
        echo "[delivery]"
        echo "accepted_domains = [\"$domain\"]"
        echo "[throttle]"
        echo "enabled = true"
        if ((redis)); then echo "redis_url = \"redis://127.0.0.1:$redis_port\""; fi
        echo "[throttle.policy]"
        echo "# Decisions are made and counted, but no client of this benchmark is deferred."
        echo "ip_floor_per_hour = 100000000.0"
        echo "ip_burst_min = 100000000.0"
        echo "prefix_burst_min = 100000000.0"
    } >"$dir/sluice.toml"
    RUST_LOG=${RUST_LOG:-warn} "$sluice_bin" serve --config "$dir/sluice.toml" \
        >"$dir/stdout.log" 2>"$dir/sluice.log" &
    pids+=($!)
}

start_haproxy() { # port node_port...
    local port=$1; shift
    {
        printf 'global\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout connect 5s\n'
        printf '  timeout client 600s\n  timeout server 600s\n'
        printf 'frontend smtp\n  bind 127.0.0.4:%s\n  default_backend sluice\n' "$port"
        printf 'backend sluice\n  balance roundrobin\n'
        local i=0 p
        for p in "$@"; do
            printf '  server node%s 127.0.0.1:%s send-proxy-v2\n' "$i" "$p"
            i=$((i + 1))
        done
    } >"$work/haproxy.cfg"
    haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
    pids+=($!)
}

# accept NAME HOST PORT MAILDIR_NEW... -> prints messages/s accepted
accept() {
    local name=$1 host=$2 port=$3; shift 3
    local t0 t1
    t0=$(date +%s%N)
    /usr/sbin/smtp-source -s "$sessions" -m "$messages" -l 4096 -f sender@bench.test -t "$rcpt" \
        "$host:$port" >"$work/$name.smtp-source.log" 2>&1 || {
        echo "bench: $name: smtp-source failed:" >&2; tail -20 "$work/$name.smtp-source.log" >&2; return 1; }
    t1=$(date +%s%N)
    local deadline=$((SECONDS + delivery_timeout_s)) n dir
    while :; do
        n=0
        for dir in "$@"; do n=$((n + $(count_files "$dir"))); done
        ((n >= messages)) && break
        if ((SECONDS >= deadline)); then echo "bench: $name: only $n of $messages delivered" >&2; return 1; fi
        sleep 0.2
    done
    python3 -c 'import sys; m,a,b=map(int,sys.argv[1:]); print(f"{m/((b-a)/1e9):.0f}")' "$messages" "$t0" "$t1"
}

# rcpt_latency NAME PORT -> prints "p50_us p99_us"
rcpt_latency() {
    python3 - "$2" "$rcpts" "$domain" <<'PY'
import socket, sys, time
port, total, domain = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
per_session = 100
samples = []
def line(f):
    while True:
        l = f.readline()
        if not l:
            raise SystemExit("connection closed")
        if l[3:4] != b"-":
            return l
n = 0
while n < total:
    ip = f"127.0.1.{1 + (n // per_session) % 250}"
    s = socket.create_connection(("127.0.0.1", port), 10, source_address=(ip, 0))
    f = s.makefile("rb")
    line(f)
    s.sendall(b"EHLO bench.test\r\n"); line(f)
    s.sendall(b"MAIL FROM:<s@bench.test>\r\n"); line(f)
    for i in range(min(per_session, total - n)):
        cmd = f"RCPT TO:<r{n}@{domain}>\r\n".encode()
        t = time.perf_counter_ns()
        s.sendall(cmd)
        reply = line(f)
        samples.append(time.perf_counter_ns() - t)
        if not reply.startswith(b"250"):
            raise SystemExit(f"RCPT answered {reply!r}")
        n += 1
    s.sendall(b"QUIT\r\n"); line(f); s.close()
samples.sort()
q = lambda p: samples[min(len(samples) - 1, int(p * len(samples)))] / 1000
print(f"{q(0.50):.0f} {q(0.99):.0f}")
PY
}

start_redis

# 1. Acceptance: one node directly, then two nodes through HAProxy.
single_port=$(free_port)
start_node single "$single_port" 0 0
wait_banner 127.0.0.1 "$single_port" 30
echo "bench: one node: smtp-source -s $sessions -m $messages -l 4096" >&2
single_rate=$(accept single 127.0.0.1 "$single_port" "$work/single/data/mail/$domain/rcpt/new")
stop_all
start_redis
a_port=$(free_port); b_port=$(free_port); proxy_port=$(free_port)
start_node node-a "$a_port" 1 1
start_node node-b "$b_port" 1 1
start_haproxy "$proxy_port" "$a_port" "$b_port"
wait_banner 127.0.0.4 "$proxy_port" 30
wait_banner 127.0.0.4 "$proxy_port" 30
echo "bench: two nodes through HAProxy: smtp-source -s $sessions -m $messages -l 4096" >&2
fleet_rate=$(accept fleet 127.0.0.4 "$proxy_port" \
    "$work/node-a/data/mail/$domain/rcpt/new" "$work/node-b/data/mail/$domain/rcpt/new")
stop_all

# 2. RCPT decision latency on one node, Redis sharing off then on.
latency_run() { # name redis(0|1) -> prints "p50_us p99_us"
    start_redis
    local port
    port=$(free_port)
    start_node "$1" "$port" "$2" 0
    wait_banner 127.0.0.1 "$port" 30
    echo "bench: RCPT latency, $1: $rcpts RCPTs" >&2
    rcpt_latency "$1" "$port"
    stop_all
}
# (Command substitution waits for each run to finish, its cleanup included.)
off=$(latency_run latency-redis-off 0)
on=$(latency_run latency-redis-on 1)
read -r off_p50 off_p99 <<<"$off"
read -r on_p50 on_p99 <<<"$on"

echo "acceptance one node directly:             $single_rate msgs/s"
echo "acceptance two nodes through HAProxy:     $fleet_rate msgs/s"
echo "RCPT latency, Redis sharing off: p50 ${off_p50} us, p99 ${off_p99} us"
echo "RCPT latency, Redis sharing on:  p50 ${on_p50} us, p99 ${on_p99} us"
