// matmul: X quantised once per token, then blocks of rows split over the thread pool; each block is dotted with
// every token before the next block is read (weights stream from DRAM once; activations stay in cache).
#include "kernels/matmul.h"

#include <string>
#include <vector>

#include "common/aligned_bytes.h"
#include "common/error.h"
#include "common/thread_pool.h"
#include "kernels/matvec.h"
#include "kernels/vec_dot.h"
#include "quant/blocks.h"

namespace pysparse {

namespace {
// Rows dotted with all tokens before moving on: 16 rows of a 4096-wide Q4_K matrix are 37 KB (L1/L2-resident),
// and 16 floats of each token's y are one cache line, so threads never share an output line.
constexpr int64_t kRowBlock = 16;
// Tokens per pass over a row block, at most 64 and at most what keeps their quantised activations within
// kActBlockBytes, so they stay in L2 next to the row block while every row of the block is dotted with them (at
// 64 tokens, an 11008-wide Q8_0 row's activations are 750 KB and spilled to L3, which made the batched product
// slower than per-token matvecs); a multiple of the four-token kernels' width.
constexpr int64_t kTokenBlock = 64;
constexpr int64_t kActBlockBytes = 256 * 1024;
}  // namespace

void matmul(GGMLType type, const void* W, int64_t rows, int64_t cols, const float* X, int64_t n, float* Y) {
    if (rows < 0 || cols < 0 || n < 0)
        throw ValueError("matmul: negative shape (" + std::to_string(rows) + ", " + std::to_string(cols) +
                         ") x " + std::to_string(n) + " tokens");
    const size_t rb = row_bytes(type, cols);
    const size_t ab = act_bytes(type, cols);  // throws ValueError for an unsupported type
    if (n == 0 || rows == 0) return;
    std::vector<uint8_t> x_act(ab * static_cast<size_t>(n));
    for (int64_t t = 0; t < n; ++t) quantize_act(type, X + t * cols, cols, x_act.data() + t * ab);
    const uint8_t* xa = x_act.data();
    if (n == 1) {  // the matvec's four-row kernels and thread split (bitwise the row dot below): with the row dot
        matvec_act(type, W, rows, cols, xa, Y);  // alone, one token took 6.5 ms where the matvec takes 4.7
        return;                                  // (4096x11008 Q8_0 from DRAM, AVX-512 VNNI)
    }
    const vec_dot_fn dot = vec_dot(active_isa(), type);
    // Four tokens per pass over a row where the path has it (weights unpacked once; bitwise the same results).
    const vec_dot4_fn dot4 = vec_dot4(active_isa(), type);
    const uint8_t* w = static_cast<const uint8_t*>(W);
    int64_t tok_block = static_cast<int64_t>(kActBlockBytes / (ab ? ab : 1)) / kDot4Tokens * kDot4Tokens;
    tok_block = tok_block < kDot4Tokens ? kDot4Tokens : tok_block > kTokenBlock ? kTokenBlock : tok_block;
    static_assert(kTokenBlock % kGemmTokens == 0 && kDot4Tokens % kGemmTokens == 0 && kRowBlock % kGemmRows == 0,
                  "token blocks hold whole tiles");
    // Tiles of kGemmRows rows x kGemmTokens tokens where the path has them (register-blocked); the rows and tokens
    // left over at the edges, and types without a tile, go row by row (four tokens per call where it can).
    const gemm_tile_fn tile = gemm_tile(active_isa(), type);
    auto rows_by_row = [&](int64_t ra, int64_t rz, int64_t ta, int64_t tz) {
        for (int64_t r = ra; r < rz; ++r) {
            const uint8_t* wr = w + static_cast<size_t>(r) * rb;
            int64_t t = ta;
            if (dot4)
                for (; t + kDot4Tokens <= tz; t += kDot4Tokens) {
                    const void* xs[kDot4Tokens];
                    float out[kDot4Tokens];
                    for (int k = 0; k < kDot4Tokens; ++k) xs[k] = xa + (t + k) * ab;
                    dot4(cols, wr, xs, out);
                    for (int k = 0; k < kDot4Tokens; ++k) Y[(t + k) * rows + r] = out[k];
                }
            for (; t < tz; ++t) Y[t * rows + r] = dot(cols, wr, xa + t * ab);
        }
    };
    // Tokens in the lanes where the path has it (the K formats on AVX-512 VNNI): groups of kLaneTokens tokens packed
    // once, each block of rows run against every group (the tokens left over go through the code below).
    const LaneGemm lanes = lanes_gemm(active_isa(), type);
    const int64_t n_lanes = lanes.gemm ? n / kLaneTokens * kLaneTokens : 0;
    AlignedBytes packed;
    const size_t pack_bytes = static_cast<size_t>(cols / QK_K) * kLanesQ8KBytes;
    if (n_lanes > 0) {
        packed = AlignedBytes(pack_bytes * static_cast<size_t>(n_lanes / kLaneTokens));
        for (int64_t t0 = 0; t0 < n_lanes; t0 += kLaneTokens) {
            const void* xs[kLaneTokens];
            for (int k = 0; k < kLaneTokens; ++k) xs[k] = xa + (t0 + k) * ab;
            lanes.pack(cols, xs, packed.data() + static_cast<size_t>(t0 / kLaneTokens) * pack_bytes);
        }
    }
    auto slice = [&](int tid, int nth) {
        int64_t r0, r1;
        split_range(rows, tid, nth, kRowBlock, &r0, &r1);
        for (int64_t rb0 = r0; rb0 < r1; rb0 += kRowBlock) {
            const int64_t rb1 = rb0 + kRowBlock < r1 ? rb0 + kRowBlock : r1;
            if (n_lanes > 0) {
                for (int64_t t0 = 0; t0 < n_lanes; t0 += kLaneTokens)
                    lanes.gemm(cols, w + static_cast<size_t>(rb0) * rb, rb, rb1 - rb0,
                               packed.data() + static_cast<size_t>(t0 / kLaneTokens) * pack_bytes, Y + t0 * rows + rb0,
                               rows);
                rows_by_row(rb0, rb1, n_lanes, n);
                continue;
            }
            for (int64_t t0 = 0; t0 < n; t0 += tok_block) {
                const int64_t t1 = t0 + tok_block < n ? t0 + tok_block : n;
                int64_t r = rb0;
                if (tile)
                    for (; r + kGemmRows <= rb1; r += kGemmRows) {
                        int64_t t = t0;
                        for (; t + kGemmTokens <= t1; t += kGemmTokens)
                            tile(cols, w + static_cast<size_t>(r) * rb, rb, xa + t * ab, ab, Y + t * rows + r, rows);
                        rows_by_row(r, r + kGemmRows, t, t1);
                    }
                rows_by_row(r, rb1, t0, t1);
            }
        }
    };
    ThreadPool& pool = ThreadPool::global();
    if (pool.num_threads() == 1 || static_cast<double>(rb) * rows * n < 64 * 1024)
        slice(0, 1);
    else
        pool.run(slice);
}

}  // namespace pysparse
