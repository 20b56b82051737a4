"""`pysparse speedup [MODEL]`: the critical sparsity per site on the engine, then generation speed dense vs sparse
side by side (time split, llama.cpp, bytes vs bandwidth), a per-layer allocation; table, JSON, PNG."""

from __future__ import annotations

import sys

HELP = ("how sparse can the model go at the quality target, and how much faster does it generate then on this CPU: "
        "critical p per site, tokens/s dense vs sparse vs llama.cpp, per-layer allocation; table + JSON + PNG")


def _float(s: str) -> float:
    try:
        return float(s)
    except ValueError:
        raise ValueError(f"{s!r} is not a number") from None


def register(p):
    from ..models import DEFAULT_MODEL

    p.add_argument("model", nargs="?", default=DEFAULT_MODEL,
                   help=f"registry name (see `pysparse models list`) or .gguf file (default {DEFAULT_MODEL})")
    p.add_argument("--site", nargs="+", default=["input"], metavar="SITE",
                   help="one or more of input, intermediate, all_inputs, gate, up, or all (default input)")
    p.add_argument("--rule", default="top_p", help="top_p (default), top_k or max_p")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--p", type=float, default=None,
                   help="measure at this rule value instead of searching for the critical one")
    g.add_argument("--target-retention", type=float, default=0.99,
                   help="quality target: suite retention of the dense model's quality (default 0.99)")
    p.add_argument("--threads", type=int, default=None, help="engine threads (default: all cores)")
    p.add_argument("--budget", default="small",
                   help="evaluation budget per quality point, as in `pysparse critical`: tiny, small (default), "
                        "medium, large")
    p.add_argument("--tasks", default="default", help="tasks or suites as in `pysparse critical` (default: default)")
    p.add_argument("--tg", type=int, default=64, help="generated tokens per speed repetition (default 64)")
    p.add_argument("--reps", type=int, default=3, help="interleaved speed repetitions (default 3)")
    p.add_argument("--llama-bench", default=None, metavar="PATH",
                   help="llama.cpp's llama-bench (default: $LLAMA_BENCH, llama-bench on PATH, or llama-cpp-python)")
    p.add_argument("--no-allocate", dest="allocate", action="store_false",
                   help="skip the per-layer allocation")
    p.add_argument("--alloc-group", type=int, default=0,
                   help="layers moved together by the allocation search (1 = per layer; 0 = auto, <= 10 groups)")
    p.add_argument("--alloc-evals", type=int, default=3,
                   help="held-out suite evaluations of the allocation's bisection (default 3)")
    p.add_argument("--calib-tokens", type=int, default=128, help="calibration tokens for the allocation (default 128)")
    p.add_argument("--grid", nargs="+", type=float, default=None, metavar="VALUE", help="the grid to bisect")
    p.add_argument("--out", default=None, help="output directory (default ./pysparse-results/<model>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for intervals (default 1000)")
    p.add_argument("--quiet", action="store_true", help="no progress")


def run(args):
    import time

    from ..speedup import measure_speedup, table

    t0 = time.time()
    p = args.p
    target = args.target_retention
    from ..speedup import ENGINE_SITES

    sites = [x for s in args.site for x in s.split(",") if x]
    sites = list(ENGINE_SITES) if "all" in sites else sites
    res = measure_speedup(args.model, sites=sites, rule=args.rule, p=p,
                          target=target, threads=args.threads, budget=args.budget, tasks=args.tasks,
                          allocate=args.allocate, tg=args.tg, reps=args.reps, llama_bench=args.llama_bench,
                          out=args.out, grid=args.grid, calib_tokens=args.calib_tokens, alloc_evals=args.alloc_evals,
                          alloc_group=args.alloc_group, n_boot=args.n_boot, seed=args.seed, progress=not args.quiet)
    print(table(res))
    print()
    print(res["summary"])
    out = res["plot"].rsplit("/", 1)[0] if "/" in res["plot"] else "."
    print(f"\nresults: {out}/speedup.json, plot: {res['plot']}  [{time.time() - t0:.0f} s]")
    if res["load_avg"][0] > 0.5 * (res["threads"] + 1):
        print(f"note: load average {res['load_avg'][0]:.1f} during the run: speed figures are indicative",
              file=sys.stderr)
    return 0
