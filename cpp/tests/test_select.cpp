// Selection (cpp/sparse/select.h) under the ISA path the binary runs with, against references written here from
// the definitions: a full sort and a float64 running sum for top-p, a stable sort for top-k.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "sparse/select.h"
#include "tests/check.h"

using namespace pysparse;

namespace {

std::vector<int32_t> ref_topp(const std::vector<float>& v, double p, double power) {
    const int64_t d = (int64_t)v.size();
    std::vector<float> a(d);
    for (int64_t i = 0; i < d; ++i) {
        double x = std::fabs((double)v[i]);
        a[i] = power == 1.0 ? (float)x : power == 2.0 ? (float)(x * x) : (float)std::pow(x, power);
    }
    std::vector<int32_t> out;
    if (d == 0) return out;
    std::vector<float> s = a;
    std::sort(s.begin(), s.end(), std::greater<float>());
    std::vector<double> cs(d);
    double run = 0.0;
    for (int64_t k = 0; k < d; ++k) cs[k] = run += s[k];
    const double theta = p * cs[d - 1];
    const float t = s[std::lower_bound(cs.begin(), cs.end(), theta) - cs.begin()];  // p = 1 included
    for (int64_t i = 0; i < d; ++i)
        if (a[i] >= t) out.push_back((int32_t)i);
    return out;
}

std::vector<int32_t> ref_topk(const std::vector<float>& v, double f) {
    const int64_t d = (int64_t)v.size();
    int64_t k = std::max<int64_t>(0, std::min<int64_t>(d, (int64_t)std::ceil(f * d - 1e-9)));
    std::vector<int32_t> order(d);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t x, int32_t y) { return std::fabs(v[x]) > std::fabs(v[y]); });
    std::vector<int32_t> out(order.begin(), order.begin() + k);
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<int32_t> run(int64_t (*fn)(const float*, int64_t, double, int32_t*), const std::vector<float>& v,
                         double param) {
    std::vector<int32_t> idx(v.size());
    int64_t n = fn(v.data(), (int64_t)v.size(), param, idx.data());
    REQUIRE(n >= 0);
    idx.resize(n);
    return idx;
}

std::vector<int32_t> run_topp(const std::vector<float>& v, double p, double power) {
    std::vector<int32_t> idx(v.size());
    int64_t n = topp_select(v.data(), (int64_t)v.size(), p, power, idx.data());
    REQUIRE(n >= 0);
    idx.resize(n);
    return idx;
}

// Test vectors: normal, heavy-tailed, integer ties, mostly zeros, a few duplicated values, tiny, huge.
std::vector<float> make_vector(int kind, int64_t d, std::mt19937& rng) {
    std::normal_distribution<float> normal;
    std::cauchy_distribution<float> cauchy;
    std::uniform_int_distribution<int> small(-3, 3);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<float> pool = {0.25f, -1.5f, 3.0f, 0.125f, -0.125f};
    std::vector<float> v(d);
    for (auto& x : v) {
        switch (kind) {
            case 0: x = normal(rng); break;
            case 1: x = std::clamp(cauchy(rng), -1e30f, 1e30f); break;
            case 2: x = (float)small(rng); break;
            case 3: x = u(rng) < 0.9f ? 0.0f : normal(rng); break;
            case 4: x = pool[rng() % pool.size()]; break;
            case 5: x = normal(rng) * 1e-40f; break;  // subnormal
            default: x = normal(rng) * 1e18f; break;  // huge (its square still fits float32)
        }
    }
    return v;
}

const double kPs[] = {0.0, 1e-6, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999999, 1.0};
const int64_t kDs[] = {1, 2, 3, 8, 9, 17, 100, 1536, 4099};

}  // namespace

TEST(select_topp_matches_sorted_reference) {
    std::mt19937 rng(1);
    for (int kind = 0; kind < 7; ++kind)
        for (int64_t d : kDs)
            for (double p : kPs)
                for (double q : {1.0, 2.0}) {
                    auto v = make_vector(kind, d, rng);
                    auto got = run_topp(v, p, q);
                    auto want = ref_topp(v, p, q);
                    if (got != want) {
                        std::fprintf(stderr, "  kind %d d %lld p %g q %g: %zu vs %zu kept\n", kind, (long long)d, p,
                                     q, got.size(), want.size());
                        CHECK(false);
                        return;
                    }
                    std::vector<int32_t> lit(d);
                    int64_t n = topp_select_sorted(v.data(), d, p, q, lit.data());
                    lit.resize(n);
                    CHECK(lit == want);
                }
}

