#include "common/aligned_bytes.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "common/error.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace pysparse {

AlignedBytes::AlignedBytes(size_t n) : n_(n) {
    if (n == 0) return;
    const size_t align = n >= ((size_t)4 << 20) ? ((size_t)2 << 20) : 64;
    const size_t padded = (n + align - 1) / align * align;  // aligned_alloc wants a multiple of the alignment
    void* p = std::aligned_alloc(align, padded);
    if (!p) throw Error("out of memory allocating " + std::to_string(padded) + " bytes");
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align > 64) madvise(p, padded, MADV_HUGEPAGE);  // advice only: where refused, 4 KiB pages
#endif
    std::memset(p, 0, padded);
    ptr_.reset(static_cast<uint8_t*>(p));
}

void AlignedBytes::Free::operator()(uint8_t* p) const { std::free(p); }

}  // namespace pysparse
