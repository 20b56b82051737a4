// Dense matvec: the ISA path under test (--isa) against the scalar generic path, on random valid blocks of every
// type. (The generic path itself is checked against gguf.quants + numpy in tests/test_matvec.py.)
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <random>
#include <vector>

#include "common/aligned_bytes.h"
#include "common/cpu.h"
#include "common/error.h"
#include "common/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/matvec.h"
#include "kernels/vec_dot.h"
#include "quant/blocks.h"
#include "quant/dequantize.h"
#include "tests/check.h"

using namespace pysparse;

namespace {

const GGMLType kTypes[] = {GGMLType::F32,  GGMLType::F16,  GGMLType::BF16, GGMLType::Q4_0,
                           GGMLType::Q4_1, GGMLType::Q5_0, GGMLType::Q5_1, GGMLType::Q8_0,
                           GGMLType::Q4_K, GGMLType::Q5_K, GGMLType::Q6_K};

// Runs body() with the integer-dot feature of the active path (AVX-512: AVX-512 VNNI; AVX2: AVX-VNNI) switched on
// and then off where the CPU has it (otherwise once, as things are), then restores the feature's state. Returns
// whether the feature was there.
template <class Body>
bool with_and_without_vnni(Body body) {
    const CpuFeature f = active_isa() == Isa::avx512 ? CpuFeature::avx512_vnni : CpuFeature::avx_vnni;
    if (!(active_isa() == Isa::avx512 || active_isa() == Isa::avx2) || !cpu_has_feature(f)) {
        body();
        return false;
    }
    const bool was = feature_enabled(f);
    for (bool on : {true, false}) {
        set_feature_enabled(f, on);
        body();
    }
    set_feature_enabled(f, was);
    return true;
}

void put_f16(uint8_t* p, float v) {
    fp16_t h = fp32_to_fp16(v);
    std::memcpy(p, &h, 2);
}

// rows x cols of `type`: random bytes, with every scale set to a finite value of a sensible size.
std::vector<uint8_t> random_matrix(GGMLType type, int64_t rows, int64_t cols, std::mt19937& rng) {
    const size_t rb = row_bytes(type, cols);
    std::vector<uint8_t> w(rb * rows);
    std::uniform_int_distribution<int> byte(0, 255);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> scale(1e-3f, 2e-2f);
    for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
    const TypeTraits tt = type_traits(type);
    const size_t nblocks = w.size() / tt.type_size;
    for (size_t i = 0; i < nblocks; ++i) {
        uint8_t* b = w.data() + i * tt.type_size;
        switch (type) {
            case GGMLType::F32: { float v = normal(rng); std::memcpy(b, &v, 4); break; }
            case GGMLType::F16: put_f16(b, normal(rng)); break;
            case GGMLType::BF16: { float v = normal(rng); uint32_t u; std::memcpy(&u, &v, 4); uint16_t h = u >> 16; std::memcpy(b, &h, 2); break; }
            case GGMLType::Q4_0: case GGMLType::Q5_0: case GGMLType::Q8_0: put_f16(b, scale(rng)); break;
            case GGMLType::Q4_1: case GGMLType::Q5_1: case GGMLType::Q4_K: case GGMLType::Q5_K:
                put_f16(b, scale(rng));
                put_f16(b + 2, -scale(rng));
                break;
            case GGMLType::Q6_K: put_f16(b + offsetof(block_q6_K, d), scale(rng) * 0.1f); break;
            default: break;
        }
    }
    return w;
}

std::vector<float> random_x(int64_t n, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> mag(0.1f, 4.0f);
    std::vector<float> x(n);
    for (auto& v : x) v = normal(rng) * mag(rng);
    return x;
}

std::vector<float> run(Isa isa, GGMLType type, const std::vector<uint8_t>& w, int64_t rows, int64_t cols,
                       const std::vector<float>& x) {
    const Isa before = active_isa();
    set_isa(isa);
    std::vector<float> y(rows, NAN);
    matvec(type, w.data(), rows, cols, x.data(), y.data());
    set_isa(before);
    return y;
}

void compare_to_generic(GGMLType type, int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    auto w = random_matrix(type, rows, cols, rng);
    auto x = random_x(cols, rng);
    auto ref = run(Isa::generic, type, w, rows, cols, x);
    auto got = run(active_isa(), type, w, rows, cols, x);
    // (A plain compare loop: aarch64 g++ 12 hits an internal compiler error vectorising an fmax reduction here.)
    double ymax = 0;
    for (float v : ref) {
        const double a = std::fabs(static_cast<double>(v));
        if (!(a <= ymax)) ymax = a;
    }
    REQUIRE(std::isfinite(ymax) && ymax > 0);
    int bad = 0;
    for (int64_t r = 0; r < rows; ++r)
        if (!(std::fabs(got[r] - ref[r]) <= 1e-5 * ymax)) {
            if (++bad <= 3)
                std::fprintf(stderr, "  %s %lldx%lld row %lld: %s %.9g vs generic %.9g\n", type_traits(type).name,
                             (long long)rows, (long long)cols, (long long)r, isa_name(active_isa()), got[r], ref[r]);
        }
    CHECK(bad == 0);
}

}  // namespace

