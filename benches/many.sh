#!/usr/bin/env bash
# Checks per second on one client thread: the multiplexed driver against one blocking driver
# per thread, on a 5-hop plain-http chain served by nginx on loopback.
#
#   benches/many.sh [CHECKS]        (root not needed; installs nginx with apt-get if missing)
#
# Environment: CHECKS (checks per run, default 20000), LEVELS (default "1 10 100 1000"),
# WORKERS (nginx worker processes, default 2), PHONECHECK (a prebuilt binary: skip the build).
#
# The chain, 5 requests on one origin (kept-alive connection):
#   /1 302 → /2 302 → /3 302 → /4 302 → /done 200 {"code":"4711"}
#
# For each concurrency C it runs `phonecheck open URL --repeat CHECKS --concurrency C` with
# `--driver mux` (one thread) and `--driver threads` (C threads), and reports the summary line's
# checks/s and latency percentiles with the client's user+system CPU time (bash `times`).
set -euo pipefail

CHECKS=${1:-${CHECKS:-20000}}
LEVELS=${LEVELS:-"1 10 100 1000"}
WORKERS=${WORKERS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=$((20000 + RANDOM % 20000))

die() { echo "benches/many.sh: $*" >&2; exit 1; }

if ! command -v nginx >/dev/null; then
    echo "== installing Debian's nginx (the service is not started)" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -q nginx >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q nginx >/dev/null; }; } ||
        die "could not install nginx"
fi

if [ -z "${PHONECHECK:-}" ]; then
    echo "== building phonecheck (release)" >&2
    (cd "$ROOT" && cargo build --release -q -p phonecheck-linux) || die "build failed"
    PHONECHECK="$ROOT/target/release/phonecheck"
fi

DIR=$(mktemp -d /tmp/phonecheck-many.XXXXXX)
chmod 755 "$DIR"
mkdir -p "$DIR/tmp"
cleanup() {
    if [ -f "$DIR/nginx.pid" ]; then kill "$(cat "$DIR/nginx.pid")" 2>/dev/null || true; fi
    sleep 0.2
    rm -rf "$DIR"
}
trap cleanup EXIT

cat >"$DIR/nginx.conf" <<EOF
worker_processes $WORKERS;
pid $DIR/nginx.pid;
error_log $DIR/error.log warn;
worker_rlimit_nofile 8192;
events { worker_connections 4096; multi_accept on; }
http {
    access_log off;
    client_body_temp_path $DIR/tmp/body;
    proxy_temp_path $DIR/tmp/proxy;
    fastcgi_temp_path $DIR/tmp/fastcgi;
    uwsgi_temp_path $DIR/tmp/uwsgi;
    scgi_temp_path $DIR/tmp/scgi;
    server_tokens off;
    keepalive_requests 100000;
    absolute_redirect off;
    server {
        listen 127.0.0.1:$PORT backlog=4096;
        location = /1 { return 302 /2; }
        location = /2 { return 302 /3; }
        location = /3 { return 302 /4; }
        location = /4 { return 302 /done; }
        location = /done { default_type application/json; return 200 '{"check_id":"c1","code":"4711"}'; }
        location / { return 404; }
    }
}
EOF
nginx -t -q -c "$DIR/nginx.conf" -p "$DIR" -e "$DIR/error.log" || die "nginx config: $(cat "$DIR/error.log")"
nginx -c "$DIR/nginx.conf" -p "$DIR" -e "$DIR/error.log"
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/done" && break
    sleep 0.1
done
curl -s -o /dev/null "http://127.0.0.1:$PORT/done" || die "nginx did not answer"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
URL="http://127.0.0.1:$PORT/1"
echo "phonecheck, 5-hop plain-http chain on loopback, nginx with $WORKERS workers; $CHECKS checks per run"
echo "machine: $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "| driver | C | checks/s | p50 ms | p95 ms | p99 ms | client CPU s (user+sys) | CPU µs per check |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for c in $LEVELS; do
    for driver in mux threads; do
        [ "$driver" = threads ] && [ "$c" -gt 1000 ] && continue
        # CPU time of the child, from bash's `times` before and after.
        times >"$DIR/t0"
        before=$(tail -1 "$DIR/t0")
        "$PHONECHECK" open "$URL" --interface lo --allow-http --repeat "$CHECKS" \
            --concurrency "$c" --driver "$driver" >"$DIR/out.jsonl" 2>"$DIR/err.txt" || true
        times >"$DIR/t1"
        after=$(tail -1 "$DIR/t1")
        summary=$(grep ' checks, ' "$DIR/err.txt" | tail -1)
        [ -n "$summary" ] || die "no summary for C=$c $driver: $(tail -3 "$DIR/err.txt")"
        ok=$(sed -E 's/.* ([0-9]+) ok, ([0-9]+) failed.*/\1 \2/' <<<"$summary")
        read -r nok nfail <<<"$ok"
        [ "$nfail" = 0 ] || echo "  (C=$c $driver: $nfail checks failed: $(grep -m1 '"exit":[^0]' "$DIR/out.jsonl" | cut -c1-200))" >&2
        rate=$(sed -E 's/.* ([0-9.]+) checks\/s.*/\1/' <<<"$summary")
        p50=$(sed -E 's/.*p50 ([0-9.]+) ms.*/\1/' <<<"$summary")
        p95=$(sed -E 's/.*p95 ([0-9.]+) ms.*/\1/' <<<"$summary")
        p99=$(sed -E 's/.*p99 ([0-9.]+) ms.*/\1/' <<<"$summary")
        cpu=$(python3 - "$before" "$after" "$CHECKS" <<'PY'
import re, sys
def secs(s):
    out = []
    for m, sec in re.findall(r'(\d+)m([\d.]+)s', s):
        out.append(int(m) * 60 + float(sec))
    return out  # user, sys (children)
b, a, n = secs(sys.argv[1]), secs(sys.argv[2]), int(sys.argv[3])
used = (a[0] - b[0]) + (a[1] - b[1])
print(f"{used:.2f} {used / n * 1e6:.0f}")
PY
)
        read -r cpu_s cpu_us <<<"$cpu"
        echo "| $driver | $c | $rate | $p50 | $p95 | $p99 | $cpu_s | $cpu_us |"
        [ "$nok" -gt 0 ] || die "no check succeeded (C=$c $driver)"
    done
done
