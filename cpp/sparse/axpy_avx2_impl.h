// AVX2 + FMA + F16C tile kernels of the input-sparse matvec (the algorithm of axpy_generic.cpp), included by two files
// that differ only in one macro and their flags: axpy_avx2.cpp (PYSPARSE_AVX_VNNI 0) and axpy_avxvnni.cpp (1, built
// with -mavxvnni, chosen at run time where the CPU has AVX-VNNI: Intel client CPUs from Alder Lake on, and beside
// AVX-512 on Sapphire Rapids). Everything here has internal linkage, so each file keeps its own copy.
//
// Integer math for the 4/5/6-bit formats and Q8_0: a touched group's active x are quantised to int8 (ActiveSet,
// axpy.h), the int32 sums q * xq of each tile half (64 rows, 8 ymm) are scaled by dx, and the group's scale panel
// is applied once to y (the thread's tiles, in L1/L2). Two ways to form the sums, exact either way:
//  - quads (AVX-VNNI, and Q8_0 on both builds): four active columns' 32-byte slices are transposed into byte quads
//    (int32 lane = one row's bytes in the four columns) and multiplied with the broadcast quad of their int8 x, one
//    VPDPBUSD per 8 rows (Q8_0: the weights offset by +128 into u8; without VNNI, ggml's sign trick, |w| times x with
//    w's sign through VPMADDUBSW + VPMADDWD); the sums come out in quad order and are put back in row order once
//    per group and tile (sums_to_rows). About 7 instructions per column and half for Q4_K against ~10 for pairs.
//  - pairs (4/5/6-bit without VNNI): two columns' nibbles interleaved byte-wise, VPMADDUBSW with the pair of x,
//    int16 sums widened to int32 every few columns (chunk_half). Measured ~1.7x faster than the float path this
//    file had first (4096 x 11008, s = 0, compute-bound at 1.4x the dense time).
// F16 / F32 use float FMAs with the broadcast x_j.
// A column's slices for consecutive tiles are consecutive lines (sparse_matrix.h), so each active column is one
// sequential stream; the lines prefetch_tiles() (axpy.h) tiles ahead are prefetched exactly. Short ranges of tiles
// (axpy.h colpass_max_tiles; by default Q6_K only) are walked in column passes instead (colpass_avx2: per group, 8
// active columns over all the range's tiles, int32 sums buffered), bitwise the same outputs.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "common/simd_x86.h"
#include "sparse/axpy.h"

#ifndef PYSPARSE_AVX_VNNI
#error "define PYSPARSE_AVX_VNNI (0 or 1) before including axpy_avx2_impl.h"
#endif

namespace pysparse {
namespace sparse_detail {

namespace {

// acc[a] (rows 8a .. 8a+7) += w * x for one 64-row column slice of F16 / F32.
template <Kind K>
inline void column_wide(const uint8_t* lo, __m256 xb, __m256* acc) {
    for (int a = 0; a < 8; ++a) {
        __m256 w;
        if constexpr (K == Kind::f16)
            w = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lo + 16 * a)));
        else
            w = _mm256_loadu_ps(reinterpret_cast<const float*>(lo + 32 * a));
        acc[a] = _mm256_fmadd_ps(w, xb, acc[a]);
    }
}