TEST(matvec_every_type_vs_generic) {
    // The AVX-512 path has VNNI kernels (kernels/matvec_avx512vnni.cpp) and plain ones, the AVX2 path AVX-VNNI
    // ones (matvec_avxvnni.cpp): each the CPU can run.
    with_and_without_vnni([&] {
        uint32_t seed = 1;
        for (GGMLType t : kTypes) {
            const int64_t qk = type_traits(t).block_size == 1 ? 32 : type_traits(t).block_size;
            compare_to_generic(t, 37, 8 * qk, seed++);    // several blocks per row
            compare_to_generic(t, 5, qk, seed++);         // one block per row
            compare_to_generic(t, 19, 11 * qk, seed++);   // an odd number of blocks (tails of 2-block loops)
        }
        compare_to_generic(GGMLType::F32, 9, 7, seed++);  // plain types: any width, odd tails
        compare_to_generic(GGMLType::F16, 9, 45, seed++);
        compare_to_generic(GGMLType::BF16, 9, 13, seed++);
    });
}

#if defined(PYSPARSE_X86)
// The AVX-VNNI build of the AVX2 kernels (matvec_avxvnni.cpp) returns bit for bit the AVX2 kernels' floats (the
// same exact int32 sums, the same float operations), and the AVX2 chain takes it where the CPU has AVX-VNNI.
TEST(avx_vnni_kernels_bitwise_avx2) {
    if (!cpu_has_feature(CpuFeature::avx_vnni)) {
        std::printf("  (skipped: no AVX-VNNI on this CPU or build)\n");
        return;
    }
    int compared = 0;
    uint32_t seed = 4200;
    for (GGMLType type : kTypes) {
        const vec_dot_fn vnni = kDenseAvxVnni.dot[type], avx2 = kDenseAvx2.dot[type];
        if (!vnni) continue;  // the float types stay with the AVX2 set
        REQUIRE(avx2);
        ++compared;
        const int64_t qk = type_traits(type).block_size;
        for (int64_t nblocks : {1, 2, 3, 7, 48}) {
            std::mt19937 rng(seed++);
            const int64_t cols = nblocks * qk, nrows = 9;
            auto w = random_matrix(type, nrows, cols, rng);
            const size_t rb = row_bytes(type, cols), ab = act_bytes(type, cols);
            std::vector<uint8_t> xa(ab * kDot4Tokens);
            for (int t = 0; t < kDot4Tokens; ++t) {
                auto x = random_x(cols, rng);
                quantize_act(type, x.data(), cols, xa.data() + t * ab);
            }
            for (int64_t r = 0; r < nrows; ++r) {
                const float a = vnni(cols, w.data() + r * rb, xa.data()), b = avx2(cols, w.data() + r * rb, xa.data());
                CHECK(std::memcmp(&a, &b, sizeof(float)) == 0);
            }
            if (const vec_dot4_fn d4 = kDenseAvxVnni.dot4[type]) {
                const void* xs[kDot4Tokens];
                for (int t = 0; t < kDot4Tokens; ++t) xs[t] = xa.data() + t * ab;
                float out[kDot4Tokens], ref[kDot4Tokens];
                d4(cols, w.data(), xs, out);
                kDenseAvx2.dot4[type](cols, w.data(), xs, ref);
                CHECK(std::memcmp(out, ref, sizeof(out)) == 0);
            }
        }
    }
    CHECK(compared == 8);  // Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K
    const bool was = feature_enabled(CpuFeature::avx_vnni);
    set_feature_enabled(CpuFeature::avx_vnni, true);
    CHECK(vec_dot(Isa::avx2, GGMLType::Q4_K) == kDenseAvxVnni.dot[GGMLType::Q4_K]);
    CHECK(vec_dot(Isa::avx2, GGMLType::F16) == kDenseAvx2.dot[GGMLType::F16]);
    set_feature_enabled(CpuFeature::avx_vnni, false);
    CHECK(vec_dot(Isa::avx2, GGMLType::Q4_K) == kDenseAvx2.dot[GGMLType::Q4_K]);
    set_feature_enabled(CpuFeature::avx_vnni, was);
}
#endif

