#!/usr/bin/env bash
# Regenerates platform-android's C header from its C ABI (src/capi.rs) with cbindgen and fails
# if the committed include/phonecheck_android.h differs; then compiles the header alone as C99,
# C11 and C++11 with warnings as errors.
#
#   platform-android/include/check.sh           # check (CI)
#   platform-android/include/check.sh --write   # update the committed header
#
# Needs cbindgen $CBINDGEN_VERSION (the engine's header uses the same one). A missing tool
# skips (exit 0) unless CI=true.
set -euo pipefail

CBINDGEN_VERSION=0.29.4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
crate=$(dirname "$here")
header="$here/phonecheck_android.h"

if ! command -v cbindgen >/dev/null; then
    if [[ "${CI:-}" == "true" ]]; then
        echo "android header check: FAIL: cbindgen missing (CI=true)" >&2
        exit 1
    fi
    echo "android header check: skipped: cbindgen missing (cargo install cbindgen --version $CBINDGEN_VERSION --locked)"
    exit 0
fi
have=$(cbindgen --version | awk '{ print $2 }')
if [[ "$have" != "$CBINDGEN_VERSION" ]]; then
    echo "android header check: FAIL: cbindgen $have, the header is made with $CBINDGEN_VERSION" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Single-file mode: the ABI surface is exactly capi.rs.
cbindgen --quiet --config "$here/cbindgen.toml" --output "$tmp/phonecheck_android.h" "$crate/src/capi.rs"

if [[ "${1:-}" == "--write" ]]; then
    cp "$tmp/phonecheck_android.h" "$header"
    echo "android header check: wrote $header"
elif ! diff -u "$header" "$tmp/phonecheck_android.h"; then
    echo "android header check: FAIL: $header is not what cbindgen makes of src/capi.rs;" \
        "run platform-android/include/check.sh --write and commit it" >&2
    exit 1
fi

if command -v cc >/dev/null; then
    printf '#include "phonecheck_android.h"\nint main(void) { phonecheck_android_result_free(0); return PHONECHECK_ANDROID_STATUS_OK; }\n' >"$tmp/t.c"
    for std in c99 c11; do
        cc -std=$std -Wall -Wextra -Wpedantic -Werror -I"$here" -fsyntax-only "$tmp/t.c"
    done
    if command -v c++ >/dev/null; then
        cp "$tmp/t.c" "$tmp/t.cpp"
        c++ -std=c++11 -Wall -Wextra -Werror -I"$here" -fsyntax-only "$tmp/t.cpp"
    fi
    echo "android header check: ok (identical to cbindgen $CBINDGEN_VERSION output; compiles as C99, C11, C++11)"
else
    echo "android header check: ok (identical to cbindgen $CBINDGEN_VERSION output; no cc to compile it)"
fi
