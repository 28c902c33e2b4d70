#!/usr/bin/env bash
# Benchmark (not a test): SMTP acceptance with fsync durability, Sluice vs a
# private Postfix instance, same machine, same client (Postfix's smtp-source),
# 50 concurrent sessions, 4 KiB messages. Prints messages/second accepted and
# delivered for both, the Sluice/Postfix ratio and Sluice's p50/p99 queue_us
# (end of DATA -> 250 written) parsed from its log. With --trace both, Sluice runs
# twice, message trace off then on, and the two acceptance rates are compared
# (the aim: trace on within 10 % of trace off).
#
# Usage: bench/smtp_accept.sh [-m MESSAGES] [-s SESSIONS] [-l BYTES] [-d]
#                             [--only sluice|postfix] [--trace on|off|both] [--keep]
#   -m   messages per server            (default 20000, env BENCH_MESSAGES)
#   -s   concurrent sessions            (default 50)
#   -l   message size in bytes          (default 4096)
#   -d   keep connections open between messages (smtp-source -d)
#   --only   run one side only
#   --trace  Sluice's message trace: on (default, as deployed), off, or both
#   --keep   keep the work directory (logs) instead of removing it
# Needs root (Postfix runs as a private instance) and scripts/install-test-deps.sh.
set -euo pipefail

messages=${BENCH_MESSAGES:-20000}
latency_seconds=${BENCH_LATENCY_SECONDS:-20}
sessions=50
size=4096
keep_open=()
only=both
trace_mode=on
keep=0
while (($#)); do
    case $1 in
        -m) messages=$2; shift 2 ;;
        -s) sessions=$2; shift 2 ;;
        -l) size=$2; shift 2 ;;
        -d) keep_open=(-d); shift ;;
        --only) only=$2; shift 2 ;;
        --trace) trace_mode=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
case $only in both|sluice|postfix) ;; *) echo "--only sluice|postfix" >&2; exit 2 ;; esac
case $trace_mode in on|off|both) ;; *) echo "--trace on|off|both" >&2; exit 2 ;; esac

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
smtp_source=/usr/sbin/smtp-source
domain=example.test
rcpt=rcpt@$domain
# Postfix insists that a private instance's config directory be listed by name
# in the default main.cf, so this path is fixed (and registered once).
postfix_dir=${BENCH_POSTFIX_DIR:-/var/tmp/sluice-bench-postfix}
delivery_timeout_s=${BENCH_DELIVERY_TIMEOUT_S:-600}

if [[ $(id -u) -ne 0 ]]; then
    echo "bench: run as root (a private Postfix instance must be started)" >&2
    exit 1
fi
"$repo/scripts/install-test-deps.sh"

work=$(mktemp -d /var/tmp/sluice-bench.XXXXXX)
sluice_pid=
postfix_started=0

cleanup() {
    local rc=$?
    set +e
    if [[ -n $sluice_pid ]] && kill -0 "$sluice_pid" 2>/dev/null; then
        kill -TERM "$sluice_pid"
        for _ in $(seq 100); do kill -0 "$sluice_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$sluice_pid" 2>/dev/null
        wait "$sluice_pid" 2>/dev/null
    fi
    if ((postfix_started)); then
        stop_postfix
    fi
    if ((keep)); then
        echo "bench: work directory kept: $work" >&2
    else
        rm -rf "$work"
        rm -rf "$postfix_dir"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # port timeout_s
    local deadline=$((SECONDS + $2))
    until python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1).close()' "$1" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            echo "bench: nothing listens on 127.0.0.1:$1 after $2 s" >&2
            return 1
        fi
        sleep 0.1
    done
}

count_files() { # dir
    if [[ -d $1 ]]; then find "$1" -maxdepth 1 -type f | wc -l; else echo 0; fi
}

now_ns() { date +%s%N; }

