"""Dense matvec kernels (cpp/kernels) against numpy oracles, on every ISA path this CPU can run.

Oracles from outside our code: gguf.quants (dequantize, and quantize for the types gguf-py can encode) and numpy
float64 products. Three comparisons per case:
  exact    y vs W^ @ x^ (float64), x^ = our quantised activations dequantised: the integer/scale arithmetic must be
           exact up to float32 accumulation: |err_i| <= 3e-5 * sum_j |W^_ij x^_j|.
  float    y vs W^ @ x (float64): the x-quantisation error stated in cpp/kernels/matvec.h:
           worst case |err_i| <= sum_j |W^_ij| * amax_b(j) * 0.57 / 127 (+ the float tolerance above), and the
           typical size: rms_i(err_i / sigma_i) <= 1.5 with sigma_i = sqrt(sum_j W^_ij^2 (amax_b(j) / 127)^2 / 12)
           (rounding errors uniform in +-d/2; the ratio is ~1 when the kernel is right).
  generic  each SIMD path vs the scalar generic path (tighter than the float bound: same quantised x).
"""

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.quants import dequantize, quantize

from pysparse import _core
from pysparse.engine import kernels

ALL_TYPES = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"]
BLOCK = {"F32": 1, "F16": 1, "BF16": 1, "Q4_K": 256, "Q5_K": 256, "Q6_K": 256}
QK = lambda t: BLOCK.get(t, 32)  # noqa: E731
ISAS = _core.supported_isas()
# The AVX-512 path has its VNNI kernels (the K formats) and the plain ones: where the CPU has VNNI, tests taking the
# `isa` fixture run the path both ways ("avx512-novnni": VNNI switched off).
HAS_VNNI = _core.cpu_features().get("avx512_vnni", False)
ISA_PARAMS = ISAS + (["avx512-novnni"] if "avx512" in ISAS and HAS_VNNI else [])


@pytest.fixture(params=ISA_PARAMS)
def isa(request):
    before = _core.active_isa()
    name, _, variant = request.param.partition("-")
    _core.set_isa(name)
    if variant == "novnni":
        _core.set_feature_enabled("avx512_vnni", False)
    try:
        yield name
    finally:
        if variant == "novnni":
            _core.set_feature_enabled("avx512_vnni", True)
        _core.set_isa(before)


@pytest.fixture
def threads():
    before = _core.num_threads()
    yield
    _core.set_num_threads(before)


# ---------------------------------------------------------------- weights

def _fp16_bytes(v):
    return np.asarray(v, dtype=np.float16).view(np.uint8).reshape(-1, 2)


def random_weights(qtype, rows, cols, rng):
    """(rows, row_bytes) uint8 of a valid `qtype` matrix: gguf-py's quantiser where it has one, else (K types)
    random bytes with finite, positive scales."""
    t = T[qtype]
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    if qtype == "F32":
        return w.view(np.uint8).reshape(rows, -1)
    if qtype == "F16":
        return w.astype(np.float16).view(np.uint8).reshape(rows, -1)
    if qtype in ("BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"):
        return np.ascontiguousarray(quantize(w, t).view(np.uint8).reshape(rows, -1))
    nb = rows * cols // 256
    size = {"Q4_K": 144, "Q5_K": 176, "Q6_K": 210}[qtype]
    b = rng.integers(0, 256, size=(nb, size), dtype=np.uint8)
    if qtype in ("Q4_K", "Q5_K"):
        b[:, 0:2] = _fp16_bytes(rng.uniform(2e-3, 2e-2, nb))  # d
        b[:, 2:4] = _fp16_bytes(rng.uniform(1e-3, 1e-2, nb))  # dmin
    else:
        b[:, 208:210] = _fp16_bytes(rng.uniform(1e-4, 1e-3, nb))  # d; int8 scales stay random
    return b.reshape(rows, -1)


def deq(w_bytes, qtype):
    return np.asarray(dequantize(w_bytes, T[qtype]), dtype=np.float64).reshape(w_bytes.shape[0], -1)


# ---------------------------------------------------------------- activations