inline __m256 load_h8(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

// yt[64h + 8a ..] += the group's contribution (see axpy_generic.cpp apply_panel).
template <Kind K>
// xsum: the group's sum of x for the min term; xoff: the sum the format's offset multiplies (0 when the integer
// path has taken the offset off already).
inline void apply_panel(const SparseMatrix& m, int64_t t, const ActiveGroup& ag, float xsum, float xoff, int h,
                        const __m256* acc, float* yt) {
    const int T = m.tile;
    float* y = yt + 64 * h;  // this tile's rows of the thread's y (32-byte aligned)
    if constexpr (K == Kind::f16 || K == Kind::f32) {
        for (int a = 0; a < 8; ++a) _mm256_store_ps(y + 8 * a, _mm256_add_ps(_mm256_load_ps(y + 8 * a), acc[a]));
        return;
    } else {
        // Panel pointers as locals, made in the branch that reads them (a format without mins has no gm panel):
        // read through m, every store to y (which might alias) reloaded them.
        const size_t at = m.panel(t, ag.g) * T + 64 * h;
        const __m256 xs = _mm256_set1_ps(xsum);
        const __m256 xo = _mm256_set1_ps(-(float)quant_offset(K) * xoff);
        if constexpr (K == Kind::q4_k || K == Kind::q5_k || K == Kind::q6_k) {
            const size_t as = m.panel(t, ag.g / m.groups_per_super) * T + 64 * h;
            const uint8_t* const gs = m.gs.data() + at;
            const uint8_t* const sd = m.sd.data() + as * 2;
            const uint8_t* const gm = K == Kind::q6_k ? nullptr : m.gm.data() + at;  // Q6_K has no mins
            const uint8_t* const sm = K == Kind::q6_k ? nullptr : m.sm.data() + as * 2;
            PYSPARSE_UNROLL
            for (int a = 0; a < 8; ++a) {
                const __m256 d = load_h8(sd + 16 * a);
                const __m128i scb = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(gs + 8 * a));
                __m256 yv = _mm256_load_ps(y + 8 * a);
                if constexpr (K == Kind::q6_k) {
                    const __m256 s = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(scb)));
                    yv = _mm256_fmadd_ps(s, _mm256_add_ps(acc[a], xo), yv);
                } else {
                    const __m256 s = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(scb)));
                    const __m128i mnb = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(gm + 8 * a));
                    const __m256 dm = _mm256_mul_ps(load_h8(sm + 16 * a),
                                                    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(mnb)));
                    yv = _mm256_fnmadd_ps(dm, xs, _mm256_fmadd_ps(s, acc[a], yv));
                }
                _mm256_store_ps(y + 8 * a, yv);
            }
        } else {
            const uint8_t* const gs16 = m.gs.data() + at * 2;  // fp16 panels
            const uint8_t* const gm16 = K == Kind::q4_1 || K == Kind::q5_1 ? m.gm.data() + at * 2 : nullptr;
            PYSPARSE_UNROLL
            for (int a = 0; a < 8; ++a) {
                const __m256 d = load_h8(gs16 + 16 * a);
                __m256 yv = _mm256_load_ps(y + 8 * a);
                if constexpr (K == Kind::q4_1 || K == Kind::q5_1)
                    yv = _mm256_fmadd_ps(load_h8(gm16 + 16 * a), xs, _mm256_fmadd_ps(d, acc[a], yv));
                else if constexpr (K == Kind::q8_0)
                    yv = _mm256_fmadd_ps(d, acc[a], yv);
                else
                    yv = _mm256_fmadd_ps(d, _mm256_add_ps(acc[a], xo), yv);
                _mm256_store_ps(y + 8 * a, yv);
            }
        }
    }
}

// 32 bytes, byte i = 0x10 if bit i of the 32 bits at p is set (row i's bit 4), else 0 (llama.cpp's
// bytes_from_bits_32).
inline __m256i bit4_bytes(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), shuf);
    b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_and_si256(_mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(0x10));
}

// Bits 4-5 of rows 32k .. 32k + 31 from the 32-byte Q6_K plane p (bits 2k, 2k + 1 of byte b: row 32k + b,
// sparse_matrix.h) as bytes 0x00..0x30 in row order: one shift (by 4 - 2k) and a mask.
inline __m256i plane6_rows(__m256i p, int k) {
    const __m256i s = k == 0 ? _mm256_slli_epi16(p, 4) : k == 1 ? _mm256_slli_epi16(p, 2) : k == 2 ? p
                    : _mm256_srli_epi16(p, 2);
    return _mm256_and_si256(s, _mm256_set1_epi8(0x30));
}

