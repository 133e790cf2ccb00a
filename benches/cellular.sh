#!/usr/bin/env bash
# phonecheck vs curl -L over an emulated cellular link.
#
#   sudo benches/cellular.sh [RUNS]
#
# Environment: RUNS (default 15 per contender), DELAY_MS (one-way delay, default 30, so a 60 ms
# round trip), PHONECHECK / CELLULAR_RIG (prebuilt binaries: skip the cargo builds),
# TIMEOUT_S (per command, default 30).
#
# What it does:
#   1. builds `phonecheck` (release) and the rig's `cellular-rig` binary;
#   2. starts `cellular-rig`: a "phone" network namespace whose only link is a raw-IP TUN `wwan0`,
#      a "network" namespace behind it, and a relay that delays every packet DELAY_MS each way
#      (tests/src/cellular.rs); it also writes a CA and a server certificate for api.test made at
#      run time, and keeps everything up until its stdin closes or it gets SIGTERM;
#   3. runs Debian's nginx inside the network namespace (`ip netns exec`), with its own config
#      in a temporary directory, serving the chain below on three addresses (three origins);
#   4. runs both contenders in the phone namespace, pinned to wwan0, every name given with
#      --resolve (no DNS round trips), alternating which goes first, after one warm-up run each;
#   5. counts TCP connections and TLS handshakes from nginx's access log ($connection serial,
#      $ssl_protocol, $ssl_session_reused), and checks each run made exactly 10 requests and
#      ended with 200;
#   6. prints a table. Everything is torn down by the EXIT trap; every command is under `timeout`.
#
# The chain: 10 requests, 3 origins, a cookie set by operator B and required on its next hops.
#
#    #  request                              answer
#    1  GET https://api.test/start           302  Location: /a1                 (relative)
#    2  GET https://api.test/a1              302  Location: http://opa.test/1   (to operator A)
#    3  GET http://opa.test/1                302  Location: /2
#    4  GET http://opa.test/2                302  Location: http://opb.test/1   (to operator B)
#    5  GET http://opb.test/1                302  Location: /2   Set-Cookie: opsess=...
#    6  GET http://opb.test/2  Cookie        302  Location: /3                  (403 without it)
#    7  GET http://opb.test/3  Cookie        302  Location: http://opa.test/3   (403 without it)
#    8  GET http://opa.test/3                302  Location: /4
#    9  GET http://opa.test/4                302  Location: https://api.test/done
#   10  GET https://api.test/done            200  {"code":"..."}
#
# The round-trip floor, at one connection per origin and TLS 1.3 (one round trip per full
# handshake), with every name given by --resolve:
#
#   floor_rtts = origins (one TCP connect each) + https_origins (one TLS handshake each) + requests
#   floor_ms   = floor_rtts * rtt_ms
#
# For this chain: 3 + 1 + 10 = 14 round trips = 840 ms at 60 ms. A contender that opens C
# connections with H TLS handshakes cannot beat (C + H + 10) round trips: "own floor" below.
# Wall times are measured around `ip netns exec ...`, so they include process start-up (the
# script prints the cost of `ip netns exec ... true` for reference).
set -euo pipefail

