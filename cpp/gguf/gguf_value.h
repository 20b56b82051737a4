// GGUF metadata values: a small variant tree. Strings and scalar arrays are views into the mapped file (zero copy);
// they stay valid as long as the GGUFFile that produced them.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pysparse {

// Value type ids as stored in GGUF (gguf-py GGUFValueType).
enum class GGUFValueType : uint32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
    STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
constexpr uint32_t kGGUFValueTypeCount = 13;

const char* value_type_name(GGUFValueType t);  // "uint8", ..., "string", "array"; "?" if out of range
size_t value_type_size(GGUFValueType t);       // bytes of a scalar; 0 for string and array
inline bool is_integer(GGUFValueType t) {
    return t <= GGUFValueType::INT32 || t == GGUFValueType::UINT64 || t == GGUFValueType::INT64;
}
inline bool is_signed_integer(GGUFValueType t) {
    return t == GGUFValueType::INT8 || t == GGUFValueType::INT16 || t == GGUFValueType::INT32 ||
           t == GGUFValueType::INT64;
}
inline bool is_float(GGUFValueType t) { return t == GGUFValueType::FLOAT32 || t == GGUFValueType::FLOAT64; }

struct GGUFValue;

// An array: elements all of elem_type. Scalars stay packed in the file (raw, count * size bytes, possibly
// unaligned: read them with the accessors); strings are views; nested arrays are parsed values.
struct GGUFArray {
    GGUFValueType elem_type = GGUFValueType::UINT8;
    uint64_t count = 0;
    const uint8_t* raw = nullptr;            // scalar elements
    std::vector<std::string_view> strings;   // elem_type == STRING
    std::vector<GGUFValue> arrays;           // elem_type == ARRAY

    // Element i as an integer / float / string; throws ValueError on a type mismatch or i out of range.
    int64_t get_int(uint64_t i) const;
    double get_float(uint64_t i) const;  // any numeric element type
    std::string_view get_string(uint64_t i) const;
};

// One metadata value. Integers are widened to 64 bits (unsigned types in uint64_t, signed in int64_t),
// floats to double (exact for float32); `type` keeps the type the file stored.
struct GGUFValue {
    GGUFValueType type = GGUFValueType::UINT8;
    std::variant<uint64_t, int64_t, double, bool, std::string_view, std::shared_ptr<const GGUFArray>> v;

    bool is_array() const { return type == GGUFValueType::ARRAY; }
    const GGUFArray& array() const { return *std::get<std::shared_ptr<const GGUFArray>>(v); }
    // "uint32", "string", "array[string]", "array[array[int32]]" (nested: the first inner array's type)
    std::string type_name() const;
};

// Reads scalar element i of a packed array of type T (unaligned-safe).
template <typename T>
inline T load_scalar(const uint8_t* raw, uint64_t i) {
    T v;
    std::memcpy(&v, raw + i * sizeof(T), sizeof(T));
    return v;
}

}  // namespace pysparse
