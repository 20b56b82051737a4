// The sparse layouts and kernels on the ISA path given by --isa: decode of the repacked layout equals the exact
// row-major decode; the active path's sparse matvec equals a double-precision reference within 1e-5 * sum |w||x| per
// output (plus the x-quantisation bound on the integer paths: the SIMD paths' 4/5/6-bit formats and Q8_0); 1, 2 and 3
// threads give bitwise identical results; bad index lists throw.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "common/cpu.h"
#include "common/error.h"
#include "common/thread_pool.h"
#include "kernels/matvec.h"
#include "quant/blocks.h"
#include "sparse/axpy.h"
#include "sparse/sparse_matrix.h"
#include "sparse/unpack.h"
#include "tests/check.h"

using namespace pysparse;

namespace {

const GGMLType kTypes[] = {GGMLType::Q4_0, GGMLType::Q4_1, GGMLType::Q5_0, GGMLType::Q5_1, GGMLType::Q8_0,
                           GGMLType::Q4_K, GGMLType::Q5_K, GGMLType::Q6_K, GGMLType::F16, GGMLType::F32};

// Random bytes are valid blocks once the fp16 fields hold finite values; those are set to small random scales.
std::vector<uint8_t> random_weight(GGMLType t, int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.f, 1.f);
    const TypeTraits tt = type_traits(t);
    std::vector<uint8_t> w(rows * row_bytes(t, cols));
    for (auto& b : w) b = (uint8_t)(rng() & 0xff);
    auto put = [&](size_t at, float v) {
        fp16_t h = fp32_to_fp16(v);
        std::memcpy(&w[at], &h, 2);
    };
    if (t == GGMLType::F32) {
        for (size_t i = 0; i < w.size(); i += 4) {
            float v = nd(rng);
            std::memcpy(&w[i], &v, 4);
        }
        return w;
    }
    if (t == GGMLType::F16) {
        for (size_t i = 0; i < w.size(); i += 2) put(i, nd(rng));
        return w;
    }
    std::vector<int> fields = {0};
    if (t == GGMLType::Q4_1 || t == GGMLType::Q5_1 || t == GGMLType::Q4_K || t == GGMLType::Q5_K) fields = {0, 2};
    if (t == GGMLType::Q6_K) fields = {208};
    for (size_t b = 0; b < w.size(); b += tt.type_size)
        for (int f : fields) put(b + f, nd(rng) * 0.01f);
    return w;
}

std::vector<int32_t> random_active(int64_t cols, double s, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int32_t> idx(cols);
    for (int64_t i = 0; i < cols; ++i) idx[i] = (int32_t)i;
    std::shuffle(idx.begin(), idx.end(), rng);
    idx.resize((size_t)std::llround((1 - s) * cols));
    std::sort(idx.begin(), idx.end());
    return idx;
}

int64_t cols_for(GGMLType t, int n) { return type_traits(t).block_size == 256 ? 256 * n : 32 * n; }

}  // namespace

TEST(sparse_pack_row_inverts_unpack_row) {
    // decode() rebuilds a row's GGUF blocks with pack_row and decodes them with quant/dequantize.cpp; that is exact
    // only if pack_row gives back every bit unpack_row took apart (random bytes: every bit pattern, NaN scales too).
    std::mt19937 rng(7);
    for (GGMLType t : kTypes) {
        const TypeTraits tt = type_traits(t);
        if (tt.bits >= 16) continue;
        const int64_t cols = 512;
        std::vector<uint8_t> row(row_bytes(t, cols)), back(row.size());
        for (auto& b : row) b = (uint8_t)rng();
        sparse_detail::RowFields f;
        f.q.resize(cols);
        f.gs.resize(cols / tt.group);
        f.gm.resize(cols / tt.group);
        f.sd.resize(tt.k_quant ? cols / 256 : 0);
        f.sm.resize(tt.k_quant ? cols / 256 : 0);
        sparse_detail::unpack_row(t, row.data(), cols, f);
        sparse_detail::pack_row(t, f, cols, back.data());
        CHECK(back == row);
    }
}

