"""Dense matvec over GGUF-quantised weights (the C++ kernels in cpp/kernels), numpy in and out.

    y = matvec(w_bytes, "Q4_K", (rows, cols), x)          # x: float32 (cols,) -> (rows,)
    Y = matvec(w_bytes, "Q4_K", (rows, cols), X)          # X: float32 (n, cols) -> (n, rows)
    y = matvec_tensor(tensor, x)                          # a GGUF tensor view (qtype and shape read from it)

For the quantised types x is quantised once per call to an 8-bit format (Q8_0, Q8_1 or Q8_K, as llama.cpp
does), then each row is an integer dot product per block with float scales. Error against the float product
with the dequantised weights: per row at most sum_j |W_ij| * amax_b(j) * 0.57 / 127 (amax_b = max |x| over the
32- or 256-value block holding j), typically sqrt(sum_j W_ij^2 d_b(j)^2 / 12) with d_b = amax_b / 127.
F32 / F16 / BF16 weights use float math on x as given.

The ISA path (generic, avx2, avx512, neon) is picked at run time; set_isa() or PYSPARSE_ISA forces one.
Threads split the rows, so results are bitwise identical for any thread count (set_num_threads()).
"""

from __future__ import annotations

import numpy as np

from .. import _core
from .._core import active_isa, best_isa, num_threads, set_isa, set_num_threads, supported_isas  # noqa: F401

__all__ = [
    "matvec", "matvec_tensor", "quantize_act", "act_format",
    "set_isa", "active_isa", "best_isa", "supported_isas", "set_num_threads", "num_threads",
]


def _shape(shape):
    try:
        rows, cols = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (rows, cols), got {shape!r}") from None
    return rows, cols


def matvec(w, qtype, shape, x, out=None):
    """y = W x for a row-major GGUF tensor W given as raw bytes.

    w: C-contiguous numpy array holding exactly rows * row_bytes bytes, normally uint8 of shape (rows, row_bytes)
       as a GGUF file stores it (float32 / float16 arrays are accepted for F32 / F16).
    qtype: GGML type name (one of quant.DEQUANTIZE_TYPES: the engine's supported types, e.g. 'Q4_K') or id
       (e.g. gguf.GGMLQuantizationType.Q4_K).
    shape: (rows, cols) in elements; cols must be a multiple of the type's block size.
    x: float32 (cols,) or (n, cols). out: optional float32 (rows,) or (n, rows), written in place and returned.
    """
    if not isinstance(w, np.ndarray):
        raise ValueError(f"w must be a numpy array of the tensor's bytes, got {type(w).__name__}")
    if not isinstance(x, np.ndarray):
        raise ValueError(f"x must be a numpy float32 array, got {type(x).__name__}")
    rows, cols = _shape(shape)
    return _core.matvec(w, qtype, rows, cols, x, out)


def _tensor_parts(t):
    """(bytes, qtype, (rows, cols)) of a GGUF tensor view: gguf-py's ReaderTensor or an object with
    .data / .qtype (or .type / .tensor_type) / .shape (numpy order: rows first)."""
    if hasattr(t, "tensor_type") and hasattr(t, "data") and hasattr(t, "n_elements"):  # gguf.GGUFReader tensor
        ne = [int(v) for v in t.shape]  # ggml order: ne[0] = cols
        if len(ne) > 2 and any(v != 1 for v in ne[2:]):
            raise ValueError(f"tensor {t.name!r} has {len(ne)} dimensions; matvec takes a matrix")
        cols, rows = ne[0], (ne[1] if len(ne) > 1 else 1)
        return np.ascontiguousarray(t.data), int(t.tensor_type), (rows, cols)
    qtype = next((getattr(t, a) for a in ("qtype", "type", "tensor_type") if hasattr(t, a)), None)
    if qtype is None or not hasattr(t, "shape"):
        raise ValueError("expected a GGUF tensor view with a type and a shape")
    shape = tuple(int(v) for v in t.shape)
    if len(shape) == 1:
        shape = (1, shape[0])
    if len(shape) != 2:
        raise ValueError(f"matvec takes a matrix, got a tensor of shape {shape}")
    data = t.data() if callable(getattr(t, "data", None)) else getattr(t, "data", None)
    if data is None and hasattr(t, "view"):
        data = t.view()
    return np.asarray(data), qtype, shape


def matvec_tensor(tensor, x, out=None):
    """y = W x for a GGUF tensor view (its type and shape are read from it)."""
    w, qtype, shape = _tensor_parts(tensor)
    return matvec(w, qtype, shape, x, out)


def quantize_act(x, qtype):
    """x (float32, 1-D) in the 8-bit activation format `qtype`'s dot product takes, as raw bytes."""
    return _core.quantize_act(np.ascontiguousarray(x, dtype=np.float32), qtype)


def act_format(qtype):
    """'Q8_0', 'Q8_1', 'Q8_K' or 'F32': the activation format of `qtype`'s dot product."""
    return _core.act_format(qtype)