TEST(matvec_threads_bitwise_identical) {
    ThreadPool& pool = ThreadPool::global();
    const int before = pool.num_threads();
    std::mt19937 rng(42);
    for (GGMLType t : {GGMLType::Q4_0, GGMLType::Q4_K, GGMLType::Q6_K, GGMLType::F16}) {
        const int64_t rows = 301, cols = 1024;
        auto w = random_matrix(t, rows, cols, rng);
        auto x = random_x(cols, rng);
        std::vector<float> y1(rows), y3(rows);
        pool.set_num_threads(1);
        matvec(t, w.data(), rows, cols, x.data(), y1.data());
        pool.set_num_threads(3);
        matvec(t, w.data(), rows, cols, x.data(), y3.data());
        CHECK(std::memcmp(y1.data(), y3.data(), rows * sizeof(float)) == 0);
    }
    pool.set_num_threads(before);
}

TEST(matvec_rejects_bad_arguments) {
    std::vector<uint8_t> w(1024);
    std::vector<float> x(256), y(4);
    CHECK_THROWS(matvec(GGMLType::Q4_0, w.data(), 1, 48, x.data(), y.data()));    // not a multiple of 32
    CHECK_THROWS(matvec(GGMLType::Q2_K, w.data(), 1, 256, x.data(), y.data()));   // unsupported type
    CHECK_THROWS(matvec(GGMLType::Q4_K, w.data(), -1, 256, x.data(), y.data()));  // negative rows
    CHECK_THROWS(matvec(static_cast<GGMLType>(77), w.data(), 1, 32, x.data(), y.data()));
}

TEST(quantize_act_q8_K_bsums_and_error) {
    std::mt19937 rng(5);
    auto x = random_x(512, rng);
    std::vector<block_q8_K> q(2);
    quantize_act_q8_K(x.data(), q.data(), 512);
    for (int b = 0; b < 2; ++b) {
        for (int g = 0; g < 16; ++g) {
            int s = 0;
            for (int j = 0; j < 16; ++j) s += q[b].qs[16 * g + j];
            CHECK(s == q[b].bsums[g]);
        }
        for (int j = 0; j < 256; ++j) CHECK(std::fabs(q[b].qs[j] * q[b].d - x[256 * b + j]) <= q[b].d * 0.5f * 1.0001f);
    }
}

