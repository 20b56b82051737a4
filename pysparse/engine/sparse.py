"""Activation-sparse matvecs over GGUF weights, and their numpy references.

The engine repacks a row-major GGUF weight ``W[rows = out, cols = in]`` input-major without changing any stored
value (docs/engine.md, the sparse layout), so ``y = W @ x`` with most of ``x`` zero reads only the active
inputs' quant columns and the scale panels of the groups they touch::

    from pysparse.engine.sparse import SparseMatrix, active_indices
    W = SparseMatrix.from_gguf_bytes(tensor.data, "Q4_K", (rows, cols))
    y = W.matvec(x, active_indices(x))            # == dequantize(W) @ where(mask, x, 0), to float rounding

Index lists (``active_idx``, ``rows_idx``) must be strictly ascending and unique, in range: the engine checks this
in one cheap pass and raises ValueError otherwise (it does not sort for you; ``np.flatnonzero`` and the selection
rules already return ascending lists). Any integer dtype is accepted here and converted to int32 after the
range check.

Numerical contract: the kernels accumulate per group of 32 inputs (16 for Q6_K) and apply the group's scale once.
Float paths (generic; F16 / F32 everywhere) equal the float64 reference within ``1e-5 * (|W| @ |x_active|)`` per
output (``tolerance_bound``). The AVX2, AVX-512 and NEON paths of the 4-, 5- and 6-bit formats (Q4_0 Q4_1 Q4_K
Q5_0 Q5_1 Q5_K Q6_K) and of Q8_0 are integer, as
llama.cpp's dense kernels are: the group's active x are quantised to int8 (dx = max |x| / 127, round-half-even) and
multiplied as integers (vpmaddubsw, vpdpbusd, SDOT), which adds at most ``|W| @ (dx_g(j) / 2)``
(``x_quantisation_bound``) to the error. Results are bitwise identical for any thread count; different ISA paths
differ within those bounds.
"""

from __future__ import annotations

import numpy as np

from .. import _core

__all__ = [
    "SparseMatrix",
    "active_indices",
    "fused_gate_up",
    "row_skip_matvec",
    "dequantize_reference",
    "matvec_reference",
    "row_skip_reference",
    "tolerance_bound",
    "x_quantisation_bound",
    "SUPPORTED_TYPES",
]

# The types the sparse layouts take, from the engine's type table (cpp/quant/types.h).
SUPPORTED_TYPES = tuple(t["name"] for t in _core.quant_types() if t["sparse"])


def _index_array(idx, limit: int, name: str) -> np.ndarray:
    a = np.asarray(idx)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {a.shape}")
    if a.size == 0:
        return np.zeros(0, dtype=np.int32)
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {a.dtype}")
    if a.dtype != np.int32:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi >= limit:
            raise ValueError(f"{name} holds {lo if lo < 0 else hi}, outside [0, {limit})")
        a = a.astype(np.int32)
    return np.ascontiguousarray(a)


def _x_array(x, n: int) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"x must have shape ({n},), got {a.shape}")
    if a.dtype != np.float32:
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"x must be a float array, got dtype {a.dtype}")
        a = a.astype(np.float32)
    return np.ascontiguousarray(a)


def _weight_bytes(w) -> np.ndarray:
    a = np.asarray(w)
    return np.ascontiguousarray(a).view(np.uint8).reshape(-1)


