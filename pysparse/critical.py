"""Critical sparsity (definitions: docs/critical.md).

From a measured curve of (sparsity, retention) points, dense included, sorted by sparsity:
- `critical`: the largest measured sparsity such that it and every point with less sparsity keep
  retention >= 0.99 (the first crossing of the 99% line, read from measured points only);
- `interpolated`: the sparsity where the straight line between that point and the first failing point
  crosses 0.99 (equal to `critical` when no point fails: then the curve never crossed and `critical` is only a
  lower bound, flagged by `crossed = False`);
- `non_monotone`: a point after the first failing one passes again. It is listed, never reported as critical.

Which retentions make the suite mean (`criterion`):
- "tasks" (the default, the paper's definition): task performance only: perplexity and accuracy-type tasks
  (cloze, analogies, multiple choice), averaged with equal weight per task;
- "fidelity": agreement with the dense model (top-1 agreement); far stricter than task performance;
- "both": every task (the mean of the two kinds, as before this was split).
The analysis always reports the "tasks" and the "fidelity" mean side by side (each with its own critical
sparsity), whichever one the criterion makes the headline "suite".

Intervals: a PAIRED bootstrap. Each resample draws one set of examples per task (windows, passages, items) and
scores the dense model and every sparse point on those same examples, so the retention ratio keeps the strong
correlation between dense and sparse scores (a 1% threshold is far below the spread of either score alone).
The critical sparsity is read again from every resample: percentile intervals. Each task also gets a
per-point retention interval; a task whose interval at a point that decides the critical sparsity of its mean
(every point up to that mean's first failing one) is wider than the threshold's margin (1 - 0.99 = 1%) is flagged as
`noisy`: it cannot tell 99% from 100% there, and a mean it enters can be carried by its noise.
Sparsity itself is not resampled (it is a pooled count over hundreds of thousands of entries; its noise is
negligible next to the score's).
"""

from __future__ import annotations

import warnings

import numpy as np

from .tasks.base import score_from

THRESHOLD = 0.99


def critical_point(sparsity, retention, threshold: float = THRESHOLD) -> dict:
    s = np.asarray(sparsity, dtype=np.float64)
    r = np.asarray(retention, dtype=np.float64)
    if s.shape != r.shape or s.ndim != 1 or s.size == 0:
        raise ValueError("critical_point needs two equal-length, non-empty 1-D sequences")
    order = np.argsort(s, kind="stable")
    s, r = s[order], r[order]
    ok = r >= threshold
    if not ok[0]:  # even the least sparse point fails: interpolate from the dense model (0, 1.0)
        s0, r0 = (0.0, 1.0) if s[0] > 0 else (None, None)
        interp = 0.0 if s0 is None else _cross(s0, r0, s[0], r[0], threshold)
        return {"critical": 0.0, "interpolated": interp, "retention_at_critical": 1.0, "crossed": True,
                "first_fail": float(s[0]), "non_monotone": bool(ok.any()),
                "passing_after_fail": [float(x) for x in s[ok]], "first_point_fails": True}
    fail = np.flatnonzero(~ok)
    if fail.size == 0:
        return {"critical": float(s[-1]), "interpolated": float(s[-1]), "retention_at_critical": float(r[-1]),
                "crossed": False, "first_fail": None, "non_monotone": False, "passing_after_fail": [],
                "first_point_fails": False}
    f = int(fail[0])
    later = [float(x) for x in s[f + 1:][ok[f + 1:]]]
    return {"critical": float(s[f - 1]), "interpolated": _cross(s[f - 1], r[f - 1], s[f], r[f], threshold),
            "retention_at_critical": float(r[f - 1]), "crossed": True, "first_fail": float(s[f]),
            "non_monotone": bool(later), "passing_after_fail": later, "first_point_fails": False}


def _cross(s0, r0, s1, r1, threshold) -> float:
    if r0 == r1:
        return float(s0)
    t = (r0 - threshold) / (r0 - r1)
    return float(s0 + min(max(t, 0.0), 1.0) * (s1 - s0))


