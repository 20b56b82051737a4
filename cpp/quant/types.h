// GGML tensor types: ids as stored in GGUF files, and the block geometry of each.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace pysparse {

enum class GGMLType : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
    I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
    TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39, NVFP4 = 40, Q1_0 = 41,
    COUNT = 42,
};

struct TypeTraits {
    const char* name;     // as gguf-py spells it: "Q4_K", "F16", ...
    int64_t block_size;   // elements per block (1 for plain types), 0 if the id is unknown
    size_t type_size;     // bytes per block
    bool supported;       // can the engine decode and compute with it
};

// Traits of any id found in a file; unknown ids get {"?", 0, 0, false}. Never throws.
TypeTraits type_traits(uint32_t type_id);
inline TypeTraits type_traits(GGMLType t) { return type_traits(static_cast<uint32_t>(t)); }

// Bytes of one row of n elements. Throws ValueError if n is not a multiple of the block size or the type is unknown.
size_t row_bytes(GGMLType t, int64_t n);

// The type named `name` (e.g. "Q4_K"); throws ValueError if unknown.
GGMLType type_from_name(const std::string& name);

}  // namespace pysparse