# run_load NAME PORT MAILDIR_NEW -> sets accept_rate deliver_rate
run_load() {
    local name=$1 port=$2 maildir_new=$3
    echo "bench: $name: smtp-source -s $sessions -m $messages -l $size ${keep_open[*]} -> 127.0.0.1:$port" >&2
    local t0 t1 t2
    t0=$(now_ns)
    "$smtp_source" -s "$sessions" -m "$messages" -l "$size" "${keep_open[@]}" \
        -f sender@bench.test -t "$rcpt" "127.0.0.1:$port" >"$work/$name.smtp-source.log" 2>&1 || {
        echo "bench: $name: smtp-source failed:" >&2
        tail -20 "$work/$name.smtp-source.log" >&2
        return 1
    }
    t1=$(now_ns)
    local deadline=$((SECONDS + delivery_timeout_s)) n
    while :; do
        n=$(count_files "$maildir_new")
        ((n >= messages)) && break
        if ((SECONDS >= deadline)); then
            echo "bench: $name: only $n of $messages delivered after ${delivery_timeout_s}s" >&2
            return 1
        fi
        sleep 0.2
    done
    t2=$(now_ns)
    accept_rate=$(python3 -c 'import sys; n,a,b=map(int,sys.argv[1:]); print(f"{n/((b-a)/1e9):.0f}")' "$messages" "$t0" "$t1")
    deliver_rate=$(python3 -c 'import sys; n,a,b=map(int,sys.argv[1:]); print(f"{n/((b-a)/1e9):.0f}")' "$messages" "$t0" "$t2")
    local accept_s deliver_s
    accept_s=$(python3 -c 'import sys; a,b=map(int,sys.argv[1:]); print(f"{(b-a)/1e9:.2f}")' "$t0" "$t1")
    deliver_s=$(python3 -c 'import sys; a,b=map(int,sys.argv[1:]); print(f"{(b-a)/1e9:.2f}")' "$t0" "$t2")
    printf '%-8s accepted %d msgs in %ss = %s msgs/s; all delivered to Maildir after %ss = %s msgs/s\n' \
        "$name" "$messages" "$accept_s" "$accept_rate" "$deliver_s" "$deliver_rate"
}

# ---------------------------------------------------------------- Postfix --

register_postfix_dir() {
    local main=/etc/postfix/main.cf
    if [[ ! -e $main ]]; then
        # "No configuration" install: no main.cf at all. A minimal one that
        # only authorises our private instance's directory.
        printf 'compatibility_level = 3.6\nalternate_config_directories = %s\n' "$postfix_dir" >"$main"
        return
    fi
    local current
    current=$(postconf -h alternate_config_directories 2>/dev/null || true)
    if [[ ",${current// /}," != *",$postfix_dir,"* ]]; then
        postconf -e "alternate_config_directories = ${current:+$current, }$postfix_dir"
    fi
}

stop_postfix() {
    local pidfile=$postfix_dir/queue/pid/master.pid pid
    postfix -c "$postfix_dir/etc" stop >/dev/null 2>&1
    if [[ -f $pidfile ]]; then
        pid=$(tr -d ' ' <"$pidfile")
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    postfix_started=0
}

start_postfix() { # port
    local port=$1 etc=$postfix_dir/etc
    if [[ -f $postfix_dir/queue/pid/master.pid ]]; then
        stop_postfix # a previous run that died without cleaning up
    fi
    rm -rf "$postfix_dir"
    mkdir -p "$etc" "$postfix_dir/queue" "$postfix_dir/data" "$postfix_dir/log" "$postfix_dir/mail"
    chown postfix:postfix "$postfix_dir/data" "$postfix_dir/mail"
    register_postfix_dir
    local uid gid
    uid=$(id -u postfix)
    gid=$(id -g postfix)
    cat >"$etc/main.cf" <<CF
compatibility_level = 3.6
myhostname = postfix-bench.bench.test
mydomain = bench.test
myorigin = bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
queue_directory = $postfix_dir/queue
data_directory = $postfix_dir/data
maillog_file = $postfix_dir/log/postfix.log
maillog_file_prefixes = $postfix_dir
alias_maps =
alias_database =
local_transport = error:no local delivery in the benchmark
relayhost =
smtpd_banner = \$myhostname ESMTP
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
default_process_limit = 200
smtpd_peername_lookup = no
message_size_limit = 52428800
virtual_mailbox_domains = $domain
virtual_mailbox_base = $postfix_dir/mail
virtual_mailbox_maps = static:$domain/rcpt/
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
virtual_mailbox_limit = 0
CF
    # chroot off everywhere: a private instance has no populated chroot jail.
    cat >"$etc/master.cf" <<CF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
    if ! postfix -c "$etc" check >"$work/postfix.check.log" 2>&1; then
        cat "$work/postfix.check.log" >&2
        return 1
    fi
    postfix_started=1
    if ! postfix -c "$etc" start >"$work/postfix.start.log" 2>&1; then
        cat "$work/postfix.start.log" "$postfix_dir/log/postfix.log" >&2 2>/dev/null
        return 1
    fi
    wait_port "$port" 30 || { cat "$postfix_dir/log/postfix.log" >&2; return 1; }
}

# ----------------------------------------------------------------- Sluice --

