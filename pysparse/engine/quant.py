"""GGUF block formats: decode to float32 and encode from float32, in C++ (pysparse._core), multi-threaded.

Drop-in comparable with gguf-py: `dequantize(data, qtype)` takes what `gguf.GGUFReader` gives as `tensor.data`
(uint8 rows of block bytes, or float32 / float16 arrays for F32 / F16) and equals `gguf.quants.dequantize` bit for
bit; `quantize(x, qtype)` equals `gguf.quants.quantize(x, qtype)` viewed as uint8. qtype is a name ("Q4_K"), an
id, or a `gguf.GGMLQuantizationType`.

`quantize` also encodes the K-quants Q4_K, Q5_K and Q6_K, which gguf-py cannot: with llama.cpp's reference algorithm
(`quantize_row_q4_K_ref` etc., what llama-quantize does without an importance matrix), byte for byte.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import _core

# From the engine's type table (cpp/quant/types.h), in its order: F32 F16 BF16 Q4_0 ... Q8_0 Q4_K Q5_K Q6_K.
_TYPES = _core.quant_types()
DEQUANTIZE_TYPES = tuple(t["name"] for t in _TYPES if t["can_dequantize"])
# bit-exact with gguf.quants
QUANTIZE_TYPES = tuple(t["name"] for t in _TYPES if t["can_quantize"] and not t["k_quant"])
# bit-exact with llama.cpp's reference encoders
K_QUANTIZE_TYPES = tuple(t["name"] for t in _TYPES if t["can_quantize"] and t["k_quant"])

# The element dtype a plain type's raw data may come in (GGUFReader returns these for F32 / F16 tensors).
_PLAIN_DTYPES = {"F32": np.dtype(np.float32), "F16": np.dtype(np.float16), "BF16": np.dtype(np.uint16)}


def type_info(qtype) -> dict:
    """{name, id, block_size, type_size, can_dequantize, can_quantize} of a GGML type (name, id or enum)."""
    return _core.quant_type(qtype)


def dequantize(data: np.ndarray, qtype, shape: Sequence[int] | None = None) -> np.ndarray:
    """Decode GGUF tensor data to float32.

    data: raw bytes as uint8 (any shape, C-contiguous), or for F32 / F16 / BF16 an array of that element type.
    shape: the result's shape in numpy order (last dim a multiple of the block size). If omitted, it is derived
    from data's shape as gguf-py does: the last axis holds whole rows of blocks.
    """
    info = type_info(qtype)
    if not isinstance(data, np.ndarray):
        raise ValueError(f"data must be a numpy array, got {type(data).__name__}")
    plain = _PLAIN_DTYPES.get(info["name"])
    if data.dtype not in (np.uint8, np.int8) and not (plain is not None and data.dtype.itemsize == plain.itemsize
                                                        and data.dtype.kind == plain.kind):
        allowed = "uint8" + (f" or {plain}" if plain is not None else "")
        raise ValueError(f"data for {info['name']} must be {allowed}, got dtype {data.dtype}")
    if not data.flags.c_contiguous:
        raise ValueError("data must be C-contiguous (use np.ascontiguousarray)")
    if shape is None:
        if data.ndim == 0:
            raise ValueError("data must have at least one dimension")
        row_bytes = data.shape[-1] * data.dtype.itemsize
        if row_bytes % info["type_size"]:
            raise ValueError(f"data's last dimension holds {row_bytes} bytes, not a whole number of "
                             f"{info['name']} blocks of {info['type_size']} bytes")
        shape = (*data.shape[:-1], row_bytes // info["type_size"] * info["block_size"])
    shape = tuple(int(s) for s in shape)
    return _core.dequantize(data.reshape(-1).view(np.uint8), info["id"], shape)


def quantize(x: np.ndarray, qtype) -> np.ndarray:
    """Encode a float32 array (..., n) into block bytes, uint8 (..., n / block_size * type_size).

    Equals gguf.quants.quantize(x, qtype) bit for bit (for F32 / F16 compare its result viewed as uint8); for
    Q4_K / Q5_K / Q6_K equals llama.cpp's quantize_row_q*_K_ref. Rows are encoded in parallel on the thread pool.
    """
    if not isinstance(x, np.ndarray):
        raise ValueError(f"x must be a numpy array, got {type(x).__name__}")
    return _core.quantize(x, qtype)
