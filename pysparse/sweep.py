"""Sweeps: evaluate one model at one site with one rule over a grid of rule values, or bisect for the 99% crossing.

Every evaluated point is appended to a JSONL results file at once (one line, flushed and fsynced), so an
interrupted sweep (Ctrl-C, a crash, a killed job) loses at most the point in progress and resumes where it
stopped: points already in the file with the same configuration hash are read back, not recomputed. The dense
model is evaluated once per (model, tasks) and shared by every site and rule in the same file.

Record ("kind": "point"): model, site, rule, value, dense, config (hash of model + site + rule + tasks),
sparsity (pooled over all tasks' tokens and hooked layers), sparsity_by_task, stats (SparsityStats.to_dict of the
whole point), tasks {name: TaskResult dict with per-example records}, retention {task: r, "suite": mean}, seconds.

Rule values: top_p p (dense at 1), top_k keep fraction (dense at 1), max_p p (dense at 0), threshold target
sparsity (dense at 0; thresholds calibrated on held-out calibration text at each target).
Bisection walks the rule's grid (for top_p the paper's grid) by halving the index interval between the last
passing and first failing grid values: ~log2(len(grid)) evaluations, and the points stay on the grid.

Who measures the points is the Sweep's executor (pysparse.executors): by default this process, one after another;
with the Ray executor (docs/ray.md) worker processes, many at once, while this Sweep (which then needs no model)
keeps the books and alone writes the results file.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from .critical import suite_retention
from .stats import SparsityStats
from .tasks.base import EvalContext, Task, TaskResult, retention

THRESHOLD = 0.99

DEFAULT_GRIDS = {
    "top_p": None,  # rules.PAPER_P_GRID
    "top_k": (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05),
    "max_p": (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7),
    "threshold": (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9),
}
DENSE_VALUE = {"top_p": 1.0, "top_k": 1.0, "max_p": 0.0, "threshold": 0.0}


def default_grid(rule: str) -> tuple[float, ...]:
    from .rules import PAPER_P_GRID

    if rule not in DEFAULT_GRIDS:
        raise ValueError(f"unknown rule {rule!r}; rules: {', '.join(DEFAULT_GRIDS)}")
    return tuple(PAPER_P_GRID) if rule == "top_p" else DEFAULT_GRIDS[rule]


def check_values(rule: str, values) -> list[float]:
    out = []
    for v in values:
        v = float(v)
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{rule} value {v} is outside [0, 1]")
        out.append(v)
    if not out:
        raise ValueError("no rule values to evaluate")
    return out


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------- results file

class ResultsFile:
    """Append-only JSONL of result records; every append is flushed and fsynced."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:  # a line cut by a crash mid-write: ignore it, it will be recomputed
                    continue
        return out

    def append(self, rec: dict) -> None:
        line = json.dumps(rec, separators=(",", ":")) + "\n"
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a line cut by a crash: end it so this record stays readable
                    line = "\n" + line
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


def load_results(path: str | Path) -> list[dict]:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such results file")
    recs = ResultsFile(p).records()
    if not recs:
        raise ValueError(f"{p}: no result records")
    return recs


# ---------------------------------------------------------------------------------------------- the sweep

