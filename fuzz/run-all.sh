#!/usr/bin/env bash
# Runs every fuzz target for SECS seconds (default 60), starting from the checked-in seeds.
# Needs nightly and cargo-fuzz (cargo install cargo-fuzz). Found crashes land in artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
for target in response_reader url_resolve session_chain json_scan set_cookie; do
    mkdir -p "corpus/$target"
    echo "== $target (${secs}s)"
    cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- -max_total_time="$secs" 2>&1 \
        | grep -E "Done [0-9]+ runs|DONE|SUMMARY|panicked" || true
done
