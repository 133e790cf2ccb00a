#!/usr/bin/env bash
# Type-checks and lints phonecheck-android for the three Android ABIs an app ships
# (aarch64-linux-android, armv7-linux-androideabi, x86_64-linux-android), so the code behind
# #[cfg(target_os = "android")] (the real NDK calls) is compiled and linted too. CI runs it.
#
# No NDK is needed: nothing is linked. But `cargo check` still runs build scripts, and ring's
# compiles its C and assembly. That code is freestanding (no libc headers with
# RING_CORE_NOSTDLIBINC), so Debian's clang, which targets any triple, builds it without an NDK
# sysroot; the objects only serve the check. A device build uses the NDK's clang instead (see
# the README, "Embedding in an Android SDK").
#
#   platform-android/targets.sh            # all three
#   platform-android/targets.sh x86_64-linux-android
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(aarch64-linux-android armv7-linux-androideabi x86_64-linux-android)

command -v clang >/dev/null || { echo "android targets: FAIL: clang missing (apt-get install clang)" >&2; exit 1; }
ar=llvm-ar
command -v llvm-ar >/dev/null || ar=ar
freestanding="-nostdlibinc -DRING_CORE_NOSTDLIBINC=1"

for target in "${targets[@]}"; do
    rustup target add "$target" >/dev/null
    var=${target//-/_}
    flags=$freestanding
    # cc-rs names this target arm-none-linux-android without an architecture level; ring's
    # ARMv7 assembly needs the one Rust's target has (ARMv7-A, Thumb-2, VFPv3-D16, softfp).
    [ "$target" = armv7-linux-androideabi ] &&
        flags="--target=armv7a-linux-androideabi -march=armv7-a -mthumb -mfpu=vfpv3-d16 -mfloat-abi=softfp $flags"
    # x86_64's ADX code includes <immintrin.h>, which pulls clang's <mm_malloc.h> and with it
    # <stdlib.h>; ring uses none of _mm_malloc, so that header is skipped by its include guard.
    [ "$target" = x86_64-linux-android ] && flags="-D__MM_MALLOC_H $flags"
    echo "== phonecheck-android for $target: cargo check, cargo clippy"
    env "CC_$var=clang" "AR_$var=$ar" "CFLAGS_$var=$flags" \
        cargo check -q -p phonecheck-android --target "$target"
    env "CC_$var=clang" "AR_$var=$ar" "CFLAGS_$var=$flags" \
        cargo clippy -q -p phonecheck-android --target "$target" -- -D warnings
done
echo "android targets: ok (${targets[*]})"
