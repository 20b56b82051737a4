"""Rules against a plain per-vector numpy reference written straight from docs/method.md §1 (and the engine's
definitions in cpp/sparse/select.h for top-k ties, float64 comparisons and powers)."""

import math
import numpy as np
import pytest
import torch

from pysparse.rules import PAPER_P_GRID, MaxP, Rule, Threshold, TopK, TopP, make_rule


def ref_top_p(v, p, q=1.0):
    """docs/method.md §1 for one vector, with Python loops: the oracle."""
    a = np.abs(np.asarray(v, dtype=np.float32)) ** np.float32(q)  # scores in float32 (as documented)
    s = sorted(a.tolist(), reverse=True)
    total = 0.0
    for x in s:
        total += x  # float64 sum in sorted order
    run = 0.0
    k = len(s) - 1
    for i, x in enumerate(s):
        run += x  # float64 running sum
        if run >= p * total:
            k = i
            break
    t = s[k]
    return a >= t


def ref_max_p(v, p):
    a = np.abs(np.asarray(v, dtype=np.float32)).astype(np.float64)
    return a >= p * a.max()


def ref_top_k(v, keep):
    a = np.abs(np.asarray(v, dtype=np.float32))
    k = min(len(a), max(0, math.ceil(keep * len(a) - 1e-9)))
    m = np.zeros(len(a), dtype=bool)
    m[np.argsort(-a, kind="stable")[:k]] = True
    return m


def test_grid_is_papers():
    assert PAPER_P_GRID[0] == 1.0 and PAPER_P_GRID[-1] == 0.0
    assert len(PAPER_P_GRID) == 26
    assert all(a > b for a, b in zip(PAPER_P_GRID, PAPER_P_GRID[1:]))


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 1.0])
@pytest.mark.parametrize("q", [1.0, 2.0])
def test_top_p_matches_reference_per_row(p, q):
    g = torch.Generator().manual_seed(int(p * 1000) + int(q))
    v = torch.randn(3, 5, 37, generator=g)
    v[0, 0, :5] = 0.0  # some exact zeros
    v[1, 1] = 0.0  # an all-zero token
    v[2, 2, :] = torch.tensor([1.0, -1.0] * 18 + [0.5])  # ties of opposite sign
    m = TopP(p, power=q).mask(v)
    assert m.dtype == torch.bool and m.shape == v.shape
    for idx in np.ndindex(*v.shape[:-1]):
        ref = ref_top_p(v[idx].numpy(), p, q)
        assert np.array_equal(m[idx].numpy(), ref), (idx, p, q)


def test_top_p_edge_cases():
    v = torch.tensor([[0.0, 3.0, -3.0, 1.0, 0.5]])
    assert TopP(0.0).mask(v).tolist() == [[False, True, True, False, False]]  # max and its tie (negative)
    # p = 1 is the rule at p = 1: the running sum reaches the total at the last non-zero entry, zeros dropped
    assert TopP(1.0).mask(v).tolist() == [[False, True, True, True, True]]
    # 6/7.5 = 0.8: the two 3s reach exactly p = 0.8 -> threshold 3
    assert TopP(0.8).mask(v).tolist() == [[False, True, True, False, False]]
    assert TopP(0.81).mask(v).tolist() == [[False, True, True, True, False]]
    assert TopP(0.5).mask(torch.zeros(2, 4)).all()  # all-zero vector keeps all (t = 0)
    assert TopP(0.0).mask(torch.tensor([-2.0])).tolist() == [True]  # d = 1
    assert TopP(0.3).mask(torch.tensor([0.0])).tolist() == [True]
    out = TopP(0.5)(torch.tensor([1.0, -4.0, 2.0, 0.1]))
    assert out.tolist() == [0.0, -4.0, 0.0, 0.0]  # nothing rescaled, sign kept


