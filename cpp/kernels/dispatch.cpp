// matvec: argument checks, one quantisation of x, then rows split over the thread pool, each row one call of
// the active ISA path's dot product.
#include <string>
#include <vector>

#include "common/error.h"
#include "common/thread_pool.h"
#include "kernels/matvec.h"
#include "kernels/vec_dot.h"

namespace pysparse {

const VecDotTable& vec_dot_table(Isa isa) {
    switch (isa) {
#if defined(PYSPARSE_X86)
        case Isa::avx2: return kVecDotAvx2;
        case Isa::avx512:
            if (feature_enabled(CpuFeature::avx512_vnni)) {
                static const VecDotTable vnni = vec_dot_table_avx512_vnni();
                return vnni;
            }
            return kVecDotAvx512;
#endif
#if defined(PYSPARSE_ARM)
        case Isa::neon: return kVecDotNeon;
#endif
        default: return kVecDotGeneric;
    }
}

vec_dot4_fn vec_dot4(Isa isa, GGMLType type) {
    switch (isa) {
#if defined(PYSPARSE_X86)
        case Isa::avx2: return vec_dot4_avx2(type);
        case Isa::avx512:
            return feature_enabled(CpuFeature::avx512_vnni) ? vec_dot4_avx512_vnni(type) : vec_dot4_avx512(type);
#endif
        default: return nullptr;
    }
}

gemm_tile_fn gemm_tile(Isa isa, GGMLType type) {
    switch (isa) {
#if defined(PYSPARSE_X86)
        case Isa::avx512:
            return feature_enabled(CpuFeature::avx512_vnni) ? gemm_tile_avx512_vnni(type) : gemm_tile_avx512(type);
#endif
        default: return nullptr;
    }
}

namespace {

vec_dot_fn active_vec_dot(GGMLType type) {
    act_format(type);  // throws ValueError for an unsupported type
    vec_dot_fn f = vec_dot_table(active_isa()).get(type);
    return f ? f : kVecDotGeneric.get(type);
}

void check_shape(GGMLType type, int64_t rows, int64_t cols) {
    if (rows < 0 || cols < 0)
        throw ValueError("matvec: negative shape (" + std::to_string(rows) + ", " + std::to_string(cols) + ")");
    row_bytes(type, cols);  // cols must be a multiple of the block size
}

// Rows a thread takes as a unit: 16 floats of y = one cache line, so threads never write the same line.
constexpr int64_t kRowAlign = 16;

}  // namespace

float dot_row(GGMLType type, int64_t n, const void* w_row, const void* x_act) {
    check_shape(type, 1, n);
    return active_vec_dot(type)(n, w_row, x_act);
}

void matvec_act(GGMLType type, const void* W, int64_t rows, int64_t cols, const void* x_act, float* y) {
    check_shape(type, rows, cols);
    const vec_dot_fn dot = active_vec_dot(type);
    const size_t rb = row_bytes(type, cols);
    const uint8_t* w = static_cast<const uint8_t*>(W);
    auto slice = [&](int tid, int nth) {
        int64_t r0, r1;
        split_range(rows, tid, nth, kRowAlign, &r0, &r1);
        for (int64_t r = r0; r < r1; ++r) y[r] = dot(cols, w + static_cast<size_t>(r) * rb, x_act);
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
