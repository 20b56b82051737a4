// Force-included (-include) into every *_avx512.cpp of a PYSPARSE_EMULATE_AVX512 test build (see CMakeLists.txt and
// cpp/tests/run_avx512_emulated.sh): the files are compiled with the AVX2 flags only, and every AVX-512 intrinsic
// they use resolves to SIMDe's portable implementation (libsimde-dev 0.7.4, via its native aliases) or, where
// SIMDe 0.7.4 has none or a wrong one, to the lane-by-lane version below, written from the Intel Intrinsics Guide.
// Each intrinsic the kernels use is checked against a scalar model of its documented semantics in check_shim.cpp;
// a new intrinsic in a kernel needs a line there too (and here, if SIMDe lacks it: the build then fails with
// "inlining failed ... target specific option mismatch" on GCC's native version).
#pragma once
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <immintrin.h>  // GCC's types (__m512, __mmask16, ...), which SIMDe then reuses
#include <simde/x86/avx512.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace avx512_shim {

template <class T, int N, class V>
inline void to_lanes(const V& v, T (&out)[N]) {
    static_assert(sizeof(V) == sizeof(T) * N, "lane count");
    std::memcpy(out, &v, sizeof(V));
}
template <class V, class T, int N>
inline V from_lanes(const T (&in)[N]) {
    static_assert(sizeof(V) == sizeof(T) * N, "lane count");
    V v;
    std::memcpy(&v, in, sizeof(V));
    return v;
}

// Widening conversions (VCVTDQ2PS, VPMOVSXBD, VPMOVZXBD, VPMOVZXWD, VCVTPH2PS, VCVTPS2PD).
inline simde__m512 cvtepi32_ps(simde__m512i a) {
    int32_t i[16]; float f[16];
    to_lanes(a, i);
    for (int k = 0; k < 16; ++k) f[k] = (float)i[k];  // round to nearest even, as MXCSR's default
    return from_lanes<simde__m512>(f);
}
inline simde__m512i cvtepi8_epi32(simde__m128i a) {
    int8_t s[16]; int32_t d[16];
    to_lanes(a, s);
    for (int k = 0; k < 16; ++k) d[k] = s[k];
    return from_lanes<simde__m512i>(d);
}
inline simde__m512i cvtepu8_epi32(simde__m128i a) {
    uint8_t s[16]; int32_t d[16];
    to_lanes(a, s);
    for (int k = 0; k < 16; ++k) d[k] = s[k];
    return from_lanes<simde__m512i>(d);
}
inline simde__m512i cvtepu16_epi32(simde__m256i a) {
    uint16_t s[16]; int32_t d[16];
    to_lanes(a, s);
    for (int k = 0; k < 16; ++k) d[k] = s[k];
    return from_lanes<simde__m512i>(d);
}
inline simde__m512 cvtph_ps(simde__m256i a) {
    uint16_t h[16]; float f[16];
    to_lanes(a, h);
    for (int k = 0; k < 16; ++k) f[k] = _cvtsh_ss(h[k]);  // F16C, exact
    return from_lanes<simde__m512>(f);
}
inline simde__m512d cvtps_pd(simde__m256 a) {
    float f[8]; double d[8];
    to_lanes(a, f);
    for (int k = 0; k < 8; ++k) d[k] = f[k];
    return from_lanes<simde__m512d>(d);
}

// VPADDB with a write mask (AVX512BW + VL): lanes whose mask bit is clear keep src.
inline simde__m256i mask_add_epi8(simde__m256i src, uint32_t k, simde__m256i a, simde__m256i b) {
    int8_t s[32], x[32], y[32];
    to_lanes(src, s); to_lanes(a, x); to_lanes(b, y);
    for (int i = 0; i < 32; ++i)
        if ((k >> i) & 1) s[i] = (int8_t)(uint8_t)((uint8_t)x[i] + (uint8_t)y[i]);
    return from_lanes<simde__m256i>(s);
}

// Masked load: lanes with a clear bit are zero and their memory is not read (the fault suppression the kernels
// rely on at a row's end).
inline simde__m512i maskz_loadu_epi32(uint16_t k, const void* p) {
    int32_t d[16];
    for (int i = 0; i < 16; ++i) {
        d[i] = 0;
        if ((k >> i) & 1) std::memcpy(&d[i], static_cast<const char*>(p) + 4 * i, 4);
    }
    return from_lanes<simde__m512i>(d);
}

// Reductions in the Guide's order: halves added lane-wise (lane j + lane j + len/2) until one is left.
template <class T, int N>
inline T reduce_add_tree(T (&v)[N]) {
    for (int len = N / 2; len >= 1; len /= 2)
        for (int j = 0; j < len; ++j) v[j] = v[j] + v[j + len];
    return v[0];
}
inline float reduce_add_ps(simde__m512 a) { float f[16]; to_lanes(a, f); return reduce_add_tree(f); }
inline double reduce_add_pd(simde__m512d a) { double d[8]; to_lanes(a, d); return reduce_add_tree(d); }
inline uint32_t reduce_max_epu32(simde__m512i a) {
    uint32_t u[16];
    to_lanes(a, u);
    uint32_t m = u[0];
    for (int k = 1; k < 16; ++k) m = u[k] > m ? u[k] : m;
    return m;
}