TEST(select_topp_fast_path_taken_on_random_data) {
    std::mt19937 rng(2);
    const int64_t before = topp_fallback_count();
    for (int rep = 0; rep < 50; ++rep)
        for (double p : {0.5, 0.9, 0.99}) {
            auto v = make_vector(0, 4096, rng);
            CHECK(run_topp(v, p, 1.0) == ref_topp(v, p, 1.0));
        }
    CHECK(topp_fallback_count() == before);  // continuous data: the bucketed decision is never ambiguous
}

TEST(select_topp_follows_float64_rounding_not_exact_sums) {
    // 1.0 then 2^20 copies of 2^-54: in the sorted float64 running sum every 2^-54 rounds away (1 + 2^-54 == 1),
    // so total == 1 and p = 1 - 2^-40 is reached at position 0: only the 1.0 is kept. Exact arithmetic would keep
    // nearly everything. The fast path must detect the ambiguity and agree with the literal rule.
    std::vector<float> v(1 + (1 << 20), std::ldexp(1.0f, -54));
    v[0] = 1.0f;
    const double p = 1.0 - std::ldexp(1.0, -40);
    const int64_t before = topp_fallback_count();
    auto got = run_topp(v, p, 1.0);
    CHECK(got.size() == 1 && got[0] == 0);
    CHECK(topp_fallback_count() == before + 1);
}

TEST(select_topp_p1_is_the_literal_rule) {
    // p = 1 is no special case: the sorted running sum reaches the total at the last non-zero entry, so exact zeros
    // (ReLU-like vectors) are dropped, on the short proof without a sort.
    std::mt19937 rng(11);
    std::normal_distribution<float> nd;
    const int64_t before = topp_fallback_count();
    for (int64_t d : {1, 7, 576, 1536, 8960}) {
        std::vector<float> v(d);
        for (auto& x : v) x = std::max(0.0f, nd(rng));  // about half exact zeros
        auto got = run_topp(v, 1.0, 1.0);
        CHECK(got == ref_topp(v, 1.0, 1.0));
        int64_t nz = 0;
        for (float x : v) nz += x != 0.0f;
        CHECK((int64_t)got.size() == (nz ? nz : d));  // all-zero: t = 0 keeps everything
        CHECK(run_topp(v, 1.0, 2.0) == ref_topp(v, 1.0, 2.0));
    }
    CHECK(topp_fallback_count() == before);
    // 1.0 then 2^20 copies of 2^-54: the float64 sum never moves past 1.0, so at p = 1 the total is reached at the
    // first position and only the 1.0 stays; the short proof cannot decide that and the literal sort does.
    std::vector<float> w(1 + (1 << 20), std::ldexp(1.0f, -54));
    w[0] = 1.0f;
    auto got = run_topp(w, 1.0, 1.0);
    CHECK(got.size() == 1 && got[0] == 0);
    CHECK(topp_fallback_count() == before + 1);
}

TEST(select_topp_edge_cases) {
    std::vector<float> zeros(100, 0.0f);
    CHECK(run_topp(zeros, 0.5, 1.0).size() == 100);  // total 0: t = 0, all kept
    CHECK(run_topp(zeros, 0.0, 1.0).size() == 100);
    std::vector<float> v = {1.0f, -3.0f, 3.0f, 0.0f, 2.0f};
    CHECK((run_topp(v, 0.0, 1.0) == std::vector<int32_t>{1, 2}));  // the max and its ties
    CHECK((run_topp(v, 1.0, 1.0) == std::vector<int32_t>{0, 1, 2, 4}));  // p = 1: every non-zero, the zero dropped
    CHECK((run_topp(v, 0.5, 1.0) == std::vector<int32_t>{1, 2}));   // 6 of 9 >= 4.5
    std::vector<int32_t> idx(5);
    CHECK(topp_select(v.data(), 0, 0.5, 1.0, idx.data()) == 0);
    float t = -1.0f;
    topp_select(v.data(), 5, 0.7, 1.0, idx.data(), &t);
    CHECK(t == 2.0f);  // 3 + 3 = 6 < 6.3, + 2 = 8 >= 6.3
}

TEST(select_bad_arguments) {
    std::vector<float> v = {1.0f, 2.0f};
    std::vector<int32_t> idx(2);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS(topp_select(v.data(), 2, -0.1, 1.0, idx.data()));
    CHECK_THROWS(topp_select(v.data(), 2, 1.1, 1.0, idx.data()));
    CHECK_THROWS(topp_select(v.data(), 2, nan, 1.0, idx.data()));
    CHECK_THROWS(topp_select(v.data(), 2, 0.5, 0.0, idx.data()));
    CHECK_THROWS(topk_select(v.data(), 2, 1.5, idx.data()));
    CHECK_THROWS(maxp_select(v.data(), 2, nan, idx.data()));
    CHECK_THROWS(threshold_select(v.data(), 2, -1.0, idx.data()));
    CHECK_THROWS(threshold_select(v.data(), 2, nan, idx.data()));
}

