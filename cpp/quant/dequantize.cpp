#include "quant/fp_exact.h"  // first: no FMA contraction in this file (bit-exact with numpy)

#include "quant/dequantize.h"

#include <cstring>
#include <string>

#include "common/error.h"
#include "common/thread_pool.h"
#include "quant/blocks.h"

namespace pysparse {

void dequantize_row_f32(const void* src, float* dst, int64_t n) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));  // bits as stored, NaN payloads included
}

void dequantize_row_f16(const void* src, float* dst, int64_t n) {
    const uint8_t* p = static_cast<const uint8_t*>(src);
    for (int64_t i = 0; i < n; ++i) {
        fp16_t h;
        std::memcpy(&h, p + 2 * i, 2);  // tensor data need not be 2-byte aligned
        dst[i] = fp16_to_fp32(h);       // exact; NaNs keep their payload and stay signalling, as numpy's cast
    }
}

void dequantize_row_bf16(const void* src, float* dst, int64_t n) {
    const uint8_t* p = static_cast<const uint8_t*>(src);
    for (int64_t i = 0; i < n; ++i) {
        bf16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = bf16_to_fp32(h);
    }
}

// Q4_0 / Q4_1 / Q5_0 / Q5_1: element j < 16 is the low nibble of qs[j], element j >= 16 the high nibble of qs[j-16];
// Q5's fifth bit of element j is bit j of the little-endian 32-bit qh.

void dequantize_row_q4_0(const void* src, float* dst, int64_t n) {
    const block_q4_0* b = static_cast<const block_q4_0*>(src);
    for (int64_t i = 0; i < n / QK4_0; ++i, ++b, dst += QK4_0) {
        const float d = fp16_to_fp32(b->d);
        for (int j = 0; j < QK4_0 / 2; ++j) {
            dst[j] = d * (float)((b->qs[j] & 0xF) - 8);
            dst[j + QK4_0 / 2] = d * (float)((b->qs[j] >> 4) - 8);
        }
    }
}

void dequantize_row_q4_1(const void* src, float* dst, int64_t n) {
    const block_q4_1* b = static_cast<const block_q4_1*>(src);
    for (int64_t i = 0; i < n / QK4_1; ++i, ++b, dst += QK4_1) {
        const float d = fp16_to_fp32(b->d), m = fp16_to_fp32(b->m);
        for (int j = 0; j < QK4_1 / 2; ++j) {
            dst[j] = d * (float)(b->qs[j] & 0xF) + m;
            dst[j + QK4_1 / 2] = d * (float)(b->qs[j] >> 4) + m;
        }
    }
}

