// AVX-512 (F, BW, VL, DQ) register-blocked tiles of the batched matmul for the 32-element formats Q8_0, Q4_0 and
// Q5_0, included by two files that differ in one macro and their compile flags: matvec_avx512.cpp
// (PYSPARSE_GEMM_VNNI 0: integer dots with VPMADDUBSW + VPMADDWD) and matvec_avx512vnni.cpp (1, built with
// -mavx512vnni: VPDPBUSD). Everything here has internal linkage, so the two builds never share an inline
// function compiled for the other's flags.
//
// A tile is kGemmRows rows x kGemmTokens tokens (4 x 4) with one zmm accumulator per (row, token): the low 256
// bits hold the even blocks' sums and the high 256 bits the odd blocks', which is exactly the state of the
// single-row kernels the AVX-512 table takes (vec_dot_q8_0/q4_0_q8_0_avx2: two ymm accumulators, even and odd
// blocks; vec_dot_32_avx512<Q5_0T>: one zmm, blocks b | b + 1). Per (row, token) and block pair the tile runs the
// single-row kernel's float operations in its order (the exact int32 sums of each 4 products, converted; the
// float d_w * d_x; one FMA into the accumulator; the same final horizontal sum), so every output is bitwise the
// matvec's. What the tile saves: each weight block pair is unpacked once for 4 tokens and each activation block
// pair loaded (and its offset sum computed) once for 4 rows, and the 16 FMA chains hide each other's latency.
//
// Integer dots, exact in every form (so they equal the single-row kernels' int32 lanes):
//   VNNI: weights as unsigned bytes u = q + offset (Q8_0: w ^ 0x80 = w + 128; Q4_0: the nibble, offset 8; Q5_0:
//         the 5-bit value, offset 16), so sum (q) x = VPDPBUSD(-offset * sum x, u, x): the offset term is one
//         VPDPBUSD per token and block pair, and a (row, token) pair costs one VPDPBUSD.
//   plain: Q4_0 / Q5_0 as the reference, maddubs(u, x) - maddubs(offset, x) in int16 (the second term once per
//         token); Q8_0 as the AVX2 kernel, |w| x (x negated where w < 0) — AVX-512 has no vpsignb, so a masked
//         subtraction negates — then VPMADDWD with ones.
#pragma once
#include <immintrin.h>

#include <cstring>

#include "common/simd_avx512.h"
#include "kernels/vec_dot.h"
#include "quant/blocks.h"

#ifndef PYSPARSE_GEMM_VNNI
#error "define PYSPARSE_GEMM_VNNI (0 or 1) before including gemm_avx512_impl.h"
#endif

