// Internal: the dense kernel families and their per-path sets (the dispatch idiom: common/dispatch.h). A row dot
// product takes n (elements of the row, a multiple of the block size), a pointer to the row's weight blocks, and
// the activations in the type's activation format (matvec.h), and returns the dot product as float.
// Names say the pair of block formats and the path: vec_dot_q4_0_q8_0_avx2 = Q4_0 weights x Q8_0 activations.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/cpu.h"
#include "common/dispatch.h"
#include "quant/blocks.h"
#include "quant/types.h"

namespace pysparse {

using vec_dot_fn = float (*)(int64_t n, const void* w, const void* x);

// Software prefetch of a row's weights a fixed distance ahead of the block being read (dense_prefetch_bytes;
// 0 = off; PYSPARSE_DENSE_PREFETCH=<bytes>, default 4096; kernels/dispatch.cpp). A matvec walks its rows one
// after another, so the matrix is one sequential stream and "distance ahead" stays inside it (past the end a
// prefetch is dropped, never a fault). Why: with the kernels' arithmetic between the loads, the hardware
// prefetchers keep too few misses in flight; on an Intel Xeon (Sapphire Rapids class, 13-16 GB/s plain read on one
// thread) the dense kernels read 6.4-9.5 GB/s from DRAM without it and 10.7-14 GB/s with it (docs/engine.md). Each
// kernel calls it once per block it reads, with the lines that block spans; a prefetch of a cached line costs a
// load slot: 0-2% with the matrix in L2.
extern size_t dense_prefetch_bytes;
inline void prefetch_ahead(const void* p, int lines) {
    if (const size_t d = dense_prefetch_bytes)
        for (int i = 0; i < lines; ++i) __builtin_prefetch(static_cast<const char*>(p) + d + 64 * i, 0, 3);
}

// Batched matmul: kDot4Tokens tokens against one row, out[t] = the dot of the row with activations xs[t], each bit
// for bit equal to the path's vec_dot_fn (same float operations per token; the weight side is unpacked once).
constexpr int kDot4Tokens = 4;
using vec_dot4_fn = void (*)(int64_t n, const void* w, const void* const* xs, float* out);
// Batched matmul, register-blocked: one call computes a tile of kGemmRows rows x kGemmTokens tokens,
// y[t * ldy + r] for rows w + r * rb (bytes) and activations x + t * xb (bytes), with one accumulator per (row,
// token) in registers: each weight block is unpacked once per kGemmTokens tokens and each activation block loaded
// once per kGemmRows rows. Every output is bit for bit the path's vec_dot_fn (the same float operations per
// (row, token) in the same order).
constexpr int kGemmRows = 4, kGemmTokens = 4;
using gemm_tile_fn = void (*)(int64_t n, const void* w, size_t rb, const void* x, size_t xb, float* y, int64_t ldy);

// Matvec, register-blocked: kDotRows consecutive rows (rb bytes apart) against one token, out[r] bit for bit the
// path's vec_dot_fn of row r. For short rows (a 1536-wide row is 6 K-format super-blocks) one row's closing
// horizontal sum costs about a super-block; kDotRows rows share it and interleave their independent work.
constexpr int kDotRows = 4;
using vec_dot_rows_fn = void (*)(int64_t n, const void* w, size_t rb, const void* x, float* out);

// Batched matmul with the tokens in the vector lanes (prefill of the K formats): kLaneTokens tokens' Q8_K blocks are
// packed together once per matmul call (lanes_pack_q8_K_fn: per super-block, 64 groups of 4 int8 x 16 tokens, then
// the 16 tokens' d, their paired bsums summed as floats, and the same pairs as two int16: kLanesQ8KBytes bytes), and
// a block of nrows rows runs against a packed group, y[t * ldy + r]. One VPDPBUSD takes 4 weights (broadcast) x 16
// tokens; no horizontal sums, no per-token unpack. Every output is bit for bit the path's vec_dot_fn: the matvec's per-lane partial sums and its
// closing tree are kept, with the tokens in the lanes (matvec_avx512vnni.cpp: lanes_qK_vnni, lanes_q6_K_vnni).
constexpr int kLaneTokens = 16;
constexpr size_t kLanesQ8KBytes = 64 * kLaneTokens * 4 + kLaneTokens * 4 + 2 * 8 * kLaneTokens * 4;
using lanes_pack_q8_K_fn = void (*)(int64_t n, const void* const* xs, void* packed);
using lanes_gemm_fn = void (*)(int64_t n, const void* w, size_t rb, int64_t nrows, const void* packed, float* y,
                               int64_t ldy);

// The dense family's kernel set (common/dispatch.h): per type, the row dot product, the four-token kernel and the
// 4 x 4 tile, nullptr where the path has none of its own (select_path then takes the next path's). A path that
// supplies dot4 / tile for a type must be bitwise the dot that the walk picks for that type on that path (tested:
// matmul_equals_matvec, gemm_tiles_equal_vec_dot); matmul falls back to the dot per token where neither is found.
struct DenseKernels {
    TypeKernels<vec_dot_fn> dot;
    TypeKernels<vec_dot4_fn> dot4;
    TypeKernels<gemm_tile_fn> tile;
    TypeKernels<vec_dot_rows_fn> rows;
    TypeKernels<lanes_gemm_fn> lanes;  // with its Q8_K packer below (the only activation format lane kernels take)
    lanes_pack_q8_K_fn lanes_pack = nullptr;
};
extern const DenseKernels kDenseGeneric;  // matvec_generic.cpp: scalar reference, every type, every build
#if defined(PYSPARSE_X86)
extern const DenseKernels kDenseAvx2;        // matvec_avx2.cpp (matvec_avx2_impl.h)
extern const DenseKernels kDenseAvxVnni;     // matvec_avxvnni.cpp (the same with VPDPBUSD / VPDPWSSD)
extern const DenseKernels kDenseAvx512;      // matvec_avx512.cpp (+ gemm_avx512_impl.h)
extern const DenseKernels kDenseAvx512Vnni;  // matvec_avx512vnni.cpp (+ gemm_avx512_impl.h with VPDPBUSD)
#endif
#if defined(PYSPARSE_ARM)
extern const DenseKernels kDenseNeon;     // matvec_neon.cpp
extern const DenseKernels kDenseNeonDot;  // matvec_neondot.cpp (built for dotprod: SDOT)
#endif

// The kernels the walk picks for `type` on `isa` (dispatch.cpp). vec_dot is never nullptr for a supported type;
// vec_dot4 / gemm_tile / vec_dot_rows are nullptr where no path on the chain has one.
vec_dot_fn vec_dot(Isa isa, GGMLType type);
vec_dot4_fn vec_dot4(Isa isa, GGMLType type);
gemm_tile_fn gemm_tile(Isa isa, GGMLType type);
vec_dot_rows_fn vec_dot_rows(Isa isa, GGMLType type);
// The lane kernel and its packer, from the same kernel set (both nullptr where no path on the chain has one).
struct LaneGemm {
    lanes_gemm_fn gemm = nullptr;
    lanes_pack_q8_K_fn pack = nullptr;
};
LaneGemm lanes_gemm(Isa isa, GGMLType type);

// The activation quantisers' family (quantize_act*.cpp): every set writes the same bytes as the generic one.
// The generic functions are also callable by name (the reference, in tests).
struct ActQuantKernels {
    void (*q8_0)(const float* x, block_q8_0* y, int64_t n);
    void (*q8_1)(const float* x, block_q8_1* y, int64_t n);
    void (*q8_K)(const float* x, block_q8_K* y, int64_t n);
};
void quantize_act_q8_0_generic(const float* x, block_q8_0* y, int64_t n);
void quantize_act_q8_1_generic(const float* x, block_q8_1* y, int64_t n);
void quantize_act_q8_K_generic(const float* x, block_q8_K* y, int64_t n);
extern const ActQuantKernels kActQuantGeneric;  // quantize_act.cpp
#if defined(PYSPARSE_X86)
extern const ActQuantKernels kActQuantAvx2;  // quantize_act_avx2.cpp (the AVX-512 path takes these: the step is small)
#endif
#if defined(PYSPARSE_ARM)
extern const ActQuantKernels kActQuantNeon;  // quantize_act_neon.cpp
#endif

}  // namespace pysparse
