"""Sparsification rules: which entries of a token's activation vector survive (docs/method.md §1).

Every rule works per token over the last dimension of a tensor of any leading shape ([batch, seq, d],
[tokens, d], [d]). `rule.mask(v)` is the bool keep-mask; `rule(v)` is `v * mask` with exact zeros, the
dtype of `v` kept and nothing rescaled.

Scores are |v|^q computed in float32 (float64 when v is float64), so bf16/fp16 inputs are handled exactly
(|v| of a bf16/fp16 value is exact in float32); the running sum of top-p is float64 as in the paper.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

# The paper's p grid for dense models (docs/method.md §1), descending from dense to the most aggressive.
PAPER_P_GRID: tuple[float, ...] = (
    1.00, 0.995, 0.99, 0.985, 0.98, 0.975, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.91, 0.90,
    0.85, 0.80, 0.75, 0.70, 0.65, 0.60, 0.50, 0.40, 0.30, 0.20, 0.10, 0.00,
)


def _check_unit(rule: str, what: str, x) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{rule}: {what} must be a number in [0, 1], got {x!r}") from None
    if math.isnan(x) or not 0.0 <= x <= 1.0:
        raise ValueError(f"{rule}: {what} must be in [0, 1], got {x!r}")
    return x


def _scores(v: torch.Tensor, power: float = 1.0) -> torch.Tensor:
    """|v|^power in float32 (float64 for float64 input), as the engine defines it (cpp/sparse/select.h):
    power 1: |v| exactly; 2: float32(v * v), one rounding; other: float32(|v| ** power computed in float64)."""
    if not torch.is_tensor(v):
        raise TypeError(f"expected a torch.Tensor, got {type(v).__name__}")
    if v.dim() == 0:
        raise ValueError("a rule needs at least one dimension (the activation vector)")
    a = v.abs()
    a = a.to(torch.float64) if v.dtype == torch.float64 else a.to(torch.float32)
    if power == 2.0:
        a = a * a
    elif power != 1.0:
        a = a.to(torch.float64).pow(power).to(a.dtype)
    return a


_CHUNK = 1 << 22  # entries per numpy chunk: bounds the float64 running-sum buffer to 32 MB


def _top_p_threshold_np(a: np.ndarray, p: float) -> np.ndarray:
    """top-p thresholds of scores a[..., d] on the CPU: numpy sorts values without indices, ~8x faster
    than torch.sort here. Same arithmetic as the torch path: descending values, sequential float64 cumsum."""
    d = a.shape[-1]
    flat = a.reshape(-1, d)
    out = np.empty((flat.shape[0], 1), dtype=a.dtype)
    step = max(1, _CHUNK // d)
    for i in range(0, flat.shape[0], step):
        s = np.sort(flat[i:i + step], axis=-1)[:, ::-1]
        c = np.cumsum(s, axis=-1, dtype=np.float64)
        k = np.minimum((c < c[:, -1:] * p).sum(axis=-1, keepdims=True), d - 1)
        out[i:i + step] = np.take_along_axis(s, k, axis=-1)
    return out.reshape(a.shape[:-1] + (1,))


def _engine_select_rows():
    """The C++ engine's batched selection (pysparse._core.select_rows), or None when it is not built or disabled
    with PYSPARSE_RULES_ENGINE=0. It implements the same definitions bit for bit (cpp/sparse/select.h) and is
    several times faster on CPU (bucketed top-p, no full sort; threads over rows)."""
    if os.environ.get("PYSPARSE_RULES_ENGINE", "1") == "0":
        return None
    try:
        from . import _core
    except ImportError:
        return None
    return getattr(_core, "select_rows", None)


_ENGINE_MIN = 1 << 16  # below this many entries the thread-pool hand-off costs more than numpy's sort


def _engine_mask(rule: str, v: torch.Tensor, param: float, power: float = 1.0):
    """Bool mask of v's shape from the engine, or None (no engine, not a CPU float32/16 tensor, non-finite v)."""
    if not torch.is_tensor(v) or v.dim() == 0 or v.device.type != "cpu" or \
            v.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        return None  # the torch path checks the argument
    select_rows = _engine_select_rows()
    if select_rows is None or v.numel() == 0 or v.numel() < _ENGINE_MIN:
        return None
    d = v.shape[-1]
    x = v.detach().to(torch.float32).reshape(-1, d).contiguous().numpy()  # bf16/fp16 -> float32 is exact
    try:
        off, idx = select_rows(rule, x, float(param), float(power))
    except ValueError:  # NaN/Inf in v: the torch path decides what such a vector keeps
        return None
    n = x.shape[0]
    m = np.zeros(n * d, dtype=bool)
    m[idx + np.repeat(np.arange(n, dtype=np.int64) * d, np.diff(off))] = True
    return torch.from_numpy(m).reshape(v.shape)


class Rule:
    """Base class: subclasses define `mask`; calling the rule zeroes the dropped entries."""

    name: str = "rule"
    value: float = float("nan")

    def mask(self, v: torch.Tensor, key=None) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, v: torch.Tensor, key=None) -> torch.Tensor:
        m = self.mask(v, key)
        # where() rather than a product: exact zeros even for inf/nan neighbours, dtype kept.
        return torch.where(m, v, torch.zeros((), dtype=v.dtype, device=v.device))

    def __repr__(self):
        return f"{type(self).__name__}({self.value!r})"


