// Decoding GGUF tensors to float32, bit for bit as gguf-py's `gguf.quants.dequantize` (numpy float32 math) and
// ggml's reference dequantize_row_* compute it: fp16 scales widened exactly, products in the same order (for the K
// formats: (d * sc) * q - (dmin * m)). Every product here has at most 11 + 8 + 6 significant bits, so it is exact in
// float and a fused multiply-add could not change the result; only Q6_K's (d * sc) * q can round, and it is a
// single product. Exactness was checked bit for bit against gguf-py on every real tensor of the four models.
#pragma once
#include <cstdint>

#include "quant/types.h"

namespace pysparse {

// Decodes n elements (n a multiple of t's block size) from the packed blocks at src into dst.
// Throws ValueError for a type it cannot decode (naming it) or a bad n.
void dequantize_row(GGMLType t, const void* src, float* dst, int64_t n);

// nrows consecutive rows of n_per_row elements, split over ThreadPool::global() (rows are independent, so the
// result does not depend on the thread count).
void dequantize_rows(GGMLType t, const void* src, float* dst, int64_t nrows, int64_t n_per_row);

// Is t one of the types dequantize_row decodes?
bool can_dequantize(GGMLType t);

// One function per type; n is a multiple of the block size (not checked here).
void dequantize_row_f32(const void* src, float* dst, int64_t n);
void dequantize_row_f16(const void* src, float* dst, int64_t n);
void dequantize_row_bf16(const void* src, float* dst, int64_t n);
void dequantize_row_q4_0(const void* src, float* dst, int64_t n);
void dequantize_row_q4_1(const void* src, float* dst, int64_t n);
void dequantize_row_q5_0(const void* src, float* dst, int64_t n);
void dequantize_row_q5_1(const void* src, float* dst, int64_t n);
void dequantize_row_q8_0(const void* src, float* dst, int64_t n);
void dequantize_row_q4_K(const void* src, float* dst, int64_t n);
void dequantize_row_q5_K(const void* src, float* dst, int64_t n);
void dequantize_row_q6_K(const void* src, float* dst, int64_t n);

}  // namespace pysparse
