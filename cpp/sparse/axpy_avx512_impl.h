// AVX-512 (F, BW, VL, DQ) tile kernels of the input-sparse matvec, included by two files that differ only in one
// macro and their compile flags: axpy_avx512.cpp (PYSPARSE_SPARSE_VNNI 0: integer dots with VPMADDUBSW + VPMADDWD)
// and axpy_avx512vnni.cpp (1, built with -mavx512vnni: VPDPBUSD). Everything here has internal linkage, so the two
// builds never share an inline function compiled for the other's flags.
//
// A whole 128-row tile fits in 8 zmm accumulators, so each active line is read once per tile (no halves).
// 4/5/6-bit formats and Q8_0 use integer math on the group's active x quantised to int8 (ActiveSet,
// axpy.h: the same quantisation as the AVX2 integer path, so the same error bound): four active columns at a time,
// their 64-byte slices are transposed into byte quads (int32 lane = one row's values in the four columns) and
// multiplied with the broadcast quad of their int8 x in one VPDPBUSD (or VPMADDUBSW + VPMADDWD), accumulating
// in int32; per group and tile the int32 sums are put back in row order, scaled by dx and the scale panel.
// Measured reason (issue 8): on a fast-memory CPU the float path (16 int->float conversions and FMAs per
// column slice) was compute-bound at 1.5x the dense time at s = 0, slower than the AVX2 integer path.
// Q8_0's signed weights: offset by +128 into u8 for VPDPBUSD; without VNNI (u8 x s8 pairs of up to 255 x 127 would
// saturate VPMADDUBSW) ggml's sign trick, |w| times x with w's sign. F16 / F32 use float FMAs.
// Two walk orders for the integer paths, bitwise the same outputs: tile by tile (per group, each tile's active
// columns; long columns) and column passes (colpass_avx512: per group, 8 active columns over all the range's tiles,
// int32 sums buffered per tile; ranges of at most colpass_max_tiles(bits) tiles, by default Q6_K only: there the
// tile order interleaved 16 short runs per group and gained little from sparsity from DRAM).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common/simd_avx512.h"
#include "sparse/axpy.h"

#ifndef PYSPARSE_SPARSE_VNNI
#error "define PYSPARSE_SPARSE_VNNI (0 or 1) before including axpy_avx512_impl.h"
#endif

namespace pysparse {
namespace sparse_detail {

namespace {

// acc (16 int32 lanes) += the dot products of the 4 unsigned bytes of each lane of w with the 4 signed bytes of x.
// Without VNNI: VPMADDUBSW sums byte pairs into int16 (w <= 63 here, so |w0 x0 + w1 x1| <= 16002: no saturation),
// VPMADDWD with ones sums the two pairs into int32 (ggml's mul_sum_us8_pairs).
inline __m512i dot4(__m512i acc, __m512i w, __m512i x) {
#if PYSPARSE_SPARSE_VNNI
    return _mm512_dpbusd_epi32(acc, w, x);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(w, x), _mm512_set1_epi16(1)));
#endif
}
// The same for signed w (Q8_0 without VNNI): |w| times x negated where w < 0 (|pair| <= 2 * 128 * 127 = 32512).
inline __m512i dot4_signed(__m512i acc, __m512i w, __m512i x) {
    const __m512i xs = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_abs_epi8(w), xs), _mm512_set1_epi16(1)));
}
// Q8_0's weight offset in the integer sums: +128 into u8 for VPDPBUSD; 0 for the sign trick.
constexpr int32_t kQ8Bias = PYSPARSE_SPARSE_VNNI ? 128 : 0;

// Four 64-byte column slices v[c] -> four vectors of byte quads: lane 4L + i of q[j] holds byte 16L + 4j + i of
// v[0], v[1], v[2], v[3] (in that byte order). The unpacks work within 128-bit lanes L.
inline void transpose_quads(const __m512i* v, __m512i* q) {
    const __m512i ab_lo = _mm512_unpacklo_epi8(v[0], v[1]), ab_hi = _mm512_unpackhi_epi8(v[0], v[1]);
    const __m512i cd_lo = _mm512_unpacklo_epi8(v[2], v[3]), cd_hi = _mm512_unpackhi_epi8(v[2], v[3]);
    q[0] = _mm512_unpacklo_epi16(ab_lo, cd_lo);
    q[1] = _mm512_unpackhi_epi16(ab_lo, cd_lo);
    q[2] = _mm512_unpacklo_epi16(ab_hi, cd_hi);
    q[3] = _mm512_unpackhi_epi16(ab_hi, cd_hi);
}

