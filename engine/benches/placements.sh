#!/usr/bin/env bash
# The hop bench's interleaved ratio over several *placements* of the same binary:
#
#     engine/benches/placements.sh [--shuffle] [COPIES] [RUNS]    # defaults: 8 copies, 3 runs
#
# Two byte-identical copies of the bench binary can differ by up to 7 % in phonecheck's time,
# and by ±0.1 in its ratio to httparse, run after run: each copy's code sits in other physical
# pages (the page cache keeps them for as long as the file lives), and that is not noise that
# more rounds inside one process average out. So this builds the bench once, makes COPIES fresh
# copies of it, runs each RUNS times (interleaved only: a filter that matches no criterion
# group), alternating the copies, and prints the median ratio of each copy and of all runs.
#
# With --shuffle each "copy" is a link of its own instead: rust-lld (which rustup's toolchain
# ships) puts every function at another place in the binary (`--shuffle-sections`, seeds 1 to
# COPIES), so the medians are over the order of the code too. Any change to the engine moves
# every function after it, so one link's order is one draw: this is the measure to judge a
# change by, and the one that says what the code costs whatever its layout.
set -euo pipefail
shuffle=false
if [ "${1:-}" = "--shuffle" ]; then
    shuffle=true
    shift
fi
copies="${1:-8}"
runs="${2:-3}"
cd "$(dirname "$0")/../.."
bin=$(cargo bench -p phonecheck-engine --bench hop --no-run 2>&1 |
    sed -n 's/.*Executable benches\/hop.rs (\(.*\))$/\1/p')
[ -x "$bin" ] || { echo "placements: could not find the hop bench binary" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if $shuffle; then
    gcc_ld="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/gcc-ld"
    [ -x "$gcc_ld/ld.lld" ] || { echo "placements: --shuffle needs rust-lld ($gcc_ld)" >&2; exit 1; }
    for k in $(seq "$copies"); do
        link=$(cargo rustc -q -p phonecheck-engine --bench hop --profile bench \
            --message-format=json -- -C link-arg=-fuse-ld=lld -C "link-arg=-B$gcc_ld" \
            "-Clink-arg=-Wl,--shuffle-sections=.text*=$k" |
            sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
        [ -x "$link" ] || { echo "placements: the shuffled link $k failed" >&2; exit 1; }
        cp "$link" "$dir/hop-$k"
    done
else
    for k in $(seq "$copies"); do cp "$bin" "$dir/hop-$k"; done
fi
# One line per run: copy, then the medians in ns/hop of phonecheck, httparse, ureq-proto and
# httparse the engine's way, in the order the bench prints them.
for _ in $(seq "$runs"); do
    for k in $(seq "$copies"); do
        "$dir/hop-$k" --bench phonecheck-placements-only 2>/dev/null |
            awk -F'|' -v k="$k" '/^\| (phonecheck|httparse|ureq-proto|httparse, the engine.s way) \|/ {
                    gsub(/ /, "", $3); v[++n] = $3 }
                END { if (n == 4) print k, v[1], v[2], v[3], v[4] }'
    done
done >"$dir/runs"
[ -s "$dir/runs" ] || { echo "placements: the bench printed no interleaved table" >&2; exit 1; }
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo "| copy | phonecheck ns/hop | httparse ns/hop | phonecheck / httparse | ureq-proto / httparse | phonecheck / httparse the engine's way |"
echo "|---:|---:|---:|---:|---:|---:|"
for k in $(seq "$copies") all; do
    sel=$(awk -v k="$k" 'k == "all" || $1 == k' "$dir/runs")
    printf '| %s | %s | %s | %.2f | %.2f | %.2f |\n' "$k" \
        "$(awk '{ print $2 }' <<<"$sel" | median)" \
        "$(awk '{ print $3 }' <<<"$sel" | median)" \
        "$(awk '{ printf "%.4f\n", $2 / $3 }' <<<"$sel" | median)" \
        "$(awk '{ printf "%.4f\n", $4 / $3 }' <<<"$sel" | median)" \
        "$(awk '{ printf "%.4f\n", $2 / $5 }' <<<"$sel" | median)"
done
echo
what=copies
$shuffle && what="shuffled links"
echo "$copies $what x $runs runs; medians of the per-run interleaved medians (ratios per run)."
