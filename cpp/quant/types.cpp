#include "quant/types.h"

#include "common/error.h"

namespace pysparse {

TypeTraits type_traits(uint32_t id) {
    switch (static_cast<GGMLType>(id)) {
        case GGMLType::F32: return {"F32", 1, 4, true};
        case GGMLType::F16: return {"F16", 1, 2, true};
        case GGMLType::BF16: return {"BF16", 1, 2, true};
        case GGMLType::Q4_0: return {"Q4_0", 32, 18, true};
        case GGMLType::Q4_1: return {"Q4_1", 32, 20, true};
        case GGMLType::Q5_0: return {"Q5_0", 32, 22, true};
        case GGMLType::Q5_1: return {"Q5_1", 32, 24, true};
        case GGMLType::Q8_0: return {"Q8_0", 32, 34, true};
        case GGMLType::Q8_1: return {"Q8_1", 32, 40, false};
        case GGMLType::Q2_K: return {"Q2_K", 256, 84, false};
        case GGMLType::Q3_K: return {"Q3_K", 256, 110, false};
        case GGMLType::Q4_K: return {"Q4_K", 256, 144, true};
        case GGMLType::Q5_K: return {"Q5_K", 256, 176, true};
        case GGMLType::Q6_K: return {"Q6_K", 256, 210, true};
        case GGMLType::Q8_K: return {"Q8_K", 256, 292, false};
        case GGMLType::IQ2_XXS: return {"IQ2_XXS", 256, 66, false};
        case GGMLType::IQ2_XS: return {"IQ2_XS", 256, 74, false};
        case GGMLType::IQ3_XXS: return {"IQ3_XXS", 256, 98, false};
        case GGMLType::IQ1_S: return {"IQ1_S", 256, 50, false};
        case GGMLType::IQ4_NL: return {"IQ4_NL", 32, 18, false};
        case GGMLType::IQ3_S: return {"IQ3_S", 256, 110, false};
        case GGMLType::IQ2_S: return {"IQ2_S", 256, 82, false};
        case GGMLType::IQ4_XS: return {"IQ4_XS", 256, 136, false};
        case GGMLType::I8: return {"I8", 1, 1, false};
        case GGMLType::I16: return {"I16", 1, 2, false};
        case GGMLType::I32: return {"I32", 1, 4, false};
        case GGMLType::I64: return {"I64", 1, 8, false};
        case GGMLType::F64: return {"F64", 1, 8, false};
        case GGMLType::IQ1_M: return {"IQ1_M", 256, 56, false};
        case GGMLType::TQ1_0: return {"TQ1_0", 256, 54, false};
        case GGMLType::TQ2_0: return {"TQ2_0", 256, 66, false};
        case GGMLType::MXFP4: return {"MXFP4", 32, 17, false};
        case GGMLType::NVFP4: return {"NVFP4", 64, 36, false};
        case GGMLType::Q1_0: return {"Q1_0", 128, 18, false};
        default: return {"?", 0, 0, false};
    }
}

size_t row_bytes(GGMLType t, int64_t n) {
    TypeTraits tt = type_traits(t);
    if (tt.block_size == 0) throw ValueError("unknown GGML type id " + std::to_string(static_cast<uint32_t>(t)));
    if (n < 0 || n % tt.block_size != 0)
        throw ValueError(std::string("row length ") + std::to_string(n) + " is not a multiple of " + tt.name +
                         "'s block size " + std::to_string(tt.block_size));
    return static_cast<size_t>(n / tt.block_size) * tt.type_size;
}

GGMLType type_from_name(const std::string& name) {
    for (uint32_t id = 0; id < static_cast<uint32_t>(GGMLType::COUNT); ++id) {
        TypeTraits tt = type_traits(id);
        if (tt.block_size && name == tt.name) return static_cast<GGMLType>(id);
    }
    throw ValueError("unknown GGML type '" + name + "'");
}

}  // namespace pysparse