// The inverse order for the int32 sums: q[j] lane 4L + i is byte 16L + 4j + i; r[L] = bytes 16L .. 16L + 15 in
// order (a 4 x 4 transpose of 128-bit blocks), converted to float and scaled by dx.
inline void untranspose_scale(const __m512i* q, float dx, __m512* r) {
    const __m512i t0 = _mm512_shuffle_i32x4(q[0], q[1], 0x44), t1 = _mm512_shuffle_i32x4(q[2], q[3], 0x44);
    const __m512i t2 = _mm512_shuffle_i32x4(q[0], q[1], 0xEE), t3 = _mm512_shuffle_i32x4(q[2], q[3], 0xEE);
    const __m512 d = _mm512_set1_ps(dx);
    r[0] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_shuffle_i32x4(t0, t1, 0x88)), d);
    r[1] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_shuffle_i32x4(t0, t1, 0xDD)), d);
    r[2] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_shuffle_i32x4(t2, t3, 0x88)), d);
    r[3] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_shuffle_i32x4(t2, t3, 0xDD)), d);
}

// One column slice of a 5/6-bit format as two vectors of full values (byte B of the 64 lo bytes): l = rows
// 64(B/32) + B%32, u = those rows + 32. The high plane's bits are added with byte masks.
template <int BITS>
inline void column_values(__m512i v, const uint8_t* hp, __m512i* l, __m512i* u) {
    const __m512i m0f = _mm512_set1_epi8(0x0f);
    *l = _mm512_and_si512(v, m0f);
    *u = _mm512_and_si512(_mm512_srli_epi16(v, 4), m0f);
    if constexpr (BITS == 5) {  // plane bit r = bit 4 of row r: rows 0-31 | 64-95 (l), 32-63 | 96-127 (u)
        uint32_t w[4];
        std::memcpy(w, hp, 16);
        const __m512i c10 = _mm512_set1_epi8(0x10);
        *l = _mm512_mask_add_epi8(*l, (__mmask64)((uint64_t)w[0] | (uint64_t)w[2] << 32), *l, c10);
        *u = _mm512_mask_add_epi8(*u, (__mmask64)((uint64_t)w[1] | (uint64_t)w[3] << 32), *u, c10);
    } else if constexpr (BITS == 6) {
        // Plane byte b holds bits 4-5 of rows b, 32 + b, 64 + b, 96 + b at bits 0, 2, 4, 6 (sparse_matrix.h). With
        // the 32 plane bytes in both halves, l (rows 0-31 | 64-95) is the plane shifted left by 4 | by 0 and u
        // (rows 32-63 | 96-127) left by 2 | right by 2: one masked shift each, merged as nibble | (bits & 0x30).
        const __m512i p = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(hp)));
        const __m512i pl = _mm512_mask_slli_epi16(p, (__mmask32)0x0000FFFFu, p, 4);
        const __m512i pu = _mm512_mask_srli_epi16(_mm512_slli_epi16(p, 2), (__mmask32)0xFFFF0000u, p, 2);
        const __m512i c30 = _mm512_set1_epi8(0x30);
        *l = _mm512_ternarylogic_epi32(*l, pl, c30, 0xF8);  // l | (pl & 0x30)
        *u = _mm512_ternarylogic_epi32(*u, pu, c30, 0xF8);
    }
}

// Bytes of one column's slice in one tile for the integer paths (layout invariants of repack.cpp: 128-row tiles
// of 4/5/6-bit values, 64-row tiles of int8): compile-time, so a column's address is a shift and an add.
template <int BITS>
constexpr int64_t kLoBytes = 64;
template <int BITS>
constexpr int64_t kHiBytes = BITS == 5 ? 16 : BITS == 6 ? 32 : 0;

