// NEON tile kernels of the input-sparse matvec, included by axpy_neon.cpp (built for the build's target) and
// axpy_neondot.cpp (always armv8.2-a+dotprod, chosen at run time where the CPU has dotprod): internal linkage, so
// each file keeps its own copy built with its own flags. The kernels: the AVX2 kernels' structure (axpy_avx2.cpp)
// with 128-bit registers. Per touched group, per tile of the thread's range, per half of 64 rows (16 accumulators of 4 rows).
// Integer path (the 4/5/6-bit formats and Q8_0): the group's active x are quantised to int8 (ActiveGroup: dx,
// xsumq), four active columns at a time are transposed into row quads (byte 4i + k: row i of column k; two rounds
// of zips) and multiplied with their four int8 x in one SDOT per 4 rows (vdotq_s32 where the file is built for
// armv8.2-a+dotprod; baseline NEON gets the same exact sums from widening multiplies and pairwise adds), then the
// int32 sums times dx go through the group's scale panel once. About 3 operations per 16 products with SDOT (2 of
// them the transposition) and 8 without, against 11 for the float path it replaced (widen, convert, FMA per
// column). F16 / F32: float FMAs per column. Unpacking: 16 quant bytes give 16 rows from the low nibbles and 16
// rows (32 further) from the high nibbles; 5-bit high bits come from two plane bytes per 16 rows (vtst against the
// lane's bit), 6-bit from 16 plane bytes, one shift and a mask.
#pragma once
#include <arm_neon.h>

#include <cstring>

#include "sparse/axpy.h"

namespace pysparse {
namespace sparse_detail {

namespace {


// 16 rows' high bits (bit 4, and bit 5 for 6-bit) from the plane, for rows 16 * block16 .. + 15 of the tile.
template <int BITS>
inline uint8x16_t high_bits(const uint8_t* hi, int block16) {
    if constexpr (BITS == 5) {
        static const uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
        const uint8x16_t b = vcombine_u8(vdup_n_u8(hi[2 * block16]), vdup_n_u8(hi[2 * block16 + 1]));
        return vandq_u8(vtstq_u8(b, vld1q_u8(kBit)), vdupq_n_u8(16));
    } else {  // row 32k + b's bits at 2k of plane byte b: one shift to bits 4-5 (by 4 - 2k: 4, 2, 0, -2) and a mask
        const int k = block16 / 2;
        const uint8x16_t p = vld1q_u8(hi + 16 * (block16 % 2));
        return vandq_u8(vshlq_u8(p, vdupq_n_s8((int8_t)(4 - 2 * k))), vdupq_n_u8(0x30));
    }
}

// One column slice's raw quants of half h (rows 64h + 16 rb .. + 15 in v[rb]) of a 4/5/6-bit format, as int8
// (they are at most 63).
template <int BITS>
inline void unpack_half(const uint8_t* lo, const uint8_t* hi, int h, int8x16_t v[4]) {
    const uint8x16_t v0 = vld1q_u8(lo + 32 * h), v1 = vld1q_u8(lo + 32 * h + 16);
    const uint8x16_t m15 = vdupq_n_u8(15);
    uint8x16_t l0 = vandq_u8(v0, m15), l1 = vandq_u8(v1, m15);  // rows 64h + 0..15, 16..31
    uint8x16_t u0 = vshrq_n_u8(v0, 4), u1 = vshrq_n_u8(v1, 4);  // rows 64h + 32..47, 48..63
    if constexpr (BITS >= 5) {
        l0 = vorrq_u8(l0, high_bits<BITS>(hi, 4 * h + 0));
        l1 = vorrq_u8(l1, high_bits<BITS>(hi, 4 * h + 1));
        u0 = vorrq_u8(u0, high_bits<BITS>(hi, 4 * h + 2));
        u1 = vorrq_u8(u1, high_bits<BITS>(hi, 4 * h + 3));
    }
    v[0] = vreinterpretq_s8_u8(l0), v[1] = vreinterpretq_s8_u8(l1);
    v[2] = vreinterpretq_s8_u8(u0), v[3] = vreinterpretq_s8_u8(u1);
}
// Q8_0: the slice's 64 int8 rows.
inline void unpack_q8_0(const uint8_t* lo, int8x16_t v[4]) {
    for (int rb = 0; rb < 4; ++rb) v[rb] = vld1q_s8(reinterpret_cast<const int8_t*>(lo) + 16 * rb);
}

// acc[k] += sum_{i < 4} a[4k + i] * b[4k + i] (SDOT's lanes), exact in int32 either way.
inline int32x4_t sdot_quads(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    const int32x4_t lo = vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)));  // products (0+1), (2+3), ..
    const int32x4_t hi = vpaddlq_s16(vmull_high_s8(a, b));                      // (8+9), (10+11), ..
    return vaddq_s32(acc, vpaddq_s32(lo, hi));                                   // (0..3), (4..7), (8..11), (12..15)
#endif
}

