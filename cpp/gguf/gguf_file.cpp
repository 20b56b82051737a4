#include "gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "gguf/byte_cursor.h"
#include "quant/types.h"

namespace pysparse {

namespace {

// Smallest encodings, used to reject absurd counts before reserving memory or looping.
constexpr uint64_t kMinKVBytes = 8 + 4 + 1;          // empty key, type, one-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // empty name, n_dims = 0, type, offset
constexpr uint64_t kMinArrayBytes = 4 + 8;           // element type, count

// A name fit for an error message: at most 80 bytes, valid UTF-8, control and invalid bytes escaped.
std::string quoted(std::string_view s) {
    bool utf8 = is_valid_utf8(s);
    std::string out = "'";
    size_t n = 0;
    for (unsigned char ch : s) {
        if (n >= 80 && (!utf8 || (ch & 0xC0) != 0x80)) {
            out += "...";
            break;
        }
        if (ch < 0x20 || ch == 0x7F || (ch >= 0x80 && !utf8)) {
            static const char* hex = "0123456789abcdef";
            out += "\\x";
            out += hex[ch >> 4];
            out += hex[ch & 15];
        } else {
            out += static_cast<char>(ch);
        }
        ++n;
    }
    return out + "'";
}

std::string num(uint64_t v) { return std::to_string(v); }

// Counts are checked against the bytes left, but a corrupt count can still be large; reserve at most this much up
// front and let real entries (each backed by file bytes) grow the vectors beyond it.
constexpr uint64_t kMaxReserve = uint64_t{1} << 20;
size_t reserve_size(uint64_t n) { return static_cast<size_t>(n < kMaxReserve ? n : kMaxReserve); }

}  // namespace

bool is_valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    size_t n = s.size(), i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07;
        else return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

// ---- construction ----------------------------------------------------------------------------------------------

GGUFFile::GGUFFile(const std::string& path) : source_(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        throw FileOpenError(path + ": cannot open: " + std::strerror(err), err, path);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        throw FileOpenError(path + ": cannot stat: " + std::strerror(err), err, path);
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        throw FileOpenError(path + ": is a directory, not a GGUF file", EISDIR, path);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw FormatError(path + ": not a regular file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ == 0) {
        ::close(fd);
        throw FormatError(path + ": empty file, not a GGUF file");
    }
    void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd);  // the mapping keeps the file alive
    if (m == MAP_FAILED) throw FileOpenError(path + ": cannot mmap: " + std::strerror(err), err, path);
    map_ = m;
    map_size_ = size_;
    data_ = static_cast<const uint8_t*>(m);
    try {
        parse();
    } catch (...) {
        ::munmap(map_, map_size_);
        map_ = nullptr;
        throw;
    }
}

void GGUFFile::release_pages(const uint8_t* p, uint64_t n) const {
    if (!map_ || p < data_ || n > size_ || p - data_ > static_cast<std::ptrdiff_t>(size_ - n)) return;
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t b = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;  // whole pages only: the
    const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n) / page * page;         // edges hold other tensors
    if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

GGUFFile::GGUFFile(const uint8_t* data, uint64_t size, std::string source)
    : source_(std::move(source)), data_(data), size_(size) {
    parse();
}

GGUFFile::GGUFFile(Owned, std::vector<uint8_t> bytes, std::string source)
    : source_(std::move(source)), owned_(std::move(bytes)) {
    data_ = owned_.data();
    size_ = owned_.size();
    parse();
}

std::shared_ptr<GGUFFile> GGUFFile::from_bytes(std::vector<uint8_t> bytes, std::string source) {
    return std::shared_ptr<GGUFFile>(new GGUFFile(Owned{}, std::move(bytes), std::move(source)));
}

GGUFFile::~GGUFFile() {
    if (map_) ::munmap(map_, map_size_);
}

// ---- parsing ---------------------------------------------------------------------------------------------------

