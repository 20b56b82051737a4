"""Selection cost against the matvec it feeds.

For d = 1536, 4096, 8960, 11008 (the FFN input and intermediate widths of Qwen2.5-1.5B and Llama-7B), time
top-p selection of one token's vector, 1 thread:
  fast      the C++ bucketed exact top-p (pysparse.engine.select), per Python call (includes the call overhead:
            an upper bound on the C++ cost), and per row of a 128-row batch (includes building the CSR output);
  sort      the C++ literal definition: full std::sort + float64 running sum, per Python call;
  numpy     the numpy reference (np.sort + np.cumsum), per call;
and compare with the Q4_K matvec of shape (d_out, d) it feeds: estimated as its bytes over a read bandwidth, both
the one measured here in this run and 13 GB/s (1 thread, measured once on an AVX-512 VM when quiet). bytes / bandwidth is a
lower bound on a matvec's time (llama.cpp reaches 58-87% of it), so the shares printed are upper bounds. When
pysparse.engine.kernels.matvec exists in this tree, the real dense Q4_K matvec is timed too.

Usage: PYTHONPATH=. python bench/bench_select.py [--quick]. Prints a table, writes bench/results/select.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from pysparse import _core
from pysparse.engine import select as S

# (d, d_out, what): the selection over a length-d vector feeds a matvec of shape (d_out, d).
SHAPES = [
    (1536, 8960, "Qwen2.5-1.5B gate/up input"),
    (4096, 11008, "Llama-7B gate/up input"),
    (8960, 1536, "Qwen2.5-1.5B down input"),
    (11008, 4096, "Llama-7B down input"),
]
P_VALUES = [0.5, 0.9, 0.99]
Q4_K_BLOCK_BYTES, Q4_K_BLOCK = 144, 256
DESIGN_BW = 13e9  # a reference: read bandwidth on 1 thread for buffers >= 128 MiB, this VM when quiet
OUT = Path(__file__).resolve().parent / "results" / "select.json"


def median_time(fn, number: int, repeat: int) -> float:
    """Median over `repeat` runs of the time of one call (each run averages `number` calls), in seconds.
    Time is the calling thread's CPU time (everything here runs on 1 thread, the caller): on a shared, overloaded
    machine wall-clock time mostly measures the other tenants' jobs."""
    runs = []
    for _ in range(repeat):
        t = time.thread_time()
        for _ in range(number):
            fn()
        runs.append((time.thread_time() - t) / number)
    return statistics.median(runs)


