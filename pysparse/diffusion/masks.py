"""Which entries a diffusion step keeps: the framework's rules at a scope, and masks reused across steps.

Scopes (`--scope`):
  token   the rule runs per token vector, as everywhere in pysparse
  sample  the rule runs once over a sample's whole sequence-by-hidden block [T, d] (the paper's diffusion
          setting): top-p keeps the largest entries holding p of the block's mass, top-k keeps that fraction
          of the block's T * d entries, max-p compares with the block's maximum. Thresholds are per entry, so
          both scopes give the same result for them.

Mask reuse (`StepRule`): a keep-mask computed at one step is applied again (to the new activations) at the
following steps instead of selecting afresh:
  k                 a mask serves k consecutive steps (k = 1: select at every step, the plain sparse sampler)
  refresh_overlap   also refresh early: at every step that would reuse, the first hooked tensor of the step (the
                    probe) is selected afresh; when the Jaccard overlap of its fresh mask with its reused mask is
                    below this value, every tensor is selected afresh at this step. The probe always uses its
                    fresh mask (it was computed anyway).
Selection work is counted in entries passed through a selection (a rule's mask computation); the plain sparse
sampler selects every entry of every hooked tensor at every step.
"""

from __future__ import annotations

import math

import torch

from ..rules import Rule

SCOPES = ("token", "sample")


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; scopes: {', '.join(SCOPES)}")
    return scope


def scoped_mask(rule: Rule, v: torch.Tensor, key=None, scope: str = "token") -> torch.Tensor:
    """rule's keep-mask of v [..., d] per token (scope token) or per sample block v[b] of [B, T, d] (sample)."""
    if scope == "token":
        return rule.mask(v, key)
    check_scope(scope)
    if v.dim() != 3:
        raise ValueError(f"scope 'sample' needs [batch, seq, d] activations, got shape {tuple(v.shape)} "
                         f"(MoE expert inputs are gathered per expert and have no sample block)")
    B, T, d = v.shape
    return rule.mask(v.reshape(B, 1, T * d), key).reshape(B, T, d)


class ScopedRule(Rule):
    """A framework rule applied at a scope (token: the rule itself)."""

    def __init__(self, inner: Rule, scope: str = "token"):
        if not isinstance(inner, Rule):
            raise TypeError(f"inner must be a pysparse.rules.Rule, got {type(inner).__name__}")
        self.inner, self.scope = inner, check_scope(scope)
        self.name, self.value = inner.name, inner.value

    def mask(self, v, key=None):
        return scoped_mask(self.inner, v, key, self.scope)

    def __repr__(self):
        return f"{self.inner!r}@{self.scope}"


def jaccard_counts(a: torch.Tensor, b: torch.Tensor) -> tuple[int, int]:
    """(|a & b|, |a | b|) of two bool masks."""
    return int((a & b).sum()), int((a | b).sum())


class StepRule(Rule):
    """The rule of a diffusion generation: a framework rule (or None: dense) at a scope, with mask reuse across
    steps, selection-work accounting, and an optional recorder that sees every applied keep-mask.

    Call begin_step(step) before each denoising step's forward pass (the sampler's observer does)."""

    def __init__(self, inner: Rule | None, scope: str = "token", k: int | None = 1,
                 refresh_overlap: float | None = None, recorder=None):
        if inner is not None and not isinstance(inner, Rule):
            raise TypeError(f"inner must be a pysparse.rules.Rule or None, got {type(inner).__name__}")
        if k is not None and (int(k) != k or k < 1):
            raise ValueError(f"reuse k must be an integer >= 1 (or None: refresh on overlap only), got {k}")
        if k is None and refresh_overlap is None:
            raise ValueError("k=None (reuse until the overlap drops) needs refresh_overlap")
        if refresh_overlap is not None and not 0.0 <= refresh_overlap <= 1.0:
            raise ValueError(f"refresh_overlap must be in [0, 1], got {refresh_overlap}")
        self.inner, self.scope = inner, check_scope(scope)
        self.k = math.inf if k is None else int(k)
        self.refresh_overlap = refresh_overlap
        self.recorder = recorder
        self.name = "dense" if inner is None else inner.name
        self.value = float("nan") if inner is None else inner.value
        self.reset()

    def reset(self) -> None:
        self._cache = {}             # key -> (mask, step it was selected at)
        self.step = 0
        self._first_key = None       # the probe: the first tensor seen in the current step
        self._decided = None         # this step: None (undecided), True (refresh all), False (reuse)
        self.work_done = 0           # entries passed through a selection
        self.work_total = 0          # entries the plain sparse sampler would have selected
        self.refreshes = []          # steps at which everything was selected afresh
        self.probe_overlaps = []     # (step, Jaccard of the probe's fresh and reused masks)

    def new_generation(self) -> None:
        """Forget the cached masks (a new sequence); the work counters keep accumulating."""
        self._cache = {}

    def begin_step(self, step: int) -> None:
        self.step = int(step)
        self._decided = None
        self._first_key = None

    @property
    def work_saved(self) -> float:
        return 1.0 - self.work_done / self.work_total if self.work_total else 0.0

    def _select(self, v, key):
        self.work_done += v.numel()
        return scoped_mask(self.inner, v, key, self.scope)

    def mask(self, v: torch.Tensor, key=None) -> torch.Tensor:
        if self.inner is None:
            m = torch.ones_like(v, dtype=torch.bool)
        else:
            self.work_total += v.numel()
            m = self._mask(v, key)
        if self.recorder is not None:
            self.recorder.record(key, m & (v != 0))
        return m

    def _mask(self, v, key):
        if self._first_key is None:
            self._first_key = key
        cached = self._cache.get(key)
        usable = cached is not None and cached[0].shape == v.shape and self.step - cached[1] < self.k
        if usable and self.refresh_overlap is not None:
            if self._decided is None and key == self._first_key:
                fresh = self._select(v, key)
                inter, union = jaccard_counts(fresh, cached[0])
                j = inter / union if union else 1.0
                self.probe_overlaps.append((self.step, j))
                self._decided = j < self.refresh_overlap
                if self._decided:
                    self.refreshes.append(self.step)
                    self._cache[key] = (fresh, self.step)
                return fresh
            if self._decided:
                usable = False
        if usable:
            return cached[0]
        m = self._select(v, key)
        self._cache[key] = (m, self.step)
        return m

    def __repr__(self):
        k = "inf" if self.k == math.inf else self.k
        return f"StepRule({self.inner!r}, scope={self.scope}, k={k}, refresh_overlap={self.refresh_overlap})"
