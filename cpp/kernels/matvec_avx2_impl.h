// AVX2 + FMA + F16C row dot products, included by two files that differ only in one macro and their flags: matvec_avx2.cpp
// (PYSPARSE_AVX_VNNI 0; -mavx2 -mfma -mf16c -mbmi2) and matvec_avxvnni.cpp (1; the same plus -mavxvnni; chosen at run time where the CPU
// has AVX-VNNI, the VEX form of VPDPBUSD / VPDPWSSD on Intel client CPUs from Alder Lake on, and beside AVX-512 on Sapphire Rapids).
// The integer trick of ggml: maddubs multiplies unsigned 8-bit weights by signed 8-bit activations and adds
// pairs into int16 (no overflow here: |w| <= 63 or 128, |x| <= 127), madd with 1 (or the sub-block scale) widens
// to int32, one float FMA per block applies d_w * d_x. With AVX-VNNI, VPDPBUSD does maddubs + madd(1) in one
// instruction and VPDPWSSD madd(scale) + the int32 add: the same exact int32 sums (maddubs never saturates here),
// the same float operations after them, so both files' kernels return bit for bit the same floats.
// Everything here has internal linkage, so each file keeps its own copy built with its own flags.
#pragma once
#include <immintrin.h>

#ifndef PYSPARSE_AVX_VNNI
#error "define PYSPARSE_AVX_VNNI (0 or 1) before including matvec_avx2_impl.h"
#endif

#include "common/simd_x86.h"
#include "kernels/vec_dot.h"
#include "quant/blocks.h"

namespace pysparse {

namespace {

// 32 bits -> 32 bytes, 0xFF where the bit is set.
inline __m256i bits_32(const uint8_t* p) {
    uint32_t b;
    std::memcpy(&b, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(b)), shuf);
    bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

// The int32 sums of the 4 products u8 * s8 in each lane.
inline __m256i sum4_us8(__m256i u, __m256i s) {
#if PYSPARSE_AVX_VNNI
    return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_set1_epi16(1), _mm256_maddubs_epi16(u, s));
#endif
}

// acc + madd(a, b): int16 pairs multiplied and summed into the int32 lanes.
inline __m256i madd_add(__m256i acc, __m256i a, __m256i b) {
#if PYSPARSE_AVX_VNNI
    return _mm256_dpwssd_avx_epi32(acc, a, b);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

// sum of u8 * s8 over 32 bytes, as 8 int32 lanes -> float.
inline __m256 dot_us8(__m256i u, __m256i s) { return _mm256_cvtepi32_ps(sum4_us8(u, s)); }

// The int32 sums of (q - off) * x per 4 bytes for unsigned q (Q4_0: off 8, Q5_0: 16). Without VNNI the offset
// comes off in int16 before one widening (exact: |q x|, |off x| <= 31 * 127 per product, two per int16).
inline __m256i sum4_offset(__m256i q, __m256i x, int off) {
    const __m256i o = _mm256_set1_epi8(static_cast<char>(off));
#if PYSPARSE_AVX_VNNI
    return _mm256_sub_epi32(sum4_us8(q, x), sum4_us8(o, x));
#else
    return _mm256_madd_epi16(_mm256_set1_epi16(1), _mm256_sub_epi16(_mm256_maddubs_epi16(q, x), _mm256_maddubs_epi16(o, x)));
#endif
}

// sum of s8 * s8: move the sign of a onto b so maddubs sees |a| unsigned.
inline __m256 dot_s8(__m256i a, __m256i b) { return dot_us8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a)); }

// ---------------------------------------------------------------- float weights

float vec_dot_f32_avx2(int64_t n, const void* vw, const void* vx) {
    const float* w = static_cast<const float*>(vw);
    const float* x = static_cast<const float*>(vx);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        prefetch_ahead(w + j, 2);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + j), _mm256_loadu_ps(x + j), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + j + 8), _mm256_loadu_ps(x + j + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + j + 16), _mm256_loadu_ps(x + j + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + j + 24), _mm256_loadu_ps(x + j + 24), a3);
    }
    for (; j + 8 <= n; j += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + j), _mm256_loadu_ps(x + j), a0);
    float sum = hsum_f32x8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; j < n; ++j) sum += w[j] * x[j];
    return sum;
}