TEST(sparse_decode_equals_row_major_decode) {
    for (GGMLType t : kTypes) {
        const int64_t rows = 131, cols = cols_for(t, 2);
        auto w = random_weight(t, rows, cols, 1);
        SparseMatrix m = repack_input_major(t, w.data(), rows, cols);
        std::vector<float> d(rows * cols), r(cols);
        decode(m, d.data());
        const size_t rb = row_bytes(t, cols);
        int bad = 0;
        for (int64_t i = 0; i < rows; ++i) {
            sparse_decode_row(t, w.data() + i * rb, cols, r.data());
            bad += std::memcmp(&d[i * cols], r.data(), cols * 4) != 0;
        }
        CHECK(bad == 0);
    }
}

// Whether a path quantises the active x to int8 per group (sparse/axpy.h): the SIMD paths for the 4/5/6-bit formats
// and Q8_0.
bool sparse_int_path(Isa isa, GGMLType t) {
    const bool low_bits = t == GGMLType::Q4_0 || t == GGMLType::Q4_1 || t == GGMLType::Q4_K || t == GGMLType::Q5_0 ||
                          t == GGMLType::Q5_1 || t == GGMLType::Q5_K || t == GGMLType::Q6_K;
    return isa != Isa::generic && (low_bits || t == GGMLType::Q8_0);
}

// The AVX-512 and AVX2 paths have two builds each (VNNI and plain): the tests run under each the CPU has.
std::vector<bool> vnni_settings(Isa isa) {
    if (isa == Isa::avx512 && cpu_has_feature(CpuFeature::avx512_vnni)) return {true, false};
    if (isa == Isa::avx2 && cpu_has_feature(CpuFeature::avx_vnni)) return {true, false};
    return {false};
}
// Switches both VNNI features (those the CPU has) on or off; the guard puts them back as they were.
void set_vnni(bool on) {
    for (CpuFeature f : {CpuFeature::avx512_vnni, CpuFeature::avx_vnni})
        if (cpu_has_feature(f)) set_feature_enabled(f, on);
}
struct VnniGuard {
    bool avx512 = feature_enabled(CpuFeature::avx512_vnni), avx = feature_enabled(CpuFeature::avx_vnni);
    ~VnniGuard() {
        if (cpu_has_feature(CpuFeature::avx512_vnni)) set_feature_enabled(CpuFeature::avx512_vnni, avx512);
        if (cpu_has_feature(CpuFeature::avx_vnni)) set_feature_enabled(CpuFeature::avx_vnni, avx);
    }
};

TEST(sparse_matvec_matches_reference_and_generic) {
    const Isa isa = active_isa();
    VnniGuard guard;
    for (bool vnni : vnni_settings(isa))
    for (GGMLType t : kTypes) {
        set_vnni(vnni);
        const int64_t rows = 200, cols = cols_for(t, 3);
        auto w = random_weight(t, rows, cols, 2);
        SparseMatrix m = repack_input_major(t, w.data(), rows, cols);
        std::vector<float> dense(rows * cols);
        decode(m, dense.data());
        std::mt19937 rng(3);
        std::normal_distribution<float> nd(0.f, 1.f);
        std::vector<float> x(cols);
        for (auto& v : x) v = nd(rng);
        for (double s : {0.0, 0.3, 0.5, 0.7, 0.9, 1.0}) {
            auto idx = random_active(cols, s, 4);
            std::vector<float> y(rows, -1.f), yg(rows, -2.f);
            set_isa(isa);
            sparse_matvec(m, x.data(), idx.data(), (int64_t)idx.size(), y.data());
            set_isa(Isa::generic);
            sparse_matvec(m, x.data(), idx.data(), (int64_t)idx.size(), yg.data());
            set_isa(isa);
            // The integer paths quantise the active x per group to int8 (dx = max|x| / 127): their bound adds
            // sum_j |w_j| * dx_g(j) / 2. Every other path: float math, 1e-5 of sum |w x|.
            const bool int_path = sparse_int_path(isa, t);
            const int G = t == GGMLType::Q6_K ? 16 : 32;
            std::vector<double> dxg(cols / G + 1, 0.0);
            for (int32_t j : idx) dxg[j / G] = std::max(dxg[j / G], std::fabs((double)x[j]) / 127.0);
            int bad = 0;
            for (int64_t r = 0; r < rows; ++r) {
                double ref = 0, mag = 0, qb = 0;
                for (int32_t j : idx) {
                    ref += (double)dense[r * cols + j] * x[j];
                    mag += std::fabs((double)dense[r * cols + j] * x[j]);
                    qb += std::fabs((double)dense[r * cols + j]) * dxg[j / G] * 0.5 * (1 + 1e-3);
                }
                const double tol = 1e-5 * mag + 1e-30;
                bad += !(std::fabs(y[r] - ref) <= tol + (int_path ? qb : 0.0)) || !(std::fabs(yg[r] - ref) <= tol);
            }
            if (bad)
                std::fprintf(stderr, "  type %s s=%.1f vnni=%d: %d outputs off\n", type_traits(t).name, s, (int)vnni, bad);
            CHECK(bad == 0);
        }
    }
}