// Pairs (4/5/6-bit without VNNI): columns [k, kend) (at most kChunk of them, see below) of half h of one tile:
// a32[i] (rows 64h + 8i) += their int32 sums. Two columns at a time: their values are interleaved byte-wise and
// vpmaddubsw multiplies them with the pair (xq_A, xq_B) -> int16 q_A xq_A + q_B xq_B; up to 8 pairs (4-bit:
// <= 8 * 2 * 15 * 127 = 30480) are summed in int16, then widened to int32. BITS = 5 (Q5_0 / Q5_1 / Q5_K): the
// high-bit plane adds bit 4; values <= 31, so at most 4 pairs (<= 31496). BITS = 6 (Q6_K): bits 4-5, values <= 63,
// 2 pairs (<= 32004).
template <int BITS>
inline void chunk_half(const uint8_t* lo, const uint8_t* hi, int64_t LB, int64_t HB, const int64_t* cs0,
                       const int8_t* xq, int64_t toff, int32_t k, int32_t kend, int h, __m256i* a32) {
    const __m256i m0f = _mm256_set1_epi8(0x0f);
    __m256i a16[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                      _mm256_setzero_si256()};
    for (; k < kend; k += 2) {
        const bool pair = k + 1 < kend;
        const uint8_t* pa = lo + (cs0[k] + toff) * LB + 32 * h;
        const uint8_t* pb = pair ? lo + (cs0[k + 1] + toff) * LB + 32 * h : pa;
        const int xb = pair ? xq[k + 1] : 0;
        const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pa));
        const __m256i vb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pb));
        __m256i al = _mm256_and_si256(va, m0f), ah = _mm256_and_si256(_mm256_srli_epi16(va, 4), m0f);
        __m256i bl = _mm256_and_si256(vb, m0f), bh = _mm256_and_si256(_mm256_srli_epi16(vb, 4), m0f);
        if constexpr (BITS == 5) {  // rows 64h + 0..31 and 64h + 32..63: bits 64h .. of the plane
            const uint8_t* ha = hi + (cs0[k] + toff) * HB + 8 * h;
            const uint8_t* hb = pair ? hi + (cs0[k + 1] + toff) * HB + 8 * h : ha;
            al = _mm256_or_si256(al, bit4_bytes(ha));
            ah = _mm256_or_si256(ah, bit4_bytes(ha + 4));
            bl = _mm256_or_si256(bl, bit4_bytes(hb));
            bh = _mm256_or_si256(bh, bit4_bytes(hb + 4));
        } else if constexpr (BITS == 6) {  // rows 64h + 0..31: plane shift k = 2h; 64h + 32..63: 2h + 1
            const uint8_t* ha = hi + (cs0[k] + toff) * HB;
            const uint8_t* hb = pair ? hi + (cs0[k + 1] + toff) * HB : ha;
            const __m256i pa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ha));
            const __m256i pb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hb));
            al = _mm256_or_si256(al, plane6_rows(pa, 2 * h));
            ah = _mm256_or_si256(ah, plane6_rows(pa, 2 * h + 1));
            bl = _mm256_or_si256(bl, plane6_rows(pb, 2 * h));
            bh = _mm256_or_si256(bh, plane6_rows(pb, 2 * h + 1));
        }
        const __m256i xp = _mm256_set1_epi16((int16_t)(uint16_t)((uint8_t)xq[k] | ((uint8_t)xb << 8)));
        a16[0] = _mm256_add_epi16(a16[0], _mm256_maddubs_epi16(_mm256_unpacklo_epi8(al, bl), xp));
        a16[1] = _mm256_add_epi16(a16[1], _mm256_maddubs_epi16(_mm256_unpackhi_epi8(al, bl), xp));
        a16[2] = _mm256_add_epi16(a16[2], _mm256_maddubs_epi16(_mm256_unpacklo_epi8(ah, bh), xp));
        a16[3] = _mm256_add_epi16(a16[3], _mm256_maddubs_epi16(_mm256_unpackhi_epi8(ah, bh), xp));
    }
    // unpacklo/hi work per 128-bit lane: a16[0] holds rows 0-7 | 16-23, a16[1] rows 8-15 | 24-31, a16[2] rows
    // 32-39 | 48-55, a16[3] rows 40-47 | 56-63.
    static const int kLow[4] = {0, 1, 4, 5}, kHigh[4] = {2, 3, 6, 7};
    for (int i = 0; i < 4; ++i) {
        a32[kLow[i]] = _mm256_add_epi32(a32[kLow[i]], _mm256_cvtepi16_epi32(_mm256_castsi256_si128(a16[i])));
        a32[kHigh[i]] = _mm256_add_epi32(a32[kHigh[i]], _mm256_cvtepi16_epi32(_mm256_extracti128_si256(a16[i], 1)));
    }
}