TEST(select_non_finite_input_is_reported) {
    const float bad[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                         -std::numeric_limits<float>::infinity()};
    for (float b : bad)
        for (int64_t d : {1, 9, 1000}) {
            std::vector<float> v(d, 1.0f);
            v[d / 2] = b;
            std::vector<int32_t> idx(d);
            for (double p : {0.0, 0.5, 1.0}) CHECK(topp_select(v.data(), d, p, 1.0, idx.data()) == kSelectNonFinite);
            CHECK(topp_select_sorted(v.data(), d, 0.5, 1.0, idx.data()) == kSelectNonFinite);
            for (double f : {0.0, 0.5, 1.0}) CHECK(topk_select(v.data(), d, f, idx.data()) == kSelectNonFinite);
            CHECK(maxp_select(v.data(), d, 0.5, idx.data()) == kSelectNonFinite);
            CHECK(threshold_select(v.data(), d, 0.5, idx.data()) == kSelectNonFinite);
        }
    std::vector<float> big = {1e20f, 1.0f};  // finite, but its square overflows float32
    std::vector<int32_t> idx(2);
    CHECK(topp_select(big.data(), 2, 0.5, 2.0, idx.data()) == kSelectNonFinite);
    CHECK(topp_select(big.data(), 2, 0.5, 1.0, idx.data()) == 1);
}

TEST(select_topk_maxp_threshold_match_references) {
    std::mt19937 rng(3);
    for (int kind = 0; kind < 7; ++kind)
        for (int64_t d : kDs)
            for (double f : {0.0, 0.07, 0.1, 0.25, 0.5, 0.9, 1.0}) {
                auto v = make_vector(kind, d, rng);
                auto got = run(topk_select, v, f);
                CHECK(got == ref_topk(v, f));
                CHECK((int64_t)got.size() == topk_count(d, f));
                auto mp = run(maxp_select, v, f);
                float mx = 0.0f;
                for (float x : v) mx = std::max(mx, std::fabs(x));
                std::vector<int32_t> want_mp, want_th;
                for (int64_t i = 0; i < d; ++i) {
                    if ((double)std::fabs(v[i]) >= f * (double)mx) want_mp.push_back((int32_t)i);
                    if ((double)std::fabs(v[i]) >= 0.3 * f) want_th.push_back((int32_t)i);
                }
                CHECK(mp == want_mp);
                CHECK(run(threshold_select, v, 0.3 * f) == want_th);
            }
    CHECK(topk_count(100, 0.07) == 7);  // 0.07 * 100 = 7.000000000000001 in float64
    CHECK(topk_count(10, 0.01) == 1);
    CHECK(topk_count(10, 0.0) == 0);
}

TEST(select_rows_equals_per_row) {
    std::mt19937 rng(4);
    const int64_t n = 37, d = 1000;
    std::vector<float> V;
    for (int64_t r = 0; r < n; ++r) {
        auto row = make_vector((int)(r % 7), d, rng);
        V.insert(V.end(), row.begin(), row.end());
    }
    for (SelectRule::Kind kind : {SelectRule::topp, SelectRule::topk, SelectRule::maxp, SelectRule::threshold}) {
        SelectRule rule;
        rule.kind = kind;
        rule.param = 0.6;
        std::vector<int64_t> off;
        std::vector<int32_t> ind;
        CHECK(select_rows(rule, V.data(), n, d, off, ind) == -1);
        REQUIRE((int64_t)off.size() == n + 1 && off[n] == (int64_t)ind.size());
        for (int64_t r = 0; r < n; ++r) {
            std::vector<int32_t> idx(d);
            int64_t c = select_row(rule, V.data() + r * d, d, idx.data());
            idx.resize(c);
            CHECK(std::vector<int32_t>(ind.begin() + off[r], ind.begin() + off[r + 1]) == idx);
        }
    }
    V[5 * d + 3] = std::numeric_limits<float>::quiet_NaN();
    V[9 * d + 3] = std::numeric_limits<float>::infinity();
    std::vector<int64_t> off;
    std::vector<int32_t> ind;
    CHECK(select_rows(SelectRule{}, V.data(), n, d, off, ind) == 5);
}
