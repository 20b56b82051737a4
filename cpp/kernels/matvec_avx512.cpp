// AVX-512 (F, BW, VL, DQ) row dot products: the AVX2 kernels (matvec_avx2.cpp) with 512-bit registers.
// 32-element block types take two blocks per step (an odd last block pairs with zeros and a zero scale); the K
// formats take two 64-element chunks per step. AVX-512 has no vpsignb, so signed x signed products use |a| and
// a masked negation of b, and the -8 / -16 / -32 offsets are taken off as maddubs(offset, x) (exact in int16).
// On AMD Zen 4 the AVX2 kernels are faster for several types: the set at the end (kDenseAvx512) leaves those
// types out, so the path falls back to the AVX2 kernels there (see why).
#include <immintrin.h>

#include "common/simd_avx512.h"
#include "kernels/vec_dot.h"
#include "quant/blocks.h"

namespace pysparse {

namespace {

inline __m512 join_ps(float lo, float hi) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(lo)), _mm256_set1_ps(hi), 1);
}

// int16 pairs -> int32 -> float.
inline __m512 pairs_to_f32(__m512i p16) { return _mm512_cvtepi32_ps(_mm512_madd_epi16(p16, _mm512_set1_epi16(1))); }

// 5-bit quants 0..31: nibble + 16 where bit j of qh is set.
inline __m256i five_bits_32(const uint8_t* qs, const uint8_t* qh) {
    const __m256i nib = nibbles_32(qs);
    return _mm256_mask_add_epi8(nib, static_cast<__mmask32>(load_u32(qh)), nib, _mm256_set1_epi8(16));
}

// ---------------------------------------------------------------- float weights

float vec_dot_f32_avx512(int64_t n, const void* vw, const void* vx) {
    const float* w = static_cast<const float*>(vw);
    const float* x = static_cast<const float*>(vx);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        prefetch_ahead(w + j, 2);
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + j), _mm512_loadu_ps(x + j), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + j + 16), _mm512_loadu_ps(x + j + 16), a1);
    }
    for (; j + 16 <= n; j += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + j), _mm512_loadu_ps(x + j), a0);
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    for (; j < n; ++j) sum += w[j] * x[j];
    return sum;
}

inline __m512 load_f16x16(const fp16_t* p) { return _mm512_cvtph_ps(load256(p)); }

float vec_dot_f16_avx512(int64_t n, const void* vw, const void* vx) {
    const fp16_t* w = static_cast<const fp16_t*>(vw);
    const float* x = static_cast<const float*>(vx);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        prefetch_ahead(w + j, 1);
        a0 = _mm512_fmadd_ps(load_f16x16(w + j), _mm512_loadu_ps(x + j), a0);
        a1 = _mm512_fmadd_ps(load_f16x16(w + j + 16), _mm512_loadu_ps(x + j + 16), a1);
    }
    for (; j + 16 <= n; j += 16) a0 = _mm512_fmadd_ps(load_f16x16(w + j), _mm512_loadu_ps(x + j), a0);
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    for (; j < n; ++j) sum += f16(w[j]) * x[j];
    return sum;
}

inline __m512 load_bf16x16(const bf16_t* p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(load256(p)), 16));
}

float vec_dot_bf16_avx512(int64_t n, const void* vw, const void* vx) {
    const bf16_t* w = static_cast<const bf16_t*>(vw);
    const float* x = static_cast<const float*>(vx);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        prefetch_ahead(w + j, 1);
        a0 = _mm512_fmadd_ps(load_bf16x16(w + j), _mm512_loadu_ps(x + j), a0);
        a1 = _mm512_fmadd_ps(load_bf16x16(w + j + 16), _mm512_loadu_ps(x + j + 16), a1);
    }
    for (; j + 16 <= n; j += 16) a0 = _mm512_fmadd_ps(load_bf16x16(w + j), _mm512_loadu_ps(x + j), a0);
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    for (; j < n; ++j) sum += bf16_to_fp32(w[j]) * x[j];
    return sum;
}

