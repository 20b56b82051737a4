// pysparse._core.GGUFFile: the C++ GGUF reader for Python (wrapped by pysparse/engine/gguf.py).
// Metadata becomes Python values (numeric arrays as numpy arrays); tensor bytes are zero-copy read-only numpy views
// whose base (a capsule holding a shared_ptr to the file) keeps the mapping alive after the file object is gone.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cerrno>
#include <cstring>

#include "gguf/gguf_file.h"
#include "python/bindings.h"
#include "quant/types.h"

namespace py = pybind11;

namespace pysparse::python {

namespace {

py::object string_to_python(std::string_view s) {
    PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "strict");
    if (o) return py::reinterpret_steal<py::object>(o);
    PyErr_Clear();  // not valid UTF-8: hand back the bytes unchanged rather than guess
    return py::bytes(s.data(), s.size());
}

template <typename T>
py::array copy_scalars(const GGUFArray& a) {
    py::array_t<T> out(static_cast<py::ssize_t>(a.count));
    if (a.count) std::memcpy(out.mutable_data(), a.raw, a.count * sizeof(T));
    return out;
}

py::object value_to_python(const GGUFValue& v) {
    switch (v.type) {
        case GGUFValueType::UINT8: case GGUFValueType::UINT16: case GGUFValueType::UINT32: case GGUFValueType::UINT64:
            return py::int_(std::get<uint64_t>(v.v));
        case GGUFValueType::INT8: case GGUFValueType::INT16: case GGUFValueType::INT32: case GGUFValueType::INT64:
            return py::int_(std::get<int64_t>(v.v));
        case GGUFValueType::FLOAT32: case GGUFValueType::FLOAT64: return py::float_(std::get<double>(v.v));
        case GGUFValueType::BOOL: return py::bool_(std::get<bool>(v.v));
        case GGUFValueType::STRING: return string_to_python(std::get<std::string_view>(v.v));
        case GGUFValueType::ARRAY: break;
    }
    const GGUFArray& a = v.array();
    switch (a.elem_type) {
        case GGUFValueType::UINT8: return copy_scalars<uint8_t>(a);
        case GGUFValueType::INT8: return copy_scalars<int8_t>(a);
        case GGUFValueType::UINT16: return copy_scalars<uint16_t>(a);
        case GGUFValueType::INT16: return copy_scalars<int16_t>(a);
        case GGUFValueType::UINT32: return copy_scalars<uint32_t>(a);
        case GGUFValueType::INT32: return copy_scalars<int32_t>(a);
        case GGUFValueType::UINT64: return copy_scalars<uint64_t>(a);
        case GGUFValueType::INT64: return copy_scalars<int64_t>(a);
        case GGUFValueType::FLOAT32: return copy_scalars<float>(a);
        case GGUFValueType::FLOAT64: return copy_scalars<double>(a);
        case GGUFValueType::BOOL: return copy_scalars<bool>(a);  // bytes validated as 0/1 by the parser
        case GGUFValueType::STRING: {
            py::list out(a.strings.size());  // tokenizer vocabularies: 50k-150k strings, so skip the accessor layer
            for (size_t i = 0; i < a.strings.size(); ++i)
                PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i), string_to_python(a.strings[i]).release().ptr());
            return out;
        }
        case GGUFValueType::ARRAY: {
            py::list out(a.arrays.size());
            for (size_t i = 0; i < a.arrays.size(); ++i) out[i] = value_to_python(a.arrays[i]);
            return out;
        }
    }
    return py::none();
}

const GGUFValue& value_or_key_error(const GGUFFile& f, const std::string& key) {
    const GGUFValue* v = f.find(key);
    if (!v) throw py::key_error(key);
    return *v;
}

const GGUFTensorInfo& tensor_or_key_error(const GGUFFile& f, const std::string& name) {
    const GGUFTensorInfo* t = f.find_tensor(name);
    if (!t) throw py::key_error(name);
    return *t;
}

// A read-only uint8 view of the tensor's bytes; the capsule owns a reference to the file (and so the mapping).
py::array tensor_bytes(const std::shared_ptr<GGUFFile>& f, const std::string& name) {
    const GGUFTensorInfo& t = tensor_or_key_error(*f, name);
    const uint8_t* p = f->tensor_data(t);
    uint64_t n = f->tensor_nbytes(t);
    auto* owner = new std::shared_ptr<GGUFFile>(f);
    py::capsule base(owner, [](void* o) { delete static_cast<std::shared_ptr<GGUFFile>*>(o); });
    py::array out(py::dtype::of<uint8_t>(), {static_cast<py::ssize_t>(n)}, {py::ssize_t{1}}, p, base);
    py::detail::array_proxy(out.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;  // mapping is PROT_READ
    return out;
}

py::tuple tensor_info_tuple(const GGUFFile& f, const GGUFTensorInfo& t) {
    py::tuple ne(t.n_dims);
    for (uint32_t d = 0; d < t.n_dims; ++d) ne[d] = py::int_(t.ne[d]);
    py::object nbytes = py::none(), type_name = py::none(), error = py::none();
    if (t.type_known) {
        nbytes = py::int_(t.nbytes);
        type_name = py::str(type_traits(t.type_id).name);
    } else {
        try {
            f.tensor_nbytes(t);
        } catch (const FormatError& e) {
            error = py::str(e.what());
        }
    }
    return py::make_tuple(string_to_python(t.name), t.type_id, type_name, ne, t.abs_offset, t.offset, nbytes,
                          t.n_elements, t.info_offset, error);
}

}  // namespace

