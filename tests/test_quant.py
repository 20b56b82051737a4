"""Block formats against the outside oracle gguf.quants (gguf-py, numpy): decode and encode bit for bit.

Random blocks of every type, every real tensor of SmolLM2 (Q4_1, Q8_0, F32), and in --runslow the tensors of
the three other real models (Q5_0, Q4_K, Q6_K, Q8_0, F32; the 1.5B holds only F32, Q4_K, Q6_K). Comparisons are on the float32 bit patterns, so -0.0 vs
0.0 and NaN payloads count.
"""

import threading
import warnings

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize as ref_dequantize
from gguf.quants import quantize as ref_quantize

from pysparse import _core
from pysparse.engine import quant

from conftest import real_model_path

DEQ_TYPES = quant.DEQUANTIZE_TYPES
Q_TYPES = quant.QUANTIZE_TYPES

# Byte offsets of the fp16 scale fields inside one block.
FP16_FIELDS = {"Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
               "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208]}


def ref_deq(raw, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return ref_dequantize(raw, T[name])


def ref_q(x, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.ascontiguousarray(ref_quantize(x, T[name])).view(np.uint8).reshape(*x.shape[:-1], -1)


def assert_same_bits(got, want):
    assert got.dtype == np.float32 and want.dtype == np.float32
    assert got.shape == want.shape
    g, w = got.view(np.uint32), want.view(np.uint32)
    if not np.array_equal(g, w):
        # NaN-aware report: positions must agree; payloads are compared too (they do match on this CPU).
        nan_g, nan_w = np.isnan(got), np.isnan(want)
        diff = np.nonzero(g != w)
        i = tuple(d[0] for d in diff)
        pytest.fail(f"{len(diff[0])} elements differ (NaN positions equal: {np.array_equal(nan_g, nan_w)}); "
                    f"first at {i}: got {g[i]:#010x} ({got[i]}), want {w[i]:#010x} ({want[i]})")


def random_blocks(name, n_blocks, rng, scales="finite"):
    """Random block bytes; fp16 scale fields finite (with zeros, subnormals and negatives mixed in) or raw."""
    info = quant.type_info(name)
    raw = rng.integers(0, 256, size=(n_blocks, info["type_size"]), dtype=np.uint8)
    if scales == "finite":
        for off in FP16_FIELDS.get(name, []):
            h = rng.integers(0, 1 << 16, size=n_blocks, dtype=np.uint32).astype(np.uint16)
            h &= np.uint16(0xBFFF)  # exponent < 0x1f: finite (and at most 2^0 * 1.x: no overflow in products)
            kind = rng.integers(0, 8, size=n_blocks)
            h[kind == 0] = 0x0000                                                     # +0
            h[kind == 1] = 0x8000                                                     # -0
            h[kind == 2] = rng.integers(1, 0x400, size=(kind == 2).sum()).astype(np.uint16)  # subnormal
            h[kind == 3] |= 0x8000                                                    # negative
            h[kind == 4] = 0x7BFF                                                     # 65504, the largest
            raw[:, off:off + 2] = h.view(np.uint8).reshape(-1, 2)
    return raw


# ---------------------------------------------------------------- dequantize

def test_fp16_every_code():
    codes = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    got = quant.dequantize(codes.view(np.uint8), "F16")
    assert_same_bits(got, codes.view(np.float16).astype(np.float32))


def test_bf16_every_code():
    codes = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    assert_same_bits(quant.dequantize(codes.view(np.uint8), "BF16"), ref_deq(codes.view(np.uint8), "BF16"))


@pytest.mark.parametrize("name", DEQ_TYPES)
def test_dequantize_random_blocks(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    info = quant.type_info(name)
    per_row = 8 if info["block_size"] > 1 else 64
    raw = random_blocks(name, 300 * per_row, rng).reshape(300, per_row * info["type_size"])
    got = quant.dequantize(raw, name)
    want = ref_deq(raw, name)
    assert got.shape == (300, per_row * info["block_size"])
    assert_same_bits(got, want)
    if name in FP16_FIELDS:  # the forced-finite scales must give finite values, and not only zeros
        assert np.isfinite(got).all() and np.count_nonzero(got) > got.size // 4


@pytest.mark.parametrize("name", DEQ_TYPES)
def test_dequantize_raw_scales_with_inf_and_nan(name):
    # Unrestricted random bytes: scale fields may be inf or NaN; NaN positions and payloads still match.
    rng = np.random.default_rng(7 + sum(map(ord, name)))
    info = quant.type_info(name)
    raw = random_blocks(name, 4000, rng, scales="raw").reshape(-1, 4 * info["type_size"])
    assert_same_bits(quant.dequantize(raw, name), ref_deq(raw, name))


@pytest.mark.parametrize("name", ["Q4_0", "Q6_K", "F16"])
def test_dequantize_shapes_and_typed_views(name):
    rng = np.random.default_rng(3)
    info = quant.type_info(name)
    bs, ts = info["block_size"], info["type_size"]
    raw = random_blocks(name, 2 * 3 * 4, rng).reshape(2, 3, 4 * ts)
    want = ref_deq(raw, name)
    assert want.shape == (2, 3, 4 * bs)
    assert_same_bits(quant.dequantize(raw, name), want)
    assert_same_bits(quant.dequantize(raw.reshape(-1), name, shape=(2, 3, 4 * bs)), want)  # flat bytes + shape
    assert_same_bits(quant.dequantize(raw, T[name]), want)                                  # gguf enum
    assert_same_bits(quant.dequantize(raw, int(T[name])), want)                             # id
    assert_same_bits(quant.dequantize(raw, np.int64(T[name])), want)                        # numpy int
    assert_same_bits(_core.dequantize(raw, name, [6, 4 * bs]), want.reshape(6, -1))
    if name == "F16":  # GGUFReader hands F16 tensors over as float16 arrays
        assert_same_bits(quant.dequantize(raw.view(np.float16), "F16"), want)


def test_dequantize_f32_keeps_bits():
    bits = np.random.default_rng(0).integers(0, 1 << 32, size=4096, dtype=np.uint64).astype(np.uint32)
    got = quant.dequantize(bits.view(np.float32), "F32")
    assert np.array_equal(got.view(np.uint32), bits)


def test_dequantize_result_independent_of_threads():
    rng = np.random.default_rng(5)
    raw = random_blocks("Q4_K", 64 * 24, rng).reshape(64, -1)  # 64 x 6144 elements: large enough to thread
    before = _core.num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            _core.set_num_threads(n)
            outs.append(quant.dequantize(raw, "Q4_K"))
    finally:
        _core.set_num_threads(before)
    for o in outs[1:]:
        assert_same_bits(o, outs[0])
    assert_same_bits(outs[0], ref_deq(raw, "Q4_K"))


def test_dequantize_releases_the_gil():
    # A Python thread stamps the time in a loop while one long decode (~30 ms) runs. With the GIL held it could
    # run at most one switch interval (1 ms here) after the call began; released, it stamps all along.
    import sys
    import time

    info = quant.type_info("Q6_K")
    raw = np.zeros((2048, 4096 // 256 * info["type_size"]), dtype=np.uint8)
    stamps = []
    stop = threading.Event()

    def stamp():
        while not stop.is_set():
            stamps.append(time.perf_counter())

    old_interval, old_threads = sys.getswitchinterval(), _core.num_threads()
    sys.setswitchinterval(0.001)
    _core.set_num_threads(1)
    t = threading.Thread(target=stamp)
    t.start()
    try:
        time.sleep(0.01)
        t0 = time.perf_counter()
        quant.dequantize(raw, "Q6_K")
        t1 = time.perf_counter()
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old_interval)
        _core.set_num_threads(old_threads)
    assert t1 - t0 > 0.008, "the call was too short to tell"
    lo, hi = t0 + 0.25 * (t1 - t0), t0 + 0.75 * (t1 - t0)
    assert any(lo < s < hi for s in stamps)


@pytest.mark.parametrize("bad, match", [
    (lambda: quant.dequantize(np.zeros(18, np.float32), "Q4_0"), "dtype"),
    (lambda: _core.dequantize(np.zeros(18, np.uint16), "Q4_0", [32]), "dtype"),
    (lambda: quant.dequantize(np.zeros((4, 36), np.uint8)[:, :18], "Q4_0"), "contiguous"),
    (lambda: _core.dequantize(np.zeros((4, 36), np.uint8)[:, :18], "Q4_0", [4, 32]), "contiguous"),
    (lambda: quant.dequantize(np.zeros(18, np.uint8), "Q4_0", shape=(16,)), "multiple"),
    (lambda: quant.dequantize(np.zeros(19, np.uint8), "Q4_0"), "whole number"),
    (lambda: quant.dequantize(np.zeros(18, np.uint8), "Q4_0", shape=(64,)), "bytes"),
    (lambda: quant.dequantize(np.zeros(36, np.uint8), "Q4_0", shape=(32,)), "bytes"),
    (lambda: quant.dequantize(np.zeros(18, np.uint8), "Q4_0", shape=(-1, 32)), "negative"),
    (lambda: quant.dequantize(np.zeros(18, np.uint8), "Q4_0", shape=(1 << 40, 1 << 40, 32)), "overflow"),
    (lambda: _core.dequantize(np.zeros(18, np.uint8), "Q4_0", []), "dimension"),
    (lambda: quant.dequantize(np.zeros(18, np.uint8), "Q9_9"), "unknown GGML type"),
    (lambda: quant.dequantize(np.zeros(18, np.uint8), 5), "unknown GGML type id 5"),
    (lambda: quant.dequantize(np.zeros(18, np.uint8), 1 << 40), "unknown GGML type id"),
    (lambda: quant.dequantize(np.zeros(18, np.uint8), -1), "unknown GGML type id"),
    (lambda: quant.dequantize(np.zeros(84, np.uint8), "Q2_K"), "cannot dequantize GGML type Q2_K"),
    (lambda: quant.dequantize(np.zeros(18, np.uint8), "IQ4_NL"), "cannot dequantize GGML type IQ4_NL"),
    (lambda: _core.dequantize(np.zeros(18, np.uint8), 2.0, [32]), "qtype"),
    (lambda: _core.dequantize(np.zeros(18, np.uint8), True, [32]), "qtype"),
    (lambda: quant.dequantize([0] * 18, "Q4_0"), "numpy array"),
])
def test_dequantize_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


# ---------------------------------------------------------------- quantize

def quantize_cases():
    rng = np.random.default_rng(11)
    n = 64
    c = {}
    c["normal"] = rng.standard_normal((200, n)).astype(np.float32)
    c["scaled"] = (rng.standard_normal((200, n)) * 10.0 ** rng.integers(-30, 30, (200, 1))).astype(np.float32)
    c["zeros"] = np.zeros((4, n), np.float32)
    z = np.zeros((200, n), np.float32)
    z[rng.random(z.shape) < 0.5] = -0.0
    c["signed_zeros"] = z
    x = rng.standard_normal((200, n)).astype(np.float32)
    x[:, ::3] = -0.0
    c["some_negative_zeros"] = x
    c["constant"] = np.full((8, n), 0.3, np.float32)
    c["huge"] = (rng.standard_normal((200, n)) * 1e37).astype(np.float32)
    c["float_max"] = np.where(rng.random((64, n)) < 0.5, np.float32(3.4028235e38), np.float32(-3.4028235e38))
    c["fp16_overflow"] = (rng.standard_normal((64, n)) * 1e6).astype(np.float32)
    c["tiny_subnormal"] = (rng.standard_normal((200, n)) * 1e-40).astype(np.float32)  # 1 / d overflows
    c["tiniest"] = (rng.standard_normal((200, n)) * 1e-44).astype(np.float32)
    c["fp16_subnormal_scales"] = (rng.standard_normal((200, n)) * 1e-5).astype(np.float32)
    x = rng.standard_normal((200, n)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.inf
    x[rng.random(x.shape) < 0.05] = -np.inf
    c["inf"] = x
    x = rng.standard_normal((200, n)).astype(np.float32)
    x[rng.random(x.shape) < 0.03] = np.nan
    c["nan"] = x
    bits = rng.integers(0, 1 << 32, size=(400, n), dtype=np.uint64).astype(np.uint32)
    c["random_bits"] = bits.view(np.float32)                   # every exponent, inf, NaNs with payloads
    # Ties: values landing exactly on .5 after scaling, for each format's own scale.
    x = (rng.integers(-127, 127, (200, n)) + 0.5).astype(np.float32)
    x[:, 0] = 127
    c["ties_q8_0"] = x
    x = (rng.integers(-8, 8, (200, n)) + 0.5).astype(np.float32)
    x[:, 0] = x[:, 32] = -8
    c["ties_q4_0"] = x
    x = (rng.integers(0, 15, (200, n)) + 0.5).astype(np.float32)
    x[:, [0, 32]] = 0
    x[:, [1, 33]] = 15
    c["ties_q4_1"] = x
    x = (rng.integers(-16, 16, (200, n)) + 0.5).astype(np.float32)
    x[:, [0, 32]] = -16
    c["ties_q5_0"] = x
    x = rng.standard_normal((200, n)).astype(np.float32)
    m = np.abs(x).max(axis=1) + 1
    x[:, 5], x[:, 7] = m, -m                                   # |max| tie between signs: the first wins
    x[:, 40], x[:, 38] = m, -m
    c["absmax_sign_tie"] = x
    return c


QCASES = quantize_cases()


@pytest.mark.parametrize("case", list(QCASES))
@pytest.mark.parametrize("name", Q_TYPES)
def test_quantize_matches_gguf(name, case):
    x = QCASES[case]
    got = quant.quantize(x, name)
    want = ref_q(x, name)
    assert got.dtype == np.uint8 and got.shape == want.shape
    if name in NAN_PAYLOAD_FREE and np.isnan(x).any():
        # numpy's min / max reductions return a NaN whose payload depends on the NaN's position and the CPU's
        # vector width: for blocks holding a NaN, both scales must be NaN, every other byte equal.
        info = quant.type_info(name)
        gb, wb = got.reshape(-1, info["type_size"]).copy(), want.reshape(-1, info["type_size"]).copy()
        has_nan = np.isnan(x.reshape(-1, info["block_size"])).any(axis=1)
        assert has_nan.any()
        for off in NAN_PAYLOAD_FREE[name]:
            for b in (gb, wb):
                assert np.isnan(b[has_nan, off:off + 2].copy().view(np.float16)).all()
                b[has_nan, off:off + 2] = 0
        got, want = gb.reshape(got.shape), wb.reshape(want.shape)
    if not np.array_equal(got, want):
        rows = np.nonzero((got != want).any(axis=1))[0]
        pytest.fail(f"{len(rows)} rows differ, first {rows[0]}: x={x[rows[0]][:8]}... "
                    f"got {got[rows[0]][:8]} want {want[rows[0]][:8]}")


NAN_PAYLOAD_FREE = {"Q4_1": [0, 2], "Q5_1": [0, 2], "Q8_0": [0]}  # fp16 fields from numpy's min / max


@pytest.mark.parametrize("name", Q_TYPES)
def test_quantize_shapes_and_round_trip(name):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 128)).astype(np.float32)
    q = quant.quantize(x, name)
    info = quant.type_info(name)
    assert q.shape == (2, 3, 128 // info["block_size"] * info["type_size"])
    assert np.array_equal(q, ref_q(x, name))
    back = quant.dequantize(q, name)
    assert back.shape == x.shape
    assert_same_bits(back, ref_deq(q, name))
    # The error bound of each format: half a step (Q8_0, Q4_1, Q5_1, F16, BF16) or one step (Q4_0, Q5_0,
    # whose zero-point is fixed) of the block's scale, plus the fp16 rounding of the scale.
    steps = {"Q8_0": 127, "Q4_0": 8, "Q5_0": 16, "Q4_1": 15, "Q5_1": 31}
    if name in steps:
        blocks = x.reshape(-1, 32)
        rng_ = np.abs(blocks).max(1) if name in ("Q8_0", "Q4_0", "Q5_0") else np.ptp(blocks, axis=1)
        step = rng_ / steps[name]
        err = np.abs(back.reshape(-1, 32) - blocks).max(1)
        assert (err <= step * 1.01 + 1e-6).all()
    elif name != "F32":
        assert np.allclose(back, x, rtol=2 ** -7 if name == "BF16" else 2 ** -10, atol=0)
    else:
        assert_same_bits(back, x)


@pytest.mark.parametrize("bad, match", [
    (lambda: quant.quantize(np.zeros((2, 32), np.float64), "Q8_0"), "float32"),
    (lambda: quant.quantize(np.zeros((2, 64), np.float32)[:, ::2], "Q8_0"), "contiguous"),
    (lambda: quant.quantize(np.zeros((2, 48), np.float32), "Q8_0"), "multiple"),
    (lambda: quant.quantize(np.zeros((), np.float32), "Q8_0"), "dimension"),
    (lambda: quant.quantize(np.zeros((2, 256), np.float32), "Q3_K"), "cannot quantize to GGML type Q3_K"),
    (lambda: quant.quantize(np.zeros((2, 32), np.float32), "nope"), "unknown GGML type"),
    (lambda: quant.quantize([1.0] * 32, "Q8_0"), "numpy array"),
])
def test_quantize_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


def test_type_info():
    assert quant.type_info("Q4_K") == {"name": "Q4_K", "id": 12, "block_size": 256, "type_size": 144,
                                       "can_dequantize": True, "can_quantize": True}
    for name in DEQ_TYPES:
        bs, ts = gguf.GGML_QUANT_SIZES[T[name]]
        info = quant.type_info(T[name])
        assert (info["name"], info["block_size"], info["type_size"]) == (name, bs, ts)


# ---------------------------------------------------------------- real tensors

def check_real_model(path, max_tensors_per_type=None):
    reader = gguf.GGUFReader(path)
    seen = {}
    for t in reader.tensors:
        name = t.tensor_type.name
        if max_tensors_per_type is not None and seen.get(name, 0) >= max_tensors_per_type:
            continue
        seen[name] = seen.get(name, 0) + 1
        want = ref_dequantize(t.data, t.tensor_type)
        got = quant.dequantize(t.data, t.tensor_type)
        assert got.shape == want.shape, t.name
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), f"{t.name} ({name}) differs"
        # the engine's own shape convention: GGUF ne reversed
        n = [int(d) for d in reversed(t.shape.tolist())]
        assert got.reshape(n).shape == tuple(n)
    return seen


def test_real_smollm2_every_tensor(smollm2_path):
    seen = check_real_model(smollm2_path)
    assert set(seen) == {"F32", "Q4_1", "Q8_0"}
    assert sum(seen.values()) == 272


@pytest.mark.slow
@pytest.mark.parametrize("model, types", [
    ("gemma3-270m", {"F32", "Q8_0", "Q5_0", "Q4_K", "Q6_K"}),
    ("qwen2.5-coder-0.5b", {"F32", "Q8_0", "Q5_0", "Q4_K", "Q6_K"}),
    ("qwen2.5-coder-1.5b", {"F32", "Q4_K", "Q6_K"}),
])
def test_real_model_tensors(model, types):
    # Up to 12 tensors of each type (in file order: embeddings first, then layer by layer) keeps this minutes short.
    seen = check_real_model(real_model_path(model), max_tensors_per_type=12)
    assert set(seen) == types, seen