class TopP(Rule):
    """Keep the smallest set of largest |v|^q entries holding at least a fraction p of the token's mass.

    Exactly docs/method.md §1: descending sort, float64 running sum, k* = first position where the running sum
    reaches p * total, t = sorted[k*], keep a >= t (ties kept). p = 0 keeps the maximum and its ties, an
    all-zero vector keeps all (t = 0). p = 1 is no special case: the running sum reaches the total at the last
    non-zero entry, so exact zeros (ReLU) are dropped and counted as sparse, as in the paper's reference code.
    (A sweep's dense reference is the model without hooks, not TopP(1).)
    """

    name = "top_p"

    def __init__(self, p: float, power: float = 1.0):
        self.p = _check_unit("top_p", "p", p)
        try:
            power = float(power)
        except (TypeError, ValueError):
            raise ValueError(f"top_p: power must be a positive number, got {power!r}") from None
        if not math.isfinite(power) or power <= 0:
            raise ValueError(f"top_p: power must be a positive finite number, got {power!r}")
        self.power = power
        self.value = self.p

    def threshold(self, v: torch.Tensor) -> torch.Tensor:
        """Per-token threshold t on the score scale (|v|^q), shape v.shape[:-1] + (1,), float32/64."""
        return self._threshold(_scores(v, self.power))

    def _threshold(self, a: torch.Tensor) -> torch.Tensor:
        if a.numel() == 0:
            return a[..., :1]
        if a.device.type == "cpu":
            return torch.from_numpy(_top_p_threshold_np(a.detach().numpy(), self.p))
        s, _ = torch.sort(a, dim=-1, descending=True)
        c = torch.cumsum(s, dim=-1, dtype=torch.float64)
        # Number of positions whose running sum is still below the target = first index reaching it.
        k = (c < c[..., -1:] * self.p).sum(dim=-1, keepdim=True).clamp_(max=a.shape[-1] - 1)
        return s.gather(-1, k)

    def mask(self, v: torch.Tensor, key=None) -> torch.Tensor:
        if (m := _engine_mask("topp", v, self.p, self.power)) is not None:
            return m
        a = _scores(v, self.power)
        if a.numel() == 0:
            return torch.ones_like(v, dtype=torch.bool)
        return a >= self._threshold(a).to(a.device)

    def __repr__(self):
        return f"TopP({self.p!r})" if self.power == 1.0 else f"TopP({self.p!r}, power={self.power!r})"


class TopK(Rule):
    """Keep a fixed fraction of entries per token: exactly k = ceil(keep * d - 1e-9) (clamped to [0, d]) of
    them, the first k of a stable descending sort of |v| (ties at the boundary: lowest indices first). The same
    definition as the engine's top-k (cpp/sparse/select.h); the 1e-9 absorbs representation error, so
    0.07 * 100 keeps 7."""

    name = "top_k"

    def __init__(self, keep: float):
        self.keep = _check_unit("top_k", "keep fraction", keep)
        self.value = self.keep

    def k_for(self, d: int) -> int:
        return min(d, max(0, int(math.ceil(self.keep * d - 1e-9))))

    def mask(self, v: torch.Tensor, key=None) -> torch.Tensor:
        a = _scores(v)
        d = a.shape[-1]
        k = self.k_for(d)
        if k >= d or a.numel() == 0:
            return torch.ones_like(v, dtype=torch.bool)
        if k == 0:
            return torch.zeros_like(v, dtype=torch.bool)
        if (m := _engine_mask("topk", v, self.keep)) is not None:
            return m
        if a.device.type == "cpu":  # np.partition: linear-time selection, faster than torch on CPU
            an = a.detach().numpy()
            kth = torch.from_numpy(np.partition(an, d - k, axis=-1)[..., d - k:d - k + 1])
        else:
            kth = torch.kthvalue(a, d - k + 1, dim=-1, keepdim=True).values
        gt = a > kth
        eq = a == kth
        need = k - gt.sum(dim=-1, keepdim=True)
        return gt | (eq & (torch.cumsum(eq, dim=-1) <= need))


class MaxP(Rule):
    """Keep entries with |v| >= p * max|v| (per token, compared in float64). p = 0 keeps all, p = 1 keeps the
    maximum and ties, an all-zero vector keeps all."""

    name = "max_p"

    def __init__(self, p: float):
        self.p = _check_unit("max_p", "p", p)
        self.value = self.p

    def mask(self, v: torch.Tensor, key=None) -> torch.Tensor:
        a = _scores(v)
        if a.numel() == 0:
            return torch.ones_like(v, dtype=torch.bool)
        # compared in float64, as the engine does (a [.., 1] float64 tensor promotes the comparison)
        return a >= a.amax(dim=-1, keepdim=True).to(torch.float64) * self.p


