// AVX2 + FMA + F16C tile kernels of the input-sparse matvec (same algorithm as axpy_generic.cpp).
// Q4_x / Q5_x / Q6_K use integer math (int_group_half: the group's active x as int8, vpmaddubsw), measured
// ~1.7x faster than the float path at 4096 x 11008, s = 0 (which was compute-bound at 1.4x the dense time);
// Q8_0 / F16 / F32 use float math (byte/half -> float, FMA with the broadcast x_j).
// Per touched group, per tile of the thread's range, per half of 64 rows (8 ymm accumulators): acc += q[:, j] *
// x_j over the group's active columns, then the group's scale panel is applied once to y (the thread's tiles, in
// L1/L2). A column's slices for consecutive tiles are consecutive lines (sparse_matrix.h), so each active column
// is one sequential stream; the lines prefetch_tiles() (axpy.h) tiles ahead are prefetched exactly. Short ranges of
// tiles (axpy.h colpass_max_tiles; by default Q6_K only) are walked in column passes instead (colpass_avx2: per group, 8 active columns
// over all the range's tiles, int32 sums buffered), bitwise the same outputs.
// Unpacking (see sparse_matrix.h): 8 quant bytes -> 8 int32 (vpmovzxbd) give 8 rows from the low nibbles and 8
// rows (32 further) from the high nibbles; the 5/6-bit high planes give 8 rows' bits from one byte / one u16.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "common/simd_x86.h"
#include "sparse/axpy.h"

namespace pysparse {
namespace sparse_detail {

namespace {

// acc[a] (rows 64h + 8a .. +7) += float(q) * x for one column slice of a 4/5/6-bit format, half h.
template <int BITS>
inline void column_half(const uint8_t* lo, const uint8_t* hi, int h, __m256 xb, __m256* acc) {
    const __m256i m15 = _mm256_set1_epi32(15);
    for (int kk = 0; kk < 4; ++kk) {
        __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(lo + 32 * h + 8 * kk)));
        __m256i l = _mm256_and_si256(v, m15);
        __m256i u = _mm256_srli_epi32(v, 4);
        if constexpr (BITS == 5) {  // bit i of hi[block] is bit 4 of row 8 * block + i
            const __m256i sh = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), c16 = _mm256_set1_epi32(16);
            const int bl = 8 * h + kk, bu = bl + 4;
            l = _mm256_or_si256(l, _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(hi[bl] << 4), sh), c16));
            u = _mm256_or_si256(u, _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(hi[bu] << 4), sh), c16));
        } else if constexpr (BITS == 6) {  // bits 2i, 2i+1 of the u16 at hi[2 * block] are bits 4-5 of row 8 * block + i
            const __m256i sh = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14), c48 = _mm256_set1_epi32(0x30);
            const int bl = 8 * h + kk, bu = bl + 4;
            uint16_t hl, hu;
            std::memcpy(&hl, hi + 2 * bl, 2);
            std::memcpy(&hu, hi + 2 * bu, 2);
            l = _mm256_or_si256(l, _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)hl << 4), sh), c48));
            u = _mm256_or_si256(u, _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)hu << 4), sh), c48));
        }
        acc[kk] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(l), xb, acc[kk]);
        acc[kk + 4] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(u), xb, acc[kk + 4]);
    }
}

// acc[a] (rows 8a .. 8a+7) += q * x for one 64-row column slice of Q8_0 / F16 / F32.
template <Kind K>
inline void column_wide(const uint8_t* lo, __m256 xb, __m256* acc) {
    for (int a = 0; a < 8; ++a) {
        __m256 w;
        if constexpr (K == Kind::q8_0)
            w = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(lo + 8 * a))));
        else if constexpr (K == Kind::f16)
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

// Integer path of the 4-, 5- and 6-bit formats, one half (64 rows) of one tile: acc[a] (rows 64h + 8a ..) = float(sum over
// the group's active columns of q * xq) * dx. Two columns at a time: their nibbles are interleaved byte-wise and
// vpmaddubsw multiplies them with the pair (xq_A, xq_B) -> int16 q_A xq_A + q_B xq_B (|.| <= 2 * 15 * 127); up to
// 8 pairs are summed in int16 (<= 30480), then widened to int32. 2.8x fewer instructions than the float path.
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

// Bits 4-5 of 32 rows (bits 2(r % 4) and 2(r % 4) + 1 of byte r / 4 of the 8 bytes at p) as bytes 0x00..0x30.
inline __m256i bit45_bytes(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    const __m256i idx = _mm256_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3,
                                         4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7);
    const __m256i rep = _mm256_shuffle_epi8(_mm256_set1_epi64x((long long)v), idx);
    const __m256i m0 = _mm256_set1_epi32(0x40100401), m1 = _mm256_set1_epi32((int)0x80200802u);
    const __m256i b0 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(rep, m0), m0), _mm256_set1_epi8(0x10));
    const __m256i b1 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(rep, m1), m1), _mm256_set1_epi8(0x20));
    return _mm256_or_si256(b0, b1);
}

