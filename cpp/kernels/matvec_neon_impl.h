// NEON row dot products (aarch64, where NEON is baseline), included by two files that differ only in their flags:
// matvec_neon.cpp (the build's target: baseline armv8-a unless the build targets more) and matvec_neondot.cpp
// (always -march=armv8.2-a+dotprod; chosen at run time where the CPU has dotprod). Integer dot products use SDOT
// where the file is built for dotprod, else the baseline widening multiply + pairwise add (same result: the sums
// are exact). Everything here has internal linkage, so each file keeps its own copy built with its own flags.
#pragma once
#include <arm_neon.h>

#include "kernels/vec_dot.h"
#include "quant/blocks.h"

namespace pysparse {

namespace {

// acc + the 4 partial sums of a[i] * b[i] over 16 int8 lanes (lanes 4k..4k+3 land in acc[k] with SDOT; the
// baseline path groups them differently, which does not matter since every caller sums all 4 lanes).
inline int32x4_t dot_s8(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    const int16x8_t p0 = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t p1 = vmull_high_s8(a, b);
    return vaddq_s32(acc, vaddq_s32(vpaddlq_s16(p0), vpaddlq_s16(p1)));
#endif
}

// Hardware half -> float (FCVT), exact like fp16_to_fp32.
inline float f16(fp16_t h) {
    __fp16 v;
    std::memcpy(&v, &h, 2);
    return static_cast<float>(v);
}

// ---------------------------------------------------------------- float weights

float vec_dot_f32_neon(int64_t n, const void* vw, const void* vx) {
    const float* w = static_cast<const float*>(vw);
    const float* x = static_cast<const float*>(vx);
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(w + j), vld1q_f32(x + j));
        a1 = vfmaq_f32(a1, vld1q_f32(w + j + 4), vld1q_f32(x + j + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(w + j + 8), vld1q_f32(x + j + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(w + j + 12), vld1q_f32(x + j + 12));
    }
    for (; j + 4 <= n; j += 4) a0 = vfmaq_f32(a0, vld1q_f32(w + j), vld1q_f32(x + j));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; j < n; ++j) sum += w[j] * x[j];
    return sum;
}

inline float32x4_t load_f16x4(const fp16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

float vec_dot_f16_neon(int64_t n, const void* vw, const void* vx) {
    const fp16_t* w = static_cast<const fp16_t*>(vw);
    const float* x = static_cast<const float*>(vx);
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        a0 = vfmaq_f32(a0, load_f16x4(w + j), vld1q_f32(x + j));
        a1 = vfmaq_f32(a1, load_f16x4(w + j + 4), vld1q_f32(x + j + 4));
        a2 = vfmaq_f32(a2, load_f16x4(w + j + 8), vld1q_f32(x + j + 8));
        a3 = vfmaq_f32(a3, load_f16x4(w + j + 12), vld1q_f32(x + j + 12));
    }
    for (; j + 4 <= n; j += 4) a0 = vfmaq_f32(a0, load_f16x4(w + j), vld1q_f32(x + j));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; j < n; ++j) sum += f16(w[j]) * x[j];
    return sum;
}

inline float32x4_t load_bf16x4(const bf16_t* p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }

float vec_dot_bf16_neon(int64_t n, const void* vw, const void* vx) {
    const bf16_t* w = static_cast<const bf16_t*>(vw);
    const float* x = static_cast<const float*>(vx);
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        a0 = vfmaq_f32(a0, load_bf16x4(w + j), vld1q_f32(x + j));
        a1 = vfmaq_f32(a1, load_bf16x4(w + j + 4), vld1q_f32(x + j + 4));
        a2 = vfmaq_f32(a2, load_bf16x4(w + j + 8), vld1q_f32(x + j + 8));
        a3 = vfmaq_f32(a3, load_bf16x4(w + j + 12), vld1q_f32(x + j + 12));
    }
    for (; j + 4 <= n; j += 4) a0 = vfmaq_f32(a0, load_bf16x4(w + j), vld1q_f32(x + j));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; j < n; ++j) sum += bf16_to_fp32(w[j]) * x[j];
    return sum;
}

// ---------------------------------------------------------------- 32-element blocks

// 16 bytes of nibbles -> low nibbles (elements 0..15) and high nibbles (16..31).
inline void nibbles(const uint8_t* p, uint8x16_t* lo, uint8x16_t* hi) {
    const uint8x16_t v = vld1q_u8(p);
    *lo = vandq_u8(v, vdupq_n_u8(0x0F));
    *hi = vshrq_n_u8(v, 4);
}

