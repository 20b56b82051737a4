"""Random valid GGUF weight matrices for the sparse-kernel tests (gguf.quants as the oracle)."""

import numpy as np

import gguf
import gguf.quants

BLOCK_BYTES = {"Q4_0": (32, 18), "Q4_1": (32, 20), "Q5_0": (32, 22), "Q5_1": (32, 24), "Q8_0": (32, 34),
               "Q4_K": (256, 144), "Q5_K": (256, 176), "Q6_K": (256, 210), "F16": (1, 2), "F32": (1, 4)}
# Offsets of the fp16 fields in the K blocks gguf-py cannot quantise (random bytes elsewhere are valid).
K_FP16_FIELDS = {"Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208,)}


def random_fp16(rng, n):
    """Finite fp16 scales: mostly normal of varied magnitude and sign, some zero and subnormal."""
    v = (rng.standard_normal(n) * 10.0 ** rng.uniform(-4, -1, n)).astype(np.float16)
    special = rng.random(n)
    v[special < 0.02] = np.float16(0.0)
    v[(special >= 0.02) & (special < 0.04)] = np.float16(3e-7)  # subnormal
    return v


def random_weight(qtype, rows, cols, seed=0):
    """Row-major GGUF bytes (uint8 array of shape (rows, row_bytes)) of a random, valid matrix."""
    rng = np.random.default_rng(seed)
    if qtype == "F32":
        return rng.standard_normal((rows, cols)).astype(np.float32).view(np.uint8)
    if qtype == "F16":
        return rng.standard_normal((rows, cols)).astype(np.float16).view(np.uint8)
    if qtype in K_FP16_FIELDS:
        bs, ts = BLOCK_BYTES[qtype]
        nb = rows * cols // bs
        raw = rng.integers(0, 256, size=(nb, ts), dtype=np.uint8)
        for off in K_FP16_FIELDS[qtype]:
            raw[:, off:off + 2] = random_fp16(rng, nb).view(np.uint8).reshape(nb, 2)
        return raw.reshape(rows, -1)
    w = (rng.standard_normal((rows, cols)) * rng.uniform(0.01, 1.0, (rows, 1))).astype(np.float32)
    w[rng.random((rows, cols)) < 0.01] = 0.0
    return gguf.quants.quantize(w, gguf.GGMLQuantizationType[qtype])
