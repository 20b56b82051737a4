// Errors the engine raises. The Python module maps them to Python exceptions (see python/module.cpp):
//   Error        -> pysparse.PysparseError (a RuntimeError)
//   ValueError   -> ValueError      (bad arguments: shape, dtype, p outside [0, 1], unknown names)
//   FormatError  -> pysparse.GGUFError (a ValueError): a malformed, truncated or unsupported file
#pragma once
#include <stdexcept>
#include <string>

namespace pysparse {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct ValueError : Error {
    using Error::Error;
};
struct FormatError : Error {
    using Error::Error;
};

}  // namespace pysparse
