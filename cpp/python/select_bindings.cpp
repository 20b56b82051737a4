#include "python/bindings.h"

namespace py = pybind11;

namespace pysparse::python {

void bind_select(py::module_& m) {}

}  // namespace pysparse::python