inline __m256 load_f16x8(const fp16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

float vec_dot_f16_avx2(int64_t n, const void* vw, const void* vx) {
    const fp16_t* w = static_cast<const fp16_t*>(vw);
    const float* x = static_cast<const float*>(vx);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        prefetch_ahead(w + j, 1);
        a0 = _mm256_fmadd_ps(load_f16x8(w + j), _mm256_loadu_ps(x + j), a0);
        a1 = _mm256_fmadd_ps(load_f16x8(w + j + 8), _mm256_loadu_ps(x + j + 8), a1);
        a2 = _mm256_fmadd_ps(load_f16x8(w + j + 16), _mm256_loadu_ps(x + j + 16), a2);
        a3 = _mm256_fmadd_ps(load_f16x8(w + j + 24), _mm256_loadu_ps(x + j + 24), a3);
    }
    for (; j + 8 <= n; j += 8) a0 = _mm256_fmadd_ps(load_f16x8(w + j), _mm256_loadu_ps(x + j), a0);
    float sum = hsum_f32x8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; j < n; ++j) sum += f16(w[j]) * x[j];
    return sum;
}

// bf16 is the top half of a float: widen to 32 bits and shift left by 16.
inline __m256 load_bf16x8(const bf16_t* p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

float vec_dot_bf16_avx2(int64_t n, const void* vw, const void* vx) {
    const bf16_t* w = static_cast<const bf16_t*>(vw);
    const float* x = static_cast<const float*>(vx);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        prefetch_ahead(w + j, 1);
        a0 = _mm256_fmadd_ps(load_bf16x8(w + j), _mm256_loadu_ps(x + j), a0);
        a1 = _mm256_fmadd_ps(load_bf16x8(w + j + 8), _mm256_loadu_ps(x + j + 8), a1);
        a2 = _mm256_fmadd_ps(load_bf16x8(w + j + 16), _mm256_loadu_ps(x + j + 16), a2);
        a3 = _mm256_fmadd_ps(load_bf16x8(w + j + 24), _mm256_loadu_ps(x + j + 24), a3);
    }
    for (; j + 8 <= n; j += 8) a0 = _mm256_fmadd_ps(load_bf16x8(w + j), _mm256_loadu_ps(x + j), a0);
    float sum = hsum_f32x8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; j < n; ++j) sum += bf16_to_fp32(w[j]) * x[j];
    return sum;
}

// ---------------------------------------------------------------- 32-element blocks

// Sum over blocks with two accumulators (even and odd blocks): a single FMA chain would cap the loop at one block
// per FMA latency (4-5 cycles), below memory speed for 18-byte blocks. step(b, acc, summ) adds block b's
// d * q to acc and its min term (Q4_1 / Q5_1) to summ. The order is fixed, so results do not depend on threads.
template <class Step>
inline float sum_blocks2(int64_t nb, Step step) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    float m0 = 0.0f, m1 = 0.0f;
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
        step(b, a0, m0);
        step(b + 1, a1, m1);
    }
    if (b < nb) step(b, a0, m0);
    return hsum_f32x8(_mm256_add_ps(a0, a1)) + (m0 + m1);
}

inline __m256i load_x32(const int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Q4_0: the nibbles go into maddubs unsigned and the -8 offset is taken off as maddubs(8, x) (exact in int16):
// one multiply more but two sign operations less than making the weights signed (~10% faster here).
float vec_dot_q4_0_q8_0_avx2(int64_t n, const void* vw, const void* vx) {
    const block_q4_0* w = static_cast<const block_q4_0*>(vw);
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    return sum_blocks2(n / QK4_0, [&](int64_t b, __m256& acc, float&) {
        prefetch_ahead(&w[b], 1);
        const __m256 d = _mm256_set1_ps(f16(w[b].d) * f16(x[b].d));
        const __m256i qx = load_x32(x[b].qs);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sum4_offset(nibbles_32(w[b].qs), qx, 8)), acc);
    });
}

float vec_dot_q4_1_q8_1_avx2(int64_t n, const void* vw, const void* vx) {
    const block_q4_1* w = static_cast<const block_q4_1*>(vw);
    const block_q8_1* x = static_cast<const block_q8_1*>(vx);
    return sum_blocks2(n / QK4_1, [&](int64_t b, __m256& acc, float& summ) {
        prefetch_ahead(&w[b], 1);
        summ += f16(w[b].m) * x[b].s;
        const __m256 d = _mm256_set1_ps(f16(w[b].d) * x[b].d);
        acc = _mm256_fmadd_ps(d, dot_us8(nibbles_32(w[b].qs), load_x32(x[b].qs)), acc);
    });
}

