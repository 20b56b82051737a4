#include "gguf/gguf_value.h"

#include "common/error.h"

namespace pysparse {

const char* value_type_name(GGUFValueType t) {
    switch (t) {
        case GGUFValueType::UINT8: return "uint8";
        case GGUFValueType::INT8: return "int8";
        case GGUFValueType::UINT16: return "uint16";
        case GGUFValueType::INT16: return "int16";
        case GGUFValueType::UINT32: return "uint32";
        case GGUFValueType::INT32: return "int32";
        case GGUFValueType::FLOAT32: return "float32";
        case GGUFValueType::BOOL: return "bool";
        case GGUFValueType::STRING: return "string";
        case GGUFValueType::ARRAY: return "array";
        case GGUFValueType::UINT64: return "uint64";
        case GGUFValueType::INT64: return "int64";
        case GGUFValueType::FLOAT64: return "float64";
    }
    return "?";
}

size_t value_type_size(GGUFValueType t) {
    switch (t) {
        case GGUFValueType::UINT8: case GGUFValueType::INT8: case GGUFValueType::BOOL: return 1;
        case GGUFValueType::UINT16: case GGUFValueType::INT16: return 2;
        case GGUFValueType::UINT32: case GGUFValueType::INT32: case GGUFValueType::FLOAT32: return 4;
        case GGUFValueType::UINT64: case GGUFValueType::INT64: case GGUFValueType::FLOAT64: return 8;
        case GGUFValueType::STRING: case GGUFValueType::ARRAY: return 0;
    }
    return 0;
}

std::string GGUFValue::type_name() const {
    if (!is_array()) return value_type_name(type);
    const GGUFArray& a = array();
    if (a.elem_type != GGUFValueType::ARRAY) return std::string("array[") + value_type_name(a.elem_type) + "]";
    if (a.arrays.empty()) return "array[array]";
    return "array[" + a.arrays[0].type_name() + "]";
}

static void check_index(const GGUFArray& a, uint64_t i) {
    if (i >= a.count)
        throw ValueError("array index " + std::to_string(i) + " out of range (" + std::to_string(a.count) +
                         " elements)");
}

int64_t GGUFArray::get_int(uint64_t i) const {
    check_index(*this, i);
    switch (elem_type) {
        case GGUFValueType::UINT8: return load_scalar<uint8_t>(raw, i);
        case GGUFValueType::INT8: return load_scalar<int8_t>(raw, i);
        case GGUFValueType::UINT16: return load_scalar<uint16_t>(raw, i);
        case GGUFValueType::INT16: return load_scalar<int16_t>(raw, i);
        case GGUFValueType::UINT32: return load_scalar<uint32_t>(raw, i);
        case GGUFValueType::INT32: return load_scalar<int32_t>(raw, i);
        case GGUFValueType::INT64: return load_scalar<int64_t>(raw, i);
        case GGUFValueType::UINT64: {
            uint64_t u = load_scalar<uint64_t>(raw, i);
            if (u > static_cast<uint64_t>(INT64_MAX))
                throw ValueError("array element " + std::to_string(i) + " = " + std::to_string(u) +
                                 " does not fit in int64");
            return static_cast<int64_t>(u);
        }
        default:
            throw ValueError(std::string("array of ") + value_type_name(elem_type) + " is not an integer array");
    }
}

double GGUFArray::get_float(uint64_t i) const {
    check_index(*this, i);
    if (elem_type == GGUFValueType::FLOAT32) return load_scalar<float>(raw, i);
    if (elem_type == GGUFValueType::FLOAT64) return load_scalar<double>(raw, i);
    if (elem_type == GGUFValueType::UINT64) return static_cast<double>(load_scalar<uint64_t>(raw, i));
    if (is_integer(elem_type)) return static_cast<double>(get_int(i));
    throw ValueError(std::string("array of ") + value_type_name(elem_type) + " is not a numeric array");
}

std::string_view GGUFArray::get_string(uint64_t i) const {
    check_index(*this, i);
    if (elem_type != GGUFValueType::STRING)
        throw ValueError(std::string("array of ") + value_type_name(elem_type) + " is not a string array");
    return strings[i];
}

}  // namespace pysparse
