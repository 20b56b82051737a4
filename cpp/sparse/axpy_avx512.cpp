// AVX-512 (F, BW, VL, DQ) tile kernels of the input-sparse matvec: the AVX2 kernel (axpy_avx2.cpp) with 16-float
// registers, so a whole 128-row tile fits in 8 zmm accumulators and each active line is read once per tile
// (no halves). Unpacking: 16 quant bytes -> 16 int32 (vpmovzxbd) give 16 rows from the low nibbles and 16 rows
// (32 further) from the high nibbles; the 5/6-bit high planes give 16 rows' bits from one u16 / one u32.
// NOTE: written as a close sibling of the tested AVX2 path; the development machine has no AVX-512, so the tests
// run this path only on CPUs that support it.
#include <immintrin.h>

#include <cstring>

#include "sparse/axpy.h"

namespace pysparse {
namespace sparse_detail {

namespace {

constexpr int bits_of(Kind k) {
    return (k == Kind::q4_0 || k == Kind::q4_1 || k == Kind::q4_k) ? 4
           : (k == Kind::q5_0 || k == Kind::q5_1 || k == Kind::q5_k) ? 5
           : k == Kind::q6_k ? 6 : k == Kind::q8_0 ? 8 : k == Kind::f16 ? 16 : 32;
}

// Bits 4 (and 5) of the 16 rows 16 * block16 .. + 15 of a tile, from the high plane.
template <int BITS>
inline __m512i high_bits(const uint8_t* hi, int block16) {
    if constexpr (BITS == 5) {  // bit i of the u16 at hi[2 * block16] is bit 4 of row 16 * block16 + i
        uint16_t v;
        std::memcpy(&v, hi + 2 * block16, 2);
        const __m512i sh = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        return _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32((int)v << 4), sh), _mm512_set1_epi32(16));
    } else {  // bits 2i, 2i+1 of the u32 at hi[4 * block16] are bits 4-5 of row 16 * block16 + i
        uint32_t v;
        std::memcpy(&v, hi + 4 * block16, 4);
        const __m512i sh = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i two = _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32((int)v), sh), _mm512_set1_epi32(3));
        return _mm512_slli_epi32(two, 4);
    }
}

// acc[a] (rows 16a .. 16a+15) += float(q) * x for one 128-row column slice of a 4/5/6-bit format.
template <int BITS>
inline void column_tile(const uint8_t* lo, const uint8_t* hi, __m512 xb, __m512* acc) {
    const __m512i m15 = _mm512_set1_epi32(15);
    for (int kk = 0; kk < 4; ++kk) {
        // bytes 16kk .. +15: low nibbles are rows 64(kk/2) + 16(kk%2) .., high nibbles 32 rows further
        const int al = (kk / 2) * 4 + (kk % 2), au = al + 2;
        __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lo + 16 * kk)));
        __m512i l = _mm512_and_si512(v, m15);
        __m512i u = _mm512_srli_epi32(v, 4);
        if constexpr (BITS >= 5) {
            l = _mm512_or_si512(l, high_bits<BITS>(hi, al));
            u = _mm512_or_si512(u, high_bits<BITS>(hi, au));
        }
        acc[al] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(l), xb, acc[al]);
        acc[au] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(u), xb, acc[au]);
    }
}

// acc[a] (rows 16a .. 16a+15), a < 4, += q * x for one 64-row column slice of Q8_0 / F16 / F32.
template <Kind K>
inline void column_wide(const uint8_t* lo, __m512 xb, __m512* acc) {
    for (int a = 0; a < 4; ++a) {
        __m512 w;
        if constexpr (K == Kind::q8_0)
            w = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lo + 16 * a))));
        else if constexpr (K == Kind::f16)
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