TEST(sparse_matvec_threads_bitwise_identical) {
    ThreadPool& pool = ThreadPool::global();
    const int saved = pool.num_threads();
    for (GGMLType t : {GGMLType::Q4_K, GGMLType::Q5_0, GGMLType::Q6_K, GGMLType::Q8_0}) {
        const int64_t rows = 777, cols = cols_for(t, 4);
        auto w = random_weight(t, rows, cols, 5);
        SparseMatrix m = repack_input_major(t, w.data(), rows, cols);
        std::vector<float> x(cols);
        for (int64_t j = 0; j < cols; ++j) x[j] = std::sin(0.37f * j);
        auto idx = random_active(cols, 0.6, 6);
        std::vector<float> y1(rows), y(rows);
        pool.set_num_threads(1);
        sparse_matvec(m, x.data(), idx.data(), (int64_t)idx.size(), y1.data());
        for (int nth : {2, 3}) {
            pool.set_num_threads(nth);
            sparse_matvec(m, x.data(), idx.data(), (int64_t)idx.size(), y.data());
            CHECK(std::memcmp(y.data(), y1.data(), rows * 4) == 0);
        }
    }
    pool.set_num_threads(saved);
}

// The SIMD integer kernels' two orders (axpy.h: column passes over all the range's tiles for short ranges, tile by
// tile otherwise) give bitwise the same outputs: exact int32 sums, the same float epilogue in the same order.
TEST(sparse_colpass_equals_tile_order) {
    const Isa isa = active_isa();
    VnniGuard guard;
    for (bool vnni : vnni_settings(isa))
    for (GGMLType t : kTypes) {
        set_vnni(vnni);
        const int64_t rows = 1100, cols = cols_for(t, 3);  // 9 tiles (18 for the 64-row formats)
        auto w = random_weight(t, rows, cols, 31);
        SparseMatrix m = repack_input_major(t, w.data(), rows, cols);
        std::vector<float> x(cols);
        for (int64_t j = 0; j < cols; ++j) x[j] = std::sin(0.23f * j) * (1 + j % 7);
        for (double s : {0.0, 0.3, 0.5, 0.9, 0.97, 1.0}) {
            auto idx = random_active(cols, s, 32);
            std::vector<float> y0(rows, -1.f), y1(rows, -2.f), y2(rows, -3.f);
            sparse_detail::set_colpass_max_tiles(0);
            sparse_matvec(m, x.data(), idx.data(), (int64_t)idx.size(), y0.data());
            sparse_detail::set_colpass_max_tiles(1 << 20);
            sparse_matvec(m, x.data(), idx.data(), (int64_t)idx.size(), y1.data());
            sparse_detail::set_colpass_max_tiles(-1);
            sparse_matvec(m, x.data(), idx.data(), (int64_t)idx.size(), y2.data());
            CHECK(std::memcmp(y0.data(), y1.data(), rows * 4) == 0);
            CHECK(std::memcmp(y0.data(), y2.data(), rows * 4) == 0);
        }
    }
}