// The SIMD activation quantisers must write the same bytes as the scalar reference: every ISA path then
// multiplies the same x. Covers half-way ties (round away from zero), zero blocks, NaN and inf.
TEST(quantize_act_simd_matches_generic) {
    std::mt19937 rng(11);
    const int64_t n = 1024;
    auto x = random_x(n, rng);
    x[0] = 127.0f;  // block 0 has amax 127, so d = 1 and x * id = x exactly: ties at .5
    for (int j = 1; j < 32; ++j) x[j] = (j % 2 ? 0.5f : -0.5f) + static_cast<float>(j - 16);
    for (int j = 64; j < 96; ++j) x[j] = 0.0f;                  // zero block
    x[300] = NAN;                                                // NaN in a block
    x[600] = INFINITY;                                           // inf in a block
    std::vector<uint8_t> a(n * 2), b(n * 2);
    auto same = [&](size_t bytes) { return std::memcmp(a.data(), b.data(), bytes) == 0; };
    quantize_act_q8_0(x.data(), reinterpret_cast<block_q8_0*>(a.data()), n);
    quantize_act_q8_0_generic(x.data(), reinterpret_cast<block_q8_0*>(b.data()), n);
    CHECK(same(n / 32 * sizeof(block_q8_0)));
    // the ties of block 0 round away from zero: 1.5 -> 2, -0.5 -> -1, -14.5 -> -15
    const block_q8_0* q = reinterpret_cast<const block_q8_0*>(b.data());
    CHECK(q[0].qs[17] == 2 && q[0].qs[15] == -1 && q[0].qs[16] == -1 && q[0].qs[1] == -15);
    quantize_act_q8_1(x.data(), reinterpret_cast<block_q8_1*>(a.data()), n);
    quantize_act_q8_1_generic(x.data(), reinterpret_cast<block_q8_1*>(b.data()), n);
    CHECK(same(n / 32 * sizeof(block_q8_1)));
    quantize_act_q8_K(x.data(), reinterpret_cast<block_q8_K*>(a.data()), n);
    quantize_act_q8_K_generic(x.data(), reinterpret_cast<block_q8_K*>(b.data()), n);
    CHECK(same(n / 256 * sizeof(block_q8_K)));
}

namespace {

// matmul (kernels/matmul.h) against per-token matvec for every type, bit for bit: n tokens not a multiple of the
// tile or four-token width, rows not a multiple of the tile rows or the row block, even and odd block counts.
void check_matmul_equals_matvec(GGMLType type, int64_t rows, int64_t cols, int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    auto w = random_matrix(type, rows, cols, rng);
    std::vector<float> X(n * cols);
    for (int64_t t = 0; t < n; ++t) {
        auto x = random_x(cols, rng);
        std::copy(x.begin(), x.end(), X.begin() + t * cols);
    }
    std::vector<float> ref(n * rows), got(n * rows, NAN);
    for (int64_t t = 0; t < n; ++t) matvec(type, w.data(), rows, cols, X.data() + t * cols, ref.data() + t * rows);
    matmul(type, w.data(), rows, cols, X.data(), n, got.data());
    int bad = 0;
    for (int64_t i = 0; i < n * rows; ++i)
        if (std::memcmp(&ref[i], &got[i], sizeof(float)) != 0 && ++bad <= 3)
            std::fprintf(stderr, "  %s %lldx%lld n=%lld token %lld row %lld: matmul %.9g vs matvec %.9g\n",
                         type_traits(type).name, (long long)rows, (long long)cols, (long long)n, (long long)(i / rows),
                         (long long)(i % rows), got[i], ref[i]);
    CHECK(bad == 0);
}

}  // namespace

TEST(matmul_equals_per_token_matvec) {
    // Every type; the register-blocked tiles (gemm_tile in kernels/vec_dot.h) where the path has them, with the
    // rows and tokens left at their edges going row by row. On AVX-512 both with and without VNNI.
    ThreadPool& pool = ThreadPool::global();
    const int before = pool.num_threads();
    uint32_t seed = 100;
    with_and_without_vnni([&] {
        for (GGMLType t : kTypes) {
            const int64_t qk = type_traits(t).block_size == 1 ? 32 : type_traits(t).block_size;
            for (int threads : {1, 2, 3}) {
                pool.set_num_threads(threads);
                for (int64_t n : {1, 3, 4, 5, 17}) {
                    check_matmul_equals_matvec(t, 37, 11 * qk, n, seed++);  // odd block count; 37 = 2 x 16 + 4 + 1 rows
                    check_matmul_equals_matvec(t, 22, 8 * qk, n, seed++);   // even block count; 22 = 16 + 4 + 2
                }
            }
            pool.set_num_threads(1);
            check_matmul_equals_matvec(t, 9, qk, 70, seed++);  // one block per row; more tokens than a token block
        }
    });
    pool.set_num_threads(before);
}

