#include <pybind11/pybind11.h>

#include "common/error.h"
#include "python/bindings.h"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
    m.doc() = "pysparse engine: GGUF reader, quantisation formats, dense and activation-sparse CPU kernels";

    // Engine errors become Python exceptions that say what is wrong (see common/error.h).
    static py::exception<pysparse::Error> error(m, "PysparseError", PyExc_RuntimeError);
    static py::exception<pysparse::FormatError> gguf_error(m, "GGUFError", PyExc_ValueError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const pysparse::FormatError& e) {
            py::set_error(gguf_error, e.what());
        } catch (const pysparse::ValueError& e) {
            py::set_error(PyExc_ValueError, e.what());
        } catch (const pysparse::Error& e) {
            py::set_error(error, e.what());
        }
    });

    pysparse::python::bind_common(m);
    pysparse::python::bind_gguf(m);
    pysparse::python::bind_quant(m);
    pysparse::python::bind_kernels(m);
    pysparse::python::bind_select(m);
    pysparse::python::bind_sparse(m);
    pysparse::python::bind_model(m);
}