// BITS = 5 (Q5_0 / Q5_1 / Q5_K): the high-bit plane adds bit 4 to each row's nibble; values <= 31, so at most
// 4 pairs are summed in int16 (<= 4 * 2 * 31 * 127 = 31496) before widening. BITS = 6 (Q6_K): bits 4-5, values
// <= 63, 2 pairs (<= 32004).
// Columns [k, kend) (at most kChunk of them, see below) of one half of one tile: a32[i] += their int32 sums.
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
        } else if constexpr (BITS == 6) {  // rows 64h + 0..31: plane bytes 16h .. 16h + 7; 64h + 32..63: + 8
            const uint8_t* ha = hi + (cs0[k] + toff) * HB + 16 * h;
            const uint8_t* hb = pair ? hi + (cs0[k + 1] + toff) * HB + 16 * h : ha;
            al = _mm256_or_si256(al, bit45_bytes(ha));
            ah = _mm256_or_si256(ah, bit45_bytes(ha + 8));
            bl = _mm256_or_si256(bl, bit45_bytes(hb));
            bh = _mm256_or_si256(bh, bit45_bytes(hb + 8));
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

// The int32 sums of one half to floats: acc[i] = dx * (a32[i] - qoff). The format's offset (qoff = offset * sum of
// xq) comes off in integers: a row whose active weights are all zero gives exactly 0, whatever the compiler
// contracts in the float scaling.
inline void finish_half(const __m256i* a32, float dx, int32_t qoff, __m256* acc) {
    const __m256 d = _mm256_set1_ps(dx);
    const __m256i off = _mm256_set1_epi32(qoff);
    for (int i = 0; i < 8; ++i) acc[i] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(a32[i], off)), d);
}

template <int BITS>
constexpr int kChunk = BITS == 4 ? 16 : BITS == 5 ? 8 : 4;  // columns summed in int16 before widening

template <int BITS>
inline void int_group_half(const uint8_t* lo, const uint8_t* hi, int64_t LB, int64_t HB, const int64_t* cs0,
                           const int8_t* xq, int64_t toff, int32_t begin, int32_t end, int h, float dx, int32_t qoff,
                           __m256* acc) {
    __m256i a32[8];
    for (int i = 0; i < 8; ++i) a32[i] = _mm256_setzero_si256();
    for (int32_t k = begin; k < end; k += kChunk<BITS>)
        chunk_half<BITS>(lo, hi, LB, HB, cs0, xq, toff, k, std::min(k + kChunk<BITS>, end), h, a32);
    finish_half(a32, dx, qoff, acc);
}

template <int LINES>
inline void prefetch_lines(const uint8_t* p) {
    for (int l = 0; l < LINES; ++l) prefetch_t0(p + 64 * l);
}

// Column-pass order for short ranges of tiles (axpy.h colpass_max_tiles; the AVX-512 kernel's colpass_avx512 says
// why): per group, kPassCols active columns over all the range's tiles, the int32 sums of both halves of every
// tile in a buffer (16 ymm = 512 bytes per tile), then the epilogue per group and tile. Bitwise the tile order's.
template <Kind K>
void colpass_avx2(const SparseMatrix& m, int64_t tb, int64_t te, const ActiveSet& a, float* y) {
    constexpr int BITS = bits_of(K);
    constexpr int CH = kChunk<BITS> < kPassCols ? kChunk<BITS> : kPassCols;
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
    auto prefetch = [&](const ColpassCursor& c, bool l1) {
        c.for_slices(a, [&](int64_t cs) {
            if (l1) {
                prefetch_t0(lo + cs * LB);
                if (HB) prefetch_t0(hi + cs * HB);
            } else {
                prefetch_t1(lo + cs * LB);
                if (HB) prefetch_t1(hi + cs * HB);
            }
        });
    };
    const int64_t d1 = colpass_l1_steps(BITS), d2 = colpass_l2_steps(BITS);
    ColpassCursor c1 = ColpassCursor::at(a, tb, te, d1), c2 = ColpassCursor::at(a, tb, te, d2);
    for (size_t gi = 0; gi < ng; ++gi) {
        const ActiveGroup& ag = groups[gi];
        int32_t qoff = 0;
        for (int32_t k = ag.begin; k < ag.end; ++k) qoff += xq[k];
        qoff *= quant_offset(K);
        for (int64_t i = 0; i < nt * 16; ++i) _mm256_store_si256(sums + i, _mm256_setzero_si256());
        for (int32_t k = ag.begin; k < ag.end; k += kPassCols) {
            const int32_t ke = std::min(k + kPassCols, ag.end);
            for (int64_t t = tb; t < te; ++t) {
                prefetch(c1, true), c1.advance(a, tb, te);
                if (d2 > d1) prefetch(c2, false), c2.advance(a, tb, te);
                for (int h = 0; h < 2; ++h) {
                    __m256i* s = sums + (t - tb) * 16 + 8 * h;
                    __m256i a32[8];
                    for (int i = 0; i < 8; ++i) a32[i] = _mm256_load_si256(s + i);
                    for (int32_t kc = k; kc < ke; kc += CH)
                        chunk_half<BITS>(lo, hi, LB, HB, cs0, xq, t, kc, std::min(kc + CH, ke), h, a32);
                    for (int i = 0; i < 8; ++i) _mm256_store_si256(s + i, a32[i]);
                }
            }
        }
        for (int64_t t = tb; t < te; ++t)
            for (int h = 0; h < 2; ++h) {
                __m256 acc[8];
                finish_half(sums + (t - tb) * 16 + 8 * h, ag.dx, qoff, acc);
                apply_panel<K>(m, t, ag, ag.xsumq, 0.f, h, acc, y + (t - tb) * T);
            }
    }
}

