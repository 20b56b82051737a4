// Row-skip matvec over a row-major GGUF matrix: only the listed rows are computed (W_up under gate-site
// sparsity: rows whose gate output was dropped are never read). Each listed row is decoded exactly
// (sparse_decode_row) into a per-thread buffer and dotted with x; threads split the list of rows.
#include <string>
#include <vector>

#include "common/error.h"
#include "common/thread_pool.h"
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
    ThreadPool::global().run([&](int tid, int nth) {
        int64_t b, e;
        split_range(n, tid, nth, 1, &b, &e);
        std::vector<float> w(cols);
        for (int64_t k = b; k < e; ++k) {
            const int64_t r = rows_idx[k];
            sparse_decode_row(type, src + r * rb, cols, w.data());
            // 8 partial sums: vectorisable, and a fixed order so results do not depend on the thread count.
            float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            int64_t j = 0;
            for (; j + 8 <= cols; j += 8)
                for (int l = 0; l < 8; ++l) acc[l] += w[j + l] * x[j + l];
            for (; j < cols; ++j) acc[0] += w[j] * x[j];
            y[r] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        }
    });
}

}  // namespace pysparse
