#!/usr/bin/env bash
# Builds the bare-metal programs for thumbv7em-none-eabihf, reports their flash and static RAM,
# enforces two flash budgets (the example's, and the engine's 24 KiB), and runs them on QEMU's
# MPS2 AN386 (Cortex-M4F) with semihosting.
#
#   engine/examples/bare-metal/run.sh
#
# Environment:
#   FLASH_BUDGET  limit on .text + .rodata, in bytes or with a K/KiB suffix (default below:
#                 the measured figure rounded up to the next KiB, so growth is noticed)
#   ENGINE_BUDGET limit on the engine's own flash: the device step without default features
#                 (src/bin/device-step.rs) less its harness (src/bin/step-harness.rs); default
#                 24 KiB, the engine's target
#   TOP           how many of the largest .text/.rodata symbols to list (default 20, 0: none)
#   CI            when "true", a missing tool fails the run instead of skipping it
#
# Needs: the Rust target (rustup target add thumbv7em-none-eabihf) and Debian's
# qemu-system-arm and binutils-arm-none-eabi.
set -euo pipefail

# The example's default is today's figure rounded up to a KiB; the engine's is its target.
DEFAULT_FLASH_BUDGET=52K
DEFAULT_ENGINE_BUDGET=24K
TARGET=thumbv7em-none-eabihf

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

missing() { # missing TOOL [HOW TO GET IT]
    local how=${2:+ ($2)}
    if [[ "${CI:-}" == "true" ]]; then
        echo "bare-metal: FAIL: $1 missing$how (CI=true)" >&2
        exit 1
    fi
    echo "bare-metal: skipped: $1 missing$how"
    exit 0
}

command -v cargo >/dev/null || missing cargo
command -v rustc >/dev/null || missing rustc
sysroot=$(rustc --print sysroot)
[[ -d "$sysroot/lib/rustlib/$TARGET" ]] || missing "rust target $TARGET" "rustup target add $TARGET"
command -v qemu-system-arm >/dev/null || missing qemu-system-arm "apt-get install qemu-system-arm"
command -v arm-none-eabi-size >/dev/null || missing arm-none-eabi-size "apt-get install binutils-arm-none-eabi"
command -v timeout >/dev/null || missing timeout

bytes() { # 74752, 73K, 73KiB → bytes
    local v=$1
    case "$v" in
        *KiB | *kib) echo $((${v%???} * 1024)) ;;
        *K | *k) echo $((${v%?} * 1024)) ;;
        *) echo $((v)) ;;
    esac
}
budget=$(bytes "${FLASH_BUDGET:-$DEFAULT_FLASH_BUDGET}")
engine_budget=$(bytes "${ENGINE_BUDGET:-$DEFAULT_ENGINE_BUDGET}")

echo "== build (release: opt-level z, lto, panic abort, codegen-units 1)"
out="$here/target/$TARGET/release"
# Every program with the engine's default features, then the device step again without them.
cargo build --release --target "$TARGET" --features full --bins
cp "$out/device-step" "$out/device-step-full"
cargo build --release --target "$TARGET" --bin device-step
elf="$out/phonecheck-bare-metal"
base="$out/harness-only"
lean="$out/result-only"
step="$out/device-step"
step_full="$out/device-step-full"
step_base="$out/step-harness"

section() { # section() ELF NAME → its size in bytes (0 if absent)
    arm-none-eabi-size -A "$1" | awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}

echo
echo "== size"
arm-none-eabi-size "$elf"
arm-none-eabi-size -A "$elf" | awk '$1 !~ /^\.(debug|comment|ARM)/'
vec=$(section "$elf" .vector_table)
text=$(section "$elf" .text)
rodata=$(section "$elf" .rodata)
data=$(section "$elf" .data)
bss=$(section "$elf" .bss)
uninit=$(section "$elf" .uninit)
code=$((text + rodata))
ram=$((data + bss + uninit))
base_code=$(($(section "$base" .text) + $(section "$base" .rodata)))
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }

