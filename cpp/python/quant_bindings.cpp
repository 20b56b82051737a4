// pysparse._core: block formats (dequantize / quantize, type table). Shapes follow gguf-py's conventions so the
// results compare directly with gguf.quants: bytes (..., row_bytes) <-> floats (..., n), rows along the last axis.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "kernels/bandwidth.h"
#include "python/args.h"
#include "python/bindings.h"
#include "quant/dequantize.h"
#include "quant/quantize.h"
#include "quant/types.h"

namespace py = pybind11;

namespace pysparse::python {

namespace {

int64_t checked_product(const std::vector<int64_t>& shape, const char* what) {
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0) throw ValueError(std::string(what) + " has a negative dimension");
        if (__builtin_mul_overflow(n, d, &n)) throw ValueError(std::string(what) + ": element count overflows");
    }
    return n;
}

std::string shape_str(const std::vector<int64_t>& s) {
    std::string out = "(";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + (s.size() == 1 ? ",)" : ")");
}

py::array_t<float> dequantize_py(const py::array& data, const py::handle& qtype, const std::vector<int64_t>& shape) {
    const GGMLType t = qtype_arg(qtype);
    const TypeTraits tt = type_traits(t);
    if (!can_dequantize(t))
        throw ValueError(std::string("cannot dequantize GGML type ") + tt.name + ": supported are " +
                         type_names([](const TypeTraits& u) { return can_dequantize(u.id); }));
    if (!data.dtype().is(py::dtype::of<uint8_t>()) && !data.dtype().is(py::dtype::of<int8_t>()))
        throw ValueError("data must be a uint8 array of raw block bytes, got dtype " + std::string(py::str(data.dtype())));
    array_arg(data, "data");
    if (shape.empty()) throw ValueError("shape must have at least one dimension");
    const int64_t n_el = checked_product(shape, "shape");
    const int64_t n_per_row = shape.back();
    if (n_per_row % tt.block_size != 0)
        throw ValueError("shape " + shape_str(shape) + ": last dimension " + std::to_string(n_per_row) +
                         " is not a multiple of " + tt.name + "'s block size " + std::to_string(tt.block_size));
    const int64_t nrows = n_per_row ? n_el / n_per_row : 0;
    const size_t rb = row_bytes(t, n_per_row);
    unsigned __int128 need = (unsigned __int128)rb * (uint64_t)nrows;
    if (need != (unsigned __int128)data.nbytes())
        throw ValueError("data has " + std::to_string(data.nbytes()) + " bytes but shape " + shape_str(shape) + " of " +
                         tt.name + " needs " + std::to_string((unsigned long long)need));
    py::array_t<float> out(std::vector<py::ssize_t>(shape.begin(), shape.end()));
    const void* src = data.data();
    float* dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        if (n_el) dequantize_rows(t, src, dst, nrows, n_per_row);
    }
    return out;
}

py::array_t<uint8_t> quantize_py(const py::array& x, const py::handle& qtype) {
    const GGMLType t = qtype_arg(qtype);
    const TypeTraits tt = type_traits(t);
    if (!can_quantize(t))
        throw ValueError(std::string("cannot quantize to GGML type ") + tt.name + ": supported are " +
                         type_names([](const TypeTraits& u) { return can_quantize(u.id); }));
    if (!x.dtype().is(py::dtype::of<float>()))
        throw ValueError("x must be a float32 array, got dtype " + std::string(py::str(x.dtype())) +
                         " (convert with x.astype(np.float32))");
    array_arg(x, "x");
    if (x.ndim() < 1) throw ValueError("x must have at least one dimension");
    std::vector<int64_t> shape(x.shape(), x.shape() + x.ndim());
    const int64_t n_per_row = shape.back();
    if (n_per_row % tt.block_size != 0)
        throw ValueError("x's last dimension " + std::to_string(n_per_row) + " is not a multiple of " + tt.name +
                         "'s block size " + std::to_string(tt.block_size));
    const int64_t n_el = x.size();
    const int64_t nrows = n_per_row ? n_el / n_per_row : 0;
    std::vector<py::ssize_t> oshape(shape.begin(), shape.end());
    oshape.back() = static_cast<py::ssize_t>(row_bytes(t, n_per_row));
    py::array_t<uint8_t> out(oshape);
    const float* src = static_cast<const float*>(x.data());
    void* dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        if (n_el) quantize_rows(t, src, dst, nrows, n_per_row);
    }
    return out;
}

py::dict quant_type_py(const py::handle& qtype) {
    const GGMLType t = qtype_arg(qtype);
    const TypeTraits tt = type_traits(t);
    py::dict d;
    d["name"] = tt.name;
    d["id"] = static_cast<uint32_t>(t);
    d["block_size"] = tt.block_size;
    d["type_size"] = tt.type_size;
    d["can_dequantize"] = can_dequantize(t);
    d["can_quantize"] = can_quantize(t);
    return d;
}

// Every row of the type table (quant/types.h), in table order, with the engine's other facts about it: the
// Python side's type lists come from here.
py::list quant_types_py() {
    py::list out;
    for (const TypeTraits& tt : kTypeTable) {
        py::dict d = quant_type_py(py::int_(static_cast<uint32_t>(tt.id)));
        d["supported"] = tt.supported;
        d["k_quant"] = tt.supported && tt.k_quant;
        d["sparse"] = tt.supported && tt.sparse;
        d["act_format"] = tt.supported ? py::object(py::str(act_format_name(tt.act))) : py::object(py::none());
        d["bits"] = tt.bits;
        d["has_min"] = tt.has_min;
        out.append(d);
    }
    return out;
}

}  // namespace

void bind_quant(py::module_& m) {
    m.def("dequantize", &dequantize_py, py::arg("data"), py::arg("qtype"), py::arg("shape"),
          "Decode raw GGUF block bytes (uint8, C-contiguous, any shape with the right byte count) of type qtype\n"
          "(name or id) to a float32 array of `shape` (numpy order, last dim a multiple of the block size).\n"
          "Bit for bit equal to gguf.quants.dequantize.");
    m.def("quantize", &quantize_py, py::arg("x"), py::arg("qtype"),
          "Encode a C-contiguous float32 array (..., n) to block bytes, uint8 (..., row_bytes); bit for bit equal to\n"
          "gguf.quants.quantize (viewed as uint8). Types: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0, and Q4_K Q5_K Q6_K\n"
          "(llama.cpp's reference encoders; gguf-py has no K-quant encoder).");
    m.def("quant_type", &quant_type_py, py::arg("qtype"),
          "Block geometry of a GGML type: {name, id, block_size, type_size, can_dequantize, can_quantize}.");
    m.def("quant_types", &quant_types_py,
          "Every GGML type the engine knows, in the order of its table (quant/types.h): quant_type()'s keys plus\n"
          "supported, k_quant, sparse, act_format (None if unsupported), bits, has_min.");

    // The benchmarks' read-bandwidth probe (kernels/bandwidth.h). It is bound here because module.cpp calls a fixed
    // set of bind_* functions and the benchmark infrastructure has no binding file of its own.
    m.def("measure_read_bandwidth", [](size_t bytes, int threads, int reps) {
              py::gil_scoped_release release;
              return measure_read_bandwidth(bytes, threads, reps);
          }, py::arg("bytes"), py::arg("threads") = 1, py::arg("reps") = 5,
          "Read bandwidth in GB/s (1e9 B/s): median over `reps` passes summing a `bytes` buffer with wide loads on\n"
          "`threads` threads of the global pool (its size is restored afterwards).");
}

}  // namespace pysparse::python