// 16 rows of 4 columns (c[k] byte r: row r of column k) -> row quads: q[j] byte 4i + k is row 4j + i of column k.
inline void row_quads(int8x16_t c0, int8x16_t c1, int8x16_t c2, int8x16_t c3, int8x16_t q[4]) {
    const int16x8_t p01l = vreinterpretq_s16_s8(vzip1q_s8(c0, c1)), p01h = vreinterpretq_s16_s8(vzip2q_s8(c0, c1));
    const int16x8_t p23l = vreinterpretq_s16_s8(vzip1q_s8(c2, c3)), p23h = vreinterpretq_s16_s8(vzip2q_s8(c2, c3));
    q[0] = vreinterpretq_s8_s16(vzip1q_s16(p01l, p23l));
    q[1] = vreinterpretq_s8_s16(vzip2q_s16(p01l, p23l));
    q[2] = vreinterpretq_s8_s16(vzip1q_s16(p01h, p23h));
    q[3] = vreinterpretq_s8_s16(vzip2q_s16(p01h, p23h));
}

// acc[i] (rows 4i .. 4i+3) += w * x for one 64-row column slice of F16 / F32.
template <Kind K>
inline void column_float(const uint8_t* lo, float32x4_t xb, float32x4_t* acc) {
    if constexpr (K == Kind::f16) {
        for (int c = 0; c < 8; ++c) {
            const float16x8_t v = vreinterpretq_f16_u16(vld1q_u16(reinterpret_cast<const uint16_t*>(lo) + 8 * c));
            acc[2 * c] = vfmaq_f32(acc[2 * c], vcvt_f32_f16(vget_low_f16(v)), xb);
            acc[2 * c + 1] = vfmaq_f32(acc[2 * c + 1], vcvt_high_f32_f16(v), xb);
        }
    } else {
        for (int i = 0; i < 16; ++i)
            acc[i] = vfmaq_f32(acc[i], vld1q_f32(reinterpret_cast<const float*>(lo) + 4 * i), xb);
    }
}

inline float32x4_t load_h4(const uint8_t* p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t*>(p))));
}
inline float32x4_t u8x4_to_f32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return vcvtq_f32_u32(vmovl_u16(vget_low_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(v))))));
}
inline float32x4_t s8x4_to_f32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(vreinterpret_s8_u32(vdup_n_u32(v))))));
}