class SparseMatrix:
    """A GGUF weight repacked input-major (see cpp/sparse/sparse_matrix.h for the byte layout)."""

    def __init__(self, core: _core.SparseMatrix):
        self._m = core

    @classmethod
    def from_gguf_bytes(cls, w, qtype, shape, layout: str = "lossless") -> "SparseMatrix":
        """Repack the row-major GGUF tensor bytes ``w`` of type ``qtype`` and numpy shape ``(rows, cols)``.

        ``w`` is e.g. ``gguf.GGUFReader(path).tensors[i].data`` (any contiguous array; only its bytes are used).
        ``layout="lossless"`` keeps the file's values exactly; ``"requant_q8_0"`` is the re-quantising reference
        (each column as Q8_0 blocks along the outputs).
        """
        rows, cols = (int(s) for s in shape)
        return cls(_core.SparseMatrix.repack(_weight_bytes(w), qtype, rows, cols, layout))

    repack = from_gguf_bytes

    rows = property(lambda self: self._m.rows)
    cols = property(lambda self: self._m.cols)
    shape = property(lambda self: (self._m.rows, self._m.cols))
    qtype = property(lambda self: self._m.qtype)
    layout = property(lambda self: self._m.layout)
    tile = property(lambda self: self._m.tile)
    group = property(lambda self: self._m.group)
    nbytes = property(lambda self: self._m.nbytes, doc="bytes of the repacked matrix")
    source_nbytes = property(lambda self: self._m.source_nbytes, doc="bytes of the row-major GGUF source")

    def bytes_touched(self, active_idx) -> int:
        """Bytes the sparse matvec reads for this active set (quant columns + touched scale panels)."""
        idx = _index_array(active_idx, self.cols, "active_idx")
        groups = len(np.unique(idx // self.group)) if idx.size else 0
        return self._m.bytes_touched(int(idx.size), groups)

    def decode(self) -> np.ndarray:
        """The stored values as float32 (rows, cols); lossless layout: == gguf.quants.dequantize of the source."""
        return self._m.decode()

    def matvec(self, x, active_idx) -> np.ndarray:
        """y[rows] = sum over j in active_idx of x[j] * W[:, j] (x[j] for j not listed is never read)."""
        return self._m.matvec(_x_array(x, self.cols), _index_array(active_idx, self.cols, "active_idx"))

    def matvec_dense(self, x) -> np.ndarray:
        """W @ x over every input (all columns active)."""
        return self.matvec(x, np.arange(self.cols, dtype=np.int32))

    def __repr__(self) -> str:
        return (f"SparseMatrix({self.qtype}, {self.rows}x{self.cols}, layout={self.layout}, tile={self.tile}, "
                f"nbytes={self.nbytes}, source_nbytes={self.source_nbytes})")


def active_indices(x, threshold: float = 0.0) -> np.ndarray:
    """Ascending int32 indices of the entries of x with |x| > threshold."""
    return np.flatnonzero(np.abs(np.asarray(x)) > threshold).astype(np.int32)


def fused_gate_up(gate: SparseMatrix, up: SparseMatrix, x, active_idx) -> tuple[np.ndarray, np.ndarray]:
    """(W_gate @ x_active, W_up @ x_active) in one pass over the active columns of both matrices."""
    return _core.sparse_fused_gate_up(gate._m, up._m, _x_array(x, gate.cols),
                                      _index_array(active_idx, gate.cols, "active_idx"))


def row_skip_matvec(w, qtype, shape, x, rows_idx) -> np.ndarray:
    """y[r] = W[r, :] @ x for r in rows_idx, 0 for the other rows; W is the row-major GGUF bytes of ``shape``.

    Listed rows are bitwise the dense ``kernels.matvec`` output (same row dot product, x quantised once to the
    type's activation format), so their error bound is the dense kernels' one.
    """
    rows, cols = (int(s) for s in shape)
    return _core.sparse_row_skip_matvec(_weight_bytes(w), qtype, rows, cols, _x_array(x, cols),
                                        _index_array(rows_idx, rows, "rows_idx"))


# ---- numpy references (gguf.quants decodes; numpy multiplies) --------------------------------------------------

def dequantize_reference(w, qtype, shape) -> np.ndarray:
    """gguf.quants.dequantize of the row-major GGUF bytes, as float32 (rows, cols)."""
    import gguf
    import gguf.quants

    rows, cols = (int(s) for s in shape)
    qt = gguf.GGMLQuantizationType[qtype]
    raw = _weight_bytes(w)
    if qt == gguf.GGMLQuantizationType.F32:
        return raw.view(np.float32).reshape(rows, cols).copy()
    if qt == gguf.GGMLQuantizationType.F16:
        return raw.view(np.float16).reshape(rows, cols).astype(np.float32)
    return gguf.quants.dequantize(raw.reshape(rows, -1), qt).astype(np.float32, copy=False)


def matvec_reference(W: np.ndarray, x, active_idx) -> np.ndarray:
    """float64 W @ (x masked to active_idx), as float32."""
    xm = np.zeros(W.shape[1], dtype=np.float64)
    idx = np.asarray(active_idx, dtype=np.int64)
    xm[idx] = np.asarray(x, dtype=np.float64)[idx]
    return (W.astype(np.float64) @ xm).astype(np.float32)


def tolerance_bound(W: np.ndarray, x, active_idx, rel: float = 1e-5) -> np.ndarray:
    """Per-output error bound used by the tests: rel * (|W| @ |x_active|)."""
    xm = np.zeros(W.shape[1], dtype=np.float64)
    idx = np.asarray(active_idx, dtype=np.int64)
    xm[idx] = np.abs(np.asarray(x, dtype=np.float64)[idx])
    return rel * (np.abs(W.astype(np.float64)) @ xm)


def x_quantisation_bound(W: np.ndarray, x, active_idx, group: int = 32) -> np.ndarray:
    """Extra per-output error of the integer path: |W| @ (dx_g(j) / 2) over active j, dx_g = max |x_active in g| / 127."""
    idx = np.asarray(active_idx, dtype=np.int64)
    xa = np.abs(np.asarray(x, dtype=np.float64)[idx])
    g = idx // group
    dxg = np.zeros(W.shape[1] // group + 1)
    np.maximum.at(dxg, g, xa / 127.0)
    d = np.zeros(W.shape[1])
    d[idx] = dxg[g] * 0.5 * (1 + 1e-3)
    return np.abs(W.astype(np.float64)) @ d


def row_skip_reference(W: np.ndarray, x, rows_idx) -> np.ndarray:
    """float64 W[rows_idx] @ x scattered into zeros, as float32."""
    y = np.zeros(W.shape[0], dtype=np.float64)
    idx = np.asarray(rows_idx, dtype=np.int64)
    y[idx] = W[idx].astype(np.float64) @ np.asarray(x, dtype=np.float64)
    return y.astype(np.float32)
