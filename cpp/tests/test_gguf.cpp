// GGUF reader: files built byte by byte in memory, parsed back; then every kind of bad input, by patching one field
// of a valid file, by truncation at every length, and by seeded random mutation. A bad file must throw FormatError
// with a message naming the problem and the byte offset, never crash or read out of bounds (the ASan CI build and
// the libFuzzer harness check the latter).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "tests/check.h"

using namespace pysparse;

namespace {

// Writes GGUF fields little-endian and remembers named offsets so tests can patch a field of a valid file.
struct GGUFBuilder {
    std::vector<uint8_t> b;
    std::map<std::string, size_t> at;

    GGUFBuilder& mark(const std::string& name) { at[name] = b.size(); return *this; }
    template <typename T>
    GGUFBuilder& put(T v) {
        uint8_t tmp[sizeof(T)];
        std::memcpy(tmp, &v, sizeof(T));
        b.insert(b.end(), tmp, tmp + sizeof(T));
        return *this;
    }
    GGUFBuilder& u32(uint32_t v) { return put(v); }
    GGUFBuilder& u64(uint64_t v) { return put(v); }
    GGUFBuilder& str(const std::string& s) {
        u64(s.size());
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    GGUFBuilder& key(const std::string& k, GGUFValueType t) { return str(k).u32(static_cast<uint32_t>(t)); }
    GGUFBuilder& pad(size_t alignment) {
        while (b.size() % alignment) b.push_back(0);
        return *this;
    }
    template <typename T>
    void patch(const std::string& name, T v, size_t extra = 0) {
        std::memcpy(b.data() + at.at(name) + extra, &v, sizeof(T));
    }
};

constexpr uint32_t kF32 = 0, kQ8_0 = 8;

// A valid v3 file: 17 metadata entries of every type (alignment 64) and two tensors, F32 [3 x 4] and Q8_0 [64].
GGUFBuilder valid_file() {
    GGUFBuilder g;
    g.b = {'G', 'G', 'U', 'F'};
    g.mark("version").u32(3).mark("n_tensors").u64(2).mark("n_kv").u64(17);
    g.mark("kv0").key("general.architecture", GGUFValueType::STRING).mark("arch_len").str("llama");
    g.key("t.u8", GGUFValueType::UINT8).put<uint8_t>(200);
    g.key("t.i8", GGUFValueType::INT8).put<int8_t>(-100);
    g.key("t.u16", GGUFValueType::UINT16).put<uint16_t>(60000);
    g.key("t.i16", GGUFValueType::INT16).put<int16_t>(-30000);
    g.key("t.u32", GGUFValueType::UINT32).put<uint32_t>(4000000000u);
    g.key("t.i32", GGUFValueType::INT32).put<int32_t>(-2000000000);
    g.key("t.f32", GGUFValueType::FLOAT32).put<float>(1.5f);
    g.key("t.u64", GGUFValueType::UINT64).put<uint64_t>(UINT64_MAX);
    g.key("t.i64", GGUFValueType::INT64).put<int64_t>(INT64_MIN);
    g.key("t.f64", GGUFValueType::FLOAT64).put<double>(3.25);
    g.mark("bool_type").key("t.bool", GGUFValueType::BOOL).mark("bool").put<uint8_t>(1);
    g.key("t.arr_u32", GGUFValueType::ARRAY).mark("arr_u32_elem").u32(static_cast<uint32_t>(GGUFValueType::UINT32))
        .mark("arr_u32_count").u64(3).u32(7).u32(8).u32(9);
    g.key("t.arr_str", GGUFValueType::ARRAY).u32(static_cast<uint32_t>(GGUFValueType::STRING)).mark("arr_str_count")
        .u64(2).mark("arr_str0").str("ab").str("");
    g.key("t.arr_bool", GGUFValueType::ARRAY).u32(static_cast<uint32_t>(GGUFValueType::BOOL)).u64(2)
        .put<uint8_t>(0).mark("arr_bool1").put<uint8_t>(1);
    // [[1, 2], [3]]: arrays of int32 inside an array
    g.key("t.nested", GGUFValueType::ARRAY).u32(static_cast<uint32_t>(GGUFValueType::ARRAY)).u64(2);
    g.u32(static_cast<uint32_t>(GGUFValueType::INT32)).u64(2).put<int32_t>(1).put<int32_t>(2);
    g.u32(static_cast<uint32_t>(GGUFValueType::INT32)).u64(1).put<int32_t>(3);
    g.key("general.alignment", GGUFValueType::UINT32).mark("alignment").u32(64);
    // tensor table
    g.mark("t0").str("a.weight").mark("t0_ndims").u32(2).mark("t0_ne").u64(4).u64(3).mark("t0_type").u32(kF32)
        .mark("t0_off").u64(0);
    g.mark("t1").str("b.weight").u32(1).mark("t1_ne").u64(64).mark("t1_type").u32(kQ8_0).mark("t1_off").u64(64);
    g.pad(64).mark("data");
    for (int i = 0; i < 12; ++i) g.put<float>(0.5f * i);  // 48 bytes, padded to 64
    g.pad(64);
    for (int i = 0; i < 68; ++i) g.put<uint8_t>(static_cast<uint8_t>(i));  // two Q8_0 blocks
    return g;
}

// Parses `bytes`; REQUIREs a FormatError whose message holds `want` (and a byte offset unless no_offset).
void expect_format_error(const std::vector<uint8_t>& bytes, const std::string& want, bool no_offset = false) {
    try {
        GGUFFile f(bytes.data(), bytes.size(), "bad.gguf");
    } catch (const FormatError& e) {
        std::string msg = e.what();
        bool ok = msg.find(want) != std::string::npos && msg.rfind("bad.gguf: ", 0) == 0 &&
                  (no_offset || msg.find("byte offset") != std::string::npos);
        if (!ok) std::fprintf(stderr, "  message '%s' lacks '%s'\n", msg.c_str(), want.c_str());
        CHECK(ok);
        return;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "  wrong exception type for '%s': %s\n", want.c_str(), e.what());
        CHECK(false);
        return;
    }
    std::fprintf(stderr, "  nothing thrown, expected '%s'\n", want.c_str());
    CHECK(false);
}

// Everything a consumer might touch, so a mutated file that parses is read end to end (ASan watches).
uint64_t touch_everything(const GGUFFile& f) {
    uint64_t h = f.version() + f.alignment() + f.data_offset();
    std::vector<const GGUFValue*> stack;
    for (const auto& kv : f.metadata()) {
        h += kv.key.size();
        stack.push_back(&kv.value);
    }
    while (!stack.empty()) {
        const GGUFValue* v = stack.back();
        stack.pop_back();
        h += v->type_name().size();
        if (!v->is_array()) {
            if (v->type == GGUFValueType::STRING)
                for (char c : std::get<std::string_view>(v->v)) h += static_cast<uint8_t>(c);
            continue;
        }
        const GGUFArray& a = v->array();
        if (a.elem_type == GGUFValueType::STRING)
            for (auto s : a.strings) h += s.size() ? static_cast<uint8_t>(s.back()) : 0;
        else if (a.elem_type == GGUFValueType::ARRAY)
            for (const auto& x : a.arrays) stack.push_back(&x);
        else if (a.elem_type == GGUFValueType::BOOL)
            for (uint64_t i = 0; i < a.count; ++i) h += a.raw[i];
        else
            for (uint64_t i = 0; i < a.count; ++i) h += static_cast<uint64_t>(a.get_float(i) != 0);
    }
    for (const auto& t : f.tensors()) {
        try {
            const uint8_t* p = f.tensor_data(t);
            uint64_t n = f.tensor_nbytes(t);
            if (n) h += p[0] + p[n - 1];
        } catch (const FormatError&) {
            h += 1;  // unknown type: only this tensor is unusable
        }
    }
    return h;
}

}  // namespace

