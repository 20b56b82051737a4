// Batched products for prefill: Y[n][rows] = X[n][cols] W^T, with W a GGUF weight [rows, cols] stored row-major
// (its quantisation blocks along cols), X and Y float32 row-major (token t's vector is row t).
//
// Same math as matvec.h, token by token: each token's x is quantised ONCE into the weight type's activation format, and
// row r of token t is dot_row(W[r], x_act[t]); so matmul(X)[t] equals matvec(X[t]) bit for bit on the same ISA path.
// The difference is the memory traffic: rows are the outer loop and a block of rows is dotted with every token while it
// is hot in L1/L2, so each weight byte comes from DRAM once per call, not once per token. Within a block, where the
// path has a register-blocked tile (gemm_tile in kernels/vec_dot.h: AVX-512, with and without VNNI: Q8_0, Q4_0, Q5_0) 4
// rows x 4 tokens are computed at once with one accumulator per (row, token) in registers: each weight block is
// unpacked once per 4 tokens and each activation block loaded once per 4 rows. Where the path has a tokens-in-lanes
// kernel (lanes_gemm in kernels/vec_dot.h: Q4_K, Q5_K, Q6_K on AVX-512 VNNI) the tokens go in groups of 16 instead:
// their activations are packed once per call so that one VPDPBUSD multiplies 4 weights of a row with 16 tokens, and
// each block of 16 rows runs against every group (the matvec's per-lane partial sums and closing tree kept, with the
// tokens in the lanes). The rows and tokens left at the edges, and the other types and paths, go row by row, four
// tokens per weight unpack where the path has a four-token kernel (vec_dot4: AVX2 Q8_0, Q4_K; AVX-512 the same and
// Q5_K; AVX-512 with VNNI Q8_0, Q4_K, Q5_K, Q6_K), else one vec_dot per token (the generic and NEON paths). Lane
// kernels, tiles and four-token kernels run each (row, token)'s float operations in the matvec's order, so the results
// stay bit for bit the matvec's. Threads split the rows (deterministic for any thread count, as matvec).
//
// Sparse prefill needs no separate kernel: the runtime zeroes each token's inactive inputs (its per-token active
// set) before the call, which is the masked product the per-token rule defines.
#pragma once
#include <cstdint>

#include "quant/types.h"

namespace pysparse {

// Y[n][rows] = X[n][cols] W^T. n >= 0; cols a multiple of the type's block size. Throws ValueError on a bad
// shape or an unsupported type.
void matmul(GGMLType type, const void* W, int64_t rows, int64_t cols, const float* X, int64_t n, float* Y);

// The same product with float32 activations (matmul_float.cpp): each row decoded exactly to float32 (as
// gguf.quants.dequantize) and dotted with x in float32, so the only rounding left is the float sums', as in
// transformers running the dequantised model. The fidelity path of a Model loaded with activations="f32"; slower
// than the integer kernels (several times at decode). Any type dequantize_row decodes; n = 1 is the matvec, and a
// token's outputs do not depend on n or the thread count. ValueError on a bad shape or type.
void matmul_float(GGMLType type, const void* W, int64_t rows, int64_t cols, const float* X, int64_t n, float* Y);

}  // namespace pysparse