build_sluice() {
    echo "bench: building sluice (release)" >&2
    (cd "$repo" && cargo build --release -p sluice --quiet)
    local target
    target=$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    sluice_bin=$target/release/sluice
}

start_sluice() { # port dir trace(true|false)
    local port=$1 dir=$2 trace=$3
    mkdir -p "$dir"
    cat >"$dir/sluice.toml" <<CF
data_dir = "$dir/data"
hostname = "sluice-bench.bench.test"
[smtp]
listen = ["127.0.0.1:$port"]
connections_max = 2000
connections_per_ip_max = 1000
[delivery]
accepted_domains = ["$domain"]
# One new IP sending thousands at once is exactly what throttling defers; this
# benchmark measures acceptance, so the throttle is off here.
[throttle]
enabled = false
[admin]
listen = "127.0.0.1:$(free_port)"
[trace]
enabled = $trace
CF
    RUST_LOG=${RUST_LOG:-info} "$sluice_bin" serve --config "$dir/sluice.toml" \
        >"$dir/stdout.log" 2>"$dir/sluice.log" &
    sluice_pid=$!
    wait_port "$port" 30 || { tail -50 "$dir/sluice.log" >&2; return 1; }
}

stop_sluice() {
    kill -TERM "$sluice_pid"
    for _ in $(seq 300); do kill -0 "$sluice_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$sluice_pid" 2>/dev/null || true
    wait "$sluice_pid" 2>/dev/null || true
    sluice_pid=
}

# run_sluice NAME TRACE -> sets accept_rate; Sluice keeps running (sluice_pid, port_a)
run_sluice() {
    local name=$1 trace=$2 dir=$work/$1
    port_a=$(free_port)
    start_sluice "$port_a" "$dir" "$trace"
    run_load "$name" "$port_a" "$dir/data/mail/$domain/rcpt/new"
    queue_us_percentiles "$dir/sluice.log"
}

queue_us_percentiles() { # log
    grep -o 'queue_us=[0-9]*' "$1" | cut -d= -f2 | python3 -c '
import sys
v = sorted(int(x) for x in sys.stdin if x.strip())
if not v:
    print("no queue_us values in the log"); sys.exit(0)
pct = lambda p: v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
print(f"queue_us over {len(v)} transactions: p50={pct(50)} us p99={pct(99)} us max={v[-1]} us")'
}

# ------------------------------------------------------------------- run --

echo "bench: $(nproc) cores, $messages messages x $size bytes, $sessions sessions${keep_open:+, -d}, work dir $work" >&2
postfix_rate= sluice_rate=
if [[ $only != postfix ]]; then
    build_sluice
fi
if [[ $only != sluice ]]; then
    port_b=$(free_port)
    start_postfix "$port_b"
    run_load postfix "$port_b" "$postfix_dir/mail/$domain/rcpt/new"
    postfix_rate=$accept_rate
    stop_postfix
fi
untraced_rate=
if [[ $only != postfix && $trace_mode == both ]]; then
    run_sluice sluice-trace-off false
    untraced_rate=$accept_rate
    stop_sluice
fi
if [[ $only != postfix ]]; then
    if [[ $trace_mode == off ]]; then
        run_sluice sluice false
    else
        run_sluice sluice true
    fi
    sluice_rate=$accept_rate
    # PRODUCT.md's latency aim is at half of peak load: pace a client at half the rate
    # just measured and time end of DATA -> 250 on the client side.
    half_rate=$((sluice_rate / 2))
    echo "bench: sluice: paced load at $half_rate msgs/s (half of peak) for ${latency_seconds}s" >&2
    (cd "$repo" && cargo bench -q -p sluice --bench eod_latency -- --addr "127.0.0.1:$port_a" \
        --rate "$half_rate" --seconds "$latency_seconds" --sessions "$sessions" --size "$size" \
        --to "$rcpt") 2>"$work/eod_latency.log" | grep '^eod_latency' || tail -20 "$work/eod_latency.log" >&2
fi
if [[ -n $untraced_rate && -n $sluice_rate ]]; then
    python3 -c 'import sys; on,off=map(float,sys.argv[1:]); print(f"message trace on/off (accepted msgs/s): {on:.0f} / {off:.0f} = {on/off:.2f} (goal >= 0.90)")' \
        "$sluice_rate" "$untraced_rate"
fi
if [[ -n $postfix_rate && -n $sluice_rate ]]; then
    python3 -c 'import sys; s,p=map(float,sys.argv[1:]); print(f"ratio Sluice/Postfix (accepted msgs/s): {s/p:.2f}x (goal >= 2x)")' \
        "$sluice_rate" "$postfix_rate"
fi
