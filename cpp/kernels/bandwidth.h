// A read-bandwidth probe: how fast this machine streams a buffer of a given size into the cores. Decode matvecs are
// bound by it, so benchmarks report achieved GB/s next to this figure.
#pragma once
#include <cstddef>
#include <cstdint>

namespace pysparse {

// Sums a `bytes`-sized buffer (allocated and touched once) with wide loads, split across ThreadPool::global() set to
// `threads` for the measurement (its previous size is restored afterwards), `reps` timed passes after one warm-up
// pass. Returns the median over passes of bytes / seconds, in GB/s (1e9 bytes per second).
double measure_read_bandwidth(size_t bytes, int threads, int reps);

// Sum of n 64-bit words (the kernel the probe times; exposed for the tests). p is 32-byte aligned, n % 16 == 0.
uint64_t sum_words_generic(const uint64_t* p, size_t n);
#if defined(PYSPARSE_X86)
uint64_t sum_words_avx2(const uint64_t* p, size_t n);  // bandwidth_avx2.cpp
#endif

// The probe's kernel set (the dispatch idiom: common/dispatch.h); the AVX-512 path falls back to the AVX2 loop.
struct BandwidthKernels {
    uint64_t (*sum_words)(const uint64_t* p, size_t n);
};
extern const BandwidthKernels kBandwidthGeneric;  // bandwidth.cpp
#if defined(PYSPARSE_X86)
extern const BandwidthKernels kBandwidthAvx2;  // bandwidth_avx2.cpp
#endif

}  // namespace pysparse