// ---------------------------------------------------------------- 32-element blocks, two per step

// Per weight format: its 32 quants as unsigned bytes, the offset subtracted from them (8, 16 or 0), the block's
// scale product with x's, and the min term (m * s, Q4_1 / Q5_1 only).
struct Q4_0T {
    using BW = block_q4_0; using BX = block_q8_0;
    static constexpr int kOffset = 8;
    static __m256i quants(const BW& w) { return nibbles_32(w.qs); }
    static float scale(const BW& w, const BX& x) { return f16(w.d) * f16(x.d); }
    static float min(const BW&, const BX&) { return 0.0f; }
};
struct Q4_1T {
    using BW = block_q4_1; using BX = block_q8_1;
    static constexpr int kOffset = 0;
    static __m256i quants(const BW& w) { return nibbles_32(w.qs); }
    static float scale(const BW& w, const BX& x) { return f16(w.d) * x.d; }
    static float min(const BW& w, const BX& x) { return f16(w.m) * x.s; }
};
struct Q5_0T {
    using BW = block_q5_0; using BX = block_q8_0;
    static constexpr int kOffset = 16;
    static __m256i quants(const BW& w) { return five_bits_32(w.qs, w.qh); }
    static float scale(const BW& w, const BX& x) { return f16(w.d) * f16(x.d); }
    static float min(const BW&, const BX&) { return 0.0f; }
};
struct Q5_1T {
    using BW = block_q5_1; using BX = block_q8_1;
    static constexpr int kOffset = 0;
    static __m256i quants(const BW& w) { return five_bits_32(w.qs, w.qh); }
    static float scale(const BW& w, const BX& x) { return f16(w.d) * x.d; }
    static float min(const BW& w, const BX& x) { return f16(w.m) * x.s; }
};

template <class T>
inline __m512 block_pair(__m256i qw0, __m256i qw1, __m256i qx0, __m256i qx1) {
    const __m512i qw = join(qw0, qw1), qx = join(qx0, qx1);
    __m512i p = _mm512_maddubs_epi16(qw, qx);
    if (T::kOffset) p = _mm512_sub_epi16(p, _mm512_maddubs_epi16(_mm512_set1_epi8(T::kOffset), qx));
    return pairs_to_f32(p);
}

template <class T>
float vec_dot_32_avx512(int64_t n, const void* vw, const void* vx) {
    const auto* w = static_cast<const typename T::BW*>(vw);
    const auto* x = static_cast<const typename T::BX*>(vx);
    const int64_t nb = n / 32;
    __m512 acc = _mm512_setzero_ps();
    float summs = 0.0f;
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
        prefetch_ahead(&w[b], 2);
        const __m512 p = block_pair<T>(T::quants(w[b]), T::quants(w[b + 1]), load256(x[b].qs), load256(x[b + 1].qs));
        acc = _mm512_fmadd_ps(join_ps(T::scale(w[b], x[b]), T::scale(w[b + 1], x[b + 1])), p, acc);
        summs += T::min(w[b], x[b]) + T::min(w[b + 1], x[b + 1]);
    }
    if (b < nb) {  // odd last block: the upper half is zeros with a zero scale
        const __m256i z = _mm256_setzero_si256();
        const __m512 p = block_pair<T>(T::quants(w[b]), z, load256(x[b].qs), z);
        acc = _mm512_fmadd_ps(join_ps(T::scale(w[b], x[b]), 0.0f), p, acc);
        summs += T::min(w[b], x[b]);
    }
    return _mm512_reduce_add_ps(acc) + summs;
}

// ---------------------------------------------------------------- K formats

// int16 scale a in the low 256 bits, b in the high 256 bits.
inline __m512i scales2(int a, int b) {
    return join(_mm256_set1_epi16(static_cast<short>(a)), _mm256_set1_epi16(static_cast<short>(b)));
}

