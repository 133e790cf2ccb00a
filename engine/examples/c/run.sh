#!/usr/bin/env bash
# The engine's C ABI from C, twice:
#
#   host      posix_chain.c, built with the system cc and linked with libphonecheck.a (hosted
#             staticlib), runs real redirect chains over loopback sockets against
#             chain_server.py, under valgrind: a chain that ends with a code, one that fails
#             (a redirect to a closed port), one that ends without a code. The envelopes are
#             compared with the expected ones.
#   cortex-m  cortex-m/firmware_main.c for thumbv7em-none-eabihf, built with Debian's
#             gcc-arm-none-eabi and newlib, linked with libphonecheck.a built for that target
#             (release: opt-level z, lto), runs a scripted chain under qemu-system-arm -M
#             mps2-an386; prints .text + .rodata (checked against FLASH_BUDGET) and static RAM.
#
#   engine/examples/c/run.sh [host|cortex-m|all]     (default all)
#
# Environment:
#   CI            "true": a missing tool fails the run instead of skipping that part
#   FLASH_BUDGET  limit on the Cortex-M image's .text + .rodata (bytes, or NNK; default below)
#
# Needs: cargo; host: cc, python3, valgrind; cortex-m: rustup target thumbv7em-none-eabihf,
# gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm.
set -euo pipefail

DEFAULT_FLASH_BUDGET=68K # measured 64 940-65 944 bytes while the engine changes; growth gets noticed
TARGET=thumbv7em-none-eabihf

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
engine=$(cd "$here/../.." && pwd)
capi="$engine/capi"
include="$engine/include"
build="$here/build"
what=${1:-all}
case "$what" in host | cortex-m | all) ;; *)
    echo "usage: $0 [host|cortex-m|all]" >&2
    exit 2
    ;;
esac
mkdir -p "$build"

status=0
fail() {
    echo "c example: FAIL: $*" >&2
    status=1
}
# Returns 1 (and says why) when a tool is missing: the caller skips its part, or with CI=true
# the run fails.
have() { # have TOOL-DESCRIPTION CONDITION-COMMAND... ; the last word of the description is the fix
    local name=$1
    shift
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [[ "${CI:-}" == "true" ]]; then
        fail "$name missing (CI=true)"
        exit 1
    fi
    echo "c example: skipped: $name missing"
    return 1
}

command -v cargo >/dev/null || {
    have cargo false
    exit 0
}

run_host() {
    echo "== host: libphonecheck.a (std: catch_unwind at the boundary)"
    have "cc (apt-get install gcc)" command -v cc || return 0
    have "python3" command -v python3 || return 0
    have "valgrind (apt-get install valgrind)" command -v valgrind || return 0
    # The native libraries std needs come from rustc; the note is written only when rustc runs.
    local libs_file="$capi/target/release/native-static-libs.txt"
    [[ -f "$libs_file" ]] || touch "$capi/src/lib.rs"
    (cd "$capi" && cargo rustc --release --lib -q -- --print "native-static-libs=$libs_file")
    local libs
    libs=$(sed -n 's/.*native-static-libs: //p' "$libs_file" | tail -1)
    [[ -n "$libs" ]] || libs=$(tr -d '\n' <"$libs_file")
    echo "native libraries: $libs"
    echo "== host: cc posix_chain.c"
    # shellcheck disable=SC2086 # $libs is a list of -l flags
    cc -std=c11 -Wall -Wextra -Wpedantic -Werror -O2 -g -I"$include" "$here/posix_chain.c" \
        "$capi/target/release/libphonecheck.a" $libs -o "$build/posix_chain"

    echo "== host: chains over loopback (chain_server.py), under valgrind"
    local ports="$build/ports" slog="$build/server.log"
    : >"$ports"
    python3 "$here/chain_server.py" >"$ports" 2>"$slog" &
    local server=$!
    # shellcheck disable=SC2064 # the pid is fixed now
    trap "kill $server 2>/dev/null || true" EXIT
    for _ in $(seq 100); do
        [[ -s "$ports" ]] && break
        sleep 0.05
    done
    local api closed
    read -r _ api _ _ closed <"$ports" || true
    if [[ -z "${api:-}" ]]; then
        fail "chain_server.py did not start: $(cat "$slog")"
        return
    fi
    echo "servers: api 127.0.0.1:$api, closed port $closed"

    # case NAME URL-ID EXPECTED-EXIT EXPECTED-ENVELOPE-PREFIX [EXPECTED-STDERR-LINE] -- ARGS
    chain() {
        local name=$1 id=$2 want_exit=$3 want=$4 want_err=$5
        shift 5
        local out="$build/$name.out" err="$build/$name.err" vg="$build/$name.valgrind"
        set +e
        valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=all \
            --log-file="$vg" "$build/posix_chain" "http://127.0.0.1:$api/check/$id/redirect" "$@" \
            >"$out" 2>"$err"
        local got=$?
        set -e
        echo "-- $name: posix_chain http://127.0.0.1:$api/check/$id/redirect $* (exit $got)"
        cat "$out" "$err"
        if [[ -s "$vg" ]]; then
            fail "$name: valgrind reported errors or leaks:"
            cat "$vg" >&2
        fi
        ((got == want_exit)) || fail "$name: exit status $got, expected $want_exit"
        [[ "$(head -c ${#want} "$out")" == "$want" ]] || fail "$name: envelope does not start with $want"
        grep -qF -- "$want_err" "$err" || fail "$name: no line with '$want_err' on stderr"
    }
    chain match c-1 0 \
        '{"http_status":200,"response_body":{"check_id":"c-1","code":"4711"},"hops":4}' \
        'result: http 200 after 4 hops over 3 connections, code 4711' \
        --tx 64 --max-send 13 --rx 97
    grep -q 'hop 2: 302 .* (reused connection)' "$build/match.err" ||
        fail "match: hop 2 did not reuse the connection"
    chain failure closed 4 \
        '{"error":"sdk_connection_error","error_description":"hop 3: the server refused the connection","hops":3}' \
        'result: sdk_connection_error at hop 3'
    chain nocode nocode 0 \
        '{"http_status":404,"response_body":{"error":"not_found"},"hops":4,"debug":{"device_info":{"platform":"posix-c-example"}' \
        'result: http 404 after 4 hops over 3 connections, code (none)' \
        --debug --tx 1 --rx 1
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    trap - EXIT
    if ((status == 0)); then
        echo "host: ok: match, failure and no-code chains; valgrind: no errors, no leaks"
    fi
}

