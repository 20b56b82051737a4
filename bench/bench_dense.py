"""Dense matvec benchmark: y = W x for every GGUF type the kernels support, at FFN shapes, 1 and 2 threads.

Prints a table and saves bench/results/dense.json (atomic write). Per shape and thread count, all types are timed
interleaved (bench.common.compare: rounds in rotated order, median of samples), so the drift of this shared machine
hits them alike. Per case: median time, achieved GB/s (weight bytes / time), and that as a fraction of the
machine's read bandwidth measured in the same run by _core.measure_read_bandwidth: at 8x the LLC, >= 256 MiB (DRAM; `%dram`) and
at the smallest probed size holding the weights (`%bw`, with --hot: 2, 32 or 256 MiB, so cache-resident shapes are judged
against cache bandwidth). `best` is bytes / fastest sample, a hint of the unloaded speed. `no-pf ms` is the same
matvec with the kernels' software prefetch off (timed interleaved with the rest; `pf gain` = no-pf time / time), so
each machine shows whether the default distance (_core.dense_prefetch(), PYSPARSE_DENSE_PREFETCH) pays there.

llama.cpp side by side: with LLAMA_CPP_TEST_BACKEND_OPS (or --llama-cpp-bin) pointing at ggml's test-backend-ops,
bench/llama_cpp.py times ggml's own MUL_MAT (n = 1) for the same type and shape, and the table adds `vs ggml` =
ggml time / our time (> 1: ours is faster). Types or shapes it cannot run are marked n/a. test-backend-ops repeats
one matrix, so where the matrix fits the last-level cache ggml's time is a cache-resident one: there `vs ggml`
compares it with our time on one copy (`hot ms`, timed interleaved with the rest), like for like; `vs ggml` is
against our DRAM time only for matrices larger than the LLC.

DRAM, not cache: each matrix is timed cycling through enough copies of it to exceed twice the last-level cache
(its size read from sysfs; bench.common.dram_copies), so every call streams its weights from memory as in a model
whose weights do not fit the cache. --hot times one copy over and over instead (cache-resident where it fits).
The JSON records the machine (CPU model, flags, LLC size, optional features in use) and the DRAM read bandwidth
at 1 and 2 threads.

Shapes (rows x cols): 576x1536 (SmolLM2-135M gate/up), 1536x8960 (Qwen2.5-1.5B gate/up), 4096x11008 (Llama-7B
gate/up) and 11008x4096 (its down projection).

    PYTHONPATH=. python bench/bench_dense.py [--types Q4_0,Q4_K] [--shapes 4096x11008] [--threads 1,2] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from common import (MiB, Cycle, bandwidth_lookup, compare, dram_bandwidth, dram_copies, format_table,  # noqa: E402
                    llc_bytes, machine_bandwidth, save_json)

from pysparse import _core  # noqa: E402
from pysparse.engine import kernels  # noqa: E402

TYPES = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"]
SHAPES = [(576, 1536), (1536, 8960), (4096, 11008), (11008, 4096)]
# (elements per block, bytes per block, byte offsets of the fp16 scales set to sane values)
LAYOUT = {
    "Q4_0": (32, 18, (0,)), "Q4_1": (32, 20, (0, 2)), "Q5_0": (32, 22, (0,)), "Q5_1": (32, 24, (0, 2)),
    "Q8_0": (32, 34, (0,)), "Q4_K": (256, 144, (0, 2)), "Q5_K": (256, 176, (0, 2)), "Q6_K": (256, 210, (208,)),
}


def make_weights(qtype, rows, cols, rng):
    """A valid matrix of the type: random quants with finite, normal-range scales (random bytes as fp16 scales
    would give subnormals, inf and NaN, whose float math can be slower than the real thing)."""
    if qtype == "F32":
        return rng.standard_normal((rows, cols), dtype=np.float32).view(np.uint8)
    if qtype == "F16":
        return rng.standard_normal((rows, cols), dtype=np.float32).astype(np.float16).view(np.uint8)
    if qtype == "BF16":
        f = rng.standard_normal((rows, cols), dtype=np.float32)
        return (f.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)
    qk, size, scale_offsets = LAYOUT[qtype]
    nb = rows * cols // qk
    blocks = rng.integers(0, 256, size=(nb, size), dtype=np.uint8)
    for off in scale_offsets:
        blocks[:, off:off + 2] = rng.uniform(1e-3, 1e-2, nb).astype(np.float16).view(np.uint8).reshape(nb, 2)
    return blocks.reshape(rows, -1)


def llama_cpp_times(binary, types, shapes, thread_counts):
    """{(type, rows, cols, threads): seconds} from ggml's test-backend-ops, and its build info; ({}, None) if no
    binary. Types ggml's script does not know are left out (n/a in the table)."""
    if not binary or not Path(binary).is_file():
        return {}, None
    import llama_cpp

    cases = [(t, r, c) for r, c in shapes for t in types if t in llama_cpp.GGML_TYPES]
    out = {}
    for th in thread_counts:
        try:
            res = llama_cpp.matvec_perf(binary, cases, th)
        except llama_cpp.ThreadCountError as e:  # not measurable at this count: n/a in the table
            print(f"llama.cpp comparison at {th} threads: n/a ({e})")
            continue
        except Exception as e:  # a failing comparison must not lose our own figures
            print(f"llama.cpp comparison failed at {th} threads: {e}")
            continue
        for (t, r, c), v in res.items():
            out[(t, r, c, th)] = v["us"] * 1e-6
    return out, llama_cpp.build_info(binary)


