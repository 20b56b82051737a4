// Argument checks shared by every binding file: one parser for a GGML type argument and one check for numpy array
// arguments, so every function accepts the same spellings and says the same thing about a bad argument.
// Errors are ValueError naming the argument: pysparse's Python API raises ValueError for every bad argument value,
// dtype or layout (tests/test_*: bad_input cases).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "quant/types.h"

namespace pysparse::python {

// A GGML type given as its name in any case ("Q4_K", "q4_k"), an integer id (12), or an object with __index__ (an
// IntEnum such as gguf.GGMLQuantizationType.Q4_K, a numpy integer). bool is refused. Unknown names and ids are a
// ValueError; whether the type suits the call is the caller's check.
GGMLType qtype_arg(const pybind11::handle& q);

// `obj` as a numpy array: ValueError naming it unless it is one, C-contiguous and (ndim >= 0) of ndim dimensions.
pybind11::array array_arg(const pybind11::handle& obj, const char* name, int ndim = -1);

// The same, and of dtype exactly T (no conversion: the caller decides whether to convert).
template <class T>
pybind11::array_t<T> array_arg(const pybind11::handle& obj, const char* name, int ndim = -1);

// "(2, 3)": a shape for error messages.
std::string shape_str(const pybind11::array& a);

}  // namespace pysparse::python
