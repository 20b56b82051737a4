#include "python/bindings.h"

namespace py = pybind11;

namespace pysparse::python {

void bind_gguf(py::module_& m) {}

}  // namespace pysparse::python
