// GGUFFile: a GGUF v2/v3 file mapped read-only (or a caller's in-memory buffer), its metadata and tensor table.
//
// Layout (little-endian): "GGUF" | uint32 version | uint64 n_tensors | uint64 n_kv | n_kv x (string key,
// uint32 value type, value) | n_tensors x (string name, uint32 n_dims, uint64 ne[n_dims], uint32 ggml type,
// uint64 offset) | padding to `general.alignment` (default 32) | tensor data, each tensor at data_offset + offset.
// v3 only added big-endian files, which have the same layout byte-swapped; v2 and v3 read the same here, big-endian
// files and v1 (32-bit counts) are rejected with a message saying so.
//
// Parsing reads only the header region, never tensor data, so opening a 1 GB model touches a few pages.
// Every length, count, offset and shape product is checked against the file size and for overflow before use;
// a malformed file throws FormatError naming the problem, the byte offset and the key or tensor involved.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "gguf/gguf_value.h"

namespace pysparse {

// The file could not be opened or mapped (errno kept so Python can raise FileNotFoundError / PermissionError).
struct FileOpenError : Error {
    FileOpenError(const std::string& msg, int errno_value, std::string path)
        : Error(msg), errno_value(errno_value), path(std::move(path)) {}
    int errno_value;
    std::string path;
};

constexpr uint64_t kGGUFDefaultAlignment = 32;
constexpr uint32_t kGGUFMaxDims = 4;
constexpr int kGGUFMaxArrayDepth = 16;  // nested arrays deeper than this are rejected (bounded recursion)

struct GGUFKeyValue {
    std::string_view key;
    GGUFValue value;
    uint64_t offset;  // byte offset of the entry (its key) in the file
};

struct GGUFTensorInfo {
    std::string_view name;
    uint32_t n_dims = 0;
    int64_t ne[kGGUFMaxDims] = {1, 1, 1, 1};  // ggml order: ne[0] is the innermost (contiguous) dimension
    uint32_t type_id = 0;
    uint64_t offset = 0;        // as stored: relative to the data section
    uint64_t abs_offset = 0;    // from the start of the file
    uint64_t info_offset = 0;   // where this tensor's entry sits in the tensor table
    int64_t n_elements = 0;
    bool type_known = false;    // is type_id a GGML type we know the block geometry of
    uint64_t nbytes = 0;        // valid only if type_known; use GGUFFile::tensor_nbytes()
    int64_t rows() const { return ne[1] * ne[2] * ne[3]; }
};

class GGUFFile {
public:
    // Maps `path` read-only (MAP_PRIVATE) and parses it. FileOpenError if it cannot be opened, FormatError if malformed.
    explicit GGUFFile(const std::string& path);
    // Parses a caller's buffer, which must outlive this object (the fuzzer and tests use it).
    GGUFFile(const uint8_t* data, uint64_t size, std::string source = "<memory>");
    // Parses a copy that this object owns.
    static std::shared_ptr<GGUFFile> from_bytes(std::vector<uint8_t> bytes, std::string source = "<bytes>");
    ~GGUFFile();
    GGUFFile(const GGUFFile&) = delete;
    GGUFFile& operator=(const GGUFFile&) = delete;

    const std::string& source() const { return source_; }  // the path, or "<memory>"
    uint32_t version() const { return version_; }
    uint64_t file_size() const { return size_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }  // start of the (aligned) tensor data section
    const uint8_t* data() const { return data_; }

    // Metadata, in file order.
    const std::vector<GGUFKeyValue>& metadata() const { return kv_; }
    const GGUFValue* find(std::string_view key) const;  // nullptr if absent
    // Typed getters: FormatError if the key is missing or holds another type (the file lacks what a model needs).
    const GGUFValue& get(std::string_view key) const;
    std::string get_string(std::string_view key) const;
    int64_t get_int(std::string_view key) const;      // any integer type that fits in int64
    double get_float(std::string_view key) const;     // float32/64, or an integer
    bool get_bool(std::string_view key) const;
    const GGUFArray& get_array(std::string_view key) const;
    int64_t get_int(std::string_view key, int64_t fallback) const;
    double get_float(std::string_view key, double fallback) const;
    std::string get_string(std::string_view key, const std::string& fallback) const;
    std::string architecture() const { return get_string("general.architecture"); }

    // Tensors, in table order.
    const std::vector<GGUFTensorInfo>& tensors() const { return tensors_; }
    const GGUFTensorInfo* find_tensor(std::string_view name) const;  // nullptr if absent
    const GGUFTensorInfo& tensor(std::string_view name) const;      // ValueError if absent
    // Size and first byte of a tensor's data; FormatError naming the tensor and type id if the type is unknown.
    uint64_t tensor_nbytes(const GGUFTensorInfo& t) const;
    const uint8_t* tensor_data(const GGUFTensorInfo& t) const;

    // Drops the whole pages of [p, p + n) from the process's resident memory when the file is mmap'd (its data stay
    // valid: a later read faults them back from the page cache); a no-op for an in-memory buffer. For a tensor the
    // caller has copied elsewhere (the sparse repacks), so a model's RSS does not hold both copies.
    void release_pages(const uint8_t* p, uint64_t n) const;

private:
    struct Owned {};
    GGUFFile(Owned, std::vector<uint8_t> bytes, std::string source);
    void parse();
    GGUFValue read_value(class ByteCursor& c, uint32_t type, uint64_t type_offset, int depth);
    void check_tensor(class ByteCursor& c, GGUFTensorInfo& t);
    [[noreturn]] void type_error(std::string_view key, const GGUFValue& v, const char* expected) const;

    std::string source_;
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    void* map_ = nullptr;         // mmap'd region, if any
    uint64_t map_size_ = 0;
    std::vector<uint8_t> owned_;  // from_bytes copy, if any

    uint32_t version_ = 0;
    uint64_t alignment_ = kGGUFDefaultAlignment;
    uint64_t data_offset_ = 0;
    std::vector<GGUFKeyValue> kv_;
    std::unordered_map<std::string_view, size_t> kv_index_;
    std::vector<GGUFTensorInfo> tensors_;
    std::unordered_map<std::string_view, size_t> tensor_index_;
};

// Is s valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF)?
bool is_valid_utf8(std::string_view s);

}  // namespace pysparse