// The int32 sums of one half in row order to floats: acc[i] = dx * (a32[i] - qoff). The format's offset (qoff =
// offset * sum of xq, or Q8_0's +128 with VNNI) comes off in integers: a row whose active weights are all zero gives
// exactly 0, whatever the compiler contracts in the float scaling.
inline void finish_half(const __m256i* a32, float dx, int32_t qoff, __m256* acc) {
    const __m256 d = _mm256_set1_ps(dx);
    const __m256i off = _mm256_set1_epi32(qoff);
    for (int i = 0; i < 8; ++i) acc[i] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(a32[i], off)), d);
}

template <int BITS>
constexpr int kChunk = BITS == 4 ? 16 : BITS == 5 ? 8 : 4;  // columns summed in int16 before widening (pairs)

// Which sums a format's integer path forms on this build (see the top of the file).
template <int BITS>
constexpr bool kQuads = PYSPARSE_AVX_VNNI || BITS == 8;
// Q8_0's weight offset in the quads: +128 into u8 for VPDPBUSD; 0 for the sign trick.
constexpr int32_t kQ8Bias = PYSPARSE_AVX_VNNI ? 128 : 0;

// acc (8 int32 lanes) += the dot products of the 4 unsigned bytes of each lane of w with the 4 signed bytes of x.
inline __m256i dot4(__m256i acc, __m256i w, __m256i x) {
#if PYSPARSE_AVX_VNNI
    return _mm256_dpbusd_avx_epi32(acc, w, x);
#else  // w <= 63 here: |w0 x0 + w1 x1| <= 16002, no saturation
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
#endif
}
// The same for signed w (Q8_0 without VNNI): |w| times x with w's sign (|pair| <= 2 * 128 * 127 = 32512).
inline __m256i dot4_signed(__m256i acc, __m256i w, __m256i x) {
    const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

// Four 32-byte column slices v[c] -> four vectors of byte quads: lane 4L + i of q[j] holds byte 16L + 4j + i of
// v[0], v[1], v[2], v[3] (in that byte order). The unpacks work within 128-bit lanes L.
inline void transpose_quads(const __m256i* v, __m256i* q) {
    const __m256i ab_lo = _mm256_unpacklo_epi8(v[0], v[1]), ab_hi = _mm256_unpackhi_epi8(v[0], v[1]);
    const __m256i cd_lo = _mm256_unpacklo_epi8(v[2], v[3]), cd_hi = _mm256_unpackhi_epi8(v[2], v[3]);
    q[0] = _mm256_unpacklo_epi16(ab_lo, cd_lo);
    q[1] = _mm256_unpackhi_epi16(ab_lo, cd_lo);
    q[2] = _mm256_unpacklo_epi16(ab_hi, cd_hi);
    q[3] = _mm256_unpackhi_epi16(ab_hi, cd_hi);
}

// One quad of active columns k .. k + 3 (a short last quad repeats column k with x = 0), half h of one tile:
// a[j] (low 32 rows) and a[4 + j] (high 32 rows) += q * xq in quad order (transpose_quads). 4/5/6-bit: the
// slice's bytes 32h .. 32h + 31, low nibbles rows 64h + 0..31, high nibbles rows 64h + 32..63 (plus the plane's
// bits); Q8_0 (64-row tiles, h = 0): bytes 0-31 and 32-63.
template <int BITS>
inline void quad_half(const uint8_t* lo, const uint8_t* hi, const int64_t* cs0, const int8_t* xq, int64_t toff,
                      int32_t k, int32_t end, int h, __m256i* a) {
    constexpr int64_t LB = 64, HB = BITS == 5 ? 16 : BITS == 6 ? 32 : 0;  // repack.cpp's slice sizes
    const __m256i m0f = _mm256_set1_epi8(0x0f);
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
    const __m256i xb = _mm256_set1_epi32((int)xw);
    __m256i l[4], u[4], q[4];
    for (int c = 0; c < 4; ++c) {
        const uint8_t* p = lo + cs[c] * LB;
        if constexpr (BITS == 8) {
            l[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
            u[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
            if constexpr (kQ8Bias != 0) {
                l[c] = _mm256_xor_si256(l[c], _mm256_set1_epi8((char)0x80));
                u[c] = _mm256_xor_si256(u[c], _mm256_set1_epi8((char)0x80));
            }
        } else {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * h));
            l[c] = _mm256_and_si256(v, m0f);
            u[c] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m0f);
            if constexpr (BITS == 5) {  // rows 64h + 0..31 and 64h + 32..63: plane bits 64h ..
                l[c] = _mm256_or_si256(l[c], bit4_bytes(hi + cs[c] * HB + 8 * h));
                u[c] = _mm256_or_si256(u[c], bit4_bytes(hi + cs[c] * HB + 8 * h + 4));
            } else if constexpr (BITS == 6) {
                const __m256i pl = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi + cs[c] * HB));
                l[c] = _mm256_or_si256(l[c], plane6_rows(pl, 2 * h));
                u[c] = _mm256_or_si256(u[c], plane6_rows(pl, 2 * h + 1));
            }
        }
    }
    transpose_quads(l, q);
    for (int j = 0; j < 4; ++j) a[j] = BITS == 8 && kQ8Bias == 0 ? dot4_signed(a[j], q[j], xb) : dot4(a[j], q[j], xb);
    transpose_quads(u, q);
    for (int j = 0; j < 4; ++j)
        a[4 + j] = BITS == 8 && kQ8Bias == 0 ? dot4_signed(a[4 + j], q[j], xb) : dot4(a[4 + j], q[j], xb);
}

