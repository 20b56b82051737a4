// Numeric knobs read from the environment (PYSPARSE_DENSE_PREFETCH, PYSPARSE_SPARSE_L2_LINES, ...: benchmarks and
// A/B runs set them; the defaults are what was measured best).
#pragma once
#include <cstdint>
#include <cstdlib>

namespace pysparse {

// The integer value of environment variable `name`, or dflt where it is unset or empty.
inline int64_t env_int(const char* name, int64_t dflt) {
    const char* e = std::getenv(name);
    return e && *e ? static_cast<int64_t>(std::strtoll(e, nullptr, 10)) : dflt;
}

}  // namespace pysparse
