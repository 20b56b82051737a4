#!/usr/bin/env bash
# Runs the AVX-512 and AVX-VNNI kernel paths on any AVX2 CPU (CI machines may lack both): a test build where every
# *_avx512*.cpp and *_avxvnni.cpp is compiled with the AVX2 flags against SIMDe's portable AVX-512 emulation (apt
# install libsimde-dev) plus cpp/tests/avx512_emulation/simde_shim.h (CMake option PYSPARSE_EMULATE_AVX512;
# cpu_supports(avx512) and the AVX-VNNI feature are then true). Steps: build; fail if any real zmm instruction is in
# an emulated AVX-512 object or a real VPDPBUSD / VPDPWSSD in an AVX-VNNI one; check the emulated intrinsics against
# their documented semantics (avx512_shim_check); run every C++ test with --isa avx512 (each compares the path
# under test with the generic reference; the sparse tests run the AVX-512 VNNI and plain builds both), with --isa
# avx2 (the AVX-VNNI kernels, switched on and off by the tests) and --isa generic as a control.
# Usage: cpp/tests/run_avx512_emulated.sh [extra cmake args]     (BUILD=build/avx512emu, JOBS=nproc by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/avx512emu}
if [ ! -f /usr/include/simde/x86/avx512.h ]; then
  echo "run_avx512_emulated.sh: SIMDe headers missing (apt-get install libsimde-dev)" >&2
  exit 1
fi
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S . -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DPYSPARSE_EMULATE_AVX512=ON \
  -DPYSPARSE_BUILD_PYTHON=OFF -DPYSPARSE_BUILD_TESTS=ON "$@" >/dev/null
cmake --build "$BUILD" -j "${JOBS:-$(nproc)}"

# The emulated objects must hold AVX2 code only: a zmm register, an opmask k-register or xmm/ymm16-31 (EVEX only)
# means an AVX-512 intrinsic slipped past the shim and this run would not be testing what it claims (and could not run here).
objs=$(find "$BUILD" -name '*_avx512.cpp.o' -o -name '*_avx512vnni.cpp.o')
vnni_objs=$(find "$BUILD" -name '*_avxvnni.cpp.o')
[ -n "$vnni_objs" ] || { echo "no *_avxvnni.cpp objects found in $BUILD" >&2; exit 1; }
for o in $vnni_objs; do  # AVX-VNNI emulated too: no real VPDPBUSD / VPDPWSSD
  if objdump -d --no-show-raw-insn "$o" | grep -E 'vpdp(busd|wssd)' >/dev/null; then
    echo "FAIL: real AVX-VNNI instructions in emulated object $o" >&2
    exit 1
  fi
done
[ -n "$objs" ] || { echo "no *_avx512.cpp objects found in $BUILD" >&2; exit 1; }
n_objs=0
for o in $objs; do
  n_objs=$((n_objs + 1))
  asm=$(objdump -d --no-show-raw-insn "$o")  # (not piped into grep -q: with pipefail a SIGPIPE would hide a match)
  if grep -qE '%zmm|%k[0-7]\b|%[xy]mm(1[6-9]|2[0-9]|3[01])\b' <<<"$asm"; then
    echo "FAIL: real AVX-512 instructions in emulated object $o:" >&2
    grep -E '%zmm|%k[0-7]\b|%[xy]mm(1[6-9]|2[0-9]|3[01])\b' <<<"$asm" | head -5 >&2
    exit 1
  fi
done
echo "no AVX-512 instructions in the $n_objs emulated objects"

# Every AVX-512 intrinsic named in a kernel must have its semantics check in check_shim.cpp.
missing=0
for f in $(grep -ohE '\b(_mm512_[a-z0-9_]+|_mm(256)?_maskz?_[a-z0-9_]+|_mm(256)?_[a-z0-9_]+_mask|_mm256_[a-z0-9_]+_avx_[a-z0-9]+)\b' \
             $(find cpp -name '*_avx512*.cpp' -o -name '*_avx512*.h' -o -name 'matvec_avx2_impl.h') | sort -u); do
  if ! grep -q "\"$f\"" cpp/tests/avx512_emulation/check_shim.cpp; then
    echo "FAIL: $f is used by an AVX-512 kernel but not checked in cpp/tests/avx512_emulation/check_shim.cpp" >&2
    missing=1
  fi
done
[ "$missing" = 0 ]
"$BUILD/avx512_shim_check"
"$BUILD/pysparse_tests" --isa avx512
"$BUILD/pysparse_tests" --isa avx2 | tail -1  # with the emulated AVX-VNNI kernels (and without: the tests toggle it)
"$BUILD/pysparse_tests" --isa generic | tail -1
