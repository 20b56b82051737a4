// The input-sparse matvec driver: checks the index list, builds the active set once per call (active columns,
// their x values, cut into the format's groups, with each group's sum of x) as two column parts, then runs the
// active ISA's tile kernel over every row tile for each part, and sums the parts (see ActiveParts).
// Also the fused gate+up form and the row-skip matvec over row-major GGUF data.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <string>

#include "common/env.h"
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

namespace {
int64_t g_l2_override = -1;
int64_t g_colpass_override = -1;
}  // namespace

int64_t l2_lines_ahead() {
    static const int64_t v = env_int("PYSPARSE_SPARSE_L2_LINES", kL2LinesAhead);
    return g_l2_override >= 0 ? g_l2_override : v;
}
void set_l2_lines_ahead(int64_t n) { g_l2_override = n; }

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
// pos0: the position of idx[0] in the caller's list (for the error messages); prev: the index before idx[0] in it
// (-1: none), so a list cut in parts is checked across the cut as one list.
void build_active_set(const SparseMatrix& m, const float* x, const int32_t* idx, int64_t n, ActiveSet& a,
                      int64_t pos0 = 0, int32_t prev = -1) {
    a.groups.clear();
    a.col.resize(n);
    a.xv.resize(n);
    a.cs0.resize(n);
    a.xq.resize(n);
    for (int64_t k = 0; k < n; ++k) {
        const int32_t j = idx[k];
        if (j < 0 || j >= m.cols)
            throw ValueError("active index " + std::to_string(j) + " at position " + std::to_string(pos0 + k) +
                             " is out of range [0, " + std::to_string(m.cols) + ")");
        if (j <= prev)
            throw ValueError("active indices must be strictly ascending (sorted, no duplicates); position " +
                             std::to_string(pos0 + k) + " has " + std::to_string(j) + " after " + std::to_string(prev));
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

// The active columns cut into kParts consecutive parts of about equal size, at a group boundary (grouped layouts)
// or a multiple of 32 entries (the others' runs), each its own ActiveSet. The kernels compute each part over the
// row tiles and y = part 0 + part 1: a fixed order of float additions whatever the thread count, so results stay
// bitwise the same on 1, 2 or 3 threads. What it buys: a thread's tile kernel reads each active column as one run
// of lines over its tiles, and with the tiles split between two threads the runs were half as long (35 lines of
// a 8960-row Q4_K matrix) and the hardware prefetchers restarted twice as often: on one thread, walking the tiles
// in two halves ran 1.13-1.2x slower at s = 0.25-0.9 (8960 x 1536 Q4_K, DRAM). With two threads each now takes
// one part over all tiles.
void build_active_parts(const SparseMatrix& m, const float* x, const int32_t* idx, int64_t n, ActiveParts& parts) {
    const bool grouped = m.layout == SparseLayout::lossless && m.group > 1;
    int64_t cut = grouped ? n / 2 : n / 2 / 32 * 32;
    if (grouped)  // no memory is read here, so a bad index only moves the cut; the parts' own checks report it
        while (cut > 0 && cut < n && idx[cut] / m.group == idx[cut - 1] / m.group) ++cut;
    build_active_set(m, x, idx, cut, parts[0]);
    build_active_set(m, x, idx + cut, n - cut, parts[1], cut, cut > 0 ? idx[cut - 1] : -1);
}

// The family's sets by path (common/dispatch.h: the chain, and nullptr = the next path's kernel).
constexpr PathSets<SparseKernels> kSparseSets = PathSets<SparseKernels>{}
    .with(KernelPath::generic, &kSparseGeneric)
#if defined(PYSPARSE_X86)
    .with(KernelPath::avx2, &kSparseAvx2)
    .with(KernelPath::avx_vnni, &kSparseAvxVnni)
    .with(KernelPath::avx512, &kSparseAvx512)
    .with(KernelPath::avx512_vnni, &kSparseAvx512Vnni)
#endif
#if defined(PYSPARSE_ARM)
    .with(KernelPath::neon, &kSparseNeon)
    .with(KernelPath::neon_dotprod, &kSparseNeonDot)
#endif
    ;

TileKernel pick_kernel(Kind k) {
    return select_path(kSparseSets, [k](const SparseKernels& s) { return s[k]; });
}

// y[r] = part 0 + part 1 for r < rows (the parts' outputs of the tile-padded rows).
inline void sum_parts(const float* p0, const float* p1, int64_t rows, float* y) {
    for (int64_t r = 0; r < rows; ++r) y[r] = p0[r] + p1[r];
}

// Runs the tile kernel(s) over all tiles of `ms` (all with the same rows and tile size) for each column part,
// writing ys. Work units are (part, run of tiles): with an even number of threads half of them take part 0 and
// half part 1, each over 2 / nth of the tiles (two threads: one part each over all tiles); with an odd number
// each thread takes its share of the tiles for both parts.
void run_tiles(const SparseMatrix* const* ms, float* const* ys, int count, const ActiveParts& parts) {
    TileKernel kern[2];
    for (int i = 0; i < count; ++i) kern[i] = pick_kernel(kind_of(*ms[i]));
    const SparseMatrix& m0 = *ms[0];
    const int T = m0.tile;
    const int64_t padded = m0.n_tiles * T;
    thread_local AlignedBytes buf;  // the calling thread's: [matrix][part][padded rows] partial outputs
    const size_t need = (size_t)count * kParts * padded * sizeof(float);
    if (buf.size() < need) buf = AlignedBytes(need);
    float* pb = reinterpret_cast<float*>(buf.data());
    auto part_out = [&](int i, int p) { return pb + ((size_t)i * kParts + p) * padded; };
    ThreadPool::global().run([&](int tid, int nth) {
        const bool by_part = nth % 2 == 0;
        const int p0 = by_part ? tid % 2 : 0, p1 = by_part ? p0 + 1 : kParts;
        int64_t tb, te;
        split_range(m0.n_tiles, by_part ? tid / 2 : tid, by_part ? nth / 2 : nth, 1, &tb, &te);
        if (tb >= te) return;
        for (int p = p0; p < p1; ++p)
            for (int i = 0; i < count; ++i)  // fused: the same active set, gate's then up's columns of these tiles
                kern[i](*ms[i], tb, te, parts[p], part_out(i, p) + tb * T);
    });
    for (int i = 0; i < count; ++i) sum_parts(part_out(i, 0), part_out(i, 1), m0.rows, ys[i]);
}

// A batch of tokens over the same matrices: tiles split across threads as above, and each thread walks its tiles
// in blocks small enough to stay in L2 (about kBatchTileBytes of weights) while every token of the batch runs the
// tile kernel over them, so the weights come from DRAM once per batch; per token and tile, the kernel does exactly
// what one sparse_matvec call does, so each token's outputs are bitwise its sparse_matvec's.
constexpr size_t kBatchTileBytes = 256 * 1024;

void run_tiles_batch(const SparseMatrix* const* ms, float* const* ys, int count, const std::vector<ActiveParts>& sets) {
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
        const size_t need = (size_t)kParts * block * T * sizeof(float);
        if (buf.size() < need) buf = AlignedBytes(need);
        float* yb[kParts] = {reinterpret_cast<float*>(buf.data()), reinterpret_cast<float*>(buf.data()) + block * T};
        for (int64_t b0 = tb; b0 < te; b0 += block) {
            const int64_t b1 = std::min(b0 + block, te);
            const int64_t r0 = b0 * T, nr = std::min<int64_t>(b1 * T, m0.rows) - r0;
            for (int64_t t = 0; t < n; ++t)
                for (int i = 0; i < count; ++i) {
                    for (int p = 0; p < kParts; ++p) kern[i](*ms[i], b0, b1, sets[t][p], yb[p]);
                    sum_parts(yb[0], yb[1], nr, ys[i] + t * m0.rows + r0);
                }
        }
    });
}

