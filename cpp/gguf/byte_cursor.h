// A bounds-checked little-endian reader over an in-memory byte range (a mapped GGUF file).
// Every read checks the bytes left BEFORE touching memory, so a corrupt length or count can never read out of
// bounds; a failure throws FormatError naming the source, what was being read (the context) and the byte offset.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/error.h"

namespace pysparse {

class ByteCursor {
public:
    ByteCursor(const uint8_t* data, uint64_t size, const std::string& source)
        : data_(data), size_(size), source_(source) {}

    uint64_t pos() const { return pos_; }
    uint64_t size() const { return size_; }
    uint64_t remaining() const { return size_ - pos_; }
    const uint8_t* ptr() const { return data_ + pos_; }

    // What is being read now, e.g. "metadata key 'general.name'"; prefixed to every error.
    void set_context(std::string context) { context_ = std::move(context); }
    const std::string& context() const { return context_; }

    // Throws FormatError "<source>: <context>: <problem> (byte offset N)".
    [[noreturn]] void fail(const std::string& problem, uint64_t offset) const {
        std::string msg = source_ + ": ";
        if (!context_.empty()) msg += context_ + ": ";
        msg += problem + " (byte offset " + std::to_string(offset) + ")";
        throw FormatError(msg);
    }

    // Ensures n more bytes exist; `what` names the item for the error ("tensor count", "string of 12 bytes").
    void need(uint64_t n, const char* what) const {
        if (n > remaining())
            fail(std::string("file ends inside ") + what + ": needs " + std::to_string(n) + " bytes, " +
                     std::to_string(remaining()) + " left",
                 pos_);
    }

    void skip(uint64_t n, const char* what) {
        need(n, what);
        pos_ += n;
    }

    template <typename T>
    T read(const char* what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, data_ + pos_, sizeof(T));  // unaligned-safe; GGUF is little-endian like every host we build for
        pos_ += sizeof(T);
        return v;
    }
    uint32_t u32(const char* what) { return read<uint32_t>(what); }
    uint64_t u64(const char* what) { return read<uint64_t>(what); }

    // A GGUF string: uint64 length, then that many bytes (not NUL-terminated). A view into the buffer.
    std::string_view str(const char* what) {
        uint64_t at = pos_;
        uint64_t len = u64(what);
        if (len > remaining())
            fail(std::string(what) + " has length " + std::to_string(len) + " but only " +
                     std::to_string(remaining()) + " bytes are left in the file",
                 at);
        std::string_view s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
        pos_ += len;
        return s;
    }

private:
    const uint8_t* data_;
    uint64_t size_;
    uint64_t pos_ = 0;
    const std::string& source_;
    std::string context_;
};

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the GGUF reader assumes a little-endian host");

}  // namespace pysparse