def activations(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Rows shaped like FFN activations: half Gaussian, half heavy-tailed (Student-t, 3 degrees of freedom)."""
    V = np.empty((n, d), np.float32)
    V[: n // 2] = rng.standard_normal((n // 2, d))
    V[n // 2:] = rng.standard_t(3, (n - n // 2, d))
    return V


def read_bandwidth() -> float:
    """Bytes/s of one streaming read pass over 256 MiB on 1 thread: the AVX2/NEON max-|v| pass of the selection
    (top-k with keep fraction 0 reads each row once for the NaN/Inf check and writes nothing)."""
    V = np.ones((64, 1 << 20), np.float32)
    _core.select_rows("topk", V, 0.0)
    t = median_time(lambda: _core.select_rows("topk", V, 0.0), 1, 5)
    return V.nbytes / t


def dense_matvec_timer():
    """A function timing the real Q4_K matvec if pysparse.engine.kernels.matvec exists here, else None."""
    try:
        from pysparse.engine.kernels import matvec
    except ImportError:
        return None

    def timer(d_out: int, d: int, repeat: int) -> float:
        rng = np.random.default_rng(0)
        w = rng.integers(0, 256, (d_out, d // Q4_K_BLOCK * Q4_K_BLOCK_BYTES), dtype=np.uint8)
        blocks = w.reshape(d_out, -1, Q4_K_BLOCK_BYTES)
        blocks[:, :, 0:2] = np.frombuffer(np.float16(0.01).tobytes(), np.uint8)  # sane fp16 d and dmin
        blocks[:, :, 2:4] = np.frombuffer(np.float16(0.001).tobytes(), np.uint8)
        x = rng.standard_normal(d).astype(np.float32)
        matvec(w, "Q4_K", (d_out, d), x)
        return median_time(lambda: matvec(w, "Q4_K", (d_out, d), x), 3, repeat)

    return timer


def atomic_write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (smoke test)")
    args = ap.parse_args()
    repeat = 3 if args.quick else 7
    threads_before = _core.num_threads()
    _core.set_num_threads(1)
    rng = np.random.default_rng(0)
    try:
        bw = read_bandwidth()
        matvec_timer = dense_matvec_timer()
        rows = []
        for d, d_out, what in SHAPES:
            V = activations(128, d, rng)
            calls = [V[i] for i in range(0, 128, 8)]  # 16 single vectors, both kinds
            q4k_bytes = d_out * d // Q4_K_BLOCK * Q4_K_BLOCK_BYTES
            est = q4k_bytes / bw
            est_design = q4k_bytes / DESIGN_BW
            meas = matvec_timer(d_out, d, repeat) if matvec_timer else None
            for p in P_VALUES:
                fallbacks = _core.topp_fallback_count()
                off, _ = S.topp_select_batch(V, p)
                density = float(np.mean(np.diff(off)) / d)
                fast_row = median_time(lambda: _core.select_rows("topp", V, p), 1, repeat) / len(V)
                fast_call = median_time(lambda: [_core.select("topp", v, p) for v in calls], 1, repeat) / len(calls)
                sort_call = median_time(lambda: [_core.topp_select_sorted(v, p) for v in calls], 1, repeat) / len(calls)
                np_call = median_time(lambda: [S.topp_mask_reference(v, p) for v in calls[:4]], 1, repeat) / 4
                rows.append({
                    "d": d, "d_out": d_out, "what": what, "p": p, "kept_fraction": density,
                    "fast_us_per_row": fast_row * 1e6, "fast_us_per_call": fast_call * 1e6,
                    "sort_us_per_call": sort_call * 1e6, "numpy_us_per_call": np_call * 1e6,
                    "q4k_matvec_bytes": q4k_bytes, "matvec_est_us": est * 1e6,
                    "matvec_est_13GBps_us": est_design * 1e6,
                    "matvec_measured_us": None if meas is None else meas * 1e6,
                    "share_of_matvec_est": fast_call / est,
                    "share_of_matvec_est_13GBps": fast_call / est_design,
                    "share_of_matvec_measured": None if meas is None else fast_call / meas,
                    "fallbacks": _core.topp_fallback_count() - fallbacks,
                })
    finally:
        _core.set_num_threads(threads_before)

    print(f"ISA {_core.active_isa()}, 1 thread, thread CPU time, load average {os.getloadavg()[0]:.1f}; read bandwidth {bw / 1e9:.1f} GB/s (1 thread, 256 MiB); "
          f"matvec {'measured with pysparse.engine.kernels' if matvec_timer else 'not in this tree: estimated'}"
          f" and estimated as Q4_K bytes / bandwidth")
    print("times per token vector; share = fast/call over the matvec time (est: measured bandwidth, @13: 13 GB/s)")
    hdr = (f"{'d':>6} {'d_out':>6} {'p':>5} {'kept':>5} | {'fast/call':>9} {'batch/row':>9} {'sort/call':>9} "
           f"{'numpy':>9} | {'matvec est':>10} {'@13GB/s':>9} {'measured':>9} | {'share est':>9} {'share @13':>9} "
           f"{'share meas':>10} | {'sort/fast':>9}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        meas = f"{r['matvec_measured_us']:9.1f}" if r["matvec_measured_us"] else f"{'-':>9}"
        share_m = f"{100 * r['share_of_matvec_measured']:9.2f}%" if r["share_of_matvec_measured"] else f"{'-':>10}"
        print(f"{r['d']:6d} {r['d_out']:6d} {r['p']:5.2f} {r['kept_fraction']:5.2f} | {r['fast_us_per_call']:7.2f}us "
              f"{r['fast_us_per_row']:7.2f}us {r['sort_us_per_call']:7.1f}us {r['numpy_us_per_call']:7.1f}us | "
              f"{r['matvec_est_us']:8.1f}us {r['matvec_est_13GBps_us']:7.1f}us {meas} | "
              f"{100 * r['share_of_matvec_est']:8.2f}% {100 * r['share_of_matvec_est_13GBps']:8.2f}% {share_m} | "
              f"{r['sort_us_per_call'] / r['fast_us_per_call']:8.1f}x")
    atomic_write_json(OUT, {
        "benchmark": "selection cost vs the Q4_K matvec it feeds",
        "isa": _core.active_isa(), "threads": 1, "clock": "thread CPU time (time.thread_time)", "machine": platform.processor() or platform.machine(),
        "read_bandwidth_GBps": bw / 1e9, "design_bandwidth_GBps": DESIGN_BW / 1e9,
        "load_average": os.getloadavg(),
        "matvec_source": "pysparse.engine.kernels.matvec" if matvec_timer else "estimate: Q4_K bytes / bandwidth",
        "rows": rows,
    })
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