TEST(dot_rows_kernels_equal_vec_dot) {
    // Each four-row kernel by itself: out[r] bitwise the path's vec_dot_fn of row r, writing only its kDotRows
    // outputs; and matvec over a row count that is not a multiple of kDotRows (the tail goes row by row).
    uint32_t seed = 950;
    int kernels_seen = 0;
    const bool vnni = with_and_without_vnni([&] {
        for (GGMLType type : kTypes) {
            const vec_dot_rows_fn rows = vec_dot_rows(active_isa(), type);
            if (!rows) continue;
            ++kernels_seen;
            const vec_dot_fn dot = vec_dot(active_isa(), type);
            REQUIRE(dot);
            const int64_t qk = type_traits(type).block_size;
            for (int64_t nblocks : {1, 2, 3, 6, 11, 131}) {  // 131: the 32-element formats' long-row path
                const int64_t cols = nblocks * qk;
                std::mt19937 rng(seed++);
                const int64_t nrows = 2 * kDotRows + 3;
                auto w = random_matrix(type, nrows, cols, rng);
                const size_t rb = row_bytes(type, cols), ab = act_bytes(type, cols);
                std::vector<uint8_t> xa(ab);
                auto x = random_x(cols, rng);
                quantize_act(type, x.data(), cols, xa.data());
                float out[kDotRows + 1];
                for (float& v : out) v = -7.0f;
                rows(cols, w.data() + rb, rb, xa.data(), out);  // rows 1..kDotRows: not aligned to the matrix start
                for (int r = 0; r < kDotRows; ++r) {
                    const float ref = dot(cols, w.data() + (r + 1) * rb, xa.data());
                    CHECK(std::memcmp(&ref, &out[r], sizeof(float)) == 0);
                }
                CHECK(out[kDotRows] == -7.0f);
                std::vector<float> y(nrows);
                matvec_act(type, w.data(), nrows, cols, xa.data(), y.data());
                for (int64_t r = 0; r < nrows; ++r) {
                    const float ref = dot(cols, w.data() + r * rb, xa.data());
                    CHECK(std::memcmp(&ref, &y[r], sizeof(float)) == 0);
                }
            }
        }
    });
    // the AVX-512 VNNI path has Q4_K's, Q5_K's, Q6_K's, Q4_0's, Q4_1's, Q5_0's, Q5_1's and Q8_0's (run natively, or
    // under the SIMDe build)
    if (vnni && active_isa() == Isa::avx512) CHECK(kernels_seen >= 8);
}

TEST(lane_kernels_equal_vec_dot) {
    // Each tokens-in-lanes kernel by itself (kernels/vec_dot.h lanes_gemm): y[t][r] bitwise the path's vec_dot_fn of
    // row r with token t, for row counts below, at and above the row block, short and long rows; also at the
    // int16 limits of its packing (all weights at their maximum, every activation at +-127, the largest scales).
    uint32_t seed = 1200;
    int kernels_seen = 0;
    const bool vnni = with_and_without_vnni([&] {
        for (GGMLType type : kTypes) {
            const LaneGemm lanes = lanes_gemm(active_isa(), type);
            if (!lanes.gemm) continue;
            REQUIRE(lanes.pack);
            ++kernels_seen;
            const vec_dot_fn dot = vec_dot(active_isa(), type);
            const int64_t qk = type_traits(type).block_size;
            for (int extreme = 0; extreme < 2; ++extreme)
                for (int64_t nblocks : {1, 2, 6, 35})
                    for (int64_t nrows : {1, 5, 16}) {
                        const int64_t cols = nblocks * qk;
                        std::mt19937 rng(seed++);
                        auto w = random_matrix(type, nrows, cols, rng);
                        const size_t rb = row_bytes(type, cols), ab = act_bytes(type, cols);
                        if (extreme && type == GGMLType::Q4_K)
                            for (int64_t b = 0; b < nrows * nblocks; ++b) {
                                block_q4_K* blk = reinterpret_cast<block_q4_K*>(w.data()) + b;
                                std::memset(blk->qs, 0xFF, sizeof(blk->qs));
                                std::memset(blk->scales, 0xFF, sizeof(blk->scales));  // every scale and min 63
                            }
                        if (extreme && type == GGMLType::Q5_K)
                            for (int64_t b = 0; b < nrows * nblocks; ++b) {
                                block_q5_K* blk = reinterpret_cast<block_q5_K*>(w.data()) + b;
                                std::memset(blk->qs, 0xFF, sizeof(blk->qs));
                                std::memset(blk->qh, 0xFF, sizeof(blk->qh));  // every weight 31
                                std::memset(blk->scales, 0xFF, sizeof(blk->scales));
                            }
                        if (extreme && type == GGMLType::Q6_K)
                            for (int64_t b = 0; b < nrows * nblocks; ++b) {
                                block_q6_K* blk = reinterpret_cast<block_q6_K*>(w.data()) + b;
                                std::memset(blk->ql, 0xFF, sizeof(blk->ql));
                                std::memset(blk->qh, 0xFF, sizeof(blk->qh));  // every weight 63 (value 31)
                                std::memset(blk->scales, 0x80, sizeof(blk->scales));  // every scale -128
                            }
                        std::vector<uint8_t> xa(ab * kLaneTokens);
                        const void* xs[kLaneTokens];
                        for (int t = 0; t < kLaneTokens; ++t) {
                            auto x = random_x(cols, rng);
                            if (extreme)
                                for (float& v : x) v = t % 2 ? 1.0f : -1.0f;  // every quantised value +-127
                            quantize_act(type, x.data(), cols, xa.data() + t * ab);
                            xs[t] = xa.data() + t * ab;
                        }
                        AlignedBytes packed(static_cast<size_t>(nblocks) * kLanesQ8KBytes);
                        lanes.pack(cols, xs, packed.data());
                        const int64_t ldy = nrows + 3;
                        std::vector<float> y(kLaneTokens * ldy, -7.0f);
                        lanes.gemm(cols, w.data(), rb, nrows, packed.data(), y.data(), ldy);
                        for (int t = 0; t < kLaneTokens; ++t) {
                            for (int64_t r = 0; r < nrows; ++r) {
                                const float ref = dot(cols, w.data() + r * rb, xs[t]);
                                CHECK(std::memcmp(&ref, &y[t * ldy + r], sizeof(float)) == 0);
                            }
                            CHECK(y[t * ldy + nrows] == -7.0f);
                        }
                    }
        }
    });
    // the AVX-512 VNNI path has Q4_K's, Q5_K's and Q6_K's (run natively, or under the SIMDe build)
    if (vnni && active_isa() == Isa::avx512) CHECK(kernels_seen >= 3);
}

