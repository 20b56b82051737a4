// Scalar reference row dot products (every build; the oracle the SIMD paths are tested against).
// Per block: an exact integer dot product of the weight quants with the activation quants, then one float
// multiply-add with the block scales, accumulated in float in block order (as ggml's generic code does).
#include "kernels/vec_dot.h"
#include "quant/blocks.h"

namespace pysparse {

namespace {

float vec_dot_f32_generic(int64_t n, const void* vw, const void* vx) {
    const float* w = static_cast<const float*>(vw);
    const float* x = static_cast<const float*>(vx);
    float sum = 0.0f;
    for (int64_t j = 0; j < n; ++j) sum += w[j] * x[j];
    return sum;
}

float vec_dot_f16_generic(int64_t n, const void* vw, const void* vx) {
    const fp16_t* w = static_cast<const fp16_t*>(vw);
    const float* x = static_cast<const float*>(vx);
    float sum = 0.0f;
    for (int64_t j = 0; j < n; ++j) sum += fp16_to_fp32(w[j]) * x[j];
    return sum;
}

float vec_dot_bf16_generic(int64_t n, const void* vw, const void* vx) {
    const bf16_t* w = static_cast<const bf16_t*>(vw);
    const float* x = static_cast<const float*>(vx);
    float sum = 0.0f;
    for (int64_t j = 0; j < n; ++j) sum += bf16_to_fp32(w[j]) * x[j];
    return sum;
}

// Q4_0: element j of a block is the low nibble of qs[j], element j + 16 the high nibble; value d * (q - 8).
float vec_dot_q4_0_q8_0_generic(int64_t n, const void* vw, const void* vx) {
    const block_q4_0* w = static_cast<const block_q4_0*>(vw);
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK4_0; ++b) {
        int sumi = 0;
        for (int j = 0; j < QK4_0 / 2; ++j) {
            sumi += ((w[b].qs[j] & 0x0F) - 8) * x[b].qs[j];
            sumi += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + QK4_0 / 2];
        }
        sum += sumi * (fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d));
    }
    return sum;
}

// Q4_1: value d * q + m, so sum_j (d q_j + m) dx qx_j = d dx sum(q qx) + m s with s = dx sum(qx) from Q8_1.
float vec_dot_q4_1_q8_1_generic(int64_t n, const void* vw, const void* vx) {
    const block_q4_1* w = static_cast<const block_q4_1*>(vw);
    const block_q8_1* x = static_cast<const block_q8_1*>(vx);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK4_1; ++b) {
        int sumi = 0;
        for (int j = 0; j < QK4_1 / 2; ++j) {
            sumi += (w[b].qs[j] & 0x0F) * x[b].qs[j];
            sumi += (w[b].qs[j] >> 4) * x[b].qs[j + QK4_1 / 2];
        }
        sum += sumi * (fp16_to_fp32(w[b].d) * x[b].d) + fp16_to_fp32(w[b].m) * x[b].s;
    }
    return sum;
}

inline uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// Q5_0: bit j of qh (little endian u32) is the fifth bit of element j; value d * (q - 16).
float vec_dot_q5_0_q8_0_generic(int64_t n, const void* vw, const void* vx) {
    const block_q5_0* w = static_cast<const block_q5_0*>(vw);
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK5_0; ++b) {
        const uint32_t qh = load_u32(w[b].qh);
        int sumi = 0;
        for (int j = 0; j < QK5_0 / 2; ++j) {
            const int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            sumi += (((w[b].qs[j] & 0x0F) | (h0 << 4)) - 16) * x[b].qs[j];
            sumi += (((w[b].qs[j] >> 4) | (h1 << 4)) - 16) * x[b].qs[j + QK5_0 / 2];
        }
        sum += sumi * (fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d));
    }
    return sum;
}

// Q5_1: value d * q + m with the 5-bit q of Q5_0.
float vec_dot_q5_1_q8_1_generic(int64_t n, const void* vw, const void* vx) {
    const block_q5_1* w = static_cast<const block_q5_1*>(vw);
    const block_q8_1* x = static_cast<const block_q8_1*>(vx);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK5_1; ++b) {
        const uint32_t qh = load_u32(w[b].qh);
        int sumi = 0;
        for (int j = 0; j < QK5_1 / 2; ++j) {
            const int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            sumi += ((w[b].qs[j] & 0x0F) | (h0 << 4)) * x[b].qs[j];
            sumi += ((w[b].qs[j] >> 4) | (h1 << 4)) * x[b].qs[j + QK5_1 / 2];
        }
        sum += sumi * (fp16_to_fp32(w[b].d) * x[b].d) + fp16_to_fp32(w[b].m) * x[b].s;
    }
    return sum;
}

float vec_dot_q8_0_q8_0_generic(int64_t n, const void* vw, const void* vx) {
    const block_q8_0* w = static_cast<const block_q8_0*>(vw);
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; ++b) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; ++j) sumi += w[b].qs[j] * x[b].qs[j];
        sum += sumi * (fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d));
    }
    return sum;
}

