"""Calibrated thresholds hit the target sparsity on their calibration data, per (layer, tensor)."""

import numpy as np
import pytest
import torch

from pysparse.calibrate import _LogHistogram, calibrate_thresholds, collect_calibration
from pysparse.rules import Threshold
from pysparse.sites import Sparsifier
# Tiny tensors: intra-op threads only add synchronisation cost (and stall on a busy shared machine).
torch.set_num_threads(1)

from tiny_models import tiny_batch, tiny_model


def test_log_histogram_quantile_matches_numpy():
    g = torch.Generator().manual_seed(0)
    a = (torch.randn(50_000, generator=g) * 3).abs()
    a[:1000] = 0.0
    h = _LogHistogram()
    h.add(a[:20_000])
    h.add(a[20_000:])
    for q in (0.1, 0.5, 0.9, 0.99):
        t = h.quantile(q)
        assert abs(float((a < t).float().mean()) - q) < 2e-3, q
    assert h.quantile(0.01) == 0.0  # 2% are exact zeros


@pytest.mark.parametrize("arch,site", [("llama", "all_inputs"), ("gpt2", "intermediate"), ("olmoe", "gate")])
def test_thresholds_hit_target(arch, site):
    model = tiny_model(arch)
    batches = [tiny_batch(batch=2, seq=16, left_pad=(0, 5), seed=s) for s in range(3)]
    target = 0.6
    rule = calibrate_thresholds(model, site, batches, target)
    assert isinstance(rule, Threshold) and rule.target == target and rule.value == target
    assert len(rule.thresholds) == 2 * (2 if site == "all_inputs" else 1)
    # on the calibration data, each tensor's sparsity is the target (upstream sparsification shifts the
    # second tensor of all_inputs slightly, so measure each tensor alone)
    for t in (("input", "intermediate") if site == "all_inputs" else (site,)):
        with Sparsifier(model, t, rule) as sp:
            for b in batches:
                sp.set_tokens(b["attention_mask"])
                model(**b)
        per_layer = sp.stats.per_layer()
        assert np.all(np.abs(per_layer - target) < 0.01), (t, per_layer)


def test_bad_calibration_input():
    model = tiny_model("llama")
    with pytest.raises(ValueError, match="no calibration batches"):
        calibrate_thresholds(model, "input", [], 0.5)
    with pytest.raises(ValueError, match="target sparsity"):
        calibrate_thresholds(model, "input", [tiny_batch()], 1.5)


def test_one_collection_many_targets():
    model = tiny_model("qwen2_moe")
    batches = [tiny_batch(batch=2, seq=16, left_pad=(0, 5), seed=s) for s in range(2)]
    cal = collect_calibration(model, "intermediate", batches)
    assert cal.n_vectors == 2 * (32 - 5) * 2 * (2 + 1)  # tokens x layers x (top-2 experts + shared expert)
    prev = -1.0
    for target in (0.2, 0.5, 0.8):
        rule = cal.thresholds(target)
        assert rule.thresholds == calibrate_thresholds(model, "intermediate", batches, target).thresholds
        t = rule.thresholds[(1, "intermediate")]
        assert t > prev
        prev = t
        with Sparsifier(model, "intermediate", rule) as sp:
            for b in batches:
                sp.set_tokens(b["attention_mask"])
                model(**b)
        assert abs(sp.stats.overall() - target) < 0.02
