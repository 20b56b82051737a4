// AVX2 activation quantisers: the same float operations as the scalar reference (quantize_act.cpp), 8 lanes at a
// time, so the bytes are identical (tested). max_ps(|x|, amax) keeps amax where x is NaN, as the scalar code does.
#include <immintrin.h>

#include "kernels/vec_dot.h"

namespace pysparse {

namespace {

inline float hmax_f32x8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// amax over 8 * nv floats; NaNs are skipped (max_ps returns its second operand when the first is NaN).
inline float amax_f32(const float* x, int nv) {
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < nv; ++i) m = _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + 8 * i)), m);
    return hmax_f32x8(m);
}

// round_away(v * s) of the scalar code: clamp to [-127, 127] (NaN -> -127), truncate, step away from zero if the
// remainder is at least one half.
inline __m256i round_away8(__m256 v) {
    v = _mm256_max_ps(v, _mm256_set1_ps(-127.0f));  // NaN -> -127 (second operand)
    v = _mm256_min_ps(v, _mm256_set1_ps(127.0f));
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 r = _mm256_sub_ps(v, t);
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 up = _mm256_and_ps(_mm256_cmp_ps(r, _mm256_set1_ps(0.5f), _CMP_GE_OQ), one);
    const __m256 down = _mm256_and_ps(_mm256_cmp_ps(r, _mm256_set1_ps(-0.5f), _CMP_LE_OQ), one);
    return _mm256_cvtps_epi32(_mm256_sub_ps(_mm256_add_ps(t, up), down));
}

// 32 int32 (4 registers) -> 32 int8 in order.
inline void store_i8x32(int8_t* dst, __m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    const __m256i p = _mm256_packs_epi16(ab, cd);  // lanes interleaved by the two packs
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst),
                        _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

inline int hsum_i32x8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

// One block of 32: q = round_away(x * id); returns sum(q).
inline int quantize32(const float* x, float id, int8_t* qs) {
    const __m256 s = _mm256_set1_ps(id);
    const __m256i q0 = round_away8(_mm256_mul_ps(_mm256_loadu_ps(x), s));
    const __m256i q1 = round_away8(_mm256_mul_ps(_mm256_loadu_ps(x + 8), s));
    const __m256i q2 = round_away8(_mm256_mul_ps(_mm256_loadu_ps(x + 16), s));
    const __m256i q3 = round_away8(_mm256_mul_ps(_mm256_loadu_ps(x + 24), s));
    store_i8x32(qs, q0, q1, q2, q3);
    return hsum_i32x8(_mm256_add_epi32(_mm256_add_epi32(q0, q1), _mm256_add_epi32(q2, q3)));
}

void quantize_act_q8_0_avx2(const float* x, block_q8_0* y, int64_t n) {
    for (int64_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
        const float d = amax_f32(x, 4) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp32_to_fp16(d);
        quantize32(x, id, y[b].qs);
    }
}

void quantize_act_q8_1_avx2(const float* x, block_q8_1* y, int64_t n) {
    for (int64_t b = 0; b < n / QK8_1; ++b, x += QK8_1) {
        const float d = amax_f32(x, 4) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const int sum = quantize32(x, id, y[b].qs);
        y[b].d = d;
        y[b].s = d * static_cast<float>(sum);
    }
}

void quantize_act_q8_K_avx2(const float* x, block_q8_K* y, int64_t n) {
    for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        const float amax = amax_f32(x, QK_K / 8);
        block_q8_K& out = y[b];
        if (amax == 0.0f) {
            std::memset(&out, 0, sizeof(out));
            continue;
        }
        const float iscale = 127.0f / amax;
        for (int j = 0; j < QK_K / 32; ++j) quantize32(x + 32 * j, iscale, out.qs + 32 * j);
        for (int g = 0; g < QK_K / 16; ++g) {
            // 16 int8 -> int16 -> pairwise sums
            const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(out.qs + 16 * g));
            const __m256i w = _mm256_cvtepi8_epi16(q);
            const __m256i s32 = _mm256_madd_epi16(w, _mm256_set1_epi16(1));
            out.bsums[g] = static_cast<int16_t>(hsum_i32x8(s32));
        }
        out.d = 1.0f / iscale;
    }
}

}  // namespace

constexpr ActQuantKernels kActQuantAvx2 = {quantize_act_q8_0_avx2, quantize_act_q8_1_avx2, quantize_act_q8_K_avx2};

}  // namespace pysparse
