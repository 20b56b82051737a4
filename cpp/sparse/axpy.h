// Internal to cpp/sparse: the per-ISA kernels of the input-sparse matvec and what they share.
// A range kernel computes the outputs of row tiles [tb, te) from the active columns (the ActiveSet, built once
// per call by axpy.cpp) into y[0, (te - tb) * tile) (padding rows included). It walks the touched groups in order
// and, inside a group, the tiles in order (each active column is one sequential run); the AVX2 / AVX-512 integer
// kernels walk short ranges (at most colpass_max_tiles(bits) tiles; by default Q6_K only) in column passes
// instead: per group, 8 active columns over all the range's tiles at a time, int32 sums buffered per tile, bitwise
// the same outputs (see colpass_avx512). Threads run it on disjoint tile ranges.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "common/cpu.h"
#include "common/dispatch.h"
#include "sparse/sparse_matrix.h"

namespace pysparse {
namespace sparse_detail {

// The layout variants a kernel specialises on: a lossless layout's kind is its GGML type (same value), so a
// kernel reads the type's facts from quant/types.h; requant_q8_0 is the one layout that is not a source type.
enum class Kind : uint32_t {
    q4_0 = (uint32_t)GGMLType::Q4_0, q4_1 = (uint32_t)GGMLType::Q4_1, q5_0 = (uint32_t)GGMLType::Q5_0,
    q5_1 = (uint32_t)GGMLType::Q5_1, q8_0 = (uint32_t)GGMLType::Q8_0, q4_k = (uint32_t)GGMLType::Q4_K,
    q5_k = (uint32_t)GGMLType::Q5_K, q6_k = (uint32_t)GGMLType::Q6_K, f16 = (uint32_t)GGMLType::F16,
    f32 = (uint32_t)GGMLType::F32, requant_q8_0 = 0x10000,
};
Kind kind_of(const SparseMatrix& m);

// The source type's traits (requant_q8_0: its int8 columns read as Q8_0).
constexpr TypeTraits kind_traits(Kind k) {
    return type_traits(k == Kind::requant_q8_0 ? GGMLType::Q8_0 : static_cast<GGMLType>(k));
}
// Bits of one stored value (4 / 5 / 6 / 8; 16 / 32 for plain floats).
constexpr int bits_of(Kind k) { return kind_traits(k).bits; }

// A run of active entries [begin, end) of one scale group g (plain float and requant layouts, which have no
// groups: runs of up to 32 active entries, g = -1). xsum = sum of their x values, added in index order.
// For the integer paths (AVX2, AVX-512 and NEON: the 4/5/6-bit formats and Q8_0): the group's active x quantised to
// int8, xq = round(x / dx) with dx = max |x| / 127 over the group's active entries, and xsumq = dx * sum xq (the
// quantised x's sum).
struct ActiveGroup {
    int32_t g, begin, end;
    float xsum;
    float dx, xsumq;
};

// The active columns of one call: col[k] ascending with x values xv[k] = x[col[k]], cut into groups.
struct ActiveSet {
    std::vector<ActiveGroup> groups;
    std::vector<int32_t> col;
    std::vector<float> xv;
    std::vector<int64_t> cs0;  // m.col_slice(0, col[k]); column k's slice in tile t is cs0[k] + t * m.slice_step()
    std::vector<int8_t> xq;    // x quantised per group (see ActiveGroup)
};

// A call's active columns as two consecutive parts (axpy.cpp: build_active_parts), summed at the end.
constexpr int kParts = 2;
using ActiveParts = std::array<ActiveSet, kParts>;

using TileKernel = void (*)(const SparseMatrix& m, int64_t tb, int64_t te, const ActiveSet& a, float* y);

// The sparse family's kernel set (the dispatch idiom: common/dispatch.h): a tile kernel per source type, and the
// requant reference layout's; nullptr where the path has none (select_path then takes the next path's).
struct SparseKernels {
    TypeKernels<TileKernel> tile;
    TileKernel requant_q8_0;
    constexpr TileKernel operator[](Kind k) const {
        return k == Kind::requant_q8_0 ? requant_q8_0 : tile[static_cast<GGMLType>(k)];
    }
};
extern const SparseKernels kSparseGeneric;  // axpy_generic.cpp: every kind
#if defined(PYSPARSE_X86)
extern const SparseKernels kSparseAvx2;        // axpy_avx2.cpp (kernels: axpy_avx2_impl.h)
extern const SparseKernels kSparseAvxVnni;     // axpy_avxvnni.cpp (built with -mavxvnni): the integer kinds
extern const SparseKernels kSparseAvx512;      // axpy_avx512.cpp: F16 / F32 and the integer dots without VNNI
extern const SparseKernels kSparseAvx512Vnni;  // axpy_avx512vnni.cpp (built with -mavx512vnni): the integer kinds
#endif
#if defined(PYSPARSE_ARM)
extern const SparseKernels kSparseNeon;     // axpy_neon.cpp
extern const SparseKernels kSparseNeonDot;  // axpy_neondot.cpp (built for dotprod: SDOT)
#endif

// The offset a symmetric format's raw values carry (value = d * (q - offset)), 0 for the others.
constexpr int quant_offset(Kind k) { return k == Kind::requant_q8_0 ? 0 : kind_traits(k).offset; }

// The SIMD kernels' software prefetch. PF is the ISA's prefetch instruction for the level wanted (prefetcht0 or
// prefetcht1 on x86, prfm on ARM), passed as a template argument so the call inlines to one instruction. Prefetches
// are hints: a line fetched for nothing costs bandwidth, never a wrong result.
using PrefetchFn = void (*)(const void*);

// The lines of tile t of active columns [k0, k1): LINES lines of each column's lo slice (F16 / F32 slices span 2
// or 4) and its hi slice, where the format has one.
template <int LINES, PrefetchFn PF>
inline void prefetch_columns(const SparseMatrix& m, const ActiveSet& a, int32_t k0, int32_t k1, int64_t t) {
    const uint8_t* lo = m.lo.data();
    const uint8_t* hi = m.hi.data();
    const int64_t LB = m.lo_bytes, HB = m.hi_bytes, G = m.slice_step();
    for (int32_t k = k0; k < k1; ++k) {
        const int64_t cs = a.cs0[k] + t * G;
        for (int l = 0; l < LINES; ++l) PF(lo + cs * LB + 64 * l);
        if (HB) PF(hi + cs * HB);
    }
}

// The tile order's prefetch, `ahead` tiles past (group gi, tile t) in the walk over tiles [tb, te): that tile of
// the same group or, past te, one of the next group's first tiles.
template <int LINES, PrefetchFn PF>
inline void prefetch_tile_ahead(const SparseMatrix& m, const ActiveSet& a, size_t gi, int64_t t, int64_t ahead,
                                int64_t tb, int64_t te) {
    int64_t tp = t + ahead;
    if (tp >= te) {
        tp = tb + (tp - te);
        if (++gi >= a.groups.size() || tp >= te) return;
    }
    prefetch_columns<LINES, PF>(m, a, a.groups[gi].begin, a.groups[gi].end, tp);
}

// How many tiles ahead the SIMD kernels prefetch a group's active lines: about kLinesInFlight lines (the L1 miss
// buffers hold ~20-24), so few tiles ahead when a group has many active columns and more when it has few.
constexpr int kLinesInFlight = 24;
inline int64_t prefetch_tiles(int32_t n_active) {
    const int64_t d = kLinesInFlight / (n_active > 0 ? n_active : 1);
    return d < 1 ? 1 : d > 16 ? 16 : d;
}

// A second, farther prefetch into L2 (prefetcht1) for the AVX2 and AVX-512 kernels: about kL2LinesAhead lines ahead,
// prefetch_tiles_l2(n) tiles (4..16). The L1 prefetch above is capped by the L1 miss buffers, so with 32 active
// columns per group (s = 0) it reaches one tile ahead: too few bytes in flight for a fast memory system, and the
// hardware prefetchers do not follow 32 interleaved column runs. Rough A/B on the loaded development machine
// (AMD EPYC, AVX-512, Q4_K, DRAM-resident): sparse/dense at s = 0 from ~1.5 to ~1.0. PYSPARSE_SPARSE_L2_LINES
// sets the budget (0 switches it off) for A/B runs on a quiet machine.
int64_t l2_lines_ahead();  // axpy.cpp: set_l2_lines_ahead's value, else PYSPARSE_SPARSE_L2_LINES, else kL2LinesAhead
void set_l2_lines_ahead(int64_t n);  // for in-process A/B runs (bench/sparse_floor.cpp); -1 restores the default
constexpr int kL2LinesAhead = 256;
inline int64_t prefetch_tiles_l2(int32_t n_active) {
    const int64_t lines = l2_lines_ahead();
    if (lines <= 0) return 0;
    const int64_t d = lines / (n_active > 0 ? n_active : 1);
    return d < 4 ? 4 : d > 16 ? 16 : d;
}

// Column-pass order of the SIMD integer kernels (axpy_avx512_impl.h colpass_avx512): used when the thread's range has
// at most colpass_max_tiles(bits) tiles: kColpassMaxTiles for Q6_K, 0 (off) for the other formats, where repeated A/B
// runs at 1536x8960 Q4_K were within the noise of the tile order (+-0.1 of the dense time, some runs better, some
// worse); Q6_K gained in every run. PYSPARSE_SPARSE_COLPASS=<tiles> sets the bound for every format (0 switches it
// off); set_colpass_max_tiles does the same from tests, -1 restores the default. Its prefetch distances in steps of the
// walk (one step: a pass's 8 columns in one tile), by the format's bits: into L1 1 step ahead and into L2 8 (Q6_K: 3
// and 32). One A/B run at 1536x8960 (1 thread, from DRAM, load ~3.5): Q4_K sparse/dense at s = 0.5 0.87 with 1 / 8
// against 1.06 with 3 / 32; Q6_K 1.16 with 3 / 32 against 1.22. PYSPARSE_SPARSE_COLPASS_L1 / _L2 override.
constexpr int kColpassMaxTiles = 32;
int64_t colpass_max_tiles(int bits);
void set_colpass_max_tiles(int64_t n);
int64_t colpass_l1_steps(int bits);
int64_t colpass_l2_steps(int bits);

// The column-pass walk the SIMD kernels share: one step is (group gi, a pass of kPassCols active columns from k,
// tile t); tiles run fastest, then passes, then groups. The kernels keep two cursors d1 and d2 steps ahead of the
// work for their L1 and L2 prefetches.
constexpr int kPassCols = 8;
struct ColpassCursor {
    size_t gi;
    int32_t k;
    int64_t t;

    // The first step of the walk over tiles [tb, te), moved `steps` steps on.
    static ColpassCursor at(const ActiveSet& a, int64_t tb, int64_t te, int64_t steps) {
        ColpassCursor c{0, a.groups[0].begin, tb};
        for (int64_t i = 0; i < steps; ++i) c.advance(a, tb, te);
        return c;
    }
    void advance(const ActiveSet& a, int64_t tb, int64_t te) {
        if (gi >= a.groups.size()) return;
        if (++t < te) return;
        t = tb;
        k += kPassCols;
        if (k < a.groups[gi].end) return;
        if (++gi < a.groups.size()) k = a.groups[gi].begin;
    }
    // Prefetch (PF: see prefetch_columns) the lines of the step's pass: its active columns' slices in tile t.
    template <PrefetchFn PF>
    void prefetch(const SparseMatrix& m, const ActiveSet& a) const {
        if (gi >= a.groups.size()) return;
        const int32_t e = k + kPassCols < a.groups[gi].end ? k + kPassCols : a.groups[gi].end;
        prefetch_columns<1, PF>(m, a, k, e, t);
    }
};

}  // namespace sparse_detail
}  // namespace pysparse
