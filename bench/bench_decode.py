"""End-to-end speed of the engine on real GGUF models: prompt processing (pp) and generation (tg) tokens/s, dense
and with FFN sparsity, next to llama.cpp's llama-bench on the same file, at 1 and 2 threads; bytes of weights read
per generated token against the machine's measured read bandwidth.

    PYTHONPATH=$PWD python bench/bench_decode.py [--models smollm2-135m ...] [--threads 1 2] [--quick]
        [--sites input all_inputs] [--ps 0.94]   (default: input, intermediate, all_inputs at 0.99 0.95 0.9 0.8)
        [--llama-bench /path/to/llama-bench]     (or LLAMA_BENCH=...; skipped with a line saying so if absent)

Results: bench/results/decode.json (and a table on stdout). Ratios are taken within one run; every engine setting
is measured interleaved (pysparse.engine.bench), llama-bench right after on the same model and thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import machine_bandwidth, print_table, save_json  # noqa: E402

from pysparse import _core, models  # noqa: E402
from pysparse.llama_cpp import exit_reason  # noqa: E402
from pysparse.engine import Model  # noqa: E402
from pysparse.engine.bench import bench  # noqa: E402

SITES = ("input", "intermediate", "all_inputs")
PS = (0.99, 0.95, 0.9, 0.8)


def llama_bench(binary: str, path: Path, threads: int, pp: int, tg: int, reps: int) -> dict:
    out = subprocess.run([binary, "-m", str(path), "-p", str(pp), "-n", str(tg), "-t", str(threads), "-r", str(reps),
                          "-o", "json"], capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"llama-bench failed ({exit_reason(out.returncode)}): {out.stderr[-500:]}")
    rows = json.loads(out.stdout)
    res = {}
    for r in rows:
        test = f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
        res[test] = {"tokens_per_s": r["avg_ts"], "stddev": r["stddev_ts"], "build": r.get("build_commit"),
                     "cpu_info": r.get("cpu_info")}
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=list(models.MODELS))
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--quick", action="store_true", help="p 0.9 only, pp 128, tg 64, 2 reps")
    ap.add_argument("--sites", nargs="+", choices=SITES, default=list(SITES), help="FFN sites to time sparse")
    ap.add_argument("--ps", nargs="+", type=float, default=None,
                    help=f"top-p values (default {' '.join(map(str, PS))}; --quick: 0.9), e.g. a critical p")
    ap.add_argument("--pp", type=int, default=None)
    ap.add_argument("--tg", type=int, default=None)
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--llama-bench", default=os.environ.get("LLAMA_BENCH") or shutil.which("llama-bench"))
    ap.add_argument("--name", default="decode")
    a = ap.parse_args(argv)
    pp = a.pp or (128 if a.quick else 512)
    tg = a.tg or (64 if a.quick else 128)
    reps = a.reps or (2 if a.quick else 3)
    ps = a.ps or ((0.9,) if a.quick else PS)
    if any(not 0.0 <= p <= 1.0 for p in ps):
        ap.error(f"--ps values must be in [0, 1], got {ps}")
    settings = [None] + [(s, "top_p", p) for s in a.sites for p in ps]
    if not a.llama_bench:
        print("llama.cpp: no llama-bench given (--llama-bench or LLAMA_BENCH): its columns are skipped")
    bw = machine_bandwidth(sizes=(256 << 20,), threads=tuple(a.threads))
    print("read bandwidth at 256 MiB:", {r["threads"]: round(r["gbps"], 1) for r in bw}, "GB/s")
    rows = []
    for name in a.models:
        path = models.fetch(name, progress=False)
        for t in a.threads:
            m = Model.load(path, threads=t, context=max(pp, tg) + 16)
            wb = m.weight_bytes()
            per_token = sum(wb.values())
            print(f"{name}, {t} thread(s): engine ...", flush=True)
            res = bench(m, settings, pp, tg, reps)
            ref = {}
            if a.llama_bench:
                try:
                    ref = llama_bench(a.llama_bench, path, t, pp, tg, reps)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:  # keep the engine's figures
                    print(f"llama.cpp columns skipped for {name}, {t} thread(s): {e}", flush=True)
            dense = {r["test"]: r["tokens_per_s"] for r in res if r["setting"] == "dense"}
            bw_t = next(r["gbps"] for r in bw if r["threads"] == t)
            for r in res:
                lc = ref.get(r["test"], {}).get("tokens_per_s")
                row = {"model": name, "threads": t, **r, "x_dense": r["tokens_per_s"] / dense[r["test"]],
                       "llama_cpp": lc, "x_llama_cpp": r["tokens_per_s"] / lc if lc else None}
                if r["test"].startswith("tg") and r["setting"] == "dense":
                    row["weight_bytes_per_token"] = per_token
                    row["achieved_gbps"] = per_token * r["tokens_per_s"] / 1e9
                    row["bandwidth_gbps"] = bw_t
                rows.append(row)
            del m
    print_table(rows, ["model", "threads", "setting", "test", "tokens_per_s", "x_dense", "sparsity", "llama_cpp",
                       "x_llama_cpp", "ffn_ms", "attention_ms", "output_ms"])
    build = None
    if a.llama_bench:
        build = subprocess.run([a.llama_bench, "--version"], capture_output=True, text=True).stdout.strip() or None
    path = save_json(a.name, rows, extra={"bandwidth": bw, "llama_bench": a.llama_bench, "llama_cpp_build": build,
                                          "load_avg_end": os.getloadavg(), "pp": pp, "tg": tg, "reps": reps})
    print("saved", path)


if __name__ == "__main__":
    main()