void dequantize_row_q5_0(const void* src, float* dst, int64_t n) {
    const block_q5_0* b = static_cast<const block_q5_0*>(src);
    for (int64_t i = 0; i < n / QK5_0; ++i, ++b, dst += QK5_0) {
        const float d = fp16_to_fp32(b->d);
        uint32_t qh;
        std::memcpy(&qh, b->qh, 4);
        for (int j = 0; j < QK5_0 / 2; ++j) {
            const int lo = (b->qs[j] & 0xF) | (((qh >> j) & 1) << 4);
            const int hi = (b->qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            dst[j] = d * (float)(lo - 16);
            dst[j + QK5_0 / 2] = d * (float)(hi - 16);
        }
    }
}

void dequantize_row_q5_1(const void* src, float* dst, int64_t n) {
    const block_q5_1* b = static_cast<const block_q5_1*>(src);
    for (int64_t i = 0; i < n / QK5_1; ++i, ++b, dst += QK5_1) {
        const float d = fp16_to_fp32(b->d), m = fp16_to_fp32(b->m);
        uint32_t qh;
        std::memcpy(&qh, b->qh, 4);
        for (int j = 0; j < QK5_1 / 2; ++j) {
            const int lo = (b->qs[j] & 0xF) | (((qh >> j) & 1) << 4);
            const int hi = (b->qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            dst[j] = d * (float)lo + m;
            dst[j + QK5_1 / 2] = d * (float)hi + m;
        }
    }
}

void dequantize_row_q8_0(const void* src, float* dst, int64_t n) {
    const block_q8_0* b = static_cast<const block_q8_0*>(src);
    for (int64_t i = 0; i < n / QK8_0; ++i, ++b, dst += QK8_0) {
        const float d = fp16_to_fp32(b->d);
        for (int j = 0; j < QK8_0; ++j) dst[j] = d * (float)b->qs[j];
    }
}

// Q4_K / Q5_K: 8 sub-blocks of 32; sub-block 2k holds the low nibbles of qs[32k .. 32k+31], sub-block 2k+1 the
// high nibbles; Q5_K's fifth bit of element l of sub-block s is bit s of qh[l]. Both scale products are rounded to
// float first, exactly as numpy computes (d * sc) and (dmin * m) as arrays before using them.

void dequantize_row_q4_K(const void* src, float* dst, int64_t n) {
    const block_q4_K* b = static_cast<const block_q4_K*>(src);
    for (int64_t i = 0; i < n / QK_K; ++i, ++b) {
        const float d = fp16_to_fp32(b->d), dmin = fp16_to_fp32(b->dmin);
        for (int s = 0; s < QK_K / 32; ++s, dst += 32) {
            uint8_t sc, m;
            get_scale_min_k4(s, b->scales, &sc, &m);
            const float dl = d * (float)sc, ml = dmin * (float)m;
            const uint8_t* q = b->qs + 32 * (s / 2);
            const int shift = 4 * (s % 2);
            for (int l = 0; l < 32; ++l) dst[l] = dl * (float)((q[l] >> shift) & 0xF) - ml;
        }
    }
}

void dequantize_row_q5_K(const void* src, float* dst, int64_t n) {
    const block_q5_K* b = static_cast<const block_q5_K*>(src);
    for (int64_t i = 0; i < n / QK_K; ++i, ++b) {
        const float d = fp16_to_fp32(b->d), dmin = fp16_to_fp32(b->dmin);
        for (int s = 0; s < QK_K / 32; ++s, dst += 32) {
            uint8_t sc, m;
            get_scale_min_k4(s, b->scales, &sc, &m);
            const float dl = d * (float)sc, ml = dmin * (float)m;
            const uint8_t* q = b->qs + 32 * (s / 2);
            const int shift = 4 * (s % 2);
            for (int l = 0; l < 32; ++l) {
                const int v = ((q[l] >> shift) & 0xF) | (((b->qh[l] >> s) & 1) << 4);
                dst[l] = dl * (float)v - ml;
            }
        }
    }
}

// Q6_K: two halves of 128; in half h, element 32c + l (c = 0..3) has low bits from ql[64h + l + 32(c & 1)]
// (low nibble for c < 2, high nibble for c >= 2) and high bits (qh[32h + l] >> 2c) & 3; 16 sub-blocks of 16 with
// signed 8-bit scales: y = (d * scale) * (q - 32).
void dequantize_row_q6_K(const void* src, float* dst, int64_t n) {
    const block_q6_K* b = static_cast<const block_q6_K*>(src);
    for (int64_t i = 0; i < n / QK_K; ++i, ++b, dst += QK_K) {
        const float d = fp16_to_fp32(b->d);
        float ds[QK_K / 16];
        for (int s = 0; s < QK_K / 16; ++s) ds[s] = d * (float)b->scales[s];
        for (int h = 0; h < 2; ++h) {
            const uint8_t* ql = b->ql + 64 * h;
            const uint8_t* qh = b->qh + 32 * h;
            float* y = dst + 128 * h;
            for (int c = 0; c < 4; ++c) {
                for (int l = 0; l < 32; ++l) {
                    const int lo = (ql[l + 32 * (c & 1)] >> (4 * (c >> 1))) & 0xF;
                    const int q = (lo | (((qh[l] >> (2 * c)) & 3) << 4)) - 32;
                    const int e = 32 * c + l;
                    y[e] = ds[(128 * h + e) / 16] * (float)q;
                }
            }
        }
    }
}

namespace {
using RowFn = void (*)(const void*, float*, int64_t);

RowFn row_fn(GGMLType t) {
    switch (t) {
        case GGMLType::F32: return dequantize_row_f32;
        case GGMLType::F16: return dequantize_row_f16;
        case GGMLType::BF16: return dequantize_row_bf16;
        case GGMLType::Q4_0: return dequantize_row_q4_0;
        case GGMLType::Q4_1: return dequantize_row_q4_1;
        case GGMLType::Q5_0: return dequantize_row_q5_0;
        case GGMLType::Q5_1: return dequantize_row_q5_1;
        case GGMLType::Q8_0: return dequantize_row_q8_0;
        case GGMLType::Q4_K: return dequantize_row_q4_K;
        case GGMLType::Q5_K: return dequantize_row_q5_K;
        case GGMLType::Q6_K: return dequantize_row_q6_K;
        default: return nullptr;
    }
}

RowFn checked_row_fn(GGMLType t, int64_t n) {
    RowFn fn = row_fn(t);
    if (!fn) {
        const TypeTraits tt = type_traits(t);
        throw ValueError(std::string("cannot dequantize GGML type ") +
                         (tt.block_size ? tt.name : "id " + std::to_string(static_cast<uint32_t>(t))) +
                         ": supported are " + type_names([](const TypeTraits& u) { return row_fn(u.id) != nullptr; }));
    }
    row_bytes(t, n);  // throws unless n is a non-negative multiple of the block size
    return fn;
}
}  // namespace

bool can_dequantize(GGMLType t) { return row_fn(t) != nullptr; }

void dequantize_row(GGMLType t, const void* src, float* dst, int64_t n) { checked_row_fn(t, n)(src, dst, n); }

void dequantize_rows(GGMLType t, const void* src, float* dst, int64_t nrows, int64_t n_per_row) {
    RowFn fn = checked_row_fn(t, n_per_row);
    if (nrows < 0) throw ValueError("number of rows must be >= 0, got " + std::to_string(nrows));
    const size_t rb = row_bytes(t, n_per_row);
    const uint8_t* s = static_cast<const uint8_t*>(src);
    auto body = [&](int tid, int nth) {
        int64_t r0, r1;
        split_range(nrows, tid, nth, 1, &r0, &r1);
        for (int64_t r = r0; r < r1; ++r) fn(s + r * rb, dst + r * n_per_row, n_per_row);
    };
    // Threads only pay off on large tensors; small ones (norm weights, tests) run on the calling thread.
    if (nrows > 1 && nrows * n_per_row >= (int64_t(1) << 18)) ThreadPool::global().run(body);
    else body(0, 1);
}

}  // namespace pysparse