// Columns [k, kend) of half h of one tile: a32[i] += their int32 sums (quad order with quads, else row order).
template <int BITS>
inline void sum_half(const uint8_t* lo, const uint8_t* hi, int64_t LB, int64_t HB, const int64_t* cs0,
                     const int8_t* xq, int64_t toff, int32_t k, int32_t kend, int h, __m256i* a32) {
    if constexpr (kQuads<BITS>) {
        for (; k < kend; k += 4) quad_half<BITS>(lo, hi, cs0, xq, toff, k, kend, h, a32);
    } else {
        for (; k < kend; k += kChunk<BITS>)
            chunk_half<BITS>(lo, hi, LB, HB, cs0, xq, toff, k, std::min(k + kChunk<BITS>, kend), h, a32);
    }
}

// The int32 sums of one half in row order (rows 64h + 8i in a32[i]): quads' sums are put back from quad order,
// q[j] lane 4L + i = row 16L + 4j + i of each 32-row part (a 2 x 2 swap of 128-bit blocks per 8 rows).
template <int BITS>
inline void sums_to_rows(const __m256i* s, __m256i* a32) {
    if constexpr (kQuads<BITS>) {
        for (int p = 0; p < 2; ++p) {
            const __m256i* q = s + 4 * p;
            a32[4 * p + 0] = _mm256_permute2x128_si256(q[0], q[1], 0x20);
            a32[4 * p + 1] = _mm256_permute2x128_si256(q[2], q[3], 0x20);
            a32[4 * p + 2] = _mm256_permute2x128_si256(q[0], q[1], 0x31);
            a32[4 * p + 3] = _mm256_permute2x128_si256(q[2], q[3], 0x31);
        }
    } else {
        for (int i = 0; i < 8; ++i) a32[i] = s[i];
    }
}

// The integer path's offset correction of one group: offset * sum of its xq (Q8_0: kQ8Bias).
template <Kind K>
inline int32_t group_qoff(const int8_t* xq, const ActiveGroup& ag) {
    int32_t qsum = 0;
    for (int32_t k = ag.begin; k < ag.end; ++k) qsum += xq[k];
    return (bits_of(K) == 8 ? kQ8Bias : quant_offset(K)) * qsum;
}