// The AVX2 path's AVX-VNNI build (quads with VPDPBUSD) gives bitwise the plain build's outputs (pairs with
// VPMADDUBSW; Q8_0 with the sign trick instead of the +128 offset): the same exact int32 sums, the same epilogue.
TEST(sparse_avx_vnni_equals_plain_avx2) {
    if (active_isa() != Isa::avx2 || !cpu_has_feature(CpuFeature::avx_vnni)) return;
    VnniGuard guard;
    for (GGMLType t : kTypes) {
        const int64_t rows = 1100, cols = cols_for(t, 3);
        SparseMatrix m = repack_input_major(t, random_weight(t, rows, cols, 51).data(), rows, cols);
        std::vector<float> x(cols);
        for (int64_t j = 0; j < cols; ++j) x[j] = std::cos(0.29f * j) * (1 + j % 5);
        for (int64_t cp : {0, 1 << 20})
            for (double s : {0.0, 0.5, 0.9}) {
                auto idx = random_active(cols, s, 52);
                std::vector<float> y0(rows, -1.f), y1(rows, -2.f);
                sparse_detail::set_colpass_max_tiles(cp);
                set_vnni(false);
                sparse_matvec(m, x.data(), idx.data(), (int64_t)idx.size(), y0.data());
                set_vnni(true);
                sparse_matvec(m, x.data(), idx.data(), (int64_t)idx.size(), y1.data());
                CHECK(std::memcmp(y0.data(), y1.data(), rows * 4) == 0);
            }
    }
    sparse_detail::set_colpass_max_tiles(-1);
}

// The batched form (prefill): every token's outputs bitwise its own sparse_matvec's, on every path and build, for
// any thread count, with empty and full active sets among the tokens.
TEST(sparse_matmul_equals_per_token_matvec) {
    const Isa isa = active_isa();
    ThreadPool& pool = ThreadPool::global();
    const int saved = pool.num_threads();
    VnniGuard guard;
    for (bool vnni : vnni_settings(isa))
    for (GGMLType t : kTypes) {
        set_vnni(vnni);
        const int64_t rows = 1100, cols = cols_for(t, 2), n = 7;  // 1100 rows: several L2 blocks of tiles
        auto w = random_weight(t, rows, cols, 11);
        SparseMatrix m = repack_input_major(t, w.data(), rows, cols);
        std::mt19937 rng(12);
        std::normal_distribution<float> nd(0.f, 1.f);
        std::vector<float> X(n * cols);
        for (auto& v : X) v = nd(rng);
        std::vector<int64_t> off{0};
        std::vector<int32_t> idx;
        const double s[n] = {0.0, 0.5, 1.0, 0.9, 0.3, 0.7, 0.5};
        for (int64_t k = 0; k < n; ++k) {
            auto a = random_active(cols, s[k], 20 + (unsigned)k);
            idx.insert(idx.end(), a.begin(), a.end());
            off.push_back((int64_t)idx.size());
        }
        std::vector<float> ref(n * rows);
        for (int64_t k = 0; k < n; ++k)
            sparse_matvec(m, X.data() + k * cols, idx.data() + off[k], off[k + 1] - off[k], ref.data() + k * rows);
        for (int nth : {1, 2, 3}) {
            pool.set_num_threads(nth);
            std::vector<float> Y(n * rows, -7.f);
            sparse_matmul(m, X.data(), n, off.data(), idx.data(), Y.data());
            CHECK(std::memcmp(Y.data(), ref.data(), Y.size() * 4) == 0);
        }
        pool.set_num_threads(saved);
        // fused gate+up over a batch: the two separate products
        SparseMatrix u = repack_input_major(t, random_weight(t, rows, cols, 13).data(), rows, cols);
        std::vector<float> yg(n * rows), yu(n * rows), ru(n * rows);
        fused_gate_up_matmul(m, u, X.data(), n, off.data(), idx.data(), yg.data(), yu.data());
        sparse_matmul(u, X.data(), n, off.data(), idx.data(), ru.data());
        CHECK(std::memcmp(yg.data(), ref.data(), yg.size() * 4) == 0);
        CHECK(std::memcmp(yu.data(), ru.data(), yu.size() * 4) == 0);
        // a bad list in any token is a ValueError, as for one token
        std::vector<int32_t> bad = idx;
        if (off[2] - off[1] >= 2) {
            std::swap(bad[off[1]], bad[off[1] + 1]);
            std::vector<float> Y(n * rows);
            CHECK_THROWS(sparse_matmul(m, X.data(), n, off.data(), bad.data(), Y.data()));
        }
    }
}

