#include <pybind11/stl.h>

#include <map>

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
    m.def("cpu_features", [] {
        std::map<std::string, bool> out;
        for (CpuFeature f : {CpuFeature::avx512_vnni, CpuFeature::avx_vnni, CpuFeature::dotprod})
            if (cpu_has_feature(f)) out[feature_name(f)] = feature_enabled(f);
        return out;
    }, "The optional CPU features this CPU and build have (avx512_vnni, avx_vnni; aarch64: dotprod), each "
       "mapped to whether the "
       "kernels use it now.");
    m.def("set_feature_enabled", [](const std::string& name, bool on) { set_feature_enabled(feature_from_name(name), on); },
          py::arg("name"), py::arg("on"),
          "Switch an optional CPU feature off (tests: the fallback) or back on; ValueError if the CPU lacks it.");
    m.def("num_threads", [] { return ThreadPool::global().num_threads(); }, "Threads the kernels use.");
    m.def("set_num_threads", [](int n) { ThreadPool::global().set_num_threads(n); }, py::arg("n"),
          "Set the number of threads the kernels use (the calling thread included).");
}

}  // namespace pysparse::python