class Sweep:
    """One model, one site, one rule; tasks prepared once. Call run() (grid) or bisect()."""

    def __init__(self, model, tokenizer, tasks: list[Task], site: str, rule: str = "top_p",
                 results: str | Path = "results.jsonl", model_id: str | None = None, layers=None,
                 batch_size: int = 8, progress: bool = True, calib_docs: list[dict] | None = None,
                 calib_tokens: int = 4096, seed: int = 0, extra: dict | None = None, criterion: str = "tasks",
                 executor=None, backend: str | None = None):
        from .critical import CRITERIA

        if criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {criterion!r}; criteria: {', '.join(CRITERIA)}")
        self.criterion = criterion  # which tasks' mean retention bisection tests (pysparse.critical); not hashed:
        # the measurements are the same under every criterion, only the reading differs

        if rule not in DEFAULT_GRIDS:
            raise ValueError(f"unknown rule {rule!r}; rules: {', '.join(DEFAULT_GRIDS)}")
        if not tasks:
            raise ValueError("no tasks to evaluate")
        self.model, self.tok, self.tasks, self.site, self.rule = model, tokenizer, tasks, site, rule
        self.layers = None if layers is None else sorted(int(i) for i in layers)
        # what a worker needs, besides the model, tokenizer, tasks and calibration text, to build the same Sweep
        # (pysparse.executors): every argument that enters the configuration hashes or the measurement
        self.spec = {"site": site, "rule": rule, "model_id": model_id, "layers": self.layers,
                     "batch_size": batch_size, "calib_tokens": calib_tokens, "seed": seed, "extra": extra,
                     "criterion": criterion}
        if model is None:  # a driver: the executor's workers hold the model; this process only keeps the books
            if executor is None or not getattr(executor, "remote", False):
                raise ValueError("a Sweep without a model needs a remote executor (pysparse.executors)")
            if not model_id:
                raise ValueError("a Sweep without a model needs its model_id")
            if backend not in (None, "torch", "engine"):
                raise ValueError(f"unknown backend {backend!r}; backends: torch, engine")
            if backend == "engine" and rule == "threshold":
                raise ValueError("the threshold rule is calibrated with torch hooks: use the torch backend")
            self.model_id = f"{model_id}@engine" if backend == "engine" else model_id
            self.sp = self.ctx = None
        else:
            self._attach_model(model, tokenizer, model_id, batch_size, progress)
        self.file = None if results is None else ResultsFile(results)
        if executor is None:
            from .executors import LocalExecutor

            executor = LocalExecutor()
        self.executor = executor
        self.progress = progress
        self.calib_docs, self.calib_tokens, self.seed = calib_docs, calib_tokens, seed
        task_cfg = {t.name: t.config() for t in tasks}
        self.dense_key = _hash({"model": self.model_id, "tasks": task_cfg, "extra": extra})
        self.key = _hash({"model": self.model_id, "tasks": task_cfg, "site": site, "rule": rule,
                          "layers": self.layers, "extra": extra})
        self.dense = None
        self.done: dict[float, dict] = {}
        self.failed: dict[float, dict] = {}  # points whose evaluation failed in this run (remote executors)
        for r in (self.file.records() if self.file else []):
            if r.get("kind") != "point":
                continue
            if r.get("dense") and r.get("dense_key") == self.dense_key:
                self.dense = r
            elif r.get("config") == self.key:
                self.done[round(r["value"], 9)] = r
        self._calibration = None
        self.on_point = None  # callback(record) after each new point (tests use it to simulate interruptions)

    def _attach_model(self, model, tokenizer, model_id, batch_size, progress):
        from .engine.model import Model as EngineModel
        from .sites import Sparsifier

        site, rule = self.site, self.rule
        self.model_id = model_id or getattr(model, "pysparse_name", None) or type(model).__name__
        if isinstance(model, EngineModel):  # the engine backend: same tasks, logits from the C++ runtime
            from .engine.evaluate import EngineEvalContext, EngineSparsifier

            if rule == "threshold":
                raise ValueError("the threshold rule is calibrated with torch hooks: use the torch backend")
            # "@engine": its points and cached dense references never mix with the torch backend's
            self.model_id = f"{model_id or model.path.stem}@engine"
            self.sp = EngineSparsifier(model, site, layers=self.layers)
            self.ctx = EngineEvalContext(model, self.sp, batch_size=batch_size, progress=progress,
                                         model_id=self.model_id)
        else:
            self.sp = Sparsifier(model, site, None, layers=self.layers)
            self.ctx = EvalContext(model, tokenizer, self.sp, batch_size=batch_size, progress=progress,
                                   model_id=self.model_id)

    # -- one point ------------------------------------------------------------------------------
    def _make_rule(self, value: float):
        from .rules import make_rule

        if self.rule == "threshold":
            from .calibrate import collect_calibration

            if self._calibration is None:  # one dense pass over the calibration text serves every target
                self._calibration = collect_calibration(self.model, self.site, self._calib_batches(),
                                                        layers=self.layers)
            return self._calibration.thresholds(value)
        return make_rule(self.rule, value)

    def _calib_batches(self, L: int = 256):
        import torch

        if not self.calib_docs:
            raise ValueError("the threshold rule needs calibration text (calib_docs)")
        ids = []
        for d in self.calib_docs:
            ids += self.ctx.bos() + self.ctx.encode(d["text"])
            if len(ids) >= self.calib_tokens:
                break
        L = min(L, max(2, len(ids)))
        chunks = [ids[i:i + L] for i in range(0, min(len(ids), self.calib_tokens) - L + 1, L)]
        if not chunks:
            raise ValueError(f"calibration text is too short (need at least {L} tokens)")
        return [{"input_ids": torch.tensor(chunks[i:i + 4]), "attention_mask": torch.ones(len(chunks[i:i + 4]), L,
                 dtype=torch.long)} for i in range(0, len(chunks), 4)]

    def _evaluate(self, value: float | None) -> dict:
        dense = value is None
        t0 = time.perf_counter()
        self.sp.rule = None if dense else self._make_rule(value)
        total = SparsityStats(self.sp.tensors, self.sp.n_layers)
        results: dict[str, dict] = {}
        by_task = {}
        self.sp.attach()
        try:
            for task in self.tasks:
                self.sp.stats.reset()
                for r in task.evaluate(self.ctx):
                    r.sparsity = None
                    results[r.task] = r.to_dict()
                by_task[task.name] = self.sp.stats.overall()
                total.merge(self.sp.stats)
        finally:
            self.sp.detach()
            self.sp.rule = None
        rec = {"kind": "point", "model": self.model_id, "site": self.site, "rule": self.rule,
               "value": DENSE_VALUE[self.rule] if dense else value, "dense": dense,
               "dense_key": self.dense_key, "config": self.key, "layers": self.layers,
               "sparsity": 0.0 if dense else total.overall(), "sparsity_by_task": by_task,
               "sparsity_prompt": _safe(total, "prompt"), "sparsity_generated": _safe(total, "generated"),
               "stats": total.to_dict(), "tasks": results, "seconds": time.perf_counter() - t0,
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if dense:
            rec["natural_sparsity"] = total.overall()
        return rec

    def evaluate(self, value: float | None) -> dict:
        """Measure one point (None: dense) in this process: the record without retention, nothing written.
        Executors call this (the local one here, a remote one on a worker's copy of this Sweep)."""
        if self.sp is None:
            raise RuntimeError("this Sweep has no model: its points are evaluated by its executor's workers")
        return self._evaluate(value)

    def _finish(self, value: float | None, rec: dict) -> dict:
        """Book a measured point: retention against the dense point, one line in the results file, on_point."""
        if value is None:
            rec["retention"] = {t: 1.0 for t in rec["tasks"]} | {"suite": 1.0}
            self.dense = rec
        else:
            dense = self.dense
            rets = {t: retention(r["score"], dense["tasks"][t]["score"], r["higher_is_better"])
                    for t, r in rec["tasks"].items()}
            rec["retention"] = rets
            rets["suite"] = suite_retention(rec, self.criterion)
            self.done[round(value, 9)] = rec
            self.failed.pop(round(value, 9), None)
        if self.file:
            self.file.append(rec)
        if self.on_point:
            self.on_point(rec)
        return rec

    def _fail(self, value: float | None, error: str) -> None:
        """Book a point the executor gave up on (its worker died more often than the retries allow, or it
        raised): a "failed" line in the results file (read as "not done": a rerun evaluates it again)."""
        rec = {"kind": "failed", "model": self.model_id, "site": self.site, "rule": self.rule,
               "value": DENSE_VALUE[self.rule] if value is None else value, "dense": value is None,
               "dense_key": self.dense_key, "config": self.key, "layers": self.layers, "error": error,
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if self.file:
            self.file.append(rec)
        if value is None:
            raise RuntimeError(f"{self.site} {self.rule}: the dense point failed: {error}")
        self.failed[round(value, 9)] = rec

    def evaluate_many(self, values, desc: str | None = None) -> dict[float, dict]:
        """Measure the points of `values` that are not done yet (and the dense point if missing) through the
        executor, booking each as it arrives; returns {round(value, 9): record} of the points now done.

        The local executor measures them one after another in order; a remote one in parallel, in the order
        they finish. A point finished before the dense point waits for it (its retention needs the dense
        scores). Failed points (remote executors only) are left out of the result and kept in self.failed."""
        values = check_values(self.rule, values) if len(values) else []
        todo, seen = [], set()
        for v in values:
            k = round(v, 9)
            if k not in self.done and k not in seen and v != DENSE_VALUE[self.rule]:
                todo.append(v)
                seen.add(k)
        batch = ([None] if self.dense is None else []) + todo
        waiting = []
        if batch:
            for value, rec, error in self.executor.map(self, batch, desc=desc or f"{self.site} {self.rule}"):
                if error is not None:
                    self._fail(value, error)
                elif value is None:
                    self._finish(None, rec)
                    for v, r in waiting:
                        self._finish(v, r)
                    waiting = []
                elif self.dense is None:
                    waiting.append((value, rec))
                else:
                    self._finish(value, rec)
        return {round(v, 9): self.done[round(v, 9)] for v in values if round(v, 9) in self.done}

    def dense_point(self) -> dict:
        if self.dense is None:
            self.evaluate_many([])
        return self.dense

    def point(self, value: float) -> dict:
        value = check_values(self.rule, [value])[0]
        k = round(value, 9)
        got = self.evaluate_many([value])
        if k not in got:
            raise RuntimeError(f"{self.site} {self.rule} {value}: {self.failed[k]['error']}")
        return got[k]

    # -- strategies -----------------------------------------------------------------------------
    def run(self, values=None) -> list[dict]:
        """Evaluate the dense model and every value of the grid (skipping points already in the file); with a
        remote executor every point at once, in parallel. Points that failed are left out."""
        values = check_values(self.rule, default_grid(self.rule) if values is None else values)
        got = self.evaluate_many(values)
        return [got[round(v, 9)] for v in values if v != DENSE_VALUE[self.rule] and round(v, 9) in got]

    def bisect(self, values=None, threshold: float = THRESHOLD, max_evals: int | None = None,
               criterion: str | None = None) -> list[dict]:
        """Halve the grid-index interval [last passing, first failing] on the suite retention until adjacent.

        The suite retention is the mean under `criterion` (default: the sweep's); points already evaluated (by
        an earlier bisection for another criterion, or a resumed run) are reused.

        With an executor of more than one slot (parallel workers) each round evaluates, in parallel, the next
        point the bisection needs and the points the following decisions may need (the top of the decision
        tree below the current interval, breadth first, as many as there are slots), then replays the decisions
        in order on the measured points: the same decisions and returned points as one at a time; the
        speculative points that no decision reads are measured (and written) as well."""
        criterion = criterion or self.criterion
        grid = check_values(self.rule, default_grid(self.rule) if values is None else values)
        grid = [v for v in grid if v != DENSE_VALUE[self.rule]]
        # order from dense to extreme
        grid.sort(reverse=DENSE_VALUE[self.rule] == 1.0)
        self.dense_point()
        width = max(1, int(getattr(self.executor, "slots", 1)))
        lo, hi = -1, len(grid)  # lo: passing index (-1 = dense), hi: failing index (len = assumed)
        out = []
        n = 0

        def passes(rec):
            return suite_retention(rec, criterion) >= threshold

        while hi - lo > 1 and (max_evals is None or n < max_evals):
            mid = (lo + hi) // 2
            rec = self.done.get(round(grid[mid], 9))
            if rec is None:
                if round(grid[mid], 9) in self.failed:  # no decision without it: stop here, keep the rest
                    break
                budget = width if max_evals is None else min(width, max_evals - n)
                self.evaluate_many(_speculate(grid, lo, hi, budget, self.done, passes))
                continue
            out.append(rec)
            n += 1
            if passes(rec):
                lo = mid
            else:
                hi = mid
        return out

    def refine(self, step: float, criterion: str | None = None, threshold: float = THRESHOLD) -> list[dict]:
        """Evaluate rule values every `step` strictly between the two measured values that bracket the crossing
        (the last passing and the first failing point, from dense on), so the crossing is resolved finer than the
        grid a bisection walked. Nothing to do when no measured point fails."""
        if not 0 < step < 1:
            raise ValueError(f"refine step must be in (0, 1), got {step}")
        criterion = criterion or self.criterion
        prev = DENSE_VALUE[self.rule]
        for r in self.points():
            if suite_retention(r, criterion) < threshold:
                lo, hi = sorted((prev, r["value"]))
                vals, k = [], 1
                while (v := round(hi - k * step, 9)) > lo + 1e-9:
                    vals.append(v)
                    k += 1
                got = self.evaluate_many(vals)
                return [got[round(v, 9)] for v in vals if round(v, 9) in got]
            prev = r["value"]
        return []

    def points(self) -> list[dict]:
        return sorted(self.done.values(), key=lambda r: r["sparsity"])


def _speculate(grid, lo, hi, budget, done, passes) -> list[float]:
    """The grid values the next bisection decisions may read, breadth first from the interval (lo, hi): a measured
    midpoint is followed down its one branch, an unmeasured one is a candidate and both its branches are
    followed. At most `budget` values (at least the next midpoint)."""
    out, queue = [], [(lo, hi)]
    while queue and len(out) < max(1, budget):
        a, b = queue.pop(0)
        if b - a <= 1:
            continue
        m = (a + b) // 2
        rec = done.get(round(grid[m], 9))
        if rec is None:
            out.append(grid[m])
            queue += [(a, m), (m, b)]
        else:
            queue.append((m, b) if passes(rec) else (a, m))
    return out


def _safe(stats: SparsityStats, phase: str):
    try:
        if stats.totals(phase=phase).sum() == 0:
            return None
        return stats.overall(phase=phase)
    except (ValueError, ZeroDivisionError):
        return None


def split_records(records: list[dict]) -> dict:
    """Group result records: {(model, site, rule, config): (dense_record, [points])}."""
    dense = {r["dense_key"]: r for r in records if r.get("kind") == "point" and r.get("dense")}
    groups: dict = {}
    for r in records:
        if r.get("kind") != "point" or r.get("dense"):
            continue
        d = dense.get(r.get("dense_key"))
        if d is None:
            continue
        k = (r["model"], r["site"], r["rule"], r["config"])
        groups.setdefault(k, (d, []))[1].append(r)
    # a later duplicate of the same value (re-run) replaces the earlier one
    for k, (d, pts) in groups.items():
        by_v = {}
        for p in pts:
            by_v[round(p["value"], 9)] = p
        groups[k] = (d, sorted(by_v.values(), key=lambda p: p["sparsity"]))
    return groups
