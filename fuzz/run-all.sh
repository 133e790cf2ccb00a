#!/usr/bin/env bash
# Runs fuzz targets one after another for SECS seconds each (default 60): every target, or the
# ones named after SECS. Each starts from the checked-in seeds (seeds/<target>/, which
# engine/tests/fuzz_replay.rs replays on stable) and the growing corpus (corpus/<target>/,
# ignored by git). Needs nightly and cargo-fuzz (cargo install cargo-fuzz).
#
# A crash lands in artifacts/<target>/ and stops that target: fix it, then keep the input as
# seeds/<target>/regress-<what> so `cargo test` replays it from then on. Each target's whole
# libFuzzer log is logs/<target>.log; printed here: its last status line (runs, cov, ft, corpus),
# the final stats (executions, executions per second) and any crash.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(session_ops session_chain response_reader chunked cookie_jar set_cookie url_resolve json_scan)
fi
cargo +nightly fuzz build
mkdir -p logs
failed=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "== $target (${secs}s)"
    if cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$secs" -print_final_stats=1 >"logs/$target.log" 2>&1; then
        result=ok
    else
        result="FAILED (see logs/$target.log and artifacts/$target/)"
        failed=1
    fi
    grep -E "^#[0-9]+" "logs/$target.log" | tail -n 1 || true
    grep -E "stat::(number_of_executed_units|average_exec_per_sec)|SUMMARY|panicked at" \
        "logs/$target.log" || true
    echo "   $target: $result"
done
exit "$failed"
