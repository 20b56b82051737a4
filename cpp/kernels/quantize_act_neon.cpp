// NEON activation quantisers: the same float operations as the scalar reference (quantize_act.cpp), so the bytes
// are identical (tested). vcvtaq rounds half away from zero, exactly as the reference; maxnm/minnm skip NaNs.
#include <arm_neon.h>

#include "kernels/vec_dot.h"

namespace pysparse {

namespace {

inline float amax_f32(const float* x, int nv) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int i = 0; i < nv; ++i) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + 4 * i)));
    return vmaxnmvq_f32(m);
}

// q = round_away(clamp(x * s, -127, 127)), NaN -> -127 as in the reference; returns sum(q).
inline int quantize32(const float* x, float s, int8_t* qs) {
    int32x4_t sum = vdupq_n_s32(0);
    const float32x4_t lo = vdupq_n_f32(-127.0f), hi = vdupq_n_f32(127.0f);
    for (int i = 0; i < 32; i += 8) {
        float32x4_t v0 = vmulq_n_f32(vld1q_f32(x + i), s), v1 = vmulq_n_f32(vld1q_f32(x + i + 4), s);
        // NaN -> -127: select lo where v is not ordered (v != v), then clamp.
        v0 = vbslq_f32(vceqq_f32(v0, v0), v0, lo);
        v1 = vbslq_f32(vceqq_f32(v1, v1), v1, lo);
        v0 = vminq_f32(vmaxq_f32(v0, lo), hi);
        v1 = vminq_f32(vmaxq_f32(v1, lo), hi);
        const int32x4_t q0 = vcvtaq_s32_f32(v0), q1 = vcvtaq_s32_f32(v1);
        sum = vaddq_s32(sum, vaddq_s32(q0, q1));
        const int16x8_t q16 = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
        vst1_s8(qs + i, vqmovn_s16(q16));
    }
    return vaddvq_s32(sum);
}

void quantize_act_q8_0_neon(const float* x, block_q8_0* y, int64_t n) {
    for (int64_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
        const float d = amax_f32(x, 8) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp32_to_fp16(d);
        quantize32(x, id, y[b].qs);
    }
}

void quantize_act_q8_1_neon(const float* x, block_q8_1* y, int64_t n) {
    for (int64_t b = 0; b < n / QK8_1; ++b, x += QK8_1) {
        const float d = amax_f32(x, 8) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const int sum = quantize32(x, id, y[b].qs);
        y[b].d = d;
        y[b].s = d * static_cast<float>(sum);
    }
}

void quantize_act_q8_K_neon(const float* x, block_q8_K* y, int64_t n) {
    for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        const float amax = amax_f32(x, QK_K / 4);
        block_q8_K& out = y[b];
        if (amax == 0.0f) {
            std::memset(&out, 0, sizeof(out));
            continue;
        }
        const float iscale = 127.0f / amax;
        for (int j = 0; j < QK_K / 32; ++j) quantize32(x + 32 * j, iscale, out.qs + 32 * j);
        for (int g = 0; g < QK_K / 16; ++g) out.bsums[g] = static_cast<int16_t>(vaddlvq_s8(vld1q_s8(out.qs + 16 * g)));
        out.d = 1.0f / iscale;
    }
}

}  // namespace

constexpr ActQuantKernels kActQuantNeon = {quantize_act_q8_0_neon, quantize_act_q8_1_neon, quantize_act_q8_K_neon};

}  // namespace pysparse