def act_dequant(x, qtype):
    """Our quantised activations, decoded in numpy: (x^, d per element)."""
    fmt = kernels.act_format(qtype)
    raw = kernels.quantize_act(x, qtype)
    n = x.size
    if fmt == "F32":
        return raw.view(np.float32).astype(np.float64), np.zeros(n)
    if fmt == "Q8_0":
        b = raw.reshape(-1, 34)
        d = b[:, :2].copy().view(np.float16).astype(np.float64)
        q = b[:, 2:].view(np.int8).astype(np.float64)
        return (q * d).ravel(), np.repeat(d.ravel(), 32)
    if fmt == "Q8_1":
        b = raw.reshape(-1, 40)
        d = b[:, 0:4].copy().view(np.float32).astype(np.float64)
        q = b[:, 8:].view(np.int8).astype(np.float64)
        return (q * d).ravel(), np.repeat(d.ravel(), 32)
    b = raw.reshape(-1, 292)
    d = b[:, 0:4].copy().view(np.float32).astype(np.float64)
    q = b[:, 4:260].view(np.int8).astype(np.float64)
    return (q * d).ravel(), np.repeat(d.ravel(), 256)


def block_amax(x, qtype):
    qk = 256 if kernels.act_format(qtype) == "Q8_K" else 32
    if kernels.act_format(qtype) == "F32":
        return np.zeros(x.size)
    return np.repeat(np.abs(x.astype(np.float64)).reshape(-1, qk).max(axis=1), qk)


def check_product(Y, W, X, qtype):
    """The three-way check described in the module docstring; Y (n, rows) for X (n, cols), or one vector.
    The rms ratio is pooled over rows and vectors: rows share x's rounding errors, so several x draws are
    needed for a stable estimate when the rows are correlated (e.g. the shared offsets of random K blocks)."""
    Y, X = np.atleast_2d(Y), np.atleast_2d(X)
    ratios = []
    for y, x in zip(Y, X):
        xh, _ = act_dequant(x, qtype)
        exact = W @ xh
        tol = 3e-5 * (np.abs(W) @ np.abs(xh)) + 1e-30
        assert np.all(np.abs(y - exact) <= tol), f"{qtype}: max |y - W^ x^| / tol = {np.max(np.abs(y - exact) / tol):.3g}"
        ref = W @ x.astype(np.float64)
        err = y - ref
        amax = block_amax(x, qtype)
        bound = np.abs(W) @ (amax * 0.57 / 127) + 3e-5 * (np.abs(W) @ np.abs(x)) + 1e-30
        assert np.all(np.abs(err) <= bound), f"{qtype}: max |y - W^ x| / bound = {np.max(np.abs(err) / bound):.3g}"
        if kernels.act_format(qtype) != "F32":
            sigma = np.sqrt((W ** 2) @ ((amax / 127) ** 2) / 12)
            ratios.append((err / sigma) ** 2)
    if len(ratios) >= 4 and np.concatenate(ratios).size >= 64:
        ratio = np.sqrt(np.mean(np.concatenate(ratios)))
        assert ratio <= 1.5, f"{qtype}: rms(err / sigma) = {ratio:.3f}, expected ~1"


# ---------------------------------------------------------------- tests

def test_quantize_act_q8_0_matches_gguf(isa):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(32 * 40) * rng.uniform(0.01, 100, 32 * 40)).astype(np.float32)
    x[64:96] = 0  # an all-zero block: d = 0, q = 0
    x[100] = 0.5 * np.float32(3.0)  # values landing on .5 after scaling are possible: same rounding rule
    ours = kernels.quantize_act(x, "Q4_0")
    ref = quantize(x.reshape(1, -1), T.Q8_0).ravel()
    assert ours.tobytes() == ref.tobytes()