def test_top_p_keeps_at_least_mass_p_and_is_minimal():
    g = torch.Generator().manual_seed(1)
    v = torch.randn(200, 64, generator=g).double()
    for p in (0.3, 0.7, 0.9):
        m = TopP(p).mask(v)
        a = v.abs()
        kept = (a * m).sum(-1)
        assert torch.all(kept >= p * a.sum(-1) - 1e-12)
        # dropping the smallest kept entry would fall below p (minimality; no ties in continuous data)
        smallest = torch.where(m, a, torch.full_like(a, float("inf"))).amin(-1)
        assert torch.all(kept - smallest < p * a.sum(-1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_dtypes_kept_and_mask_matches_float32(dtype):
    g = torch.Generator().manual_seed(2)
    v = torch.randn(4, 6, 100, generator=g).to(dtype)
    for rule in (TopP(0.8), TopK(0.3), MaxP(0.2), Threshold(0.5)):
        out = rule(v)
        assert out.dtype == dtype and out.shape == v.shape
        m = rule.mask(v)
        assert torch.equal(m, rule.mask(v.float() if dtype != torch.float64 else v))
        assert torch.equal(out, torch.where(m, v, torch.zeros((), dtype=dtype)))
        assert torch.all((out == 0) | (out == v))


def test_batched_equals_per_row():
    g = torch.Generator().manual_seed(3)
    v = torch.randn(2, 7, 300, generator=g)
    for rule in (TopP(0.9), TopP(0.5, power=2.0), TopK(0.25), MaxP(0.1), Threshold(0.7)):
        full = rule.mask(v)
        for b in range(2):
            for s in range(7):
                assert torch.equal(full[b, s], rule.mask(v[b, s])), rule
        assert torch.equal(full.reshape(14, 300), rule.mask(v.reshape(14, 300)))


def test_noncontiguous_chunked_and_torch_paths_agree(monkeypatch):
    import pysparse.rules as rules
    g = torch.Generator().manual_seed(6)
    v = torch.randn(50, 3, 40, generator=g).transpose(0, 1)  # non-contiguous
    ref = {r: r.mask(v.contiguous()) for r in (TopP(0.7), TopK(0.3), MaxP(0.3))}
    monkeypatch.setattr(rules, "_CHUNK", 100)  # several rows per chunk, many chunks
    for r, m in ref.items():
        assert torch.equal(r.mask(v), m), r
        assert torch.equal(r(v), torch.where(m, v, torch.zeros(()))), r
    # the torch (non-CPU) top-p path gives the same thresholds as the numpy one
    a = v.abs().contiguous()
    s, _ = torch.sort(a, dim=-1, descending=True)
    c = torch.cumsum(s, dim=-1, dtype=torch.float64)
    k = (c < c[..., -1:] * 0.7).sum(-1, keepdim=True).clamp_(max=39)
    assert torch.equal(TopP(0.7).threshold(v), s.gather(-1, k))


def test_empty_inputs():
    for r in (TopP(0.5), TopK(0.5), MaxP(0.5), Threshold(0.5)):
        for shape in ((0, 8), (3, 0)):
            v = torch.zeros(shape)
            assert r(v).shape == shape and r.mask(v).dtype == torch.bool
    with pytest.raises(ValueError, match="dimension"):
        TopP(0.5)(torch.tensor(1.0))
    with pytest.raises(TypeError):
        TopP(0.5)([1.0, 2.0])


def test_rules_work_under_autograd():
    v = torch.randn(4, 16, requires_grad=True)
    for r in (TopP(0.5), TopK(0.5), MaxP(0.5), Threshold(0.5)):
        r(v).sum().backward()


def test_engine_path_equals_torch_path(monkeypatch):
    """When pysparse._core is built, top-p / top-k run in the C++ engine; the result must be bit-identical."""
    import pysparse.rules as rules
    if rules._engine_select_rows() is None:
        pytest.skip("pysparse._core not built")
    monkeypatch.setattr(rules, "_ENGINE_MIN", 0)
    g = torch.Generator().manual_seed(8)
    v = torch.randn(6, 50, 257, generator=g)
    v[0, 0] = 0.0
    v[1, 1, :100] = 0.0
    v[2] = torch.randint(-3, 4, (50, 257), generator=g).float()  # ties
    cases = [(TopP(p, power=q), v) for p in (0.0, 0.3, 0.9, 0.99, 1.0) for q in (1.0, 2.0, 1.5)]
    cases += [(TopK(k), v) for k in (0.1, 0.5, 0.07)]
    cases += [(TopP(0.7), v.bfloat16()), (TopP(0.5), torch.randn(9, 1)), (TopK(0.3), v.half())]
    engine = [(r, x, r.mask(x)) for r, x in cases]
    monkeypatch.setenv("PYSPARSE_RULES_ENGINE", "0")
    for r, x, m in engine:
        assert torch.equal(m, r.mask(x)), r


def test_top_k_counts_and_values():
    g = torch.Generator().manual_seed(4)
    v = torch.randn(5, 40, generator=g)
    m = TopK(0.25).mask(v)
    assert (m.sum(-1) == 10).all()
    a = v.abs()
    kept_min = torch.where(m, a, torch.full_like(a, float("inf"))).amin(-1)
    dropped_max = torch.where(m, torch.zeros_like(a), a).amax(-1)
    assert torch.all(kept_min >= dropped_max)
    assert TopK(1.0).mask(v).all() and not TopK(0.0).mask(v).any()
    assert TopK(0.5).mask(torch.tensor([3.0])).tolist() == [True]  # k = ceil
    assert [TopK(0.5).k_for(d) for d in (1, 2, 3, 5)] == [1, 1, 2, 3]
    assert TopK(0.07).k_for(100) == 7 and TopK(0.01).k_for(10) == 1


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.25, 0.5, 0.07, 0.99, 1.0])
def test_top_k_matches_stable_sort_reference_with_ties(keep):
    g = torch.Generator().manual_seed(7)
    v = torch.randint(-3, 4, (20, 31), generator=g).float()  # many ties
    v[0] = 0.0
    m = TopK(keep).mask(v)
    for i in range(20):
        assert np.array_equal(m[i].numpy(), ref_top_k(v[i].numpy(), keep)), (keep, i)


