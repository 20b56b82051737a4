"""Critical sparsity (DESIGN.md, "Definitions this project fixes").

From a measured curve of (sparsity, retention) points, dense included, sorted by sparsity:
- `critical`: the largest measured sparsity such that it and every point with less sparsity keep
  retention >= 0.99 (the first crossing of the 99% line, read from measured points only);
- `interpolated`: the sparsity where the straight line between that point and the first failing point
  crosses 0.99 (equal to `critical` when no point fails: then the curve never crossed and `critical` is only a
  lower bound, flagged by `crossed = False`);
- `non_monotone`: a point after the first failing one passes again. It is listed, never reported as critical.

The bootstrap resamples examples (with a fixed seed) within every task, recomputes every point's scores and
retentions from the per-example records, and reads the critical sparsity again: percentile intervals.
Sparsity itself is not resampled (it is a pooled count over hundreds of thousands of entries; its noise is
negligible next to the score's).
"""

from __future__ import annotations

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
            threshold: float = THRESHOLD) -> dict:
    """Critical sparsity per task and for the suite mean, with bootstrap percentile intervals.

    `dense` and `points` are result records of pysparse.sweep (each with "sparsity" and "tasks": {name:
    TaskResult dict}). Only points that have every task of the dense record are used for the suite.
    """
    tasks = list(dense["tasks"])
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
            idx = rng.integers(0, n_ex, size=(n_boot, n_ex))
            bs = score_from(num[:, idx].transpose(1, 0, 2), den[:, idx].transpose(1, 0, 2), tr)  # [B, n_points]
            boot_R[t] = _ret(bs, hib)
    out = {"threshold": threshold, "level": level, "n_boot": n_boot, "seed": seed, "sparsity": s.tolist(),
           "values": [None] + [p.get("value") for p in pts], "tasks": {}}
    lo_q, hi_q = (1 - level) / 2 * 100, (1 + level) / 2 * 100

    def entry(R, B):
        e = critical_point(s, R, threshold)
        e["retention"] = [float(x) for x in R]
        if B is not None:
            c, i = _critical_batch(s, B, threshold)
            e["critical_ci"] = [float(np.percentile(c, lo_q)), float(np.percentile(c, hi_q))]
            e["interpolated_ci"] = [float(np.percentile(i, lo_q)), float(np.percentile(i, hi_q))]
        return e

    for t in tasks:
        out["tasks"][t] = entry(point_R[t], boot_R.get(t))
    suite_R = np.mean([point_R[t] for t in tasks], axis=0)
    suite_B = np.mean([boot_R[t] for t in tasks], axis=0) if len(boot_R) == len(tasks) and boot_R else None
    out["suite"] = entry(suite_R, suite_B)
    return out


def _ret(scores: np.ndarray, higher_is_better: bool) -> np.ndarray:
    dense = scores[:, :1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return scores / dense if higher_is_better else dense / scores
