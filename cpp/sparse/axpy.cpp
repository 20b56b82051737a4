// The input-sparse matvec driver: checks the index list, builds the ActiveSet once per call (active columns,
// their x values, cut into the format's groups, with each group's sum of x), then runs the active ISA's tile
// kernel on every row tile, tiles split across the thread pool (each thread owns whole tiles: deterministic).
// Also the fused gate+up form and the row-skip matvec over row-major GGUF data.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/error.h"
#include "common/thread_pool.h"
#include "sparse/axpy.h"

namespace pysparse {

namespace sparse_detail {

Kind kind_of(const SparseMatrix& m) {
    if (m.layout == SparseLayout::requant_q8_0) return Kind::requant_q8_0;
    if (!sparse_layout_supports(m.type)) throw ValueError("sparse matrix has an unsupported type");
    return static_cast<Kind>(m.type);
}

int64_t l2_lines_ahead() {
    static const int64_t v = [] {
        const char* e = std::getenv("PYSPARSE_SPARSE_L2_LINES");
        return e && *e ? (int64_t)std::strtoll(e, nullptr, 10) : (int64_t)kL2LinesAhead;
    }();
    return v;
}

namespace {
int64_t env_int(const char* name, int64_t dflt) {
    const char* e = std::getenv(name);
    return e && *e ? (int64_t)std::strtoll(e, nullptr, 10) : dflt;
}
int64_t g_colpass_override = -1;
}  // namespace

int64_t colpass_max_tiles(int bits) {
    static const int64_t v = env_int("PYSPARSE_SPARSE_COLPASS", -1);
    return g_colpass_override >= 0 ? g_colpass_override : v >= 0 ? v : bits == 6 ? kColpassMaxTiles : 0;
}
void set_colpass_max_tiles(int64_t n) { g_colpass_override = n; }
int64_t colpass_l1_steps(int bits) {
    static const int64_t v = env_int("PYSPARSE_SPARSE_COLPASS_L1", -1);
    return v >= 0 ? v : bits == 6 ? 3 : 1;
}
int64_t colpass_l2_steps(int bits) {
    static const int64_t v = env_int("PYSPARSE_SPARSE_COLPASS_L2", -1);
    return v >= 0 ? v : bits == 6 ? 32 : 8;
}

namespace {

// Validates idx (ascending, unique, in [0, cols)) in one pass and builds the active set.
void build_active_set(const SparseMatrix& m, const float* x, const int32_t* idx, int64_t n, ActiveSet& a) {
    a.groups.clear();
    a.col.resize(n);
    a.xv.resize(n);
    a.cs0.resize(n);
    a.xq.resize(n);
    int32_t prev = -1;
    for (int64_t k = 0; k < n; ++k) {
        const int32_t j = idx[k];
        if (j < 0 || j >= m.cols)
            throw ValueError("active index " + std::to_string(j) + " at position " + std::to_string(k) +
                             " is out of range [0, " + std::to_string(m.cols) + ")");
        if (j <= prev)
            throw ValueError("active indices must be strictly ascending (sorted, no duplicates); position " +
                             std::to_string(k) + " has " + std::to_string(j) + " after " + std::to_string(prev));
        prev = j;
        a.col[k] = j;
        a.xv[k] = x[j];
        a.cs0[k] = m.layout == SparseLayout::lossless ? (int64_t)m.col_slice(0, j) : 0;
    }
    const bool grouped = m.layout == SparseLayout::lossless && m.group > 1;
    int64_t k = 0;
    while (k < n) {
        const int32_t g = grouped ? a.col[k] / m.group : -1;
        // the run ends at the group's last column (grouped) or after 32 entries: one division per group
        const int64_t kend = grouped ? n : std::min<int64_t>(n, k + 32);
        const int32_t cend = grouped ? (g + 1) * m.group : INT32_MAX;
        int64_t e = k;
        float xsum = 0.f;
        float amax = 0.f;
        while (e < kend && a.col[e] < cend) {
            amax = std::max(amax, std::fabs(a.xv[e]));
            xsum += a.xv[e++];
        }
        // int8 x for the integer kernels: portable round-half-even, the same on every path.
        const float dx = amax / 127.f, idx_ = dx > 0.f ? 1.f / dx : 0.f;
        int32_t qsum = 0;
        for (int64_t i = k; i < e; ++i) {
            const int v = (int)std::nearbyint(a.xv[i] * idx_);
            a.xq[i] = (int8_t)std::min(127, std::max(-127, v));
            qsum += a.xq[i];
        }
        a.groups.push_back({g, (int32_t)k, (int32_t)e, xsum, dx, dx * (float)qsum});
        k = e;
    }
}

// The family's sets by path (common/dispatch.h: the chain, and nullptr = the next path's kernel).
constexpr PathSets<SparseKernels> kSparseSets = PathSets<SparseKernels>{}
    .with(KernelPath::generic, &kSparseGeneric)
#if defined(PYSPARSE_X86)
    .with(KernelPath::avx2, &kSparseAvx2)
    .with(KernelPath::avx512, &kSparseAvx512)
    .with(KernelPath::avx512_vnni, &kSparseAvx512Vnni)
    .with(KernelPath::avx512_vbmi, &kSparseAvx512Vbmi)
#endif
#if defined(PYSPARSE_ARM)
    .with(KernelPath::neon, &kSparseNeon)
#endif
    ;

TileKernel pick_kernel(Kind k) {
    return select_path(kSparseSets, [k](const SparseKernels& s) { return s[k]; });
}

// Runs the tile kernel(s) over all tiles of `ms` (all with the same rows and tile size), writing ys.
void run_tiles(const SparseMatrix* const* ms, float* const* ys, int count, const ActiveSet& a) {
    TileKernel kern[2];
    for (int i = 0; i < count; ++i) kern[i] = pick_kernel(kind_of(*ms[i]));
    const SparseMatrix& m0 = *ms[0];
    const int T = m0.tile;
    ThreadPool::global().run([&](int tid, int nth) {
        int64_t tb, te;
        split_range(m0.n_tiles, tid, nth, 1, &tb, &te);
        if (tb >= te) return;
        static thread_local AlignedBytes buf;  // the thread's y tiles (L1/L2 resident while the groups stream by)
        const size_t need = (size_t)(te - tb) * T * sizeof(float);
        if (buf.size() < need) buf = AlignedBytes(need);
        float* yb = reinterpret_cast<float*>(buf.data());
        const int64_t r0 = tb * T, nr = std::min<int64_t>(te * T, m0.rows) - r0;
        for (int i = 0; i < count; ++i) {  // fused: the same active set, gate's then up's columns of these tiles
            kern[i](*ms[i], tb, te, a, yb);
            std::memcpy(ys[i] + r0, yb, nr * sizeof(float));
        }
    });
}

// A batch of tokens over the same matrices: tiles split across threads as above, and each thread walks its tiles
// in blocks small enough to stay in L2 (about kBatchTileBytes of weights) while every token of the batch runs the
// tile kernel over them, so the weights come from DRAM once per batch; per token and tile, the kernel does exactly
// what one sparse_matvec call does, so each token's outputs are bitwise its sparse_matvec's.
constexpr size_t kBatchTileBytes = 256 * 1024;

void run_tiles_batch(const SparseMatrix* const* ms, float* const* ys, int count, const std::vector<ActiveSet>& sets) {
    TileKernel kern[2];
    for (int i = 0; i < count; ++i) kern[i] = pick_kernel(kind_of(*ms[i]));
    const SparseMatrix& m0 = *ms[0];
    const int T = m0.tile;
    size_t tile_bytes = 0;
    for (int i = 0; i < count; ++i) tile_bytes += ms[i]->nbytes() / (size_t)std::max<int64_t>(ms[i]->n_tiles, 1);
    const int64_t block = std::max<int64_t>(1, (int64_t)(kBatchTileBytes / std::max<size_t>(tile_bytes, 1)));
    const int64_t n = (int64_t)sets.size();
    ThreadPool::global().run([&](int tid, int nth) {
        int64_t tb, te;
        split_range(m0.n_tiles, tid, nth, 1, &tb, &te);
        static thread_local AlignedBytes buf;
        const size_t need = (size_t)block * T * sizeof(float);
        if (buf.size() < need) buf = AlignedBytes(need);
        float* yb = reinterpret_cast<float*>(buf.data());
        for (int64_t b0 = tb; b0 < te; b0 += block) {
            const int64_t b1 = std::min(b0 + block, te);
            const int64_t r0 = b0 * T, nr = std::min<int64_t>(b1 * T, m0.rows) - r0;
            for (int64_t t = 0; t < n; ++t)
                for (int i = 0; i < count; ++i) {
                    kern[i](*ms[i], b0, b1, sets[t], yb);
                    std::memcpy(ys[i] + t * m0.rows + r0, yb, nr * sizeof(float));
                }
        }
    });
}

void check_fused(const SparseMatrix& gate, const SparseMatrix& up) {
    if (gate.rows != up.rows || gate.cols != up.cols || gate.type != up.type || gate.layout != up.layout)
        throw ValueError("fused_gate_up: gate and up must have the same shape, type and layout");
}

void build_active_sets(const SparseMatrix& m, const float* X, int64_t n, const int64_t* offsets, const int32_t* idx,
                       std::vector<ActiveSet>& sets) {
    if (n < 0) throw ValueError("sparse matmul: negative number of tokens");
    sets.resize(n);
    for (int64_t t = 0; t < n; ++t) {
        const int64_t k = offsets[t + 1] - offsets[t];
        if (offsets[t] < 0 || k < 0 || k > m.cols)
            throw ValueError("sparse matmul: token " + std::to_string(t) + " has a bad active range");
        build_active_set(m, X + t * m.cols, idx + offsets[t], k, sets[t]);
    }
}

}  // namespace
}  // namespace sparse_detail

using namespace sparse_detail;

void sparse_matmul(const SparseMatrix& m, const float* X, int64_t n, const int64_t* offsets, const int32_t* idx,
                   float* Y) {
    std::vector<ActiveSet> sets;
    build_active_sets(m, X, n, offsets, idx, sets);
    if (n == 0) return;
    const SparseMatrix* ms[1] = {&m};
    float* ys[1] = {Y};
    run_tiles_batch(ms, ys, 1, sets);
}

void fused_gate_up_matmul(const SparseMatrix& gate, const SparseMatrix& up, const float* X, int64_t n,
                          const int64_t* offsets, const int32_t* idx, float* Y_gate, float* Y_up) {
    check_fused(gate, up);
    std::vector<ActiveSet> sets;
    build_active_sets(gate, X, n, offsets, idx, sets);
    if (n == 0) return;
    const SparseMatrix* ms[2] = {&gate, &up};
    float* ys[2] = {Y_gate, Y_up};
    run_tiles_batch(ms, ys, 2, sets);
}

void sparse_matvec(const SparseMatrix& m, const float* x, const int32_t* idx, int64_t n, float* y) {
    if (n < 0 || n > m.cols) throw ValueError("number of active indices must be in [0, cols]");
    ActiveSet a;
    build_active_set(m, x, idx, n, a);
    const SparseMatrix* ms[1] = {&m};
    float* ys[1] = {y};
    run_tiles(ms, ys, 1, a);
}

void fused_gate_up(const SparseMatrix& gate, const SparseMatrix& up, const float* x, const int32_t* idx, int64_t n,
                   float* y_gate, float* y_up) {
    check_fused(gate, up);
    if (n < 0 || n > gate.cols) throw ValueError("number of active indices must be in [0, cols]");
    ActiveSet a;
    build_active_set(gate, x, idx, n, a);
    const SparseMatrix* ms[2] = {&gate, &up};
    float* ys[2] = {y_gate, y_up};
    run_tiles(ms, ys, 2, a);
}

}  // namespace pysparse