// yt[64h + 4i ..] += the group's contribution (see axpy_generic.cpp apply_panel).
template <Kind K>
inline void apply_panel(const SparseMatrix& m, int64_t t, const ActiveGroup& ag, int h, const float32x4_t* acc,
                        float xsum, float* yt) {
    const int T = m.tile;
    float* y = yt + 64 * h;
    if constexpr (K == Kind::f16 || K == Kind::f32) {
        for (int i = 0; i < 16; ++i) vst1q_f32(y + 4 * i, vaddq_f32(vld1q_f32(y + 4 * i), acc[i]));
        return;
    } else {
        // Panel pointers as locals, made in the branch that reads them (a format without mins has no gm panel):
        // read through m, every store to y (which might alias) reloaded them.
        const size_t at = m.panel(t, ag.g) * T + 64 * h;
        const float32x4_t xs = vdupq_n_f32(xsum);  // the sum of the active x (integer path: of dx * their int8)
        const float32x4_t xo = vdupq_n_f32(-(float)quant_offset(K) * xsum);
        if constexpr (K == Kind::q4_k || K == Kind::q5_k || K == Kind::q6_k) {
            const size_t as = m.panel(t, ag.g / m.groups_per_super) * T + 64 * h;
            const uint8_t* const gs = m.gs.data() + at;
            const uint8_t* const sd = m.sd.data() + as * 2;
            const uint8_t* const gm = K == Kind::q6_k ? nullptr : m.gm.data() + at;  // Q6_K has no mins
            const uint8_t* const sm = K == Kind::q6_k ? nullptr : m.sm.data() + as * 2;
            for (int i = 0; i < 16; ++i) {
                const float32x4_t d = load_h4(sd + 8 * i);
                float32x4_t yv = vld1q_f32(y + 4 * i);
                if constexpr (K == Kind::q6_k) {
                    const float32x4_t s = vmulq_f32(d, s8x4_to_f32(gs + 4 * i));
                    yv = vfmaq_f32(yv, s, vaddq_f32(acc[i], xo));
                } else {
                    const float32x4_t s = vmulq_f32(d, u8x4_to_f32(gs + 4 * i));
                    const float32x4_t dm = vmulq_f32(load_h4(sm + 8 * i), u8x4_to_f32(gm + 4 * i));
                    yv = vfmsq_f32(vfmaq_f32(yv, s, acc[i]), dm, xs);
                }
                vst1q_f32(y + 4 * i, yv);
            }
        } else {
            const uint8_t* const gs16 = m.gs.data() + at * 2;  // fp16 panels
            const uint8_t* const gm16 = K == Kind::q4_1 || K == Kind::q5_1 ? m.gm.data() + at * 2 : nullptr;
            for (int i = 0; i < 16; ++i) {
                const float32x4_t d = load_h4(gs16 + 8 * i);
                float32x4_t yv = vld1q_f32(y + 4 * i);
                if constexpr (K == Kind::q4_1 || K == Kind::q5_1)
                    yv = vfmaq_f32(vfmaq_f32(yv, d, acc[i]), load_h4(gm16 + 8 * i), xs);
                else if constexpr (K == Kind::q8_0)
                    yv = vfmaq_f32(yv, d, acc[i]);
                else
                    yv = vfmaq_f32(yv, d, vaddq_f32(acc[i], xo));
                vst1q_f32(y + 4 * i, yv);
            }
        }
    }
}

// A prefetch the compiler must keep (GCC deletes loops whose only effect is __builtin_prefetch).
inline void prefetch_l1(const void* p) { asm volatile("prfm pldl1keep, %0" : : "Q"(*static_cast<const char*>(p))); }