// Q5_0: q = nibble | fifth bit << 4 in 0..31 as unsigned bytes; the -16 offset is taken off as maddubs(16, x)
// (exact in int16), which is cheaper than signing both operands.
float vec_dot_q5_0_q8_0_avx2(int64_t n, const void* vw, const void* vx) {
    const block_q5_0* w = static_cast<const block_q5_0*>(vw);
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    return sum_blocks2(n / QK5_0, [&](int64_t b, __m256& acc, float&) {
        prefetch_ahead(&w[b], 1);
        const __m256 d = _mm256_set1_ps(f16(w[b].d) * f16(x[b].d));
        const __m256i hi = _mm256_and_si256(bits_32(w[b].qh), _mm256_set1_epi8(0x10));
        const __m256i qw = _mm256_or_si256(nibbles_32(w[b].qs), hi);
        const __m256i qx = load_x32(x[b].qs);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sum4_offset(qw, qx, 16)), acc);
    });
}

float vec_dot_q5_1_q8_1_avx2(int64_t n, const void* vw, const void* vx) {
    const block_q5_1* w = static_cast<const block_q5_1*>(vw);
    const block_q8_1* x = static_cast<const block_q8_1*>(vx);
    return sum_blocks2(n / QK5_1, [&](int64_t b, __m256& acc, float& summ) {
        prefetch_ahead(&w[b], 1);
        summ += f16(w[b].m) * x[b].s;
        const __m256 d = _mm256_set1_ps(f16(w[b].d) * x[b].d);
        const __m256i hi = _mm256_and_si256(bits_32(w[b].qh), _mm256_set1_epi8(0x10));
        const __m256i qw = _mm256_or_si256(nibbles_32(w[b].qs), hi);
        acc = _mm256_fmadd_ps(d, dot_us8(qw, load_x32(x[b].qs)), acc);
    });
}

float vec_dot_q8_0_q8_0_avx2(int64_t n, const void* vw, const void* vx) {
    const block_q8_0* w = static_cast<const block_q8_0*>(vw);
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    return sum_blocks2(n / QK8_0, [&](int64_t b, __m256& acc, float&) {
        prefetch_ahead(&w[b], 1);
        const __m256 d = _mm256_set1_ps(f16(w[b].d) * f16(x[b].d));
        acc = _mm256_fmadd_ps(d, dot_s8(load_x32(w[b].qs), load_x32(x[b].qs)), acc);
    });
}

// ---------------------------------------------------------------- K formats (256-element super-blocks)

// Broadcast the int16 scale of sub-block i (bytes 2i, 2i+1 of a 16 x int16 register) to all lanes.
inline __m256i scale_k4(__m256i scales16, int i) {
    const __m256i shuf = _mm256_set1_epi16(static_cast<short>((2 * i + 1) << 8 | (2 * i)));
    return _mm256_shuffle_epi8(scales16, shuf);
}

float vec_dot_q4_K_q8_K_avx2(int64_t n, const void* vw, const void* vx) {
    const block_q4_K* w = static_cast<const block_q4_K*>(vw);
    const block_q8_K* x = static_cast<const block_q8_K*>(vx);
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        prefetch_ahead(&w[b], 3);
        const float d = f16(w[b].d) * x[b].d, dmin = -f16(w[b].dmin) * x[b].d;
        uint32_t sm[4];
        unpack_scales_mins_k4(w[b].scales, sm);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(mins_dot_bsums(sm, x[b].bsums)), acc_m);
        const __m128i sc = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, static_cast<int>(sm[1]), static_cast<int>(sm[0])));
        const __m256i scales = _mm256_set_m128i(sc, sc);
        const uint8_t* q4 = w[b].qs;
        const int8_t* q8 = x[b].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < QK_K / 64; ++c, q4 += 32, q8 += 64) {
            const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q4));
            const __m256i lo = _mm256_and_si256(bits, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8)));
            __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32)));
            sumi = madd_add(madd_add(sumi, scale_k4(scales, 2 * c), p0), scale_k4(scales, 2 * c + 1), p1);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_f32x8(acc) + hsum_f32x4(acc_m);
}