// One quad of active columns k .. k + 3 (a short last quad repeats column k with x = 0) of one tile, 4/5/6-bit
// formats (and Q8_0 in the VNNI build): al[j] / ah[j] (int32, byte-quad order, see transpose_quads) += q * xq.
// al holds the low nibbles' rows, ah the high nibbles' (unused for 8 bits). A full quad's x bytes are read as
// one word (little-endian: column k + c in byte c); only the tail quad selects per column.
template <int BITS>
inline void quad_tile(const uint8_t* lo, const uint8_t* hi, const int64_t* cs0, const int8_t* xq, int64_t toff,
                      int32_t k, int32_t end, __m512i* al, __m512i* ah) {
    constexpr int64_t LB = kLoBytes<BITS>, HB = kHiBytes<BITS>;
    const __m512i m0f = _mm512_set1_epi8(0x0f);
    int64_t cs[4];
    uint32_t xw = 0;
    if (k + 4 <= end) {
        std::memcpy(&xw, xq + k, 4);
        for (int c = 0; c < 4; ++c) cs[c] = cs0[k + c] + toff;
    } else {
        for (int c = 0; c < 4; ++c) {
            const bool in = k + c < end;
            cs[c] = cs0[in ? k + c : k] + toff;
            xw |= (uint32_t)(in ? (uint8_t)xq[k + c] : 0) << (8 * c);
        }
    }
    __m512i v[4];
    for (int c = 0; c < 4; ++c) v[c] = _mm512_loadu_si512(lo + cs[c] * LB);
    const __m512i xb = _mm512_set1_epi32((int)xw);
    __m512i q[4];
    if constexpr (BITS == 4) {
        transpose_quads(v, q);
        for (int j = 0; j < 4; ++j) {
            al[j] = dot4(al[j], _mm512_and_si512(q[j], m0f), xb);
            ah[j] = dot4(ah[j], _mm512_and_si512(_mm512_srli_epi16(q[j], 4), m0f), xb);
        }
    } else if constexpr (BITS == 8) {
        if constexpr (kQ8Bias != 0)
            for (int c = 0; c < 4; ++c) v[c] = _mm512_xor_si512(v[c], _mm512_set1_epi8((char)0x80));
        transpose_quads(v, q);
        for (int j = 0; j < 4; ++j) al[j] = kQ8Bias != 0 ? dot4(al[j], q[j], xb) : dot4_signed(al[j], q[j], xb);
    } else {
        __m512i l[4], u[4];
        for (int c = 0; c < 4; ++c) column_values<BITS>(v[c], hi + cs[c] * HB, &l[c], &u[c]);
        transpose_quads(l, q);
        for (int j = 0; j < 4; ++j) al[j] = dot4(al[j], q[j], xb);
        transpose_quads(u, q);
        for (int j = 0; j < 4; ++j) ah[j] = dot4(ah[j], q[j], xb);
    }
}

// The int32 sums of one group and tile (al, ah: all the group's active columns) to floats in row order:
// acc[a] (rows 16a ..) = dx * (sum - qoff). qoff = offset * sum(xq) over the group (offset: the format's, or
// Q8_0's kQ8Bias) is taken off in integers, so a row whose active weights are all zero gives exactly 0, whatever the
// compiler contracts in the float scaling.
template <int BITS>
inline void finish_tile(__m512i* al, __m512i* ah, float dx, int32_t qoff, __m512* acc) {
    const __m512i off = _mm512_set1_epi32(qoff);
    for (int j = 0; j < 4; ++j) al[j] = _mm512_sub_epi32(al[j], off), ah[j] = _mm512_sub_epi32(ah[j], off);
    __m512 r[4];
    if constexpr (BITS == 8) {  // 64 rows: r[L] = rows 16L ..
        untranspose_scale(al, dx, acc);
    } else {  // low nibbles: r[L] = rows 64(L/2) + 16(L%2) ..; high nibbles 32 rows further
        untranspose_scale(al, dx, r);
        acc[0] = r[0], acc[1] = r[1], acc[4] = r[2], acc[5] = r[3];
        untranspose_scale(ah, dx, r);
        acc[2] = r[0], acc[3] = r[1], acc[6] = r[2], acc[7] = r[3];
    }
}

// One tile of one group, 4/5/6-bit formats: acc[a] (rows 16a ..) = dx * sum over the group's active columns of
// q * xq (int32 sums; at most 32 columns * 63 * 127). Q8_0: the same on the 64-row int8 slices (kQ8Bias).
template <int BITS>
inline void int_group_tile(const uint8_t* lo, const uint8_t* hi, const int64_t* cs0, const int8_t* xq, int64_t toff,
                           int32_t begin, int32_t end, float dx, int32_t qoff, __m512* acc) {
    __m512i al[4], ah[4];
    for (int j = 0; j < 4; ++j) al[j] = ah[j] = _mm512_setzero_si512();
    for (int32_t k = begin; k < end; k += 4) quad_tile<BITS>(lo, hi, cs0, xq, toff, k, end, al, ah);
    finish_tile<BITS>(al, ah, dx, qoff, acc);
}

