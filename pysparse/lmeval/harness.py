"""lm-eval tasks as pysparse tasks: sweeps, bisection, critical sparsity and reports over lm-eval's metrics.

`LMEvalTask.evaluate(ctx)` runs one lm-eval task through `PysparseLM` on the sweep's model and sparsifier (the
rule of the point being measured is already set), with per-sample logging, and turns lm-eval's per-sample
metric values into the per-example num/den arrays that pysparse.critical resamples for its bootstrap:

    mean metrics (acc, acc_norm, exact_match, ...)  num = value,        den = 1,      score = mean
    perplexity (lambada style, exp of -mean ll)     num = -ll,          den = 1,      score = exp
    word_perplexity, byte_perplexity                num = -ll,          den = words/bytes, score = exp
    bits_per_byte                                   num = -ll / ln 2,   den = bytes,  score = mean

Task names are `TASK`, `TASK:METRIC` or `TASK:METRIC/FILTER` (default: the task's first metric and first
filter, e.g. acc, or exact_match/strict-match for gsm8k).
"""

from __future__ import annotations

import difflib
import functools
import math
import time

from ..tasks.base import EvalContext, Task, TaskResult, score_from

_WEIGHTED = {"word_perplexity", "byte_perplexity"}


def task_manager(include_path=None):
    """lm-eval's TaskManager over its own tasks, pysparse's materialised offline tasks and `include_path`
    (one per set of paths and process: indexing lm-eval's thousands of YAMLs takes seconds)."""
    from .offline import task_dir

    paths = [str(task_dir())]
    for p in include_path or []:
        paths += [x for x in str(p).split(":") if x]
    return _task_manager(tuple(paths))


@functools.lru_cache(maxsize=4)
def _task_manager(paths: tuple):
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=list(paths))


def check_task_names(names: list[str], tm) -> None:
    """A clear error for a task lm-eval does not know (before any model loads)."""
    from . import offline

    known = set(tm.all_tasks)
    for n in names:
        if n in known or tm.match_tasks([n]):
            continue
        hint = ""
        if n in offline.TASKS or n.startswith("pysparse_bigbench_"):
            hint = " (an offline task: run `pysparse data lmeval` first to write it into the cache)"
        close = difflib.get_close_matches(n, known, n=3)
        raise ValueError(f"unknown lm-eval task {n!r}{hint}"
                         + (f"; did you mean {', '.join(close)}?" if close else "; list them: lm-eval ls tasks"))


def split_spec(spec: str) -> tuple[str, str | None, str | None]:
    """'task[:metric[/filter]]' -> (task, metric, filter)."""
    task, _, rest = spec.partition(":")
    metric, _, filt = rest.partition("/")
    return task, metric or None, filt or None


class LMEvalTask(Task):
    def __init__(self, spec: str, tm, limit=None, num_fewshot: int | None = None, seed: int = 0):
        self.name, self.metric, self.filter = split_spec(spec)
        self.tm, self.limit, self.num_fewshot, self.seed = tm, limit, num_fewshot, seed

    def config(self) -> dict:
        import lm_eval

        return {"harness": "lm-eval", "lm_eval": getattr(lm_eval, "__version__", "?"), "task": self.name,
                "metric": self.metric, "filter": self.filter, "limit": self.limit, "num_fewshot": self.num_fewshot,
                "seed": self.seed}

    def prepare(self, ctx: EvalContext) -> None:
        pass

    def run(self, ctx: EvalContext) -> dict:
        """lm-eval's results dict (with per-sample records) for this task on the model as it is now."""
        from lm_eval import simple_evaluate

        from .model import PysparseLM

        lm = PysparseLM(eval_context=ctx, batch_size=ctx.batch_size)
        res = simple_evaluate(model=lm, tasks=[self.name], num_fewshot=self.num_fewshot, limit=self.limit,
                              log_samples=True, bootstrap_iters=0, task_manager=self.tm, verbosity="ERROR",
                              random_seed=self.seed, numpy_random_seed=self.seed, torch_random_seed=self.seed,
                              fewshot_random_seed=self.seed)
        if set(res["samples"]) != {self.name}:
            raise ValueError(f"{self.name} is an lm-eval group or tag ({', '.join(sorted(res['samples']))}); "
                             "name its tasks one by one")
        return res

    def evaluate(self, ctx: EvalContext) -> list[TaskResult]:
        t0 = time.perf_counter()
        res = self.run(ctx)
        return [to_task_result(res, self.name, self.metric, self.filter, time.perf_counter() - t0)]


