"""Sparsity accounting (docs/method.md §3): zeroed and total entries per tensor, layer and phase.

A "zeroed" entry is an entry of the sparsified tensor that is exactly 0 (what a sparse kernel can skip),
so natural zeros (ReLU) count too. Counters are int64, kept per (tensor, phase) as one array over layers,
and updated with torch ops on the tensor's device (no host sync per hook call). Padding is excluded
through the token mask. The model's sparsity is POOLED: sum of zeros / sum of totals.

Per-token sparsity is kept exactly as a bincount of "zeros in this token's vector" per (tensor, phase, d),
from which histograms with any number of bins are derived.
"""

from __future__ import annotations

import numpy as np
import torch

PHASES = ("prompt", "generated")


class SparsityStats:
    def __init__(self, tensors, n_layers: int):
        tensors = (tensors,) if isinstance(tensors, str) else tuple(tensors)
        if not tensors:
            raise ValueError("SparsityStats needs at least one tensor name")
        if int(n_layers) < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.tensors = tensors
        self.n_layers = int(n_layers)
        self.reset()

    def reset(self) -> None:
        z = lambda: torch.zeros(self.n_layers, dtype=torch.int64)  # noqa: E731
        self._zeros = {(t, ph): z() for t in self.tensors for ph in PHASES}
        self._totals = {(t, ph): z() for t in self.tensors for ph in PHASES}
        self._token_zeros = {}  # (tensor, phase, d) -> int64 bincount of zeros per token, length d + 1

    # -- recording ---------------------------------------------------------------------------------
    def _check(self, tensor, phase):
        if tensor not in self.tensors:
            raise ValueError(f"unknown tensor {tensor!r}; this stats object counts {self.tensors}")
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")

    def record(self, layer: int, tensor: str, kept_mask: torch.Tensor, token_mask: torch.Tensor | None,
               phase: str = "prompt") -> None:
        """Count one hooked tensor: kept_mask [..., d] bool (True = nonzero/kept), token_mask [...] bool or None."""
        self._check(tensor, phase)
        if not 0 <= layer < self.n_layers:
            raise ValueError(f"layer {layer} out of range [0, {self.n_layers})")
        d = kept_mask.shape[-1]
        zeros_per_token = (~kept_mask).sum(dim=-1).reshape(-1)  # int64, one per token
        if token_mask is not None:
            tm = token_mask.to(device=zeros_per_token.device, dtype=torch.bool).reshape(-1)
            if tm.numel() != zeros_per_token.numel():
                raise ValueError(f"token mask has {tm.numel()} entries but the tensor has "
                                 f"{zeros_per_token.numel()} tokens")
            zeros_per_token = zeros_per_token[tm]
        n_tok = zeros_per_token.numel()
        if n_tok == 0:
            return
        key = (tensor, phase)
        self._zeros[key][layer] += zeros_per_token.sum().cpu()
        self._totals[key][layer] += n_tok * d
        hk = (tensor, phase, d)
        bc = torch.bincount(zeros_per_token.cpu(), minlength=d + 1)
        if hk in self._token_zeros:
            self._token_zeros[hk] += bc
        else:
            self._token_zeros[hk] = bc

    # -- reading -----------------------------------------------------------------------------------
    def _sel(self, tensor, phase):
        ts = self.tensors if tensor is None else (tensor,)
        ps = PHASES if phase is None else (phase,)
        for t in ts:
            for p in ps:
                self._check(t, p)
        return [(t, p) for t in ts for p in ps]

    def zeros(self, tensor=None, phase=None) -> np.ndarray:
        """Zeroed entries per layer (int64), summed over the selected tensors and phases."""
        out = np.zeros(self.n_layers, dtype=np.int64)
        for k in self._sel(tensor, phase):
            out += self._zeros[k].numpy()
        return out

    def totals(self, tensor=None, phase=None) -> np.ndarray:
        """Counted entries per layer (int64; padding excluded)."""
        out = np.zeros(self.n_layers, dtype=np.int64)
        for k in self._sel(tensor, phase):
            out += self._totals[k].numpy()
        return out

    def overall(self, tensor=None, phase=None) -> float:
        """Pooled sparsity: sum of zeros / sum of totals over layers (nan when nothing was counted)."""
        tot = int(self.totals(tensor, phase).sum())
        return float(self.zeros(tensor, phase).sum()) / tot if tot else float("nan")

    def per_layer(self, tensor=None, phase=None) -> np.ndarray:
        """Sparsity of each layer (nan for layers with nothing counted)."""
        z = self.zeros(tensor, phase).astype(np.float64)
        t = self.totals(tensor, phase).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(t > 0, z / np.where(t > 0, t, 1), np.nan)

    def n_tokens(self, tensor=None, phase=None) -> int:
        """Counted token vectors (a token counts once per hooked layer / expert it passed)."""
        return int(sum(int(bc.sum()) for (t, p, _), bc in self._token_zeros.items()
                       if (tensor is None or t == tensor) and (phase is None or p == phase)))

    def token_histogram(self, tensor=None, bins=50, phase=None) -> tuple[np.ndarray, np.ndarray]:
        """Distribution of per-token sparsity: (counts[bins], edges[bins + 1]) over [0, 1]."""
        self._sel(tensor, phase)
        vals, weights = [], []
        for (t, p, d), bc in self._token_zeros.items():
            if (tensor is None or t == tensor) and (phase is None or p == phase):
                vals.append(np.arange(d + 1) / d)
                weights.append(bc.numpy())
        if not vals:
            return np.zeros(bins if np.ndim(bins) == 0 else len(bins) - 1, dtype=np.int64), \
                np.linspace(0, 1, (bins if np.ndim(bins) == 0 else len(bins) - 1) + 1)
        counts, edges = np.histogram(np.concatenate(vals), bins=bins, range=(0.0, 1.0),
                                     weights=np.concatenate(weights))
        return counts.astype(np.int64), edges

    # -- persistence and combination ---------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "tensors": list(self.tensors),
            "n_layers": self.n_layers,
            "zeros": {f"{t}/{p}": self._zeros[(t, p)].tolist() for t, p in self._zeros},
            "totals": {f"{t}/{p}": self._totals[(t, p)].tolist() for t, p in self._totals},
            "token_zeros": [[t, p, d, bc.tolist()] for (t, p, d), bc in self._token_zeros.items()],
            "overall": self.overall(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "SparsityStats":
        s = cls(tuple(d["tensors"]), int(d["n_layers"]))
        for name, store in (("zeros", s._zeros), ("totals", s._totals)):
            for k, v in d[name].items():
                t, p = k.split("/")
                store[(t, p)] = torch.tensor(v, dtype=torch.int64)
        for t, p, dd, bc in d.get("token_zeros", []):
            s._token_zeros[(t, p, int(dd))] = torch.tensor(bc, dtype=torch.int64)
        return s

    def merge(self, other: "SparsityStats") -> "SparsityStats":
        """Add another run's counts into this one (same tensors and layer count). Returns self."""
        if other.n_layers != self.n_layers or set(other.tensors) - set(self.tensors):
            raise ValueError(f"cannot merge stats of {other.tensors} x {other.n_layers} layers into "
                             f"{self.tensors} x {self.n_layers} layers")
        for k in other._zeros:
            self._zeros[k] += other._zeros[k]
            self._totals[k] += other._totals[k]
        for k, bc in other._token_zeros.items():
            self._token_zeros[k] = self._token_zeros[k] + bc if k in self._token_zeros else bc.clone()
        return self

    def summary(self) -> str:
        parts = [f"{t}: {self.overall(t):.4f}" for t in self.tensors]
        return f"sparsity {self.overall():.4f} ({', '.join(parts)})"

    def __repr__(self):
        return f"SparsityStats(tensors={self.tensors}, n_layers={self.n_layers}, overall={self.overall():.4f})"
