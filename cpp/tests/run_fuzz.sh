#!/usr/bin/env bash
# Fuzzes the GGUF reader with libFuzzer (+ ASan + UBSan) for a bounded time.
# Usage: cpp/tests/run_fuzz.sh [seconds=60]
# Builds build/fuzz/fuzz_gguf with clang, seeds a corpus from small valid GGUF files written by gguf-py (every value
# type, nested arrays, custom alignment, plain and quantised tensors) and the first 64 KiB of the real SmolLM2 file
# if it is cached, then runs. Exits non-zero if the fuzzer finds a crash (reproducer in build/fuzz/artifacts/;
# replay it with `build/fuzz/fuzz_gguf <file>`).
#
# The harness is compiled here from the reader's own sources (cpp/gguf, cpp/quant/types.cpp) rather than through the
# CMake target (-DPYSPARSE_FUZZ=ON), which links the whole engine: that keeps the fuzz build small and independent
# of kernel files that need a newer clang than Debian's clang 14.
set -euo pipefail
SECONDS_TO_RUN=${1:-60}
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="$ROOT/build/fuzz"
CXX=${CXX_FUZZ:-$(command -v clang++ || command -v clang++-14 || true)}
if [ -z "$CXX" ]; then
  echo "run_fuzz.sh: clang++ not found (libFuzzer needs clang)" >&2
  exit 2
fi
mkdir -p "$BUILD/corpus" "$BUILD/artifacts"
SOURCES=("$ROOT"/cpp/tests/fuzz_gguf.cpp "$ROOT"/cpp/gguf/*.cpp "$ROOT"/cpp/quant/types.cpp)
BIN="$BUILD/fuzz_gguf"
if [ ! -x "$BIN" ] || [ -n "$(find "${SOURCES[@]}" "$ROOT"/cpp/gguf "$ROOT"/cpp/quant/types.h "$ROOT"/cpp/common/error.h -newer "$BIN" 2>/dev/null)" ]; then
  echo "building $BIN with $CXX"
  "$CXX" -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -I"$ROOT/cpp" "${SOURCES[@]}" -o "$BIN"
fi

python3 - "$BUILD/corpus" <<'PY'
import pathlib, sys, tempfile
import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT, GGUFValueType as VT

corpus = pathlib.Path(sys.argv[1])

def write(path, alignment, tensors):
    w = gguf.GGUFWriter(str(path), arch="llama")
    if alignment:
        w.add_custom_alignment(alignment)
    for i, (vt, v) in enumerate([(VT.UINT8, 7), (VT.INT8, -7), (VT.UINT16, 700), (VT.INT16, -700),
                                 (VT.UINT32, 70000), (VT.INT32, -70000), (VT.FLOAT32, 0.5), (VT.UINT64, 2**40),
                                 (VT.INT64, -2**40), (VT.FLOAT64, 0.25), (VT.BOOL, True), (VT.STRING, "héllo")]):
        w.add_key_value(f"k.{i}", v, vt)
    w.add_key_value("k.arr_u8", [1, 2, 3], VT.ARRAY, sub_type=VT.UINT8)
    w.add_key_value("k.arr_bool", [True, False], VT.ARRAY, sub_type=VT.BOOL)
    w.add_array("k.arr_str", ["a", "", "bc"])
    w.add_array("k.nested", [[1, 2], [3]])
    w.add_array("k.nested_str", [["x"], ["y", "z"]])
    if tensors:
        rng = np.random.default_rng(0)
        w.add_tensor("f32", rng.standard_normal((2, 3)).astype(np.float32))
        w.add_tensor("f16", rng.standard_normal(5).astype(np.float16))
        w.add_tensor("q8_0", gguf.quants.quantize(rng.standard_normal((2, 32)).astype(np.float32), QT.Q8_0),
                     raw_dtype=QT.Q8_0)
        w.add_tensor("q4_k", rng.integers(0, 256, (1, 144), dtype=np.uint8), raw_dtype=QT.Q4_K)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()

with tempfile.TemporaryDirectory() as d:
    for i, (al, tensors) in enumerate([(None, True), (64, True), (1, True), (None, False)]):
        (corpus / f"seed_writer_{i}.gguf").write_bytes(write(pathlib.Path(d) / "s.gguf", al, tensors))
real = pathlib.Path.home() / ".cache/pysparse/models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"
if real.exists():
    with open(real, "rb") as f:
        (corpus / "seed_smollm2_head.gguf").write_bytes(f.read(64 * 1024))
print(f"corpus: {len(list(corpus.iterdir()))} files in {corpus}")
PY

# -rss_limit_mb / -malloc_limit_mb turn a huge allocation (an unchecked count) into a finding, not a slow run.
cd "$BUILD"
exec "$BIN" "$BUILD/corpus" -max_total_time="$SECONDS_TO_RUN" -max_len=131072 -rss_limit_mb=1024 \
  -malloc_limit_mb=256 -timeout=10 -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/"
