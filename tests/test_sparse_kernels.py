"""Input-major repacking and the sparse matvecs, against gguf.quants (decode) and numpy (products).

Decode of the repacked layout must equal gguf.quants.dequantize bit for bit. A sparse matvec must equal the
float64 product of the dequantised matrix with the masked x within 1e-5 * (|W| @ |x_active|) per output (float32
accumulation per group, see pysparse/engine/sparse.py), on every ISA path this CPU runs; thread counts give
bitwise identical results.
"""

import numpy as np
import pytest

from pysparse import _core
from pysparse.engine import sparse as sp
from sparse_helpers import random_weight
from conftest import real_model_path

TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "F16", "F32"]
ISAS = [i for i in ("generic", "avx2", "avx512", "neon") if i in _core.supported_isas()]
# The AVX-512 and AVX2 paths have a VNNI build (VPDPBUSD) and a plain one; on a CPU with the feature both run,
# "avx512:novnni" / "avx2:novnni" the latter.
if "avx512_vnni" in _core.cpu_features():
    ISAS.append("avx512:novnni")
if "avx_vnni" in _core.cpu_features() and "avx2" in ISAS:
    ISAS.append("avx2:novnni")


def use_path(path):
    """Select an ISA path of ISAS (a trailing ":novnni" switches AVX-512 VNNI and AVX-VNNI off)."""
    isa, _, opt = path.partition(":")
    _core.set_isa(isa)
    for feature in ("avx512_vnni", "avx_vnni"):
        if feature in _core.cpu_features():
            _core.set_feature_enabled(feature, opt != "novnni")


def cols_for(qtype, n):
    return n * 256 if qtype.endswith("_K") else n * 32


@pytest.fixture(autouse=True)
def _restore_engine_state():
    isa, nth, feats = _core.active_isa(), _core.num_threads(), _core.cpu_features()
    yield
    _core.set_isa(isa)
    _core.set_num_threads(nth)
    for name, on in feats.items():
        _core.set_feature_enabled(name, on)


LOW_BITS = ("Q4_0", "Q4_1", "Q4_K", "Q5_0", "Q5_1", "Q5_K", "Q6_K")
INT_PATH = {(p, t) for p in ("avx2", "avx2:novnni", "avx512", "avx512:novnni", "neon") for t in LOW_BITS}
INT_PATH |= {(p, "Q8_0") for p in ("avx2", "avx2:novnni", "avx512", "avx512:novnni", "neon")}


def isa_bound(isa, qtype, W, x, idx):
    """Per-output error bound of a path: float math 1e-5 * |W| @ |x_active|; the integer paths (AVX2, AVX-512 and
    NEON, for the 4/5/6-bit formats and Q8_0) quantise the active x per group (32; Q6_K 16) to int8
    (dx = max |x| / 127), adding |W| @ (dx_g(j) / 2)."""
    tol = sp.tolerance_bound(W, x, idx) + 1e-30
    if (isa, qtype) in INT_PATH:
        tol = tol + sp.x_quantisation_bound(W, x, idx, group=16 if qtype == "Q6_K" else 32)
    return tol


def bits_equal(a, b):
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def random_active(cols, s, seed):
    rng = np.random.default_rng(seed)
    n = int(round((1 - s) * cols))
    return np.sort(rng.choice(cols, n, replace=False)).astype(np.int32)


@pytest.mark.parametrize("qtype", TYPES)
@pytest.mark.parametrize("rows,nblk", [(200, 2), (64, 1), (129, 3), (1, 1)])
def test_decode_bit_exact_random(qtype, rows, nblk):
    cols = cols_for(qtype, nblk)
    w = random_weight(qtype, rows, cols, seed=rows + nblk)
    M = sp.SparseMatrix.from_gguf_bytes(w, qtype, (rows, cols))
    assert M.shape == (rows, cols) and M.qtype == qtype
    assert bits_equal(M.decode(), sp.dequantize_reference(w, qtype, (rows, cols)))


@pytest.mark.parametrize("qtype", ["Q4_0", "Q4_1", "Q5_0", "Q8_0", "Q4_K", "Q6_K"])
def test_repacked_size_equals_source_when_rows_fill_tiles(qtype):
    rows, cols = 256, cols_for(qtype, 2)
    w = random_weight(qtype, rows, cols)
    M = sp.SparseMatrix.from_gguf_bytes(w, qtype, (rows, cols))
    # Same fields, rearranged; Q4_K / Q5_K store each 6-bit scale and min in a byte (12 -> 16 bytes a block).
    extra = {"Q4_K": 4 / 144}.get(qtype, 0.0)
    assert M.nbytes == pytest.approx(M.source_nbytes * (1 + extra), rel=1e-12)


