#!/usr/bin/env bash
# Cross-compiles the engine and its C++ tests for aarch64 (Debian g++-aarch64-linux-gnu) and runs them under
# qemu-aarch64 (Debian qemu-user): the generic and NEON paths are tested on every CI run of this x86 machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/aarch64}
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install g++-aarch64-linux-gnu qemu-user" >&2; exit 1; }
done
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S . -B "$BUILD" "${gen[@]}" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release \
  -DPYSPARSE_BUILD_PYTHON=OFF -DPYSPARSE_BUILD_TESTS=ON >/dev/null
cmake --build "$BUILD" -j "$(nproc)"
aarch64-linux-gnu-readelf -h "$BUILD/pysparse_tests" | grep -q AArch64 || { echo "not an aarch64 binary" >&2; exit 1; }
ctest --test-dir "$BUILD" --output-on-failure   # runs through qemu-aarch64 (CMAKE_CROSSCOMPILING_EMULATOR)
