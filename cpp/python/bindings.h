// pysparse._core is split into one binding file per engine concern; module.cpp calls each.
// Conventions for every binding: numpy in and out, arguments checked here (dtype, contiguity, shape) with a
// ValueError that names the argument, through the shared helpers of args.h (qtype_arg, array_arg), and the GIL
// released around C++ work (py::gil_scoped_release).
#pragma once
#include <pybind11/pybind11.h>

namespace pysparse::python {
void bind_common(pybind11::module_& m);   // ISA selection, thread count (common_bindings.cpp)
void bind_gguf(pybind11::module_& m);     // GGUF reader (gguf_bindings.cpp)
void bind_quant(pybind11::module_& m);    // block formats: dequantize / quantize (quant_bindings.cpp)
void bind_kernels(pybind11::module_& m);  // dense matvec (kernels_bindings.cpp)
void bind_select(pybind11::module_& m);   // top-p / top-k / max-p / threshold selection (select_bindings.cpp)
void bind_sparse(pybind11::module_& m);   // input-major repacking, sparse matvecs (sparse_bindings.cpp)
void bind_model(pybind11::module_& m);    // the model runtime (model_bindings.cpp)
}  // namespace pysparse::python