// Q4_K / Q5_K: chunks c and c + 1 (64 elements each) per step. qs bytes of the two chunks are 64 consecutive
// bytes: low nibbles -> sub-blocks 2c | 2c + 2, high nibbles -> 2c + 1 | 2c + 3; x likewise from two 32-byte halves.
// NT tokens against one row (matmul; NT = 1 is the matvec kernel): the weight side (scales, mins, nibbles, high
// bits) is unpacked once per super-block and chunk pair, and every token's float operations run in the same order
// as for NT = 1, so out[t] equals the single-token result bit for bit.
template <bool kFive, int NT>
void vec_dot_qK_q8_K_avx512(int64_t n, const uint8_t* wbytes, size_t wsize, const block_q8_K* const* xs, float* out) {
    const int64_t nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16);
    __m512 acc[NT];
    __m128 acc_m[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps(), acc_m[t] = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* wb = wbytes + b * wsize;
        prefetch_ahead(wb, 3);
        fp16_t dw, dminw;
        std::memcpy(&dw, wb, 2);
        std::memcpy(&dminw, wb + 2, 2);
        const uint8_t* scales = wb + 4;
        const uint8_t* qh = kFive ? wb + 16 : nullptr;
        const uint8_t* qs = kFive ? wb + 48 : wb + 16;
        uint32_t sm[4];
        unpack_scales_mins_k4(scales, sm);
        for (int t = 0; t < NT; ++t) {
            const float dmin = -f16(dminw) * xs[t][b].d;
            acc_m[t] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(mins_dot_bsums(sm, xs[t][b].bsums)), acc_m[t]);
        }
        uint8_t sc[8];
        std::memcpy(sc, sm, 8);
        __m512i hbits = _mm512_setzero_si512();
        if (kFive) hbits = join(load256(qh), load256(qh));
        __m512i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c += 2) {
            const __m512i bits = _mm512_loadu_si512(qs + 32 * c);
            __m512i lo = _mm512_and_si512(bits, m4);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(bits, 4), m4);
            if (kFive) {  // bit 2c / 2c + 1 of qh[l] for chunk c, 2c + 2 / 2c + 3 for chunk c + 1
                const __m512i blo = join(_mm256_set1_epi8(static_cast<char>(1 << (2 * c))),
                                         _mm256_set1_epi8(static_cast<char>(1 << (2 * c + 2))));
                const __m512i bhi = join(_mm256_set1_epi8(static_cast<char>(1 << (2 * c + 1))),
                                         _mm256_set1_epi8(static_cast<char>(1 << (2 * c + 3))));
                lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(hbits, blo), lo, sixteen);
                hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(hbits, bhi), hi, sixteen);
            }
            const __m512i s_lo = scales2(sc[2 * c], sc[2 * c + 2]), s_hi = scales2(sc[2 * c + 1], sc[2 * c + 3]);
            for (int t = 0; t < NT; ++t) {
                const int8_t* q8 = xs[t][b].qs;
                const __m512i ylo = join(load256(q8 + 64 * c), load256(q8 + 64 * c + 64));
                const __m512i yhi = join(load256(q8 + 64 * c + 32), load256(q8 + 64 * c + 96));
                const __m512i p0 = _mm512_madd_epi16(s_lo, _mm512_maddubs_epi16(lo, ylo));
                const __m512i p1 = _mm512_madd_epi16(s_hi, _mm512_maddubs_epi16(hi, yhi));
                sumi[t] = _mm512_add_epi32(sumi[t], _mm512_add_epi32(p0, p1));
            }
        }
        for (int t = 0; t < NT; ++t) {
            const float d = f16(dw) * xs[t][b].d;
            acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) out[t] = _mm512_reduce_add_ps(acc[t]) + hsum_f32x4(acc_m[t]);
}

