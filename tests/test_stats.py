"""Accounting: pooled sums, per layer, phases, padding, histogram, persistence, merge."""

import json

import numpy as np
import pytest
import torch

from pysparse.stats import SparsityStats


def kept(zeros_per_token, d):
    """A kept mask [tokens, d] with the given number of zeros per token."""
    m = torch.ones(len(zeros_per_token), d, dtype=torch.bool)
    for i, z in enumerate(zeros_per_token):
        m[i, :z] = False
    return m


def test_pooled_not_mean_of_means():
    s = SparsityStats(("input", "intermediate"), n_layers=2)
    s.record(0, "input", kept([4, 4], 4), None, "prompt")          # layer 0: 8 / 8
    s.record(1, "input", kept([0] * 6, 4), None, "prompt")         # layer 1: 0 / 24
    s.record(0, "intermediate", kept([1, 2], 8), None, "prompt")   # 3 / 16
    assert s.zeros("input").tolist() == [8, 0] and s.totals("input").tolist() == [8, 24]
    assert s.overall("input") == 8 / 32  # pooled, not (1.0 + 0.0) / 2
    assert np.allclose(s.per_layer("input"), [1.0, 0.0])
    assert s.overall() == (8 + 3) / (32 + 16)
    assert s.zeros().tolist() == [11, 0] and s.totals().tolist() == [24, 24]
    assert np.isnan(s.per_layer("intermediate")[1])
    assert s.zeros().dtype == np.int64


def test_token_mask_and_phases():
    s = SparsityStats(("gate",), n_layers=1)
    m = kept([1, 2, 3, 4, 0, 0], 8).reshape(2, 3, 8)
    tm = torch.tensor([[0, 1, 1], [1, 1, 0]])
    s.record(0, "gate", m, tm, "prompt")
    assert s.totals(phase="prompt")[0] == 4 * 8 and s.zeros(phase="prompt")[0] == 2 + 3 + 4 + 0
    s.record(0, "gate", kept([8], 8), torch.ones(1), "generated")
    assert s.totals(phase="generated")[0] == 8 and s.zeros(phase="generated")[0] == 8
    assert s.overall() == (9 + 8) / 40
    assert s.overall(phase="generated") == 1.0
    assert s.n_tokens() == 5 and s.n_tokens(phase="prompt") == 4
    with pytest.raises(ValueError, match="phase"):
        s.record(0, "gate", m, None, "decode")
    with pytest.raises(ValueError, match="unknown tensor"):
        s.overall("up")
    with pytest.raises(ValueError, match="token mask"):
        s.record(0, "gate", m, torch.ones(5), "prompt")
    assert np.isnan(SparsityStats("up", 2).overall())


def test_histogram_persistence_merge():
    s = SparsityStats(("input",), n_layers=3)
    s.record(2, "input", kept([0, 5, 10, 10], 10), None, "prompt")
    counts, edges = s.token_histogram(bins=10)
    assert counts.sum() == 4 and counts[0] == 1 and counts[5] == 1 and counts[-1] == 2
    assert np.allclose(edges, np.linspace(0, 1, 11))
    d = json.loads(json.dumps(s.to_dict()))
    s2 = SparsityStats.from_dict(d)
    assert s2.zeros().tolist() == s.zeros().tolist() and s2.totals().tolist() == s.totals().tolist()
    assert np.array_equal(s2.token_histogram(bins=10)[0], counts)
    s2.merge(s)
    assert s2.zeros()[2] == 2 * 25 and s2.totals()[2] == 80 and s2.overall() == s.overall()
    with pytest.raises(ValueError, match="merge"):
        s2.merge(SparsityStats(("input",), n_layers=2))
    s.reset()
    assert s.totals().sum() == 0 and s.token_histogram(bins=5)[0].sum() == 0
