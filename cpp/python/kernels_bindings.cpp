// Dense matvec kernels for Python: numpy in and out, every argument checked, the GIL released while C++ runs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "common/error.h"
#include "kernels/matmul.h"
#include "kernels/matvec.h"
#include "python/args.h"
#include "python/bindings.h"

namespace py = pybind11;

namespace pysparse::python {

namespace {

// A GGML type the dense kernels compute with (qtype_arg, then act_format's ValueError naming an unsupported one).
GGMLType matvec_qtype(const py::handle& t) {
    const GGMLType type = qtype_arg(t);
    act_format(type);
    return type;
}

bool overlaps(const void* a, size_t na, const void* b, size_t nb) {
    const uintptr_t pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
    return na && nb && pa < pb + nb && pb < pa + na;
}

// Checks W: C-contiguous, exactly rows * row_bytes(type, cols) bytes, and, if 2-D, one row of the matrix per
// array row. Any dtype is accepted (uint8 bytes as GGUF stores them, or float32 / float16 for F32 / F16).
const void* check_weights(const py::array& w, GGMLType type, int64_t rows, int64_t cols) {
    if (rows < 0 || cols < 0) throw ValueError("shape must be non-negative, got (" + std::to_string(rows) + ", " + std::to_string(cols) + ")");
    const size_t rb = row_bytes(type, cols);  // ValueError if cols is not a multiple of the block size
    array_arg(w, "w");
    const size_t want = rb * static_cast<size_t>(rows);
    const size_t have = static_cast<size_t>(w.nbytes());
    if (have != want)
        throw ValueError("w has " + std::to_string(have) + " bytes but a " + type_traits(type).name + " matrix of shape (" +
                         std::to_string(rows) + ", " + std::to_string(cols) + ") needs " + std::to_string(want) +
                         " (" + std::to_string(rb) + " bytes per row)");
    if (w.ndim() == 2 && w.shape(0) != rows)
        throw ValueError("w has " + std::to_string(w.shape(0)) + " rows but shape says " + std::to_string(rows));
    if (w.ndim() > 2) throw ValueError("w must be 1-D or 2-D, got " + std::to_string(w.ndim()) + "-D");
    return w.data();
}

py::array_t<float> matvec_py(const py::array& w, const py::handle& qtype, int64_t rows, int64_t cols, const py::array& x,
                             const py::object& out) {
    const GGMLType type = matvec_qtype(qtype);
    const void* W = check_weights(w, type, rows, cols);
    array_arg<float>(x, "x");
    if (x.ndim() != 1 && x.ndim() != 2) throw ValueError("x must be 1-D (cols,) or 2-D (n, cols)");
    const int64_t n = x.ndim() == 1 ? 1 : x.shape(0);
    const int64_t xc = x.shape(x.ndim() - 1);
    if (xc != cols) throw ValueError("x has " + std::to_string(xc) + " values per vector but W has " + std::to_string(cols) + " columns");

    py::array_t<float> y;
    if (out.is_none()) {
        y = x.ndim() == 1 ? py::array_t<float>({rows}) : py::array_t<float>({n, rows});
    } else {
        py::array o = array_arg<float>(out, "out");
        if (!o.writeable()) throw ValueError("out must be writeable");
        const bool ok = x.ndim() == 1 ? (o.ndim() == 1 && o.shape(0) == rows)
                                      : (o.ndim() == 2 && o.shape(0) == n && o.shape(1) == rows);
        if (!ok)
            throw ValueError("out must have shape " + (x.ndim() == 1 ? "(" + std::to_string(rows) + ",)"
                                                                     : "(" + std::to_string(n) + ", " + std::to_string(rows) + ")"));
        y = py::reinterpret_borrow<py::array_t<float>>(o);
        if (overlaps(y.data(), y.nbytes(), x.data(), x.nbytes()) || overlaps(y.data(), y.nbytes(), W, w.nbytes()))
            throw ValueError("out must not share memory with x or w");
    }
    const float* xp = static_cast<const float*>(x.data());
    float* yp = y.mutable_data();
    {
        py::gil_scoped_release nogil;
        // Several vectors: the batched product (each weight row read once for all of them; bitwise the same
        // result as one matvec per vector).
        if (x.ndim() == 1)
            matvec(type, W, rows, cols, xp, yp);
        else
            matmul(type, W, rows, cols, xp, n, yp);
    }
    return y;
}

}  // namespace

void bind_kernels(py::module_& m) {
    m.def("matvec", &matvec_py, py::arg("w"), py::arg("qtype"), py::arg("rows"), py::arg("cols"), py::arg("x"),
          py::arg("out") = py::none(),
          "y = W x for a row-major GGUF tensor W of `qtype` and shape (rows, cols) given as its raw bytes; x float32 "
          "(cols,) -> (rows,), or (n, cols) -> (n, rows). x is quantised once to 8 bits for the quantised types "
          "(see cpp/kernels/matvec.h for the error this brings).");
    m.def("quantize_act", [](const py::array_t<float, py::array::c_style | py::array::forcecast>& x, const py::handle& qtype) {
        const GGMLType type = matvec_qtype(qtype);
        if (x.ndim() != 1) throw ValueError("x must be 1-D");
        const int64_t n = x.shape(0);
        const size_t nb = act_bytes(type, n);
        py::array_t<uint8_t> out({static_cast<py::ssize_t>(nb)});
        const float* xp = x.data();
        uint8_t* op = out.mutable_data();
        {
            py::gil_scoped_release nogil;
            quantize_act(type, xp, n, op);
        }
        return out;
    }, py::arg("x"), py::arg("qtype"),
          "x quantised to the activation format `qtype`'s dot product uses (Q8_0 / Q8_1 / Q8_K blocks, or float32 "
          "bytes for F32/F16/BF16), as raw bytes.");
    m.def("act_format", [](const py::handle& qtype) { return act_format_name(act_format(matvec_qtype(qtype))); },
          py::arg("qtype"), "The activation format the dot product of `qtype` weights takes: F32, Q8_0, Q8_1 or Q8_K.");
    m.def("dense_prefetch", &dense_prefetch,
          "The dense kernels' software prefetch distance in bytes (0 = off; default 4096, or PYSPARSE_DENSE_PREFETCH).");
    m.def("set_dense_prefetch", [](int64_t bytes) {
        if (bytes < 0 || bytes > (int64_t{1} << 20))
            throw ValueError("set_dense_prefetch: bytes must be in [0, 1048576], got " + std::to_string(bytes));
        set_dense_prefetch(static_cast<size_t>(bytes));
    }, py::arg("bytes"), "Set the dense kernels' prefetch distance (0 = off); only while no matvec runs.");
}

}  // namespace pysparse::python