def pick_metric(res: dict, task: str, metric: str | None, filt: str | None) -> tuple[str, str]:
    """(metric, filter): the requested ones, checked, or the task's first metric under its first filter."""
    keys = [k for k in res["results"][task] if "," in k and not k.split(",")[0].endswith("_stderr")]
    pairs = [tuple(k.split(",", 1)) for k in keys]
    metric_order = [m["metric"] for m in res["configs"][task].get("metric_list", []) if isinstance(m, dict)]
    filters = list(dict.fromkeys(f for _, f in pairs))
    m = metric or next((x for x in metric_order if any(p[0] == x for p in pairs)), pairs[0][0])
    f = filt or next((f for f in filters if (m, f) in pairs), None)
    if (m, f) not in pairs:
        raise ValueError(f"{task}: no metric {m!r} under filter {f!r}; available: "
                         + ", ".join(f"{a}/{b}" for a, b in pairs))
    return m, f


def to_task_result(res: dict, task: str, metric: str | None = None, filt: str | None = None,
                   seconds: float = 0.0) -> TaskResult:
    m, f = pick_metric(res, task, metric, filt)
    samples = sorted((s for s in res["samples"][task] if s["filter"] == f), key=lambda s: s["doc_id"])
    hib = bool(res["higher_is_better"][task][m])
    num, den = [], []
    if m in _WEIGHTED or m == "bits_per_byte":
        for s in samples:
            ll, n = s[m]
            num.append(-ll / math.log(2) if m == "bits_per_byte" else -ll)
            den.append(float(n))
        transform = "mean" if m == "bits_per_byte" else "exp"
    elif m == "perplexity":
        num, den, transform = [-float(s[m]) for s in samples], [1.0] * len(samples), "exp"
    else:
        for s in samples:
            v = s[m]
            if not isinstance(v, (int, float, bool)):
                raise ValueError(f"{task}: metric {m!r} has per-sample values of type {type(v).__name__}; only "
                                 "mean-aggregated metrics and perplexities can be resampled")
            num.append(float(v))
            den.append(1.0)
        transform = "mean"
    if not num:
        raise ValueError(f"{task}: lm-eval returned no samples")
    score = float(score_from(num, den, transform))
    agg = res["results"][task][f"{m},{f}"]
    if not math.isclose(score, float(agg), rel_tol=1e-6, abs_tol=1e-9):
        raise RuntimeError(f"{task}: per-sample {m} gives {score}, lm-eval aggregated {agg}")
    metrics = {k.replace(",", "/"): v for k, v in res["results"][task].items()
               if isinstance(v, (int, float)) and "_stderr" not in k}
    metrics["n"] = len(num)
    return TaskResult(task, m if f == "none" else f"{m}/{f}", hib, score, metrics, num, den, transform,
                      seconds=seconds)


def build_tasks(specs, limit=None, num_fewshot: int | None = None, include_path=None, seed: int = 0,
                progress: bool = True) -> list[LMEvalTask]:
    """LMEvalTasks for 'T1,T2:metric,...', offline tasks materialised on first use, names checked."""
    from . import offline

    if isinstance(specs, str):
        specs = [s for s in specs.split(",") if s]
    if not specs or specs == ["default"]:
        raise ValueError("--harness lm-eval needs --tasks naming lm-eval tasks, e.g. "
                         "pysparse_wikipedia_cloze,pysparse_analogies")
    names = [split_spec(s)[0] for s in specs]
    missing = [n for n in names if n in offline.TASKS and not offline.is_materialised(n)]
    if missing:
        offline.materialise(missing, progress=progress)
        _task_manager.cache_clear()
    tm = task_manager(include_path)
    check_task_names(names, tm)
    return [LMEvalTask(s, tm, limit=limit, num_fewshot=num_fewshot, seed=seed) for s in specs]
