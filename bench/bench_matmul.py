"""Batched matmul benchmark (prefill): Y = X W^T for n tokens at once, n in {1, 8, 64, 512}, next to ggml.

Per type, shape (rows x cols of W) and thread count it times pysparse.engine.kernels.matvec with a (n, cols)
activation block (the C++ matmul in cpp/kernels/matmul.cpp: activations quantised once per token, each block of
weight rows dotted with a block of tokens while it is in L1/L2, in register-blocked 4 x 4 tiles where the path has
them, else four tokens per weight unpack where it has that) and reports
  ms, tokens/s, GFLOP/s (2 rows cols n / time), weight GB/s (weight bytes / time), and
  x matvec = n x (time of one single-token matvec) / matmul time (how much batching saves over n matvecs).
Weights are DRAM-resident as in bench_dense.py: copies exceeding twice the last-level cache are cycled.

llama.cpp side by side: with LLAMA_CPP_TEST_BACKEND_OPS (or --llama-cpp-bin) pointing at ggml's test-backend-ops
(see bench/llama_cpp.py), ggml's MUL_MAT with the same type, shape and n is timed too, and `vs ggml` = ggml time /
our time (> 1: ours is faster). test-backend-ops repeats one matrix, so where the matrix fits the last-level cache
ggml's time is a cache-resident one: there our time on one copy is taken too (`hot ms`) and `vs ggml` compares the
two, like for like (as bench_dense.py does). Without the binary the columns are left out.

    PYTHONPATH=$PWD python bench/bench_matmul.py                       # Q4_K, Q8_0, Q4_0, Q6_K; 1 and 2 threads
    PYTHONPATH=$PWD python bench/bench_matmul.py --quick --types Q4_K --shapes 576x1536 --ns 1,8   # smoke run
Writes bench/results/matmul.json (atomically) with the machine (CPU, flags, LLC, DRAM bandwidth at 1 and 2 threads).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench_dense import make_weights  # noqa: E402
from common import Cycle, dram_bandwidth, dram_copies, format_table, llc_bytes, save_json, time_fn  # noqa: E402

from pysparse import _core  # noqa: E402
from pysparse.engine import kernels  # noqa: E402

TYPES = ["Q4_K", "Q8_0", "Q4_0", "Q6_K"]
SHAPES = [(4096, 11008), (11008, 4096), (1536, 8960)]
NS = [1, 8, 64, 512]


def ggml_times(binary, cases, thread_counts):
    """{(type, rows, cols, n, threads): seconds} from ggml's test-backend-ops, and its build info."""
    if not binary or not Path(binary).is_file():
        return {}, None
    import llama_cpp

    out = {}
    cases = [c for c in cases if c[0] in llama_cpp.GGML_TYPES]
    for th in thread_counts:
        try:
            res = llama_cpp.matmul_perf(binary, cases, th)
        except llama_cpp.ThreadCountError as e:  # not measurable at this count: n/a in the table
            print(f"llama.cpp comparison at {th} threads: n/a ({e})")
            continue
        except Exception as e:  # a failing comparison must not lose our own figures
            print(f"llama.cpp comparison failed at {th} threads: {e}")
            continue
        for (t, r, c, n), v in res.items():
            out[(t, r, c, n, th)] = v["us"] * 1e-6
    return out, llama_cpp.build_info(binary)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--shapes", default=",".join(f"{r}x{c}" for r, c in SHAPES), help="ROWSxCOLS of W, comma-separated")
    ap.add_argument("--ns", default=",".join(map(str, NS)), help="batch sizes (tokens), comma-separated")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--quick", action="store_true", help="fewer, shorter samples (a smoke run)")
    ap.add_argument("--hot", action="store_true", help="one copy of each matrix instead of copies exceeding the LLC")
    ap.add_argument("--llama-cpp-bin", default=os.environ.get("LLAMA_CPP_TEST_BACKEND_OPS"),
                    help="ggml's test-backend-ops for the side-by-side ratio (default $LLAMA_CPP_TEST_BACKEND_OPS)")
    ap.add_argument("--out", default=None, help="results directory (default bench/results)")
    args = ap.parse_args(argv)
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    shapes = [tuple(int(v) for v in s.lower().split("x")) for s in args.shapes.split(",")]
    ns = [int(v) for v in args.ns.split(",")]
    thread_counts = [int(t) for t in args.threads.split(",")]
    if min(ns) < 1:
        ap.error("--ns: batch sizes must be >= 1")
    min_time, repeats = (0.01, 3) if args.quick else (0.05, 7)

    rng = np.random.default_rng(0)
    llc = llc_bytes()
    dram_bw = dram_bandwidth(threads=sorted({1, 2, *thread_counts}), reps=3 if args.quick else 5)
    print(f"ISA path: {_core.active_isa()} {_core.cpu_features()}; LLC {llc and llc >> 20} MiB; DRAM read bandwidth: " +
          ", ".join(f"{r['threads']} thr {r['gbps']:.1f} GB/s" for r in dram_bw))
    # ggml is timed per (shape, type, threads) group, right before ours, with a progress line: test-backend-ops perf
    # repeats an n = 512 product ~150 times (its run count targets a fixed amount of work, plus >= 1 s), 30-60 s per
    # large case on one thread, so timing every case in one call (as before) printed nothing for many minutes.
    use_ggml = bool(args.llama_cpp_bin and Path(args.llama_cpp_bin).is_file())
    ggml, ggml_build = {}, None
    before = _core.num_threads()
    rows_out = []
    try:
        for rows, cols in shapes:
            for t in types:
                w = make_weights(t, rows, cols, rng)
                copies = [w] + [w.copy() for _ in range(0 if args.hot else dram_copies(w.nbytes, llc=llc) - 1)]
                x1 = rng.standard_normal(cols, dtype=np.float32)
                for nth in thread_counts:
                    if use_ggml:
                        t0 = time.perf_counter()
                        print(f"ggml MUL_MAT {t} {rows}x{cols} n={','.join(map(str, ns))} {nth} thr ...", end=" ",
                              flush=True)
                        g, ggml_build = ggml_times(args.llama_cpp_bin, [(t, rows, cols, n) for n in ns], [nth])
                        ggml.update(g)
                        print(f"{time.perf_counter() - t0:.0f} s", flush=True)
                    _core.set_num_threads(nth)
                    t1 = time_fn(Cycle([lambda w=w: kernels.matvec(w, t, (rows, cols), x1) for w in copies]),
                                 min_time=min_time, repeats=repeats)
                    for n in ns:
                        X = rng.standard_normal((n, cols), dtype=np.float32)
                        Y = np.empty((n, rows), np.float32)
                        tm = time_fn(Cycle([lambda w=w: kernels.matvec(w, t, (rows, cols), X, out=Y) for w in copies]),
                                     min_time=min_time, repeats=repeats)
                        row = {"type": t, "rows": rows, "cols": cols, "n": n, "threads": nth, "ms": tm * 1e3,
                               "tok/s": n / tm, "GFLOP/s": 2 * rows * cols * n / tm / 1e9,
                               "weight GB/s": w.nbytes / tm / 1e9, "x matvec": n * t1 / tm, "copies": len(copies)}
                        if use_ggml:
                            tg = ggml.get((t, rows, cols, n, nth))
                            hot = None  # ggml's figure is cache-resident where the matrix fits the LLC: ours too
                            if tg and not args.hot and llc and w.nbytes <= llc:
                                hot = time_fn(lambda w=w: kernels.matvec(w, t, (rows, cols), X, out=Y),
                                              min_time=min_time, repeats=repeats)
                            row["hot ms"] = hot * 1e3 if hot else None
                            row["ggml ms"] = tg * 1e3 if tg else None
                            row["vs ggml"] = tg / (hot or tm) if tg else None
                        rows_out.append(row)
                        print(format_table([row]).splitlines()[-1], flush=True)
                del copies, w
    finally:
        _core.set_num_threads(before)
    print(format_table(rows_out))
    extra = {"isa": _core.active_isa(), "dram_read_bandwidth": dram_bw,
             "operands": "hot (one copy)" if args.hot else "DRAM (weight copies exceeding 2x LLC, cycled)",
             "note": "vs ggml = ggml time / ours, against our one-copy (hot ms) time where the matrix fits the LLC "
                     "(test-backend-ops repeats one matrix), else against our DRAM time"}
    if ggml_build:
        extra["llama_cpp_build"] = ggml_build
    path = save_json("matmul", rows_out, args.out, extra=extra)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
