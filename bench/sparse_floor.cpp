// The memory floor of the input-sparse matvec: how long single calls from DRAM take (cache flushed before each, as
// bench_sparse.py times them) for the kernel, and for a pure read of exactly the bytes it reads (the active
// columns' lines and the touched groups' scale panels, in the kernel's walk order: group, then tile) with and
// without the kernel's software prefetch, all relative to the dense matvec of the same matrix, interleaved, medians.
// Where the kernel's ratio is above the pure read's, the layout is not what limits it (its bytes come in that fast),
// the kernel's work between the loads is.
//
//   bash tools/build_inplace.sh                      # builds it with the C++ tests: build/dev/sparse_floor
//   build/dev/sparse_floor Q4_K 1536 8960 [reps=15] [flush MiB=900] [L2 budgets, e.g. 0,256]
//
// (1536 x 8960: the Qwen2.5-1.5B down matrix.) The optional last argument adds the kernel once per L2 prefetch
// budget listed (sparse/axpy.h prefetch_tiles_l2, in lines; 0: off), interleaved with the rest in the same process:
// on a host whose memory speed moves between processes, the way to compare settings.
//
// Types: every type the sparse layout takes. Random weights quantised by the engine, uniform random active sets
// at s = 0 .. 0.9.
// Prints per s: kernel | read + prefetch | read without prefetch, each as its time over the dense time, and the
// layout's ideal (bytes the kernel must read over the dense bytes); then the kernel at each listed L2 budget. One
// thread; results vary with the machine's memory speed from minute to minute, so compare the columns of one line,
// not lines of different runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/aligned_bytes.h"
#include "common/thread_pool.h"
#include "kernels/matvec.h"
#include "quant/quantize.h"
#include "quant/types.h"
#include "sparse/axpy.h"
#include "sparse/sparse_matrix.h"

using namespace pysparse;

namespace {

// Reads every byte sparse_matvec reads for the active list idx, group by group and tile by tile as tile_avx512
// walks them (a column slice of 64 bytes is one line; 5/6-bit formats add their plane), optionally with its two
// prefetches at its distances; returns a checksum.
uint64_t read_walk(const SparseMatrix& m, const std::vector<int32_t>& idx, bool prefetch) {
    uint64_t acc = 0;
    const int64_t nt = m.n_tiles, T = m.tile;
    const uint8_t *lo = m.lo.data(), *hi = m.hi.data();
    auto lines = [&](const uint8_t* p, int64_t bytes) {  // one 8-byte load per 64-byte line brings the line in
        for (int64_t o = 0; o < bytes; o += 64) {
            uint64_t v;
            std::memcpy(&v, p + o, 8);
            acc ^= v;
        }
    };
    for (size_t k = 0; k < idx.size();) {
        const int32_t g = idx[k] / m.group;
        size_t e = k;
        while (e < idx.size() && idx[e] / m.group == g) ++e;
        const int64_t n = (int64_t)(e - k);
        // the kernels' distances in tiles (sparse/axpy.h; d2 = 0: PYSPARSE_SPARSE_L2_LINES=0 switched it off)
        const int64_t d1 = sparse_detail::prefetch_tiles((int32_t)n), d2 = sparse_detail::prefetch_tiles_l2((int32_t)n);
        for (int64_t t = 0; t < nt; ++t) {
            for (size_t c = k; prefetch && c < e; ++c) {
                const size_t cs = m.col_slice(0, idx[c]);
                if (t + d1 < nt) __builtin_prefetch(lo + (cs + t + d1) * m.lo_bytes, 0, 3);
                if (d2 && t + d2 < nt) __builtin_prefetch(lo + (cs + t + d2) * m.lo_bytes, 0, 2);
            }
            for (size_t c = k; c < e; ++c) {
                const size_t cs = m.col_slice(t, idx[c]);
                lines(lo + cs * m.lo_bytes, m.lo_bytes);
                if (m.hi_bytes) lines(hi + cs * m.hi_bytes, m.hi_bytes);
            }
            const size_t at = m.panel(t, g) * T;
            lines(m.gs.data() + at * m.gs_elem, T * m.gs_elem);
            if (m.gm_elem) lines(m.gm.data() + at * m.gm_elem, T * m.gm_elem);
            if (m.groups_per_super) {  // read again by every group of the super-block: cached after the first
                const size_t as = m.panel(t, g / m.groups_per_super) * T * 2;
                lines(m.sd.data() + as, T * 2);
                if (m.sm.size()) lines(m.sm.data() + as, T * 2);
            }
        }
        k = e;
    }
    return acc;
}

// A row-major matrix of real quantised weights: normal random values through the engine's quantiser. In an
// AlignedBytes, so on huge pages as the repacked matrix is (and as numpy's arrays are in bench_sparse.py): from
// 4 KiB pages the dense matvec ran slower and every ratio over it read low (Xeon VM, 4096 x 11008 Q4_K, s = 0:
// 0.99 here against 1.23 in bench_sparse.py).
AlignedBytes random_weights(GGMLType type, int64_t rows, int64_t cols, std::mt19937& rng) {
    std::vector<float> f(static_cast<size_t>(rows) * cols);
    std::normal_distribution<float> nd(0.f, 0.02f);
    for (auto& v : f) v = nd(rng);
    AlignedBytes w(row_bytes(type, cols) * rows);
    quantize_rows(type, f.data(), w.data(), rows, cols);
    return w;
}

}  // namespace