bytes() { # 65536, 64K, 64KiB -> bytes
    local v=$1
    case "$v" in
        *KiB | *kib) echo $((${v%???} * 1024)) ;;
        *K | *k) echo $((${v%?} * 1024)) ;;
        *) echo $((v)) ;;
    esac
}

run_cortex_m() {
    echo "== cortex-m: libphonecheck.a for $TARGET (no_std, panic = abort, opt-level z, lto)"
    local sysroot
    sysroot=$(rustc --print sysroot)
    have "rust target $TARGET (rustup target add $TARGET)" test -d "$sysroot/lib/rustlib/$TARGET" || return 0
    have "arm-none-eabi-gcc (apt-get install gcc-arm-none-eabi)" command -v arm-none-eabi-gcc || return 0
    have "newlib (apt-get install libnewlib-arm-none-eabi)" \
        test -f "$(arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -print-file-name=libc_nano.a)" || return 0
    have "qemu-system-arm (apt-get install qemu-system-arm)" command -v qemu-system-arm || return 0
    have "arm-none-eabi-size (apt-get install binutils-arm-none-eabi)" command -v arm-none-eabi-size || return 0
    have timeout command -v timeout || return 0
    (cd "$capi" && cargo build --release -q --no-default-features --target "$TARGET")
    local lib="$capi/target/$TARGET/release/libphonecheck.a"
    local elf="$build/firmware.elf" map="$build/firmware.map"
    echo "== cortex-m: arm-none-eabi-gcc firmware_main.c startup.c"
    arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -std=c11 -Os -g \
        -Wall -Wextra -Werror -ffunction-sections -fdata-sections -I"$include" \
        -nostartfiles -T "$here/cortex-m/mps2_an386.ld" -Wl,--gc-sections -Wl,--no-warn-rwx-segments \
        -Wl,-Map="$map" "$here/cortex-m/firmware_main.c" "$here/cortex-m/startup.c" "$lib" \
        --specs=nano.specs -o "$elf" 2> >(grep -v -e 'missing .note.GNU-stack' -e 'NOTE: This behaviour is deprecated' >&2)

    section() { arm-none-eabi-size -A "$1" | awk -v s="$2" '$1 == s { print $2; f = 1 } END { if (!f) print 0 }'; }
    local text rodata data bss code ram budget
    text=$(section "$elf" .text)
    rodata=$(section "$elf" .rodata)
    data=$(section "$elf" .data)
    bss=$(section "$elf" .bss)
    code=$((text + rodata))
    ram=$((data + bss))
    budget=$(bytes "${FLASH_BUDGET:-$DEFAULT_FLASH_BUDGET}")
    echo
    echo "== cortex-m: size"
    arm-none-eabi-size -A "$elf" | awk '$1 !~ /^\.(debug|comment|ARM\.attributes)/'
    echo ".text + .rodata = $code bytes; budget $budget bytes"
    echo "  by origin (linker map): $(awk -f "$here/cortex-m/mapsize.awk" "$map")"
    echo "static RAM = .data + .bss = $ram bytes (session, small storage, hop log, envelope, harness)"
    ((code <= budget)) || fail ".text + .rodata is $code bytes, over FLASH_BUDGET ($budget bytes)"

    echo
    echo "== cortex-m: run on QEMU mps2-an386 (Cortex-M4F)"
    local log="$build/qemu.log"
    set +e
    timeout 60 qemu-system-arm -M mps2-an386 -cpu cortex-m4 -nographic -monitor none -serial null \
        -semihosting-config enable=on,target=native -kernel "$elf" >"$log" 2>&1
    local qemu=$?
    set -e
    cat "$log"
    echo
    if ((qemu == 124)); then
        fail "QEMU timed out after 60 s"
    elif ((qemu != 0)); then
        fail "QEMU exited with $qemu"
    fi
    local expect
    for expect in \
        '^envelope: \{"http_status":200,"response_body":\{"check_id":"c1","code":"4711","ttl":300\},"hops":5,' \
        '^hops: 5 \(log kept 5\), status 200, connections 3' \
        '^ram: session \+ small storage = [0-9]+ bytes exact' \
        '^c-firmware check ok$'; do
        grep -Eq "$expect" "$log" || fail "cortex-m: no line matching: $expect"
    done
    if ((status == 0)); then
        echo "cortex-m: ok: .text + .rodata $code bytes, static RAM $ram bytes, $(grep -m1 -E '^ram: session' "$log" | sed 's/^ram: //')"
    fi
}

case "$what" in
    host) run_host ;;
    cortex-m) run_cortex_m ;;
    all)
        run_host
        run_cortex_m
        ;;
esac
if ((status == 0)); then
    echo "c example: ok"
fi
exit $status
