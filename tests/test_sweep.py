"""Sweeps on a tiny random model: records, resume after an interruption, bisection, bad input."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from char_tokenizer import CharTokenizer  # noqa: E402
from test_tasks import _docs  # noqa: E402
from tiny_models import build_tiny  # noqa: E402

from pysparse.critical import analyze  # noqa: E402
from pysparse.sweep import ResultsFile, Sweep, split_records  # noqa: E402
from pysparse.tasks import ClozeTask, PerplexityTask  # noqa: E402


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYSPARSE_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def model():
    return build_tiny("llama")


def _tasks():
    return [PerplexityTask(_docs(), window=64, max_tokens=200, max_tokens_per_doc=100),
            ClozeTask(_docs(), n=4, context_words=15)]


def _sweep(model, path, **kw):
    return Sweep(model, CharTokenizer(), _tasks(), "input", "top_p", results=path, model_id="tiny", progress=False,
                 batch_size=4, **kw)


class Stop(KeyboardInterrupt):
    pass


def test_resume_after_interruption_computes_only_the_rest(model, tmp_path):
    path = tmp_path / "r.jsonl"
    grid = [0.9, 0.7, 0.5, 0.3]
    sw = _sweep(model, path)
    seen = []

    def interrupt(rec):
        seen.append(rec["value"])
        if len(seen) == 3:  # dense + two points, then Ctrl-C
            raise Stop()

    sw.on_point = interrupt
    with pytest.raises(KeyboardInterrupt):
        sw.run(grid)
    assert len(ResultsFile(path).records()) == 3
    # a cut last line (a crash mid-write) is ignored, not fatal
    with open(path, "a") as f:
        f.write('{"kind": "point", "trunc')
    sw2 = _sweep(model, path)
    computed = []
    sw2.on_point = lambda r: computed.append(r["value"])
    pts = sw2.run(grid)
    assert computed == [0.5, 0.3]  # dense, 0.9 and 0.7 were read back
    assert [p["value"] for p in pts] == grid
    recs = ResultsFile(path).records()
    assert sum(1 for r in recs if r.get("dense")) == 1
    (dense, points), = split_records(recs).values()
    assert [p["value"] for p in points] == [0.9, 0.7, 0.5, 0.3]  # sorted by sparsity
    s = [p["sparsity"] for p in points]
    assert s == sorted(s) and 0 < s[0] < s[-1] < 1
    for p in points:
        assert set(p["retention"]) == {"ppl_ppl", "ppl_top1", "cloze", "suite"}
        assert p["sparsity_generated"] is not None  # the cloze task decodes
    a = analyze(dense, points, n_boot=50)
    assert set(a["tasks"]) == {"ppl_ppl", "ppl_top1", "cloze"}


def test_a_different_config_does_not_reuse_points(model, tmp_path):
    path = tmp_path / "r.jsonl"
    _sweep(model, path).run([0.8])
    sw = Sweep(model, CharTokenizer(), _tasks(), "intermediate", "top_p", results=path, model_id="tiny",
               progress=False)
    computed = []
    sw.on_point = lambda r: computed.append(r["value"])
    sw.run([0.8])
    assert computed == [0.8]  # new site: the point is computed; the dense point is shared
    assert sum(1 for r in ResultsFile(path).records() if r.get("dense")) == 1


def test_bisection_stays_on_the_grid_and_brackets_the_crossing(model, tmp_path):
    sw = _sweep(model, tmp_path / "b.jsonl")
    grid = [1.0, 0.99, 0.97, 0.95, 0.9, 0.8, 0.7, 0.5, 0.3, 0.1, 0.0]
    pts = sw.bisect(grid)
    assert 1 <= len(pts) <= 4  # log2(10) rounded up
    vals = [p["value"] for p in pts]
    assert all(v in grid for v in vals)
    passing = [p["value"] for p in pts if p["retention"]["suite"] >= 0.99]
    failing = [p["value"] for p in pts if p["retention"]["suite"] < 0.99]
    if passing and failing:
        assert min(passing) > max(failing)
        i, j = grid.index(min(passing)), grid.index(max(failing))
        assert j == i + 1  # adjacent grid values bracket the crossing


def test_bad_values_and_names(model, tmp_path):
    sw = _sweep(model, tmp_path / "x.jsonl")
    with pytest.raises(ValueError, match="outside"):
        sw.run([1.5])
    with pytest.raises(ValueError, match="unknown rule"):
        Sweep(model, CharTokenizer(), _tasks(), "input", "top_q", results=tmp_path / "y.jsonl")
    with pytest.raises(ValueError, match="unknown site"):
        Sweep(model, CharTokenizer(), _tasks(), "output", "top_p", results=tmp_path / "y.jsonl")


def test_threshold_rule_is_calibrated_on_held_out_text(model, tmp_path):
    sw = Sweep(model, CharTokenizer(), _tasks(), "input", "threshold", results=tmp_path / "t.jsonl",
               model_id="tiny", progress=False, calib_docs=_docs(4, 20), calib_tokens=600)
    sw._calib_batches = lambda L=64, f=sw._calib_batches: f(L)  # the tiny model has 128 positions
    pts = sw.run([0.3, 0.6])
    # thresholds fitted on other text land near the target sparsity
    assert [round(p["sparsity"], 1) for p in pts] == pytest.approx([0.3, 0.6], abs=0.15)
    assert pts[0]["sparsity"] < pts[1]["sparsity"]


def test_bisection_per_criterion_and_refine_resolve_the_crossing(model, tmp_path):
    from pysparse.critical import suite_retention

    # perplexity only: its top-1 agreement is the fidelity criterion (the tiny model's cloze accuracy is 0)
    sw = Sweep(model, CharTokenizer(), _tasks()[:1], "input", "top_p", results=tmp_path / "r.jsonl",
               model_id="tiny", progress=False, batch_size=4)
    grid = [1.0, 0.99, 0.97, 0.95, 0.9, 0.8, 0.7, 0.5, 0.3, 0.1, 0.0]
    sw.bisect(grid)  # the sweep's criterion: tasks (perplexity), not top-1 agreement
    assert sw.criterion == "tasks"
    for p in sw.points():
        assert p["retention"]["suite"] == p["retention"]["ppl_ppl"] != p["retention"]["ppl_top1"]
    before = dict(sw.done)
    sw.bisect(grid, criterion="fidelity")  # reuses the points already measured
    assert all(sw.done[k] is v for k, v in before.items())
    step = 0.004
    for crit in ("fidelity", "tasks"):
        sw.refine(step, criterion=crit)
        prev, bracket = 1.0, None
        for p in sw.points():
            if suite_retention(p, crit) < 0.99:
                bracket = (p["value"], prev)
                break
            prev = p["value"]
        if bracket is not None:
            assert bracket[1] - bracket[0] <= step + 1e-9, (crit, bracket)
    with pytest.raises(ValueError, match="refine step"):
        sw.refine(0.0)
    with pytest.raises(ValueError, match="unknown criterion"):
        _sweep(model, tmp_path / "c.jsonl", criterion="accuracy")
