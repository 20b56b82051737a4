"""Per-denoising-step FFN statistics of masked-diffusion generation (the paper's LLaDA analysis).

For every step s and hooked tensor (layer, tensor name) the recorder sees the applied keep-mask M_s: a bool
[rows, d] array (rows = every position of every sample in the batch; an entry is active when it is nonzero after
the rule). From these:
  sparsity          pooled over layers and per layer, counted by pysparse.stats.SparsityStats (one per step)
  overlap_prev      Jaccard |M_s & M_{s-1}| / |M_s | M_{s-1}| of the (position, neuron) active sets, pooled
                    (sums of intersections / sums of unions over tensors) and per layer; 1 at step 0
  overlap_first     the same against the first step's mask M_0
  frequency         per neuron: the fraction of (step, position) pairs in which it is active, over a generation
  chance overlap    the Jaccard expected if the two steps' masks were drawn independently with each neuron's
                    activation rate over positions at those steps (sums over neurons of rows * f_a f_b and
                    rows * (f_a + f_b - f_a f_b)): overlap above it is position-specific persistence, not merely
                    the same neurons being often active
Several generations (record.new_generation()) accumulate into the same step indices: overlaps and sparsities are
then pooled over generations at each step.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..stats import SparsityStats


class StepStats:
    def __init__(self, tensors, n_layers: int):
        self.tensors = (tensors,) if isinstance(tensors, str) else tuple(tensors)
        self.n_layers = int(n_layers)
        self.sparsity: list[SparsityStats] = []    # per step index
        self._inter = []   # per step: {"prev"|"first": [n_layers] intersections}
        self._union = []
        self._chance_inter = []  # the same under independent masks with the steps' per-neuron rates
        self._chance_union = []
        self.freq: dict = {}                         # (layer, tensor) -> int64 [d] active counts
        self.rows: dict = {}                         # (layer, tensor) -> rows counted
        self.blocks: list = []                       # per step index: semi-AR block
        self.n_generations = 0
        self.new_generation()

    def new_generation(self) -> None:
        self._prev, self._first, self._step = {}, {}, None
        self.n_generations += 1

    # -- recording (called by the sampler's observer and by StepRule) --------------------------------
    def begin_step(self, step: int, block: int = 0) -> None:
        self._step = int(step)
        while len(self.sparsity) <= self._step:
            self.sparsity.append(SparsityStats(self.tensors, self.n_layers))
            self._inter.append({w: np.zeros(self.n_layers, np.int64) for w in ("prev", "first")})
            self._union.append({w: np.zeros(self.n_layers, np.int64) for w in ("prev", "first")})
            self._chance_inter.append({w: np.zeros(self.n_layers) for w in ("prev", "first")})
            self._chance_union.append({w: np.zeros(self.n_layers) for w in ("prev", "first")})
            self.blocks.append(int(block))
        self._cur = {}

    def record(self, key, kept: torch.Tensor) -> None:
        if self._step is None:
            raise RuntimeError("StepStats.record before begin_step")
        layer, tensor = int(key[0]), str(key[1])
        kept = kept.detach().to(torch.bool).reshape(-1, kept.shape[-1])
        k = (layer, tensor)
        if k in self._cur:
            raise RuntimeError(f"layer {layer} {tensor!r} was hooked twice in one step: per-step statistics need "
                               f"one FFN call per layer per forward pass (MoE experts are not supported)")
        self._cur[k] = kept
        self.sparsity[self._step].record(layer, tensor, kept, None)
        self.freq[k] = self.freq.get(k, 0) + kept.sum(0).to(torch.int64).numpy()
        self.rows[k] = self.rows.get(k, 0) + kept.shape[0]

    def end_step(self, step: int | None = None, block: int | None = None) -> None:
        s = self._step
        for k, m in self._cur.items():
            for which, ref in (("prev", self._prev.get(k)), ("first", self._first.get(k))):
                if ref is None:
                    ref = m  # step 0: overlap with itself
                elif ref.shape != m.shape:
                    raise RuntimeError(f"layer {k[0]} {k[1]!r}: activation shape changed between steps "
                                       f"({tuple(ref.shape)} -> {tuple(m.shape)}); call new_generation() first")
                self._inter[s][which][k[0]] += int((m & ref).sum())
                self._union[s][which][k[0]] += int((m | ref).sum())
                fa, fb = m.double().mean(0), ref.double().mean(0)
                self._chance_inter[s][which][k[0]] += float(m.shape[0] * (fa * fb).sum())
                self._chance_union[s][which][k[0]] += float(m.shape[0] * (fa + fb - fa * fb).sum())
            self._prev[k] = m
            self._first.setdefault(k, m)
        self._cur = {}

    # -- reading ---------------------------------------------------------------------------------------
    @property
    def n_steps(self) -> int:
        return len(self.sparsity)

    def overlap(self, which: str = "prev", per_layer: bool = False, chance: bool = False) -> np.ndarray:
        """Jaccard overlap per step [n_steps] (pooled) or [n_steps, n_layers] (per layer; nan: not hooked).
        chance=True: the overlap expected from the per-neuron activation rates alone (module docstring)."""
        if which not in ("prev", "first"):
            raise ValueError(f"which must be 'prev' or 'first', got {which!r}")
        I, U = (self._chance_inter, self._chance_union) if chance else (self._inter, self._union)
        inter = np.array([d[which] for d in I], dtype=np.float64).reshape(-1, self.n_layers)
        union = np.array([d[which] for d in U], dtype=np.float64).reshape(-1, self.n_layers)
        if per_layer:
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(union > 0, inter / np.where(union > 0, union, 1), np.nan)
        u = union.sum(1)
        return np.where(u > 0, inter.sum(1) / np.where(u > 0, u, 1), 1.0)

    def step_sparsity(self, per_layer: bool = False) -> np.ndarray:
        if per_layer:
            return np.array([s.per_layer() for s in self.sparsity]).reshape(-1, self.n_layers)
        return np.array([s.overall() for s in self.sparsity])

    def frequencies(self) -> np.ndarray:
        """Activation frequency of every hooked neuron (all tensors and layers concatenated)."""
        out = [np.asarray(self.freq[k], np.float64) / self.rows[k] for k in sorted(self.freq) if self.rows[k]]
        return np.concatenate(out) if out else np.zeros(0)

    def total(self) -> SparsityStats:
        t = SparsityStats(self.tensors, self.n_layers)
        for s in self.sparsity:
            t.merge(s)
        return t

    def summary(self) -> dict:
        f = self.frequencies()
        ov_p, ov_f = self.overlap("prev"), self.overlap("first")
        return {"steps": self.n_steps, "generations": self.n_generations, "sparsity": self.total().overall(),
                "overlap_prev_mean": float(ov_p[1:].mean()) if self.n_steps > 1 else 1.0,
                "overlap_first_last": float(ov_f[-1]) if self.n_steps else float("nan"),
                "chance_overlap_first_last": float(self.overlap("first", chance=True)[-1]) if self.n_steps
                else float("nan"),
                "neurons": int(f.size), "always_active": float((f >= 0.99).mean()) if f.size else float("nan"),
                "never_active": float((f == 0).mean()) if f.size else float("nan"),
                "frequency_mean": float(f.mean()) if f.size else float("nan")}

    def to_dict(self) -> dict:
        per = lambda a: [[None if np.isnan(x) else float(x) for x in row] for row in a]  # noqa: E731
        return {"tensors": list(self.tensors), "n_layers": self.n_layers, "summary": self.summary(),
                "block": self.blocks, "sparsity": self.step_sparsity().tolist(),
                "sparsity_per_layer": per(self.step_sparsity(True)),
                "overlap_prev": self.overlap("prev").tolist(), "overlap_first": self.overlap("first").tolist(),
                "chance_overlap_prev": self.overlap("prev", chance=True).tolist(),
                "chance_overlap_first": self.overlap("first", chance=True).tolist(),
                "overlap_prev_per_layer": per(self.overlap("prev", True)),
                "overlap_first_per_layer": per(self.overlap("first", True)),
                "frequency": {f"{l}/{t}": (np.asarray(self.freq[(l, t)], np.float64) / self.rows[(l, t)]).tolist()
                              for l, t in sorted(self.freq) if self.rows[(l, t)]}}

    # -- plots -----------------------------------------------------------------------------------------
    def plot(self, out: str | Path, title: str = "") -> list[Path]:
        """overlap.png, sparsity.png, frequency.png in out/."""
        from ..report import _plt

        plt = _plt()
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        steps = np.arange(self.n_steps)
        files = []
        starts = [i for i in range(1, self.n_steps) if self.blocks[i] != self.blocks[i - 1]]

        def blocks(ax):  # semi-autoregressive block starts
            for i in starts:
                ax.axvline(i - 0.5, color="0.6", ls=":", lw=1)

        fig, ax = plt.subplots(figsize=(6.4, 4))
        for which, c in (("prev", "C0"), ("first", "C1")):
            for row in self.overlap(which, True).T:
                if not np.all(np.isnan(row)):
                    ax.plot(steps, row, color=c, alpha=0.25, lw=0.8)
            ax.plot(steps, self.overlap(which), color=c, lw=2,
                    label="with previous step" if which == "prev" else "with first step")
            ax.plot(steps, self.overlap(which, chance=True), color=c, lw=1.2, ls="--",
                    label="chance from per-neuron rates" if which == "first" else None)
        blocks(ax)
        ax.set(xlabel="denoising step (dotted: block starts)", ylabel="Jaccard overlap of active masks",
               ylim=(0, 1.02), title=title or "Active-mask overlap per step (thin: layers; dashed: chance)")
        ax.legend()
        files.append(_save(fig, out / "overlap.png"))

        fig, ax = plt.subplots(figsize=(6.4, 4))
        for row in self.step_sparsity(True).T:
            if not np.all(np.isnan(row)):
                ax.plot(steps, row, color="C2", alpha=0.3, lw=0.8)
        ax.plot(steps, self.step_sparsity(), color="C2", lw=2, label="pooled")
        blocks(ax)
        ax.set(xlabel="denoising step (dotted: block starts)", ylabel="sparsity", ylim=(0, 1),
               title=title or "Sparsity per step (thin: layers)")
        ax.legend()
        files.append(_save(fig, out / "sparsity.png"))

        fig, ax = plt.subplots(figsize=(6.4, 4))
        ax.hist(self.frequencies(), bins=40, range=(0, 1), color="C3")
        ax.set(xlabel="activation frequency over the generation", ylabel="neurons",
               title=title or "Per-neuron activation frequency")
        files.append(_save(fig, out / "frequency.png"))
        return files


def _save(fig, path: Path) -> Path:
    import os

    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.png")
    fig.tight_layout()
    fig.savefig(tmp, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    os.replace(tmp, path)
    return path


def write_json(path: str | Path, obj) -> Path:
    from ..report import _atomic_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_text(path, json.dumps(obj, indent=1))
    return path