void GGUFFile::parse() {
    ByteCursor c(data_, size_, source_);
    c.set_context("header");
    if (size_ < 4 || std::memcmp(data_, "GGUF", 4) != 0) {
        std::string got = size_ >= 4 ? quoted(std::string_view(reinterpret_cast<const char*>(data_), 4))
                                     : "only " + num(size_) + " bytes";
        c.fail("not a GGUF file: magic is " + got + ", expected 'GGUF'", 0);
    }
    c.skip(4, "magic");
    version_ = c.u32("version");
    if (version_ != 0 && (version_ & 0xFFFF) == 0)
        c.fail("big-endian GGUF file (the version field reads " + num(__builtin_bswap32(version_)) +
                   " byte-swapped); only little-endian GGUF files are supported",
               4);
    if (version_ == 1)
        c.fail("GGUF version 1 is not supported (obsolete since 2023: 32-bit counts); re-convert the model with "
               "a current llama.cpp",
               4);
    if (version_ != 2 && version_ != 3)
        c.fail("unsupported GGUF version " + num(version_) + " (this reader handles versions 2 and 3)", 4);

    uint64_t at = c.pos();
    uint64_t n_tensors = c.u64("tensor count");
    if (n_tensors > c.remaining() / kMinTensorInfoBytes)
        c.fail("tensor count " + num(n_tensors) + " is impossible: " + num(c.remaining()) +
                   " bytes left hold at most " + num(c.remaining() / kMinTensorInfoBytes) + " tensor entries",
               at);
    at = c.pos();
    uint64_t n_kv = c.u64("metadata count");
    if (n_kv > c.remaining() / kMinKVBytes)
        c.fail("metadata count " + num(n_kv) + " is impossible: " + num(c.remaining()) +
                   " bytes left hold at most " + num(c.remaining() / kMinKVBytes) + " entries",
               at);

    // Metadata.
    kv_.reserve(reserve_size(n_kv));
    kv_index_.reserve(reserve_size(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
        c.set_context("metadata entry " + num(i) + " of " + num(n_kv));
        uint64_t key_at = c.pos();
        std::string_view key = c.str("metadata key");
        if (!is_valid_utf8(key)) c.fail("key " + quoted(key) + " is not valid UTF-8", key_at);
        c.set_context("metadata key " + quoted(key));
        if (kv_index_.count(key)) c.fail("duplicate metadata key", key_at);
        uint64_t type_at = c.pos();
        uint32_t type = c.u32("value type");
        GGUFValue v = read_value(c, type, type_at, 0);
        kv_index_.emplace(key, kv_.size());
        kv_.push_back({key, std::move(v), key_at});
    }

    if (const GGUFValue* a = find("general.alignment")) {
        c.set_context("metadata key 'general.alignment'");
        uint64_t key_at = kv_[kv_index_.at("general.alignment")].offset;
        if (a->type != GGUFValueType::UINT32)
            c.fail(std::string("must be uint32, found ") + a->type_name(), key_at);
        uint64_t al = std::get<uint64_t>(a->v);
        if (al == 0 || (al & (al - 1)) != 0) c.fail("alignment " + num(al) + " is not a power of two", key_at);
        alignment_ = al;
    }

    // Tensor table.
    tensors_.reserve(reserve_size(n_tensors));
    tensor_index_.reserve(reserve_size(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        c.set_context("tensor entry " + num(i) + " of " + num(n_tensors));
        GGUFTensorInfo t;
        t.info_offset = c.pos();
        t.name = c.str("tensor name");
        if (!is_valid_utf8(t.name)) c.fail("tensor name " + quoted(t.name) + " is not valid UTF-8", t.info_offset);
        c.set_context("tensor " + quoted(t.name));
        if (tensor_index_.count(t.name)) c.fail("duplicate tensor name", t.info_offset);
        at = c.pos();
        t.n_dims = c.u32("n_dims");
        if (t.n_dims > kGGUFMaxDims)
            c.fail("n_dims = " + num(t.n_dims) + " exceeds the maximum of " + num(kGGUFMaxDims), at);
        for (uint32_t d = 0; d < t.n_dims; ++d) {
            at = c.pos();
            uint64_t ne = c.u64("shape");
            if (ne > static_cast<uint64_t>(INT64_MAX))
                c.fail("dimension " + num(d) + " = " + num(ne) + " does not fit in int64", at);
            t.ne[d] = static_cast<int64_t>(ne);
        }
        t.type_id = c.u32("tensor type");
        t.offset = c.u64("tensor offset");
        tensor_index_.emplace(t.name, tensors_.size());
        tensors_.push_back(t);
    }

    // Data section: starts at the next multiple of the alignment (the file may end before it if there are no tensors).
    uint64_t end_of_table = c.pos();
    data_offset_ = end_of_table + (alignment_ - end_of_table % alignment_) % alignment_;
    for (GGUFTensorInfo& t : tensors_) check_tensor(c, t);
}

GGUFValue GGUFFile::read_value(ByteCursor& c, uint32_t type_raw, uint64_t type_at, int depth) {
    if (type_raw >= kGGUFValueTypeCount) c.fail("unknown value type " + num(type_raw), type_at);
    GGUFValue out;
    out.type = static_cast<GGUFValueType>(type_raw);
    uint64_t at = c.pos();
    switch (out.type) {
        case GGUFValueType::UINT8: out.v = uint64_t{c.read<uint8_t>("uint8 value")}; break;
        case GGUFValueType::UINT16: out.v = uint64_t{c.read<uint16_t>("uint16 value")}; break;
        case GGUFValueType::UINT32: out.v = uint64_t{c.read<uint32_t>("uint32 value")}; break;
        case GGUFValueType::UINT64: out.v = uint64_t{c.read<uint64_t>("uint64 value")}; break;
        case GGUFValueType::INT8: out.v = int64_t{c.read<int8_t>("int8 value")}; break;
        case GGUFValueType::INT16: out.v = int64_t{c.read<int16_t>("int16 value")}; break;
        case GGUFValueType::INT32: out.v = int64_t{c.read<int32_t>("int32 value")}; break;
        case GGUFValueType::INT64: out.v = int64_t{c.read<int64_t>("int64 value")}; break;
        case GGUFValueType::FLOAT32: out.v = double{c.read<float>("float32 value")}; break;
        case GGUFValueType::FLOAT64: out.v = c.read<double>("float64 value"); break;
        case GGUFValueType::BOOL: {
            uint8_t b = c.read<uint8_t>("bool value");
            if (b > 1) c.fail("bool value is " + num(b) + ", must be 0 or 1", at);
            out.v = b == 1;
            break;
        }
        case GGUFValueType::STRING: out.v = c.str("string value"); break;
        case GGUFValueType::ARRAY: {
            if (depth >= kGGUFMaxArrayDepth)
                c.fail("arrays nested deeper than " + num(kGGUFMaxArrayDepth) + " levels", at);
            auto arr = std::make_shared<GGUFArray>();
            uint64_t elem_at = c.pos();
            uint32_t elem = c.u32("array element type");
            if (elem >= kGGUFValueTypeCount) c.fail("unknown array element type " + num(elem), elem_at);
            arr->elem_type = static_cast<GGUFValueType>(elem);
            uint64_t count_at = c.pos();
            arr->count = c.u64("array length");
            size_t scalar = value_type_size(arr->elem_type);
            uint64_t min_elem = scalar ? scalar : arr->elem_type == GGUFValueType::STRING ? 8 : kMinArrayBytes;
            if (arr->count > c.remaining() / min_elem)
                c.fail("array of " + num(arr->count) + " " + value_type_name(arr->elem_type) + " elements needs at least " +
                           (arr->count > UINT64_MAX / min_elem ? std::string("2^64") : num(arr->count * min_elem)) +
                           " bytes but only " + num(c.remaining()) + " are left",
                       count_at);
            if (scalar) {
                arr->raw = c.ptr();
                if (arr->elem_type == GGUFValueType::BOOL)
                    for (uint64_t k = 0; k < arr->count; ++k)
                        if (arr->raw[k] > 1)
                            c.fail("bool element " + num(k) + " is " + num(arr->raw[k]) + ", must be 0 or 1", c.pos() + k);
                c.skip(arr->count * scalar, "array data");
            } else if (arr->elem_type == GGUFValueType::STRING) {
                arr->strings.reserve(reserve_size(arr->count));
                for (uint64_t k = 0; k < arr->count; ++k) arr->strings.push_back(c.str("string array element"));
            } else {
                arr->arrays.reserve(reserve_size(arr->count));
                for (uint64_t k = 0; k < arr->count; ++k)
                    arr->arrays.push_back(read_value(c, static_cast<uint32_t>(GGUFValueType::ARRAY), c.pos(), depth + 1));
            }
            out.v = std::shared_ptr<const GGUFArray>(std::move(arr));
            break;
        }
    }
    return out;
}

void GGUFFile::check_tensor(ByteCursor& c, GGUFTensorInfo& t) {
    c.set_context("tensor " + quoted(t.name));
    int64_t rows = 1;
    for (uint32_t d = 1; d < kGGUFMaxDims; ++d)
        if (__builtin_mul_overflow(rows, t.ne[d], &rows))
            c.fail("shape overflows int64 (" + num(t.ne[0]) + " x " + num(t.ne[1]) + " x " + num(t.ne[2]) + " x " +
                       num(t.ne[3]) + ")",
                   t.info_offset);
    if (__builtin_mul_overflow(t.ne[0], rows, &t.n_elements))
        c.fail("shape overflows int64 (" + num(t.ne[0]) + " x " + num(t.ne[1]) + " x " + num(t.ne[2]) + " x " +
                   num(t.ne[3]) + ")",
               t.info_offset);
    if (t.offset % alignment_ != 0)
        c.fail("data offset " + num(t.offset) + " is not a multiple of the alignment " + num(alignment_),
               t.info_offset);
    if (data_offset_ > size_ || t.offset > size_ - data_offset_)
        c.fail("data offset " + num(t.offset) + " (absolute " +
                   (t.offset > UINT64_MAX - data_offset_ ? std::string(">= 2^64") : num(data_offset_ + t.offset)) +
                   ") is past the end of the file (" + num(size_) + " bytes)",
               t.info_offset);
    t.abs_offset = data_offset_ + t.offset;

    TypeTraits tt = type_traits(t.type_id);
    t.type_known = tt.block_size > 0;
    if (!t.type_known) return;  // an error only when the size or data is asked for (tensor_nbytes)
    if (t.ne[0] % tt.block_size != 0)
        c.fail("row length " + num(t.ne[0]) + " is not a multiple of " + tt.name + "'s block size " +
                   num(tt.block_size),
               t.info_offset);
    uint64_t row_size, total;
    if (__builtin_mul_overflow(static_cast<uint64_t>(t.ne[0] / tt.block_size), tt.type_size, &row_size) ||
        __builtin_mul_overflow(row_size, static_cast<uint64_t>(rows), &total))
        c.fail(std::string("byte size of the ") + tt.name + " data overflows 64 bits", t.info_offset);
    if (total > size_ - t.abs_offset)
        c.fail("data runs past the end of the file: " + num(total) + " bytes of " + tt.name + " at byte " +
                   num(t.abs_offset) + ", but the file has " + num(size_) + " bytes",
               t.info_offset);
    t.nbytes = total;
}

// ---- metadata access -------------------------------------------------------------------------------------------

const GGUFValue* GGUFFile::find(std::string_view key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kv_[it->second].value;
}

const GGUFValue& GGUFFile::get(std::string_view key) const {
    const GGUFValue* v = find(key);
    if (!v) throw FormatError(source_ + ": metadata key " + quoted(key) + " is missing");
    return *v;
}

void GGUFFile::type_error(std::string_view key, const GGUFValue& v, const char* expected) const {
    throw FormatError(source_ + ": metadata key " + quoted(key) + " has type " + v.type_name() + ", expected " +
                      expected);
}

std::string GGUFFile::get_string(std::string_view key) const {
    const GGUFValue& v = get(key);
    if (v.type != GGUFValueType::STRING) type_error(key, v, "string");
    return std::string(std::get<std::string_view>(v.v));
}

int64_t GGUFFile::get_int(std::string_view key) const {
    const GGUFValue& v = get(key);
    if (!is_integer(v.type)) type_error(key, v, "an integer");
    if (is_signed_integer(v.type)) return std::get<int64_t>(v.v);
    uint64_t u = std::get<uint64_t>(v.v);
    if (u > static_cast<uint64_t>(INT64_MAX))
        throw FormatError(source_ + ": metadata key " + quoted(key) + " = " + num(u) + " does not fit in int64");
    return static_cast<int64_t>(u);
}

double GGUFFile::get_float(std::string_view key) const {
    const GGUFValue& v = get(key);
    if (is_float(v.type)) return std::get<double>(v.v);
    if (is_signed_integer(v.type)) return static_cast<double>(std::get<int64_t>(v.v));
    if (is_integer(v.type)) return static_cast<double>(std::get<uint64_t>(v.v));
    type_error(key, v, "a number");
}

bool GGUFFile::get_bool(std::string_view key) const {
    const GGUFValue& v = get(key);
    if (v.type != GGUFValueType::BOOL) type_error(key, v, "bool");
    return std::get<bool>(v.v);
}

const GGUFArray& GGUFFile::get_array(std::string_view key) const {
    const GGUFValue& v = get(key);
    if (!v.is_array()) type_error(key, v, "an array");
    return v.array();
}

int64_t GGUFFile::get_int(std::string_view key, int64_t fallback) const {
    return find(key) ? get_int(key) : fallback;
}
double GGUFFile::get_float(std::string_view key, double fallback) const {
    return find(key) ? get_float(key) : fallback;
}
std::string GGUFFile::get_string(std::string_view key, const std::string& fallback) const {
    return find(key) ? get_string(key) : fallback;
}

// ---- tensor access ---------------------------------------------------------------------------------------------

const GGUFTensorInfo* GGUFFile::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GGUFTensorInfo& GGUFFile::tensor(std::string_view name) const {
    const GGUFTensorInfo* t = find_tensor(name);
    if (!t) throw ValueError(source_ + ": no tensor named " + quoted(name));
    return *t;
}

uint64_t GGUFFile::tensor_nbytes(const GGUFTensorInfo& t) const {
    if (!t.type_known)
        throw FormatError(source_ + ": tensor " + quoted(t.name) + " has unknown GGML type id " + num(t.type_id) +
                          ", so its byte size is unknown (tensor entry at byte offset " + num(t.info_offset) + ")");
    return t.nbytes;
}

const uint8_t* GGUFFile::tensor_data(const GGUFTensorInfo& t) const {
    tensor_nbytes(t);  // throws for an unknown type
    return data_ + t.abs_offset;
}

}  // namespace pysparse