// The fifth bits of Q5_0 / Q5_1 as 0x10 per byte: bit j of qh for element j (0..31).
inline void fifth_bits(const uint8_t* qh, uint8x16_t* lo, uint8x16_t* hi) {
    static const uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t bit = vld1q_u8(kBit), ten = vdupq_n_u8(0x10);
    *lo = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1])), bit), ten);
    *hi = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3])), bit), ten);
}

inline int32x4_t dot_block(uint8x16_t lo, uint8x16_t hi, int8x16_t off, const int8_t* y) {
    const int32x4_t p = dot_s8(vdupq_n_s32(0), vsubq_s8(vreinterpretq_s8_u8(lo), off), vld1q_s8(y));
    return dot_s8(p, vsubq_s8(vreinterpretq_s8_u8(hi), off), vld1q_s8(y + 16));
}

// Sum over blocks with two accumulators (even / odd blocks) so consecutive blocks' FMAs do not wait on each other.
template <class Step>
inline float sum_blocks2(int64_t nb, Step step) {
    float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0);
    float m0 = 0.0f, m1 = 0.0f;
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
        step(b, a0, m0);
        step(b + 1, a1, m1);
    }
    if (b < nb) step(b, a0, m0);
    return vaddvq_f32(vaddq_f32(a0, a1)) + (m0 + m1);
}

float vec_dot_q4_0_q8_0_neon(int64_t n, const void* vw, const void* vx) {
    const block_q4_0* w = static_cast<const block_q4_0*>(vw);
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    const int8x16_t off = vdupq_n_s8(8);
    return sum_blocks2(n / QK4_0, [&](int64_t b, float32x4_t& acc, float&) {
        prefetch_ahead(&w[b], 1);
        uint8x16_t lo, hi;
        nibbles(w[b].qs, &lo, &hi);
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(dot_block(lo, hi, off, x[b].qs)), f16(w[b].d) * f16(x[b].d));
    });
}

float vec_dot_q4_1_q8_1_neon(int64_t n, const void* vw, const void* vx) {
    const block_q4_1* w = static_cast<const block_q4_1*>(vw);
    const block_q8_1* x = static_cast<const block_q8_1*>(vx);
    const int8x16_t off = vdupq_n_s8(0);
    return sum_blocks2(n / QK4_1, [&](int64_t b, float32x4_t& acc, float& summ) {
        prefetch_ahead(&w[b], 1);
        uint8x16_t lo, hi;
        nibbles(w[b].qs, &lo, &hi);
        summ += f16(w[b].m) * x[b].s;
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(dot_block(lo, hi, off, x[b].qs)), f16(w[b].d) * x[b].d);
    });
}

float vec_dot_q5_0_q8_0_neon(int64_t n, const void* vw, const void* vx) {
    const block_q5_0* w = static_cast<const block_q5_0*>(vw);
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    const int8x16_t off = vdupq_n_s8(16);
    return sum_blocks2(n / QK5_0, [&](int64_t b, float32x4_t& acc, float&) {
        prefetch_ahead(&w[b], 1);
        uint8x16_t lo, hi, hlo, hhi;
        nibbles(w[b].qs, &lo, &hi);
        fifth_bits(w[b].qh, &hlo, &hhi);
        const int32x4_t p = dot_block(vorrq_u8(lo, hlo), vorrq_u8(hi, hhi), off, x[b].qs);
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), f16(w[b].d) * f16(x[b].d));
    });
}

float vec_dot_q5_1_q8_1_neon(int64_t n, const void* vw, const void* vx) {
    const block_q5_1* w = static_cast<const block_q5_1*>(vw);
    const block_q8_1* x = static_cast<const block_q8_1*>(vx);
    const int8x16_t off = vdupq_n_s8(0);
    return sum_blocks2(n / QK5_1, [&](int64_t b, float32x4_t& acc, float& summ) {
        prefetch_ahead(&w[b], 1);
        uint8x16_t lo, hi, hlo, hhi;
        nibbles(w[b].qs, &lo, &hi);
        fifth_bits(w[b].qh, &hlo, &hhi);
        summ += f16(w[b].m) * x[b].s;
        const int32x4_t p = dot_block(vorrq_u8(lo, hlo), vorrq_u8(hi, hhi), off, x[b].qs);
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), f16(w[b].d) * x[b].d);
    });
}

float vec_dot_q8_0_q8_0_neon(int64_t n, const void* vw, const void* vx) {
    const block_q8_0* w = static_cast<const block_q8_0*>(vw);
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    return sum_blocks2(n / QK8_0, [&](int64_t b, float32x4_t& acc, float&) {
        prefetch_ahead(&w[b], 1);
        int32x4_t p = dot_s8(vdupq_n_s32(0), vld1q_s8(w[b].qs), vld1q_s8(x[b].qs));
        p = dot_s8(p, vld1q_s8(w[b].qs + 16), vld1q_s8(x[b].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), f16(w[b].d) * f16(x[b].d));
    });
}

