#!/usr/bin/env bash
# Regenerates the C header from the C ABI's source (engine/src/ffi.rs) with cbindgen and fails
# if the committed engine/include/phonecheck.h differs; then compiles the header alone as C99,
# C11 and C++ with warnings as errors.
#
#   engine/include/check.sh           # check (CI)
#   engine/include/check.sh --write   # update the committed header
#
# Needs cbindgen $CBINDGEN_VERSION (cargo install cbindgen --version 0.29.4 --locked): another
# version may format the header differently. A missing tool skips (exit 0) unless CI=true.
set -euo pipefail

CBINDGEN_VERSION=0.29.4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
engine=$(dirname "$here")
header="$here/phonecheck.h"

missing() {
    if [[ "${CI:-}" == "true" ]]; then
        echo "header check: FAIL: $1 missing${2:+ ($2)} (CI=true)" >&2
        exit 1
    fi
    echo "header check: skipped: $1 missing${2:+ ($2)}"
    exit 0
}

command -v cbindgen >/dev/null ||
    missing cbindgen "cargo install cbindgen --version $CBINDGEN_VERSION --locked"
have=$(cbindgen --version | awk '{ print $2 }')
if [[ "$have" != "$CBINDGEN_VERSION" ]]; then
    echo "header check: FAIL: cbindgen $have, the header is made with $CBINDGEN_VERSION" \
        "(cargo install cbindgen --version $CBINDGEN_VERSION --locked --force)" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Single-file mode: cbindgen reads exactly the ABI surface (ffi.rs), not the engine's other
# public constants; it notes that it does not follow `mod imp; mod hops;` (internals).
cbindgen --quiet --config "$here/cbindgen.toml" --output "$tmp/phonecheck.h" "$engine/src/ffi.rs"

if [[ "${1:-}" == "--write" ]]; then
    cp "$tmp/phonecheck.h" "$header"
    echo "header check: wrote $header"
elif ! diff -u "$header" "$tmp/phonecheck.h"; then
    echo "header check: FAIL: $header is not what cbindgen makes of engine/src/ffi.rs;" \
        "run engine/include/check.sh --write and commit it" >&2
    exit 1
fi

if command -v cc >/dev/null; then
    for std in c99 c11; do
        printf '#include "phonecheck.h"\nint main(void) { return PHONECHECK_SESSION_SIZE > 0 ? 0 : 1; }\n' >"$tmp/t.c"
        cc -std=$std -Wall -Wextra -Wpedantic -Werror -I"$here" -fsyntax-only "$tmp/t.c"
    done
    if command -v c++ >/dev/null; then
        cp "$tmp/t.c" "$tmp/t.cpp"
        c++ -std=c++11 -Wall -Wextra -Werror -I"$here" -fsyntax-only "$tmp/t.cpp"
    fi
    echo "header check: ok (identical to cbindgen $CBINDGEN_VERSION output; compiles as C99, C11, C++11)"
else
    echo "header check: ok (identical to cbindgen $CBINDGEN_VERSION output; no cc to compile it)"
fi