int run(int argc, char** argv);

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {  // a bad type or shape: the engine's message
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
}

int run(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s TYPE rows cols [reps] [flush MiB] [L2 budgets, e.g. 0,256]\n", argv[0]);
        return 2;
    }
    const std::string tn = argv[1];
    const int64_t rows = std::atol(argv[2]), cols = std::atol(argv[3]);
    const int reps = argc > 4 ? std::atoi(argv[4]) : 15;
    const size_t flush_mib = argc > 5 ? std::atol(argv[5]) : 900;
    std::vector<int64_t> l2;  // the kernel's L2 prefetch budgets to compare (lines)
    if (argc > 6)
        for (const char* p = argv[6]; *p;) {
            char* end = nullptr;
            const long v = std::strtol(p, &end, 10);
            if (end == p || v < 0) {
                std::fprintf(stderr, "L2 budgets: a comma-separated list of lines >= 0, got '%s'\n", argv[6]);
                return 2;
            }
            l2.push_back(v);
            p = *end == ',' ? end + 1 : end;
        }
    const GGMLType type = type_from_name(tn);
    ThreadPool::global().set_num_threads(1);
    std::mt19937 rng(1);
    const AlignedBytes w = random_weights(type, rows, cols, rng);
    const SparseMatrix m = repack_input_major(type, w.data(), rows, cols);
    std::vector<float> x(cols), y(rows);
    std::normal_distribution<float> nd;
    for (auto& v : x) v = nd(rng);
    std::vector<uint64_t> flush_buf((flush_mib << 20) / 8, 1);
    uint64_t sink = 0;
    auto flush = [&] {
        for (size_t i = 0; i < flush_buf.size(); i += 8) sink += flush_buf[i];
    };
    std::printf("%s %ldx%ld, 1 thread, %d cold calls each (flush %zu MiB): kernel | read+prefetch | read, over dense "
                "(ideal)", tn.c_str(), (long)rows, (long)cols, reps, flush_mib);
    for (int64_t b : l2) std::printf(" | kernel L2=%ld", (long)b);
    std::printf("\n");
    const int nv = 4 + (int)l2.size();
    for (double s : {0.0, 0.5, 0.7, 0.8, 0.9}) {
        std::vector<int32_t> idx(cols);
        for (int64_t i = 0; i < cols; ++i) idx[i] = (int32_t)i;
        std::shuffle(idx.begin(), idx.end(), rng);
        idx.resize((size_t)((1 - s) * cols));
        std::sort(idx.begin(), idx.end());
        int64_t touched = 0;
        for (size_t k = 0; k < idx.size(); ++k) touched += k == 0 || idx[k] / m.group != idx[k - 1] / m.group;
        const double ideal = (double)sparse_bytes_touched(m, (int64_t)idx.size(), touched) / (double)w.size();
        std::vector<std::vector<double>> t(nv);
        for (int r = 0; r < reps; ++r)
            for (int v = 0; v < nv; ++v) {
                sparse_detail::set_l2_lines_ahead(v >= 4 ? l2[v - 4] : -1);
                flush();
                const auto t0 = std::chrono::steady_clock::now();
                if (v == 0) matvec(type, w.data(), rows, cols, x.data(), y.data());
                else if (v == 1 || v >= 4) sparse_matvec(m, x.data(), idx.data(), (int64_t)idx.size(), y.data());
                else sink += read_walk(m, idx, v == 2);
                t[v].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
        sparse_detail::set_l2_lines_ahead(-1);
        for (auto& v : t) std::sort(v.begin(), v.end());
        const double dense = t[0][reps / 2];
        std::printf("  s=%.1f  %.2f | %.2f | %.2f  (%.2f)", s, t[1][reps / 2] / dense, t[2][reps / 2] / dense,
                    t[3][reps / 2] / dense, ideal);
        for (int v = 4; v < nv; ++v) std::printf(" | %.2f", t[v][reps / 2] / dense);
        std::printf("   dense %.0f us\n", dense * 1e6);
        std::fflush(stdout);
    }
    std::printf("(checksum %llu)\n", (unsigned long long)(sink & 0xff));  // keeps the flushes and reads
    return 0;
}