// acc[a] (rows 16a .. 16a+15), a < 4, += w * x for one 64-row column slice of F16 / F32.
template <Kind K>
inline void column_wide(const uint8_t* lo, __m512 xb, __m512* acc) {
    for (int a = 0; a < 4; ++a) {
        __m512 w;
        if constexpr (K == Kind::f16)
            w = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo + 32 * a)));
        else
            w = _mm512_loadu_ps(reinterpret_cast<const float*>(lo + 64 * a));
        acc[a] = _mm512_fmadd_ps(w, xb, acc[a]);
    }
}

inline __m512 load_h16(const uint8_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512 load_u8x16(const uint8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
inline __m512 load_s8x16(const uint8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

// y[16a ..] += the group's contribution for the tile's T rows (see axpy_generic.cpp apply_panel). xsum: the group's sum
// of x for the min term; xoff: the sum the format's offset multiplies (0 when the integer path has taken the offset off
// already); sb: the K formats' super-block of the group (ag.g / groups_per_super, divided once per group by the caller,
// not once per tile). The panel pointers are locals and the row loop has a compile-time count (T is 128 for the
// 4/5/6-bit formats, 64 for the others: NA = 8 or 4): with m's members read through the loop, every store to y made the
// compiler reload them (y might alias), and at s = 0.9 this epilogue was ~45% of the kernel's time (perf, 1536 x 8960
// Q4_K); unrolled it is one pass of loads, FMAs and stores.
template <Kind K>
inline void apply_panel(const SparseMatrix& m, int64_t t, const ActiveGroup& ag, int64_t sb, float xsum, float xoff,
                        const __m512* acc, float* y) {
    constexpr int NA = bits_of(K) <= 6 ? 8 : 4;  // 16-row vectors per tile (repack.cpp: 128- or 64-row tiles)
    if constexpr (K == Kind::f16 || K == Kind::f32) {
        PYSPARSE_UNROLL
        for (int a = 0; a < NA; ++a) _mm512_storeu_ps(y + 16 * a, _mm512_add_ps(_mm512_loadu_ps(y + 16 * a), acc[a]));
        return;
    } else {
        const int T = NA * 16;
        const size_t at = m.panel(t, ag.g) * T;
        const __m512 xs = _mm512_set1_ps(xsum);
        const __m512 xo = _mm512_set1_ps(-(float)quant_offset(K) * xoff);
        const uint8_t* const gs = m.gs.data();
        const uint8_t* const gm = m.gm.data();
        if constexpr (K == Kind::q4_k || K == Kind::q5_k || K == Kind::q6_k) {
            const size_t as = m.panel(t, sb) * T;
            const uint8_t* const sd = m.sd.data() + as * 2;
            const uint8_t* const sm = K == Kind::q6_k ? nullptr : m.sm.data() + as * 2;  // Q6_K has no mins
            PYSPARSE_UNROLL
            for (int a = 0; a < NA; ++a) {
                const __m512 d = load_h16(sd + 32 * a);
                __m512 yv = _mm512_loadu_ps(y + 16 * a);
                if constexpr (K == Kind::q6_k) {
                    const __m512 s = _mm512_mul_ps(d, load_s8x16(gs + at + 16 * a));
                    yv = _mm512_fmadd_ps(s, _mm512_add_ps(acc[a], xo), yv);
                } else {
                    const __m512 s = _mm512_mul_ps(d, load_u8x16(gs + at + 16 * a));
                    const __m512 dm = _mm512_mul_ps(load_h16(sm + 32 * a), load_u8x16(gm + at + 16 * a));
                    yv = _mm512_fnmadd_ps(dm, xs, _mm512_fmadd_ps(s, acc[a], yv));
                }
                _mm512_storeu_ps(y + 16 * a, yv);
            }
        } else {
            PYSPARSE_UNROLL
            for (int a = 0; a < NA; ++a) {
                const __m512 d = load_h16(gs + (at + 16 * a) * 2);
                __m512 yv = _mm512_loadu_ps(y + 16 * a);
                if constexpr (K == Kind::q4_1 || K == Kind::q5_1)
                    yv = _mm512_fmadd_ps(load_h16(gm + (at + 16 * a) * 2), xs, _mm512_fmadd_ps(d, acc[a], yv));
                else if constexpr (K == Kind::q8_0)
                    yv = _mm512_fmadd_ps(d, acc[a], yv);
                else
                    yv = _mm512_fmadd_ps(d, _mm512_add_ps(acc[a], xo), yv);
                _mm512_storeu_ps(y + 16 * a, yv);
            }
        }
    }
}

// Column-pass order (integer paths, short ranges of tiles): per group, kPassCols active columns at a time are run
// over ALL the range's tiles before the next ones, the group's int32 sums of every tile held in a small buffer
// (8 zmm = 512 bytes per tile), then the per-tile epilogue runs once per group and tile as in the tile order.
// Memory then sees kPassCols long sequential column runs at a time instead of the group's 16-32 short ones
// interleaved. The int32 sums are exact and the float epilogue is the same code in the same order, so the
// results are bitwise the tile order's. Software prefetch follows the same (group, pass, tile) walk a fixed number
// of steps ahead (into L1 and, farther, into L2).
template <Kind K>
void colpass_avx512(const SparseMatrix& m, int64_t tb, int64_t te, const ActiveSet& a, float* y) {
    constexpr int BITS = bits_of(K);
    const int T = m.tile;
    const int64_t nt = te - tb;
    const int64_t LB = m.lo_bytes, HB = m.hi_bytes;
    const uint8_t* lo = m.lo.data();
    const uint8_t* hi = m.hi.data();
    const int64_t* cs0 = a.cs0.data();
    const int8_t* xq = a.xq.data();
    const ActiveGroup* groups = a.groups.data();
    const size_t ng = a.groups.size();
    static thread_local AlignedBytes ibuf;  // the group's int32 sums, 8 zmm per tile (L1-resident)
    const size_t need = (size_t)nt * 8 * sizeof(__m512i);
    if (ibuf.size() < need) ibuf = AlignedBytes(need);
    __m512i* sums = reinterpret_cast<__m512i*>(ibuf.data());
    const int64_t d1 = colpass_l1_steps(BITS), d2 = colpass_l2_steps(BITS);
    ColpassCursor c1 = ColpassCursor::at(a, tb, te, d1), c2 = ColpassCursor::at(a, tb, te, d2);
    for (size_t gi = 0; gi < ng; ++gi) {
        const ActiveGroup& ag = groups[gi];
        const int64_t sb = m.groups_per_super ? ag.g / m.groups_per_super : 0;
        int32_t qsum = 0;
        for (int32_t k = ag.begin; k < ag.end; ++k) qsum += xq[k];
        const int32_t qoff = (BITS == 8 ? kQ8Bias : quant_offset(K)) * qsum;
        for (int64_t i = 0; i < nt * 8; ++i) _mm512_store_si512(sums + i, _mm512_setzero_si512());
        for (int32_t k = ag.begin; k < ag.end; k += kPassCols) {
            for (int64_t t = tb; t < te; ++t) {
                c1.prefetch<prefetch_t0>(m, a), c1.advance(a, tb, te);
                if (d2 > d1) c2.prefetch<prefetch_t1>(m, a), c2.advance(a, tb, te);
                __m512i* s = sums + (t - tb) * 8;
                __m512i al[4], ah[4];
                for (int j = 0; j < 4; ++j) al[j] = _mm512_loadu_si512(s + j), ah[j] = _mm512_loadu_si512(s + 4 + j);
                for (int32_t kq = k; kq < k + kPassCols && kq < ag.end; kq += 4)
                    quad_tile<BITS>(lo, hi, cs0, xq, t, kq, ag.end, al, ah);
                for (int j = 0; j < 4; ++j) _mm512_store_si512(s + j, al[j]), _mm512_store_si512(s + 4 + j, ah[j]);
            }
        }
        for (int64_t t = tb; t < te; ++t) {
            __m512i* s = sums + (t - tb) * 8;
            __m512i al[4], ah[4];
            for (int j = 0; j < 4; ++j) al[j] = _mm512_loadu_si512(s + j), ah[j] = _mm512_loadu_si512(s + 4 + j);
            __m512 acc[8];
            finish_tile<BITS>(al, ah, ag.dx, qoff, acc);
            apply_panel<K>(m, t, ag, sb, ag.xsumq, 0.f, acc, y + (t - tb) * T);
        }
    }
}

template <Kind K>
void tile_avx512(const SparseMatrix& m, int64_t tb, int64_t te, const ActiveSet& a, float* y) {
    constexpr int BITS = bits_of(K);
    constexpr int LINES = BITS == 32 ? 4 : BITS == 16 ? 2 : 1;
    constexpr bool kIntPath = BITS <= 8;
    const int T = m.tile, NA = T / 16;
    for (int64_t r = 0; r < (te - tb) * T; r += 16) _mm512_storeu_ps(y + r, _mm512_setzero_ps());
    const int64_t LB = m.lo_bytes, HB = m.hi_bytes, G = m.slice_step();
    const uint8_t* lo = m.lo.data();
    const uint8_t* hi = m.hi.data();
    const int64_t* cs0 = a.cs0.data();
    const float* xv = a.xv.data();
    const int8_t* xq = a.xq.data();
    const size_t ng = a.groups.size();
    if (T != (BITS <= 6 ? 128 : 64)) std::abort();  // repack.cpp's invariant, which apply_panel's NA assumes
    if constexpr (kIntPath) {
        if (m.lo_bytes != kLoBytes<BITS> || m.hi_bytes != kHiBytes<BITS>) std::abort();  // repack.cpp's invariant
        if (ng > 0 && te - tb <= colpass_max_tiles(BITS)) {
            colpass_avx512<K>(m, tb, te, a, y);
            return;
        }
    }
    for (size_t gi = 0; gi < ng; ++gi) {
        const ActiveGroup& ag = a.groups[gi];
        // Prefetch distances once per group: per tile, the L2 budget call and the two divisions took ~20% of a
        // cache-resident call at s = 0.9.
        const int64_t d1 = prefetch_tiles(ag.end - ag.begin), d2 = prefetch_tiles_l2(ag.end - ag.begin);
        const int64_t sb = m.groups_per_super ? ag.g / m.groups_per_super : 0;
        int32_t qsum = 0;  // the integer paths' offset correction
        if constexpr (kIntPath)
            for (int32_t k = ag.begin; k < ag.end; ++k) qsum += xq[k];
        const int32_t qoff = (BITS == 8 ? kQ8Bias : quant_offset(K)) * qsum;
        for (int64_t t = tb; t < te; ++t) {
            // This group's active lines a few tiles ahead (or the next group's first tiles), and farther into L2.
            prefetch_tile_ahead<LINES, prefetch_t0>(m, a, gi, t, d1, tb, te);
            if (d2) prefetch_tile_ahead<LINES, prefetch_t1>(m, a, gi, t, d2, tb, te);
            __m512 acc[8];
            if constexpr (kIntPath) {
                int_group_tile<BITS>(lo, hi, cs0, xq, t * G, ag.begin, ag.end, ag.dx, qoff, acc);
                apply_panel<K>(m, t, ag, sb, ag.xsumq, 0.f, acc, y + (t - tb) * T);
                continue;
            }
            for (int i = 0; i < NA; ++i) acc[i] = _mm512_setzero_ps();
            for (int32_t k = ag.begin; k < ag.end; ++k) {
                const __m512 xb = _mm512_set1_ps(xv[k]);
                column_wide<K>(lo + (cs0[k] + t * G) * LB, xb, acc);
            }
            apply_panel<K>(m, t, ag, sb, ag.xsum, ag.xsum, acc, y + (t - tb) * T);
        }
    }
}

// The integer kinds' kernels of this build: the VNNI set is exactly these, the plain set adds F16 / F32.
constexpr TypeKernels<TileKernel> int_kernels_avx512() {
    return TypeKernels<TileKernel>{}
        .with(GGMLType::Q4_0, tile_avx512<Kind::q4_0>)
        .with(GGMLType::Q4_1, tile_avx512<Kind::q4_1>)
        .with(GGMLType::Q5_0, tile_avx512<Kind::q5_0>)
        .with(GGMLType::Q5_1, tile_avx512<Kind::q5_1>)
        .with(GGMLType::Q8_0, tile_avx512<Kind::q8_0>)
        .with(GGMLType::Q4_K, tile_avx512<Kind::q4_k>)
        .with(GGMLType::Q5_K, tile_avx512<Kind::q5_k>)
        .with(GGMLType::Q6_K, tile_avx512<Kind::q6_k>);
}

}  // namespace
}  // namespace sparse_detail
}  // namespace pysparse
