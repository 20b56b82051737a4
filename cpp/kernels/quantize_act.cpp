// Activation quantisers: x (float32) -> Q8_0 / Q8_1 / Q8_K blocks, once per matvec call.
// The scalar versions here are the reference; quantize_act_avx2.cpp / quantize_act_neon.cpp compute the same
// bytes (same float operations, tested bit for bit), so all ISA paths multiply the same quantised x and differ
// only in float summation order. SIMD matters here: a scalar quantiser (~1-2 ns a value) costs as much as the
// matvec itself for a short matrix of 11008 columns.
#include <cmath>
#include <cstring>

#include "common/error.h"
#include "kernels/matvec.h"
#include "kernels/vec_dot.h"

namespace pysparse {

namespace {
// Round half away from zero (as roundf, and as ggml's and gguf-py's reference Q8_0 quantisers do) without a libm
// call, so the loops vectorise: truncate, then step away from zero if the remainder is at least one half. Exact
// for |v| < 2^31; v is clamped to [-127, 127] first (it is within that for finite x anyway, and a NaN becomes a
// number instead of undefined behaviour in the int conversion).
inline int round_away(float v) {
    v = v > -127.0f ? v : -127.0f;  // NaN compares false: -127
    v = v < 127.0f ? v : 127.0f;
    const int t = static_cast<int>(v);
    const float r = v - static_cast<float>(t);  // exact
    return t + (r >= 0.5f) - (r <= -0.5f);
}

float block_amax(const float* x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; ++j) {
        const float a = std::fabs(x[j]);
        amax = a > amax ? a : amax;
    }
    return amax;
}
}  // namespace

// d = amax / 127, id = 1 / d, q = round(x * id): the exact sequence of float operations of ggml's
// quantize_row_q8_0_ref and gguf.quants.Q8_0.quantize_blocks, so the bytes match bit for bit.
void quantize_act_q8_0_generic(const float* x, block_q8_0* y, int64_t n) {
    const int64_t nb = n / QK8_0;
    for (int64_t b = 0; b < nb; ++b, x += QK8_0) {
        const float d = block_amax(x, QK8_0) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; ++j) y[b].qs[j] = static_cast<int8_t>(round_away(x[j] * id));
    }
}

// As Q8_0 with a float d, plus s = d * sum(q): a weight block with a min m adds m * s to the row's sum.
void quantize_act_q8_1_generic(const float* x, block_q8_1* y, int64_t n) {
    const int64_t nb = n / QK8_1;
    for (int64_t b = 0; b < nb; ++b, x += QK8_1) {
        const float d = block_amax(x, QK8_1) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK8_1; ++j) {
            const int q = round_away(x[j] * id);
            y[b].qs[j] = static_cast<int8_t>(q);
            sum += q;
        }
        y[b].d = d;
        y[b].s = d * static_cast<float>(sum);
    }
}

// Per 256 values: d = amax / 127 (kept in float), q = round(x / d) clamped to [-127, 127], and bsums[g] = the sum
// of q over the 16 values of group g (the K formats' mins and Q6_K's offset use them).
void quantize_act_q8_K_generic(const float* x, block_q8_K* y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, x += QK_K) {
        const float amax = block_amax(x, QK_K);
        block_q8_K& out = y[b];
        if (amax == 0.0f) {
            std::memset(&out, 0, sizeof(out));
            continue;
        }
        const float iscale = 127.0f / amax;
        for (int j = 0; j < QK_K; ++j) out.qs[j] = static_cast<int8_t>(round_away(x[j] * iscale));  // in [-127, 127]
        for (int g = 0; g < QK_K / 16; ++g) {
            int s = 0;
            for (int j = 0; j < 16; ++j) s += out.qs[16 * g + j];
            out.bsums[g] = static_cast<int16_t>(s);
        }
        out.d = 1.0f / iscale;
    }
}

const ActQuantKernels kActQuantGeneric = {quantize_act_q8_0_generic, quantize_act_q8_1_generic,
                                          quantize_act_q8_K_generic};

namespace {
// The family's sets by path (common/dispatch.h); the AVX-512 path falls back to the AVX2 set (the step is small).
constexpr PathSets<ActQuantKernels> kActQuantSets = PathSets<ActQuantKernels>{}
    .with(KernelPath::generic, &kActQuantGeneric)
#if defined(PYSPARSE_X86)
    .with(KernelPath::avx2, &kActQuantAvx2)
#endif
#if defined(PYSPARSE_ARM)
    .with(KernelPath::neon, &kActQuantNeon)
#endif
    ;
}  // namespace

void quantize_act_q8_0(const float* x, block_q8_0* y, int64_t n) {
    select_path(kActQuantSets, [](const ActQuantKernels& k) { return k.q8_0; })(x, y, n);
}

void quantize_act_q8_1(const float* x, block_q8_1* y, int64_t n) {
    select_path(kActQuantSets, [](const ActQuantKernels& k) { return k.q8_1; })(x, y, n);
}

void quantize_act_q8_K(const float* x, block_q8_K* y, int64_t n) {
    select_path(kActQuantSets, [](const ActQuantKernels& k) { return k.q8_K; })(x, y, n);
}

ActFormat act_format(GGMLType type) {
    const TypeTraits tt = type_traits(type);
    if (!tt.supported)
        throw ValueError(std::string("matvec does not support GGML type ") + tt.name + " (id " +
                         std::to_string(static_cast<uint32_t>(type)) + ")");
    return tt.act;
}

size_t act_bytes(GGMLType type, int64_t n) {
    const ActFormat f = act_format(type);
    row_bytes(type, n);  // validates n against the weight type's block size
    switch (f) {
        case ActFormat::F32: return static_cast<size_t>(n) * sizeof(float);
        case ActFormat::Q8_0: return static_cast<size_t>(n / QK8_0) * sizeof(block_q8_0);
        case ActFormat::Q8_1: return static_cast<size_t>(n / QK8_1) * sizeof(block_q8_1);
        case ActFormat::Q8_K: return static_cast<size_t>(n / QK_K) * sizeof(block_q8_K);
    }
    return 0;
}

void quantize_act(GGMLType type, const float* x, int64_t n, void* out) {
    switch (act_format(type)) {
        case ActFormat::F32: std::memcpy(out, x, static_cast<size_t>(n) * sizeof(float)); break;
        case ActFormat::Q8_0: quantize_act_q8_0(x, static_cast<block_q8_0*>(out), n); break;
        case ActFormat::Q8_1: quantize_act_q8_1(x, static_cast<block_q8_1*>(out), n); break;
        case ActFormat::Q8_K: quantize_act_q8_K(x, static_cast<block_q8_K*>(out), n); break;
    }
}

}  // namespace pysparse