echo ".text + .rodata = $code bytes ($(kib $code)); budget $budget bytes ($(kib $budget))"
echo "flash image = .vector_table + .text + .rodata + .data (initialiser) = $((vec + code + data)) bytes ($(kib $((vec + code + data))))"
echo "static RAM = .data + .bss = $ram bytes ($(kib $ram)); data $data, bss $((bss + uninit))"
echo "harness alone (cortex-m-rt, semihosting, integer formatting; src/bin/harness-only.rs): .text + .rodata = $base_code bytes"
engine=$((code - base_code))
echo "engine and what it pulls in (debug envelope, hop log, the checks), less the harness: ~$engine bytes ($(kib $engine))"
lean_code=$(($(section "$lean" .text) + $(section "$lean" .rodata)))
echo "result envelope (src/bin/result-only.rs: session, SDK envelope without debug, default features): .text + .rodata = $lean_code bytes ($(kib $lean_code))"
step_full_code=$(($(section "$step_full" .text) + $(section "$step_full" .rodata)))
echo "device step, default features (src/bin/device-step.rs: session, status and code read from the completion): .text + .rodata = $step_full_code bytes ($(kib $step_full_code))"
step_code=$(($(section "$step" .text) + $(section "$step" .rodata)))
# device-step prints with raw semihosting writes, not core::fmt: its baseline is step-harness.rs
# (the same runtime, output, handlers and scripted replies), not harness-only.rs.
step_base_code=$(($(section "$step_base" .text) + $(section "$step_base" .rodata)))
step_engine=$((step_code - step_base_code))
if ((step_engine > engine_budget)); then
    verdict="$((step_engine - engine_budget)) bytes over ENGINE_BUDGET ($engine_budget bytes)"
else
    verdict="$((engine_budget - step_engine)) bytes within ENGINE_BUDGET ($engine_budget bytes)"
fi
echo "device step, no default features: .text + .rodata = $step_code bytes ($(kib $step_code)); less its harness and script (src/bin/step-harness.rs, $step_base_code bytes): engine $step_engine bytes ($(kib $step_engine)): $verdict"
if ((data > 64)); then
    echo "note: $data bytes of .data: a static whose initial value is not all zeros (its initialiser takes flash too)"
fi

top=${TOP:-20}
if ((top > 0)) && command -v arm-none-eabi-nm >/dev/null; then
    echo
    echo "== the $top largest .text/.rodata symbols (bytes)"
    arm-none-eabi-nm --size-sort -S --demangle -r "$elf" |
        awk -v n="$top" '$3 ~ /^[tTrR]$/ && count++ < n' |
        while read -r _ size kind name; do printf '%7d %s %s\n' "$((16#$size))" "$kind" "$name"; done
fi

status=0
if ((code > budget)); then
    echo "bare-metal: FAIL: .text + .rodata is $code bytes, over FLASH_BUDGET ($budget bytes)" >&2
    status=1
fi
if ((step_engine > engine_budget)); then
    echo "bare-metal: FAIL: the engine's .text + .rodata is $step_engine bytes, over ENGINE_BUDGET ($engine_budget bytes)" >&2
    status=1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

on_qemu() { # on_qemu NAME ELF PATTERN...: run ELF, print its output, check every line pattern
    local name=$1 elf=$2 qemu
    shift 2
    echo
    echo "== run $name on QEMU mps2-an386 (Cortex-M4F)"
    set +e
    timeout 60 qemu-system-arm -M mps2-an386 -cpu cortex-m4 -nographic -monitor none -serial null \
        -semihosting-config enable=on,target=native -kernel "$elf" >"$log" 2>&1
    qemu=$?
    set -e
    cat "$log"
    if ((qemu == 124)); then
        echo "bare-metal: FAIL: $name: QEMU timed out after 60 s" >&2
        status=1
    elif ((qemu != 0)); then
        echo "bare-metal: FAIL: $name: QEMU exited with $qemu" >&2
        status=1
    fi
    local expect
    for expect in "$@"; do
        if ! grep -Eq "$expect" "$log"; then
            echo "bare-metal: FAIL: $name: no line matching: $expect" >&2
            status=1
        fi
    done
}

on_qemu "the example (src/main.rs)" "$elf" \
    '^envelope: \{"http_status":200,"response_body":\{"check_id":"c1","code":"4711","ttl":300\},"hops":5,' \
    '^hops: 5 \(log kept 5\), status 200, connections 3' \
    '^stack: create\+configure [0-9]+ bytes, whole check [0-9]+ bytes$' \
    '^bare-metal check ok$'
stack_line=$(grep -m1 -E '^stack:' "$log" || true)

on_qemu "result-only" "$lean" \
    '^envelope: \{"http_status":200,"response_body":\{"check_id":"c1","code":"4711","ttl":300\},"hops":5\}' \
    '^result-only check ok$'

on_qemu "device-step (no default features)" "$step" '^status: 200$' '^code: 4711$' '^device-step check ok$'

if ((status == 0)); then
    echo "bare-metal: ok: .text + .rodata $code bytes (result envelope: $lean_code; device step: $step_full_code, without default features $step_code, engine $step_engine), static RAM $ram bytes, $stack_line"
fi
exit $status
