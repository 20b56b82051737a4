// Selection (cpp/sparse/select.h) for Python: float32 numpy in, int32 indices out (CSR for batches).
// pysparse/engine/select.py wraps these with the user-facing names and the numpy reference of each rule.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "python/args.h"
#include "python/bindings.h"
#include "sparse/select.h"

namespace py = pybind11;

namespace pysparse::python {

namespace {

SelectRule make_rule(const std::string& rule, double param, double power) {
    SelectRule r;
    r.kind = select_rule_from_name(rule.c_str());
    r.param = param;
    r.power = power;
    check_select_rule(r);
    if (r.kind != SelectRule::topp && power != 1.0) throw ValueError("power applies to the topp rule only");
    return r;
}

py::array_t<int32_t> to_numpy(const int32_t* p, int64_t n) {
    py::array_t<int32_t> out(n);
    if (n) std::memcpy(out.mutable_data(), p, n * sizeof(int32_t));
    return out;
}

const char* kNonFiniteMsg = "contains NaN or Inf (or a score |v|^power overflows float32); selection is undefined";

}  // namespace

void bind_select(py::module_& m) {
    m.def(
        "select",
        [](const std::string& rule, const py::handle& v_obj, double param, double power) {
            SelectRule r = make_rule(rule, param, power);
            py::array_t<float> v = array_arg<float>(v_obj, "v", 1);
            const int64_t d = v.shape(0);
            std::vector<int32_t> idx(d);
            const float* vp = v.data();
            int64_t n;
            {
                py::gil_scoped_release nogil;
                n = select_row(r, vp, d, idx.data());
            }
            if (n < 0) throw ValueError(std::string("v ") + kNonFiniteMsg);
            return to_numpy(idx.data(), n);
        },
        py::arg("rule"), py::arg("v"), py::arg("param"), py::arg("power") = 1.0,
        "Active indices (ascending int32) of float32 vector v under rule 'topp' (param p), 'topk' (keep fraction),\n"
        "'maxp' (p) or 'threshold' (t). See cpp/sparse/select.h for the exact definitions.");

    m.def(
        "select_rows",
        [](const std::string& rule, const py::handle& V_obj, double param, double power) {
            SelectRule r = make_rule(rule, param, power);
            py::array_t<float> V = array_arg<float>(V_obj, "V", 2);
            const int64_t n = V.shape(0), d = V.shape(1);
            py::array_t<int64_t> off(n + 1);
            // Worst-case scratch (n * d), uninitialised: only the pages the results touch are ever faulted in.
            std::unique_ptr<int32_t[]> buf(new int32_t[std::max<int64_t>(n * d, 1)]);
            const float* Vp = V.data();
            int64_t* offp = off.mutable_data();
            int64_t bad;
            {
                py::gil_scoped_release nogil;
                bad = select_rows(r, Vp, n, d, offp, buf.get());
            }
            if (bad >= 0) throw ValueError("V row " + std::to_string(bad) + " " + kNonFiniteMsg);
            return py::make_tuple(off, to_numpy(buf.get(), off.data()[n]));
        },
        py::arg("rule"), py::arg("V"), py::arg("param"), py::arg("power") = 1.0,
        "Rows of float32 matrix V[n, d] selected independently (multi-threaded by rows); returns CSR\n"
        "(offsets int64[n + 1], indices int32[nnz]).");

    m.def(
        "topp_select_sorted",
        [](const py::handle& v_obj, double p, double power) {
            py::array_t<float> v = array_arg<float>(v_obj, "v", 1);
            const int64_t d = v.shape(0);
            std::vector<int32_t> idx(d);
            const float* vp = v.data();
            int64_t n;
            {
                py::gil_scoped_release nogil;
                n = topp_select_sorted(vp, d, p, power, idx.data());
            }
            if (n < 0) throw ValueError(std::string("v ") + kNonFiniteMsg);
            return to_numpy(idx.data(), n);
        },
        py::arg("v"), py::arg("p"), py::arg("power") = 1.0,
        "Top-p by the literal definition (full std::sort + float64 running sum): the baseline topp is checked and\n"
        "timed against.");

    m.def(
        "topp_threshold",
        [](const py::handle& v_obj, double p, double power) {
            py::array_t<float> v = array_arg<float>(v_obj, "v", 1);
            const int64_t d = v.shape(0);
            std::vector<int32_t> idx(d);
            float t = 0.0f;
            const float* vp = v.data();
            int64_t n;
            {
                py::gil_scoped_release nogil;
                n = topp_select(vp, d, p, power, idx.data(), &t);
            }
            if (n < 0) throw ValueError(std::string("v ") + kNonFiniteMsg);
            return t;
        },
        py::arg("v"), py::arg("p"), py::arg("power") = 1.0,
        "The top-p threshold score t (entries with |v|^power >= t are kept); 0 for p = 1 or d = 0.");

    m.def("topp_fallback_count", [] { return topp_fallback_count(); },
          "Top-p calls so far whose bucketed pass could not prove the threshold and used the full sort.");

    m.def("topk_count", [](int64_t d, double f) { return topk_count(d, f); }, py::arg("d"), py::arg("keep_fraction"),
          "Entries top-k keeps of d: ceil(keep_fraction * d - 1e-9) clamped to [0, d].");
}

}  // namespace pysparse::python
