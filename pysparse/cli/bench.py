"""`pysparse bench MODEL`: llama-bench-style prompt and generation speed, dense and at sparsity settings."""

from __future__ import annotations

import json
import os
import platform
import sys

from ._engine import add_engine_args, load_engine, parse_sparsity

HELP = "prompt-processing and generation tokens/s on the engine, dense and at --sparsity settings (table + JSON)"


def register(p):
    add_engine_args(p, sparsity_repeat=True)
    p.add_argument("-p", "--n-prompt", type=int, default=512, help="prompt tokens of the pp test (default 512; 0 skips)")
    p.add_argument("-n", "--n-gen", type=int, default=128, help="generated tokens of the tg test (default 128; 0 skips)")
    p.add_argument("-r", "--reps", type=int, default=3, help="repetitions, interleaved across settings (default 3)")
    p.add_argument("--no-dense", action="store_true", help="bench only the --sparsity settings")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the rows and the machine to FILE")


def run(args):
    from tqdm import tqdm

    from .. import _core
    from ..engine.bench import bench

    if args.reps < 1:
        raise ValueError("--reps must be >= 1")
    settings = ([] if args.no_dense else [None]) + [parse_sparsity(s) for s in args.sparsity]
    if args.sparsity_file:  # e.g. a per-layer allocation from `pysparse speedup`: benched as one more setting
        from ..engine.model import load_sparsity_file

        spec = load_sparsity_file(args.sparsity_file)
        settings.append((spec["site"], spec["rule"], spec.get("values", spec.get("value"))))
    if not settings:
        raise ValueError("nothing to bench: --no-dense needs at least one --sparsity")
    sparsity, args.sparsity = args.sparsity, []
    sparsity_file, args.sparsity_file = args.sparsity_file, None
    m, _ = load_engine(args)
    ctx_needed = max(args.n_prompt, args.n_gen)
    if ctx_needed > m.context:
        raise ValueError(f"the tests need {ctx_needed} positions but the context is {m.context} (--context)")
    bar = tqdm(total=args.reps * len(settings), desc="bench", unit="run", file=sys.stderr)
    rows = bench(m, settings, args.n_prompt, args.n_gen, args.reps, progress=lambda d, t: bar.update(1))
    bar.close()
    dense = {r["test"]: r["tokens_per_s"] for r in rows if r["setting"] == "dense"}
    print(f"{m}, {_core.num_threads()} threads, ISA {_core.active_isa()}")
    print(f"{'setting':28} {'test':>7} {'t/s':>9} {'min-max':>15} {'x dense':>8} {'sparsity':>9}")
    for r in rows:
        ratio = r["tokens_per_s"] / dense[r["test"]] if r["test"] in dense else float("nan")
        print(f"{r['setting']:28} {r['test']:>7} {r['tokens_per_s']:9.2f} {r['min']:7.1f}-{r['max']:<7.1f} "
              f"{ratio:8.3f} {100 * (r['sparsity'] or 0):8.1f}%")
    if args.json:
        out = {"model": str(m.path), "threads": _core.num_threads(), "isa": _core.active_isa(),
               "cpu": platform.processor() or platform.machine(), "load_avg": os.getloadavg(),
               "sparsity": sparsity, "sparsity_file": sparsity_file, "rows": rows}
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=1)
        os.replace(tmp, args.json)
    return 0
