// A zero-initialised byte buffer for data the kernels stream: 64-byte aligned, and buffers of 4 MiB or more
// 2 MiB aligned and advised onto transparent huge pages (Linux, "madvise" mode). With 4 KiB pages the hardware
// prefetchers stop at every page boundary: on AMD Zen 4 a one-thread streaming read ran at 21 GB/s from 4 KiB pages
// and 33-36 GB/s from huge pages; scattered line reads (the sparse kernels) also miss the TLB far less often.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace pysparse {

class AlignedBytes {
public:
    AlignedBytes() = default;
    explicit AlignedBytes(size_t n);
    uint8_t* data() { return ptr_.get(); }
    const uint8_t* data() const { return ptr_.get(); }
    size_t size() const { return n_; }

private:
    struct Free {
        void operator()(uint8_t* p) const;
    };
    std::unique_ptr<uint8_t, Free> ptr_;
    size_t n_ = 0;
};

}  // namespace pysparse
