"""Per-layer sparsity allocation: more weight bytes skipped per token than one p for every layer, at the same
quality target. In the spirit of TEAL's greedy search (Liu et al., 2024), on the engine:

1. Calibration (the `calib` split of Wikipedia, never used by the evaluation tasks): the KL divergence of the
   next-token distribution from the dense model's when ONE layer runs at a rule value and all others are dense,
   for every layer and every candidate value (a few grid values around the uniform critical p), and that
   layer's sparsity there.
2. Greedy path: from all-dense, repeatedly make the one move (one layer one grid step sparser) with the most
   weight bytes skipped per unit of added KL (per-layer KLs summed: the additive estimate). Every step is a
   per-layer allocation with more bytes skipped than the one before.
3. Validation on the held-out split (the evaluation suite, as for the uniform critical p): bisection over the
   path for the last step whose suite retention stays >= the target. The chosen step is the allocation.

Weight bytes a site skips in layer l at sparsity s: s x the bytes of the matrices the site thins (input: gate and
up; intermediate: down; gate: up and down; all_inputs: all three, with the pooled sparsity of both points, an
approximation). Calibration records are appended to a JSONL file as measured, so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np

from .sweep import ResultsFile, Sweep, THRESHOLD, check_values, default_grid

SITE_MATRICES = {"input": ("ffn_gate", "ffn_up"), "intermediate": ("ffn_down",), "gate": ("ffn_up", "ffn_down"),
                 "up": ("ffn_gate", "ffn_down"), "all_inputs": ("ffn_gate", "ffn_up", "ffn_down")}


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def site_bytes(model, site: str) -> list[int]:
    """Per layer: bytes of the FFN matrices `site` thins that the engine's sparse kernels skip (all of them at
    sparsity 1). Matrices the kernel policy runs dense on the masked vector (a type in _core.masked_dense_types(),
    Q6_K by default; the down matrix unless _core.sparse_down()) are read whole at any sparsity: they count 0."""
    from . import _core
    from .engine.gguf import GGUFFile

    f = GGUFFile(model.path)
    dense_types = set(_core.masked_dense_types())
    out = []
    for il in range(model.n_layer):
        t = {m: f.tensors.get(f"blk.{il}.{m}.weight") for m in SITE_MATRICES[site]}
        t = {m: v for m, v in t.items() if v is not None}
        if "ffn_gate" in t and "ffn_up" in t and any(t[m].type in dense_types for m in ("ffn_gate", "ffn_up")):
            t.pop("ffn_gate"), t.pop("ffn_up")  # input-sparse gate and up run dense together
        if "ffn_down" in t and (t["ffn_down"].type in dense_types or not _core.sparse_down()):
            t.pop("ffn_down")
        out.append(sum(v.nbytes for v in t.values()))  # (up at the gate site, gate at up: row-skip, any type)
    return out


def levels_around(p_crit: float, n_side: int = 3, rule: str = "top_p") -> list[float]:
    """Candidate values for the allocation: the rule's grid from n_side steps denser to n_side steps sparser than
    the uniform critical value (dense excluded), ordered from dense to sparse."""
    grid = [v for v in default_grid(rule) if v != 1.0]
    i = min(range(len(grid)), key=lambda j: abs(grid[j] - p_crit))
    return grid[max(0, i - n_side): i + n_side + 1]


def calibration_windows(tokenizer, n_tokens: int = 256, window: int = 128) -> list[np.ndarray]:
    """Token windows from the calibration split of Wikipedia (disjoint from every task's evaluation text)."""
    from . import data

    if n_tokens < 2 or window < 2:
        raise ValueError(f"calibration needs at least 2 tokens, got {n_tokens} (window {window})")
    docs = data.split_docs(data.load("wikipedia", progress=False), "calib")
    ids: list[int] = []
    for d in docs:
        ids += tokenizer(d["text"], add_special_tokens=False)["input_ids"]
        if len(ids) >= n_tokens:
            break
    window = min(window, n_tokens, len(ids))
    return [np.asarray(ids[i:i + window]) for i in range(0, min(len(ids), n_tokens) - window + 1, window)]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x -= x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def _kl(model, windows, dense_logp) -> float:
    kls = []
    for w, d in zip(windows, dense_logp):
        lp = _log_softmax(model.logits(w))
        kls.append((np.exp(d) * (d - lp)).sum(axis=-1))
    return float(np.concatenate(kls).mean())


def layer_groups(n_layer: int, group: int = 0) -> list[list[int]]:
    """Consecutive layers moved together by the search: `group` layers each (1 = truly per layer; 0 = automatic,
    at most 10 groups, which bounds the calibration cost to 10 x levels evaluations)."""
    if group < 0:
        raise ValueError(f"layer group size must be >= 0, got {group}")
    g = group or math.ceil(n_layer / 10)
    return [list(range(i, min(i + g, n_layer))) for i in range(0, n_layer, g)]


def sensitivity(model, site: str, rule: str, levels: list[float], windows, groups=None, results=None,
                progress: bool = True, model_id: str = "") -> dict:
    """Per group of layers (default: each layer) and level: KL to dense (that group alone sparse) and its mean
    sparsity, on `windows`. Returns {"kl": [n_groups][n_levels], "sparsity": [n_groups][n_levels], "levels",
    "groups"}."""
    from tqdm import tqdm

    levels = check_values(rule, levels)
    key = _hash({"model": model_id, "site": site, "rule": rule,
                 "windows": [_hash(w.tolist()) for w in windows]})
    file = ResultsFile(results) if results else None
    done = {}
    if file:
        for r in file.records():
            if r.get("kind") == "sensitivity" and r.get("key") == key:
                done[(r["layer"], round(r["value"], 9))] = r
    model.clear_sparsity()
    dense_logp = [_log_softmax(model.logits(w)) for w in windows]
    groups = groups or [[il] for il in range(model.n_layer)]
    n = len(groups)
    kl = np.zeros((n, len(levels)))
    sp = np.zeros((n, len(levels)))
    todo = [(il, k) for il in range(n) for k in range(len(levels))]
    bar = tqdm(todo, desc=f"calibrate {site} per layer", unit="eval", disable=not progress)
    try:
        for il, k in bar:
            r = done.get((groups[il][0], round(levels[k], 9)))
            if r is None or r.get("layers") != groups[il]:
                model.set_sparsity(site, rule, {j: levels[k] for j in groups[il]})
                kl_v = _kl(model, windows, dense_logp)
                per_layer = model.stats()["per_layer"]
                r = {"kind": "sensitivity", "key": key, "site": site, "rule": rule, "layer": groups[il][0],
                     "layers": groups[il], "value": levels[k], "kl": kl_v,
                     "sparsity": float(np.mean([per_layer[j] for j in groups[il]]))}
                if file:
                    file.append(r)
            kl[il, k], sp[il, k] = r["kl"], r["sparsity"]
    finally:
        model.clear_sparsity()
    return {"kl": kl.tolist(), "sparsity": sp.tolist(), "levels": levels, "groups": groups, "key": key}


def greedy_path(table: dict, layer_bytes: list[int]) -> list[dict]:
    """All-dense first, then one move per step: the group whose next level skips the most bytes per added KL.
    Each step: {"values": per-layer rule value (None = dense), "est_kl", "est_skipped_bytes"}."""
    groups = table.get("groups") or [[il] for il in range(len(layer_bytes))]
    kl = np.maximum.accumulate(np.maximum(np.asarray(table["kl"]), 0.0), axis=1)  # noise must not make it cheaper
    sp = np.maximum.accumulate(np.asarray(table["sparsity"]), axis=1)
    levels = table["levels"]
    n, L = kl.shape
    b = np.asarray([sum(layer_bytes[j] for j in g) for g in groups], dtype=np.float64)
    pos = np.full(n, -1)  # -1 = dense
    n_layer = len(layer_bytes)
    path = [{"values": [None] * n_layer, "est_kl": 0.0, "est_skipped_bytes": 0.0}]
    cur_kl = np.zeros(n)
    cur_skip = np.zeros(n)
    while True:
        best, best_score = None, -math.inf
        for il in range(n):
            k = pos[il] + 1
            if k >= L:
                continue
            gain = sp[il, k] * b[il] - cur_skip[il]
            cost = kl[il, k] - cur_kl[il]
            score = gain / max(cost, 1e-9)
            if score > best_score:
                best, best_score = il, score
        if best is None:
            return path
        k = pos[best] = pos[best] + 1
        cur_kl[best], cur_skip[best] = kl[best, k], sp[best, k] * b[best]
        values = [None] * n_layer
        for g, p in zip(groups, pos):
            for j in g:
                values[j] = None if p < 0 else levels[p]
        path.append({"values": values, "est_kl": float(cur_kl.sum()),
                     "est_skipped_bytes": float(cur_skip.sum())})


def suite_tasks(task_results: dict) -> list[str]:
    """The tasks whose mean retention is the suite's: the quality-criterion tasks where pysparse.critical splits
    task performance from fidelity to dense (criterion_tasks), else every task."""
    try:
        from .critical import criterion_tasks
    except ImportError:
        return list(task_results)
    return criterion_tasks(task_results, "tasks")


class PerLayerRule:
    """A rule value per layer (None = dense), for the engine backend's sparsifier."""

    def __init__(self, name: str, values: list):
        self.name, self.values, self.power = name, list(values), 1.0
        self.value = None


class _PathSweep(Sweep):
    """Evaluates steps of an allocation path on the suite; shares the uniform sweep's dense record."""

    def __init__(self, base: Sweep, path: list[dict], results, key: str):
        super().__init__(base.model, base.tok, base.tasks, base.site, base.rule, results=results,
                         model_id=base.model_id.removesuffix("@engine"), layers=None, batch_size=base.ctx.batch_size,
                         progress=base.progress)
        self.dense_key, self.dense = base.dense_key, base.dense_point()
        self.path, self.key = path, key
        self.done = {r["step"]: r for r in self.file.records()
                     if r.get("kind") == "allocation_point" and r.get("config") == key}

    def _make_rule(self, step):
        return PerLayerRule(self.rule, self.path[int(step)]["values"])

    def step_point(self, step: int) -> dict:
        from .tasks.base import retention

        if step in self.done:
            return self.done[step]
        rec = self._evaluate(step)
        rets = {t: retention(r["score"], self.dense["tasks"][t]["score"], r["higher_is_better"])
                for t, r in rec["tasks"].items()}
        names = suite_tasks(rec["tasks"])
        rets["suite"] = sum(rets[t] for t in names) / len(names)
        values = self.path[step]["values"]
        # the engine counts only the layers that run the rule; every layer sees the same entries, so the sparsity
        # over all layers (dense ones at 0) is the counted one scaled by the share of sparse layers
        share = sum(v is not None for v in values) / len(values)
        rec.update(kind="allocation_point", step=step, value=None, values=values, est_kl=self.path[step]["est_kl"],
                   retention=rets, sparsity_sparse_layers=rec["sparsity"], sparsity=rec["sparsity"] * share)
        self.file.append(rec)
        self.done[step] = rec
        return rec


def validate(base: Sweep, path: list[dict], results, target: float = THRESHOLD, max_evals: int = 4,
             est_kl_cap: float | None = None, progress: bool = True) -> dict:
    """Bisection over the path (subsampled to 2**max_evals - 1 steps, up to est_kl_cap) on the held-out suite:
    the last step keeping suite retention >= target. Returns {"step", "record" (None = no step passed),
    "evaluated": [records]}."""
    from tqdm import tqdm

    steps = [i for i in range(1, len(path)) if est_kl_cap is None or path[i]["est_kl"] <= est_kl_cap]
    if not steps:
        steps = [1] if len(path) > 1 else []
    want = 2 ** max_evals - 1
    if len(steps) > want:
        steps = [steps[round(j * (len(steps) - 1) / (want - 1))] for j in range(want)] if want > 1 else [steps[0]]
    key = _hash({"base": base.key, "path": [p["values"] for p in path]})
    ps = _PathSweep(base, path, results, key)
    lo, hi = -1, len(steps)
    evaluated = []
    bar = tqdm(total=max(1, math.ceil(math.log2(len(steps) + 1))), desc=f"validate {base.site} allocation",
               unit="point", disable=not progress)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        rec = ps.step_point(steps[mid])
        evaluated.append(rec)
        bar.update(1)
        if rec["retention"]["suite"] >= target:
            lo = mid
        else:
            hi = mid
    bar.close()
    return {"step": steps[lo] if lo >= 0 else None, "record": ps.done[steps[lo]] if lo >= 0 else None,
            "evaluated": evaluated, "dense": ps.dense}


def save(path, site: str, rule: str, values: list, meta: dict | None = None) -> None:
    """Write the allocation as a sparsity file (`--sparsity-file`, Model.load_sparsity) atomically."""
    import os

    spec = {"site": site, "rule": rule, "values": values, **(meta or {})}
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(spec, f, indent=1)
    os.replace(tmp, path)