template <Kind K>
void tile_neon(const SparseMatrix& m, int64_t tb, int64_t te, const ActiveSet& a, float* y) {
    constexpr int BITS = bits_of(K);
    constexpr int NH = BITS <= 6 ? 2 : 1;
    constexpr int LINES = BITS == 32 ? 4 : BITS == 16 ? 2 : 1;
    constexpr bool kInt = BITS <= 8;  // the 4/5/6-bit formats and Q8_0
    const int T = m.tile;
    for (int64_t r = 0; r < (te - tb) * T; r += 4) vst1q_f32(y + r, vdupq_n_f32(0.f));
    const int64_t LB = m.lo_bytes, HB = m.hi_bytes, G = m.slice_step();
    const uint8_t* lo = m.lo.data();
    const uint8_t* hi = m.hi.data();
    const int64_t* cs0 = a.cs0.data();
    const float* xv = a.xv.data();
    const int8_t* xq = a.xq.data();
    const size_t ng = a.groups.size();
    for (size_t gi = 0; gi < ng; ++gi) {
        const ActiveGroup& ag = a.groups[gi];
        const int64_t d1 = prefetch_tiles(ag.end - ag.begin);  // per group: it divides
        for (int64_t t = tb; t < te; ++t) {
            prefetch_tile_ahead<LINES, prefetch_l1>(m, a, gi, t, d1, tb, te);
            for (int h = 0; h < NH; ++h) {
                float32x4_t acc[16];
                if constexpr (kInt) {
                    int32x4_t iacc[16];
                    for (int i = 0; i < 16; ++i) iacc[i] = vdupq_n_s32(0);
                    for (int32_t k = ag.begin; k < ag.end; k += 4) {
                        int8x16_t v[4][4];  // [column][16 rows]
                        uint32_t xw = 0;    // the four columns' int8 x (0 past the group's end)
                        for (int c = 0; c < 4; ++c) {
                            const int32_t kk = k + c < ag.end ? k + c : k;
                            const int64_t cs = cs0[kk] + t * G;
                            if constexpr (BITS <= 6) unpack_half<BITS>(lo + cs * LB, hi + cs * HB, h, v[c]);
                            else unpack_q8_0(lo + cs * LB, v[c]);
                            if (k + c < ag.end) xw |= uint32_t(uint8_t(xq[k + c])) << (8 * c);
                        }
                        const int8x16_t x4 = vreinterpretq_s8_u32(vdupq_n_u32(xw));
                        for (int rb = 0; rb < 4; ++rb) {
                            int8x16_t q[4];
                            row_quads(v[0][rb], v[1][rb], v[2][rb], v[3][rb], q);
                            for (int j = 0; j < 4; ++j) iacc[4 * rb + j] = sdot_quads(iacc[4 * rb + j], q[j], x4);
                        }
                    }
                    for (int i = 0; i < 16; ++i) acc[i] = vmulq_n_f32(vcvtq_f32_s32(iacc[i]), ag.dx);
                    apply_panel<K>(m, t, ag, h, acc, ag.xsumq, y + (t - tb) * T);
                } else {
                    for (int i = 0; i < 16; ++i) acc[i] = vdupq_n_f32(0.f);
                    for (int32_t k = ag.begin; k < ag.end; ++k)
                        column_float<K>(lo + (cs0[k] + t * G) * LB, vdupq_n_f32(xv[k]), acc);
                    apply_panel<K>(m, t, ag, h, acc, ag.xsum, y + (t - tb) * T);
                }
            }
        }
    }
}

// Every kind but the requant reference (generic only).
constexpr SparseKernels neon_sparse_set() {
    return {
        TypeKernels<TileKernel>{}
            .with(GGMLType::Q4_0, tile_neon<Kind::q4_0>)
            .with(GGMLType::Q4_1, tile_neon<Kind::q4_1>)
            .with(GGMLType::Q5_0, tile_neon<Kind::q5_0>)
            .with(GGMLType::Q5_1, tile_neon<Kind::q5_1>)
            .with(GGMLType::Q8_0, tile_neon<Kind::q8_0>)
            .with(GGMLType::Q4_K, tile_neon<Kind::q4_k>)
            .with(GGMLType::Q5_K, tile_neon<Kind::q5_k>)
            .with(GGMLType::Q6_K, tile_neon<Kind::q6_k>)
            .with(GGMLType::F16, tile_neon<Kind::f16>)
            .with(GGMLType::F32, tile_neon<Kind::f32>),
        nullptr,
    };
}

}  // namespace
}  // namespace sparse_detail
}  // namespace pysparse
