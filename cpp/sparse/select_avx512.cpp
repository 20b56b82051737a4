// AVX-512 selection passes: the AVX2 passes with 16 lanes, mask compares and VPCOMPRESSD (AVX512F only).
// Compress into a register, then one full-width store: VPCOMPRESSD with a memory destination is microcoded on
// AMD Zen 4 (perf, top-p over 8960 entries: collect and emit_ge were 63% of the call's time with it). The full
// store writes up to 15 entries past the result, which stays inside the caller's n-entry buffer (k <= i).
#include <immintrin.h>

#include "sparse/select_kernels.h"

namespace pysparse::select_detail {

namespace {

uint32_t max_abs_bits_avx512(const float* x, int64_t n) {
    const __m512i absmask = _mm512_set1_epi32(0x7FFFFFFF);
    __m512i vmax = _mm512_setzero_si512();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        vmax = _mm512_max_epu32(vmax, _mm512_and_si512(_mm512_loadu_si512(x + i), absmask));
    if (i < n) {
        __mmask16 tail = (__mmask16)((1u << (n - i)) - 1);
        vmax = _mm512_max_epu32(vmax, _mm512_and_si512(_mm512_maskz_loadu_epi32(tail, x + i), absmask));
    }
    return _mm512_reduce_max_epu32(vmax);
}

uint32_t hist_sum_avx512(const float* x, int64_t n, double* sum) {
    const __m512i absmask = _mm512_set1_epi32(0x7FFFFFFF);
    __m512i vmax = _mm512_setzero_si512();
    alignas(64) uint32_t bucket[16];
    alignas(64) double val[16];
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i bits = _mm512_and_si512(_mm512_loadu_si512(x + i), absmask);
        vmax = _mm512_max_epu32(vmax, bits);
        __m512i bk = _mm512_srli_epi32(bits, kBucketShift);
        __m512 a = _mm512_castsi512_ps(bits);
        __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(a));
        __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
        __m512i first = _mm512_permutexvar_epi32(_mm512_setzero_si512(), bk);
        if (_mm512_cmpeq_epi32_mask(bk, first) == 0xFFFF) {
            // All 16 in one bucket: one add to memory instead of a chain of 16 (see select_avx2.cpp).
            sum[_mm_cvtsi128_si32(_mm512_castsi512_si128(bk))] += _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
            continue;
        }
        _mm512_store_si512(bucket, bk);
        _mm512_store_pd(val, lo);
        _mm512_store_pd(val + 8, hi);
        for (int j = 0; j < 16; ++j) sum[bucket[j]] += val[j];
    }
    uint32_t m = _mm512_reduce_max_epu32(vmax);
    for (; i < n; ++i) {
        uint32_t b = abs_bits(x[i]);
        m = b > m ? b : m;
        sum[b >> kBucketShift] += (double)from_bits(b);
    }
    return m;
}

uint32_t hist_count_avx512(const float* x, int64_t n, uint32_t* cnt) {
    const __m512i absmask = _mm512_set1_epi32(0x7FFFFFFF);
    __m512i vmax = _mm512_setzero_si512();
    alignas(64) uint32_t bucket[16];
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i bits = _mm512_and_si512(_mm512_loadu_si512(x + i), absmask);
        vmax = _mm512_max_epu32(vmax, bits);
        _mm512_store_si512(bucket, _mm512_srli_epi32(bits, kBucketShift));
        for (int j = 0; j < 16; ++j) cnt[bucket[j]] += 1;
    }
    uint32_t m = _mm512_reduce_max_epu32(vmax);
    for (; i < n; ++i) {
        uint32_t b = abs_bits(x[i]);
        m = b > m ? b : m;
        cnt[b >> kBucketShift] += 1;
    }
    return m;
}

int64_t collect_avx512(const float* x, int64_t n, uint32_t lo, uint32_t hi, float* out) {
    const __m512i absmask = _mm512_set1_epi32(0x7FFFFFFF);
    const __m512i vlo = _mm512_set1_epi32((int)lo), vrange = _mm512_set1_epi32((int)(hi - lo));
    int64_t k = 0, i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i bits = _mm512_and_si512(_mm512_loadu_si512(x + i), absmask);
        __mmask16 in = _mm512_cmple_epu32_mask(_mm512_sub_epi32(bits, vlo), vrange);
        _mm512_storeu_si512(out + k, _mm512_maskz_compress_epi32(in, bits));  // k <= i: within out[0, n)
        k += __builtin_popcount((unsigned)in);
    }
    for (; i < n; ++i) {
        uint32_t b = abs_bits(x[i]);
        out[k] = from_bits(b);
        k += (b - lo) <= (hi - lo);
    }
    return k;
}

int64_t emit_ge_avx512(const float* x, int64_t n, uint32_t tbits, int32_t* idx) {
    const __m512i absmask = _mm512_set1_epi32(0x7FFFFFFF);
    const __m512i vt = _mm512_set1_epi32((int)tbits), step = _mm512_set1_epi32(16);
    __m512i pos = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int64_t k = 0, i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i bits = _mm512_and_si512(_mm512_loadu_si512(x + i), absmask);
        __mmask16 ge = _mm512_cmpge_epu32_mask(bits, vt);
        _mm512_storeu_si512(idx + k, _mm512_maskz_compress_epi32(ge, pos));  // k <= i: within idx[0, n)
        k += __builtin_popcount((unsigned)ge);
        pos = _mm512_add_epi32(pos, step);
    }
    for (; i < n; ++i) {
        idx[k] = (int32_t)i;
        k += abs_bits(x[i]) >= tbits;
    }
    return k;
}

}  // namespace

constexpr SelectKernels kSelectAvx512 = {max_abs_bits_avx512, hist_sum_avx512, hist_count_avx512, collect_avx512,
                                     emit_ge_avx512};

}  // namespace pysparse::select_detail
