#include "quant/types.h"

#include <cctype>

#include "common/error.h"
#include "quant/blocks.h"

namespace pysparse {

// The table's block geometry against the block structs the decoders and kernels cast to.
static_assert(type_traits(GGMLType::Q4_0).type_size == sizeof(block_q4_0) && QK4_0 == 32);
static_assert(type_traits(GGMLType::Q4_1).type_size == sizeof(block_q4_1) && QK4_1 == 32);
static_assert(type_traits(GGMLType::Q5_0).type_size == sizeof(block_q5_0) && QK5_0 == 32);
static_assert(type_traits(GGMLType::Q5_1).type_size == sizeof(block_q5_1) && QK5_1 == 32);
static_assert(type_traits(GGMLType::Q8_0).type_size == sizeof(block_q8_0) && QK8_0 == 32);
static_assert(type_traits(GGMLType::Q8_1).type_size == sizeof(block_q8_1) && QK8_1 == 32);
static_assert(type_traits(GGMLType::Q4_K).type_size == sizeof(block_q4_K) && QK_K == 256);
static_assert(type_traits(GGMLType::Q5_K).type_size == sizeof(block_q5_K));
static_assert(type_traits(GGMLType::Q6_K).type_size == sizeof(block_q6_K));
static_assert(type_traits(GGMLType::Q8_K).type_size == sizeof(block_q8_K));

size_t row_bytes(GGMLType t, int64_t n) {
    TypeTraits tt = type_traits(t);
    if (tt.block_size == 0) throw ValueError("unknown GGML type id " + std::to_string(static_cast<uint32_t>(t)));
    if (n < 0 || n % tt.block_size != 0)
        throw ValueError(std::string("row length ") + std::to_string(n) + " is not a multiple of " + tt.name +
                         "'s block size " + std::to_string(tt.block_size));
    return static_cast<size_t>(n / tt.block_size) * tt.type_size;
}

GGMLType type_from_name(const std::string& name) {
    // Any case: "q4_k" is Q4_K (no two GGML names differ only in case).
    auto same = [&](const char* t) {
        size_t i = 0;
        for (; t[i] && i < name.size(); ++i)
            if (std::toupper((unsigned char)name[i]) != t[i]) return false;
        return !t[i] && i == name.size();
    };
    for (const TypeTraits& tt : kTypeTable)
        if (same(tt.name)) return tt.id;
    throw ValueError("unknown GGML type '" + name + "'");
}

}  // namespace pysparse
