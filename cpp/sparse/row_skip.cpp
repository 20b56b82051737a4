// Row-skip matvec over a row-major GGUF matrix: only the listed rows are computed (W_up under gate-site
// sparsity: rows whose gate output was dropped are never read). It uses the dense kernels' row dot product
// (cpp/kernels: x quantised once to the type's activation format, then dot_row per listed row on the active ISA),
// so a listed row's output is bitwise the dense matvec's, and the error bound is the dense one
// (kernels/matvec.h). Threads split the list of rows.
#include <string>
#include <vector>

#include "common/error.h"
#include "common/thread_pool.h"
#include "kernels/matvec.h"
#include "sparse/sparse_matrix.h"

namespace pysparse {

void row_skip_matvec(GGMLType type, const void* data, int64_t rows, int64_t cols, const float* x,
                     const int32_t* rows_idx, int64_t n, float* y) {
    if (!sparse_layout_supports(type)) throw ValueError(std::string("row_skip_matvec: unsupported type ") +
                                                        type_traits(type).name);
    const size_t rb = row_bytes(type, cols);
    if (n < 0 || n > rows) throw ValueError("number of row indices must be in [0, rows]");
    int32_t prev = -1;
    for (int64_t k = 0; k < n; ++k) {
        const int32_t r = rows_idx[k];
        if (r < 0 || r >= rows)
            throw ValueError("row index " + std::to_string(r) + " at position " + std::to_string(k) +
                             " is out of range [0, " + std::to_string(rows) + ")");
        if (r <= prev)
            throw ValueError("row indices must be strictly ascending (sorted, no duplicates); position " +
                             std::to_string(k) + " has " + std::to_string(r) + " after " + std::to_string(prev));
        prev = r;
    }
    for (int64_t r = 0; r < rows; ++r) y[r] = 0.f;
    const uint8_t* src = static_cast<const uint8_t*>(data);
    std::vector<uint8_t> xq(act_bytes(type, cols));
    quantize_act(type, x, cols, xq.data());
    ThreadPool::global().run([&](int tid, int nth) {
        int64_t b, e;
        split_range(n, tid, nth, 1, &b, &e);
        for (int64_t k = b; k < e; ++k) {
            const int64_t r = rows_idx[k];
            y[r] = dot_row(type, cols, src + r * rb, xq.data());
        }
    });
}

}  // namespace pysparse
