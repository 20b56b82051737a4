#include "python/args.h"

#include <string>

#include "common/error.h"

namespace py = pybind11;

namespace pysparse::python {

GGMLType qtype_arg(const py::handle& q) {
    if (py::isinstance<py::str>(q)) return type_from_name(q.cast<std::string>());
    if (!py::isinstance<py::bool_>(q) && (py::isinstance<py::int_>(q) || py::hasattr(q, "__index__"))) {
        const py::int_ v(py::reinterpret_borrow<py::object>(q));
        long long id = -1;
        try {
            id = v.cast<long long>();
        } catch (const py::cast_error&) {  // beyond 64 bits: unknown like any other
        }
        if (id < 0 || id > 0xffffffffLL || type_traits(static_cast<uint32_t>(id)).block_size == 0)
            throw ValueError("qtype: unknown GGML type id " + std::string(py::str(v)));
        return static_cast<GGMLType>(static_cast<uint32_t>(id));
    }
    throw ValueError("qtype must be a GGML type name (e.g. 'Q4_K') or a GGML type id, got " +
                     std::string(py::str(py::type::of(q))));
}

py::array array_arg(const py::handle& obj, const char* name, int ndim) {
    if (!py::isinstance<py::array>(obj))
        throw ValueError(std::string(name) + " must be a numpy array, got " + std::string(py::str(py::type::of(obj))));
    py::array a = py::reinterpret_borrow<py::array>(obj);
    if (ndim >= 0 && a.ndim() != ndim)
        throw ValueError(std::string(name) + " must be " + std::to_string(ndim) + "-D, got " + std::to_string(a.ndim()) +
                         "-D (shape " + shape_str(a) + ")");
    if (!(a.flags() & py::array::c_style))
        throw ValueError(std::string(name) + " must be C-contiguous (use np.ascontiguousarray)");
    return a;
}

template <class T>
py::array_t<T> array_arg(const py::handle& obj, const char* name, int ndim) {
    if (py::isinstance<py::array>(obj) && !py::isinstance<py::array_t<T>>(obj)) {
        const py::dtype want = py::dtype::of<T>();
        throw ValueError(std::string(name) + " must be a " + std::string(py::str(want)) + " array, got dtype " +
                         std::string(py::str(py::reinterpret_borrow<py::array>(obj).dtype())));
    }
    return py::reinterpret_borrow<py::array_t<T>>(array_arg(obj, name, ndim));
}

template py::array_t<float> array_arg<float>(const py::handle&, const char*, int);
template py::array_t<int32_t> array_arg<int32_t>(const py::handle&, const char*, int);
template py::array_t<uint8_t> array_arg<uint8_t>(const py::handle&, const char*, int);

std::string shape_str(const py::array& a) {
    std::string out = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) out += (i ? ", " : "") + std::to_string(a.shape(i));
    return out + (a.ndim() == 1 ? ",)" : ")");
}

}  // namespace pysparse::python