RUNS=${1:-${RUNS:-15}}
DELAY_MS=${DELAY_MS:-30}
TIMEOUT_S=${TIMEOUT_S:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

# Addresses: documentation ranges, inside the rig's namespaces only.
API_ADDR=203.0.113.10
OPA_ADDR=203.0.113.11
OPB_ADDR=203.0.113.12
API_PORT=443
OP_PORT=80
REQUESTS=10
ORIGINS=3
HTTPS_ORIGINS=1
CODE=bench-5f3a9c21
COOKIE=opsess=b7d0e4

die() {
    echo "cellular.sh: $*" >&2
    exit 1
}

if [ "$(id -u)" != 0 ]; then
    echo "cellular.sh: skipped: needs root (network namespaces, TUN devices); run: sudo $0" >&2
    exit 77
fi
for tool in ip curl timeout awk sort; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
if ! command -v nginx >/dev/null; then
    echo "== installing Debian's nginx (the service is not started)" >&2
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    installed=0
    if timeout 600 apt-get install -y -q nginx >/dev/null ||
        { timeout 300 apt-get update -q >/dev/null && timeout 600 apt-get install -y -q nginx >/dev/null; }; then
        installed=1
    fi
    if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    [ "$installed" = 1 ] || die "could not install nginx"
fi

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
if [ -z "${PHONECHECK:-}" ] || [ -z "${CELLULAR_RIG:-}" ]; then
    command -v cargo >/dev/null || die "cargo is not on PATH (sudo resets it: sudo env PATH=\"\$PATH\" $0, or set PHONECHECK and CELLULAR_RIG to built binaries)"
fi
if [ -z "${PHONECHECK:-}" ]; then
    echo "== cargo build --release -p phonecheck-linux" >&2
    (cd "$ROOT" && cargo build --release -p phonecheck-linux) || die "build failed"
    PHONECHECK=$TARGET/release/phonecheck
fi
if [ -z "${CELLULAR_RIG:-}" ]; then
    echo "== cargo build -p phonecheck-rig --bin cellular-rig" >&2
    (cd "$ROOT" && cargo build -p phonecheck-rig --bin cellular-rig) || die "build failed"
    CELLULAR_RIG=$TARGET/debug/cellular-rig
fi
[ -x "$PHONECHECK" ] || die "no phonecheck binary at $PHONECHECK"
[ -x "$CELLULAR_RIG" ] || die "no cellular-rig binary at $CELLULAR_RIG"

DIR=$(mktemp -d /tmp/phonecheck-cellular-bench.XXXXXX)
chmod 755 "$DIR" # nginx workers run as nobody
mkdir -p "$DIR/pki" "$DIR/tmp" "$DIR/runs"
NGINX_PID=
RIG_CHILD=

cleanup() {
    set +e
    if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -TERM "$NGINX_PID"
        for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null
    fi
    if [ -n "$RIG_CHILD" ] && kill -0 "$RIG_CHILD" 2>/dev/null; then
        kill -TERM "$RIG_CHILD" # the rig tears down its namespaces and devices itself
        for _ in $(seq 100); do kill -0 "$RIG_CHILD" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$RIG_CHILD" 2>/dev/null
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

echo "== starting the cellular rig (${DELAY_MS} ms each way)" >&2
coproc RIG {
    exec "$CELLULAR_RIG" --delay-ms "$DELAY_MS" --addr "$API_ADDR" --addr "$OPA_ADDR" \
        --addr "$OPB_ADDR" --pki-dir "$DIR/pki" --tls-name api.test
}
RIG_CHILD=$RIG_PID # bash unsets RIG_PID when the coprocess ends
declare -A R=()
while IFS='=' read -r -t 30 key value <&"${RIG[0]}"; do
    [ "$key" = ready ] && break
    R[$key]=$value
done
[ -n "${R[phone]:-}" ] && [ -n "${R[ca]:-}" ] || die "the rig did not come up"
PHONE=${R[phone]}
NET=${R[net]}
IFACE=${R[interface]}
RTT_MS=${R[rtt_ms]}
CA=${R[ca]}

cat >"$DIR/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/error.log warn;
events { worker_connections 64; }
http {
    log_format bench '\$server_addr \$server_port \$connection \$connection_requests '
                     '\$ssl_protocol \$ssl_session_reused \$status \$request_uri';
    access_log $DIR/access.log bench;
    client_body_temp_path $DIR/tmp/body;
    proxy_temp_path $DIR/tmp/proxy;
    fastcgi_temp_path $DIR/tmp/fastcgi;
    uwsgi_temp_path $DIR/tmp/uwsgi;
    scgi_temp_path $DIR/tmp/scgi;
    server_tokens off;
    keepalive_timeout 75s;
    absolute_redirect off;   # Location exactly as written: relative ones stay relative
    default_type text/plain;

    server {   # the PhoneCheck API: https
        listen $API_ADDR:$API_PORT ssl;
        server_name api.test;
        ssl_certificate $DIR/pki/server.pem;
        ssl_certificate_key $DIR/pki/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:bench:1m;
        location = /start { return 302 /a1; }
        location = /a1    { return 302 http://opa.test/1; }
        location = /done  { default_type application/json; return 200 '{"code":"$CODE"}'; }
        location /        { return 404; }
    }
    server {   # operator A: http
        listen $OPA_ADDR:$OP_PORT;
        server_name opa.test;
        location = /1 { return 302 /2; }
        location = /2 { return 302 http://opb.test/1; }
        location = /3 { return 302 /4; }
        location = /4 { return 302 https://api.test/done; }
        location /    { return 404; }
    }
    server {   # operator B: http, sets a cookie and requires it back
        listen $OPB_ADDR:$OP_PORT;
        server_name opb.test;
        location = /1 { add_header Set-Cookie "$COOKIE; Path=/; HttpOnly" always; return 302 /2; }
        location = /2 { if (\$cookie_opsess != "${COOKIE#*=}") { return 403; } return 302 /3; }
        location = /3 { if (\$cookie_opsess != "${COOKIE#*=}") { return 403; } return 302 http://opa.test/3; }
        location /    { return 404; }
    }
}
EOF

echo "== starting nginx in $NET" >&2
ip netns exec "$NET" nginx -t -q -c "$DIR/nginx.conf" -p "$DIR" -e "$DIR/error.log" ||
    die "nginx config rejected: $(cat "$DIR/error.log")"
ip netns exec "$NET" nginx -c "$DIR/nginx.conf" -p "$DIR" -e "$DIR/error.log" &
NGINX_PID=$!
for _ in $(seq 100); do
    listening=$(ip netns exec "$NET" ss -Htln | grep -cE "($API_ADDR:$API_PORT|$OPA_ADDR:$OP_PORT|$OPB_ADDR:$OP_PORT) " || true)
    [ "$listening" = 3 ] && break
    sleep 0.1
done
[ "$listening" = 3 ] || die "nginx did not listen: $(cat "$DIR/error.log")"
touch "$DIR/access.log"

RESOLVE=(--resolve "api.test:$API_PORT:$API_ADDR" --resolve "opa.test:$OP_PORT:$OPA_ADDR"
    --resolve "opb.test:$OP_PORT:$OPB_ADDR")
URL=https://api.test/start

now_ns() { date +%s%N; }

# Server-side facts about the requests logged since line $1: "requests conns tls_full
# tls_resumed last_status forbidden".
server_facts() {
    tail -n +"$(($1 + 1))" "$DIR/access.log" | awk '
        { n++; conn[$1 " " $3] = 1; last = $7; if ($7 == 403) bad++
          if ($5 != "-") { tls[$1 " " $3] = $6 } }
        END { c = 0; for (k in conn) c++; f = 0; r = 0
              for (k in tls) { if (tls[k] == "r") r++; else f++ }
              printf "%d %d %d %d %s %d\n", n, c, f, r, (last == "" ? "-" : last), bad }'
}

# One run of a contender: prints "wall_ms conns tls_full tls_resumed client_note".
run_one() {
    local who=$1
    local out="$DIR/runs/$who.out" err="$DIR/runs/$who.err" before t0 t1 rc=0 note
    before=$(wc -l <"$DIR/access.log")
    case $who in
    phonecheck)
        t0=$(now_ns)
        timeout --foreground "$TIMEOUT_S" ip netns exec "$PHONE" "$PHONECHECK" open "$URL" --interface "$IFACE" \
            "${RESOLVE[@]}" --cacert "$CA" --allow-http --max-redirs 10 --max-time 20 --debug \
            >"$out" 2>"$err" || rc=$?
        t1=$(now_ns)
        note="client: connections $(grep -o '"connections":[0-9]*' "$out" | cut -d: -f2)"
        note+=" tls_handshakes $(grep -o '"tls_handshakes":[0-9]*' "$out" | cut -d: -f2)"
        ;;
    curl)
        local jar="$DIR/runs/jar" w="$DIR/runs/curl.w"
        : >"$jar" # a fresh cookie jar every run
        t0=$(now_ns)
        timeout --foreground "$TIMEOUT_S" ip netns exec "$PHONE" curl -sS -L --max-redirs 10 --max-time 20 \
            --interface "$IFACE" --cacert "$CA" "${RESOLVE[@]}" -c "$jar" -b "$jar" \
            -o "$out" -w '%{num_connects} %{time_total} %{http_code} %{num_redirects}' "$URL" \
            >"$w" 2>"$err" || rc=$?
        t1=$(now_ns)
        read -r nc tt code redirs <"$w" || true
        note="client: num_connects ${nc:-?} time_total ${tt:-?}s http ${code:-?} redirects ${redirs:-?}"
        ;;
    esac
    case $rc in 130 | 143) echo "cellular.sh: interrupted" >&2; exit 130 ;; esac
    # Both contenders must have received the final body with the code.
    if [ "$rc" = 0 ] && ! grep -q "\"code\":\"$CODE\"" "$out"; then
        rc=no-code
    fi
    read -r reqs conns full resumed last bad <<<"$(server_facts "$before")"
    if [ "$rc" != 0 ] || [ "$reqs" != "$REQUESTS" ] || [ "$last" != 200 ] || [ "$bad" != 0 ]; then
        echo "cellular.sh: $who run failed: exit $rc, $reqs requests, last status $last, $bad x 403" >&2
        {
            echo "--- stdout"; cat "$out"; echo "--- stderr"; cat "$err"
            echo "--- access log"; tail -n +"$((before + 1))" "$DIR/access.log"
        } >&2
        exit 1
    fi
    echo "$(((t1 - t0) / 1000000)) $conns $full $resumed $note"
}

# The cost of entering the namespace and starting a process, for reference.
launch=()
for _ in $(seq 5); do
    t0=$(now_ns); ip netns exec "$PHONE" true; t1=$(now_ns)
    launch+=($(((t1 - t0) / 1000000)))
done
LAUNCH_MS=$(printf '%s\n' "${launch[@]}" | sort -n | sed -n 3p)

echo "== warm-up (not counted)" >&2
run_one phonecheck >/dev/null
run_one curl >/dev/null

echo "== $RUNS runs each, alternating" >&2
: >"$DIR/results"
for i in $(seq "$RUNS"); do
    if [ $((i % 2)) = 1 ]; then order="phonecheck curl"; else order="curl phonecheck"; fi
    for who in $order; do
        line=$(run_one "$who")
        echo "$who $line" >>"$DIR/results"
        printf '  run %2d %-10s %s\n' "$i" "$who" "$line" >&2
    done
done

FLOOR_RTTS=$((ORIGINS + HTTPS_ORIGINS + REQUESTS))
FLOOR_MS=$((FLOOR_RTTS * RTT_MS))

echo
echo "Cellular link: ${R[uplink_ms]} ms up + ${R[downlink_ms]} ms down = ${RTT_MS} ms RTT (rig relay over TUN, no netem)"
echo "Chain: $REQUESTS requests, $ORIGINS origins ($HTTPS_ORIGINS https), one cookie; $RUNS runs each, alternating"
echo "Floor: ($ORIGINS connects + $HTTPS_ORIGINS TLS handshakes + $REQUESTS requests) = $FLOOR_RTTS RTT = $FLOOR_MS ms"
echo "Process launch via 'ip netns exec' (included in wall times): ${LAUNCH_MS} ms"
echo
# results: one line per run: contender wall_ms conns tls_full tls_resumed client-note...
awk -v floor="$FLOOR_MS" -v rtt="$RTT_MS" -v reqs="$REQUESTS" '
    function sort(a, n,   i, j, t) {
        for (i = 2; i <= n; i++) {
            t = a[i]
            for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]
            a[j + 1] = t
        }
    }
    function span(lo, hi) { return lo == hi ? lo "" : lo "-" hi }
    function lo_hi(key, v) {
        if (!((key) in lo) || v < lo[key]) lo[key] = v
        if (!((key) in hi) || v > hi[key]) hi[key] = v
    }
    {
        w = $1; k = ++n[w]; wall[w, k] = $2
        lo_hi(w SUBSEP "conns", $3); lo_hi(w SUBSEP "full", $4); lo_hi(w SUBSEP "resumed", $5)
        sum[w] += $3 + $4 + $5
    }
    END {
        split("phonecheck curl", who, " ")
        for (x = 1; x <= 2; x++) {
            w = who[x]; m = n[w]
            for (i = 1; i <= m; i++) a[i] = wall[w, i]
            sort(a, m)
            med[w] = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
            min[w] = a[1]; max[w] = a[m]
        }
        print "| contender | median ms | min ms | max ms | TCP conns | TLS full | TLS resumed | own floor ms | median / floor | median / curl |"
        print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for (x = 1; x <= 2; x++) {
            w = who[x]
            own = (sum[w] / n[w] + reqs) * rtt
            printf "| %s | %.0f | %d | %d | %s | %s | %s | %.0f | %.2f | %.2f |\n", w, med[w], min[w], max[w],
                span(lo[w, "conns"], hi[w, "conns"]), span(lo[w, "full"], hi[w, "full"]),
                span(lo[w, "resumed"], hi[w, "resumed"]), own, med[w] / floor, med[w] / med["curl"]
        }
        printf "\nphonecheck / curl (median wall time): %.2f\n", med["phonecheck"] / med["curl"]
    }' "$DIR/results"
echo
echo "TCP conns, TLS full/resumed: seen by nginx in each run (a range when runs differed); a"
echo "resumed TLS 1.3 handshake without early data still costs one round trip."
echo "own floor: (mean conns + mean TLS handshakes + $REQUESTS requests) x ${RTT_MS} ms, the best that"
echo "contender's connection pattern allows; floor: $FLOOR_MS ms, one connection per origin."
echo "Client-side counts of the last run:"
for who in phonecheck curl; do
    echo "  $who: $(grep "^$who " "$DIR/results" | tail -1 | cut -d' ' -f6-)"
done
