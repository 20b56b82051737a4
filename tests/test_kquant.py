"""K-quant encoders (Q4_K, Q5_K, Q6_K): llama.cpp's reference algorithm in C++ (cpp/quant/quantize_k.cpp).

Decoded with gguf-py's numpy decoder (an oracle outside our code). The error bounds are the relative RMS errors
llama.cpp's own reference encoder (quantize_row_q*_K_ref of libggml-base, llama-cpp-python 0.3.36's llama.cpp)
reaches on the same data, measured once and written here; ours is byte-identical to it there, so it must meet them.
The byte-for-byte check against a llama.cpp build runs when PYSPARSE_LLAMA_CPP_DIR names one (see docs/convert.md).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf.quants import dequantize as gguf_dequantize

from pysparse import engine
from pysparse.engine import quant

K_TYPES = quant.K_QUANTIZE_TYPES

# relative RMS error (rms(decoded - x) / rms(x)) of llama.cpp's reference encoder
LLAMA_CPP_GAUSSIAN = {"Q4_K": 0.07129, "Q5_K": 0.03610, "Q6_K": 0.01772}        # N(0,1), 256 x 4096, seed 0
LLAMA_CPP_SMOLLM2_EMBD = {"Q4_K": 0.07992, "Q5_K": 0.04057, "Q6_K": 0.02078}   # SmolLM2 token_embd (Q8_0), 8192 x 768
LLAMA_CPP_GEMMA3_ATTN_V = {"Q4_K": 0.07316, "Q5_K": 0.03703, "Q6_K": 0.01835}   # gemma3-270m blk.0.attn_v (Q8_0 source)


def rel_rms(x, t):
    back = gguf_dequantize(quant.quantize(x, t), gguf.GGMLQuantizationType[t])
    return float(np.sqrt(np.mean((back - x) ** 2)) / np.sqrt(np.mean(x ** 2)))


def gaussian():
    return np.random.default_rng(0).standard_normal((256, 4096)).astype(np.float32)


@pytest.mark.parametrize("t", K_TYPES)
def test_error_matches_llama_cpp_on_gaussian_data(t):
    assert rel_rms(gaussian(), t) <= LLAMA_CPP_GAUSSIAN[t] + 1e-5


@pytest.mark.parametrize("t", K_TYPES)
def test_error_matches_llama_cpp_on_smollm2_embeddings(t, smollm2_path):
    f = engine.GGUFFile(smollm2_path)
    info = f.tensors["token_embd.weight"]
    x = quant.dequantize(f.tensor_bytes(info.name), info.type, info.shape).reshape(-1, 768)[:8192]
    assert rel_rms(np.ascontiguousarray(x), t) <= LLAMA_CPP_SMOLLM2_EMBD[t] + 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("t", K_TYPES)
def test_error_matches_llama_cpp_on_a_real_tensor(t):
    from conftest import real_model_path

    f = engine.GGUFFile(real_model_path("gemma3-270m"))
    info = f.tensors["blk.0.attn_v.weight"]
    x = quant.dequantize(f.tensor_bytes(info.name), info.type, info.shape).reshape(-1, 1280)
    assert rel_rms(np.ascontiguousarray(x), t) <= LLAMA_CPP_GEMMA3_ATTN_V[t] + 1e-5


@pytest.mark.parametrize("t", K_TYPES)
def test_engine_decoder_agrees_and_shapes(t):
    x = np.random.default_rng(1).standard_normal((3, 2, 512)).astype(np.float32)
    q = quant.quantize(x, t)
    info = quant.type_info(t)
    assert q.shape == (3, 2, 2 * info["type_size"]) and q.dtype == np.uint8
    ours = quant.dequantize(q, t)
    ref = gguf_dequantize(q, gguf.GGMLQuantizationType[t])
    assert np.array_equal(ours.view(np.uint32), ref.astype(np.float32).view(np.uint32))


@pytest.mark.parametrize("t", K_TYPES)
def test_edge_blocks(t):
    rng = np.random.default_rng(3)
    rows = {
        "zeros": np.zeros(256),
        "constant": np.full(256, 0.37),
        "negative constant": np.full(256, -2.5),
        "one spike": np.eye(1, 256, 17)[0] * 50.0,
        "tiny": rng.standard_normal(256) * 1e-30,
        "huge": rng.standard_normal(256) * 1e4,
        "all positive": np.abs(rng.standard_normal(256)) + 3.0,
    }
    x = np.stack(list(rows.values())).astype(np.float32)
    back = gguf_dequantize(quant.quantize(x, t), gguf.GGMLQuantizationType[t])
    assert np.isfinite(back).all()
    assert (back[0] == 0).all()
    for i, name in enumerate(rows):
        scale = np.abs(x[i]).max()
        if name == "tiny":  # below fp16's range the block's scale flushes to zero: decoded values are ~0
            assert np.abs(back[i]).max() <= 1e-20
            continue
        # within a few steps of the block's 4-bit range at worst (the spike: Q6_K's symmetric grid is exact)
        assert np.abs(back[i] - x[i]).max() <= scale * 0.15 + 1e-6, name


def test_threads_do_not_change_bytes():
    x = gaussian()[:64]
    before = engine.num_threads()
    try:
        engine.set_num_threads(1)
        one = {t: quant.quantize(x, t) for t in K_TYPES}
        engine.set_num_threads(2)
        two = {t: quant.quantize(x, t) for t in K_TYPES}
    finally:
        engine.set_num_threads(before)
    for t in K_TYPES:
        assert np.array_equal(one[t], two[t])


def test_bad_row_length():
    with pytest.raises(ValueError, match="multiple of Q4_K's block size 256"):
        quant.quantize(np.zeros((2, 320), np.float32), "Q4_K")


def llama_cpp_ggml_base():
    d = os.environ.get("PYSPARSE_LLAMA_CPP_DIR")
    if not d:
        pytest.skip("set PYSPARSE_LLAMA_CPP_DIR to a llama.cpp build (a folder holding libggml-base.so, e.g. its "
                    "build/bin) to compare with llama.cpp's reference quantiser byte for byte")
    libs = sorted(Path(d).rglob("libggml-base.so*"))
    if not libs:
        pytest.skip(f"no libggml-base.so under {d} (build llama.cpp with -DBUILD_SHARED_LIBS=ON)")
    return ctypes.CDLL(str(libs[0]))


@pytest.mark.parametrize("t", K_TYPES)
def test_bytes_equal_llama_cpp_reference(t):
    lib = llama_cpp_ggml_base()
    fn = getattr(lib, f"quantize_row_{t[:2].lower()}_K_ref")
    rng = np.random.default_rng(7)
    cases = [gaussian()[:32], (rng.standard_normal((16, 1024)) ** 3).astype(np.float32),
             np.abs(rng.standard_normal((4, 512))).astype(np.float32), np.zeros((2, 256), np.float32),
             (rng.standard_normal((4, 256)) * 1e-6).astype(np.float32)]
    for x in cases:
        ours = quant.quantize(x, t)
        ref = np.zeros_like(ours)
        fn(x.ctypes.data_as(ctypes.c_void_p), ref.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(x.size))
        assert np.array_equal(ours, ref), f"{t}: {(ours != ref).any(axis=-1).sum()} rows differ"
