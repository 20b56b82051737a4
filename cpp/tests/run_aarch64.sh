#!/usr/bin/env bash
# Cross-compiles the engine and its C++ tests for aarch64 (Debian g++-aarch64-linux-gnu) and runs them under
# qemu-aarch64 (Debian qemu-user): the generic and NEON paths are tested on every CI run of this x86 machine, the
# NEON path with and without its run-time dotprod kernels (*_neondot.cpp), in two builds: baseline armv8-a (BUILD)
# and armv8.2-a+dotprod as a whole (BUILD_DOTPROD; qemu's default CPU has dotprod). DOTPROD=0 skips the second.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/aarch64}
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install g++-aarch64-linux-gnu qemu-user" >&2; exit 1; }
done
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
build_and_test() {  # build dir, extra CXX flags
  cmake -S . -B "$1" "${gen[@]}" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release \
    -DPYSPARSE_BUILD_PYTHON=OFF -DPYSPARSE_BUILD_TESTS=ON -DCMAKE_CXX_FLAGS="$2" >/dev/null
  cmake --build "$1" -j "$(nproc)"
  aarch64-linux-gnu-readelf -h "$1/pysparse_tests" | grep -q AArch64 || { echo "not an aarch64 binary" >&2; exit 1; }
  # runs through qemu-aarch64 (CMAKE_CROSSCOMPILING_EMULATOR); its CPU reports dotprod
  PYSPARSE_EXPECT_DOTPROD=1 ctest --test-dir "$1" --output-on-failure
  # qemu's CPU has dotprod, so ctest ran the *_neondot.cpp kernels (the neon_dotprod path): the NEON path again
  # with them switched off
  PYSPARSE_NO_DOTPROD=1 qemu-aarch64 -L /usr/aarch64-linux-gnu "$1/pysparse_tests" --isa neon | tail -1
}
build_and_test "$BUILD" ""
if [ "${DOTPROD:-1}" != 0 ]; then
  build_and_test "${BUILD_DOTPROD:-build/aarch64-dotprod}" "-march=armv8.2-a+dotprod"
  # the SDOT forms must be in the objects, or the second build tested nothing new (the listing is captured, not
  # piped into grep -q: with pipefail a SIGPIPE would fail the pipeline on a match)
  asm=$(aarch64-linux-gnu-objdump -d "${BUILD_DOTPROD:-build/aarch64-dotprod}/libpysparse_core.a")
  grep -q "sdot" <<<"$asm" || { echo "no sdot instruction in the dotprod build" >&2; exit 1; }
fi
