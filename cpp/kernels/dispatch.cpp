// matvec: argument checks, one quantisation of x, then rows split over the thread pool, each row one call of
// the active ISA path's dot product; and the dense family's dispatch (kDenseSets, walked by select_path).
#include <algorithm>
#include <string>
#include <vector>

#include "common/env.h"
#include "common/error.h"
#include "common/thread_pool.h"
#include "kernels/matvec.h"
#include "kernels/vec_dot.h"

namespace pysparse {

namespace {
// The dense family's sets by path (common/dispatch.h: the chain, and nullptr = the next path's kernel).
constexpr PathSets<DenseKernels> kDenseSets = PathSets<DenseKernels>{}
    .with(KernelPath::generic, &kDenseGeneric)
#if defined(PYSPARSE_X86)
    .with(KernelPath::avx2, &kDenseAvx2)
    .with(KernelPath::avx_vnni, &kDenseAvxVnni)
    .with(KernelPath::avx512, &kDenseAvx512)
    .with(KernelPath::avx512_vnni, &kDenseAvx512Vnni)
#endif
#if defined(PYSPARSE_ARM)
    .with(KernelPath::neon, &kDenseNeon)
    .with(KernelPath::neon_dotprod, &kDenseNeonDot)
#endif
    ;
}  // namespace

vec_dot_fn vec_dot(Isa isa, GGMLType type) {
    return select_path(kDenseSets, [type](const DenseKernels& k) { return k.dot[type]; }, isa);
}
vec_dot4_fn vec_dot4(Isa isa, GGMLType type) {
    return select_path(kDenseSets, [type](const DenseKernels& k) { return k.dot4[type]; }, isa);
}
gemm_tile_fn gemm_tile(Isa isa, GGMLType type) {
    return select_path(kDenseSets, [type](const DenseKernels& k) { return k.tile[type]; }, isa);
}
vec_dot_rows_fn vec_dot_rows(Isa isa, GGMLType type) {
    return select_path(kDenseSets, [type](const DenseKernels& k) { return k.rows[type]; }, isa);
}
LaneGemm lanes_gemm(Isa isa, GGMLType type) {
    // The packer of the set whose kernel was picked (a kernel and its packer agree on the layout).
    const lanes_gemm_fn g = select_path(kDenseSets, [type](const DenseKernels& k) { return k.lanes[type]; }, isa);
    const lanes_pack_q8_K_fn p = select_path(
        kDenseSets, [type](const DenseKernels& k) { return k.lanes[type] ? k.lanes_pack : nullptr; }, isa);
    return {g, g ? p : nullptr};
}

namespace {

vec_dot_fn active_vec_dot(GGMLType type) {
    act_format(type);  // throws ValueError for an unsupported type
    return vec_dot(active_isa(), type);
}

void check_shape(GGMLType type, int64_t rows, int64_t cols) {
    if (rows < 0 || cols < 0)
        throw ValueError("matvec: negative shape (" + std::to_string(rows) + ", " + std::to_string(cols) + ")");
    row_bytes(type, cols);  // cols must be a multiple of the block size
}

// Rows a thread takes as a unit: 16 floats of y = one cache line, so threads never write the same line.
constexpr int64_t kRowAlign = 16;

}  // namespace

// vec_dot.h: prefetch_ahead. Set once here, before any kernel runs; set_dense_prefetch changes it between calls.
size_t dense_prefetch_bytes = static_cast<size_t>(std::max<int64_t>(0, env_int("PYSPARSE_DENSE_PREFETCH", 4096)));

void set_dense_prefetch(size_t bytes) { dense_prefetch_bytes = bytes; }
size_t dense_prefetch() { return dense_prefetch_bytes; }

float dot_row(GGMLType type, int64_t n, const void* w_row, const void* x_act) {
    check_shape(type, 1, n);
    return active_vec_dot(type)(n, w_row, x_act);
}

void matvec_act(GGMLType type, const void* W, int64_t rows, int64_t cols, const void* x_act, float* y) {
    check_shape(type, rows, cols);
    const vec_dot_fn dot = active_vec_dot(type);
    const vec_dot_rows_fn dot_rows = vec_dot_rows(active_isa(), type);  // bitwise dot's results, kDotRows at once
    const size_t rb = row_bytes(type, cols);
    const uint8_t* w = static_cast<const uint8_t*>(W);
    static_assert(kRowAlign % kDotRows == 0, "a thread's rows hold whole four-row groups");
    auto slice = [&](int tid, int nth) {
        int64_t r0, r1;
        split_range(rows, tid, nth, kRowAlign, &r0, &r1);
        int64_t r = r0;
        if (dot_rows)
            for (; r + kDotRows <= r1; r += kDotRows) dot_rows(cols, w + static_cast<size_t>(r) * rb, rb, x_act, y + r);
        for (; r < r1; ++r) y[r] = dot(cols, w + static_cast<size_t>(r) * rb, x_act);
    };
    ThreadPool& pool = ThreadPool::global();
    // A small product is not worth waking the workers (about a microsecond of hand-off each).
    if (pool.num_threads() == 1 || static_cast<double>(rb) * static_cast<double>(rows) < 32 * 1024)
        slice(0, 1);
    else
        pool.run(slice);
}

void matvec(GGMLType type, const void* W, int64_t rows, int64_t cols, const float* x, float* y) {
    check_shape(type, rows, cols);
    // x is quantised once, by the calling thread, before the parallel region: it is O(cols) work (a few
    // microseconds at cols = 11008) next to O(rows * cols) for the weights, and needs no barrier.
    thread_local std::vector<uint8_t> x_act;
    const size_t need = act_bytes(type, cols);
    if (x_act.size() < need) x_act.resize(need);
    const void* xa = x;
    if (act_format(type) != ActFormat::F32) {
        quantize_act(type, x, cols, x_act.data());
        xa = x_act.data();
    }
    matvec_act(type, W, rows, cols, xa, y);
}

}  // namespace pysparse
