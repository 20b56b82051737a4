"""llama.cpp's own matvec speed (ggml CPU backend), for side-by-side ratios with pysparse's kernels.

Runs ggml's `test-backend-ops perf -b CPU` on MUL_MAT cases y = W x with W of shape rows x cols (GGUF/numpy order:
rows = outputs) in a given type and one column x (n = 1, decode). Its built-in perf cases do not include our shapes,
so the cases are handed over with `--test-file` (one generic-op line per case: op, output type and ne, sources with
their types and ne), a format test-backend-ops reads since 2025.

    PYTHONPATH=$PWD python bench/llama_cpp.py --llama-cpp-bin /path/to/test-backend-ops [--threads 1 2]

or set LLAMA_CPP_TEST_BACKEND_OPS. Without a binary the script says so and exits 0 (nothing here downloads or builds
llama.cpp; build it outside the repository, e.g. from github.com/ggml-org/ggml or llama.cpp with
  cmake -B build -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_BLAS=OFF
        -DGGML_BUILD_TESTS=ON -DLLAMA_CURL=OFF && cmake --build build --target test-backend-ops -j2
AMX off: an AMX build dies with SIGILL on some VMs). The build (commit, ggml flags) is recorded with the results:
from a BUILD_INFO text file in the source tree if present, else from the build's CMakeCache.txt and git.

Threads: test-backend-ops gives the CPU backend max(1, hardware_concurrency() / 2) threads (tests/test-backend-ops.cpp,
ggml_backend_set_n_threads) and has no option to change it, so ggml is timed at that one count only (`ggml_threads()`:
1 on a 2-core machine); asked for another count, matvec_perf / matmul_perf raise ThreadCountError and the
benchmarks show n/a. (Until 2026-12-01 this script set OMP_THREAD_LIMIT and believed it applied: the 2-thread `vs
ggml` columns saved before then compare our 2 threads with ggml's 1.)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import format_table, save_json  # noqa: E402

SHAPES = ((576, 1536), (1536, 8960), (4096, 11008))  # rows x cols of W
TYPES = ("F16", "Q4_0", "Q4_1", "Q5_0", "Q8_0", "Q4_K", "Q6_K")
ENV_BIN = "LLAMA_CPP_TEST_BACKEND_OPS"

# GGML type ids are the GGUF ids; block geometry for the weight byte count.
GGML_TYPES = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20), "Q5_0": (6, 32, 22),
              "Q5_1": (7, 32, 24), "Q8_0": (8, 32, 34), "Q4_K": (12, 256, 144), "Q5_K": (13, 256, 176),
              "Q6_K": (14, 256, 210), "BF16": (30, 1, 2)}
MUL_MAT_OP_GUESS = 29  # GGML_OP_MUL_MAT in ggml.h of 2025-2026; verified (and searched for) at run time

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CASE = re.compile(
    r"^\s*MUL_MAT\(type=f32,ne=\[(?P<rows>\d+),(?P<n>\d+),1,1\],op_params=\[[^\]]*\],"
    r"sources=(?P<type>\w+)\[(?P<cols>\d+),(?P<rows2>\d+),1,1\],f32\[(?P<cols2>\d+),(?P=n),1,1\]\)\s*:\s*"
    r"(?P<runs>\d+)\s+runs\s+-\s+(?P<us>[\d.]+)\s+us/run\s+-\s+(?P<kb>[\d.]+)\s+kB/run\s+-\s+(?P<gbps>[\d.]+)\s+GB/s")


def weight_bytes(qtype: str, rows: int, cols: int) -> int:
    _, bs, ts = GGML_TYPES[qtype]
    return rows * (cols // bs) * ts


def case_line(op_id: int, qtype: str, rows: int, cols: int, n: int = 1) -> str:
    """One --test-file line: out f32 [rows, n] = MUL_MAT(src0 qtype [cols, rows], src1 f32 [cols, n])."""
    tid = GGML_TYPES[qtype][0]
    return (f"{op_id} 0 {rows} {n} 1 1 0 2 "
            f"{tid} {cols} {rows} 1 1 0 0 0 0 "
            f"0 {cols} {n} 1 1 0 0 0 0 -")


def parse_perf_output(text: str, with_n: bool = False) -> dict[tuple, dict]:
    """{(TYPE, rows, cols): {"us", "gbps" (ggml's: all bytes of W, x and y), "runs", "kb_per_run"}} for n = 1 cases;
    with_n: every n, keyed (TYPE, rows, cols, n)."""
    out = {}
    for line in _ANSI.sub("", text).splitlines():
        m = _CASE.match(line)
        if not m or (not with_n and int(m["n"]) != 1) or m["rows"] != m["rows2"] or m["cols"] != m["cols2"]:
            continue
        key = (m["type"].upper(), int(m["rows"]), int(m["cols"])) + ((int(m["n"]),) if with_n else ())
        out[key] = {
            "us": float(m["us"]), "gbps": float(m["gbps"]), "runs": int(m["runs"]), "kb_per_run": float(m["kb"])}
    return out


class ThreadCountError(RuntimeError):
    """test-backend-ops cannot run at the asked thread count (it always uses ggml_threads())."""


def ggml_threads() -> int:
    """The threads test-backend-ops gives the CPU backend on this machine: max(1, hardware_concurrency / 2)."""
    return max(1, (os.cpu_count() or 1) // 2)


def _check_threads(threads: int | None) -> None:
    if threads is not None and threads != ggml_threads():
        raise ThreadCountError(f"test-backend-ops runs ggml on {ggml_threads()} thread(s) here, not {threads}")


def _run(binary: str, mode: str, lines: list[str], timeout: float) -> str:
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "cases.txt"
        f.write_text("\n".join(lines) + "\n")
        proc = subprocess.run([binary, mode, "-b", "CPU", "--test-file", str(f)], capture_output=True, text=True,
                              timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{binary} {mode} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc.stdout


def find_mul_mat_op(binary: str) -> int:
    """The GGML_OP_MUL_MAT id of this build: the one whose generic op prints as MUL_MAT (support mode is cheap)."""
    for op in [MUL_MAT_OP_GUESS] + [i for d in range(1, 30) for i in (MUL_MAT_OP_GUESS - d, MUL_MAT_OP_GUESS + d)]:
        if op < 1:
            continue
        try:
            out = _ANSI.sub("", _run(binary, "support", [case_line(op, "Q4_0", 32, 64)], 120))
        except (RuntimeError, subprocess.TimeoutExpired):
            continue
        if re.search(r"^\s*MUL_MAT\(type=f32", out, re.M):
            return op
    raise RuntimeError(f"could not find the MUL_MAT op id of {binary}")


def build_info(binary: str) -> dict:
    """Which llama.cpp / ggml build produced the figures: BUILD_INFO file, CMake flags, git commit if available."""
    info: dict = {"binary": str(Path(binary).resolve())}
    b = Path(binary).resolve()
    build_dir = next((p for p in b.parents if (p / "CMakeCache.txt").exists()), None)
    src = None
    if build_dir is not None:
        cache = (build_dir / "CMakeCache.txt").read_text(errors="replace")
        flags = {}
        for m in re.finditer(r"^(GGML_\w+|CMAKE_BUILD_TYPE|LLAMA_\w+):\w+=(.*)$", cache, re.M):
            if m[1].startswith(("GGML_NATIVE", "GGML_AVX", "GGML_FMA", "GGML_F16C", "GGML_BMI2", "GGML_AMX",
                                "GGML_OPENMP", "GGML_BLAS", "CMAKE_BUILD_TYPE", "GGML_CPU")) and m[2] not in ("",):
                flags[m[1]] = m[2]
        info["cmake"] = flags
        ms = re.search(r"^CMAKE_HOME_DIRECTORY:\w+=(.*)$", cache, re.M) or re.search(
            r"^\w+_SOURCE_DIR:STATIC=(.*)$", cache, re.M)
        src = Path(ms[1]) if ms else None
    for d in [p for p in ([src] if src else []) + list(b.parents)[:4]]:
        if (d / "BUILD_INFO").exists():
            info["build_info"] = (d / "BUILD_INFO").read_text().strip()
            break
    if src is not None:
        info["source_dir"] = str(src)
        try:
            info["commit"] = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True,
                                            text=True, timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return info


def matvec_perf(binary: str, cases=None, threads: int | None = None, timeout: float = 1800) -> dict:
    """Runs test-backend-ops perf on MUL_MAT cases [(TYPE, rows, cols)] (default: TYPES x SHAPES), n = 1.
    Returns {(TYPE, rows, cols): {"us", "gbps", "weight_gbps", "weight_bytes", "runs", "kb_per_run"}}."""
    _check_threads(threads)
    cases = list(cases or [(t, r, c) for r, c in SHAPES for t in TYPES])
    op = find_mul_mat_op(binary)
    out = parse_perf_output(_run(binary, "perf", [case_line(op, t, r, c) for t, r, c in cases], timeout))
    missing = [c for c in cases if c not in out]
    if missing:
        raise RuntimeError(f"test-backend-ops printed no result for {missing}")
    for (t, r, c), v in out.items():
        v["weight_bytes"] = weight_bytes(t, r, c)
        v["weight_gbps"] = v["weight_bytes"] / (v["us"] * 1e-6) / 1e9
    return {c: out[c] for c in cases}


def matmul_perf(binary: str, cases, threads: int | None = None, timeout: float = 3600) -> dict:
    """ggml's MUL_MAT for batches: cases [(TYPE, rows, cols, n)] (W rows x cols times n token columns).
    Returns {(TYPE, rows, cols, n): {"us", "gbps", "runs", "kb_per_run"}}."""
    _check_threads(threads)
    cases = list(cases)
    op = find_mul_mat_op(binary)
    out = parse_perf_output(_run(binary, "perf", [case_line(op, t, r, c, n) for t, r, c, n in cases], timeout),
                            with_n=True)
    missing = [c for c in cases if c not in out]
    if missing:
        raise RuntimeError(f"test-backend-ops printed no result for {missing}")
    return {c: out[c] for c in cases}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-cpp-bin", default=os.environ.get(ENV_BIN),
                    help=f"path of test-backend-ops (default: ${ENV_BIN})")
    ap.add_argument("--threads", type=int, nargs="+", default=None,
                    help="thread counts (default: the one test-backend-ops uses, ggml_threads())")
    ap.add_argument("--types", nargs="+", default=list(TYPES), choices=sorted(GGML_TYPES))
    ap.add_argument("--shapes", nargs="+", default=[f"{r}x{c}" for r, c in SHAPES], help="ROWSxCOLS of W")
    ap.add_argument("--out", default=None, help="results directory (default bench/results)")
    args = ap.parse_args(argv)

    if not args.llama_cpp_bin:
        print(f"llama.cpp comparison skipped: no test-backend-ops binary given (--llama-cpp-bin or ${ENV_BIN})")
        return 0
    if not Path(args.llama_cpp_bin).is_file():
        print(f"llama.cpp comparison skipped: {args.llama_cpp_bin} is not a file")
        return 0
    shapes = []
    for s in args.shapes:
        m = re.fullmatch(r"(\d+)x(\d+)", s)
        if not m:
            ap.error(f"shape {s!r} is not ROWSxCOLS")
        shapes.append((int(m[1]), int(m[2])))
    cases = [(t, r, c) for r, c in shapes for t in args.types]
    binfo = build_info(args.llama_cpp_bin)
    print(f"llama.cpp build: {binfo.get('build_info') or binfo.get('commit') or 'unknown'}; {binfo.get('cmake', {})}")

    rows = []
    for th in args.threads or [ggml_threads()]:
        res = matvec_perf(args.llama_cpp_bin, cases, th)
        for (t, r, c), v in res.items():
            rows.append({"type": t, "rows": r, "cols": c, "threads": th, **v})
    print(format_table(rows, ["type", "rows", "cols", "threads", "us", "weight_gbps", "gbps"],
                       headers={"us": "us/matvec", "weight_gbps": "W GB/s", "gbps": "ggml GB/s"}))
    path = save_json("llama_cpp_matvec", rows, args.out, extra={"llama_cpp_build": binfo})
    print(f"\nsaved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