TEST(gguf_parses_every_value_type) {
    GGUFBuilder g = valid_file();
    GGUFFile f(g.b.data(), g.b.size());
    CHECK(f.version() == 3);
    CHECK(f.alignment() == 64);
    CHECK(f.metadata().size() == 17);
    CHECK(f.architecture() == "llama");
    CHECK(f.get_int("t.u8") == 200 && f.get_int("t.i8") == -100 && f.get_int("t.u16") == 60000);
    CHECK(f.get_int("t.i16") == -30000 && f.get_int("t.u32") == 4000000000LL && f.get_int("t.i32") == -2000000000);
    CHECK(f.get_float("t.f32") == 1.5 && f.get_float("t.f64") == 3.25 && f.get_float("t.u8") == 200.0);
    CHECK(std::get<uint64_t>(f.get("t.u64").v) == UINT64_MAX);
    CHECK_THROWS(f.get_int("t.u64"));  // does not fit in int64
    CHECK(f.get_int("t.i64") == INT64_MIN);
    CHECK(f.get_bool("t.bool"));
    CHECK(f.get("t.u16").type_name() == "uint16");
    const GGUFArray& a = f.get_array("t.arr_u32");
    CHECK(a.count == 3 && a.get_int(0) == 7 && a.get_int(2) == 9 && a.get_float(1) == 8.0);
    CHECK_THROWS(a.get_int(3));
    CHECK_THROWS(a.get_string(0));
    const GGUFArray& s = f.get_array("t.arr_str");
    CHECK(s.count == 2 && s.get_string(0) == "ab" && s.get_string(1).empty());
    CHECK(f.get("t.arr_bool").type_name() == "array[bool]");
    const GGUFValue& nested = f.get("t.nested");
    CHECK(nested.type_name() == "array[array[int32]]");
    CHECK(nested.array().arrays.size() == 2);
    CHECK(nested.array().arrays[0].array().get_int(1) == 2 && nested.array().arrays[1].array().get_int(0) == 3);
    // typed getters name the key and the types on a mismatch or a missing key
    CHECK_THROWS(f.get_string("t.u8"));
    CHECK_THROWS(f.get_int("t.arr_str"));
    CHECK_THROWS(f.get_int("no.such.key"));
    CHECK(f.get_int("no.such.key", 5) == 5 && f.get_string("no.such.key", "x") == "x");
    try {
        f.get_string("t.u8");
    } catch (const FormatError& e) {
        CHECK(std::string(e.what()).find("'t.u8' has type uint8, expected string") != std::string::npos);
    }
}