template <Kind K>
void tile_avx2(const SparseMatrix& m, int64_t tb, int64_t te, const ActiveSet& a, float* y) {
    constexpr int BITS = bits_of(K);
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
    const size_t ng = a.groups.size();
    auto prefetch = [&](const ActiveGroup& ag, int64_t t) {
        for (int32_t k = ag.begin; k < ag.end; ++k) {
            const int64_t cs = cs0[k] + t * G;
            prefetch_lines<LINES>(lo + cs * LB);
            if (HB) prefetch_t0(hi + cs * HB);
        }
    };
    auto prefetch_l2 = [&](const ActiveGroup& ag, int64_t t) {  // see prefetch_tiles_l2 (axpy.h)
        for (int32_t k = ag.begin; k < ag.end; ++k) {
            const int64_t cs = cs0[k] + t * G;
            for (int l = 0; l < LINES; ++l) prefetch_t1(lo + cs * LB + 64 * l);
            if (HB) prefetch_t1(hi + cs * HB);
        }
    };
    if constexpr (BITS <= 6) {
        if (ng > 0 && te - tb <= colpass_max_tiles(BITS)) {
            colpass_avx2<K>(m, tb, te, a, y);
            return;
        }
    }
    for (size_t gi = 0; gi < ng; ++gi) {
        const ActiveGroup& ag = a.groups[gi];
        int32_t qoff = 0;  // the integer path's offset correction: offset * sum of the group's xq
        if constexpr (BITS <= 6) {
            for (int32_t k = ag.begin; k < ag.end; ++k) qoff += a.xq[k];
            qoff *= quant_offset(K);
        }
        for (int64_t t = tb; t < te; ++t) {
            // Prefetch this group's active lines a few tiles ahead, or the next group's first tiles.
            const int64_t tp = t + prefetch_tiles(ag.end - ag.begin);
            if (tp < te) prefetch(ag, tp);
            else if (gi + 1 < ng && tb + (tp - te) < te) prefetch(a.groups[gi + 1], tb + (tp - te));
            if (const int64_t d2 = prefetch_tiles_l2(ag.end - ag.begin)) {
                const int64_t t2 = t + d2;
                if (t2 < te) prefetch_l2(ag, t2);
                else if (gi + 1 < ng && tb + (t2 - te) < te) prefetch_l2(a.groups[gi + 1], tb + (t2 - te));
            }
            for (int h = 0; h < NH; ++h) {
                __m256 acc[8];
                if constexpr (BITS <= 6) {  // integer path: x quantised per group (ActiveGroup::dx)
                    int_group_half<BITS>(lo, hi, LB, HB, cs0, a.xq.data(), t * G, ag.begin, ag.end, h, ag.dx, qoff,
                                         acc);
                    apply_panel<K>(m, t, ag, ag.xsumq, 0.f, h, acc, y + (t - tb) * T);
                    continue;
                }
                for (int i = 0; i < 8; ++i) acc[i] = _mm256_setzero_ps();
                for (int32_t k = ag.begin; k < ag.end; ++k) {
                    const int64_t cs = cs0[k] + t * G;
                    const __m256 xb = _mm256_set1_ps(xv[k]);
                    if constexpr (BITS <= 6) column_half<BITS>(lo + cs * LB, hi + cs * HB, h, xb, acc);
                    else column_wide<K>(lo + cs * LB, xb, acc);
                }
                apply_panel<K>(m, t, ag, ag.xsum, ag.xsum, h, acc, y + (t - tb) * T);
            }
        }
    }
}

}  // namespace

// Every kind but the requant reference (generic only).
constexpr SparseKernels kSparseAvx2 = {
    TypeKernels<TileKernel>{}
        .with(GGMLType::Q4_0, tile_avx2<Kind::q4_0>)
        .with(GGMLType::Q4_1, tile_avx2<Kind::q4_1>)
        .with(GGMLType::Q5_0, tile_avx2<Kind::q5_0>)
        .with(GGMLType::Q5_1, tile_avx2<Kind::q5_1>)
        .with(GGMLType::Q8_0, tile_avx2<Kind::q8_0>)
        .with(GGMLType::Q4_K, tile_avx2<Kind::q4_k>)
        .with(GGMLType::Q5_K, tile_avx2<Kind::q5_k>)
        .with(GGMLType::Q6_K, tile_avx2<Kind::q6_k>)
        .with(GGMLType::F16, tile_avx2<Kind::f16>)
        .with(GGMLType::F32, tile_avx2<Kind::f32>),
    nullptr,
};

}  // namespace sparse_detail
}  // namespace pysparse
