"""Selection: the C++ rules (pysparse.engine.select) against the numpy references written from docs/method.md §1, on
every ISA path this CPU runs, single and batched, plus argument checking and a hypothesis property test."""

import math

import numpy as np
import pytest

from pysparse import _core
from pysparse.engine import select as S

# docs/method.md §1, the p grid for dense models, plus a few extra points.
P_GRID = [1.00, 0.995, 0.99, 0.985, 0.98, 0.975, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.91, 0.90, 0.85, 0.80,
          0.75, 0.70, 0.65, 0.60, 0.50, 0.40, 0.30, 0.20, 0.10, 0.00]
P_EXTRA = [1e-9, 0.333, 0.999999]
DIMS = [1, 2, 3, 7, 8, 9, 31, 100, 1000, 4096, 20000]
KINDS = ["normal", "heavy", "ties", "zeros", "dups", "negative", "tiny", "huge", "wide", "narrow"]


def make(kind: str, d: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "normal":
        v = rng.standard_normal(d)
    elif kind == "heavy":  # Student-t with 1.5 degrees of freedom: a few entries dominate the L1 mass
        v = rng.standard_t(1.5, d)
    elif kind == "ties":  # small integers: many exact ties, exact float64 sums that land on p * total
        v = rng.integers(-3, 4, d).astype(np.float64)
    elif kind == "zeros":
        v = np.where(rng.random(d) < 0.9, 0.0, rng.standard_normal(d))
    elif kind == "dups":
        v = rng.choice(rng.standard_normal(5), d)
    elif kind == "negative":
        v = -np.abs(rng.standard_normal(d))
    elif kind == "tiny":  # down to float32 subnormals
        v = rng.standard_normal(d) * 1e-40
    elif kind == "huge":
        v = rng.standard_normal(d) * 1e18  # its square still fits float32
    elif kind == "wide":  # magnitudes spread over 2^-60 .. 2^60
        v = rng.standard_normal(d) * np.exp2(rng.uniform(-60, 60, d))
    else:  # all within 2^-13 of 1: one level-1 bucket, the boundary resolved by levels 2 and 3
        v = 1 + rng.random(d) * 2.0**-13
    return v.astype(np.float32)


@pytest.fixture
def isa_paths():
    """Every ISA path this CPU supports; restores the active one afterwards."""
    before = _core.active_isa()
    yield _core.supported_isas()
    _core.set_isa(before)


def as_mask(idx: np.ndarray, d: int) -> np.ndarray:
    assert idx.dtype == np.int32
    assert np.all(np.diff(idx) > 0), "indices must be strictly ascending"
    m = np.zeros(d, dtype=bool)
    m[idx] = True
    return m


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("power", [1.0, 2.0])
def test_topp_matches_numpy_reference(kind, power):
    rng = np.random.default_rng(abs(hash((kind, power))) % 2**32)
    for d in DIMS:
        v = make(kind, d, rng)
        for p in P_GRID + P_EXTRA:
            want = S.topp_mask_reference(v, p, power)
            got = as_mask(S.topp_select(v, p, power), d)
            assert np.array_equal(got, want), (kind, d, p, power, got.sum(), want.sum())


def test_topp_other_powers():
    # power outside {1, 2}: scores are float32(|v| ** q) in float64; numpy's pow and the C library's agree here.
    rng = np.random.default_rng(5)
    for q in [0.5, 1.5, 3.0]:
        for d in [10, 1000, 4096]:
            v = make("normal", d, rng)
            for p in [0.0, 0.5, 0.9, 0.99]:
                assert np.array_equal(S.topp_mask(v, p, q), S.topp_mask_reference(v, p, q)), (q, d, p)


def test_topp_definition_by_hand():
    v = np.array([1, -3, 3, 0, 2], np.float32)
    assert S.topp_select(v, 0.0).tolist() == [1, 2]        # the max and its ties
    assert S.topp_select(v, 0.5).tolist() == [1, 2]        # 6 of 9 >= 4.5
    assert S.topp_select(v, 0.7).tolist() == [1, 2, 4]     # 6 < 6.3 <= 8
    assert S.topp_select(v, 1.0).tolist() == [0, 1, 2, 4]  # p = 1: every non-zero; the exact zero is dropped
    assert S.topp_threshold(v, 0.7) == 2.0
    z = np.zeros(64, np.float32)
    assert S.topp_select(z, 0.5).size == 64                # all-zero: total 0, t = 0, everything kept
    assert S.topp_select(np.zeros(0, np.float32), 0.5).size == 0


def test_topp_follows_float64_rounding():
    # 1.0 and 2^20 copies of 2^-54: the sorted float64 running sum never leaves 1.0, so total = 1 and
    # p = 1 - 2^-40 is reached at the first position: only the 1.0 is kept (exact arithmetic would keep all).
    v = np.full(1 + 2**20, 2.0**-54, np.float32)
    v[0] = 1.0
    p = 1 - 2.0**-40
    assert S.topp_mask_reference(v, p).sum() == 1
    before = _core.topp_fallback_count()
    assert S.topp_select(v, p).tolist() == [0]
    assert _core.topp_fallback_count() == before + 1  # the bucketed pass saw the ambiguity and deferred


def test_topp_at_p1_is_the_literal_rule():
    # p = 1 is no special case: the float64 running sum reaches the total at the last non-zero entry, so exact
    # zeros (a ReLU model's activations) are dropped; a short proof decides this without a sort.
    rng = np.random.default_rng(12)
    before = _core.topp_fallback_count()
    for d in [1, 7, 576, 1536, 8960]:
        v = np.maximum(rng.standard_normal(d), 0).astype(np.float32)
        m = S.topp_mask(v, 1.0)
        assert np.array_equal(m, S.topp_mask_reference(v, 1.0))
        assert m.sum() == (np.count_nonzero(v) or d)  # all-zero: t = 0 keeps everything
        assert np.array_equal(S.topp_mask(v, 1.0, power=2.0), S.topp_mask_reference(v, 1.0, power=2.0))
    assert _core.topp_fallback_count() == before
    # an entry the float64 sum absorbs is dropped too (literal rule); the short proof defers to the sort there
    v = np.full(1 + 2**20, 2.0**-54, np.float32)
    v[0] = 1.0
    assert S.topp_mask_reference(v, 1.0).sum() == 1
    assert S.topp_select(v, 1.0).tolist() == [0]
    assert _core.topp_fallback_count() == before + 1


def test_topp_fast_path_is_taken():
    # Continuous data never comes within the rounding margin: the bucketed pass decides alone. (Integer data with
    # exact ties does land on p * total; there the fallback runs, and the tests above check it too.)
    rng = np.random.default_rng(6)
    before = _core.topp_fallback_count()
    for _ in range(30):
        v = make("normal", 8960, rng)
        for p in [0.5, 0.8, 0.9, 0.95, 0.99]:
            assert np.array_equal(S.topp_mask(v, p), S.topp_mask_reference(v, p))
    assert _core.topp_fallback_count() == before


def test_topp_sorted_baseline_agrees():
    rng = np.random.default_rng(7)
    for kind in KINDS:
        v = make(kind, 3000, rng)
        for p in [0.0, 0.3, 0.9, 1.0]:
            assert np.array_equal(S.topp_select_sorted(v, p), S.topp_select(v, p))


@pytest.mark.parametrize("kind", KINDS)
def test_topk_maxp_threshold_match_references(kind):
    rng = np.random.default_rng(abs(hash(kind)) % 2**32)
    for d in DIMS:
        v = make(kind, d, rng)
        scale = float(np.abs(v).max()) if d else 1.0
        for f in [0.0, 0.01, 0.07, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0]:
            k = S.topk_select(v, f)
            assert k.size == S.topk_count(d, f) == max(0, min(d, math.ceil(f * d - 1e-9)))
            assert np.array_equal(as_mask(k, d), S.topk_mask_reference(v, f)), (kind, d, f)
            assert np.array_equal(as_mask(S.maxp_select(v, f), d), S.maxp_mask_reference(v, f)), (kind, d, f)
            t = f * scale
            assert np.array_equal(as_mask(S.threshold_select(v, t), d), S.threshold_mask_reference(v, t))
    assert S.topk_count(100, 0.07) == 7  # 0.07 * 100 is 7.000000000000001 in float64


def test_topk_ties_keep_lowest_indices():
    v = np.array([1, 2, 2, 2, 0, 2], np.float32)
    assert S.topk_select(v, 0.5).tolist() == [1, 2, 3]  # k = 3 of the four 2s: the first three


def test_threshold_is_inclusive():
    v = np.array([0.5, -0.25, 0.2499, 0], np.float32)
    assert S.threshold_select(v, 0.25).tolist() == [0, 1]
    assert S.threshold_select(v, 0.0).tolist() == [0, 1, 2, 3]
    assert S.maxp_select(v, 0.5).tolist() == [0, 1]


@pytest.mark.parametrize("rule", ["topp", "topk", "maxp", "threshold"])
def test_every_isa_path_gives_identical_results(isa_paths, rule):
    rng = np.random.default_rng(8)
    vecs = [make(kind, d, rng) for kind in KINDS for d in [1, 9, 1000, 11008]]
    params = [0.0, 0.3, 0.5, 0.9, 0.99, 1.0]
    results = {}
    for isa in isa_paths:
        _core.set_isa(isa)
        results[isa] = [_core.select(rule, v, p).tolist() for v in vecs for p in params]
    for isa in isa_paths:
        assert results[isa] == results["generic"], isa
    assert len(isa_paths) >= 1


@pytest.mark.parametrize("rule,ref", [("topp", S.topp_mask_reference), ("topk", S.topk_mask_reference),
                                      ("maxp", S.maxp_mask_reference), ("threshold", S.threshold_mask_reference)])
def test_batched_equals_per_row(rule, ref):
    rng = np.random.default_rng(9)
    V = np.stack([make(KINDS[i % len(KINDS)], 1536, rng) for i in range(45)])
    before = _core.num_threads()
    try:
        for nth in [1, 2, 3]:
            _core.set_num_threads(nth)
            offsets, indices = getattr(S, f"{rule}_select_batch")(V, 0.7)
            assert offsets.dtype == np.int64 and indices.dtype == np.int32
            assert offsets.shape == (46,) and offsets[0] == 0 and offsets[-1] == indices.size
            for r in range(len(V)):
                row = indices[offsets[r]:offsets[r + 1]]
                assert np.array_equal(row, _core.select(rule, V[r], 0.7)), (rule, r)
            mask = getattr(S, f"{rule}_mask")(V, 0.7)
            assert np.array_equal(mask, S.csr_to_mask(offsets, indices, 1536))
            assert np.array_equal(mask, ref(V, 0.7))
    finally:
        _core.set_num_threads(before)
    empty_off, empty_idx = S.topp_select_batch(np.zeros((0, 5), np.float32), 0.5)
    assert empty_off.tolist() == [0] and empty_idx.size == 0


def test_bad_arguments_raise_value_error():
    v = np.ones(8, np.float32)
    for p in [-0.1, 1.1, float("nan"), float("inf")]:
        with pytest.raises(ValueError, match="p"):
            S.topp_select(v, p)
        with pytest.raises(ValueError):
            S.topp_mask_reference(v, p)
        with pytest.raises(ValueError):
            S.maxp_select(v, p)
        with pytest.raises(ValueError, match="keep_fraction"):
            S.topk_select(v, p)
    with pytest.raises(ValueError, match="power"):
        S.topp_select(v, 0.5, power=0.0)
    with pytest.raises(ValueError, match="threshold"):
        S.threshold_select(v, -1.0)
    with pytest.raises(ValueError, match="float32"):
        S.topp_select(v.astype(np.float64), 0.5)
    with pytest.raises(ValueError, match="1-D"):
        S.topp_select(np.ones((2, 4), np.float32), 0.5)
    with pytest.raises(ValueError, match="2-D"):
        S.topp_select_batch(v, 0.5)
    with pytest.raises(ValueError, match="rule"):
        _core.select("median", v, 0.5)
    with pytest.raises(ValueError, match="float32"):
        _core.select("topp", np.ones(4, np.int32), 0.5)
    with pytest.raises(ValueError, match="contiguous"):
        _core.select("topp", np.ones(8, np.float32)[::2], 0.5)
    # the Python layer makes a strided view contiguous instead
    w = np.arange(16, dtype=np.float32)[::2]
    assert np.array_equal(S.topp_select(w, 0.5), S.topp_select(np.ascontiguousarray(w), 0.5))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_input_raises_value_error(bad):
    v = np.ones(100, np.float32)
    v[37] = bad
    for fn, arg in [(S.topp_select, 0.5), (S.topp_select, 1.0), (S.topp_select, 0.0), (S.topk_select, 0.5),
                    (S.maxp_select, 0.5), (S.threshold_select, 0.5)]:
        with pytest.raises(ValueError, match="NaN or Inf"):
            fn(v, arg)
    with pytest.raises(ValueError, match="NaN or Inf"):
        S.topp_mask_reference(v, 0.5)
    V = np.ones((4, 100), np.float32)
    V[2, 5] = bad
    with pytest.raises(ValueError, match="row 2"):
        S.topp_select_batch(V, 0.5)
    with pytest.raises(ValueError, match="overflows"):  # finite, but 1e20^2 overflows float32
        S.topp_select(np.array([1e20, 1], np.float32), 0.5, power=2.0)


def test_property_hypothesis():
    hyp = pytest.importorskip("hypothesis")
    from hypothesis import given, settings, strategies as st
    from hypothesis.extra import numpy as hnp

    elements = st.floats(allow_nan=False, allow_infinity=False, width=32)  # the whole finite float32 range

    @settings(max_examples=300, deadline=None)
    @given(hnp.arrays(np.float32, st.integers(1, 300), elements=elements),
           st.floats(0.0, 1.0), st.floats(0.0, 1.0))
    def check(v, p1, p2):
        lo, hi = min(p1, p2), max(p1, p2)
        m_lo, m_hi = S.topp_mask(v, lo), S.topp_mask(v, hi)
        assert np.array_equal(m_lo, S.topp_mask_reference(v, lo))
        assert np.array_equal(m_hi, S.topp_mask_reference(v, hi))
        assert np.all(m_hi[m_lo])  # a larger p keeps a superset
        assert m_lo.any()  # never empty: the max is always kept
        a = np.abs(v)
        assert a[m_lo].min() >= a[~m_lo].max(initial=0)  # kept entries are the largest
        k = S.topk_mask(v, hi)
        assert np.array_equal(k, S.topk_mask_reference(v, hi))

    check()
    assert hyp is not None


def test_matches_torch_rule_when_merged():
    rules = pytest.importorskip("pysparse.rules")
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    for d in [64, 1536, 8960]:
        v = make("normal", d, rng)
        for p in [0.0, 0.5, 0.9, 0.99, 1.0]:
            want = rules.TopP(p).mask(torch.tensor(v)).numpy().astype(bool)
            assert np.array_equal(S.topp_mask(v, p), want), (d, p)


@pytest.mark.slow
def test_real_activations_smollm2(smollm2_path):
    """C++ == numpy reference on real FFN activations: SmolLM2-135M (transformers, dequantised from the real GGUF),
    the FFN input x (d = 576) and the down-projection input h (d = 1536) of every layer, every token."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(smollm2_path.parent, gguf_file=smollm2_path.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(smollm2_path.parent, gguf_file=smollm2_path.name,
                                                              dtype=torch.float32)
    captured = []

    def grab(_module, args):
        captured.append(args[0].detach().reshape(-1, args[0].shape[-1]).float().numpy().copy())

    hooks = []
    for layer in model.model.layers:
        hooks.append(layer.mlp.register_forward_pre_hook(grab))
        hooks.append(layer.mlp.down_proj.register_forward_pre_hook(grab))
    text = "The quick brown fox jumps over the lazy dog, and the tired cat sleeps in the warm afternoon sun."
    with torch.no_grad():
        model(**tok(text, return_tensors="pt"))
    for h in hooks:
        h.remove()
    assert len(captured) == 2 * len(model.model.layers)
    before = _core.topp_fallback_count()
    for V in captured:
        V = np.ascontiguousarray(V, dtype=np.float32)
        assert V.shape[1] in (576, 1536)
        for p in P_GRID:
            assert np.array_equal(S.topp_mask(V, p), S.topp_mask_reference(V, p)), (V.shape, p)
        for f in [0.1, 0.5, 0.9]:
            assert np.array_equal(S.topk_mask(V, f), S.topk_mask_reference(V, f))
            assert np.array_equal(S.maxp_mask(V, f), S.maxp_mask_reference(V, f))
    print(f"real activations: {len(captured)} tensors, top-p fallbacks to the full sort: "
          f"{_core.topp_fallback_count() - before}")