TEST(gguf_tensor_table_and_offsets) {
    GGUFBuilder g = valid_file();
    GGUFFile f(g.b.data(), g.b.size());
    REQUIRE(f.tensors().size() == 2);
    CHECK(f.data_offset() == g.at.at("data"));
    CHECK(f.data_offset() % 64 == 0);
    const GGUFTensorInfo& a = f.tensor("a.weight");
    CHECK(a.n_dims == 2 && a.ne[0] == 4 && a.ne[1] == 3 && a.ne[2] == 1 && a.n_elements == 12 && a.rows() == 3);
    CHECK(a.type_id == kF32 && a.type_known && f.tensor_nbytes(a) == 48);
    CHECK(f.tensor_data(a) == g.b.data() + g.at.at("data"));
    float x;
    std::memcpy(&x, f.tensor_data(a) + 4 * 5, 4);
    CHECK(x == 2.5f);
    const GGUFTensorInfo& b = f.tensor("b.weight");
    CHECK(b.abs_offset == f.data_offset() + 64 && f.tensor_nbytes(b) == 68);
    CHECK(f.tensor_data(b)[67] == 67);
    CHECK(f.find_tensor("nope") == nullptr);
    CHECK_THROWS(f.tensor("nope"));
}

TEST(gguf_version_2_and_owned_copy) {
    GGUFBuilder g = valid_file();
    g.patch<uint32_t>("version", 2);
    auto f = GGUFFile::from_bytes(g.b);
    CHECK(f->version() == 2 && f->tensors().size() == 2 && f->get_array("t.arr_str").get_string(0) == "ab");
}

TEST(gguf_default_alignment_and_no_tensors) {
    GGUFBuilder g;
    g.b = {'G', 'G', 'U', 'F'};
    g.u32(3).u64(0).u64(1).key("general.architecture", GGUFValueType::STRING).str("x");
    GGUFFile f(g.b.data(), g.b.size());  // the file may end right after the metadata
    CHECK(f.alignment() == 32 && f.tensors().empty() && f.architecture() == "x");
    CHECK(f.data_offset() % 32 == 0);
}

TEST(gguf_rejects_bad_headers) {
    GGUFBuilder g = valid_file();
    auto with = [&](auto&& edit) {
        GGUFBuilder c = g;
        edit(c);
        return c.b;
    };
    expect_format_error(with([](GGUFBuilder& c) { c.b[0] = 'X'; }), "not a GGUF file: magic is 'XGUF'");
    expect_format_error({'G', 'G'}, "not a GGUF file");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint32_t>("version", 1); }), "version 1 is not supported");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint32_t>("version", 0); }), "unsupported GGUF version 0");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint32_t>("version", 4); }), "unsupported GGUF version 4");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint32_t>("version", 0x03000000); }), "big-endian");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint64_t>("n_kv", 1000000000000000000ULL); }),
                        "metadata count 1000000000000000000 is impossible");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint64_t>("n_tensors", UINT64_MAX); }),
                        "tensor count 18446744073709551615 is impossible");
}

