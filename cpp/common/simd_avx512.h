// Helpers shared by the AVX-512 kernel files (*_avx512*.cpp, gemm_avx512_impl.h, axpy_avx512_impl.h), on top of the
// AVX2 ones (simd_x86.h). Only for files compiled with the AVX-512 flags (F, BW, VL, DQ), or against the SIMDe
// shim of the emulated test build (PYSPARSE_EMULATE_AVX512). Internal linkage on purpose: simd_x86.h says why.
#pragma once
#if !(defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)) && \
    !defined(PYSPARSE_EMULATE_AVX512)
#error "common/simd_avx512.h needs the AVX-512 flags: include it only from *_avx512* files"
#endif
#include "common/simd_x86.h"

namespace pysparse {
namespace {

// lo in the low 256 bits, hi in the high 256 bits.
inline __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }
inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }
// 32 bytes into both 256-bit halves.
inline __m512i bcast256(const void* p) { return _mm512_broadcast_i64x4(load256(p)); }
// 16 float lanes -> 8: low half + high half (the first step of every 16-lane horizontal sum here).
inline __m256 fold_f32x16(__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

}  // namespace
}  // namespace pysparse
