// matmul_float: the product with float32 activations (kernels/matmul.h). Each thread decodes a block of its rows
// to float32 once (dequantize_row: bit for bit gguf.quants.dequantize) and dots it with every token's x. A
// fidelity path, not a fast one: it reads 4 bytes per weight from L2 instead of 0.5-1 from DRAM, and runs the
// float multiply-adds the integer kernels avoid.
#include <string>
#include <vector>

#include "common/error.h"
#include "common/multiversion.h"
#include "common/thread_pool.h"
#include "kernels/matmul.h"
#include "quant/dequantize.h"

namespace pysparse {

namespace {

// Rows decoded per block: 16 rows of an 8960-wide matrix are 573 KB of floats (L2-resident while every token
// runs over them).
constexpr int64_t kRowBlock = 16;

// Sixteen partial sums (one vector register with AVX-512), then added in index order; the tail (only F32 / F16 /
// BF16 rows have a block size below 16) last. The same function for every (row, token), so a token's outputs do
// not depend on the batch or the thread count.
PYSPARSE_MULTIVERSION
float dot_f32(const float* a, const float* b, int64_t n) {
    float acc[16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
    float s = 0.f;
    for (int j = 0; j < 16; ++j) s += acc[j];
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

}  // namespace

void matmul_float(GGMLType type, const void* W, int64_t rows, int64_t cols, const float* X, int64_t n, float* Y) {
    if (rows < 0 || cols < 0 || n < 0)
        throw ValueError("matmul_float: negative shape (" + std::to_string(rows) + ", " + std::to_string(cols) +
                         ") x " + std::to_string(n) + " tokens");
    if (!can_dequantize(type))
        throw ValueError(std::string("matmul_float: cannot decode type ") + type_traits(type).name);
    const size_t rb = row_bytes(type, cols);  // throws ValueError when cols is not a multiple of the block size
    if (n == 0 || rows == 0) return;
    const uint8_t* w = static_cast<const uint8_t*>(W);
    auto slice = [&](int tid, int nth) {
        int64_t r0, r1;
        split_range(rows, tid, nth, kRowBlock, &r0, &r1);
        if (r0 >= r1) return;
        std::vector<float> buf(static_cast<size_t>(kRowBlock * cols));
        for (int64_t b0 = r0; b0 < r1; b0 += kRowBlock) {
            const int64_t b1 = b0 + kRowBlock < r1 ? b0 + kRowBlock : r1;
            for (int64_t r = b0; r < b1; ++r) dequantize_row(type, w + static_cast<size_t>(r) * rb, &buf[(r - b0) * cols], cols);
            for (int64_t t = 0; t < n; ++t)
                for (int64_t r = b0; r < b1; ++r) Y[t * rows + r] = dot_f32(&buf[(r - b0) * cols], X + t * cols, cols);
        }
    };
    ThreadPool& pool = ThreadPool::global();
    if (pool.num_threads() == 1 || static_cast<double>(rows) * cols * n < 64 * 1024)
        slice(0, 1);
    else
        pool.run(slice);
}

}  // namespace pysparse