float vec_dot_q5_K_q8_K_avx2(int64_t n, const void* vw, const void* vx) {
    const block_q5_K* w = static_cast<const block_q5_K*>(vw);
    const block_q8_K* x = static_cast<const block_q8_K*>(vx);
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        prefetch_ahead(&w[b], 3);
        const float d = f16(w[b].d) * x[b].d, dmin = -f16(w[b].dmin) * x[b].d;
        uint32_t sm[4];
        unpack_scales_mins_k4(w[b].scales, sm);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(mins_dot_bsums(sm, x[b].bsums)), acc_m);
        const __m128i sc = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, static_cast<int>(sm[1]), static_cast<int>(sm[0])));
        const __m256i scales = _mm256_set_m128i(sc, sc);
        const uint8_t* q5 = w[b].qs;
        const int8_t* q8 = x[b].qs;
        const __m256i hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qh));
        __m256i hmask = _mm256_set1_epi8(1);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < QK_K / 64; ++c, q5 += 32, q8 += 64) {
            const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q5));
            // bit 2c of qh -> 16 for the low nibbles, bit 2c + 1 -> 16 for the high nibbles.
            const __m256i h0 = _mm256_slli_epi16(_mm256_srli_epi16(_mm256_and_si256(hbits, hmask), 2 * c), 4);
            hmask = _mm256_slli_epi16(hmask, 1);
            const __m256i h1 = _mm256_slli_epi16(_mm256_srli_epi16(_mm256_and_si256(hbits, hmask), 2 * c + 1), 4);
            hmask = _mm256_slli_epi16(hmask, 1);
            const __m256i lo = _mm256_add_epi8(_mm256_and_si256(bits, m4), h0);
            const __m256i hi = _mm256_add_epi8(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), h1);
            __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8)));
            __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32)));
            sumi = madd_add(madd_add(sumi, scale_k4(scales, 2 * c), p0), scale_k4(scales, 2 * c + 1), p1);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_f32x8(acc) + hsum_f32x4(acc_m);
}

// Q6_K: q in 0..63 goes into maddubs unsigned; the -32 offset is taken off as 32 * x per pair (maddubs of 32s
// with x) before the scales. Group scales: 16 int8, two per 32 elements; a 128-bit shuffle puts scale 2k in
// bytes 0..7 and scale 2k + 1 in bytes 8..15, widened to 16 x int16 (one per maddubs pair).
inline __m256i scales_q6(__m128i sc8, int k) {
    const __m128i shuf = _mm_set_epi64x(0x0101010101010101LL * (2 * k + 1), 0x0101010101010101LL * (2 * k));
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, shuf));
}

float vec_dot_q6_K_q8_K_avx2(int64_t n, const void* vw, const void* vx) {
    const block_q6_K* w = static_cast<const block_q6_K*>(vw);
    const block_q8_K* x = static_cast<const block_q8_K*>(vx);
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3), m32 = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        prefetch_ahead(&w[b], 4);
        const float d = f16(w[b].d) * x[b].d;
        const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales));
        const uint8_t* ql = w[b].ql;
        const uint8_t* qh = w[b].qh;
        const int8_t* q8 = x[b].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h, ql += 64, qh += 32, q8 += 128) {
            const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
            const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
            const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
            const __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
            const __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
            const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4));
            const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4));
            const __m256i y0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8));
            const __m256i y1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32));
            const __m256i y2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 64));
            const __m256i y3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 96));
            const __m256i p0 = _mm256_sub_epi16(_mm256_maddubs_epi16(q0, y0), _mm256_maddubs_epi16(m32, y0));
            const __m256i p1 = _mm256_sub_epi16(_mm256_maddubs_epi16(q1, y1), _mm256_maddubs_epi16(m32, y1));
            const __m256i p2 = _mm256_sub_epi16(_mm256_maddubs_epi16(q2, y2), _mm256_maddubs_epi16(m32, y2));
            const __m256i p3 = _mm256_sub_epi16(_mm256_maddubs_epi16(q3, y3), _mm256_maddubs_epi16(m32, y3));
            const int k = 4 * h;
            sumi = madd_add(madd_add(sumi, scales_q6(sc8, k + 0), p0), scales_q6(sc8, k + 1), p1);
            sumi = madd_add(madd_add(sumi, scales_q6(sc8, k + 2), p2), scales_q6(sc8, k + 3), p3);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_f32x8(acc);
}

// ---------------------------------------------------------------- four tokens per row (batched matmul)
// The same operations as vec_dot_q8_0_q8_0_avx2 / vec_dot_q4_K_q8_K_avx2, per token in the same order (so each
// out[t] is bitwise the single-token result); the weight side (|w| and its signs; scales, mins and nibbles) is
// prepared once for all tokens.

