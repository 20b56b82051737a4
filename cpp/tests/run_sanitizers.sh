#!/usr/bin/env bash
# Builds the C++ tests a second time with AddressSanitizer + UndefinedBehaviorSanitizer and runs them on every
# ISA path this CPU supports (the test binary skips the others and says so).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/asan}
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S . -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYSPARSE_SANITIZE=ON \
  -DPYSPARSE_BUILD_PYTHON=OFF -DPYSPARSE_BUILD_TESTS=ON >/dev/null
cmake --build "$BUILD" -j "$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$BUILD" --output-on-failure