void check_fused(const SparseMatrix& gate, const SparseMatrix& up) {
    if (gate.rows != up.rows || gate.cols != up.cols || gate.type != up.type || gate.layout != up.layout)
        throw ValueError("fused_gate_up: gate and up must have the same shape, type and layout");
}

void build_active_sets(const SparseMatrix& m, const float* X, int64_t n, const int64_t* offsets, const int32_t* idx,
                       std::vector<ActiveParts>& sets) {
    if (n < 0) throw ValueError("sparse matmul: negative number of tokens");
    sets.resize(n);
    for (int64_t t = 0; t < n; ++t) {
        const int64_t k = offsets[t + 1] - offsets[t];
        if (offsets[t] < 0 || k < 0 || k > m.cols)
            throw ValueError("sparse matmul: token " + std::to_string(t) + " has a bad active range");
        build_active_parts(m, X + t * m.cols, idx + offsets[t], k, sets[t]);
    }
}

}  // namespace
}  // namespace sparse_detail

using namespace sparse_detail;

void sparse_matmul(const SparseMatrix& m, const float* X, int64_t n, const int64_t* offsets, const int32_t* idx,
                   float* Y) {
    std::vector<ActiveParts> sets;
    build_active_sets(m, X, n, offsets, idx, sets);
    if (n == 0) return;
    const SparseMatrix* ms[1] = {&m};
    float* ys[1] = {Y};
    run_tiles_batch(ms, ys, 1, sets);
}

void fused_gate_up_matmul(const SparseMatrix& gate, const SparseMatrix& up, const float* X, int64_t n,
                          const int64_t* offsets, const int32_t* idx, float* Y_gate, float* Y_up) {
    check_fused(gate, up);
    std::vector<ActiveParts> sets;
    build_active_sets(gate, X, n, offsets, idx, sets);
    if (n == 0) return;
    const SparseMatrix* ms[2] = {&gate, &up};
    float* ys[2] = {Y_gate, Y_up};
    run_tiles_batch(ms, ys, 2, sets);
}

void sparse_matvec(const SparseMatrix& m, const float* x, const int32_t* idx, int64_t n, float* y) {
    if (n < 0 || n > m.cols) throw ValueError("number of active indices must be in [0, cols]");
    ActiveParts a;
    build_active_parts(m, x, idx, n, a);
    const SparseMatrix* ms[1] = {&m};
    float* ys[1] = {y};
    run_tiles(ms, ys, 1, a);
}

void fused_gate_up(const SparseMatrix& gate, const SparseMatrix& up, const float* x, const int32_t* idx, int64_t n,
                   float* y_gate, float* y_up) {
    check_fused(gate, up);
    if (n < 0 || n > gate.cols) throw ValueError("number of active indices must be in [0, cols]");
    ActiveParts a;
    build_active_parts(gate, x, idx, n, a);
    const SparseMatrix* ms[2] = {&gate, &up};
    float* ys[2] = {y_gate, y_up};
    run_tiles(ms, ys, 2, a);
}

}  // namespace pysparse
