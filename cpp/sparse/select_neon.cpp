// NEON selection passes: 4 lanes; compares on abs bit patterns (exact). NEON has no compress instruction, so
// the index compaction stores each lane branch-free from the compare mask.
#include <arm_neon.h>

#include "sparse/select_kernels.h"

namespace pysparse::select_detail {

namespace {

uint32_t max_abs_bits_neon(const float* x, int64_t n) {
    const uint32x4_t absmask = vdupq_n_u32(0x7FFFFFFFu);
    uint32x4_t m0 = vdupq_n_u32(0), m1 = vdupq_n_u32(0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        m0 = vmaxq_u32(m0, vandq_u32(vld1q_u32((const uint32_t*)(x + i)), absmask));
        m1 = vmaxq_u32(m1, vandq_u32(vld1q_u32((const uint32_t*)(x + i + 4)), absmask));
    }
    uint32_t m = vmaxvq_u32(vmaxq_u32(m0, m1));
    for (; i < n; ++i) {
        uint32_t b = abs_bits(x[i]);
        m = b > m ? b : m;
    }
    return m;
}

uint32_t hist_sum_neon(const float* x, int64_t n, double* sum) {
    const uint32x4_t absmask = vdupq_n_u32(0x7FFFFFFFu);
    uint32x4_t vmax = vdupq_n_u32(0);
    uint32_t bucket[4];
    double val[4];
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32x4_t bits = vandq_u32(vld1q_u32((const uint32_t*)(x + i)), absmask);
        vmax = vmaxq_u32(vmax, bits);
        vst1q_u32(bucket, vshrq_n_u32(bits, kBucketShift));
        float32x4_t a = vreinterpretq_f32_u32(bits);
        vst1q_f64(val, vcvt_f64_f32(vget_low_f32(a)));
        vst1q_f64(val + 2, vcvt_high_f64_f32(a));
        for (int j = 0; j < 4; ++j) sum[bucket[j]] += val[j];
    }
    uint32_t m = vmaxvq_u32(vmax);
    for (; i < n; ++i) {
        uint32_t b = abs_bits(x[i]);
        m = b > m ? b : m;
        sum[b >> kBucketShift] += (double)from_bits(b);
    }
    return m;
}

uint32_t hist_count_neon(const float* x, int64_t n, uint32_t* cnt) {
    const uint32x4_t absmask = vdupq_n_u32(0x7FFFFFFFu);
    uint32x4_t vmax = vdupq_n_u32(0);
    uint32_t bucket[4];
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32x4_t bits = vandq_u32(vld1q_u32((const uint32_t*)(x + i)), absmask);
        vmax = vmaxq_u32(vmax, bits);
        vst1q_u32(bucket, vshrq_n_u32(bits, kBucketShift));
        for (int j = 0; j < 4; ++j) cnt[bucket[j]] += 1;
    }
    uint32_t m = vmaxvq_u32(vmax);
    for (; i < n; ++i) {
        uint32_t b = abs_bits(x[i]);
        m = b > m ? b : m;
        cnt[b >> kBucketShift] += 1;
    }
    return m;
}

int64_t collect_neon(const float* x, int64_t n, uint32_t lo, uint32_t hi, float* out) {
    const uint32x4_t absmask = vdupq_n_u32(0x7FFFFFFFu);
    const uint32x4_t vlo = vdupq_n_u32(lo), vrange = vdupq_n_u32(hi - lo);
    uint32_t bits_l[4], in_l[4];
    int64_t k = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32x4_t bits = vandq_u32(vld1q_u32((const uint32_t*)(x + i)), absmask);
        vst1q_u32(bits_l, bits);
        vst1q_u32(in_l, vcleq_u32(vsubq_u32(bits, vlo), vrange));
        for (int j = 0; j < 4; ++j) {
            out[k] = from_bits(bits_l[j]);
            k += in_l[j] & 1;
        }
    }
    for (; i < n; ++i) {
        uint32_t b = abs_bits(x[i]);
        out[k] = from_bits(b);
        k += (b - lo) <= (hi - lo);
    }
    return k;
}

int64_t emit_ge_neon(const float* x, int64_t n, uint32_t tbits, int32_t* idx) {
    const uint32x4_t absmask = vdupq_n_u32(0x7FFFFFFFu);
    const uint32x4_t vt = vdupq_n_u32(tbits);
    uint32_t ge_l[4];
    int64_t k = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32x4_t bits = vandq_u32(vld1q_u32((const uint32_t*)(x + i)), absmask);
        uint32x4_t ge = vcgeq_u32(bits, vt);
        if (vmaxvq_u32(ge) == 0) continue;  // common at high sparsity: nothing kept in these 4
        vst1q_u32(ge_l, ge);
        for (int j = 0; j < 4; ++j) {
            idx[k] = (int32_t)(i + j);
            k += ge_l[j] & 1;
        }
    }
    for (; i < n; ++i) {
        idx[k] = (int32_t)i;
        k += abs_bits(x[i]) >= tbits;
    }
    return k;
}

}  // namespace

constexpr SelectKernels kSelectNeon = {max_abs_bits_neon, hist_sum_neon, hist_count_neon, collect_neon, emit_ge_neon};

}  // namespace pysparse::select_detail