// y[16a ..] += the group's contribution for the tile's T rows (see axpy_generic.cpp apply_panel).
template <Kind K>
inline void apply_panel(const SparseMatrix& m, int64_t t, const ActiveGroup& ag, const __m512* acc, float* y) {
    const int T = m.tile, NA = T / 16;
    if constexpr (K == Kind::f16 || K == Kind::f32) {
        for (int a = 0; a < NA; ++a) _mm512_storeu_ps(y + 16 * a, _mm512_add_ps(_mm512_loadu_ps(y + 16 * a), acc[a]));
        return;
    } else {
        const size_t at = m.panel(t, ag.g) * T;
        const __m512 xs = _mm512_set1_ps(ag.xsum);
        const __m512 xo = _mm512_set1_ps(-(float)quant_offset(K) * ag.xsum);
        if constexpr (K == Kind::q4_k || K == Kind::q5_k || K == Kind::q6_k) {
            const size_t as = m.panel(t, ag.g / m.groups_per_super) * T;
            for (int a = 0; a < NA; ++a) {
                const __m512 d = load_h16(m.sd.data() + (as + 16 * a) * 2);
                __m512 yv = _mm512_loadu_ps(y + 16 * a);
                if constexpr (K == Kind::q6_k) {
                    const __m512 s = _mm512_mul_ps(d, load_s8x16(m.gs.data() + at + 16 * a));
                    yv = _mm512_fmadd_ps(s, _mm512_add_ps(acc[a], xo), yv);
                } else {
                    const __m512 s = _mm512_mul_ps(d, load_u8x16(m.gs.data() + at + 16 * a));
                    const __m512 dm = _mm512_mul_ps(load_h16(m.sm.data() + (as + 16 * a) * 2),
                                                    load_u8x16(m.gm.data() + at + 16 * a));
                    yv = _mm512_fnmadd_ps(dm, xs, _mm512_fmadd_ps(s, acc[a], yv));
                }
                _mm512_storeu_ps(y + 16 * a, yv);
            }
        } else {
            for (int a = 0; a < NA; ++a) {
                const __m512 d = load_h16(m.gs.data() + (at + 16 * a) * 2);
                __m512 yv = _mm512_loadu_ps(y + 16 * a);
                if constexpr (K == Kind::q4_1 || K == Kind::q5_1)
                    yv = _mm512_fmadd_ps(load_h16(m.gm.data() + (at + 16 * a) * 2), xs, _mm512_fmadd_ps(d, acc[a], yv));
                else if constexpr (K == Kind::q8_0)
                    yv = _mm512_fmadd_ps(d, acc[a], yv);
                else
                    yv = _mm512_fmadd_ps(d, _mm512_add_ps(acc[a], xo), yv);
                _mm512_storeu_ps(y + 16 * a, yv);
            }
        }
    }
}

// A prefetch the compiler must keep: GCC deletes loops whose only effect is _mm_prefetch / __builtin_prefetch
// (found by reading the generated code: the prefetch loops below had vanished).
inline void prefetch_t0(const void* p) { asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p))); }

template <Kind K>
void tile_avx512(const SparseMatrix& m, int64_t tb, int64_t te, const ActiveSet& a, float* y) {
    constexpr int BITS = bits_of(K);
    constexpr int LINES = BITS == 32 ? 4 : BITS == 16 ? 2 : 1;
    const int T = m.tile, NA = T / 16;
    for (int64_t r = 0; r < (te - tb) * T; r += 16) _mm512_storeu_ps(y + r, _mm512_setzero_ps());
    const int64_t LB = m.lo_bytes, HB = m.hi_bytes, G = m.slice_step();
    const uint8_t* lo = m.lo.data();
    const uint8_t* hi = m.hi.data();
    const int64_t* cs0 = a.cs0.data();
    const float* xv = a.xv.data();
    const size_t ng = a.groups.size();
    auto prefetch = [&](const ActiveGroup& ag, int64_t t) {
        for (int32_t k = ag.begin; k < ag.end; ++k) {
            const int64_t cs = cs0[k] + t * G;
            for (int l = 0; l < LINES; ++l) prefetch_t0(lo + cs * LB + 64 * l);
            if (HB) prefetch_t0(hi + cs * HB);
        }
    };
    for (size_t gi = 0; gi < ng; ++gi) {
        const ActiveGroup& ag = a.groups[gi];
        for (int64_t t = tb; t < te; ++t) {
            const int64_t tp = t + prefetch_tiles(ag.end - ag.begin);
            if (tp < te) prefetch(ag, tp);
            else if (gi + 1 < ng && tb + (tp - te) < te) prefetch(a.groups[gi + 1], tb + (tp - te));
            __m512 acc[8];
            for (int i = 0; i < NA; ++i) acc[i] = _mm512_setzero_ps();
            for (int32_t k = ag.begin; k < ag.end; ++k) {
                const int64_t cs = cs0[k] + t * G;
                const __m512 xb = _mm512_set1_ps(xv[k]);
                if constexpr (BITS <= 6) column_tile<BITS>(lo + cs * LB, hi + cs * HB, xb, acc);
                else column_wide<K>(lo + cs * LB, xb, acc);
            }
            apply_panel<K>(m, t, ag, acc, y + (t - tb) * T);
        }
    }
}

}  // namespace

TileKernel tile_kernel_avx512(Kind k) {
    switch (k) {
        case Kind::q4_0: return tile_avx512<Kind::q4_0>;
        case Kind::q4_1: return tile_avx512<Kind::q4_1>;
        case Kind::q5_0: return tile_avx512<Kind::q5_0>;
        case Kind::q5_1: return tile_avx512<Kind::q5_1>;
        case Kind::q8_0: return tile_avx512<Kind::q8_0>;
        case Kind::q4_k: return tile_avx512<Kind::q4_k>;
        case Kind::q5_k: return tile_avx512<Kind::q5_k>;
        case Kind::q6_k: return tile_avx512<Kind::q6_k>;
        case Kind::f16: return tile_avx512<Kind::f16>;
        case Kind::f32: return tile_avx512<Kind::f32>;
        default: return nullptr;  // requant reference: generic only
    }
}

}  // namespace sparse_detail
}  // namespace pysparse
