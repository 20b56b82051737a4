// Internal: per-ISA row dot products and their tables. Each function takes n (elements of the row, a multiple of
// the block size), a pointer to the row's weight blocks, and the activations in the type's activation format
// (matvec.h), and returns the dot product as float.
// Names say the pair of block formats and the path: vec_dot_q4_0_q8_0_avx2 = Q4_0 weights x Q8_0 activations.
#pragma once
#include <cstdint>

#include "common/cpu.h"
#include "quant/blocks.h"
#include "quant/types.h"

namespace pysparse {

using vec_dot_fn = float (*)(int64_t n, const void* w, const void* x);

struct VecDotTable {
    vec_dot_fn f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K;

    vec_dot_fn get(GGMLType t) const {
        switch (t) {
            case GGMLType::F32: return f32;
            case GGMLType::F16: return f16;
            case GGMLType::BF16: return bf16;
            case GGMLType::Q4_0: return q4_0;
            case GGMLType::Q4_1: return q4_1;
            case GGMLType::Q5_0: return q5_0;
            case GGMLType::Q5_1: return q5_1;
            case GGMLType::Q8_0: return q8_0;
            case GGMLType::Q4_K: return q4_K;
            case GGMLType::Q5_K: return q5_K;
            case GGMLType::Q6_K: return q6_K;
            default: return nullptr;
        }
    }
};

extern const VecDotTable kVecDotGeneric;  // matvec_generic.cpp: scalar reference, every build
#if defined(PYSPARSE_X86)
extern const VecDotTable kVecDotAvx2;    // matvec_avx2.cpp
extern const VecDotTable kVecDotAvx512;  // matvec_avx512.cpp
#endif
#if defined(PYSPARSE_ARM)
extern const VecDotTable kVecDotNeon;    // matvec_neon.cpp
#endif

// The table of an ISA path (the generic one for a path this build lacks).
const VecDotTable& vec_dot_table(Isa isa);

// Batched matmul: kDot4Tokens tokens against one row, out[t] = the dot of the row with activations xs[t], each bit
// for bit equal to the path's vec_dot_fn (same float operations per token; the weight side is unpacked once).
// nullptr where a path has none for the type (matmul then calls the vec_dot_fn once per token).
constexpr int kDot4Tokens = 4;
using vec_dot4_fn = void (*)(int64_t n, const void* w, const void* const* xs, float* out);
vec_dot4_fn vec_dot4(Isa isa, GGMLType type);  // dispatch.cpp
// Batched matmul, register-blocked: one call computes a tile of kGemmRows rows x kGemmTokens tokens,
// y[t * ldy + r] for rows w + r * rb (bytes) and activations x + t * xb (bytes), with one accumulator per (row,
// token) in registers: each weight block is unpacked once per kGemmTokens tokens and each activation block loaded
// once per kGemmRows rows. Every output is bit for bit the path's vec_dot_fn (the same float operations per
// (row, token) in the same order). nullptr where a path has none for the type (matmul then uses vec_dot4 / the
// vec_dot_fn for those rows).
constexpr int kGemmRows = 4, kGemmTokens = 4;
using gemm_tile_fn = void (*)(int64_t n, const void* w, size_t rb, const void* x, size_t xb, float* y, int64_t ldy);
gemm_tile_fn gemm_tile(Isa isa, GGMLType type);  // dispatch.cpp
#if defined(PYSPARSE_X86)
vec_dot4_fn vec_dot4_avx2(GGMLType type);      // matvec_avx2.cpp: Q8_0, Q4_K
vec_dot4_fn vec_dot4_avx512(GGMLType type);    // matvec_avx512.cpp: Q5_K (Q8_0, Q4_K: the AVX2 ones)
// matvec_avx512vnni.cpp (the AVX-512 path when the CPU has AVX-512 VNNI and it is enabled): Q4_K and Q6_K kernels
// on top of kVecDotAvx512, and their four-token kernels with them.
VecDotTable vec_dot_table_avx512_vnni();
vec_dot4_fn vec_dot4_avx512_vnni(GGMLType type);
// gemm_avx512_impl.h built into matvec_avx512.cpp (plain) and matvec_avx512vnni.cpp (VNNI): Q8_0, Q4_0, Q5_0.
gemm_tile_fn gemm_tile_avx512(GGMLType type);
gemm_tile_fn gemm_tile_avx512_vnni(GGMLType type);
// AVX2 kernels by name, for the AVX-512 table where they are faster than its own (matvec_avx512.cpp says why).
float vec_dot_q4_0_avx2(int64_t n, const void* w, const void* x);
float vec_dot_q4_1_avx2(int64_t n, const void* w, const void* x);
float vec_dot_q8_0_avx2(int64_t n, const void* w, const void* x);
float vec_dot_q4_K_avx2(int64_t n, const void* w, const void* x);
float vec_dot_q6_K_avx2(int64_t n, const void* w, const void* x);
#endif

// Activation quantisers per path (quantize_act*.cpp); every version writes the same bytes as the generic one.
void quantize_act_q8_0_generic(const float* x, block_q8_0* y, int64_t n);
void quantize_act_q8_1_generic(const float* x, block_q8_1* y, int64_t n);
void quantize_act_q8_K_generic(const float* x, block_q8_K* y, int64_t n);
#if defined(PYSPARSE_X86)
void quantize_act_q8_0_avx2(const float* x, block_q8_0* y, int64_t n);
void quantize_act_q8_1_avx2(const float* x, block_q8_1* y, int64_t n);
void quantize_act_q8_K_avx2(const float* x, block_q8_K* y, int64_t n);
#endif
#if defined(PYSPARSE_ARM)
void quantize_act_q8_0_neon(const float* x, block_q8_0* y, int64_t n);
void quantize_act_q8_1_neon(const float* x, block_q8_1* y, int64_t n);
void quantize_act_q8_K_neon(const float* x, block_q8_K* y, int64_t n);
#endif

}  // namespace pysparse
