// Helpers shared by the x86 kernel files compiled with the AVX2 flags or more (*_avx2.cpp, and the AVX-512 files,
// whose flags include AVX2, FMA and F16C: CMakeLists.txt PYSPARSE_ISA_FLAGS_*). AVX-512 helpers: simd_avx512.h.
//
// Internal linkage on purpose (an anonymous namespace in a header): every ISA file gets its own copy, compiled
// with that file's flags. With external linkage the linker would keep one file's copy of an inline function for
// all of them, e.g. an EVEX-encoded one from an AVX-512 file called by the AVX2 path on a CPU without AVX-512.
#pragma once
#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "common/simd_x86.h needs the AVX2 flags (-mavx2 -mfma -mf16c): include it only from *_avx2 / *_avx512 files"
#endif
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "quant/blocks.h"

// Fully unroll the next loop over a template-constant count (rows, tokens): per-row accumulators indexed by a
// rolled loop's counter live on the stack, not in registers (GCC and Clang both read this pragma).
#define PYSPARSE_UNROLL _Pragma("GCC unroll 16")

namespace pysparse {
namespace {

// Horizontal sums of float lanes, in a fixed order (the kernels' results depend on it bit for bit).
inline float hsum_f32x8(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

// hsum_f32x8 of N vectors, out[i] = hsum_f32x8(v[i]) bit for bit: four at a time share one transposed tree (the
// same additions per vector, in the same order), the rest one by one.
template <int N>
inline void hsum_f32x8_n(const __m256* v, float* out) {
    int i = 0;
    for (; i + 4 <= N; i += 4) {
        // [lo128 + hi128 of v0 | of v1], [of v2 | of v3]
        const __m256 z01 = _mm256_add_ps(_mm256_permute2f128_ps(v[i], v[i + 1], 0x31),
                                         _mm256_permute2f128_ps(v[i], v[i + 1], 0x20));
        const __m256 z23 = _mm256_add_ps(_mm256_permute2f128_ps(v[i + 2], v[i + 3], 0x31),
                                         _mm256_permute2f128_ps(v[i + 2], v[i + 3], 0x20));
        // per 128-bit lane: [r0 + r2, r1 + r3] of v0 then of v2 | of v1 then of v3 (movehl's step in hsum_f32x8)
        const __m256 lo = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(z01), _mm256_castps_pd(z23)));
        const __m256 hi = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(z01), _mm256_castps_pd(z23)));
        const __m256 s = _mm256_add_ps(lo, hi);
        // even + odd: [v0, v2, v0, v2 | v1, v3, v1, v3]
        const __m256 f = _mm256_add_ps(_mm256_shuffle_ps(s, s, _MM_SHUFFLE(2, 0, 2, 0)),
                                       _mm256_shuffle_ps(s, s, _MM_SHUFFLE(3, 1, 3, 1)));
        alignas(32) float t[8];
        _mm256_store_ps(t, f);
        out[i] = t[0], out[i + 1] = t[4], out[i + 2] = t[1], out[i + 3] = t[5];
    }
    for (; i < N; ++i) out[i] = hsum_f32x8(v[i]);
}

inline float hsum_f32x4(__m128 r) {
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

// One fp16 to float (F16C).
inline float f16(fp16_t h) { return _cvtsh_ss(h); }

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

inline uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// 32 nibbles of 16 bytes -> 32 bytes: low nibbles (elements 0..15) then high nibbles (16..31).
inline __m256i nibbles_32(const uint8_t* p) {
    const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_and_si256(_mm256_set1_epi8(0x0F), _mm256_set_m128i(_mm_srli_epi16(t, 4), t));
}

// The 12 packed bytes of Q4_K / Q5_K -> 8 scales then 8 mins (each 6 bits, in a byte), without a per-j branch.
inline void unpack_scales_mins_k4(const uint8_t* s, uint32_t out[4]) {
    constexpr uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
    uint32_t u[3];
    std::memcpy(u, s, 12);
    out[0] = u[0] & kmask1;                                          // scales 0..3
    out[1] = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);        // scales 4..7
    out[2] = u[1] & kmask1;                                          // mins 0..3
    out[3] = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4); // mins 4..7
}

// The 16 bsums of Q8_K -> the 8 sums per 32-element sub-block, times the 8 mins, summed: one int32x4 madd.
inline __m128i mins_dot_bsums(const uint32_t sm[4], const int16_t* bsums) {
    const __m128i mins = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, static_cast<int>(sm[3]), static_cast<int>(sm[2])));
    const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums));
    const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums + 8));
    return _mm_madd_epi16(mins, _mm_hadd_epi16(b0, b1));
}

// A prefetch the compiler must keep: GCC deletes loops whose only effect is _mm_prefetch / __builtin_prefetch
// (found by reading the generated code: the sparse kernels' prefetch loops had vanished).
inline void prefetch_t0(const void* p) { asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p))); }
inline void prefetch_t1(const void* p) { asm volatile("prefetcht1 %0" : : "m"(*static_cast<const char*>(p))); }

}  // namespace
}  // namespace pysparse