class Threshold(Rule):
    """Fixed magnitude thresholds (TEAL/CATS): keep |v| >= t (float64 compare; ties kept like top-p, TEAL writes
    >, which differs only for entries exactly at t), with t for the tensor's (layer, tensor_name).

    `thresholds` is one float for every tensor, or a dict {(layer, tensor_name): t}. `target` is the
    sparsity the thresholds were calibrated for (reported as the rule's value).
    """

    name = "threshold"

    def __init__(self, thresholds: float | dict, target: float | None = None):
        if isinstance(thresholds, dict):
            self.thresholds = {}
            for k, t in thresholds.items():
                if not (isinstance(k, tuple) and len(k) == 2):
                    raise ValueError(f"threshold: keys must be (layer, tensor_name), got {k!r}")
                self.thresholds[(int(k[0]), str(k[1]))] = self._check_t(t)
        else:
            self.thresholds = self._check_t(thresholds)
        self.target = None if target is None else _check_unit("threshold", "target sparsity", target)
        self.value = float("nan") if self.target is None else self.target

    @staticmethod
    def _check_t(t) -> float:
        try:
            t = float(t)
        except (TypeError, ValueError):
            raise ValueError(f"threshold: a threshold must be a number >= 0, got {t!r}") from None
        if not math.isfinite(t) or t < 0:
            raise ValueError(f"threshold: a threshold must be a finite number >= 0, got {t!r}")
        return t

    def threshold_for(self, key) -> float:
        if not isinstance(self.thresholds, dict):
            return self.thresholds
        if key is None:
            raise ValueError("threshold: per-tensor thresholds need key=(layer, tensor_name)")
        key = (int(key[0]), str(key[1]))
        if key not in self.thresholds:
            known = sorted(self.thresholds)
            raise KeyError(f"threshold: no calibrated threshold for {key}; calibrated: {known[:8]}"
                           f"{' ...' if len(known) > 8 else ''}")
        return self.thresholds[key]

    def mask(self, v: torch.Tensor, key=None) -> torch.Tensor:
        a = _scores(v)
        # compared in float64 (a 1-element float64 tensor promotes; a Python float would round to float32)
        return a >= torch.tensor([self.threshold_for(key)], dtype=torch.float64, device=a.device)

    def to_dict(self) -> dict:
        th = self.thresholds
        if isinstance(th, dict):
            th = [[l, n, t] for (l, n), t in sorted(th.items())]
        return {"thresholds": th, "target": self.target}

    @classmethod
    def from_dict(cls, d: dict) -> "Threshold":
        th = d["thresholds"]
        if isinstance(th, list):
            th = {(int(l), str(n)): float(t) for l, n, t in th}
        return cls(th, d.get("target"))

    def __repr__(self):
        n = len(self.thresholds) if isinstance(self.thresholds, dict) else 1
        return f"Threshold(<{n} thresholds>, target={self.target!r})"


class PerLayer(Rule):
    """One rule per layer (e.g. a p per layer read from a file); layers without a rule stay dense."""

    name = "per_layer"

    def __init__(self, rules: dict):
        if not rules or not all(isinstance(r, Rule) for r in rules.values()):
            raise ValueError("per_layer: give a non-empty {layer: Rule} mapping")
        self.rules = {int(k): r for k, r in rules.items()}

    def mask(self, v: torch.Tensor, key=None) -> torch.Tensor:
        if key is None:
            raise ValueError("per_layer: the rule needs key=(layer, tensor_name)")
        r = self.rules.get(int(key[0]))
        return torch.ones(v.shape, dtype=torch.bool, device=v.device) if r is None else r.mask(v, key)

    def __repr__(self):
        return f"PerLayer({ {k: r.value for k, r in sorted(self.rules.items())} })"


def load_per_layer(path, rule: str) -> Rule:
    """A rule from a JSON file: {"layer": value, ...} or [value per layer] for top_p/top_k/max_p, or the
    `Threshold.to_dict()` form ({"thresholds": [[layer, tensor, t], ...]}) for threshold."""
    import json
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such per-layer rule file")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: not valid JSON ({e.msg})") from None
    if rule == "threshold":
        if not isinstance(d, dict) or "thresholds" not in d:
            raise ValueError(f"{p}: a threshold file needs {{\"thresholds\": [[layer, tensor, t], ...]}}")
        return Threshold.from_dict(d)
    if isinstance(d, list):
        d = dict(enumerate(d))
    if not isinstance(d, dict) or not d:
        raise ValueError(f"{p}: expected {{\"layer\": value}} or a list of values per layer")
    try:
        return PerLayer({int(k): make_rule(rule, v) for k, v in d.items()})
    except (TypeError, ValueError) as e:
        raise ValueError(f"{p}: {e}") from None


RULES = {"top_p": TopP, "top_k": TopK, "max_p": MaxP, "threshold": Threshold}


def make_rule(name: str, value: float, **kw) -> Rule:
    """Build a rule by name: top_p (value = p), top_k (keep fraction), max_p (p), threshold (threshold)."""
    if name not in RULES:
        raise ValueError(f"unknown rule {name!r}; known rules: {', '.join(RULES)}")
    return RULES[name](value, **kw)