// Q4_K: 8 sub-blocks of 32 with 6-bit scale sc_j and min m_j; value d * sc_j * q - dmin * m_j.
// qs[32c + l] holds element 64c + l (low nibble, sub-block 2c) and 64c + 32 + l (high nibble, sub-block 2c + 1).
// The mins term is dmin * dx * sum_j m_j * (sum of x's quants in sub-block j) = the two bsums of 16.
float vec_dot_q4_K_q8_K_generic(int64_t n, const void* vw, const void* vx) {
    const block_q4_K* w = static_cast<const block_q4_K*>(vw);
    const block_q8_K* x = static_cast<const block_q8_K*>(vx);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; ++b) {
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; ++j) get_scale_min_k4(j, w[b].scales, &sc[j], &mn[j]);
        int summs = 0;
        for (int j = 0; j < 8; ++j) summs += mn[j] * (x[b].bsums[2 * j] + x[b].bsums[2 * j + 1]);
        int sumi = 0;
        for (int c = 0; c < 4; ++c) {
            const uint8_t* q = w[b].qs + 32 * c;
            const int8_t* y = x[b].qs + 64 * c;
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; ++l) {
                s0 += (q[l] & 0x0F) * y[l];
                s1 += (q[l] >> 4) * y[l + 32];
            }
            sumi += sc[2 * c] * s0 + sc[2 * c + 1] * s1;
        }
        const float d = fp16_to_fp32(w[b].d) * x[b].d, dmin = fp16_to_fp32(w[b].dmin) * x[b].d;
        sum += d * sumi - dmin * summs;
    }
    return sum;
}

// Q5_K: Q4_K plus a fifth bit: bit 2c of qh[l] for element 64c + l, bit 2c + 1 for element 64c + 32 + l.
float vec_dot_q5_K_q8_K_generic(int64_t n, const void* vw, const void* vx) {
    const block_q5_K* w = static_cast<const block_q5_K*>(vw);
    const block_q8_K* x = static_cast<const block_q8_K*>(vx);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; ++b) {
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; ++j) get_scale_min_k4(j, w[b].scales, &sc[j], &mn[j]);
        int summs = 0;
        for (int j = 0; j < 8; ++j) summs += mn[j] * (x[b].bsums[2 * j] + x[b].bsums[2 * j + 1]);
        int sumi = 0;
        for (int c = 0; c < 4; ++c) {
            const uint8_t* q = w[b].qs + 32 * c;
            const uint8_t* qh = w[b].qh;
            const int8_t* y = x[b].qs + 64 * c;
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; ++l) {
                s0 += ((q[l] & 0x0F) | (((qh[l] >> (2 * c)) & 1) << 4)) * y[l];
                s1 += ((q[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4)) * y[l + 32];
            }
            sumi += sc[2 * c] * s0 + sc[2 * c + 1] * s1;
        }
        const float d = fp16_to_fp32(w[b].d) * x[b].d, dmin = fp16_to_fp32(w[b].dmin) * x[b].d;
        sum += d * sumi - dmin * summs;
    }
    return sum;
}

// Q6_K: 16 groups of 16 with int8 scales; value d * sc_g * (q - 32), q = 4 low bits (ql) | 2 high bits (qh) << 4.
// Per half h of 128 elements, l < 32: ql[64h + l] low/high nibble -> elements l / l + 64, ql[64h + 32 + l] ->
// l + 32 / l + 96; qh[32h + l] bits 0-1, 2-3, 4-5, 6-7 -> elements l, l + 32, l + 64, l + 96. Group = element / 16.
float vec_dot_q6_K_q8_K_generic(int64_t n, const void* vw, const void* vx) {
    const block_q6_K* w = static_cast<const block_q6_K*>(vw);
    const block_q8_K* x = static_cast<const block_q8_K*>(vx);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; ++b) {
        int sums[16] = {0};
        for (int h = 0; h < 2; ++h) {
            const uint8_t* ql = w[b].ql + 64 * h;
            const uint8_t* qh = w[b].qh + 32 * h;
            const int8_t* y = x[b].qs + 128 * h;
            int* s = sums + 8 * h;
            for (int l = 0; l < 32; ++l) {
                const int q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                const int g = l / 16;
                s[g + 0] += q1 * y[l];
                s[g + 2] += q2 * y[l + 32];
                s[g + 4] += q3 * y[l + 64];
                s[g + 6] += q4 * y[l + 96];
            }
        }
        int sumi = 0;
        for (int g = 0; g < 16; ++g) sumi += w[b].scales[g] * sums[g];
        sum += (fp16_to_fp32(w[b].d) * x[b].d) * sumi;
    }
    return sum;
}

}  // namespace

// Every supported type: the end of every path's chain (common/dispatch.h). No four-token kernels or tiles.
constexpr DenseKernels kDenseGeneric = {
    TypeKernels<vec_dot_fn>{}
        .with(GGMLType::F32, vec_dot_f32_generic)
        .with(GGMLType::F16, vec_dot_f16_generic)
        .with(GGMLType::BF16, vec_dot_bf16_generic)
        .with(GGMLType::Q4_0, vec_dot_q4_0_q8_0_generic)
        .with(GGMLType::Q4_1, vec_dot_q4_1_q8_1_generic)
        .with(GGMLType::Q5_0, vec_dot_q5_0_q8_0_generic)
        .with(GGMLType::Q5_1, vec_dot_q5_1_q8_1_generic)
        .with(GGMLType::Q8_0, vec_dot_q8_0_q8_0_generic)
        .with(GGMLType::Q4_K, vec_dot_q4_K_q8_K_generic)
        .with(GGMLType::Q5_K, vec_dot_q5_K_q8_K_generic)
        .with(GGMLType::Q6_K, vec_dot_q6_K_q8_K_generic),
    {},
    {},
    {},
};

}  // namespace pysparse
