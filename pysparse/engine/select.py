"""Activation selection: which entries of a token's vector stay active under a sparsity rule.

The fast C++ implementation (cpp/sparse/select.h, multi-threaded over rows, GIL released) and a pure-numpy
reference of each rule, written directly from docs/method.md §1. The two agree bit for bit: the C++ top-p
uses a bucketed pass and proves its threshold equals the literal float64 sorted-order running sum, falling back
to the full sort when it cannot (see select.h).

Definitions (identical in both):
  top-p      scores a = |v|^power as float32 (power 1: |v|; 2: float32(v*v); other: float32(|v| ** power) in
             float64). Sort a descending; running sum cs in float64 in that order; total = cs[-1];
             k = first index with cs[k] >= p * total; t = sorted_a[k]; keep a >= t (ties kept).
             p = 0 keeps the max and its ties; an all-zero vector keeps everything; p = 1 is no special case:
             the running sum reaches the total at the last non-zero entry, so exact zeros are dropped.
  top-k      k = ceil(keep_fraction * d - 1e-9) clamped to [0, d]; exactly k kept: the first k of a stable
             descending sort of |v| (ties at the boundary: lowest indices first).
  max-p      keep |v| >= p * max|v| (float64 compare).
  threshold  keep |v| >= t (float64 compare; t finite and >= 0).

Inputs: float32 arrays (converted to C-contiguous if needed); other dtypes raise ValueError, because the rules
are defined on float32 values (the engine's activations). NaN or Inf in v, p outside [0, 1] or NaN: ValueError.

Single vectors give an ascending int32 index array; batches (V of shape [n, d]) give CSR
(offsets int64[n + 1], indices int32[nnz]); the *_mask forms give bool arrays of v's shape (1-D or 2-D).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _core

__all__ = [
    "topp_select", "topk_select", "maxp_select", "threshold_select",
    "topp_select_batch", "topk_select_batch", "maxp_select_batch", "threshold_select_batch",
    "topp_mask", "topk_mask", "maxp_mask", "threshold_mask",
    "topp_threshold", "topp_select_sorted", "topk_count", "csr_to_mask",
    "topp_mask_reference", "topk_mask_reference", "maxp_mask_reference", "threshold_mask_reference",
]


def _float32(v, ndim: int | tuple[int, ...], name: str) -> np.ndarray:
    a = np.asarray(v)
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if a.ndim not in ndims:
        raise ValueError(f"{name} must be {' or '.join(f'{n}-D' for n in ndims)}, got shape {a.shape}")
    if a.dtype != np.float32:
        raise ValueError(f"{name} must have dtype float32, got {a.dtype} (convert with .astype(np.float32))")
    return np.ascontiguousarray(a)


# ---- the C++ selection -------------------------------------------------------------------------------------

def topp_select(v, p: float, power: float = 1.0) -> np.ndarray:
    """Indices (ascending int32) kept by top-p with scores |v|^power."""
    return _core.select("topp", _float32(v, 1, "v"), float(p), float(power))


def topk_select(v, keep_fraction: float) -> np.ndarray:
    """Indices kept by top-k: exactly topk_count(d, keep_fraction) of them."""
    return _core.select("topk", _float32(v, 1, "v"), float(keep_fraction))


def maxp_select(v, p: float) -> np.ndarray:
    """Indices with |v| >= p * max|v|."""
    return _core.select("maxp", _float32(v, 1, "v"), float(p))


def threshold_select(v, t: float) -> np.ndarray:
    """Indices with |v| >= t."""
    return _core.select("threshold", _float32(v, 1, "v"), float(t))


def topp_select_batch(V, p: float, power: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Top-p of every row of V[n, d]: CSR (offsets int64[n + 1], indices int32[nnz])."""
    return _core.select_rows("topp", _float32(V, 2, "V"), float(p), float(power))


