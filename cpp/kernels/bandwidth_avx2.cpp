// The read-bandwidth probe's inner loop with 256-bit loads (four independent accumulators, so the loop is bound by
// loads, not by the add latency).
#include <immintrin.h>

#include "kernels/bandwidth.h"

namespace pysparse {

uint64_t sum_words_avx2(const uint64_t* p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 16) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i*)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i*)(p + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i*)(p + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i*)(p + i + 12)));
    }
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    alignas(32) uint64_t lanes[4];
    _mm256_store_si256((__m256i*)lanes, a0);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

constexpr BandwidthKernels kBandwidthAvx2 = {sum_words_avx2};

}  // namespace pysparse
