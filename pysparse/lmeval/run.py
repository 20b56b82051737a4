"""One lm-eval run of the `pysparse` model: names and args checked first, then lm-eval's own evaluation and
result files, plus `sparsity_<date>.json` next to lm-eval's `results_<date>.json`."""

from __future__ import annotations

import json
import os
from pathlib import Path


def model_args_string(args: dict) -> str:
    """lm-eval's `k=v,k=v` form (values must not hold commas: layers use ':')."""
    out = []
    for k, v in args.items():
        if v is None:
            continue
        if "," in str(v):
            raise ValueError(f"model arg {k}={v!r} holds a comma, which lm-eval's model_args cannot carry")
        out.append(f"{k}={v}")
    return ",".join(out)


def evaluate(model_args: dict, tasks: list[str], num_fewshot=None, limit=None, batch_size: int = 1,
             output_path=None, include_path=None, log_samples: bool = False, seed: int = 0,
             bootstrap_iters: int = 100000, progress: bool = True) -> dict:
    """Run lm-eval tasks on the pysparse model; returns lm-eval's results dict (sparsity in
    results["config"]["pysparse"]). With output_path, lm-eval's result files and the sparsity JSON are written."""
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker

    from . import model as _model  # registers "pysparse"
    from .harness import build_tasks

    _model.parse_sparsity(model_args.get("site", "input"), model_args.get("rule", "top_p"),
                          model_args.get("p", model_args.get("value")), model_args.get("rule_file"),
                          model_args.get("layers"), model_args.get("backend", "torch"))
    bad = [t for t in tasks if ":" in t]
    if bad:
        raise ValueError(f"task names hold ':' ({', '.join(bad)}); TASK:METRIC picks the metric of "
                         "`pysparse critical|sweep --harness lm-eval`, a run here reports every metric")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    tm = build_tasks(tasks, include_path=include_path, progress=progress)[0].tm  # names checked here
    margs = model_args_string(model_args)
    tracker = EvaluationTracker(output_path=str(output_path)) if output_path else None
    res = simple_evaluate(model="pysparse", model_args=margs, tasks=[t for t in tasks], num_fewshot=num_fewshot,
                          limit=limit, batch_size=batch_size, log_samples=log_samples, task_manager=tm,
                          evaluation_tracker=tracker, bootstrap_iters=bootstrap_iters, random_seed=seed,
                          numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed)
    if tracker is not None:
        samples = res.pop("samples", None) if log_samples else None
        tracker.save_results_aggregated(results=res, samples=samples)
        if samples:
            for name in res["configs"]:
                tracker.save_results_samples(task_name=name, samples=samples[name])
        res["sparsity_file"] = str(write_sparsity(res, tracker))
        if samples is not None:
            res["samples"] = samples
    return res


def write_sparsity(res: dict, tracker) -> Path:
    """The run's sparsity next to lm-eval's results file (same folder, same date id)."""
    out = Path(tracker.output_path)
    date_id = tracker.date_id
    if out.suffix == ".json":
        path = out.with_name(f"{out.stem}_sparsity_{date_id}.json")
    else:
        path = out / str(tracker.general_config_tracker.model_name_sanitized) / f"sparsity_{date_id}.json"
    rec = {"model_args": res["config"].get("model_args"), "tasks": sorted(res["configs"]),
           "limit": res["config"].get("limit"), "results_file": str(path.with_name(f"results_{date_id}.json"))}
    rec.update(res["config"]["pysparse"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(rec, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path