void bind_gguf(py::module_& m) {
    // FileOpenError -> OSError(errno, message, filename), which Python turns into FileNotFoundError etc.
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const FileOpenError& e) {
            PyObject* args = Py_BuildValue("(iss)", e.errno_value, std::strerror(e.errno_value), e.path.c_str());
            if (args) {
                PyErr_SetObject(PyExc_OSError, args);
                Py_DECREF(args);
            }
        }
    });

    py::class_<GGUFFile, std::shared_ptr<GGUFFile>>(m, "GGUFFile", R"doc(
A GGUF v2/v3 file, mmap'd read-only and parsed (header, metadata, tensor table; tensor data is never read).
Use pysparse.engine.GGUFFile, which wraps this with a friendlier API.)doc")
        .def(py::init([](const std::string& path) {
                 py::gil_scoped_release nogil;
                 return std::make_shared<GGUFFile>(path);
             }),
             py::arg("path"))
        .def_static("from_bytes", [](py::bytes data, const std::string& source) {
                std::string_view s = data;
                std::vector<uint8_t> copy(s.begin(), s.end());
                py::gil_scoped_release nogil;
                return GGUFFile::from_bytes(std::move(copy), source);
            },
            py::arg("data"), py::arg("source") = "<bytes>", "Parse a GGUF file held in memory (copied).")
        .def_property_readonly("source", &GGUFFile::source)
        .def_property_readonly("version", &GGUFFile::version)
        .def_property_readonly("file_size", &GGUFFile::file_size)
        .def_property_readonly("alignment", &GGUFFile::alignment)
        .def_property_readonly("data_offset", &GGUFFile::data_offset)
        .def_property_readonly("n_tensors", [](const GGUFFile& f) { return f.tensors().size(); })
        .def("metadata_keys", [](const GGUFFile& f) {
            py::list out;
            for (const auto& kv : f.metadata()) out.append(string_to_python(kv.key));
            return out;
        })
        .def("metadata", [](const GGUFFile& f) {
            py::dict out;
            for (const auto& kv : f.metadata()) out[string_to_python(kv.key)] = value_to_python(kv.value);
            return out;
        }, "All metadata as a dict in file order (numeric arrays as numpy arrays, strings as str).")
        .def("metadata_value", [](const GGUFFile& f, const std::string& key) {
            return value_to_python(value_or_key_error(f, key));
        }, py::arg("key"))
        .def("metadata_type", [](const GGUFFile& f, const std::string& key) {
            return value_or_key_error(f, key).type_name();
        }, py::arg("key"), "The stored type: 'uint32', 'string', 'array[string]', 'array[array[int32]]', ...")
        .def("metadata_types", [](const GGUFFile& f) {
            py::dict out;
            for (const auto& kv : f.metadata()) out[string_to_python(kv.key)] = kv.value.type_name();
            return out;
        })
        .def("array_length", [](const GGUFFile& f, const std::string& key) {
            const GGUFValue& v = value_or_key_error(f, key);
            if (!v.is_array()) throw ValueError("metadata key '" + key + "' is not an array");
            return v.array().count;
        }, py::arg("key"), "Length of an array value without converting it.")
        .def("get_string", py::overload_cast<std::string_view>(&GGUFFile::get_string, py::const_), py::arg("key"))
        .def("get_int", py::overload_cast<std::string_view>(&GGUFFile::get_int, py::const_), py::arg("key"))
        .def("get_float", py::overload_cast<std::string_view>(&GGUFFile::get_float, py::const_), py::arg("key"))
        .def("architecture", &GGUFFile::architecture)
        .def("tensor_infos", [](const GGUFFile& f) {
            py::list out;
            for (const auto& t : f.tensors()) out.append(tensor_info_tuple(f, t));
            return out;
        }, "One tuple per tensor: (name, type_id, type_name|None, ne, abs_offset, rel_offset, nbytes|None, "
           "n_elements, info_offset, error|None)")
        .def("tensor_bytes", &tensor_bytes, py::arg("name"),
             "Zero-copy read-only uint8 view of the tensor's raw bytes; keeps the mapping alive.");
}

}  // namespace pysparse::python
