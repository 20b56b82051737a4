// libFuzzer harness over the GGUF reader: parse the input as a GGUF file, then touch everything a consumer could
// (every metadata value, every tensor's first and last byte). A malformed input must throw FormatError; anything
// else that escapes (another exception, a crash, an ASan/UBSan report, a huge allocation) is a finding.
// Built by CMake with -DPYSPARSE_FUZZ=ON (clang); run with cpp/tests/run_fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gguf/gguf_file.h"

using namespace pysparse;

static uint64_t touch_value(const GGUFValue& v) {
    uint64_t h = v.type_name().size();
    if (!v.is_array()) {
        if (v.type == GGUFValueType::STRING)
            for (char c : std::get<std::string_view>(v.v)) h += static_cast<uint8_t>(c);
        return h;
    }
    const GGUFArray& a = v.array();
    if (a.elem_type == GGUFValueType::STRING) {
        for (auto s : a.strings) h += s.empty() ? 0 : static_cast<uint8_t>(s.front()) + static_cast<uint8_t>(s.back());
    } else if (a.elem_type == GGUFValueType::ARRAY) {
        for (const auto& x : a.arrays) h += touch_value(x);
    } else if (a.elem_type == GGUFValueType::BOOL) {
        for (uint64_t i = 0; i < a.count; ++i) h += a.raw[i];
    } else {
        for (uint64_t i = 0; i < a.count; ++i) h += a.get_float(i) != 0.0;
    }
    return h;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    volatile uint64_t sink = 0;
    try {
        GGUFFile f(data, size, "<fuzz>");
        uint64_t h = f.version() + f.alignment() + f.data_offset();
        for (const auto& kv : f.metadata()) h += kv.key.size() + touch_value(kv.value);
        if (f.find("general.architecture") && f.get("general.architecture").type == GGUFValueType::STRING)
            h += f.architecture().size();
        for (const auto& t : f.tensors()) {
            h += t.n_elements + t.name.size();
            if (!t.type_known) continue;
            const uint8_t* p = f.tensor_data(t);
            uint64_t n = f.tensor_nbytes(t);
            if (n) h += p[0] + p[n - 1];
        }
        sink = h;
    } catch (const FormatError&) {
    }
    (void)sink;
    return 0;
}