def without_prefetch(fn, restore):
    """fn with the dense kernels' software prefetch switched off for the call (set between calls, never during)."""
    def call():
        _core.set_dense_prefetch(0)
        try:
            fn()
        finally:
            _core.set_dense_prefetch(restore)
    return call


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--shapes", default=",".join(f"{r}x{c}" for r, c in SHAPES))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--quick", action="store_true", help="fewer, shorter samples (a smoke run)")
    ap.add_argument("--hot", action="store_true",
                    help="time one copy of each matrix (cache-resident if it fits) instead of cycling through copies "
                         "that exceed the last-level cache")
    ap.add_argument("--llama-cpp-bin", default=os.environ.get("LLAMA_CPP_TEST_BACKEND_OPS"),
                    help="ggml's test-backend-ops for the side-by-side ratio (default $LLAMA_CPP_TEST_BACKEND_OPS)")
    ap.add_argument("--out", default=None, help="results directory (default bench/results)")
    args = ap.parse_args(argv)
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    shapes = [tuple(int(v) for v in s.lower().split("x")) for s in args.shapes.split(",")]
    thread_counts = [int(t) for t in args.threads.split(",")]
    min_time, repeats = (0.01, 3) if args.quick else (0.03, 7)

    rng = np.random.default_rng(0)
    before_threads = _core.num_threads()
    bw_table = machine_bandwidth(sizes=(2 * MiB, 32 * MiB, 256 * MiB), threads=thread_counts,
                                 reps=3 if args.quick else 5)
    dram_bw = dram_bandwidth(threads=sorted({1, 2, *thread_counts}), reps=3 if args.quick else 5)
    llc = llc_bytes()
    print(f"ISA path: {_core.active_isa()} {_core.cpu_features()}; LLC {llc and llc / MiB} MiB; "
          "read bandwidth (_core.measure_read_bandwidth, GB/s): " +
          ", ".join(f"{r['mib']:.0f} MiB x{r['threads']} thr {r['gbps']:.1f}" for r in bw_table + dram_bw))
    llama, llama_build = llama_cpp_times(args.llama_cpp_bin, types, shapes, thread_counts)
    if llama_build:
        print(f"llama.cpp (ggml test-backend-ops): {llama_build.get('build_info') or llama_build.get('commit')}")

    pf_default = _core.dense_prefetch()  # the kernels' prefetch distance (PYSPARSE_DENSE_PREFETCH; 0 = off)
    rows_out = []
    try:
        for rows, cols in shapes:
            x = rng.standard_normal(cols, dtype=np.float32)
            out = np.empty(rows, np.float32)
            weights = {t: make_weights(t, rows, cols, rng) for t in types}
            # Copies of each matrix whose total exceeds the LLC twice: each call reads its weights from DRAM.
            copies = {t: [weights[t]] + [weights[t].copy() for _ in range(
                0 if args.hot else dram_copies(weights[t].nbytes, llc=llc) - 1)] for t in types}
            for nth in thread_counts:
                _core.set_num_threads(nth)
                fns = {t: Cycle([lambda w=w, t=t: kernels.matvec(w, t, (rows, cols), x, out=out) for w in copies[t]])
                       for t in types}
                # ggml's figure is cache-resident where the matrix fits the LLC: time ours on one copy too.
                hot_for_ggml = [t for t in types if llama and not args.hot and llc and weights[t].nbytes <= llc
                                and llama.get((t, rows, cols, nth))]
                for t in hot_for_ggml:
                    fns[t + "/hot"] = lambda w=weights[t], t=t: kernels.matvec(w, t, (rows, cols), x, out=out)
                # The same with the kernels' software prefetch off (the default is checked on every machine).
                if pf_default:
                    for t in types:
                        fns[t + "/nopf"] = without_prefetch(fns[t], pf_default)
                med = compare(fns, min_time=min_time, repeats=repeats)
                best = compare(fns, min_time=min_time, repeats=3)  # a second interleaved pass; min of both below
                for t in types:
                    nbytes = int(weights[t].nbytes)
                    bw_dram = bandwidth_lookup(dram_bw, 1 << 62, nth)
                    bw_size = bandwidth_lookup(bw_table, nbytes, nth) if args.hot else bw_dram
                    tmin = min(med[t], best[t])
                    row = {"type": t, "rows": rows, "cols": cols, "threads": nth, "MiB": nbytes / MiB,
                           "ms": med[t] * 1e3, "GB/s": nbytes / med[t] / 1e9, "%bw": 100 * nbytes / med[t] / 1e9 / bw_size,
                           "%dram": 100 * nbytes / med[t] / 1e9 / bw_dram, "best GB/s": nbytes / tmin / 1e9,
                           "bw_at_size_gbps": bw_size, "bw_dram_gbps": bw_dram, "copies": len(copies[t])}
                    if pf_default:
                        row["no-pf ms"] = med[t + "/nopf"] * 1e3
                        row["pf gain"] = med[t + "/nopf"] / med[t]
                    if llama:
                        tl = llama.get((t, rows, cols, nth))
                        ours = med[t + "/hot"] if t in hot_for_ggml else med[t]
                        row["hot ms"] = med[t + "/hot"] * 1e3 if t in hot_for_ggml else None
                        row["ggml ms"] = tl * 1e3 if tl else None
                        row["vs ggml"] = tl / ours if tl else None
                    rows_out.append(row)
            del weights, copies
    finally:
        _core.set_num_threads(before_threads)

    cols_shown = ["type", "rows", "cols", "threads", "MiB", "ms", "GB/s", "%bw", "%dram", "best GB/s"]
    if pf_default:
        cols_shown += ["no-pf ms", "pf gain"]
    if llama:
        cols_shown += ["hot ms", "ggml ms", "vs ggml"]
    print(format_table(rows_out, cols_shown))
    extra = {"isa": _core.active_isa(), "read_bandwidth": bw_table, "dram_read_bandwidth": dram_bw,
             "dense_prefetch_bytes": pf_default,
             "operands": "hot (one copy)" if args.hot else "DRAM (copies exceeding 2x LLC, cycled)",
             "note": "per shape and thread count, types timed interleaved (median of samples); best = fastest sample; "
                     "vs ggml = ggml time / ours, against our one-copy (hot ms) time where the matrix fits the LLC "
                     "(test-backend-ops repeats one matrix), else against our DRAM time"}
    if llama_build:
        extra["llama_cpp_build"] = llama_build
    path = save_json("dense", rows_out, args.out, extra=extra)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