TEST(gguf_rejects_bad_metadata) {
    GGUFBuilder g = valid_file();
    auto with = [&](auto&& edit) {
        GGUFBuilder c = g;
        edit(c);
        return c.b;
    };
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint64_t>("kv0", 1ULL << 63); }),
                        "metadata key has length 9223372036854775808 but only");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint64_t>("arch_len", UINT64_MAX); }),
                        "metadata key 'general.architecture': string value has length 18446744073709551615");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint32_t>("kv0", 99, 8 + 20); }), "unknown value type 99");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint8_t>("bool", 2); }),
                        "metadata key 't.bool': bool value is 2, must be 0 or 1");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint8_t>("arr_bool1", 7); }), "bool element 1 is 7");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint64_t>("arr_u32_count", 1000000000000000000ULL); }),
                        "'t.arr_u32': array of 1000000000000000000 uint32 elements needs at least");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint64_t>("arr_str_count", UINT64_MAX); }),
                        "array of 18446744073709551615 string elements needs at least 2^64 bytes");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint64_t>("arr_str0", 1ULL << 62); }),
                        "'t.arr_str': string array element has length 4611686018427387904");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint32_t>("arr_u32_elem", 13); }),
                        "unknown array element type 13");
    // duplicate key: rename t.u8 to general.architecture's twin by renaming t.i8 -> t.u8
    expect_format_error(with([](GGUFBuilder& c) {
                            std::string k = "t.i8";
                            auto it = std::search(c.b.begin(), c.b.end(), k.begin(), k.end());
                            it[2] = 'u';
                        }),
                        "metadata key 't.u8': duplicate metadata key");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint32_t>("alignment", 48); }),
                        "'general.alignment': alignment 48 is not a power of two");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint32_t>("alignment", 0); }), "alignment 0 is not");
    expect_format_error(with([](GGUFBuilder& c) {
                            c.patch<uint32_t>("alignment", static_cast<uint32_t>(GGUFValueType::INT32), -4);
                        }),
                        "'general.alignment': must be uint32, found int32");
    // a key that is not UTF-8 is reported with the bytes escaped
    expect_format_error(with([](GGUFBuilder& c) { c.b[c.at.at("kv0") + 8] = 0xFF; }),
                        "key '\\xffeneral.architecture' is not valid UTF-8");
}

TEST(gguf_rejects_deep_nesting) {
    // array of array of ... (17 levels) of int32
    GGUFBuilder g;
    g.b = {'G', 'G', 'U', 'F'};
    g.u32(3).u64(0).u64(1).key("deep", GGUFValueType::ARRAY);
    for (int i = 0; i < 17; ++i) g.u32(static_cast<uint32_t>(GGUFValueType::ARRAY)).u64(1);
    g.u32(static_cast<uint32_t>(GGUFValueType::INT32)).u64(1).put<int32_t>(5);
    expect_format_error(g.b, "'deep': arrays nested deeper than 16 levels");
    // a million levels in a small file would overflow the stack without the limit
    GGUFBuilder h;
    h.b = {'G', 'G', 'U', 'F'};
    h.u32(3).u64(0).u64(1).key("deep", GGUFValueType::ARRAY);
    for (int i = 0; i < 1000000; ++i) h.u32(static_cast<uint32_t>(GGUFValueType::ARRAY)).u64(1);
    expect_format_error(h.b, "nested deeper");
}

