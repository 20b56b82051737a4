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
    p.add_argument("--threads", type=int, default=None, help="torch threads, or engine threads with --backend engine (default: all cores); with "
                        "--executor ray: threads and declared CPUs of each worker (default 1)")
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
    g = p.add_argument_group("distributed runs (docs/ray.md; the ray extra: pip install 'pysparse[ray]')")
    g.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="local (default): every point in this process, one after another; ray: the points become "
                        "Ray tasks on worker processes (an actor per worker holds the model; a grid's points all "
                        "run in parallel, a bisection evaluates --workers candidates per round and decides in the "
                        "same order); this process appends the results to the same resumable results.jsonl")
    g.add_argument("--address", default=None, metavar="ADDR",
                   help="with --executor ray: join the Ray cluster at ADDR (HOST:PORT of `ray start --head`, "
                        "ray://HOST:PORT or auto); default: start a local Ray runtime for this run")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="with --executor ray: worker processes (actors), each loading the model once and using "
                        "--threads CPUs (default: as many as the cluster's CPUs allow)")
    g.add_argument("--retries", type=int, default=2, metavar="N",
                   help="with --executor ray: times a point is retried when its worker dies (killed, node lost) "
                        "before it is written as failed and the run goes on (default 2)")
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


class EvalWorker:
    """What a Ray worker loads for `pysparse sweep|critical --executor ray` (pysparse.executors.ray): the model
    (torch or engine) and the tasks, built from the same options as the driver's, so the configuration hashes
    agree; models and data come from the worker node's own cache."""

    KEYS = ("model", "backend", "dtype", "rule", "tasks", "budget", "limit", "seed", "harness", "num_fewshot",
            "include_path")

    def __init__(self, args):
        self.opts = {k: getattr(args, k, None) for k in self.KEYS}

    def load(self, threads: int) -> dict:
        from types import SimpleNamespace

        a = SimpleNamespace(**self.opts, threads=threads)
        tasks = build_tasks(a, progress=False)
        model, tok = load_model(a, progress=False)
        return {"model": model, "tokenizer": tok, "tasks": tasks, "calib_docs": load_calib(a, progress=False)}


def build_tasks(args, progress: bool):
    from ..tasks import build_suite

    if (getattr(args, "harness", None) or "pysparse") == "lm-eval":
        try:
            from ..lmeval.harness import build_tasks as lm_tasks
        except ImportError as e:
            raise RuntimeError(f"{e}; install the extra: pip install '.[lmeval]'") from None
        return lm_tasks(args.tasks, args.limit, args.num_fewshot, args.include_path, args.seed, progress)
    return build_suite(args.tasks, args.budget, args.limit, args.seed, progress=progress)


def load_model(args, progress: bool):
    import torch

    from .. import models

    if args.backend == "engine":
        from ..engine import Model

        if args.rule == "threshold":
            raise ValueError("the threshold rule is calibrated with torch hooks: use --backend torch")
        model = Model.load(args.model, threads=args.threads)
        return model, model.tokenizer
    return models.load_hf(args.model, dtype=getattr(torch, args.dtype), progress=progress)


def load_calib(args, progress: bool):
    from .. import data

    return data.split_docs(data.load("wikipedia", progress=progress), "calib") if args.rule == "threshold" else None


def make_executor(args, progress: bool):
    """None for the local executor; a RayExecutor (Ray imported, the cluster joined or a local runtime started,
    the actors created but no model loaded yet) for --executor ray. Errors here come before any model loads."""
    if args.executor != "ray":
        if args.address or args.workers:
            raise ValueError("--address and --workers go with --executor ray")
        return None
    from ..executors.ray import RayExecutor, require_ray

    require_ray()
    return RayExecutor(EvalWorker(args), address=args.address, workers=args.workers,
                       cpus_per_worker=args.threads or 1, retries=args.retries, progress=progress)


def run_eval(args) -> int:
    from .. import report
    from ..critical import kind_of
    from ..sweep import DEFAULT_GRIDS, ResultsFile, Sweep, check_values, default_grid

    t_start = time.time()
    if args.rule not in DEFAULT_GRIDS:
        raise ValueError(f"unknown rule {args.rule!r}; rules: {', '.join(DEFAULT_GRIDS)}")
    sites = sites_of(args.site)
    if args.grid:
        check_values(args.rule, args.grid)
    layers = [int(x) for x in args.layers.split(",")] if args.layers else None
    if args.backend == "engine":
        from ..engine.model import SITES as ENGINE_SITES  # only the engine backend needs the C++ extension here

        if any(s not in ENGINE_SITES for s in sites):
            raise ValueError(f"the engine backend's sites are {', '.join(ENGINE_SITES)}")
    if args.backend == "engine" and args.rule == "threshold":
        raise ValueError("the threshold rule is calibrated with torch hooks: use --backend torch")
    progress = not args.quiet
    executor = make_executor(args, progress) if hasattr(args, "executor") else None
    try:
        out = Path(args.out or Path(DEFAULT_OUT) / model_slug(args.model))
        out.mkdir(parents=True, exist_ok=True)
        results = out / "results.jsonl"
        tasks = build_tasks(args, progress)
        extra = {"budget": args.budget, "limit": args.limit, "seed": args.seed, "dtype": args.dtype}
        common = dict(results=results, model_id=model_slug(args.model), layers=layers, batch_size=args.batch_size,
                      progress=progress, seed=args.seed, extra=extra, criterion=args.criterion)
        if executor is None:
            if args.threads:
                import torch

                torch.set_num_threads(args.threads)
            print(f"loading {args.model} ...", file=sys.stderr, flush=True)
            model, tok = load_model(args, progress)
            calib = load_calib(args, progress)

            def make(site):
                return Sweep(model, tok, tasks, site, args.rule, calib_docs=calib, **common)
        else:
            print(f"{args.model} on {executor.slots} Ray worker(s)", file=sys.stderr, flush=True)

            def make(site):
                return Sweep(None, None, tasks, site, args.rule, executor=executor, backend=args.backend, **common)

            _expect(executor, [make(site) for site in sites], args, default_grid(args.rule))
        for site in sites:
            sw = make(site)  # made here, after the previous site's points (and the shared dense point) are in
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
            if sw.failed:
                print(f"[{site}] {len(sw.failed)} point(s) failed (written as failed; a rerun retries them): "
                      + ", ".join(f"{v:g}" for v in sorted(sw.failed)), file=sys.stderr, flush=True)
    finally:
        if executor is not None:
            executor.close()
    recs = ResultsFile(results).records()
    summary = report.build(recs, n_boot=args.n_boot, seed=args.seed, criterion=args.criterion)
    report.write_all(summary, recs, out)
    print(report.markdown_table(summary))
    print(f"\nresults: {results}\nreport: {out / 'summary.md'} (+ JSON and PNG plots)  "
          f"[{time.time() - t_start:.0f} s]")
    return 0


def _expect(executor, sweeps, args, default):
    """The run's expected number of points, for the driver's progress bar (exact for a grid, an estimate for
    bisection; the bar's total grows if the run needs more)."""
    from ..executors.ray import bisection_estimate
    from ..sweep import DENSE_VALUE

    grid = [v for v in (args.grid or default) if v != DENSE_VALUE[args.rule]]
    n = 0 if sweeps[0].dense is not None else 1
    for sw in sweeps:
        missing = [v for v in grid if round(v, 9) not in sw.done]
        n += bisection_estimate(len(missing), executor.slots) if args.bisect else len(missing)
    executor.expect(n)
