// AVX2 selection passes: 8 floats a step; compares on abs bit patterns (exact), index compaction with a
// permutation table (no PDEP/PEXT: they are microcoded and slow on AMD before Zen 3).
#include <immintrin.h>

#include "sparse/select_kernels.h"

namespace pysparse::select_detail {

namespace {

// lut[m] = the positions of the set bits of m, packed into bytes (unused bytes 0): a _mm256_permutevar8x32
// index that moves the selected lanes to the front.
struct CompressTable {
    uint64_t lut[256];
    CompressTable() {
        for (int m = 0; m < 256; ++m) {
            uint64_t packed = 0;
            int k = 0;
            for (int j = 0; j < 8; ++j)
                if (m & (1 << j)) packed |= (uint64_t)j << (8 * k++);
            lut[m] = packed;
        }
    }
};
const CompressTable kCompress;

inline __m256i compress_perm(int mask) {
    return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)kCompress.lut[mask]));
}

inline uint32_t hmax_epu32(__m256i v) {
    __m128i m = _mm_max_epu32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xB1));
    return (uint32_t)_mm_cvtsi128_si32(m);
}

uint32_t max_abs_bits_avx2(const float* x, int64_t n) {
    const __m256i absmask = _mm256_set1_epi32(0x7FFFFFFF);
    __m256i m0 = _mm256_setzero_si256(), m1 = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        m0 = _mm256_max_epu32(m0, _mm256_and_si256(_mm256_loadu_si256((const __m256i*)(x + i)), absmask));
        m1 = _mm256_max_epu32(m1, _mm256_and_si256(_mm256_loadu_si256((const __m256i*)(x + i + 8)), absmask));
    }
    uint32_t m = hmax_epu32(_mm256_max_epu32(m0, m1));
    for (; i < n; ++i) {
        uint32_t b = abs_bits(x[i]);
        m = b > m ? b : m;
    }
    return m;
}

// The histograms are a scatter into memory, so they stay scalar; computing the bucket of 8 values at once and
// alternating two accumulators per step is all SIMD buys here.
uint32_t hist_sum_avx2(const float* x, int64_t n, double* sum) {
    const __m256i absmask = _mm256_set1_epi32(0x7FFFFFFF);
    __m256i vmax = _mm256_setzero_si256();
    alignas(32) uint32_t bucket[8];
    alignas(32) double val[8];
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i bits = _mm256_and_si256(_mm256_loadu_si256((const __m256i*)(x + i)), absmask);
        vmax = _mm256_max_epu32(vmax, bits);
        __m256i bk = _mm256_srli_epi32(bits, kBucketShift);
        __m256 a = _mm256_castsi256_ps(bits);
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(a)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1));
        __m256i first = _mm256_permutevar8x32_epi32(bk, _mm256_setzero_si256());
        if (_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(bk, first))) == 0xFF) {
            // All 8 in one bucket (narrow-band data, runs of zeros): one add to memory instead of a chain of 8
            // store-to-load forwards through the same address.
            __m256d s = _mm256_add_pd(lo, hi);
            __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
            sum[_mm256_cvtsi256_si32(bk)] += _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
            continue;
        }
        _mm256_store_si256((__m256i*)bucket, bk);
        _mm256_store_pd(val, lo);
        _mm256_store_pd(val + 4, hi);
        for (int j = 0; j < 8; ++j) sum[bucket[j]] += val[j];
    }
    uint32_t m = hmax_epu32(vmax);
    for (; i < n; ++i) {
        uint32_t b = abs_bits(x[i]);
        m = b > m ? b : m;
        sum[b >> kBucketShift] += (double)from_bits(b);
    }
    return m;
}

uint32_t hist_count_avx2(const float* x, int64_t n, uint32_t* cnt) {
    const __m256i absmask = _mm256_set1_epi32(0x7FFFFFFF);
    __m256i vmax = _mm256_setzero_si256();
    alignas(32) uint32_t bucket[8];
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i bits = _mm256_and_si256(_mm256_loadu_si256((const __m256i*)(x + i)), absmask);
        vmax = _mm256_max_epu32(vmax, bits);
        _mm256_store_si256((__m256i*)bucket, _mm256_srli_epi32(bits, kBucketShift));
        for (int j = 0; j < 8; ++j) cnt[bucket[j]] += 1;
    }
    uint32_t m = hmax_epu32(vmax);
    for (; i < n; ++i) {
        uint32_t b = abs_bits(x[i]);
        m = b > m ? b : m;
        cnt[b >> kBucketShift] += 1;
    }
    return m;
}

int64_t collect_avx2(const float* x, int64_t n, uint32_t lo, uint32_t hi, float* out) {
    const __m256i absmask = _mm256_set1_epi32(0x7FFFFFFF);
    const __m256i vlo = _mm256_set1_epi32((int)lo), vrange = _mm256_set1_epi32((int)(hi - lo));
    int64_t k = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i bits = _mm256_and_si256(_mm256_loadu_si256((const __m256i*)(x + i)), absmask);
        __m256i off = _mm256_sub_epi32(bits, vlo);  // lo <= b <= hi  <=>  (b - lo) <= (hi - lo), unsigned
        __m256i in = _mm256_cmpeq_epi32(_mm256_min_epu32(off, vrange), off);
        int mask = _mm256_movemask_ps(_mm256_castsi256_ps(in));
        // k <= i, so the 8-lane store stays inside out[0, n)
        _mm256_storeu_si256((__m256i*)(out + k), _mm256_permutevar8x32_epi32(bits, compress_perm(mask)));
        k += __builtin_popcount(mask);
    }
    for (; i < n; ++i) {
        uint32_t b = abs_bits(x[i]);
        out[k] = from_bits(b);
        k += (b - lo) <= (hi - lo);
    }
    return k;
}

int64_t emit_ge_avx2(const float* x, int64_t n, uint32_t tbits, int32_t* idx) {
    const __m256i absmask = _mm256_set1_epi32(0x7FFFFFFF);
    const __m256i vt = _mm256_set1_epi32((int)tbits), step = _mm256_set1_epi32(8);
    __m256i pos = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int64_t k = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i bits = _mm256_and_si256(_mm256_loadu_si256((const __m256i*)(x + i)), absmask);
        __m256i ge = _mm256_cmpeq_epi32(_mm256_max_epu32(bits, vt), bits);
        int mask = _mm256_movemask_ps(_mm256_castsi256_ps(ge));
        _mm256_storeu_si256((__m256i*)(idx + k), _mm256_permutevar8x32_epi32(pos, compress_perm(mask)));
        k += __builtin_popcount(mask);
        pos = _mm256_add_epi32(pos, step);
    }
    for (; i < n; ++i) {
        idx[k] = (int32_t)i;
        k += abs_bits(x[i]) >= tbits;
    }
    return k;
}

}  // namespace

constexpr SelectKernels kSelectAvx2 = {max_abs_bits_avx2, hist_sum_avx2, hist_count_avx2, collect_avx2, emit_ge_avx2};

}  // namespace pysparse::select_detail