TEST(gemm_tiles_equal_vec_dot) {
    // Each tile kernel by itself: y[t][r] bitwise the path's vec_dot_fn of row r with token t.
    uint32_t seed = 900;
    with_and_without_vnni([&] {
        for (GGMLType type : kTypes) {
            const gemm_tile_fn tile = gemm_tile(active_isa(), type);
            if (!tile) continue;
            const vec_dot_fn dot = vec_dot(active_isa(), type);
            REQUIRE(dot);
            const int64_t qk = type_traits(type).block_size;
            for (int64_t nblocks : {1, 2, 3, 8, 11}) {
                const int64_t cols = nblocks * qk;
                std::mt19937 rng(seed++);
                auto w = random_matrix(type, kGemmRows, cols, rng);
                const size_t rb = row_bytes(type, cols), ab = act_bytes(type, cols);
                std::vector<uint8_t> xa(ab * kGemmTokens);
                for (int t = 0; t < kGemmTokens; ++t) {
                    auto x = random_x(cols, rng);
                    quantize_act(type, x.data(), cols, xa.data() + t * ab);
                }
                float y[kGemmTokens][kGemmRows + 1];  // ldy = kGemmRows + 1: the tile must write only its own rows
                for (auto& row : y)
                    for (float& v : row) v = -7.0f;
                tile(cols, w.data(), rb, xa.data(), ab, &y[0][0], kGemmRows + 1);
                for (int t = 0; t < kGemmTokens; ++t) {
                    for (int r = 0; r < kGemmRows; ++r) {
                        const float ref = dot(cols, w.data() + r * rb, xa.data() + t * ab);
                        CHECK(std::memcmp(&ref, &y[t][r], sizeof(float)) == 0);
                    }
                    CHECK(y[t][kGemmRows] == -7.0f);
                }
            }
        }
    });
}

