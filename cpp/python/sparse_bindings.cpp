#include "python/bindings.h"

namespace py = pybind11;

namespace pysparse::python {

void bind_sparse(py::module_& m) {}

}  // namespace pysparse::python
