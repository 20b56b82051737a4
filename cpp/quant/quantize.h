// Encoding float32 rows into GGUF block formats, bit for bit as gguf-py's `gguf.quants.quantize` computes them
// (F32..Q8_0), and for the K-quants as llama.cpp's reference encoders do (gguf-py has none; see quantize_k.cpp).
// gguf-py's rounding is ggml's reference rounding (quantize_row_*_ref), not the K-quants' nearest_int:
//   Q8_0       q = roundf(x * id), half away from zero (gguf-py's np_roundf), d = amax / 127
//   Q4_0/Q5_0  q = min(15|31, (int)(x * id + 8.5f|16.5f)) truncated, d = max / -8|-16 with max the signed
//              element of largest magnitude (the first one on ties)
//   Q4_1/Q5_1  q = min(15|31, (int)((x - min) * id + 0.5f)), d = (max - min) / 15|31, m = min
//   id = 1 / d, or 0 where d == 0. Scales go to fp16 with round-to-nearest-even (numpy's float16 cast).
// The float -> integer casts reproduce numpy's on x86-64: truncation, low byte kept, 0 for NaN / inf / |x| >= 2^31
// (reached only when 1 / d overflows for subnormal inputs, or for inf inputs).
// Exact for every input without NaN, and for Q4_0 / Q5_0 / F16 / BF16 also with NaN. For Q4_1 / Q5_1 / Q8_0 a block
// holding a NaN gets a NaN scale whose payload may differ from numpy's (see min_max in quantize.cpp).
#pragma once
#include <cstdint>

#include "quant/types.h"

namespace pysparse {

// Encodes n floats (n a multiple of t's block size) into packed blocks at dst (row_bytes(t, n) bytes).
// Types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K. Throws ValueError for another type (naming it) or a bad n.
void quantize_row(GGMLType t, const float* src, void* dst, int64_t n);

// nrows consecutive rows split over ThreadPool::global() (deterministic: rows are independent).
void quantize_rows(GGMLType t, const float* src, void* dst, int64_t nrows, int64_t n_per_row);

bool can_quantize(GGMLType t);

void quantize_row_f32(const float* src, void* dst, int64_t n);
void quantize_row_f16(const float* src, void* dst, int64_t n);
void quantize_row_bf16(const float* src, void* dst, int64_t n);
void quantize_row_q4_0(const float* src, void* dst, int64_t n);
void quantize_row_q4_1(const float* src, void* dst, int64_t n);
void quantize_row_q5_0(const float* src, void* dst, int64_t n);
void quantize_row_q5_1(const float* src, void* dst, int64_t n);
void quantize_row_q8_0(const float* src, void* dst, int64_t n);
// K-quants (quantize_k.cpp): llama.cpp's reference encoders, bit for bit (gguf-py has none to compare with).
void quantize_row_q4_K(const float* src, void* dst, int64_t n);
void quantize_row_q5_K(const float* src, void* dst, int64_t n);
void quantize_row_q6_K(const float* src, void* dst, int64_t n);

// float -> fp16 exactly as numpy's astype(np.float16): round to nearest even; NaN keeps sign and the top 10
// payload bits without forcing the quiet bit (blocks.h's fp32_to_fp16, like F16C, sets it).
uint16_t fp32_to_fp16_numpy(float f);

// float -> bf16 as ggml_compute_fp32_to_bf16 and gguf-py: NaN forced quiet, otherwise round to nearest even.
uint16_t fp32_to_bf16(float f);

}  // namespace pysparse