TEST(gguf_rejects_bad_tensors) {
    GGUFBuilder g = valid_file();
    auto with = [&](auto&& edit) {
        GGUFBuilder c = g;
        edit(c);
        return c.b;
    };
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint32_t>("t0_ndims", 5); }),
                        "tensor 'a.weight': n_dims = 5 exceeds the maximum of 4");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint64_t>("t0_ne", 1ULL << 63); }),
                        "dimension 0 = 9223372036854775808 does not fit in int64");
    expect_format_error(with([](GGUFBuilder& c) {
                            c.patch<uint64_t>("t0_ne", 1ULL << 40);
                            c.patch<uint64_t>("t0_ne", 1ULL << 40, 8);
                        }),
                        "tensor 'a.weight': shape overflows int64");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint64_t>("t0_ne", 100, 8); }),
                        "tensor 'a.weight': data runs past the end of the file");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint64_t>("t1_ne", 80); }),
                        "tensor 'b.weight': row length 80 is not a multiple of Q8_0's block size 32");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint64_t>("t1_off", 32); }),
                        "tensor 'b.weight': data offset 32 is not a multiple of the alignment 64");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint64_t>("t1_off", 1ULL << 62); }),
                        "is past the end of the file");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint64_t>("t1_off", UINT64_MAX - 63); }),
                        "(absolute >= 2^64) is past the end of the file");
    expect_format_error(with([](GGUFBuilder& c) { c.patch<uint64_t>("t1_ne", 1ULL << 62); }),
                        "tensor 'b.weight': data runs past the end of the file");
    expect_format_error(with([](GGUFBuilder& c) { c.b[c.at.at("t1") + 8] = 'a'; }),  // "b.weight" -> "a.weight"
                        "tensor 'a.weight': duplicate tensor name");
    expect_format_error(with([](GGUFBuilder& c) { c.b.resize(c.b.size() - 1); }), "data runs past the end");
}

TEST(gguf_unknown_type_fails_only_when_used) {
    GGUFBuilder g = valid_file();
    g.patch<uint32_t>("t1_type", 99);
    GGUFFile f(g.b.data(), g.b.size(), "u.gguf");
    const GGUFTensorInfo& b = f.tensor("b.weight");
    CHECK(!b.type_known);
    CHECK(f.tensor_nbytes(f.tensor("a.weight")) == 48);  // the other tensor is fine
    bool thrown = false;
    try {
        f.tensor_data(b);
    } catch (const FormatError& e) {
        std::string msg = e.what();
        thrown = msg.find("tensor 'b.weight' has unknown GGML type id 99") != std::string::npos;
    }
    CHECK(thrown);
}

TEST(gguf_truncation_at_every_length) {
    GGUFBuilder g = valid_file();
    for (size_t n = 0; n < g.b.size(); ++n) {
        std::vector<uint8_t> cut(g.b.begin(), g.b.begin() + n);  // exact-size buffer: ASan sees any overread
        bool format_error = false;
        try {
            GGUFFile f(cut.data(), cut.size());
        } catch (const FormatError&) {
            format_error = true;
        } catch (...) {
        }
        if (!format_error) std::fprintf(stderr, "  truncation to %zu bytes: no FormatError\n", n);
        CHECK(format_error);
    }
}

TEST(gguf_random_mutations_never_crash) {
    GGUFBuilder g = valid_file();
    std::mt19937_64 rng(12345);
    int parsed = 0, rejected = 0;
    for (int iter = 0; iter < 20000; ++iter) {
        std::vector<uint8_t> m = g.b;
        int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits; ++e) {
            size_t pos = rng() % m.size();
            switch (rng() % 4) {
                case 0: m[pos] = static_cast<uint8_t>(rng()); break;                   // random byte
                case 1: m[pos] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;     // bit flip
                case 2: m[pos] = (rng() & 1) ? 0xFF : 0x00; break;                    // extremes
                case 3: m.resize(pos + 1); break;                                      // truncate
            }
        }
        try {
            GGUFFile f(m.data(), m.size());
            touch_everything(f);
            ++parsed;
        } catch (const FormatError&) {
            ++rejected;
        }
        // any other exception propagates and fails the test
    }
    CHECK(parsed + rejected == 20000);
    CHECK(rejected > 1000 && parsed > 100);  // the mutations exercise both outcomes
}

TEST(gguf_missing_file_and_non_files) {
    bool open_error = false;
    try {
        GGUFFile f("/nonexistent/dir/model.gguf");
    } catch (const FileOpenError& e) {
        open_error = e.errno_value == ENOENT;
    }
    CHECK(open_error);
    bool dir_error = false;
    try {
        GGUFFile f("/");
    } catch (const FileOpenError& e) {
        dir_error = e.errno_value == EISDIR;
    }
    CHECK(dir_error);
    CHECK(is_valid_utf8("abc \xc3\xa9 \xe2\x9c\x93"));
    CHECK(!is_valid_utf8("\xc0\xaf"));        // overlong
    CHECK(!is_valid_utf8("\xed\xa0\x80"));    // surrogate
    CHECK(!is_valid_utf8("\xe2\x9c"));        // truncated
}
