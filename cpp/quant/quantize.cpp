#include "quant/fp_exact.h"  // first: no FMA contraction in this file (bit-exact with numpy)

#include "quant/quantize.h"

#include <cmath>
#include <cstring>
#include <string>

#include "common/error.h"
#include "common/thread_pool.h"
#include "quant/blocks.h"

namespace pysparse {

uint16_t fp32_to_fp16_numpy(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) {  // NaN: numpy's npy_floatbits_to_halfbits
        uint16_t r = (uint16_t)(0x7c00u + ((x & 0x7fffffu) >> 13));
        if (r == 0x7c00u) ++r;  // keep it a NaN
        return (uint16_t)(((x >> 16) & 0x8000u) | r);
    }
    return fp32_to_fp16(f);
}

uint16_t fp32_to_bf16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) x = (x & 0xffff0000u) | (64u << 16);  // force NaN quiet
    return (uint16_t)(((uint64_t)x + (0x7fffu + ((x >> 16) & 1u))) >> 16);
}

namespace {

// numpy's float32 -> uint8 / int8 cast on x86-64: truncate toward zero, keep the low byte; values that do not fit
// 32 bits, inf and NaN give 0 (cvttss2si's 0x80000000). In range of the formats this is a plain truncation.
inline uint8_t cast_u8(float v) {
    if (!(std::fabs(v) < 2147483648.0f)) return 0;
    return (uint8_t)(uint32_t)(int32_t)v;
}

// gguf-py's np_roundf: round half away from zero, as floor(a) + floor(2 * (a - floor(a))) with the sign put back.
inline float roundf_away(float v) {
    const float a = std::fabs(v);
    const float fl = std::floor(a);
    const float b = fl + std::floor(2.0f * (a - fl));
    const float sign = v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : (v == 0.0f ? 0.0f : v));  // np.sign (NaN -> NaN)
    return sign * b;
}

inline float inverse_or_zero(float d) { return d == 0.0f ? 0.0f : 1.0f / d; }

// The element of largest magnitude with its sign (numpy's argmax of abs: the first on ties, the first NaN if any).
inline float signed_absmax(const float* x, int n) {
    int best = 0;
    float amax = std::fabs(x[0]);
    if (!std::isnan(amax)) {
        for (int j = 1; j < n; ++j) {
            const float a = std::fabs(x[j]);
            if (std::isnan(a)) { best = j; break; }
            if (a > amax) { amax = a; best = j; }
        }
    }
    return x[best];
}

// numpy's max / min reductions as gguf-py runs them (along the last axis of (n_blocks, 32)): on ties (+0 vs -0) the
// later element wins. A block with a NaN gives a NaN; which payload numpy returns depends on where the NaN sits and
// on the CPU's vector width (its SIMD part returns the canonical quiet NaN, its scalar tail the input's NaN), so here
// it is always the canonical quiet NaN, and the scale of such a block is a NaN of possibly another payload.
inline float canonical_nan() {
    const uint32_t bits = 0x7fc00000u;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline void min_max(const float* x, int n, float* mn, float* mx) {
    float lo = x[0], hi = x[0];
    bool nan = std::isnan(x[0]);
    for (int j = 1; j < n; ++j) {
        nan |= std::isnan(x[j]);
        lo = lo < x[j] ? lo : x[j];
        hi = hi > x[j] ? hi : x[j];
    }
    *mn = nan ? canonical_nan() : lo;
    *mx = nan ? canonical_nan() : hi;
}

// max |x| of a block (numpy's abs(blocks).max(axis=-1)).
inline float abs_max(const float* x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; ++j) {
        const float a = std::fabs(x[j]);
        if (std::isnan(a)) return canonical_nan();
        amax = amax > a ? amax : a;
    }
    return amax;
}

inline uint8_t clip(uint8_t q, uint8_t hi) { return q > hi ? hi : q; }

}  // namespace

void quantize_row_f32(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, (size_t)n * 4); }

void quantize_row_f16(const float* src, void* dst, int64_t n) {
    uint8_t* p = static_cast<uint8_t*>(dst);
    for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_fp16_numpy(src[i]);
        std::memcpy(p + 2 * i, &h, 2);
    }
}

void quantize_row_bf16(const float* src, void* dst, int64_t n) {
    uint8_t* p = static_cast<uint8_t*>(dst);
    for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_bf16(src[i]);
        std::memcpy(p + 2 * i, &h, 2);
    }
}

