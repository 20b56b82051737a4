// Dense matrix-vector products over GGUF tensors: y[rows] = W[rows, cols] x, W row-major with its quantisation
// blocks running along cols (exactly as stored in a GGUF file), x and y float32.
//
// The math follows llama.cpp where it pays. x is quantised ONCE per call into an 8-bit activation format, then
// each row is a sum over blocks of (integer dot product of the block's quants with x's quants) * (float scales):
//   Q4_0, Q5_0, Q8_0        x as Q8_0: per 32 values, d = max|x| / 127 (stored fp16), q = round(x / d)
//   Q4_1, Q5_1              x as Q8_1: the same, plus s = d * sum(q), so the weight block's min m contributes m * s
//   Q4_K, Q5_K, Q6_K        x as Q8_K: per 256 values, d = max|x| / 127 (float), q = round(x / d), and the sums of
//                           each 16 q's (bsums), so the sub-block mins cost one small dot product per super-block
//   F32, F16, BF16          float math on x as given (F16C / NEON conversions of the weights)
//
// Error of the x quantisation (stated, and asserted in tests/test_matvec.py): with x^ the dequantised activations,
// |x^_j - x_j| <= d_b / 2 for a 32/256-block b holding j; for Q8_0/Q8_1 the scale is also rounded to fp16, which
// adds at most 127 * |d - fp16(d)| <= 127 * 2^-11 d ~= 0.062 d. So, against the float product with the
// dequantised weights W^,
//   |y_i - (W^ x)_i| <= sum_j |W^_ij| * amax_b(j) * 0.57 / 127     (worst case; 0.5/127 for Q8_K)
// plus float rounding of the per-block scale products. Since the rounding errors are independent and uniform,
// the typical error is far smaller: its standard deviation is sqrt(sum_j W^_ij^2 d_b(j)^2 / 12).
// The product with x^ itself (W^ x^) is computed exactly up to float32 accumulation.
//
// Threads: rows are split into contiguous slices over ThreadPool::global(); each row is computed by one thread
// in a fixed order, so the result is bitwise identical for any thread count. The ISA path (generic, AVX2,
// AVX-512, NEON) is chosen by active_isa() at each call; paths differ only in float summation order.
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant/blocks.h"
#include "quant/types.h"

namespace pysparse {

// The activation format a weight type's dot product takes (enum ActFormat and the table in quant/types.h).
// Throws ValueError for a type the kernels do not support.
ActFormat act_format(GGMLType type);
// Bytes of n activations in `type`'s activation format (n must be a multiple of the type's block size).
size_t act_bytes(GGMLType type, int64_t n);

// Activation quantisers (n a multiple of 32, resp. 256). Portable code shared by every ISA path, so all paths
// see the same quantised x. Q8_0 matches gguf.quants.quantize(x, Q8_0) bit for bit (d = amax / 127 rounded to
// fp16, q = round-half-away(x / d) with the float d).
void quantize_act_q8_0(const float* x, block_q8_0* y, int64_t n);
void quantize_act_q8_1(const float* x, block_q8_1* y, int64_t n);
void quantize_act_q8_K(const float* x, block_q8_K* y, int64_t n);
// x in `type`'s activation format into out (act_bytes(type, n) bytes); for F32/F16/BF16 a plain copy.
void quantize_act(GGMLType type, const float* x, int64_t n, void* out);

// One row: dot product of n weights (one GGUF row, n a multiple of the block size) with activations already in
// `type`'s activation format, on the active ISA path.
float dot_row(GGMLType type, int64_t n, const void* w_row, const void* x_act);

// y[rows] = W[rows, cols] x. Multi-threaded over ThreadPool::global(). Throws ValueError on an unsupported
// type, negative sizes, or cols not a multiple of the block size.
void matvec(GGMLType type, const void* W, int64_t rows, int64_t cols, const float* x, float* y);

// The same with x already quantised (x_act from quantize_act): lets a caller reuse one quantised x for
// several matrices of the same type and width (e.g. ffn_gate and ffn_up).
void matvec_act(GGMLType type, const void* W, int64_t rows, int64_t cols, const void* x_act, float* y);

// The dense kernels' software prefetch distance in bytes (0 = off; default 4096 or PYSPARSE_DENSE_PREFETCH):
// each kernel prefetches the weights that far ahead of the block it reads (kernels/vec_dot.h, prefetch_ahead).
// Set it only while no matvec runs (benchmarks, A/B runs).
void set_dense_prefetch(size_t bytes);
size_t dense_prefetch();

}  // namespace pysparse