// Column-pass order for short ranges of tiles (axpy.h colpass_max_tiles; the AVX-512 kernel's colpass_avx512 says
// why): per group, kPassCols active columns over all the range's tiles, the int32 sums of both halves of every
// tile in a buffer (16 ymm = 512 bytes per tile), then the epilogue per group and tile. Bitwise the tile order's.
template <Kind K>
void colpass_avx2(const SparseMatrix& m, int64_t tb, int64_t te, const ActiveSet& a, float* y) {
    constexpr int BITS = bits_of(K);
    constexpr int NH = BITS <= 6 ? 2 : 1;  // 64-row halves per tile
    constexpr int CH = kQuads<BITS> ? kPassCols : kChunk<BITS> < kPassCols ? kChunk<BITS> : kPassCols;
    const int T = m.tile;
    const int64_t nt = te - tb;
    const int64_t LB = m.lo_bytes, HB = m.hi_bytes;
    const uint8_t* lo = m.lo.data();
    const uint8_t* hi = m.hi.data();
    const int64_t* cs0 = a.cs0.data();
    const int8_t* xq = a.xq.data();
    const ActiveGroup* groups = a.groups.data();
    const size_t ng = a.groups.size();
    static thread_local AlignedBytes ibuf;  // the group's int32 sums, 16 ymm per tile
    const size_t need = (size_t)nt * 16 * sizeof(__m256i);
    if (ibuf.size() < need) ibuf = AlignedBytes(need);
    __m256i* sums = reinterpret_cast<__m256i*>(ibuf.data());
    const int64_t d1 = colpass_l1_steps(BITS), d2 = colpass_l2_steps(BITS);
    ColpassCursor c1 = ColpassCursor::at(a, tb, te, d1), c2 = ColpassCursor::at(a, tb, te, d2);
    for (size_t gi = 0; gi < ng; ++gi) {
        const ActiveGroup& ag = groups[gi];
        const int32_t qoff = group_qoff<K>(xq, ag);
        for (int64_t i = 0; i < nt * 16; ++i) _mm256_store_si256(sums + i, _mm256_setzero_si256());
        for (int32_t k = ag.begin; k < ag.end; k += kPassCols) {
            const int32_t ke = std::min(k + kPassCols, ag.end);
            for (int64_t t = tb; t < te; ++t) {
                c1.prefetch<prefetch_t0>(m, a), c1.advance(a, tb, te);
                if (d2 > d1) c2.prefetch<prefetch_t1>(m, a), c2.advance(a, tb, te);
                for (int h = 0; h < NH; ++h) {
                    __m256i* s = sums + (t - tb) * 16 + 8 * h;
                    __m256i a32[8];
                    for (int i = 0; i < 8; ++i) a32[i] = _mm256_load_si256(s + i);
                    for (int32_t kc = k; kc < ke; kc += CH)
                        sum_half<BITS>(lo, hi, LB, HB, cs0, xq, t, kc, std::min(kc + CH, ke), h, a32);
                    for (int i = 0; i < 8; ++i) _mm256_store_si256(s + i, a32[i]);
                }
            }
        }
        for (int64_t t = tb; t < te; ++t)
            for (int h = 0; h < NH; ++h) {
                __m256i a32[8];
                __m256 acc[8];
                sums_to_rows<BITS>(sums + (t - tb) * 16 + 8 * h, a32);
                finish_half(a32, ag.dx, qoff, acc);
                apply_panel<K>(m, t, ag, ag.xsumq, 0.f, h, acc, y + (t - tb) * T);
            }
    }
}

