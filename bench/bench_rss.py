"""Peak resident memory of the engine running a model: each model in a fresh process loads the GGUF (mmap), runs a
512-token prefill and 128 decode steps, and reports its peak RSS against the budget GGUF size x 1.15 + KV cache +
150 MB (the process's Python and numpy included).

    PYTHONPATH=$PWD python bench/bench_rss.py [--models NAME ...] [--context 1024]
Results: bench/results/rss.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import print_table, save_json  # noqa: E402

from pysparse import models  # noqa: E402

CHILD = r"""
import json, resource, sys
import numpy as np
from pysparse import _core
path, ctx, sparsity = sys.argv[1], int(sys.argv[2]), sys.argv[3]
m = _core.Model(path, n_ctx=ctx)
if sparsity != "dense":
    site, rule, v = sparsity.split(":")
    m.set_sparsity(site, rule, [float(v)] * m.hparams["n_layer"], 1.0)
m.forward(np.arange(100, 612, dtype=np.int32) % m.n_vocab, False)
tok = np.array([1], np.int32)
for _ in range(128):
    tok[0] = m.step(tok, 0.0, 0, 1.0)
print(json.dumps({"peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "kv_bytes": m.kv_bytes,
                  "sparse_bytes": m.sparse_bytes}))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=list(models.MODELS))
    ap.add_argument("--context", type=int, default=1024)
    ap.add_argument("--sparsity", nargs="+", default=["dense", "all_inputs:top_p:0.9"])
    a = ap.parse_args(argv)
    rows = []
    for name in a.models:
        path = models.fetch(name, progress=False)
        size = path.stat().st_size
        for sp in a.sparsity:
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(a.context), sp], capture_output=True,
                                 text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            budget = 1.15 * size + r["kv_bytes"] + 150e6
            rows.append({"model": name, "sparsity": sp, "gguf_mb": size / 1e6, "kv_mb": r["kv_bytes"] / 1e6,
                         "repack_mb": r["sparse_bytes"] / 1e6, "peak_rss_mb": r["peak_rss"] / 1e6,
                         "budget_mb": budget / 1e6, "within_budget": r["peak_rss"] <= budget})
    print_table(rows)
    print("saved", save_json("rss", rows, extra={"context": a.context}))


if __name__ == "__main__":
    main()