// ---------------------------------------------------------------- K formats

// sum_j mins[j] * (bsums[2j] + bsums[2j + 1]) for the 8 sub-blocks of 32.
inline int32_t mins_dot_bsums(const uint8_t* mn, const int16_t* bsums) {
    const int16x8_t pairs = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
    const int32x4_t s = vmlal_high_s16(vmull_s16(vget_low_s16(m), vget_low_s16(pairs)), m, pairs);
    return vaddvq_s32(s);
}

// Sub-block sums of a 64-element chunk: q0/q1 the 32 low-half quants (sub-block 2c), q2/q3 the high half.
inline void chunk_sums(int8x16_t q0, int8x16_t q1, int8x16_t q2, int8x16_t q3, const int8_t* y, int32_t* s_lo,
                       int32_t* s_hi) {
    const int32x4_t lo = dot_s8(dot_s8(vdupq_n_s32(0), q0, vld1q_s8(y)), q1, vld1q_s8(y + 16));
    const int32x4_t hi = dot_s8(dot_s8(vdupq_n_s32(0), q2, vld1q_s8(y + 32)), q3, vld1q_s8(y + 48));
    *s_lo = vaddvq_s32(lo);
    *s_hi = vaddvq_s32(hi);
}

float vec_dot_q4_K_q8_K_neon(int64_t n, const void* vw, const void* vx) {
    const block_q4_K* w = static_cast<const block_q4_K*>(vw);
    const block_q8_K* x = static_cast<const block_q8_K*>(vx);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; ++b) {
        prefetch_ahead(&w[b], 3);
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; ++j) get_scale_min_k4(j, w[b].scales, &sc[j], &mn[j]);
        const int32_t summs = mins_dot_bsums(mn, x[b].bsums);
        int32_t sumi = 0;
        for (int c = 0; c < 4; ++c) {
            const uint8x16_t v0 = vld1q_u8(w[b].qs + 32 * c), v1 = vld1q_u8(w[b].qs + 32 * c + 16);
            int32_t s0, s1;
            chunk_sums(vreinterpretq_s8_u8(vandq_u8(v0, m4)), vreinterpretq_s8_u8(vandq_u8(v1, m4)),
                       vreinterpretq_s8_u8(vshrq_n_u8(v0, 4)), vreinterpretq_s8_u8(vshrq_n_u8(v1, 4)),
                       x[b].qs + 64 * c, &s0, &s1);
            sumi += sc[2 * c] * s0 + sc[2 * c + 1] * s1;
        }
        sum += f16(w[b].d) * x[b].d * sumi - f16(w[b].dmin) * x[b].d * summs;
    }
    return sum;
}

float vec_dot_q5_K_q8_K_neon(int64_t n, const void* vw, const void* vx) {
    const block_q5_K* w = static_cast<const block_q5_K*>(vw);
    const block_q8_K* x = static_cast<const block_q8_K*>(vx);
    const uint8x16_t m4 = vdupq_n_u8(0x0F), ten = vdupq_n_u8(0x10);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; ++b) {
        prefetch_ahead(&w[b], 3);
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; ++j) get_scale_min_k4(j, w[b].scales, &sc[j], &mn[j]);
        const int32_t summs = mins_dot_bsums(mn, x[b].bsums);
        const uint8x16_t h0 = vld1q_u8(w[b].qh), h1 = vld1q_u8(w[b].qh + 16);
        int32_t sumi = 0;
        for (int c = 0; c < 4; ++c) {
            const uint8x16_t v0 = vld1q_u8(w[b].qs + 32 * c), v1 = vld1q_u8(w[b].qs + 32 * c + 16);
            const uint8x16_t blo = vdupq_n_u8(static_cast<uint8_t>(1 << (2 * c)));
            const uint8x16_t bhi = vdupq_n_u8(static_cast<uint8_t>(1 << (2 * c + 1)));
            const uint8x16_t q0 = vorrq_u8(vandq_u8(v0, m4), vandq_u8(vtstq_u8(h0, blo), ten));
            const uint8x16_t q1 = vorrq_u8(vandq_u8(v1, m4), vandq_u8(vtstq_u8(h1, blo), ten));
            const uint8x16_t q2 = vorrq_u8(vshrq_n_u8(v0, 4), vandq_u8(vtstq_u8(h0, bhi), ten));
            const uint8x16_t q3 = vorrq_u8(vshrq_n_u8(v1, 4), vandq_u8(vtstq_u8(h1, bhi), ten));
            int32_t s0, s1;
            chunk_sums(vreinterpretq_s8_u8(q0), vreinterpretq_s8_u8(q1), vreinterpretq_s8_u8(q2),
                       vreinterpretq_s8_u8(q3), x[b].qs + 64 * c, &s0, &s1);
            sumi += sc[2 * c] * s0 + sc[2 * c + 1] * s1;
        }
        sum += f16(w[b].d) * x[b].d * sumi - f16(w[b].dmin) * x[b].d * summs;
    }
    return sum;
}