@pytest.mark.parametrize("qtype", TYPES)
@pytest.mark.parametrize("s", [0.0, 0.5, 0.9, 1.0])
def test_matvec_matches_numpy_on_every_isa(qtype, s):
    rows, cols = 200, cols_for(qtype, 2)
    w = random_weight(qtype, rows, cols, seed=7)
    M = sp.SparseMatrix.from_gguf_bytes(w, qtype, (rows, cols))
    W = sp.dequantize_reference(w, qtype, (rows, cols))
    x = np.random.default_rng(3).standard_normal(cols).astype(np.float32)
    idx = random_active(cols, s, seed=int(s * 10))
    ref = sp.matvec_reference(W, x, idx)
    outs = {}
    for isa in ISAS:
        use_path(isa)
        y = M.matvec(x, idx)
        assert y.dtype == np.float32 and y.shape == (rows,)
        tol = isa_bound(isa, qtype, W, x, idx)
        err = np.abs(y.astype(np.float64) - ref) / tol
        assert err.max() <= 1.0, (isa, err.max())
        outs[isa] = y
    if s == 1.0:
        for y in outs.values():
            assert not y.any()
    for isa, y in outs.items():  # each path against the generic one, the sum of both bounds
        tol = isa_bound(isa, qtype, W, x, idx) + isa_bound("generic", qtype, W, x, idx)
        assert np.all(np.abs(y.astype(np.float64) - outs["generic"]) <= tol), isa