namespace pysparse {
namespace {

namespace gemm {

inline uint16_t fp16_bits(const fp16_t& h) {
    uint16_t v;
    std::memcpy(&v, &h, 2);
    return v;
}

// The fp16 scales of blocks b and b + 1 of 4 rows (or tokens) p[i] -> 8 floats [p0.b .. p3.b, p0.b+1 .. p3.b+1]
// (exact conversions); lane_pair(v, i) broadcasts p_i's two to the low / high 256 bits, the accumulators' layout.
template <class B>
inline __m256 scales_4x2(const B* const* p, int64_t b) {
    __m128i h = _mm_cvtsi32_si128(fp16_bits(p[0][b].d));
    h = _mm_insert_epi16(h, fp16_bits(p[1][b].d), 1);
    h = _mm_insert_epi16(h, fp16_bits(p[2][b].d), 2);
    h = _mm_insert_epi16(h, fp16_bits(p[3][b].d), 3);
    h = _mm_insert_epi16(h, fp16_bits(p[0][b + 1].d), 4);
    h = _mm_insert_epi16(h, fp16_bits(p[1][b + 1].d), 5);
    h = _mm_insert_epi16(h, fp16_bits(p[2][b + 1].d), 6);
    h = _mm_insert_epi16(h, fp16_bits(p[3][b + 1].d), 7);
    return _mm256_cvtph_ps(h);
}
// The last, odd block: block b's scales and zeros (the high halves then add 0 * 0, leaving the odd sums as they are).
template <class B>
inline __m256 scales_4x1(const B* const* p, int64_t b) {
    __m128i h = _mm_cvtsi32_si128(fp16_bits(p[0][b].d));
    h = _mm_insert_epi16(h, fp16_bits(p[1][b].d), 1);
    h = _mm_insert_epi16(h, fp16_bits(p[2][b].d), 2);
    h = _mm_insert_epi16(h, fp16_bits(p[3][b].d), 3);
    return _mm256_cvtph_ps(h);  // lanes 4..7 are fp16 zeros
}
alignas(64) const int32_t kLanePairIdx[4][16] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4}, {1, 1, 1, 1, 1, 1, 1, 1, 5, 5, 5, 5, 5, 5, 5, 5},
    {2, 2, 2, 2, 2, 2, 2, 2, 6, 6, 6, 6, 6, 6, 6, 6}, {3, 3, 3, 3, 3, 3, 3, 3, 7, 7, 7, 7, 7, 7, 7, 7}};
inline __m512 lane_pair(__m256 v, int i) {
    const __m512i idx = _mm512_loadu_si512(kLanePairIdx[i]);
    return _mm512_castsi512_ps(_mm512_permutexvar_epi32(idx, _mm512_castsi256_si512(_mm256_castps_si256(v))));
}

// Per weight format: the block type, its 32 quants as bytes (Q8_0 signed, else unsigned), the offset taken off
// the unsigned quants, and the final horizontal sum of the single-row kernel the path picks (hsum_f32x8:
// common/simd_x86.h, as matvec_avx2.cpp's).
// sum_blocks2 (matvec_avx2.cpp): hsum(even + odd) + (m0 + m1); mins = m0 + m1, 0.0f + 0.0f for the formats
// without a min.
inline float finish_avx2_pair(__m512 acc, float mins = 0.0f + 0.0f) {
    const __m256 lo = _mm512_castps512_ps256(acc);
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
    return hsum_f32x8(_mm256_add_ps(lo, hi)) + mins;
}
// vec_dot_32_avx512 (matvec_avx512.cpp): reduce_add(acc) + summs, summs = 0.0f + (0.0f + 0.0f) for Q5_0.
inline float finish_avx512(__m512 acc, float summs = 0.0f + (0.0f + 0.0f)) {
    return _mm512_reduce_add_ps(acc) + summs;
}

struct Q8_0F {
    using BW = block_q8_0;
    static constexpr bool kSigned = true;
    static constexpr int kOffset = 128;  // VNNI only: w ^ 0x80 = w + 128 as an unsigned byte
    static __m256i quants(const BW& w) { return load256(w.qs); }
    static float finish(__m512 acc) { return finish_avx2_pair(acc); }
};
struct Q4_0F {
    using BW = block_q4_0;
    static constexpr bool kSigned = false;
    static constexpr int kOffset = 8;
    static __m256i quants(const BW& w) { return nibbles_32(w.qs); }
    static float finish(__m512 acc) { return finish_avx2_pair(acc); }
};
struct Q5_0F {
    using BW = block_q5_0;
    static constexpr bool kSigned = false;
    static constexpr int kOffset = 16;
    static __m256i quants(const BW& w) {  // nibble + 16 where bit j of qh is set
        const __m256i nib = nibbles_32(w.qs);
        return _mm256_mask_add_epi8(nib, static_cast<__mmask32>(load_u32(w.qh)), nib, _mm256_set1_epi8(16));
    }
    static float finish(__m512 acc) { return finish_avx512(acc); }
};

// A weight block pair made ready for the integer dot: unsigned bytes (and, plain Q8_0, where w < 0).
struct WPair {
    __m512i u;
    __mmask64 neg;
};
// An activation block pair: its bytes and the offset term (VNNI: -offset * sum of each 4 x as int32; plain
// Q4_0 / Q5_0: offset * each pair of x as int16).
struct XPair {
    __m512i x, off;
};

template <class F>
inline WPair prep_w(__m512i q) {
    WPair w;
#if PYSPARSE_GEMM_VNNI
    w.u = F::kSigned ? _mm512_xor_si512(q, _mm512_set1_epi8(static_cast<char>(0x80))) : q;
    w.neg = 0;
#else
    if (F::kSigned) {
        w.u = _mm512_abs_epi8(q);
        w.neg = _mm512_movepi8_mask(q);
    } else {
        w.u = q;
        w.neg = 0;
    }
#endif
    return w;
}

template <class F>
inline XPair prep_x(__m512i x) {
    XPair p;
    p.x = x;
#if PYSPARSE_GEMM_VNNI
    p.off = _mm512_sub_epi32(_mm512_setzero_si512(),
                             _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(static_cast<char>(F::kOffset)), x));
#else
    p.off = F::kSigned ? _mm512_setzero_si512() : _mm512_maddubs_epi16(_mm512_set1_epi8(static_cast<char>(F::kOffset)), x);
#endif
    return p;
}