def topk_select_batch(V, keep_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    return _core.select_rows("topk", _float32(V, 2, "V"), float(keep_fraction))


def maxp_select_batch(V, p: float) -> tuple[np.ndarray, np.ndarray]:
    return _core.select_rows("maxp", _float32(V, 2, "V"), float(p))


def threshold_select_batch(V, t: float) -> tuple[np.ndarray, np.ndarray]:
    return _core.select_rows("threshold", _float32(V, 2, "V"), float(t))


def csr_to_mask(offsets: np.ndarray, indices: np.ndarray, d: int) -> np.ndarray:
    """Bool mask [n, d] from CSR offsets/indices."""
    n = len(offsets) - 1
    mask = np.zeros((n, d), dtype=bool)
    rows = np.repeat(np.arange(n), np.diff(offsets))
    mask[rows, indices] = True
    return mask


def _mask(rule: str, v, param: float, power: float = 1.0) -> np.ndarray:
    a = _float32(v, (1, 2), "v")
    if a.ndim == 1:
        mask = np.zeros(a.shape[0], dtype=bool)
        mask[_core.select(rule, a, float(param), float(power))] = True
        return mask
    offsets, indices = _core.select_rows(rule, a, float(param), float(power))
    return csr_to_mask(offsets, indices, a.shape[1])


def topp_mask(v, p: float, power: float = 1.0) -> np.ndarray:
    """Bool mask of the entries top-p keeps; v is one vector [d] or a batch [n, d] (rows independent)."""
    return _mask("topp", v, p, power)


def topk_mask(v, keep_fraction: float) -> np.ndarray:
    return _mask("topk", v, keep_fraction)


def maxp_mask(v, p: float) -> np.ndarray:
    return _mask("maxp", v, p)


def threshold_mask(v, t: float) -> np.ndarray:
    return _mask("threshold", v, t)


def topp_threshold(v, p: float, power: float = 1.0) -> float:
    """The top-p threshold score t (entries with |v|^power >= t are kept)."""
    return float(_core.topp_threshold(_float32(v, 1, "v"), float(p), float(power)))


def topp_select_sorted(v, p: float, power: float = 1.0) -> np.ndarray:
    """Top-p in C++ by the literal definition (full std::sort): a baseline for tests and benchmarks."""
    return _core.topp_select_sorted(_float32(v, 1, "v"), float(p), float(power))


def topk_count(d: int, keep_fraction: float) -> int:
    """How many entries top-k keeps of d."""
    return int(_core.topk_count(int(d), float(keep_fraction)))


# ---- the numpy references (docs/method.md §1, literally) --------------------------------------------------

def _check_unit(p, name: str) -> float:
    p = float(p)
    if not (0.0 <= p <= 1.0):  # also rejects NaN
        raise ValueError(f"{name} = {p} must be in [0, 1]")
    return p


def _finite(a: np.ndarray, name: str = "v") -> None:
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or Inf (or a score |v|^power overflows float32)")


def _scores(v: np.ndarray, power: float) -> np.ndarray:
    """a = |v|^power as float32, computed as the C++ side does."""
    power = float(power)
    if not (power > 0 and math.isfinite(power)):
        raise ValueError(f"power = {power} must be finite and > 0")
    with np.errstate(over="ignore", invalid="ignore"):
        if power == 1.0:
            a = np.abs(v)
        elif power == 2.0:
            a = np.square(v.astype(np.float64)).astype(np.float32)
        else:
            a = np.power(np.abs(v.astype(np.float64)), power).astype(np.float32)
    _finite(a)
    return a


def _rows(fn, v, *args) -> np.ndarray:
    a = _float32(v, (1, 2), "v")
    if a.ndim == 2:
        return np.stack([fn(row, *args) for row in a]) if len(a) else np.zeros(a.shape, dtype=bool)
    return fn(a, *args)


def _topp_row(v: np.ndarray, p: float, power: float) -> np.ndarray:
    a = _scores(v, power)
    if a.size == 0:
        return np.ones(a.shape, dtype=bool)
    s = np.sort(a)[::-1].astype(np.float64)  # descending
    cs = np.cumsum(s)                          # float64 running sum, in sorted order
    k = int(np.searchsorted(cs, p * cs[-1], side="left"))  # first position with cs[k] >= p * total
    return a >= s[k]


def topp_mask_reference(v, p: float, power: float = 1.0) -> np.ndarray:
    """numpy top-p, literally docs/method.md §1 (1-D or row-wise 2-D)."""
    p = _check_unit(p, "p")
    return _rows(_topp_row, v, p, power)


def _topk_row(v: np.ndarray, f: float) -> np.ndarray:
    _finite(v)
    d = v.size
    k = max(0, min(d, math.ceil(f * d - 1e-9)))
    mask = np.zeros(d, dtype=bool)
    mask[np.argsort(-np.abs(v), kind="stable")[:k]] = True
    return mask


def topk_mask_reference(v, keep_fraction: float) -> np.ndarray:
    f = _check_unit(keep_fraction, "keep_fraction")
    return _rows(_topk_row, v, f)


def _maxp_row(v: np.ndarray, p: float) -> np.ndarray:
    _finite(v)
    a = np.abs(v).astype(np.float64)
    if a.size == 0:
        return np.ones(0, dtype=bool)
    return a >= p * a.max()


def maxp_mask_reference(v, p: float) -> np.ndarray:
    p = _check_unit(p, "p")
    return _rows(_maxp_row, v, p)


def _threshold_row(v: np.ndarray, t: float) -> np.ndarray:
    _finite(v)
    return np.abs(v).astype(np.float64) >= t


def threshold_mask_reference(v, t: float) -> np.ndarray:
    t = float(t)
    if not (t >= 0 and math.isfinite(t)):
        raise ValueError(f"threshold = {t} must be finite and >= 0")
    return _rows(_threshold_row, v, t)
