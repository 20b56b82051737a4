"""Calibrated magnitude thresholds (the rule of TEAL and CATS), to compare top-p against.

For every hooked (layer, tensor), the threshold is the `target_sparsity` quantile of |v| over the real
(non-padding) calibration tokens, measured on the DENSE model (every tensor is calibrated on unsparsified
activations, as TEAL does). Then `Threshold(thresholds)` zeroes |v| < t, which gives about `target_sparsity`
on data like the calibration data.

Quantiles are taken from a per-(layer, tensor) histogram of log2|v| with fine bins (4096 per 64 octaves,
~1.1% relative bin width, interpolated inside the bin), so memory stays constant however many tokens are
used; exact zeros get their own bin (a threshold 0 keeps them, as the rule keeps |v| >= t).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch

from .rules import Threshold, _check_unit
from .sites import SITE_TENSORS, Sparsifier

_LO, _HI, _NBINS = -48.0, 16.0, 4096  # log2 range covered: 2^-48 .. 2^16


class _LogHistogram:
    def __init__(self):
        self.counts = torch.zeros(_NBINS + 2, dtype=torch.int64)  # [0] exact zeros / below range, [-1] above

    def add(self, a: torch.Tensor) -> None:
        a = a.reshape(-1).to(torch.float32)
        lg = torch.log2(a)  # -inf for zeros
        idx = ((lg - _LO) * (_NBINS / (_HI - _LO))).floor_()
        idx = torch.where(a > 0, idx.clamp_(min=-1, max=_NBINS) + 1, torch.zeros_like(idx)).to(torch.int64)
        self.counts += torch.bincount(idx, minlength=_NBINS + 2)

    def quantile(self, q: float) -> float:
        c = self.counts.numpy().astype(np.float64)
        n = c.sum()
        if n == 0:
            raise ValueError("no calibration values were seen")
        want = q * n
        cum = np.cumsum(c)
        b = int(np.searchsorted(cum, want, side="left"))
        if b == 0 or want <= 0:
            return 0.0  # the quantile falls among exact zeros: keep everything nonzero
        b = min(b, _NBINS + 1)
        before = cum[b - 1]
        frac = 0.0 if c[b] == 0 else (want - before) / c[b]
        width = (_HI - _LO) / _NBINS
        lo = _LO + (b - 1) * width
        # Entries below t are zeroed; putting t at the interpolated point of the bin hits the target closely.
        return float(2.0 ** (lo + frac * width))


class Calibration:
    """|v| histograms per (layer, tensor) from one pass over calibration data; thresholds for any target."""

    def __init__(self, hists: dict, site: str, n_vectors: int):
        # n_vectors: calibration vectors seen for the first tensor (a token counts once per layer and expert)
        self.hists, self.site, self.n_vectors = hists, site, n_vectors

    def thresholds(self, target_sparsity: float) -> Threshold:
        target_sparsity = _check_unit("threshold", "target sparsity", target_sparsity)
        return Threshold({k: h.quantile(target_sparsity) for k, h in sorted(self.hists.items())},
                         target=target_sparsity)


def collect_calibration(model, site: str, batches: Iterable[dict], layers=None) -> Calibration:
    """Run the dense model over `batches` (dicts for model(**batch); attention_mask == 0 excluded) once and
    keep the |v| distribution of every hooked (layer, tensor) of `site`. MoE: all experts of a layer (and a
    shared expert) share one distribution, hence one threshold per (layer, tensor)."""
    hists: dict[tuple[int, str], _LogHistogram] = {}

    def observe(layer, tensor, v, token_mask):
        a = v.detach().abs()
        if token_mask is not None:
            a = a.reshape(-1, a.shape[-1])[token_mask.reshape(-1)]
        hists.setdefault((layer, tensor), _LogHistogram()).add(a)

    sp = Sparsifier(model, site, rule=None, layers=layers, observer=observe)
    n_batches = 0
    with sp, torch.inference_mode():
        for batch in batches:
            if not isinstance(batch, dict):
                raise TypeError(f"calibration batches must be dicts for model(**batch), got {type(batch).__name__}")
            sp.set_tokens(batch.get("attention_mask"))
            model(**batch)
            n_batches += 1
    if n_batches == 0 or not hists:
        raise ValueError("calibrate_thresholds: no calibration batches (need at least one batch of text)")
    first = SITE_TENSORS[site][0]
    return Calibration(hists, site, sp.stats.n_tokens(first))


def calibrate_thresholds(model, site: str, batches: Iterable[dict], target_sparsity: float,
                         layers=None) -> Threshold:
    """Fit per-(layer, tensor) thresholds for `site` so that about `target_sparsity` of entries fall below.

    `batches` are dicts passed as model(**batch) (input_ids, attention_mask, ...); padding positions
    (attention_mask == 0) are not counted. For several targets, collect_calibration(...) once and call
    .thresholds(target) for each: one pass over the data instead of one per target.
    """
    target_sparsity = _check_unit("threshold", "target sparsity", target_sparsity)
    return collect_calibration(model, site, batches, layers).thresholds(target_sparsity)