// The 16 int32 lanes sum_{4 products} w x of a (row, token) block pair, as float.
template <class F>
inline __m512 dot_pair(const WPair& w, const XPair& x) {
#if PYSPARSE_GEMM_VNNI
    return _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(x.off, w.u, x.x));
#else
    const __m512i ones = _mm512_set1_epi16(1);
    if (F::kSigned) {
        const __m512i xs = _mm512_mask_sub_epi8(x.x, w.neg, _mm512_setzero_si512(), x.x);
        return _mm512_cvtepi32_ps(_mm512_madd_epi16(_mm512_maddubs_epi16(w.u, xs), ones));
    }
    return _mm512_cvtepi32_ps(_mm512_madd_epi16(_mm512_sub_epi16(_mm512_maddubs_epi16(w.u, x.x), x.off), ones));
#endif
}

// One block pair (b, b + 1), or with kLast the odd last block b alone (zeros in the high halves), of every
// (row, token) pair of the tile.
template <class F, bool kLast>
inline void tile_step(const typename F::BW* const* w, const block_q8_0* const* x, int64_t b, __m512 (*acc)[kGemmTokens]) {
    constexpr int RM = kGemmRows, RN = kGemmTokens;
    const __m256i z = _mm256_setzero_si256();
    const __m256 dw = kLast ? scales_4x1(w, b) : scales_4x2(w, b);
    const __m256 dx = kLast ? scales_4x1(x, b) : scales_4x2(x, b);
    WPair wp[RM];
    for (int r = 0; r < RM; ++r) wp[r] = prep_w<F>(join(F::quants(w[r][b]), kLast ? z : F::quants(w[r][b + 1])));
    for (int t = 0; t < RN; ++t) {
        const XPair xp = prep_x<F>(join(load256(x[t][b].qs), kLast ? z : load256(x[t][b + 1].qs)));
        const __m512 dxt = lane_pair(dx, t);
        for (int r = 0; r < RM; ++r)
            acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(lane_pair(dw, r), dxt), dot_pair<F>(wp[r], xp), acc[r][t]);
    }
}

// y[t * ldy + r] for the tile's 4 rows (w, stride rb bytes) and 4 tokens (x, stride xb bytes; Q8_0 activations).
template <class F>
void gemm_32_4x4_avx512(int64_t n, const void* vw, size_t rb, const void* vx, size_t xb, float* y, int64_t ldy) {
    constexpr int RM = kGemmRows, RN = kGemmTokens;
    const typename F::BW* w[RM];
    const block_q8_0* x[RN];
    for (int r = 0; r < RM; ++r)
        w[r] = reinterpret_cast<const typename F::BW*>(static_cast<const uint8_t*>(vw) + r * rb);
    for (int t = 0; t < RN; ++t) x[t] = reinterpret_cast<const block_q8_0*>(static_cast<const uint8_t*>(vx) + t * xb);
    __m512 acc[RM][RN];
    for (int r = 0; r < RM; ++r)
        for (int t = 0; t < RN; ++t) acc[r][t] = _mm512_setzero_ps();
    const int64_t nb = n / 32;
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) tile_step<F, false>(w, x, b, acc);
    if (b < nb) tile_step<F, true>(w, x, b, acc);
    for (int r = 0; r < RM; ++r)
        for (int t = 0; t < RN; ++t) y[t * ldy + r] = F::finish(acc[r][t]);
}

}  // namespace gemm

}  // namespace
}  // namespace pysparse