def test_max_p_reference():
    g = torch.Generator().manual_seed(5)
    v = torch.randn(6, 33, generator=g)
    for p in (0.0, 0.1, 0.5, 1.0):
        m = MaxP(p).mask(v)
        for i in range(6):
            assert np.array_equal(m[i].numpy(), ref_max_p(v[i].numpy(), p))
    assert MaxP(0.0).mask(v).all()


def test_float64_comparisons_and_powers():
    # 0.1 is not a float32: a value equal to float32(0.1) > 0.1 is kept by a float64 compare
    x = float(np.float32(0.1))
    assert x > 0.1
    v = torch.tensor([[x, 0.05]])
    assert Threshold(0.1).mask(v).tolist() == [[True, False]]
    assert Threshold(x + 1e-12).mask(v).tolist() == [[False, False]]  # a float32 compare would keep it
    w = torch.tensor([[1.0, x]])
    assert MaxP(0.1).mask(w).tolist() == [[True, True]]
    # power 3: float32(|v| ** 3 in float64)
    u = torch.randn(50, 17)
    a = TopP(0.0, power=3.0)
    ref = (u.abs().double() ** 3).float()
    assert torch.equal(a.mask(u), ref >= ref.amax(-1, keepdim=True))


def test_threshold_per_tensor():
    v = torch.tensor([[0.1, -0.5, 1.0, 2.0]])
    r = Threshold({(0, "input"): 0.5, (1, "input"): 1.5}, target=0.5)
    assert r.mask(v, key=(0, "input")).tolist() == [[False, True, True, True]]
    assert r.mask(v, key=(1, "input")).tolist() == [[False, False, False, True]]
    assert r.value == 0.5
    with pytest.raises(KeyError, match=r"\(2, 'input'\)"):
        r.mask(v, key=(2, "input"))
    with pytest.raises(ValueError, match="key"):
        r.mask(v)
    assert Threshold(1.0).mask(v).tolist() == [[False, False, True, True]]
    r2 = Threshold.from_dict(r.to_dict())
    assert r2.thresholds == r.thresholds and r2.target == 0.5


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan"), "x", None])
def test_bad_p_is_a_clear_error(bad):
    for cls, name in ((TopP, "top_p"), (TopK, "top_k"), (MaxP, "max_p")):
        with pytest.raises(ValueError, match=name):
            cls(bad)
    with pytest.raises(ValueError, match="top_p"):
        make_rule("top_p", bad)


def test_make_rule_and_names():
    assert isinstance(make_rule("top_p", 0.9), TopP) and make_rule("top_p", 0.9).value == 0.9
    assert make_rule("top_p", 0.9, power=2.0).power == 2.0
    assert make_rule("top_k", 0.5).name == "top_k"
    assert make_rule("max_p", 0.1).name == "max_p"
    assert make_rule("threshold", 0.3).name == "threshold"
    assert all(isinstance(make_rule(n, 0.5), Rule) for n in ("top_p", "top_k", "max_p", "threshold"))
    with pytest.raises(ValueError, match="known rules"):
        make_rule("top_q", 0.5)
    with pytest.raises(ValueError, match="power"):
        TopP(0.5, power=0)
    with pytest.raises(ValueError, match="threshold"):
        Threshold(-1.0)


def test_top_p_large_d_is_fast_enough():
    import time
    v = torch.randn(4, 64, 8960)
    t = time.perf_counter()
    m = TopP(0.9).mask(v)
    dt = time.perf_counter() - t
    assert m.shape == v.shape
    # not a speed assertion (shared machine); only guards against a per-token Python loop (would be ~100x)
    assert dt < 20.0


def test_per_layer_rule_from_file(tmp_path):
    import json

    from pysparse.rules import PerLayer, load_per_layer

    f = tmp_path / "p.json"
    f.write_text(json.dumps({"0": 0.5, "2": 0.9}))
    r = load_per_layer(f, "top_p")
    assert isinstance(r, PerLayer) and sorted(r.rules) == [0, 2]
    v = torch.randn(4, 64, dtype=torch.float32)
    assert torch.equal(r(v, key=(0, "input")), TopP(0.5)(v))
    assert torch.equal(r(v, key=(2, "input")), TopP(0.9)(v))
    assert torch.equal(r(v, key=(1, "input")), v)  # a layer without a value stays dense
    f.write_text(json.dumps([0.5, 1.5]))
    with pytest.raises(ValueError, match="must be in"):
        load_per_layer(f, "top_p")
    with pytest.raises(ValueError, match="thresholds"):
        load_per_layer(f, "threshold")
    with pytest.raises(FileNotFoundError):
        load_per_layer(tmp_path / "missing.json", "top_p")
