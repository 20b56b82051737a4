#!/usr/bin/env bash
# Checks the AVX-512 row dot products on a CPU WITHOUT AVX-512: matvec_avx512.cpp is compiled against SIMDe's
# portable emulation of the AVX-512 intrinsics (apt install libsimde-dev; the shim fills gaps of SIMDe 0.7.4)
# and compared with the generic path on random blocks of every type. Not part of the library build (the
# CMake globs do not recurse here). Usage: cpp/kernels/avx512_emulated/run.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$HERE/../../.."
OUT="${TMPDIR:-/tmp}/pysparse_avx512_emulated"; rm -rf "$OUT"; mkdir -p "$OUT"
FL="-O2 -std=c++17 -I$ROOT/cpp -DPYSPARSE_X86=1"
g++ $FL -mavx2 -mfma -mf16c -mbmi2 -include "$HERE/simde_shim.h" -c "$ROOT/cpp/kernels/matvec_avx512.cpp" -o "$OUT/avx512.o" 2>/dev/null
for f in matvec_avx2 quantize_act_avx2; do
  g++ $FL -mavx2 -mfma -mf16c -mbmi2 -c "$ROOT/cpp/kernels/$f.cpp" -o "$OUT/$f.o"
done
for f in kernels/matvec_generic kernels/quantize_act quant/types common/cpu; do
  g++ $FL -c "$ROOT/cpp/$f.cpp" -o "$OUT/$(basename $f).o"
done
g++ $FL -c "$HERE/check_avx512_emulated.cpp" -o "$OUT/main.o"
g++ "$OUT"/*.o -o "$OUT/check" -lpthread
if objdump -d "$OUT/avx512.o" | grep -q zmm; then echo "unexpected: real AVX-512 instructions in the emulated build"; exit 1; fi
"$OUT/check"
