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


def _fid_and_tasks(n=400, seed=3):
    """A perplexity task, an accuracy task and a top-1 agreement (fidelity) result, like the default suite."""
    rng = np.random.default_rng(seed)
    base_nll = rng.normal(3.0, 0.3, n) * 100  # per-window NLL sums: wide spread between windows
    correct = (rng.random(n) < 0.6).astype(float)
    recs = []
    for i, s in enumerate([0.0, 0.1, 0.2, 0.3]):
        nll = base_nll + s * 3 + rng.normal(0, 0.2, n)  # sparse = dense + small shift: strongly paired
        acc = np.where(rng.random(n) < s * 0.05, 0.0, correct)
        agree = np.full(n, 100.0) * (1 - s * 0.4)
        tasks = {"ppl": {"metric": "perplexity", "num": nll.tolist(), "den": [100.0] * n, "transform": "exp",
                         "higher_is_better": False, "score": float(np.exp(nll.sum() / (100 * n)))},
                 "cloze": {"metric": "acc", "num": acc.tolist(), "den": [1.0] * n, "transform": "mean",
                           "higher_is_better": True, "score": float(acc.mean())},
                 "top1": {"metric": "top1_agree", "num": agree.tolist(), "den": [100.0] * n, "transform": "mean",
                          "higher_is_better": True, "score": float(agree.mean() / 100)}}
        recs.append(_rec(s, 1 - s / 10, tasks))
    return recs[0], recs[1:]


def test_criterion_tasks_excludes_fidelity_and_reports_it_beside():
    from pysparse.critical import kind_of

    dense, pts = _fid_and_tasks()
    a = analyze(dense, pts, n_boot=200, seed=0)
    assert a["criterion"] == "tasks" and a["suite_tasks"] == ["ppl", "cloze"]
    assert {t: e["kind"] for t, e in a["tasks"].items()} == {"ppl": "tasks", "cloze": "tasks", "top1": "fidelity"}
    assert kind_of(dense["tasks"]["top1"]) == "fidelity"
    tasks_mean = np.mean([a["tasks"]["ppl"]["retention"], a["tasks"]["cloze"]["retention"]], axis=0)
    assert np.allclose(a["suite"]["retention"], tasks_mean)
    assert set(a["means"]) == {"tasks", "fidelity"}
    assert np.allclose(a["means"]["fidelity"]["retention"], a["tasks"]["top1"]["retention"])
    # top-1 agreement falls faster: its own critical sparsity is lower than the task criterion's
    assert a["means"]["fidelity"]["interpolated"] < a["suite"]["interpolated"]
    b = analyze(dense, pts, n_boot=0, criterion="both")
    assert b["suite_tasks"] == ["ppl", "cloze", "top1"] and set(b["means"]) == {"tasks", "fidelity", "both"}
    f = analyze(dense, pts, n_boot=0, criterion="fidelity")
    assert f["suite"]["interpolated"] == a["means"]["fidelity"]["interpolated"]
    only_fid = {"tasks": {"top1": dense["tasks"]["top1"]}}
    with pytest.raises(ValueError, match="no task in this suite"):
        analyze(only_fid, [], criterion="tasks")
    with pytest.raises(ValueError, match="unknown criterion"):
        analyze(dense, pts, criterion="accuracy")


def test_bootstrap_is_paired():
    # Windows differ a lot from each other (sd 30 nats) but each sparse window is its dense window plus a small
    # shift: a paired resample keeps the ratio's interval narrow; an unpaired one would be ~100x wider.
    dense, pts = _fid_and_tasks()
    a = analyze(dense, pts, n_boot=300, seed=0)
    lo, hi = a["tasks"]["ppl"]["retention_ci"][1]
    assert hi - lo < 0.002
    r = a["tasks"]["ppl"]["retention"][1]
    assert lo <= r <= hi
    assert a["tasks"]["ppl"]["noisy"] == []
    # the small-sample accuracy task cannot resolve 1% at n = 400 with 2% flips: flagged
    assert a["tasks"]["cloze"]["noisy"], a["tasks"]["cloze"]["retention_ci"]
    assert all(x["retention_ci"][1] - x["retention_ci"][0] > 0.01 for x in a["tasks"]["cloze"]["noisy"])
    # the dense point's interval is exactly [1, 1]: the same examples on both sides
    assert a["tasks"]["ppl"]["retention_ci"][0] == [1.0, 1.0]


def test_report_table_flags_noisy_tasks_and_names_the_value(tmp_path):
    from pysparse import report

    dense, pts = _fid_and_tasks()
    recs = []
    for i, r in enumerate([dense] + pts):
        for t in r["tasks"].values():
            t["metrics"] = {"kl": 0.01 * i} if t["metric"] == "top1_agree" else {}
        recs.append(dict(r, kind="point", model="m", site="input", rule="top_p", config="c", dense_key="k",
                         dense=i == 0, value=1.0 if i == 0 else r["value"], stats=None,
                         retention={t: 1.0 for t in r["tasks"]}))
    s = report.build(recs, n_boot=200)
    md = report.markdown_table(s)
    assert "**suite mean (tasks)**" in md and "| fidelity mean |" in md
    assert "cloze (tasks)" in md and "top1 (fidelity)" in md
    assert "NOISY: retention interval wider than 1%" in md
    assert "top_p: p" in md  # the value column is explained
    assert "[" in report.curve_table(s)


def test_report_plots_critical_vs_size_for_engine_ids(tmp_path):
    """The engine backend's model ids carry "@engine": the report still finds each registry model's size, so a
    series over several models gets its critical-vs-size plot."""
    from pysparse import report
    from pysparse.models import MODELS

    dense, pts = _fid_and_tasks()
    recs = []
    for model in ("smollm2-135m@engine", "qwen2.5-coder-0.5b@engine"):
        for i, r in enumerate([dense] + pts):
            for t in r["tasks"].values():
                t["metrics"] = {"kl": 0.01 * i} if t["metric"] == "top1_agree" else {}
            recs.append(dict(r, kind="point", model=model, site="input", rule="top_p", config="c" + model,
                             dense_key="k" + model, dense=i == 0, value=1.0 if i == 0 else r["value"], stats=None,
                             retention={t: 1.0 for t in r["tasks"]}))
    s = report.build(recs, n_boot=50)
    assert sorted(e["params"] for e in s["entries"]) == [MODELS["smollm2-135m"].params,
                                                          MODELS["qwen2.5-coder-0.5b"].params]
    path = report.plot_scale(s, tmp_path / "critical_vs_size.png")
    assert path.exists() and path.stat().st_size > 1000
