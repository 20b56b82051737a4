"""Run `pysparse speedup` on one or more models and collect the results in one table (docs/results/speedup.md).

    PYTHONPATH=$PWD python tools/measure_speedup.py [--models smollm2-135m gemma3-270m ...] [--site input ...]
        [--budget small] [--threads 2] [--llama-bench PATH] [--out pysparse-results/speedup]

Each model runs through pysparse.speedup.measure_speedup (the same code as the command); each model's JSON, PNG and
allocation files land in OUT/<model>/, resumable. On a quiet machine only: speed under load is not a figure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pysparse import models  # noqa: E402
from pysparse.speedup import measure_speedup, results_markdown  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=list(models.MODELS))
    ap.add_argument("--site", nargs="+", default=["input", "intermediate", "all_inputs", "gate"])
    ap.add_argument("--budget", default="small")
    ap.add_argument("--tasks", default="default")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--llama-bench", default=None)
    ap.add_argument("--alloc-group", type=int, default=1)
    ap.add_argument("--out", default="pysparse-results/speedup")
    ap.add_argument("--markdown", default=None, help="also write the table to this file")
    a = ap.parse_args(argv)
    results = []
    for name in a.models:
        results.append(measure_speedup(name, sites=a.site, budget=a.budget, tasks=a.tasks, threads=a.threads,
                                       tg=a.tg, reps=a.reps,
                                       llama_bench=a.llama_bench, alloc_group=a.alloc_group,
                                       out=Path(a.out) / name))
        print(results[-1]["summary"], flush=True)
    text = results_markdown(results)
    print(text)
    if a.markdown:
        Path(a.markdown).write_text(text)


if __name__ == "__main__":
    main()
