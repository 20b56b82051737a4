#!/usr/bin/env bash
# Developer build: compiles pysparse._core into the source tree (pysparse/_core*.so) and the C++ test binary,
# incrementally, in build/dev. Then `PYTHONPATH=$PWD python -m pytest` runs against this tree without installing.
# Usage: tools/build_inplace.sh [extra cmake args]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${PYSPARSE_DEV_BUILD:-build/dev}
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPYSPARSE_BUILD_TESTS=ON \
    -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" "$@" >/dev/null
fi
ninja -C "$BUILD" >/dev/null
# copy then rename: overwriting the .so in place would crash (SIGBUS) any running process that has it mapped
for so in "$BUILD"/_core*.so; do
  cp -f "$so" "pysparse/.$(basename "$so").tmp" && mv -f "pysparse/.$(basename "$so").tmp" "pysparse/$(basename "$so")"
done
echo "built $(ls pysparse/_core*.so) and $BUILD/pysparse_tests"
