// GGML tensor types: ids as stored in GGUF files, and everything the engine knows about each one, in one table
// (kTypeTable below). Code that needs a fact about a type (its block geometry, the activation format of its dot
// product, its bit width, whether the sparse layouts take it) reads it from here instead of switching on the type.
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

// The activation format a weight type's dot product takes (kernels/matvec.h describes each).
enum class ActFormat { F32, Q8_0, Q8_1, Q8_K };
constexpr const char* act_format_name(ActFormat f) {
    return f == ActFormat::Q8_0 ? "Q8_0" : f == ActFormat::Q8_1 ? "Q8_1" : f == ActFormat::Q8_K ? "Q8_K" : "F32";
}

struct TypeTraits {
    GGMLType id;
    const char* name;     // as gguf-py spells it: "Q4_K", "F16", ...
    int64_t block_size;   // elements per block (1 for plain types), 0 if the id is unknown
    size_t type_size;     // bytes per block
    bool supported;       // the engine decodes, encodes and computes with it (dequantize, quantize, matvec)
    // The rest is meaningful for supported types only.
    ActFormat act;        // activation format of its dot product
    int bits;             // bits of one stored value: 4 / 5 / 6 / 8 for the block formats, 16 / 32 plain floats
    int offset;           // symmetric formats store q + offset (value = d * (q - offset)); 0 for the others
    bool has_min;         // value = d * q + m (Q4_1, Q5_1, Q4_K, Q5_K)
    int group;            // elements per scale (32; Q6_K 16); 1 for plain floats
    bool k_quant;         // groups inside 256-element super-blocks with their own fp16 d (and dmin)
    bool sparse;          // the input-major sparse layouts take it (sparse/sparse_matrix.h)
};

namespace types_detail {
constexpr TypeTraits known(GGMLType id, const char* name, int64_t bs, size_t ts) {
    return {id, name, bs, ts, false, ActFormat::F32, 0, 0, false, 0, false, false};
}
constexpr TypeTraits plain(GGMLType id, const char* name, size_t ts, bool sparse) {
    return {id, name, 1, ts, true, ActFormat::F32, int(8 * ts), 0, false, 1, false, sparse};
}
constexpr TypeTraits quant(GGMLType id, const char* name, int64_t bs, size_t ts, ActFormat act, int bits, int offset,
                           bool has_min, int group) {
    return {id, name, bs, ts, true, act, bits, offset, has_min, group, bs == 256, true};
}
}  // namespace types_detail

// One row per type the engine knows. Adding a supported type starts here (docs/engine.md: "How to add a quant type").
inline constexpr TypeTraits kTypeTable[] = {
    // plain(id, name, bytes, sparse); quant(id, name, block, bytes, act, bits, offset, has_min, group)
    types_detail::plain(GGMLType::F32, "F32", 4, true),
    types_detail::plain(GGMLType::F16, "F16", 2, true),
    types_detail::plain(GGMLType::BF16, "BF16", 2, false),
    types_detail::quant(GGMLType::Q4_0, "Q4_0", 32, 18, ActFormat::Q8_0, 4, 8, false, 32),
    types_detail::quant(GGMLType::Q4_1, "Q4_1", 32, 20, ActFormat::Q8_1, 4, 0, true, 32),
    types_detail::quant(GGMLType::Q5_0, "Q5_0", 32, 22, ActFormat::Q8_0, 5, 16, false, 32),
    types_detail::quant(GGMLType::Q5_1, "Q5_1", 32, 24, ActFormat::Q8_1, 5, 0, true, 32),
    types_detail::quant(GGMLType::Q8_0, "Q8_0", 32, 34, ActFormat::Q8_0, 8, 0, false, 32),
    types_detail::quant(GGMLType::Q4_K, "Q4_K", 256, 144, ActFormat::Q8_K, 4, 0, true, 32),
    types_detail::quant(GGMLType::Q5_K, "Q5_K", 256, 176, ActFormat::Q8_K, 5, 0, true, 32),
    types_detail::quant(GGMLType::Q6_K, "Q6_K", 256, 210, ActFormat::Q8_K, 6, 32, false, 16),
    // Known ids the engine reads from a file's tensor table but does not compute with.
    types_detail::known(GGMLType::Q8_1, "Q8_1", 32, 40),
    types_detail::known(GGMLType::Q2_K, "Q2_K", 256, 84),
    types_detail::known(GGMLType::Q3_K, "Q3_K", 256, 110),
    types_detail::known(GGMLType::Q8_K, "Q8_K", 256, 292),
    types_detail::known(GGMLType::IQ2_XXS, "IQ2_XXS", 256, 66),
    types_detail::known(GGMLType::IQ2_XS, "IQ2_XS", 256, 74),
    types_detail::known(GGMLType::IQ3_XXS, "IQ3_XXS", 256, 98),
    types_detail::known(GGMLType::IQ1_S, "IQ1_S", 256, 50),
    types_detail::known(GGMLType::IQ4_NL, "IQ4_NL", 32, 18),
    types_detail::known(GGMLType::IQ3_S, "IQ3_S", 256, 110),
    types_detail::known(GGMLType::IQ2_S, "IQ2_S", 256, 82),
    types_detail::known(GGMLType::IQ4_XS, "IQ4_XS", 256, 136),
    types_detail::known(GGMLType::I8, "I8", 1, 1),
    types_detail::known(GGMLType::I16, "I16", 1, 2),
    types_detail::known(GGMLType::I32, "I32", 1, 4),
    types_detail::known(GGMLType::I64, "I64", 1, 8),
    types_detail::known(GGMLType::F64, "F64", 1, 8),
    types_detail::known(GGMLType::IQ1_M, "IQ1_M", 256, 56),
    types_detail::known(GGMLType::TQ1_0, "TQ1_0", 256, 54),
    types_detail::known(GGMLType::TQ2_0, "TQ2_0", 256, 66),
    types_detail::known(GGMLType::MXFP4, "MXFP4", 32, 17),
    types_detail::known(GGMLType::NVFP4, "NVFP4", 64, 36),
    types_detail::known(GGMLType::Q1_0, "Q1_0", 128, 18),
};

// Traits of any id found in a file; unknown ids get {id, "?", 0, 0, false, ...}. Never throws.
constexpr TypeTraits type_traits(uint32_t type_id) {
    for (const TypeTraits& t : kTypeTable)
        if (static_cast<uint32_t>(t.id) == type_id) return t;
    return types_detail::known(static_cast<GGMLType>(type_id), "?", 0, 0);
}
constexpr TypeTraits type_traits(GGMLType t) { return type_traits(static_cast<uint32_t>(t)); }

// Bytes of one row of n elements. Throws ValueError if n is not a multiple of the block size or the type is unknown.
size_t row_bytes(GGMLType t, int64_t n);

// The type named `name`, as gguf-py spells it in any case ("Q4_K", "q4_k"); throws ValueError if unknown.
GGMLType type_from_name(const std::string& name);

// "F32 F16 ... Q6_K": the names of the table's types for which pred(traits) holds, in table order (error messages).
template <class Pred>
std::string type_names(Pred pred) {
    std::string s;
    for (const TypeTraits& t : kTypeTable)
        if (pred(t)) s += (s.empty() ? "" : " ") + std::string(t.name);
    return s;
}

}  // namespace pysparse