void quantize_row_q4_0(const float* src, void* dst, int64_t n) {
    block_q4_0* b = static_cast<block_q4_0*>(dst);
    for (int64_t i = 0; i < n / QK4_0; ++i, ++b, src += QK4_0) {
        const float d = signed_absmax(src, QK4_0) / -8.0f;
        const float id = inverse_or_zero(d);
        b->d = fp32_to_fp16_numpy(d);
        for (int j = 0; j < QK4_0 / 2; ++j) {
            const uint8_t lo = clip(cast_u8(std::trunc(src[j] * id + 8.5f)), 15);
            const uint8_t hi = clip(cast_u8(std::trunc(src[j + QK4_0 / 2] * id + 8.5f)), 15);
            b->qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

void quantize_row_q4_1(const float* src, void* dst, int64_t n) {
    block_q4_1* b = static_cast<block_q4_1*>(dst);
    for (int64_t i = 0; i < n / QK4_1; ++i, ++b, src += QK4_1) {
        float mn, mx;
        min_max(src, QK4_1, &mn, &mx);
        const float d = (mx - mn) / 15.0f;
        const float id = inverse_or_zero(d);
        b->d = fp32_to_fp16_numpy(d);
        b->m = fp32_to_fp16_numpy(mn);
        for (int j = 0; j < QK4_1 / 2; ++j) {
            const uint8_t lo = clip(cast_u8(std::trunc((src[j] - mn) * id + 0.5f)), 15);
            const uint8_t hi = clip(cast_u8(std::trunc((src[j + QK4_1 / 2] - mn) * id + 0.5f)), 15);
            b->qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

void quantize_row_q5_0(const float* src, void* dst, int64_t n) {
    block_q5_0* b = static_cast<block_q5_0*>(dst);
    for (int64_t i = 0; i < n / QK5_0; ++i, ++b, src += QK5_0) {
        const float d = signed_absmax(src, QK5_0) / -16.0f;
        const float id = inverse_or_zero(d);
        b->d = fp32_to_fp16_numpy(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; ++j) {
            const uint8_t lo = clip(cast_u8(std::trunc(src[j] * id + 16.5f)), 31);
            const uint8_t hi = clip(cast_u8(std::trunc(src[j + QK5_0 / 2] * id + 16.5f)), 31);
            b->qs[j] = (uint8_t)((lo & 0xF) | (hi << 4));  // hi << 4 drops its fifth bit in the byte
            qh |= (uint32_t)(lo >> 4) << j;
            qh |= (uint32_t)(hi >> 4) << (j + QK5_0 / 2);
        }
        std::memcpy(b->qh, &qh, 4);
    }
}

void quantize_row_q5_1(const float* src, void* dst, int64_t n) {
    block_q5_1* b = static_cast<block_q5_1*>(dst);
    for (int64_t i = 0; i < n / QK5_1; ++i, ++b, src += QK5_1) {
        float mn, mx;
        min_max(src, QK5_1, &mn, &mx);
        const float d = (mx - mn) / 31.0f;
        const float id = inverse_or_zero(d);
        b->d = fp32_to_fp16_numpy(d);
        b->m = fp32_to_fp16_numpy(mn);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; ++j) {
            const uint8_t lo = clip(cast_u8(std::trunc((src[j] - mn) * id + 0.5f)), 31);
            const uint8_t hi = clip(cast_u8(std::trunc((src[j + QK5_1 / 2] - mn) * id + 0.5f)), 31);
            b->qs[j] = (uint8_t)((lo & 0xF) | (hi << 4));
            qh |= (uint32_t)(lo >> 4) << j;
            qh |= (uint32_t)(hi >> 4) << (j + QK5_1 / 2);
        }
        std::memcpy(b->qh, &qh, 4);
    }
}

void quantize_row_q8_0(const float* src, void* dst, int64_t n) {
    block_q8_0* b = static_cast<block_q8_0*>(dst);
    for (int64_t i = 0; i < n / QK8_0; ++i, ++b, src += QK8_0) {
        const float amax = abs_max(src, QK8_0);
        const float d = amax / 127.0f;
        const float id = inverse_or_zero(d);
        b->d = fp32_to_fp16_numpy(d);
        for (int j = 0; j < QK8_0; ++j) b->qs[j] = (int8_t)cast_u8(roundf_away(src[j] * id));
    }
}

namespace {
using RowFn = void (*)(const float*, void*, int64_t);

RowFn row_fn(GGMLType t) {
    switch (t) {
        case GGMLType::F32: return quantize_row_f32;
        case GGMLType::F16: return quantize_row_f16;
        case GGMLType::BF16: return quantize_row_bf16;
        case GGMLType::Q4_0: return quantize_row_q4_0;
        case GGMLType::Q4_1: return quantize_row_q4_1;
        case GGMLType::Q5_0: return quantize_row_q5_0;
        case GGMLType::Q5_1: return quantize_row_q5_1;
        case GGMLType::Q8_0: return quantize_row_q8_0;
        case GGMLType::Q4_K: return quantize_row_q4_K;
        case GGMLType::Q5_K: return quantize_row_q5_K;
        case GGMLType::Q6_K: return quantize_row_q6_K;
        default: return nullptr;
    }
}

RowFn checked_row_fn(GGMLType t, int64_t n) {
    RowFn fn = row_fn(t);
    if (!fn) {
        const TypeTraits tt = type_traits(t);
        throw ValueError(std::string("cannot quantize to GGML type ") +
                         (tt.block_size ? tt.name : "id " + std::to_string(static_cast<uint32_t>(t))) +
                         ": supported are " + type_names([](const TypeTraits& u) { return row_fn(u.id) != nullptr; }));
    }
    row_bytes(t, n);  // throws unless n is a non-negative multiple of the block size
    return fn;
}
}  // namespace

bool can_quantize(GGMLType t) { return row_fn(t) != nullptr; }

void quantize_row(GGMLType t, const float* src, void* dst, int64_t n) { checked_row_fn(t, n)(src, dst, n); }

void quantize_rows(GGMLType t, const float* src, void* dst, int64_t nrows, int64_t n_per_row) {
    RowFn fn = checked_row_fn(t, n_per_row);
    if (nrows < 0) throw ValueError("number of rows must be >= 0, got " + std::to_string(nrows));
    const size_t rb = row_bytes(t, n_per_row);
    uint8_t* d = static_cast<uint8_t*>(dst);
    auto body = [&](int tid, int nth) {
        int64_t r0, r1;
        split_range(nrows, tid, nth, 1, &r0, &r1);
        for (int64_t r = r0; r < r1; ++r) fn(src + r * n_per_row, d + r * rb, n_per_row);
    };
    if (nrows > 1 && nrows * n_per_row >= (int64_t(1) << 16)) ThreadPool::global().run(body);
    else body(0, 1);
}

}  // namespace pysparse
