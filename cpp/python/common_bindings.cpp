#include <pybind11/stl.h>

#include "common/cpu.h"
#include "common/thread_pool.h"
#include "python/bindings.h"

namespace py = pybind11;

namespace pysparse::python {

void bind_common(py::module_& m) {
    m.def("active_isa", [] { return std::string(isa_name(active_isa())); },
          "The ISA path the kernels use now: generic, avx2, avx512 or neon.");
    m.def("best_isa", [] { return std::string(isa_name(best_isa())); }, "The fastest path this CPU supports.");
    m.def("supported_isas", [] {
        std::vector<std::string> out;
        for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512, Isa::neon})
            if (cpu_supports(isa)) out.emplace_back(isa_name(isa));
        return out;
    }, "Every ISA path this CPU and build can run.");
    m.def("set_isa", [](const std::string& name) { set_isa(isa_from_name(name)); }, py::arg("name"),
          "Force an ISA path (generic, avx2, avx512, neon); ValueError if this CPU cannot run it.");
    m.def("num_threads", [] { return ThreadPool::global().num_threads(); }, "Threads the kernels use.");
    m.def("set_num_threads", [](int n) { ThreadPool::global().set_num_threads(n); }, py::arg("n"),
          "Set the number of threads the kernels use (the calling thread included).");
}

}  // namespace pysparse::python
