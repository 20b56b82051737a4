"""Dense matvec benchmark: y = W x for every GGUF type the kernels support, at FFN shapes, 1 and 2 threads.

Prints a table and saves bench/results/dense.json (atomic write). Per case: median time over repeats, achieved
GB/s (weight bytes / median time; `best` = bytes / fastest repeat, a hint of the unloaded speed on a shared
machine), and that as a fraction of the machine's read bandwidth measured by this script in the same run (numpy
reductions over a 256 MiB buffer, the fastest of sum / max / bitwise_or; per thread count). numpy's reductions
are partly compute-bound, so this underestimates the true bandwidth: a kernel can show more than 100%. Where bench/common.py or
_core.measure_read_bandwidth exist (branch `quant`), they are used instead; where bench/llama_cpp.py can time
llama.cpp's own kernel on the same shape and type, the ratio ours / llama.cpp is added.

Shapes (rows x cols): 576x1536 (SmolLM2-135M gate/up), 1536x8960 (Qwen2.5-1.5B gate/up), 4096x11008 (Llama-7B
gate/up) and 11008x4096 (its down projection). The small shapes fit in cache, so they can exceed DRAM bandwidth.

    PYTHONPATH=. python bench/bench_dense.py [--types Q4_0,Q4_K] [--shapes 4096x11008] [--threads 1,2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pysparse import _core  # noqa: E402
from pysparse.engine import kernels  # noqa: E402

TYPES = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"]
SHAPES = [(576, 1536), (1536, 8960), (4096, 11008), (11008, 4096)]
# (elements per block, bytes per block, byte offsets of fp16 scales to set to sane values)
LAYOUT = {
    "F32": (1, 4, ()), "F16": (1, 2, ()), "BF16": (1, 2, ()),
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


def numpy_read_bandwidth(nthreads, mib=256, repeats=5):
    """GB/s of numpy reductions over a `mib` MiB buffer split over `nthreads` Python threads (numpy releases the
    GIL in reductions): the median over repeats of each of sum / max / bitwise_or, the fastest of the three."""
    buf = np.ones(mib * (1 << 20) // 4, dtype=np.float32)
    parts = np.array_split(buf, nthreads)
    probes = [np.sum, np.max, lambda a: np.bitwise_or.reduce(a.view(np.uint32))]
    best = 0.0
    for probe in probes:
        times = []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            if nthreads == 1:
                probe(parts[0])
            else:
                ts = [threading.Thread(target=probe, args=(p,)) for p in parts]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
            times.append(time.perf_counter() - t0)
        best = max(best, buf.nbytes / float(np.median(times[1:])) / 1e9)
    return best


def read_bandwidth(nthreads):
    """(GB/s, method) for the machine's read bandwidth at 256 MiB, preferring the engine's own probe if present."""
    try:
        from bench import common  # branch `quant`

        if hasattr(common, "read_bandwidth"):
            return float(common.read_bandwidth(nthreads)), "bench.common.read_bandwidth"
    except Exception:
        pass
    if hasattr(_core, "measure_read_bandwidth"):
        before = _core.num_threads()
        try:
            _core.set_num_threads(nthreads)
            return float(_core.measure_read_bandwidth(256 << 20)), "_core.measure_read_bandwidth"
        except Exception:
            pass
        finally:
            _core.set_num_threads(before)
    return numpy_read_bandwidth(nthreads), "numpy reductions (fastest of sum/max/or), 256 MiB"


def llama_cpp_timer():
    """bench/llama_cpp.py's timing function if it exists here (branch `quant`), else None."""
    try:
        from bench import llama_cpp  # noqa: F401

        return getattr(llama_cpp, "time_matvec", None)
    except Exception:
        return None


def time_matvec(w, qtype, shape, x, out, min_time=0.25, min_reps=5, max_reps=200):
    kernels.matvec(w, qtype, shape, x, out=out)  # warm up: page in, wake threads
    times = []
    t_start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - t_start < min_time and len(times) < max_reps):
        t0 = time.perf_counter()
        kernels.matvec(w, qtype, shape, x, out=out)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(np.min(times)), len(times)


def atomic_write_json(path: Path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--shapes", default=",".join(f"{r}x{c}" for r, c in SHAPES))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "dense.json"))
    args = ap.parse_args(argv)
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    shapes = [tuple(int(v) for v in s.lower().split("x")) for s in args.shapes.split(",")]
    thread_counts = [int(t) for t in args.threads.split(",")]
    min_time = 0.05 if args.quick else 0.25

    rng = np.random.default_rng(0)
    llama = llama_cpp_timer()
    before_threads = _core.num_threads()
    bw = {}
    for nth in thread_counts:
        bw[nth] = read_bandwidth(nth)
    results = []
    header = f"{'type':5s} {'shape':>11s} {'thr':>3s} {'MiB':>7s} {'ms':>8s} {'GB/s':>7s} {'%bw':>5s}" + \
             (f" {'llama.cpp ratio':>15s}" if llama else "")
    print(f"ISA path: {_core.active_isa()}   read bandwidth (256 MiB): " +
          ", ".join(f"{n} thr {v[0]:.1f} GB/s" for n, v in bw.items()) + f"   [{bw[thread_counts[0]][1]}]")
    print(header)
    try:
        for rows, cols in shapes:
            x = rng.standard_normal(cols, dtype=np.float32)
            out = np.empty(rows, np.float32)
            for qtype in types:
                w = make_weights(qtype, rows, cols, rng)
                for nth in thread_counts:
                    _core.set_num_threads(nth)
                    t, tmin, reps = time_matvec(w, qtype, (rows, cols), x, out, min_time=min_time)
                    gbs = w.nbytes / t / 1e9
                    row = {"type": qtype, "rows": rows, "cols": cols, "threads": nth, "bytes": int(w.nbytes),
                           "median_s": t, "min_s": tmin, "repeats": reps, "gb_per_s": gbs,
                           "best_gb_per_s": w.nbytes / tmin / 1e9, "read_bw_gb_per_s": bw[nth][0],
                           "fraction_of_bw": gbs / bw[nth][0]}
                    line = (f"{qtype:5s} {rows:>5d}x{cols:<5d} {nth:>3d} {w.nbytes / 2**20:7.2f} {t * 1e3:8.3f} "
                            f"{gbs:7.2f} {100 * gbs / bw[nth][0]:4.0f}% {w.nbytes / tmin / 1e9:7.2f}")
                    if llama:
                        try:
                            tl = float(llama(qtype, rows, cols, nth))
                            row["llama_cpp_s"] = tl
                            row["ratio_vs_llama_cpp"] = tl / t  # > 1: we are faster
                            line += f" {tl / t:15.2f}"
                        except Exception as e:  # not every type/shape may be available there
                            line += f" {'n/a':>15s}"
                            row["llama_cpp_error"] = str(e)[:200]
                    print(line, flush=True)
                    results.append(row)
                del w
    finally:
        _core.set_num_threads(before_threads)
    data = {
        "benchmark": "dense matvec y = W x (GGUF row-major weights, float32 x)",
        "isa": _core.active_isa(),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "read_bandwidth_gb_per_s": {str(n): v[0] for n, v in bw.items()},
        "read_bandwidth_method": bw[thread_counts[0]][1],
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
    }
    atomic_write_json(Path(args.out), data)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