template <Kind K>
void tile_avx2(const SparseMatrix& m, int64_t tb, int64_t te, const ActiveSet& a, float* y) {
    constexpr int BITS = bits_of(K);
    constexpr bool kIntPath = BITS <= 8;     // 4/5/6-bit and Q8_0; F16 / F32 take float FMAs
    constexpr int NH = BITS <= 6 ? 2 : 1;  // 64-row halves per tile
    constexpr int LINES = BITS == 32 ? 4 : BITS == 16 ? 2 : 1;
    const int T = m.tile;
    for (int64_t r = 0; r < (te - tb) * T; r += 8) _mm256_store_ps(y + r, _mm256_setzero_ps());
    const int64_t LB = m.lo_bytes, HB = m.hi_bytes;
    const int64_t G = m.slice_step();  // from a column's slice in one tile to the next tile's
    const uint8_t* lo = m.lo.data();
    const uint8_t* hi = m.hi.data();
    const int64_t* cs0 = a.cs0.data();
    const float* xv = a.xv.data();
    const int8_t* xq = a.xq.data();
    const size_t ng = a.groups.size();
    if constexpr (kIntPath) {
        // repack.cpp's invariants, which quad_half's compile-time slice sizes and apply_panel's halves assume
        if (T != (BITS <= 6 ? 128 : 64) || LB != 64 || HB != (BITS == 5 ? 16 : BITS == 6 ? 32 : 0)) std::abort();
        if (ng > 0 && te - tb <= colpass_max_tiles(BITS)) {
            colpass_avx2<K>(m, tb, te, a, y);
            return;
        }
    }
    for (size_t gi = 0; gi < ng; ++gi) {
        const ActiveGroup& ag = a.groups[gi];
        // Prefetch distances once per group: per tile, the L2 budget call and the two divisions took ~20% of a
        // cache-resident call at s = 0.9.
        const int64_t d1 = prefetch_tiles(ag.end - ag.begin), d2 = prefetch_tiles_l2(ag.end - ag.begin);
        const int32_t qoff = kIntPath ? group_qoff<K>(xq, ag) : 0;
        for (int64_t t = tb; t < te; ++t) {
            // This group's active lines a few tiles ahead (or the next group's first tiles), and farther into L2.
            prefetch_tile_ahead<LINES, prefetch_t0>(m, a, gi, t, d1, tb, te);
            if (d2) prefetch_tile_ahead<LINES, prefetch_t1>(m, a, gi, t, d2, tb, te);
            for (int h = 0; h < NH; ++h) {
                __m256 acc[8];
                if constexpr (kIntPath) {  // x quantised per group (ActiveGroup::dx)
                    __m256i s[8], a32[8];
                    for (int i = 0; i < 8; ++i) s[i] = _mm256_setzero_si256();
                    sum_half<BITS>(lo, hi, LB, HB, cs0, xq, t * G, ag.begin, ag.end, h, s);
                    sums_to_rows<BITS>(s, a32);
                    finish_half(a32, ag.dx, qoff, acc);
                    apply_panel<K>(m, t, ag, ag.xsumq, 0.f, h, acc, y + (t - tb) * T);
                } else {
                    for (int i = 0; i < 8; ++i) acc[i] = _mm256_setzero_ps();
                    for (int32_t k = ag.begin; k < ag.end; ++k)
                        column_wide<K>(lo + (cs0[k] + t * G) * LB, _mm256_set1_ps(xv[k]), acc);
                    apply_panel<K>(m, t, ag, ag.xsum, ag.xsum, h, acc, y + (t - tb) * T);
                }
            }
        }
    }
}

// The integer kinds' kernels of this build: the AVX-VNNI set is exactly these, the AVX2 set adds F16 / F32.
constexpr TypeKernels<TileKernel> int_kernels_avx2() {
    return TypeKernels<TileKernel>{}
        .with(GGMLType::Q4_0, tile_avx2<Kind::q4_0>)
        .with(GGMLType::Q4_1, tile_avx2<Kind::q4_1>)
        .with(GGMLType::Q5_0, tile_avx2<Kind::q5_0>)
        .with(GGMLType::Q5_1, tile_avx2<Kind::q5_1>)
        .with(GGMLType::Q8_0, tile_avx2<Kind::q8_0>)
        .with(GGMLType::Q4_K, tile_avx2<Kind::q4_k>)
        .with(GGMLType::Q5_K, tile_avx2<Kind::q5_k>)
        .with(GGMLType::Q6_K, tile_avx2<Kind::q6_k>);
}

}  // namespace
}  // namespace sparse_detail
}  // namespace pysparse