TEST(sparse_fused_gate_up_equals_separate) {
    const GGMLType t = GGMLType::Q4_K;
    const int64_t rows = 300, cols = 512;
    auto wg = random_weight(t, rows, cols, 7), wu = random_weight(t, rows, cols, 8);
    SparseMatrix g = repack_input_major(t, wg.data(), rows, cols), u = repack_input_major(t, wu.data(), rows, cols);
    std::vector<float> x(cols);
    for (int64_t j = 0; j < cols; ++j) x[j] = std::cos(0.11f * j);
    auto idx = random_active(cols, 0.5, 9);
    std::vector<float> yg(rows), yu(rows), rg(rows), ru(rows);
    fused_gate_up(g, u, x.data(), idx.data(), (int64_t)idx.size(), yg.data(), yu.data());
    sparse_matvec(g, x.data(), idx.data(), (int64_t)idx.size(), rg.data());
    sparse_matvec(u, x.data(), idx.data(), (int64_t)idx.size(), ru.data());
    CHECK(std::memcmp(yg.data(), rg.data(), rows * 4) == 0);
    CHECK(std::memcmp(yu.data(), ru.data(), rows * 4) == 0);
}

TEST(sparse_row_skip_equals_dense_rows) {
    for (GGMLType t : kTypes) {
        const int64_t rows = 70, cols = cols_for(t, 2);
        auto w = random_weight(t, rows, cols, 10);
        std::vector<float> x(cols), y(rows), dense(rows);
        for (int64_t j = 0; j < cols; ++j) x[j] = std::sin(0.3f * j);
        auto ri = random_active(rows, 0.5, 11);
        row_skip_matvec(t, w.data(), rows, cols, x.data(), ri.data(), (int64_t)ri.size(), y.data());
        matvec(t, w.data(), rows, cols, x.data(), dense.data());
        std::vector<char> listed(rows, 0);
        for (int32_t r : ri) listed[r] = 1;
        int bad = 0;
        for (int64_t r = 0; r < rows; ++r) bad += listed[r] ? std::memcmp(&y[r], &dense[r], 4) != 0 : y[r] != 0.f;
        CHECK(bad == 0);
    }
}

TEST(sparse_bad_indices_throw) {
    const int64_t rows = 64, cols = 256;
    auto w = random_weight(GGMLType::Q4_K, rows, cols, 12);
    SparseMatrix m = repack_input_major(GGMLType::Q4_K, w.data(), rows, cols);
    std::vector<float> x(cols, 1.f), y(rows);
    const int32_t oob[] = {0, 256}, neg[] = {-1}, unsorted[] = {5, 3}, dup[] = {3, 3};
    CHECK_THROWS(sparse_matvec(m, x.data(), oob, 2, y.data()));
    CHECK_THROWS(sparse_matvec(m, x.data(), neg, 1, y.data()));
    CHECK_THROWS(sparse_matvec(m, x.data(), unsorted, 2, y.data()));
    CHECK_THROWS(sparse_matvec(m, x.data(), dup, 2, y.data()));
    CHECK_THROWS(repack_input_major(GGMLType::Q4_K, w.data(), rows, 100));
    CHECK_THROWS(repack_input_major(GGMLType::Q2_K, w.data(), rows, cols));
}
