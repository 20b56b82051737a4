// Bindings for cpp/sparse: the input-major SparseMatrix (repack, decode, sparse matvec), the fused gate+up form
// and the row-skip matvec. Every argument is checked here (dtype, contiguity, shape); the index lists are checked
// by the engine (range, strictly ascending) with a ValueError; C++ work runs with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <string>

#include "common/error.h"
#include "python/args.h"
#include "python/bindings.h"
#include "sparse/sparse_matrix.h"

namespace py = pybind11;

namespace pysparse::python {

namespace {

// The raw bytes of a GGUF tensor (any C-contiguous array or bytes-like object) of `rows` rows of `cols` values.
py::buffer_info weight_bytes(const py::buffer& w, GGMLType type, int64_t rows, int64_t cols) {
    py::buffer_info info = w.request();
    if (rows <= 0 || cols <= 0) throw ValueError("shape must be positive");
    const size_t need = (size_t)rows * row_bytes(type, cols);
    bool contiguous = true;
    ssize_t expect = info.itemsize;
    for (ssize_t d = info.ndim - 1; d >= 0; --d) {
        if (info.shape[d] > 1 && info.strides[d] != expect) contiguous = false;
        expect *= info.shape[d];
    }
    if (!contiguous) throw ValueError("w must be C-contiguous");
    const size_t have = (size_t)info.size * info.itemsize;
    if (have != need)
        throw ValueError("w has " + std::to_string(have) + " bytes but a " + type_traits(type).name + " matrix of " +
                         std::to_string(rows) + " x " + std::to_string(cols) + " needs " + std::to_string(need));
    return info;
}

// A GGML type the sparse layouts take.
GGMLType sparse_qtype(const py::handle& q) {
    const GGMLType t = qtype_arg(q);
    if (!sparse_layout_supports(t))
        throw ValueError(std::string("qtype ") + type_traits(t).name + " is not supported (supported: " +
                         type_names([](const TypeTraits& u) { return u.sparse; }) + ")");
    return t;
}

void check_x(const py::array_t<float>& x, int64_t cols) {
    if (x.shape(0) != cols)
        throw ValueError("x has length " + std::to_string(x.shape(0)) + ", expected cols = " + std::to_string(cols));
}

}  // namespace

void bind_sparse(py::module_& m) {
    py::class_<SparseMatrix>(m, "SparseMatrix",
                             "A GGUF weight W[rows, cols] repacked input-major for activation-sparse matvecs "
                             "(see cpp/sparse/sparse_matrix.h).")
        .def_static(
            "repack",
            [](const py::buffer& w, const py::handle& qtype, int64_t rows, int64_t cols, const std::string& layout) {
                GGMLType t = sparse_qtype(qtype);
                py::buffer_info info = weight_bytes(w, t, rows, cols);
                if (layout != "lossless" && layout != "requant_q8_0")
                    throw ValueError("layout must be 'lossless' or 'requant_q8_0', got '" + layout + "'");
                py::gil_scoped_release nogil;
                return layout == "lossless" ? repack_input_major(t, info.ptr, rows, cols)
                                            : repack_requant_q8_0(t, info.ptr, rows, cols);
            },
            py::arg("w"), py::arg("qtype"), py::arg("rows"), py::arg("cols"), py::arg("layout") = "lossless",
            "Repack the row-major GGUF bytes w (rows x cols of qtype) into an input-major layout.")
        .def_property_readonly("rows", [](const SparseMatrix& s) { return s.rows; })
        .def_property_readonly("cols", [](const SparseMatrix& s) { return s.cols; })
        .def_property_readonly("qtype", [](const SparseMatrix& s) { return std::string(type_traits(s.type).name); })
        .def_property_readonly("layout", [](const SparseMatrix& s) {
            return std::string(s.layout == SparseLayout::lossless ? "lossless" : "requant_q8_0");
        })
        .def_property_readonly("tile", [](const SparseMatrix& s) { return s.tile; }, "rows per tile")
        .def_property_readonly("group", [](const SparseMatrix& s) { return s.group; }, "inputs per scale group")
        .def_property_readonly("nbytes", &SparseMatrix::nbytes, "bytes of the repacked matrix")
        .def_property_readonly("source_nbytes",
                               [](const SparseMatrix& s) { return (size_t)s.rows * row_bytes(s.type, s.cols); },
                               "bytes of the row-major GGUF source")
        .def("bytes_touched", &sparse_bytes_touched, py::arg("n_active"), py::arg("groups_touched"),
             "bytes the sparse matvec must read for n_active columns in groups_touched groups")
        .def("decode",
             [](const SparseMatrix& s) {
                 py::array_t<float> out({s.rows, s.cols});
                 float* p = out.mutable_data();
                 {
                     py::gil_scoped_release nogil;
                     decode(s, p);
                 }
                 return out;
             },
             "The stored values as float32 (rows, cols).")
        .def("matvec",
             [](const SparseMatrix& s, const py::array& x_, const py::array& idx_) {
                 auto x = array_arg<float>(x_, "x", 1);
                 auto idx = array_arg<int32_t>(idx_, "active_idx", 1);
                 check_x(x, s.cols);
                 py::array_t<float> y(s.rows);
                 const float* xp = x.data();
                 const int32_t* ip = idx.data();
                 const int64_t n = idx.shape(0);
                 float* yp = y.mutable_data();
                 {
                     py::gil_scoped_release nogil;
                     sparse_matvec(s, xp, ip, n, yp);
                 }
                 return y;
             },
             py::arg("x"), py::arg("active_idx"),
             "y = sum over j in active_idx of x[j] * W[:, j]; active_idx int32, strictly ascending, in [0, cols).");

    m.def("sparse_fused_gate_up",
          [](const SparseMatrix& gate, const SparseMatrix& up, const py::array& x_, const py::array& idx_) {
              auto x = array_arg<float>(x_, "x", 1);
              auto idx = array_arg<int32_t>(idx_, "active_idx", 1);
              check_x(x, gate.cols);
              py::array_t<float> yg(gate.rows), yu(up.rows);
              const float* xp = x.data();
              const int32_t* ip = idx.data();
              const int64_t n = idx.shape(0);
              float *gp = yg.mutable_data(), *up_ = yu.mutable_data();
              {
                  py::gil_scoped_release nogil;
                  fused_gate_up(gate, up, xp, ip, n, gp, up_);
              }
              return py::make_tuple(yg, yu);
          },
          py::arg("gate"), py::arg("up"), py::arg("x"), py::arg("active_idx"),
          "(W_gate x, W_up x) over x's active inputs, reading both matrices' active columns in one pass.");

    m.def("sparse_row_skip_matvec",
          [](const py::buffer& w, const py::handle& qtype, int64_t rows, int64_t cols, const py::array& x_,
             const py::array& rows_idx_) {
              GGMLType t = sparse_qtype(qtype);
              py::buffer_info info = weight_bytes(w, t, rows, cols);
              auto x = array_arg<float>(x_, "x", 1);
              auto ri = array_arg<int32_t>(rows_idx_, "rows_idx", 1);
              check_x(x, cols);
              py::array_t<float> y(rows);
              const float* xp = x.data();
              const int32_t* rp = ri.data();
              const int64_t n = ri.shape(0);
              float* yp = y.mutable_data();
              {
                  py::gil_scoped_release nogil;
                  row_skip_matvec(t, info.ptr, rows, cols, xp, rp, n, yp);
              }
              return y;
          },
          py::arg("w"), py::arg("qtype"), py::arg("rows"), py::arg("cols"), py::arg("x"), py::arg("rows_idx"),
          "y[r] = W[r, :] . x for r in rows_idx (int32, strictly ascending), 0 elsewhere; W row-major GGUF bytes.");
}

}  // namespace pysparse::python