@pytest.mark.parametrize("qtype", ["Q4_0", "Q5_0", "Q8_0", "Q4_K", "Q6_K", "F16"])
@pytest.mark.parametrize("which", ["first", "last", "single_mid", "block_edges"])
def test_matvec_edge_index_sets(qtype, which):
    rows, cols = 130, cols_for(qtype, 2)
    w = random_weight(qtype, rows, cols, seed=11)
    M = sp.SparseMatrix.from_gguf_bytes(w, qtype, (rows, cols))
    W = sp.dequantize_reference(w, qtype, (rows, cols))
    x = np.random.default_rng(5).standard_normal(cols).astype(np.float32)
    idx = {"first": [0], "last": [cols - 1], "single_mid": [cols // 2 + 3],
           "block_edges": [0, 15, 16, 31, 32, cols - 33, cols - 1]}[which]
    idx = np.array(sorted(set(idx)), dtype=np.int32)
    ref = sp.matvec_reference(W, x, idx)
    for isa in ISAS:
        use_path(isa)
        assert np.all(np.abs(M.matvec(x, idx) - ref) <= isa_bound(isa, qtype, W, x, idx)), isa


@pytest.mark.parametrize("qtype", ["Q4_K", "Q5_0", "Q6_K", "Q8_0"])
def test_threads_bitwise_identical(qtype):
    rows, cols = 1000, cols_for(qtype, 4)
    w = random_weight(qtype, rows, cols, seed=2)
    M = sp.SparseMatrix.from_gguf_bytes(w, qtype, (rows, cols))
    x = np.random.default_rng(1).standard_normal(cols).astype(np.float32)
    idx = random_active(cols, 0.6, seed=4)
    for isa in ISAS:
        use_path(isa)
        ys = []
        for nth in (1, 2, 3):
            _core.set_num_threads(nth)
            ys.append(M.matvec(x, idx))
        assert bits_equal(ys[0], ys[1]) and bits_equal(ys[0], ys[2]), isa


def test_matvec_dense_is_all_columns():
    rows, cols = 96, 256
    w = random_weight("Q4_K", rows, cols, seed=9)
    M = sp.SparseMatrix.from_gguf_bytes(w, "Q4_K", (rows, cols))
    x = np.random.default_rng(0).standard_normal(cols).astype(np.float32)
    assert bits_equal(M.matvec_dense(x), M.matvec(x, np.arange(cols)))
    W = M.decode()
    bound = isa_bound(_core.active_isa(), "Q4_K", W, x, np.arange(cols))
    assert np.all(np.abs(M.matvec_dense(x) - W.astype(np.float64) @ x) <= bound)


def test_inactive_x_entries_are_never_read():
    rows, cols = 64, 128
    w = random_weight("Q8_0", rows, cols, seed=1)
    M = sp.SparseMatrix.from_gguf_bytes(w, "Q8_0", (rows, cols))
    x = np.random.default_rng(0).standard_normal(cols).astype(np.float32)
    idx = np.array([3, 40, 100], dtype=np.int32)
    x2 = x.copy()
    mask = np.ones(cols, bool)
    mask[idx] = False
    x2[mask] = np.nan
    for isa in ISAS:
        use_path(isa)
        assert bits_equal(M.matvec(x, idx), M.matvec(x2, idx))


@pytest.mark.parametrize("qtype", ["Q4_K", "Q5_0", "Q8_0", "Q6_K"])
def test_fused_gate_up_equals_two_matvecs(qtype):
    rows, cols = 300, cols_for(qtype, 2)
    g = sp.SparseMatrix.from_gguf_bytes(random_weight(qtype, rows, cols, 1), qtype, (rows, cols))
    u = sp.SparseMatrix.from_gguf_bytes(random_weight(qtype, rows, cols, 2), qtype, (rows, cols))
    x = np.random.default_rng(0).standard_normal(cols).astype(np.float32)
    for s in (0.0, 0.5, 0.95):
        idx = random_active(cols, s, 3)
        for isa in ISAS:
            use_path(isa)
            yg, yu = sp.fused_gate_up(g, u, x, idx)
            assert bits_equal(yg, g.matvec(x, idx)) and bits_equal(yu, u.matvec(x, idx)), isa
    other = sp.SparseMatrix.from_gguf_bytes(random_weight(qtype, rows + 1, cols, 2), qtype, (rows + 1, cols))
    with pytest.raises(ValueError, match="same shape"):
        sp.fused_gate_up(g, other, x, idx)


@pytest.mark.parametrize("qtype", TYPES)
def test_row_skip_equals_dense_rows(qtype):
    # Row-skip reuses the dense kernels' row dot product: listed rows are bitwise the dense matvec's (whose
    # error bound against numpy is kernels/matvec.h's x-quantisation bound), the other rows are 0.
    from pysparse.engine import kernels

    rows, cols = 150, cols_for(qtype, 2)
    w = random_weight(qtype, rows, cols, seed=21)
    W = sp.dequantize_reference(w, qtype, (rows, cols))
    x = np.random.default_rng(2).standard_normal(cols).astype(np.float32)
    for rows_idx in (np.arange(rows), random_active(rows, 0.7, 1), np.array([0, rows - 1]), np.array([], np.int32)):
        for isa in ISAS:
            use_path(isa)
            dense = kernels.matvec(w, qtype, (rows, cols), x)
            y = sp.row_skip_matvec(w, qtype, (rows, cols), x, rows_idx)
            assert bits_equal(y[rows_idx], dense[rows_idx]), isa
            off = np.ones(rows, bool)
            off[rows_idx] = False
            assert not y[off].any()
            ref = sp.row_skip_reference(W, x, rows_idx)
            assert np.all(np.abs(y - ref) <= 0.57 / 127 * (np.abs(W) @ np.abs(x)).max() * 4 + 1e-6)


def test_requant_q8_0_reference_layout():
    rows, cols = 200, 512
    w = random_weight("Q4_K", rows, cols, seed=3)
    exact = sp.dequantize_reference(w, "Q4_K", (rows, cols))
    R = sp.SparseMatrix.from_gguf_bytes(w, "Q4_K", (rows, cols), layout="requant_q8_0")
    assert R.layout == "requant_q8_0"
    D = R.decode()
    # Q8_0 rounding along out: |error| <= d / 2 per 32-row block of a column, d = amax / 127 (+ up to 127 q * the fp16 rounding of d).
    blocks = np.pad(np.abs(exact), ((0, (-rows) % 32), (0, 0))).reshape(-1, 32, cols).max(axis=1)
    bound = np.repeat(blocks, 32, axis=0)[:rows] / 127 * (0.5 + 127 * 2.0 ** -11 + 1e-3) + 1e-12
    assert np.all(np.abs(D - exact) <= bound)
    assert not bits_equal(D, exact)  # it is lossy: that is why it is only a reference
    assert R.nbytes == cols * ((rows + 31) // 32) * 34  # 8.5 bits a weight, ~1.9x the Q4_K source
    x = np.random.default_rng(0).standard_normal(cols).astype(np.float32)
    idx = random_active(cols, 0.5, 1)
    ref = sp.matvec_reference(D, x, idx)
    assert np.all(np.abs(R.matvec(x, idx) - ref) <= sp.tolerance_bound(D, x, idx) + 1e-30)


def test_argument_errors():
    rows, cols = 64, 256
    w = random_weight("Q4_K", rows, cols)
    M = sp.SparseMatrix.from_gguf_bytes(w, "Q4_K", (rows, cols))
    x = np.zeros(cols, np.float32)
    with pytest.raises(ValueError, match="out of range"):
        M.matvec(x, np.array([0, cols], np.int32))
    with pytest.raises(ValueError, match="outside"):
        M.matvec(x, np.array([-1, 3], np.int64))
    with pytest.raises(ValueError, match="ascending"):
        M.matvec(x, np.array([5, 3], np.int32))
    with pytest.raises(ValueError, match="ascending"):
        M.matvec(x, np.array([3, 3], np.int32))
    with pytest.raises(ValueError, match="shape"):
        M.matvec(np.zeros(cols + 1, np.float32), np.array([1], np.int32))
    with pytest.raises(ValueError, match="integers"):
        M.matvec(x, np.array([1.0]))
    with pytest.raises(ValueError, match="bytes"):
        sp.SparseMatrix.from_gguf_bytes(w[:-1], "Q4_K", (rows, cols))
    with pytest.raises(ValueError, match="block size"):
        sp.SparseMatrix.from_gguf_bytes(w, "Q4_K", (rows * 2, cols // 2))
    with pytest.raises(ValueError, match="not supported|unknown"):
        sp.SparseMatrix.from_gguf_bytes(w, "Q2_K", (rows, cols))
    with pytest.raises(ValueError, match="layout"):
        sp.SparseMatrix.from_gguf_bytes(w, "Q4_K", (rows, cols), layout="nope")
    # The binding itself checks dtypes (the wrapper converts, the raw binding refuses).
    with pytest.raises(ValueError, match="int32"):
        M._m.matvec(x, np.array([1], np.int64))
    with pytest.raises(ValueError, match="float32"):
        M._m.matvec(x.astype(np.float64), np.array([1], np.int32))
    with pytest.raises(ValueError, match="ascending"):
        sp.row_skip_matvec(w, "Q4_K", (rows, cols), x, np.array([2, 1]))


def _check_real_tensors(path, names_filter, max_tensors=8):
    import gguf

    reader = gguf.GGUFReader(path)
    seen = 0
    rng = np.random.default_rng(0)
    for t in reader.tensors:
        qtype = t.tensor_type.name
        if len(t.shape) != 2 or qtype not in sp.SUPPORTED_TYPES or not names_filter(t.name):
            continue
        cols, rows = (int(s) for s in t.shape)
        M = sp.SparseMatrix.from_gguf_bytes(t.data, qtype, (rows, cols))
        W = sp.dequantize_reference(t.data, qtype, (rows, cols))
        assert bits_equal(M.decode(), W), t.name
        x = rng.standard_normal(cols).astype(np.float32)
        idx = random_active(cols, 0.5, seen)
        ref = sp.matvec_reference(W, x, idx)
        for isa in ISAS:
            use_path(isa)
            assert np.all(np.abs(M.matvec(x, idx) - ref) <= isa_bound(isa, qtype, W, x, idx)), (t.name, isa)
        seen += 1
        if seen >= max_tensors:
            break
    assert seen > 0
    return seen


def test_real_smollm2_ffn_tensors(smollm2_path):
    # SmolLM2-135M Q4_1: every FFN matrix of layer 0 and 1 (gate/up 1536x576, down 576x1536).
    _check_real_tensors(smollm2_path, lambda n: n.startswith(("blk.0.ffn", "blk.1.ffn")), max_tensors=6)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["gemma3-270m", "qwen2.5-coder-0.5b"])
def test_real_quantised_models(model):
    # Q4_K_M files: Q4_K, Q6_K and (gemma3) Q5_0 / Q8_0 FFN matrices.
    _check_real_tensors(real_model_path(model), lambda n: ".ffn_" in n and n.startswith(("blk.0.", "blk.1.", "blk.2.")),
                        max_tensors=9)