@pytest.mark.parametrize("qtype", ["Q4_1", "Q4_K"])
def test_quantize_act_q8_1_q8_K(isa, qtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(1024).astype(np.float32) * 3
    x[256:512] = 0
    xh, d = act_dequant(x, qtype)
    amax = block_amax(x, qtype)
    np.testing.assert_allclose(d, amax / 127, rtol=1e-6)
    assert np.all(np.abs(xh - x) <= d / 2 * (1 + 1e-5) + 1e-30)
    raw = kernels.quantize_act(x, qtype)
    if qtype == "Q4_1":  # s = d * sum(q)
        b = raw.reshape(-1, 40)
        s = b[:, 4:8].copy().view(np.float32).ravel()
        np.testing.assert_allclose(s, xh.reshape(-1, 32).sum(axis=1), rtol=1e-6, atol=1e-30)
    else:  # bsums = sums of 16 quants
        b = raw.reshape(-1, 292)
        q = b[:, 4:260].view(np.int8).astype(np.int64)
        bsums = b[:, 260:292].copy().view(np.int16)
        np.testing.assert_array_equal(bsums, q.reshape(-1, 16, 16).sum(axis=2))


@pytest.mark.parametrize("qtype", ALL_TYPES)
def test_random_all_types(isa, qtype):
    rng = np.random.default_rng(100 + ALL_TYPES.index(qtype))
    rows, cols = 67, 3 * 256
    w = random_weights(qtype, rows, cols, rng)
    W = deq(w, qtype)
    X = (rng.standard_normal((8, cols)) * rng.uniform(0.1, 4, cols)).astype(np.float32)
    Y = kernels.matvec(w, qtype, (rows, cols), X)
    assert Y.dtype == np.float32 and Y.shape == (8, rows)
    check_product(Y.astype(np.float64), W, X, qtype)


@pytest.mark.parametrize("qtype", ALL_TYPES)
def test_simd_paths_match_generic(qtype):
    rng = np.random.default_rng(7)
    rows, cols = 45, 4 * 256
    w = random_weights(qtype, rows, cols, rng)
    W = deq(w, qtype)
    x = rng.standard_normal(cols).astype(np.float32)
    xh, _ = act_dequant(x, qtype)
    before = _core.active_isa()
    try:
        _core.set_isa("generic")
        ref = kernels.matvec(w, qtype, (rows, cols), x).astype(np.float64)
        for isa in ISAS:
            _core.set_isa(isa)
            y = kernels.matvec(w, qtype, (rows, cols), x).astype(np.float64)
            tol = 2e-5 * (np.abs(W) @ np.abs(xh)) + 1e-30
            assert np.all(np.abs(y - ref) <= tol), f"{isa} vs generic, {qtype}: max ratio {np.max(np.abs(y - ref) / tol):.3g}"
    finally:
        _core.set_isa(before)


@pytest.mark.parametrize("qtype", ["Q4_0", "Q4_K", "F16", "Q6_K"])
def test_threads_bitwise_identical(isa, qtype, threads):
    rng = np.random.default_rng(3)
    rows, cols = 301, 1024
    w = random_weights(qtype, rows, cols, rng)
    x = rng.standard_normal(cols).astype(np.float32)
    results = []
    for n in (1, 2, 3):
        _core.set_num_threads(n)
        results.append(kernels.matvec(w, qtype, (rows, cols), x))
    assert results[0].tobytes() == results[1].tobytes() == results[2].tobytes()


@pytest.mark.parametrize("qtype", ALL_TYPES)
@pytest.mark.parametrize("rows", [0, 1, 7, 33])
def test_odd_shapes_one_block(isa, qtype, rows):
    rng = np.random.default_rng(rows)
    cols = QK(qtype) if QK(qtype) > 1 else 5
    w = random_weights(qtype, rows, cols, rng) if rows else np.zeros((0, 0), np.uint8)
    x = rng.standard_normal(cols).astype(np.float32)
    y = kernels.matvec(w, qtype, (rows, cols), x)
    assert y.shape == (rows,)
    if rows:
        check_product(y.astype(np.float64), deq(w, qtype), x, qtype)


def test_batched_and_out(isa):
    rng = np.random.default_rng(4)
    rows, cols = 40, 512
    w = random_weights("Q4_K", rows, cols, rng)
    X = rng.standard_normal((5, cols)).astype(np.float32)
    Y = kernels.matvec(w, "Q4_K", (rows, cols), X)
    assert Y.shape == (5, rows)
    for i in range(5):
        assert Y[i].tobytes() == kernels.matvec(w, "Q4_K", (rows, cols), X[i]).tobytes()
    out = np.full((5, rows), np.nan, np.float32)
    r = kernels.matvec(w, T.Q4_K, (rows, cols), X, out=out)
    assert r is out or np.shares_memory(r, out)
    assert out.tobytes() == Y.tobytes()
    out1 = np.empty(rows, np.float32)
    kernels.matvec(w, 12, (rows, cols), X[2], out=out1)
    assert out1.tobytes() == Y[2].tobytes()


@pytest.mark.parametrize("qtype", ALL_TYPES)
def test_batched_matmul_equals_per_token_matvec(isa, qtype, threads):
    """The batched product (cpp/kernels/matmul.h: rows outer, token blocks of 64 inner, rows split over threads)
    gives each token exactly its matvec, for more tokens than one token block and any thread count."""
    rng = np.random.default_rng(11 + ALL_TYPES.index(qtype))
    rows, cols = 53, 2 * 256
    w = random_weights(qtype, rows, cols, rng)
    X = rng.standard_normal((70, cols)).astype(np.float32)
    per_token = np.stack([kernels.matvec(w, qtype, (rows, cols), x) for x in X])
    for n in (1, 2):
        _core.set_num_threads(n)
        assert kernels.matvec(w, qtype, (rows, cols), X).tobytes() == per_token.tobytes()


@pytest.mark.parametrize("qtype,cols", [("Q8_0", 3 * 32), ("Q4_K", 256), ("Q5_K", 3 * 256), ("Q6_K", 3 * 256)])
def test_batched_matmul_four_token_kernels(isa, qtype, cols):
    """The four-tokens-per-row kernels (vec_dot4 in cpp/kernels/vec_dot.h: AVX2 Q8_0, Q4_K; AVX-512 the same plus
    Q5_K; AVX-512 VNNI Q4_K, Q6_K) on an odd block count and 4k + 1..3 tokens: each token still gets exactly its
    matvec."""
    rng = np.random.default_rng(cols)
    rows = 19
    w = random_weights(qtype, rows, cols, rng)
    for n in (4, 5, 7, 11):
        X = rng.standard_normal((n, cols)).astype(np.float32)
        per_token = np.stack([kernels.matvec(w, qtype, (rows, cols), x) for x in X])
        assert kernels.matvec(w, qtype, (rows, cols), X).tobytes() == per_token.tobytes(), n


def test_float_weights_given_as_float_arrays():
    rng = np.random.default_rng(5)
    w = rng.standard_normal((9, 64)).astype(np.float32)
    x = rng.standard_normal(64).astype(np.float32)
    np.testing.assert_allclose(kernels.matvec(w, "F32", w.shape, x), w.astype(np.float64) @ x, rtol=1e-5, atol=1e-5)
    h = w.astype(np.float16)
    np.testing.assert_allclose(kernels.matvec(h, "F16", h.shape, x), h.astype(np.float64) @ x, rtol=1e-5, atol=1e-5)


def test_bad_arguments():
    rng = np.random.default_rng(6)
    w = random_weights("Q4_0", 4, 64, rng)
    x = rng.standard_normal(64).astype(np.float32)
    ok = kernels.matvec(w, "Q4_0", (4, 64), x)
    assert ok.shape == (4,)
    cases = [
        (lambda: kernels.matvec(w, "Q4_0", (4, 64), x.astype(np.float64)), "float32"),
        (lambda: kernels.matvec(w, "Q4_0", (4, 64), np.zeros(128, np.float32)[::2]), "contiguous"),
        (lambda: kernels.matvec(w, "Q4_0", (4, 64), x[:32]), "columns"),
        (lambda: kernels.matvec(w, "Q4_0", (5, 64), x), "bytes"),
        (lambda: kernels.matvec(w, "Q4_0", (4, 48), x[:48]), "multiple"),
        (lambda: kernels.matvec(w[:, ::2], "Q4_0", (4, 64), x), "contiguous"),
        (lambda: kernels.matvec(w, "Q4_1", (4, 64), x), "bytes"),
        (lambda: kernels.matvec(w, "Q2_K", (4, 256), np.zeros(256, np.float32)), "Q2_K"),
        (lambda: kernels.matvec(w, "NOPE", (4, 64), x), "NOPE"),
        (lambda: kernels.matvec(w, 99, (4, 64), x), "99"),
        (lambda: kernels.matvec(w, "Q4_0", (4, 64), x, out=np.empty(5, np.float32)), "shape"),
        (lambda: kernels.matvec(w, "Q4_0", (4, 64), x, out=np.empty(4, np.float64)), "float32"),
        (lambda: kernels.matvec(w, "Q4_0", (-4, 64), x), "negative"),
        (lambda: kernels.matvec(w, "Q4_0", (4,), x), "shape"),
        (lambda: kernels.matvec(list(w.ravel()), "Q4_0", (4, 64), x), "numpy"),
        (lambda: kernels.matvec(w, "Q4_0", (4, 64), np.zeros((2, 2, 64), np.float32)), "1-D"),
    ]
    for fn, word in cases:
        with pytest.raises(ValueError, match=word):
            fn()
    ro = np.empty(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        kernels.matvec(w, "Q4_0", (4, 64), x, out=ro)
    f = rng.standard_normal((4, 64)).astype(np.float32)
    with pytest.raises(ValueError, match="share memory"):
        kernels.matvec(f, "F32", (4, 64), f[0], out=f[1, :4])


# ---------------------------------------------------------------- real tensors

def _real_cases(path, names=None, max_rows=2048):
    r = GGUFReader(path)
    seen = set()
    for t in r.tensors:
        if len(t.shape) != 2 or t.tensor_type.name not in ALL_TYPES:
            continue
        if names is not None:
            if t.name not in names:
                continue
        elif t.tensor_type.name in seen:
            continue
        seen.add(t.tensor_type.name)
        # The first max_rows rows of a row-major tensor are a valid matrix of the same type and width.
        w = np.ascontiguousarray(t.data[:max_rows]).view(np.uint8)
        yield t.name, t.tensor_type.name, w.reshape(w.shape[0], -1), int(t.shape[0])


def _check_real(name, qtype, w, cols, rng):
    rows = w.shape[0]
    W = deq(w, qtype)
    assert W.shape == (rows, cols), name
    # A realistic activation: heavy-tailed, as FFN inputs and intermediate activations are.
    X = (rng.standard_t(3, (4, cols)) * 0.5).astype(np.float32)
    Y = kernels.matvec(w, qtype, (rows, cols), X)
    check_product(Y.astype(np.float64), W, X, qtype)


def test_real_smollm2_tensors(smollm2_path, isa):
    rng = np.random.default_rng(8)
    names = {"blk.0.ffn_gate.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight", "token_embd.weight"}
    done = set()
    for name, qtype, w, cols in _real_cases(smollm2_path, names):
        _check_real(name, qtype, w, cols, rng)
        done.add(name)
    assert done == names


@pytest.mark.slow
@pytest.mark.parametrize("model", ["gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
def test_real_other_models(model, isa):
    from conftest import real_model_path

    rng = np.random.default_rng(9)
    types = set()
    for name, qtype, w, cols in _real_cases(real_model_path(model)):
        _check_real(name, qtype, w, cols, rng)
        types.add(qtype)
    assert types & {"Q4_K", "Q5_0", "Q6_K", "Q8_0"}, types


def test_matvec_tensor_reads_type_and_shape(smollm2_path):
    """matvec_tensor on a gguf-py ReaderTensor: type and (rows, cols) come from the tensor itself."""
    r = GGUFReader(smollm2_path)
    t = next(t for t in r.tensors if t.name == "blk.0.ffn_down.weight")  # Q4_1, ggml ne = [1536, 576]
    x = np.random.default_rng(10).standard_normal(int(t.shape[0])).astype(np.float32)
    y = kernels.matvec_tensor(t, x)
    assert y.shape == (int(t.shape[1]),)
    assert y.tobytes() == kernels.matvec(np.asarray(t.data), "Q4_1", (int(t.shape[1]), int(t.shape[0])), x).tobytes()
    with pytest.raises(ValueError, match="columns"):
        kernels.matvec_tensor(t, x[:-32])


def test_dense_prefetch_knob_changes_speed_not_results(isa):
    """The kernels' software prefetch (a distance ahead of the block read) never changes a result, at any distance,
    on every type and path; the knob round-trips and rejects out-of-range values."""
    rng = np.random.default_rng(7)
    before = _core.dense_prefetch()
    try:
        for qtype in ["Q4_0", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "F16"]:
            rows, cols = 37, 512
            w = random_weights(qtype, rows, cols, rng)
            x = rng.standard_normal(cols).astype(np.float32)
            outs = []
            for dist in (0, 64, 4096, 1 << 20):
                _core.set_dense_prefetch(dist)
                assert _core.dense_prefetch() == dist
                outs.append(kernels.matvec(w, qtype, (rows, cols), x))
            for o in outs[1:]:
                np.testing.assert_array_equal(o, outs[0])
        for bad in (-1, (1 << 20) + 1):
            with pytest.raises(ValueError, match="set_dense_prefetch"):
                _core.set_dense_prefetch(bad)
    finally:
        _core.set_dense_prefetch(before)
