"""The bindings' shared argument checks (cpp/python/args.h): every function that takes a GGML type accepts the same
spellings, and bad arrays get the same ValueError wording everywhere."""
import gguf
import numpy as np
import pytest

from pysparse import _core

SPELLINGS = ["Q4_0", "q4_0", 2, np.int64(2), gguf.GGMLQuantizationType.Q4_0]


@pytest.mark.parametrize("qtype", SPELLINGS, ids=repr)
def test_every_binding_takes_every_spelling(qtype):
    rows, cols = 4, 64
    w = np.zeros((rows, cols // 32 * 18), np.uint8)
    x = np.ones(cols, np.float32)
    assert _core.quant_type(qtype)["name"] == "Q4_0"
    assert _core.dequantize(w, qtype, [rows, cols]).shape == (rows, cols)
    assert _core.quantize(np.zeros((rows, cols), np.float32), qtype).shape == w.shape
    assert _core.matvec(w, qtype, rows, cols, x).shape == (rows,)
    assert _core.act_format(qtype) == "Q8_0"
    assert _core.SparseMatrix.repack(w, qtype, rows, cols, "lossless").qtype == "Q4_0"
    assert _core.sparse_row_skip_matvec(w, qtype, rows, cols, x, np.arange(2, dtype=np.int32)).shape == (rows,)


@pytest.mark.parametrize("qtype, match", [
    (True, "qtype must be"), (2.0, "qtype must be"), ("Q9_9", "unknown GGML type 'Q9_9'"),
    (5, "unknown GGML type id 5"), (1 << 70, "unknown GGML type id"), (-1, "unknown GGML type id -1"),
])
def test_bad_qtype_is_the_same_error_everywhere(qtype, match):
    w = np.zeros((4, 36), np.uint8)
    x = np.ones(64, np.float32)
    for call in (lambda: _core.quant_type(qtype), lambda: _core.dequantize(w, qtype, [4, 64]),
                 lambda: _core.matvec(w, qtype, 4, 64, x), lambda: _core.SparseMatrix.repack(w, qtype, 4, 64, "lossless")):
        with pytest.raises(ValueError, match=match):
            call()


def test_array_errors_name_the_argument():
    M = _core.SparseMatrix.repack(np.zeros((4, 36), np.uint8), "Q4_0", 4, 64, "lossless")
    x = np.ones(64, np.float32)
    with pytest.raises(ValueError, match="x must be a float32 array, got dtype float64"):
        M.matvec(x.astype(np.float64), np.arange(2, dtype=np.int32))
    with pytest.raises(ValueError, match="active_idx must be 1-D, got 2-D"):
        M.matvec(x, np.zeros((1, 2), np.int32))
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        M.matvec(np.ones(128, np.float32)[::2], np.arange(2, dtype=np.int32))
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        _core.matvec(np.zeros((4, 36), np.uint8), "Q4_0", 4, 64, np.ones(128, np.float32)[::2])