// Q6_K: each 16-lane vector below holds exactly one 16-element group, so each gets its own scale.
float vec_dot_q6_K_q8_K_neon(int64_t n, const void* vw, const void* vx) {
    const block_q6_K* w = static_cast<const block_q6_K*>(vw);
    const block_q8_K* x = static_cast<const block_q8_K*>(vx);
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m3 = vdupq_n_u8(3);
    const int8x16_t m32 = vdupq_n_s8(32);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; ++b) {
        prefetch_ahead(&w[b], 4);
        int32_t sumi = 0;
        for (int h = 0; h < 2; ++h) {
            const uint8_t* ql = w[b].ql + 64 * h;
            const uint8_t* qh = w[b].qh + 32 * h;
            const int8_t* y = x[b].qs + 128 * h;
            const int8_t* sc = w[b].scales + 8 * h;
            for (int k = 0; k < 2; ++k) {  // l in [16k, 16k + 16): groups k, k + 2, k + 4, k + 6
                const uint8x16_t la = vld1q_u8(ql + 16 * k), lb = vld1q_u8(ql + 32 + 16 * k);
                const uint8x16_t hb = vld1q_u8(qh + 16 * k);
                const uint8x16_t q1 = vorrq_u8(vandq_u8(la, m4), vshlq_n_u8(vandq_u8(hb, m3), 4));
                const uint8x16_t q2 = vorrq_u8(vandq_u8(lb, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4));
                const uint8x16_t q3 = vorrq_u8(vshrq_n_u8(la, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4));
                const uint8x16_t q4 = vorrq_u8(vshrq_n_u8(lb, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4));
                const int32_t s1 = vaddvq_s32(dot_s8(vdupq_n_s32(0), vsubq_s8(vreinterpretq_s8_u8(q1), m32), vld1q_s8(y + 16 * k)));
                const int32_t s2 = vaddvq_s32(dot_s8(vdupq_n_s32(0), vsubq_s8(vreinterpretq_s8_u8(q2), m32), vld1q_s8(y + 32 + 16 * k)));
                const int32_t s3 = vaddvq_s32(dot_s8(vdupq_n_s32(0), vsubq_s8(vreinterpretq_s8_u8(q3), m32), vld1q_s8(y + 64 + 16 * k)));
                const int32_t s4 = vaddvq_s32(dot_s8(vdupq_n_s32(0), vsubq_s8(vreinterpretq_s8_u8(q4), m32), vld1q_s8(y + 96 + 16 * k)));
                sumi += sc[k] * s1 + sc[k + 2] * s2 + sc[k + 4] * s3 + sc[k + 6] * s4;
            }
        }
        sum += f16(w[b].d) * x[b].d * sumi;
    }
    return sum;
}

// The path's kernel set (each including file names its own constant).
constexpr DenseKernels neon_dense_set() {
    return {
        TypeKernels<vec_dot_fn>{}
            .with(GGMLType::F32, vec_dot_f32_neon)
            .with(GGMLType::F16, vec_dot_f16_neon)
            .with(GGMLType::BF16, vec_dot_bf16_neon)
            .with(GGMLType::Q4_0, vec_dot_q4_0_q8_0_neon)
            .with(GGMLType::Q4_1, vec_dot_q4_1_q8_1_neon)
            .with(GGMLType::Q5_0, vec_dot_q5_0_q8_0_neon)
            .with(GGMLType::Q5_1, vec_dot_q5_1_q8_1_neon)
            .with(GGMLType::Q8_0, vec_dot_q8_0_q8_0_neon)
            .with(GGMLType::Q4_K, vec_dot_q4_K_q8_K_neon)
            .with(GGMLType::Q5_K, vec_dot_q5_K_q8_K_neon)
            .with(GGMLType::Q6_K, vec_dot_q6_K_q8_K_neon),
        {},
        {},
        {},
    };
}

}  // namespace
}  // namespace pysparse