// Aligned stores fault (#GP) on real hardware when the address is not 64-byte aligned; SIMDe's do not, so the
// emulation checks it.
inline void require_aligned64(const void* p, const char* what) {
    if (reinterpret_cast<uintptr_t>(p) % 64) {
        std::fprintf(stderr, "%s: address %p is not 64-byte aligned (a fault on AVX-512 hardware)\n", what, p);
        std::abort();
    }
}
inline simde__m512i zextsi256_si512(simde__m256i a) {
    return simde_mm512_inserti64x4(simde_mm512_setzero_si512(), a, 0);
}
// Word lane i: v's where bit i of k is set, src's elsewhere (the masked 16-bit shifts below).
inline simde__m512i mask_words(simde__m512i src, uint32_t k, simde__m512i v) {
    uint16_t s[32], w[32];
    to_lanes(src, s);
    to_lanes(v, w);
    for (int i = 0; i < 32; ++i) s[i] = ((k >> i) & 1) ? w[i] : s[i];
    return from_lanes<simde__m512i>(s);
}
inline simde__m512i mask_srli_epi16(simde__m512i src, uint32_t k, simde__m512i a, unsigned imm) {
    return mask_words(src, k, simde_mm512_srli_epi16(a, imm));
}
inline simde__m512i mask_slli_epi16(simde__m512i src, uint32_t k, simde__m512i a, unsigned imm) {
    return mask_words(src, k, simde_mm512_slli_epi16(a, imm));
}
inline simde__m512i load_si512(const void* p) {
    require_aligned64(p, "_mm512_load_si512");
    return simde_mm512_loadu_si512(p);
}
inline void store_si512(void* p, simde__m512i a) {
    require_aligned64(p, "_mm512_store_si512");
    simde_mm512_storeu_si512(p, a);
}
inline void store_pd(void* p, simde__m512d a) {
    require_aligned64(p, "_mm512_store_pd");
    simde_mm512_storeu_pd(p, a);
}

}  // namespace avx512_shim

// Missing from SIMDe 0.7.4 (GCC's native AVX-512 versions would be used otherwise, which do not compile here).
#define _mm512_cvtepi32_ps(a) avx512_shim::cvtepi32_ps(a)
#define _mm512_cvtepi8_epi32(a) avx512_shim::cvtepi8_epi32(a)
#define _mm512_cvtepu8_epi32(a) avx512_shim::cvtepu8_epi32(a)
#define _mm512_cvtepu16_epi32(a) avx512_shim::cvtepu16_epi32(a)
#define _mm512_cvtph_ps(a) avx512_shim::cvtph_ps(a)
#define _mm512_cvtps_pd(a) avx512_shim::cvtps_pd(a)
#define _mm256_mask_add_epi8(src, k, a, b) avx512_shim::mask_add_epi8(src, k, a, b)
#define _mm512_maskz_loadu_epi32(k, p) avx512_shim::maskz_loadu_epi32(k, p)
#define _mm512_reduce_add_ps(a) avx512_shim::reduce_add_ps(a)
#define _mm512_reduce_add_pd(a) avx512_shim::reduce_add_pd(a)
#define _mm512_reduce_max_epu32(a) avx512_shim::reduce_max_epu32(a)
#define _mm512_zextsi256_si512(a) avx512_shim::zextsi256_si512(a)
#define _mm512_mask_srli_epi16(src, k, a, imm) avx512_shim::mask_srli_epi16(src, k, a, imm)
#undef _mm512_mask_slli_epi16
#define _mm512_mask_slli_epi16(src, k, a, imm) avx512_shim::mask_slli_epi16(src, k, a, imm)

#undef _mm512_load_si512
#define _mm512_load_si512(p) avx512_shim::load_si512(p)
#undef _mm512_store_si512
#define _mm512_store_si512(p, a) avx512_shim::store_si512(p, a)
#undef _mm512_store_pd
#define _mm512_store_pd(p, a) avx512_shim::store_pd(p, a)

// AVX-VNNI (the VEX forms the *_avxvnni.cpp files use, also force-included there): the same operations as the
// AVX-512 VL + VNNI forms, which SIMDe has.
#undef _mm256_dpbusd_avx_epi32
#define _mm256_dpbusd_avx_epi32(src, a, b) simde_mm256_dpbusd_epi32(src, a, b)
#undef _mm256_dpwssd_avx_epi32
#define _mm256_dpwssd_avx_epi32(src, a, b) simde_mm256_dpwssd_epi32(src, a, b)

// SIMDe 0.7.4 aliases _mm512_madd_epi16 with four arguments (src, k, a, b; madd.h); the intrinsic has two.
#undef _mm512_madd_epi16
#define _mm512_madd_epi16(a, b) simde_mm512_madd_epi16(a, b)