template <bool kFive>
float vec_dot_qK_q8_K_avx512_one(int64_t n, const uint8_t* wbytes, size_t wsize, const block_q8_K* x) {
    float out;
    vec_dot_qK_q8_K_avx512<kFive, 1>(n, wbytes, wsize, &x, &out);
    return out;
}

float vec_dot_q5_K_q8_K_avx512(int64_t n, const void* vw, const void* vx) {
    return vec_dot_qK_q8_K_avx512_one<true>(n, static_cast<const uint8_t*>(vw), sizeof(block_q5_K),
                                        static_cast<const block_q8_K*>(vx));
}

}  // namespace

// Where the AVX2 kernel is faster, the set (kDenseAvx512 at the end of this file) has none, so the path falls back
// to the AVX2 one (common/dispatch.h). Measured on AMD Zen 4 (EPYC, 1 thread, 4096x11008 and
// 8960x1536, DRAM-resident and L2-resident alike, AVX2 / this file's kernel time): Q4_0 0.90, Q4_1 0.69-0.86, Q8_0
// 0.90, Q4_K 0.77-0.91, Q6_K 0.86-0.94 (Q5_0 1.07, Q5_K 0.97-1.06 kept here). Zen 4 runs a 512-bit operation as two
// 256-bit halves, so 512-bit registers buy no arithmetic throughput there, and these kernels spend extra lane
// shuffles (joins of two 256-bit halves, broadcast scale pairs) to fill them. The kernels are compute-bound at
// those speeds (as fast from L2 as from DRAM), so the extra operations cost time directly. With AVX-512 VNNI the
// path takes matvec_avx512vnni.cpp's kernels for Q4_K and Q6_K first (kDenseAvx512Vnni).
namespace {
void dot4_q5_K(int64_t n, const void* w, const void* const* xs, float* out) {
    vec_dot_qK_q8_K_avx512<true, kDot4Tokens>(n, static_cast<const uint8_t*>(w), sizeof(block_q5_K),
                                              reinterpret_cast<const block_q8_K* const*>(xs), out);
}
}  // namespace

}  // namespace pysparse

// ---------------------------------------------------------------- register-blocked tiles (batched matmul)
#define PYSPARSE_GEMM_VNNI 0
#include "kernels/gemm_avx512_impl.h"

namespace pysparse {

// The path's own kernels; the rest fall back to kDenseAvx2. The four-token kernels and tiles go with the dot the
// walk picks (matmul's results must equal matvec's bit for bit): Q5_K's four-token kernel is this file's, Q8_0's
// and Q4_K's the AVX2 ones (by fallback); the tiles of Q8_0 and Q4_0 follow the AVX2 single-row kernels, Q5_0's
// vec_dot_32_avx512 (gemm_avx512_impl.h).
constexpr DenseKernels kDenseAvx512 = {
    TypeKernels<vec_dot_fn>{}
        .with(GGMLType::F32, vec_dot_f32_avx512)
        .with(GGMLType::F16, vec_dot_f16_avx512)
        .with(GGMLType::BF16, vec_dot_bf16_avx512)
        .with(GGMLType::Q5_0, vec_dot_32_avx512<Q5_0T>)
        .with(GGMLType::Q5_1, vec_dot_32_avx512<Q5_1T>)
        .with(GGMLType::Q5_K, vec_dot_q5_K_q8_K_avx512),
    TypeKernels<vec_dot4_fn>{}.with(GGMLType::Q5_K, dot4_q5_K),
    TypeKernels<gemm_tile_fn>{}
        .with(GGMLType::Q8_0, gemm::gemm_32_4x4_avx512<gemm::Q8_0F>)
        .with(GGMLType::Q4_0, gemm::gemm_32_4x4_avx512<gemm::Q4_0F>)
        .with(GGMLType::Q5_0, gemm::gemm_32_4x4_avx512<gemm::Q5_0F>),
    {},
};

}  // namespace pysparse
