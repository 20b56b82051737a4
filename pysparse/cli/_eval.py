"""Shared options and driver of `pysparse sweep` and `pysparse critical`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEFAULT_OUT = "pysparse-results"


def add_eval_args(p: argparse.ArgumentParser, bisect_default: bool) -> None:
    from ..models import DEFAULT_MODEL

    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"registry name (see `pysparse models list`), .gguf file or HF checkpoint dir "
                        f"(default {DEFAULT_MODEL})")
    p.add_argument("--site", nargs="+", default=["input"], metavar="SITE",
                   help="one or more of input gate up intermediate all_inputs, or 'all' (default input)")
    p.add_argument("--rule", default="top_p", help="top_p (default), top_k, max_p or threshold (calibrated)")
    p.add_argument("--tasks", default="default",
                   help="comma-separated tasks or suites (default: Wikipedia perplexity, with top-1/KL fidelity on "
                        "the same windows). Tasks: wikipedia, wikipedia_cloze, shakespeare, shakespeare_cloze, "
                        "analogies, gpqa, gsm8k, bigbench:TASK, FILE.jsonl, FILE.txt; suites: default, full "
                        "(+ cloze, analogies, Shakespeare)")
    p.add_argument("--budget", default="medium",
                   help="examples per task: tiny = 256 scored perplexity tokens, 8 cloze passages, 14 analogies, "
                        "16 multiple-choice items; small = 1024, 40, 70, 60; medium (default) = 4096, 160, 280, 200; "
                        "large = 16384, 640, 1120, 800 (--limit N sets the cloze/analogy/choice count alone)")
    p.add_argument("--criterion", default="tasks", choices=["tasks", "fidelity", "both"],
                   help="which retentions make the suite mean that decides the critical sparsity: tasks (default; "
                        "perplexity and accuracy tasks, the paper's definition), fidelity (top-1 agreement with the "
                        "dense model, far stricter) or both; the report always shows tasks and fidelity side by side")
    p.add_argument("--limit", type=int, default=None, help="examples per cloze/analogy/multiple-choice task")
    p.add_argument("--grid", nargs="*", type=float, default=None, metavar="VALUE",
                   help="evaluate these rule values (no values: the rule's default grid, for top_p the paper's); "
                        "with --bisect: the grid to bisect")
    p.add_argument("--bisect", action="store_true", default=bisect_default,
                   help="bisect the grid for the 99%% crossing of the suite mean, then of the other criterion's "
                        "mean (few evaluations)" + (" (ON by default here)" if bisect_default else
                                                    " (off by default here: every grid value is evaluated)"))
    p.add_argument("--refine", type=float, default=None, metavar="STEP",
                   help="after the grid (or bisection), also evaluate rule values every STEP between the two "
                        "measured values that bracket each criterion's crossing, e.g. 0.0025 for top-p "
                        "(default: off)")
    p.add_argument("--no-bisect", dest="bisect", action="store_false",
                   help="evaluate every grid value" + ("" if bisect_default else " (the default here)"))
    p.add_argument("--layers", default=None, help="only these layers, e.g. 0,5,10 (default all)")
    p.add_argument("--out", default=None, help=f"output directory (default ./{DEFAULT_OUT}/<model>)")
    p.add_argument("--seed", type=int, default=0, help="seed for example selection and the bootstrap")
    p.add_argument("--threads", type=int, default=None, help="torch threads, or engine threads with --backend engine (default: all cores)")
    p.add_argument("--batch-size", type=int, default=8,
                   help="sequences per forward pass (default 8); changes speed and memory, not the results beyond "
                        "float rounding")
    p.add_argument("--n-boot", type=int, default=1000, help="paired-bootstrap resamples for the intervals "
                                                            "(default 1000; 0: no intervals)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                   help="precision the model runs in (default float32, the reference; bfloat16 is faster on CPUs "
                        "with AVX-512 BF16 but changes the numbers)")
    p.add_argument("--backend", default="torch", choices=["torch", "engine"],
                   help="torch (default): the HF model in float with torch hooks; engine: the GGUF on the C++ "
                        "engine (quantised weights as stored, the rule in C++, sparse decode kernels)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    # lm-evaluation-harness tasks instead of pysparse's own (the lmeval extra)
    p.add_argument("--harness", default="pysparse", choices=["pysparse", "lm-eval"],
                   help="whose tasks --tasks names: pysparse's (default) or lm-eval's (TASK, TASK:METRIC or "
                        "TASK:METRIC/FILTER; --limit is examples per task, default all)")
    p.add_argument("--num-fewshot", "--num_fewshot", type=int, default=None, help="lm-eval few-shot examples")
    p.add_argument("--include-path", "--include_path", action="append", default=None,
                   help="extra folder(s) of lm-eval task YAMLs")


def sites_of(arg: list[str]) -> list[str]:
    from ..sites import SITES

    out = []
    for s in arg:
        for x in s.split(","):
            if x == "all":
                out += [y for y in SITES if y not in out]
            elif x not in SITES:
                raise ValueError(f"unknown site {x!r}; sites: {', '.join(SITES)}, all")
            elif x not in out:
                out.append(x)
    return out


def model_slug(model: str) -> str:
    return Path(model).stem if ("/" in model or model.endswith(".gguf")) else model


def run_eval(args) -> int:
    import torch

    from .. import data, models, report
    from ..critical import kind_of
    from ..sweep import DEFAULT_GRIDS, ResultsFile, Sweep, check_values
    from ..tasks import build_suite

    t_start = time.time()
    if args.rule not in DEFAULT_GRIDS:
        raise ValueError(f"unknown rule {args.rule!r}; rules: {', '.join(DEFAULT_GRIDS)}")
    sites = sites_of(args.site)
    if args.grid:
        check_values(args.rule, args.grid)
    layers = [int(x) for x in args.layers.split(",")] if args.layers else None
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.backend == "engine" and any(s not in ("input", "intermediate", "all_inputs", "gate") for s in sites):
        raise ValueError("the engine backend's sites are input, intermediate, all_inputs and gate")
    progress = not args.quiet
    out = Path(args.out or Path(DEFAULT_OUT) / model_slug(args.model))
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    if getattr(args, "harness", "pysparse") == "lm-eval":
        try:
            from ..lmeval.harness import build_tasks
        except ImportError as e:
            raise RuntimeError(f"{e}; install the extra: pip install '.[lmeval]'") from None
        tasks = build_tasks(args.tasks, args.limit, args.num_fewshot, args.include_path, args.seed, progress)
    else:
        tasks = build_suite(args.tasks, args.budget, args.limit, args.seed, progress=progress)
    print(f"loading {args.model} ...", file=sys.stderr, flush=True)
    if args.backend == "engine":
        from ..engine import Model

        if args.rule == "threshold":
            raise ValueError("the threshold rule is calibrated with torch hooks: use --backend torch")
        model = Model.load(args.model, threads=args.threads)
        tok = model.tokenizer
    else:
        model, tok = models.load_hf(args.model, dtype=getattr(torch, args.dtype), progress=progress)
    calib = data.split_docs(data.load("wikipedia", progress=progress), "calib") if args.rule == "threshold" else None
    extra = {"budget": args.budget, "limit": args.limit, "seed": args.seed, "dtype": args.dtype}
    for site in sites:
        sw = Sweep(model, tok, tasks, site, args.rule, results=results, model_id=model_slug(args.model),
                   layers=layers, batch_size=args.batch_size, progress=progress, calib_docs=calib,
                   seed=args.seed, extra=extra, criterion=args.criterion)
        print(f"[{site}] {len(sw.done)} point(s) already in {results}", file=sys.stderr, flush=True)
        # the criterion's crossing first, then the other kind's, so the report brackets both (points are shared)
        kinds = {kind_of(r) for r in sw.dense_point()["tasks"].values()}
        crits = [args.criterion] + [k for k in ("tasks", "fidelity") if k != args.criterion and k in kinds]
        if args.bisect:
            for c in crits:
                sw.bisect(args.grid or None, criterion=c)
        else:
            sw.run(args.grid or None)
        if args.refine:
            for c in crits:
                sw.refine(args.refine, criterion=c)
    recs = ResultsFile(results).records()
    summary = report.build(recs, n_boot=args.n_boot, seed=args.seed, criterion=args.criterion)
    report.write_all(summary, recs, out)
    print(report.markdown_table(summary))
    print(f"\nresults: {results}\nreport: {out / 'summary.md'} (+ JSON and PNG plots)  "
          f"[{time.time() - t_start:.0f} s]")
    return 0