def _critical_batch(s: np.ndarray, R: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised critical/interpolated for many retention curves R [B, n] over sorted sparsities s [n]."""
    ok = R >= threshold
    n = s.size
    first_fail = np.where((~ok).any(axis=1), (~ok).argmax(axis=1), n)
    crit = np.empty(R.shape[0])
    interp = np.empty(R.shape[0])
    for b in range(R.shape[0]):
        f = first_fail[b]
        if f == n:
            crit[b] = interp[b] = s[-1]
        elif f == 0:
            crit[b] = 0.0
            interp[b] = 0.0 if s[0] <= 0 else _cross(0.0, 1.0, s[0], R[b, 0], threshold)
        else:
            crit[b] = s[f - 1]
            interp[b] = _cross(s[f - 1], R[b, f - 1], s[f], R[b, f], threshold)
    return crit, interp


CRITERIA = ("tasks", "fidelity", "both")
FIDELITY_METRICS = ("top1_agree",)  # TaskResult.metric values that measure agreement with the dense model


def kind_of(task_result: dict) -> str:
    """"fidelity" for agreement-with-dense results (top-1 agreement), "tasks" for task performance."""
    return "fidelity" if task_result.get("metric") in FIDELITY_METRICS else "tasks"


def criterion_tasks(task_results: dict, criterion: str = "tasks") -> list[str]:
    """The names of the tasks whose retentions make the suite mean under `criterion` (see the module docstring)."""
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; criteria: {', '.join(CRITERIA)}")
    names = [t for t, r in task_results.items() if criterion == "both" or kind_of(r) == criterion]
    if not names:
        kinds = ", ".join(f"{t} ({kind_of(r)})" for t, r in task_results.items())
        raise ValueError(f"criterion {criterion!r} has no task in this suite ({kinds}); add a "
                         + ("perplexity or accuracy task" if criterion == "tasks" else "perplexity task (it also "
                            "measures top-1 agreement)") + " or choose another --criterion")
    return names


def suite_retention(point: dict, criterion: str = "tasks") -> float:
    """Mean retention of a result record's tasks under `criterion` (the quantity bisection tests)."""
    names = criterion_tasks(point["tasks"], criterion)
    return float(np.mean([point["retention"][t] for t in names]))


def curves(dense: dict, points: list[dict]) -> dict:
    """Per-task retention curves from result records: {task: (sparsity[n], retention[n])}, dense first."""
    out = {}
    for task, d in dense["tasks"].items():
        ss, rr = [0.0], [1.0]
        for p in points:
            t = p["tasks"].get(task)
            if t is None:
                continue
            ss.append(p["sparsity"])
            rr.append(p["retention"][task])
        out[task] = (np.array(ss), np.array(rr))
    return out


def analyze(dense: dict, points: list[dict], n_boot: int = 1000, seed: int = 0, level: float = 0.90,
            threshold: float = THRESHOLD, criterion: str = "tasks") -> dict:
    """Critical sparsity per task and for the suite mean, with paired-bootstrap percentile intervals.

    `dense` and `points` are result records of pysparse.sweep (each with "sparsity" and "tasks": {name:
    TaskResult dict}). Only points that have every task of the dense record are used for the suite.
    Returns {"suite": the criterion's mean, "means": {"tasks"/"fidelity"/"both": mean entries present},
    "tasks": {name: entry}, ...}; every entry holds critical/interpolated with intervals, the retention curve
    and its per-point intervals; task entries also `kind` and `noisy` (points where the interval is too wide).
    """
    tasks = list(dense["tasks"])
    suite_names = criterion_tasks(dense["tasks"], criterion)
    pts = sorted([p for p in points if all(t in p["tasks"] for t in tasks)], key=lambda p: p["sparsity"])
    s = np.array([0.0] + [p["sparsity"] for p in pts])
    rng = np.random.default_rng(seed)
    boot_R = {}
    point_R = {}
    for t in tasks:
        d = dense["tasks"][t]
        hib, tr = d["higher_is_better"], d["transform"]
        num = np.array([d["num"]] + [p["tasks"][t]["num"] for p in pts], dtype=np.float64)  # [n_points, n_ex]
        den = np.array([d["den"]] + [p["tasks"][t]["den"] for p in pts], dtype=np.float64)
        sc = score_from(num, den, tr)
        point_R[t] = _ret(sc[None, :], hib)[0]
        n_ex = num.shape[1]
        if n_boot > 0 and n_ex > 1:
            # paired: one draw of example indices per resample, applied to the dense row and every sparse row
            idx = rng.integers(0, n_ex, size=(n_boot, n_ex))
            bs = score_from(num[:, idx].transpose(1, 0, 2), den[:, idx].transpose(1, 0, 2), tr)  # [B, n_points]
            boot_R[t] = _ret(bs, hib)
    out = {"threshold": threshold, "level": level, "n_boot": n_boot, "seed": seed, "paired": True,
           "criterion": criterion, "suite_tasks": suite_names, "sparsity": s.tolist(),
           "values": [None] + [p.get("value") for p in pts], "tasks": {}, "means": {}}
    lo_q, hi_q = (1 - level) / 2 * 100, (1 + level) / 2 * 100

    def entry(R, B):
        e = critical_point(s, R, threshold)
        e["retention"] = [float(x) for x in R]
        if B is not None:
            c, i = _critical_batch(s, B, threshold)
            e["critical_ci"] = [float(np.percentile(c, lo_q)), float(np.percentile(c, hi_q))]
            e["interpolated_ci"] = [float(np.percentile(i, lo_q)), float(np.percentile(i, hi_q))]
            with warnings.catch_warnings():  # a task whose score is 0 on dense has no retention (NaN)
                warnings.simplefilter("ignore", RuntimeWarning)
                e["retention_ci"] = np.nanpercentile(B, [lo_q, hi_q], axis=0).T.tolist()
        return e

    for t in tasks:
        e = entry(point_R[t], boot_R.get(t))
        e["kind"] = kind_of(dense["tasks"][t])
        out["tasks"][t] = e
    for crit in CRITERIA:
        if crit == "both" and criterion != "both":
            continue
        names = [t for t in tasks if crit == "both" or out["tasks"][t]["kind"] == crit]
        if not names:
            continue
        R = np.mean([point_R[t] for t in names], axis=0)
        B = np.mean([boot_R[t] for t in names], axis=0) if all(t in boot_R for t in names) else None
        out["means"][crit] = entry(R, B) | {"tasks": names}
    out["suite"] = out["means"][criterion]
    # noisy tasks: retention interval wider than the threshold's margin at a point that decides the critical
    # sparsity of the mean the task belongs to (its kind's mean; the suite's for `both`)
    for e in out["tasks"].values():
        ff = out["means"].get(e["kind"], out["suite"])["first_fail"]
        deciding = [i for i in range(1, s.size) if ff is None or s[i] <= ff]
        ci = e.get("retention_ci")
        e["noisy"] = [] if ci is None else [
            {"sparsity": float(s[i]), "retention_ci": ci[i]} for i in deciding
            if np.isfinite(ci[i]).all() and ci[i][1] - ci[i][0] > 1 - threshold]
    return out


def _ret(scores: np.ndarray, higher_is_better: bool) -> np.ndarray:
    dense = scores[:, :1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return scores / dense if higher_is_better else dense / scores
