import numpy as np
import pytest

from pysparse.critical import analyze, critical_point


def test_monotone_curve_interpolates_between_last_pass_and_first_fail():
    s = [0.0, 0.2, 0.4, 0.6]
    r = [1.0, 0.995, 0.992, 0.97]
    c = critical_point(s, r)
    assert c["critical"] == 0.4 and c["crossed"] and not c["non_monotone"]
    # 0.992 -> 0.97 crosses 0.99 at t = 0.002 / 0.022
    assert c["interpolated"] == pytest.approx(0.4 + 0.2 * 0.002 / 0.022)
    assert c["first_fail"] == 0.6


def test_unsorted_input_is_sorted_by_sparsity():
    c = critical_point([0.6, 0.0, 0.4, 0.2], [0.97, 1.0, 0.992, 0.995])
    assert c["critical"] == 0.4


def test_non_monotone_curve_is_flagged_and_later_pass_never_reported():
    s = [0.0, 0.1, 0.2, 0.3, 0.4]
    r = [1.0, 0.995, 0.985, 0.993, 0.95]
    c = critical_point(s, r)
    assert c["critical"] == 0.1
    assert c["non_monotone"] and c["passing_after_fail"] == [0.3]
    assert 0.1 < c["interpolated"] < 0.2


def test_all_points_pass_is_a_lower_bound():
    c = critical_point([0.0, 0.3, 0.5], [1.0, 0.999, 0.995])
    assert c["critical"] == 0.5 and c["interpolated"] == 0.5 and not c["crossed"]


def test_first_sparse_point_fails():
    c = critical_point([0.0, 0.3], [1.0, 0.9])
    assert c["critical"] == 0.0
    assert c["interpolated"] == pytest.approx(0.3 * 0.01 / 0.1)
    # without the dense point, interpolation starts from (0, 1.0)
    c = critical_point([0.3, 0.5], [0.9, 0.8])
    assert c["critical"] == 0.0 and c["first_point_fails"]
    assert c["interpolated"] == pytest.approx(0.03)


def test_exactly_at_threshold_passes():
    assert critical_point([0.0, 0.5, 0.6], [1.0, 0.99, 0.98])["critical"] == 0.5


def test_bad_input():
    with pytest.raises(ValueError):
        critical_point([0.0, 0.1], [1.0])
    with pytest.raises(ValueError):
        critical_point([], [])


def _rec(sparsity, value, tasks):
    return {"sparsity": sparsity, "value": value, "tasks": tasks}


def _synthetic(seed=0, n=300):
    """Accuracy task whose per-example correctness degrades with sparsity, and a perplexity task."""
    rng = np.random.default_rng(seed)
    base = rng.random(n) < 0.6
    pts, dense = [], None
    for i, s in enumerate([0.0, 0.2, 0.4, 0.6]):
        flip = rng.random(n) < [0, 0.003, 0.01, 0.08][i]
        acc = (base & ~flip).astype(float)
        nll = rng.normal(3.0 + [0, 0.005, 0.02, 0.2][i], 0.01, 20) * 100
        tasks = {"acc_task": {"num": acc.tolist(), "den": [1.0] * n, "transform": "mean", "higher_is_better": True,
                              "score": acc.mean()},
                 "ppl_task": {"num": nll.tolist(), "den": [100.0] * 20, "transform": "exp",
                              "higher_is_better": False, "score": float(np.exp(nll.sum() / 2000))}}
        if i == 0:
            dense = _rec(0.0, 1.0, tasks)
        else:
            pts.append(_rec(s, 1 - s, tasks))
    return dense, pts


def test_analyze_point_estimates_and_bootstrap_determinism():
    dense, pts = _synthetic()
    a = analyze(dense, pts, n_boot=300, seed=1)
    b = analyze(dense, pts, n_boot=300, seed=1)
    assert a == b  # fixed seed: identical intervals
    c = analyze(dense, pts, n_boot=300, seed=2)
    assert c["suite"]["interpolated_ci"] != a["suite"]["interpolated_ci"]
    for e in list(a["tasks"].values()) + [a["suite"]]:
        lo, hi = e["interpolated_ci"]
        assert 0.0 <= lo <= hi <= 0.6
        assert e["critical_ci"][0] <= e["critical"] <= e["critical_ci"][1] or not e["crossed"]
    # suite retention is the mean of the task retentions
    rs = np.mean([a["tasks"][t]["retention"] for t in a["tasks"]], axis=0)
    assert np.allclose(rs, a["suite"]["retention"])
    # the perplexity retention is ppl(dense)/ppl(p)
    d, p = dense["tasks"]["ppl_task"]["score"], pts[0]["tasks"]["ppl_task"]["score"]
    assert a["tasks"]["ppl_task"]["retention"][1] == pytest.approx(d / p)