void dot4_q8_0_avx2(int64_t n, const void* vw, const void* const* xv, float* out) {
    constexpr int NT = kDot4Tokens;
    const block_q8_0* w = static_cast<const block_q8_0*>(vw);
    const block_q8_0* const* xs = reinterpret_cast<const block_q8_0* const*>(xv);
    __m256 a0[NT], a1[NT];
    for (int t = 0; t < NT; ++t) a0[t] = _mm256_setzero_ps(), a1[t] = _mm256_setzero_ps();
    auto step = [&](int64_t b, __m256* acc) {  // sum_blocks2's step, for every token
        const __m256i wv = load_x32(w[b].qs);
        const __m256i aw = _mm256_sign_epi8(wv, wv);
        const float dw = f16(w[b].d);
        for (int t = 0; t < NT; ++t) {
            const __m256 d = _mm256_set1_ps(dw * f16(xs[t][b].d));
            acc[t] = _mm256_fmadd_ps(d, dot_us8(aw, _mm256_sign_epi8(load_x32(xs[t][b].qs), wv)), acc[t]);
        }
    };
    const int64_t nb = n / QK8_0;
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
        step(b, a0);
        step(b + 1, a1);
    }
    if (b < nb) step(b, a0);
    const float m0 = 0.0f, m1 = 0.0f;  // sum_blocks2's (unused) min sums, added as there
    for (int t = 0; t < NT; ++t) out[t] = hsum_f32x8(_mm256_add_ps(a0[t], a1[t])) + (m0 + m1);
}

void dot4_q4_K_avx2(int64_t n, const void* vw, const void* const* xv, float* out) {
    constexpr int NT = kDot4Tokens;
    const block_q4_K* w = static_cast<const block_q4_K*>(vw);
    const block_q8_K* const* xs = reinterpret_cast<const block_q8_K* const*>(xv);
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc[NT];
    __m128 acc_m[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps(), acc_m[t] = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        uint32_t sm[4];
        unpack_scales_mins_k4(w[b].scales, sm);
        for (int t = 0; t < NT; ++t) {
            const float dmin = -f16(w[b].dmin) * xs[t][b].d;
            acc_m[t] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(mins_dot_bsums(sm, xs[t][b].bsums)), acc_m[t]);
        }
        const __m128i sc = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, static_cast<int>(sm[1]), static_cast<int>(sm[0])));
        const __m256i scales = _mm256_set_m128i(sc, sc);
        const uint8_t* q4 = w[b].qs;
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        for (int c = 0; c < QK_K / 64; ++c, q4 += 32) {
            const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q4));
            const __m256i lo = _mm256_and_si256(bits, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            const __m256i s0 = scale_k4(scales, 2 * c), s1 = scale_k4(scales, 2 * c + 1);
            for (int t = 0; t < NT; ++t) {
                const int8_t* q8 = xs[t][b].qs + 64 * c;
                __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8)));
                __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32)));
                sumi[t] = madd_add(madd_add(sumi[t], s0, p0), s1, p1);
            }
        }
        for (int t = 0; t < NT; ++t) {
            const float d = f16(w[b].d) * xs[t][b].d;
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) out[t] = hsum_f32x8(acc[t]) + hsum_f32x4(acc_m[t]);
}

// Every supported type (the AVX-512 path falls back to these where its set has none: matvec_avx512.cpp), the
// four-token kernels of Q8_0 and Q4_K; no tiles (engine.md: an AVX2 tile measured no faster).
constexpr DenseKernels avx2_dense_set() {
    return {
        TypeKernels<vec_dot_fn>{}
            .with(GGMLType::F32, vec_dot_f32_avx2)
            .with(GGMLType::F16, vec_dot_f16_avx2)
            .with(GGMLType::BF16, vec_dot_bf16_avx2)
            .with(GGMLType::Q4_0, vec_dot_q4_0_q8_0_avx2)
            .with(GGMLType::Q4_1, vec_dot_q4_1_q8_1_avx2)
            .with(GGMLType::Q5_0, vec_dot_q5_0_q8_0_avx2)
            .with(GGMLType::Q5_1, vec_dot_q5_1_q8_1_avx2)
            .with(GGMLType::Q8_0, vec_dot_q8_0_q8_0_avx2)
            .with(GGMLType::Q4_K, vec_dot_q4_K_q8_K_avx2)
            .with(GGMLType::Q5_K, vec_dot_q5_K_q8_K_avx2)
            .with(GGMLType::Q6_K, vec_dot_q6_K_q8_K_avx2),
        TypeKernels<vec_dot4_fn>{}.with(GGMLType::Q8_0, dot4_q8_0_avx2).with(GGMLType::Q4_K, dot4_q4_K_avx2),
        {},
        {},
    };
}

}  // namespace

}  // namespace pysparse