#if defined(PYSPARSE_ARM)
// The dotprod files (*_neondot.cpp) are chosen at run time: the NEON path takes their kernels where the CPU has
// dotprod and the baseline ones when it is switched off. PYSPARSE_EXPECT_DOTPROD=1 (run_aarch64.sh, under qemu,
// whose CPU has it) makes a CPU without it a failure rather than a skip.
TEST(neon_dotprod_kernels_chosen_at_run_time) {
    const char* expect = std::getenv("PYSPARSE_EXPECT_DOTPROD");
    if (!cpu_has_feature(CpuFeature::dotprod)) {
        CHECK(!(expect && std::string(expect) == "1"));
        return;
    }
    const bool was = feature_enabled(CpuFeature::dotprod);
    set_feature_enabled(CpuFeature::dotprod, true);
    CHECK(vec_dot(Isa::neon, GGMLType::Q4_K) == kDenseNeonDot.dot[GGMLType::Q4_K]);
    set_feature_enabled(CpuFeature::dotprod, false);
    CHECK(vec_dot(Isa::neon, GGMLType::Q4_K) == kDenseNeon.dot[GGMLType::Q4_K]);
    set_feature_enabled(CpuFeature::dotprod, was);
}
#endif

TEST(matmul_float_equals_decoded_float_product) {
    // matmul_float (kernels/matmul.h: float32 activations) against the float64 product of the exactly decoded rows
    // (dequantize_row, itself bit for bit gguf.quants.dequantize): |error| within the float32 summation bound
    // (16 partial sums of cols / 16 terms, then 16 + tail more: k = cols / 16 + 16 + 16 roundings of at most
    // 2^-24 sum |w x| each; a wrong element costs ~sum |w x| / cols, far above it); each token's outputs bitwise the same for n = 1 and a batch, and for 1, 2 or 3 threads.
    ThreadPool& pool = ThreadPool::global();
    const int before = pool.num_threads();
    std::mt19937 rng(7);
    for (GGMLType t : kTypes) {
        const int64_t qk = type_traits(t).block_size == 1 ? 32 : type_traits(t).block_size;
        const int64_t rows = 37, cols = 9 * qk + (type_traits(t).block_size == 1 ? 5 : 0), n = 6;
        auto w = random_matrix(t, rows, cols, rng);
        std::vector<float> X(n * cols);
        for (int64_t k = 0; k < n; ++k) {
            auto x = random_x(cols, rng);
            std::copy(x.begin(), x.end(), X.begin() + k * cols);
        }
        std::vector<float> dec(cols);
        std::vector<float> batch(n * rows, NAN), one(rows);
        pool.set_num_threads(2);
        matmul_float(t, w.data(), rows, cols, X.data(), n, batch.data());
        int bad = 0, differ = 0;
        for (int64_t r = 0; r < rows; ++r) {
            dequantize_row(t, w.data() + r * row_bytes(t, cols), dec.data(), cols);
            for (int64_t k = 0; k < n; ++k) {
                double ref = 0, mag = 0;
                for (int64_t j = 0; j < cols; ++j) {
                    ref += (double)dec[j] * X[k * cols + j];
                    mag += std::fabs((double)dec[j] * X[k * cols + j]);
                }
                const double bound = (double)(cols / 16 + 32) * std::ldexp(1.0, -24) * mag * 1.01 + 1e-30;
                if (std::fabs(batch[k * rows + r] - ref) > bound && ++bad <= 3)
                    std::fprintf(stderr, "  %s row %lld token %lld: %.9g vs %.9g\n", type_traits(t).name, (long long)r,
                                 (long long)k, batch[k * rows + r], ref);
            }
        }
        for (int threads : {1, 3}) {
            pool.set_num_threads(threads);
            for (int64_t k = 0; k < n; ++k) {
                matmul_float(t, w.data(), rows, cols, X.data() + k * cols, 1, one.data());
                differ += std::memcmp(one.data(), batch.data() + k * rows, rows * sizeof(float)) != 0;
            }
        }
        CHECK(bad == 0);
        CHECK(differ == 0);
    }
    pool.set_num_threads(1);
    std::vector<float> x(64), y(4);
    std::vector<uint8_t> w(4 * row_bytes(GGMLType::Q4_0, 64));
    CHECK_THROWS(matmul_float(GGMLType::Q4_0, w.data(), 4, 63, x.data(), 1, y.data()));  // not whole blocks
    CHECK_THROWS(matmul_float(GGMLType::Q4_0, w.data(), -1, 64, x.data(), 1, y.data()));
    pool.set_num_threads(before);
}
