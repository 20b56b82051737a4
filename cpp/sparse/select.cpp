// Selection rules (definitions and the exactness argument in select.h). The ISA-specific passes live in
// select_generic.cpp / select_avx2.cpp / select_avx512.cpp / select_neon.cpp; this file holds the decisions.
#include "sparse/select.h"

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include "common/error.h"
#include "common/thread_pool.h"
#include "sparse/select_kernels.h"

namespace pysparse {

using namespace select_detail;

namespace {

std::atomic<int64_t> g_topp_fallbacks{0};

// Per-thread scratch, reused across calls (decode selects once per layer per token; no allocation then).
// hist and cnt are kept all-zero between calls: each call clears the buckets it touched.
struct Scratch {
    std::vector<float> scores, vals;
    std::vector<double> hist = std::vector<double>(kNumBuckets, 0.0);
    std::vector<uint32_t> cnt = std::vector<uint32_t>(kNumBuckets, 0);
};
Scratch& scratch() {
    thread_local Scratch s;
    return s;
}
float* ensure(std::vector<float>& v, int64_t n) {
    if ((int64_t)v.size() < n) v.resize(n);
    return v.data();
}

void check_d(int64_t d) {
    if (d < 0 || d > INT32_MAX) throw ValueError("selection: d = " + std::to_string(d) + " must be in [0, 2^31 - 1]");
}
void check_unit(double p, const char* name) {
    if (!(p >= 0.0 && p <= 1.0)) throw ValueError(std::string("selection: ") + name + " = " + std::to_string(p) +
                                                  " must be in [0, 1]");
}
void check_power(double q) {
    if (!(q > 0.0 && std::isfinite(q)))
        throw ValueError("selection: power = " + std::to_string(q) + " must be finite and > 0");
}

int64_t emit_all(int64_t d, int32_t* idx) {
    for (int64_t i = 0; i < d; ++i) idx[i] = (int32_t)i;
    return d;
}

// Scores a_i = |v_i|^q as float32 (select.h). q = 1 needs no copy: the passes take absolute values themselves.
// NaN/Inf inputs, and finite inputs whose score overflows, give non-finite scores the passes detect.
const float* scores_of(const float* v, int64_t d, double power, Scratch& s) {
    if (power == 1.0) return v;
    float* a = ensure(s.scores, d);
    if (power == 2.0) {
        for (int64_t i = 0; i < d; ++i) a[i] = (float)((double)v[i] * (double)v[i]);  // exact product, one rounding
    } else {
        for (int64_t i = 0; i < d; ++i) a[i] = (float)std::pow(std::fabs((double)v[i]), power);
    }
    return a;
}

// Smallest abs bit pattern b with double(float(b)) >= thr: |x| >= thr  <=>  abs_bits(x) >= b for float32 x.
uint32_t bits_at_least(double thr) {
    if (!(thr > 0.0)) return 0;
    if (thr > (double)FLT_MAX) return kNonFiniteBits;  // no finite value reaches it
    float f = (float)thr;
    if ((double)f < thr) f = std::nextafter(f, INFINITY);
    return abs_bits(f);
}

// The literal rule: full descending sort, float64 running sum in that order.
uint32_t topp_tbits_sorted(const float* x, int64_t d, double p, Scratch& s) {
    float* a = ensure(s.vals, d);
    for (int64_t i = 0; i < d; ++i) a[i] = from_bits(abs_bits(x[i]));
    std::sort(a, a + d, std::greater<float>());
    double total = 0.0;
    for (int64_t i = 0; i < d; ++i) total += a[i];
    const double theta = p * total;
    double run = 0.0;
    for (int64_t k = 0; k < d; ++k) {
        run += a[k];
        if (run >= theta) return abs_bits(a[k]);
    }
    return abs_bits(a[d - 1]);  // not reached: the last running sum is total >= p * total
}

// The bucketed fast path. Returns false when it cannot prove the literal threshold (the caller then sorts).
// Every float64 sum here (bucket sums, their prefixes, the walk inside the boundary sub-bucket) is some summation
// tree over the right set of non-negative terms, so it is within ~n 2^-53 relative of the exact sum, as the literal
// sorted running sum is; the margin delta covers both errors and the rounding of p * total (see select.h).
bool topp_tbits_fast(const float* x, int64_t d, double p, const double* hist, uint32_t maxbits,
                     const SelectKernels& K, Scratch& s, uint32_t* tbits) {
    const int maxb = (int)(maxbits >> kBucketShift);
    double total = 0.0;
    for (int b = 0; b <= maxb; ++b) total += hist[b];
    const double theta = p * total;
    if (!(theta >= 0x1p-900)) return false;  // keep far from float64 underflow, where relative bounds fail
    const double delta = 8.0 * (double)(d + 1) * 0x1p-53;
    const double lo = theta * (1.0 - delta), hi = theta * (1.0 + delta);

    // Level 1: the first bucket (from the top) whose inclusion reaches theta.
    double above = 0.0;
    int B = maxb;
    for (; B >= 0; --B) {
        if (above + hist[B] >= theta) break;
        above += hist[B];
    }
    if (B < 0 || !(above < lo)) return false;
    float* vals = ensure(s.vals, d);
    const uint32_t base = (uint32_t)B << kBucketShift;
    int64_t m = K.collect(x, d, base, base | ((1u << kBucketShift) - 1), vals);

    // Levels 2 and 3 (large boundary buckets): the next 10 bits, then the last 10. After level 3 every value left
    // has the same bit pattern, so the sort below is never more than a small one, whatever the data.
    for (int shift : {10, 0}) {
        if (m <= 64) break;
        // Large buckets: four interleaved histograms, since values of one bucket in a row would otherwise chain
        // every add through a store-to-load forward (narrow-band data: ~10 cycles a value). Small ones: one
        // histogram, as zeroing four costs more than it saves. Any summation order is exact enough (select.h).
        double h2[1024] = {};
        if (m > 4096) {
            double h4[3][1024] = {};
            int64_t j = 0;
            for (; j + 4 <= m; j += 4) {
                h2[(abs_bits(vals[j]) >> shift) & 1023] += vals[j];
                for (int u = 0; u < 3; ++u) h4[u][(abs_bits(vals[j + 1 + u]) >> shift) & 1023] += vals[j + 1 + u];
            }
            for (; j < m; ++j) h2[(abs_bits(vals[j]) >> shift) & 1023] += vals[j];
            for (int c = 0; c < 1024; ++c) h2[c] = (h2[c] + h4[0][c]) + (h4[1][c] + h4[2][c]);
        } else {
            for (int64_t j = 0; j < m; ++j) h2[(abs_bits(vals[j]) >> shift) & 1023] += vals[j];
        }
        int C = 1023;
        for (; C >= 0; --C) {
            if (h2[C] == 0.0) continue;  // most sub-buckets are empty: skip them off the add chain
            if (above + h2[C] >= theta) break;
            above += h2[C];
        }
        if (C < 0 || !(above < lo)) return false;
        int64_t kept = 0;
        for (int64_t j = 0; j < m; ++j) {
            vals[kept] = vals[j];  // branch-free filter (kept <= j)
            kept += (int)((abs_bits(vals[j]) >> shift) & 1023) == C;
        }
        m = kept;
    }

    // Exact resolution: walk the sorted boundary values. Positions before jlo are surely below theta in the
    // literal sum, position jhi surely reaches it; if both hold the same score, that score is the literal t.
    std::sort(vals, vals + m, std::greater<float>());
    double run = above;
    int64_t jlo = -1;
    for (int64_t j = 0; j < m; ++j) {
        run += vals[j];
        if (jlo < 0 && run >= lo) jlo = j;
        if (run >= hi) {
            if (vals[jlo] != vals[j]) return false;
            *tbits = abs_bits(vals[j]);
            return true;
        }
    }
    return false;
}

// p = 1 needs no margin walk. The literal k* is the last sorted position whose score still raises the float64
// running sum. Any partial sum S is at most total, and adding a > 2^-53 S (more than half an ulp of S) raises it, so
// when the smallest non-zero score exceeds 2^-52 total (with the bucket sum's error margin) k* is the last non-zero
// entry: t = that smallest score and exact zeros are dropped, as the literal rule drops them. Otherwise (a score
// the sum may absorb) returns false and the caller sorts.
bool topp_tbits_p1(const float* x, int64_t d, const double* hist, uint32_t maxbits, uint32_t* tbits) {
    double total = 0.0;
    for (int b = 0; b <= (int)(maxbits >> kBucketShift); ++b) total += hist[b];
    uint32_t minnz = maxbits;
    for (int64_t i = 0; i < d; ++i) {
        const uint32_t b = abs_bits(x[i]);
        if (b != 0 && b < minnz) minnz = b;
    }
    const double delta = 8.0 * (double)(d + 1) * 0x1p-53;
    if (!((double)from_bits(minnz) > total * (1.0 + delta) * 0x1p-52)) return false;
    *tbits = minnz;
    return true;
}

void clear_buckets(double* hist, uint32_t maxbits) {
    std::fill(hist, hist + (maxbits >> kBucketShift) + 1, 0.0);
}
void clear_buckets(uint32_t* cnt, uint32_t maxbits) {
    std::fill(cnt, cnt + (maxbits >> kBucketShift) + 1, 0u);
}

}  // namespace

int64_t topp_select(const float* v, int64_t d, double p, double power, int32_t* idx, float* threshold) {
    check_d(d);
    check_unit(p, "p");
    check_power(power);
    if (d == 0) return 0;
    const SelectKernels& K = select_kernels();
    Scratch& s = scratch();
    const float* x = scores_of(v, d, power, s);
    double* hist = s.hist.data();
    const uint32_t maxbits = K.hist_sum(x, d, hist);
    if (maxbits >= kNonFiniteBits) {
        clear_buckets(hist, maxbits);
        return kSelectNonFinite;
    }
    uint32_t tbits;
    if (p == 0.0 || maxbits == 0) {
        tbits = maxbits;  // p = 0: the first running sum already reaches 0; all-zero: t = 0
    } else if (!(p == 1.0 ? topp_tbits_p1(x, d, hist, maxbits, &tbits)
                          : topp_tbits_fast(x, d, p, hist, maxbits, K, s, &tbits))) {
        g_topp_fallbacks.fetch_add(1, std::memory_order_relaxed);
        tbits = topp_tbits_sorted(x, d, p, s);
    }
    clear_buckets(hist, maxbits);
    if (threshold) *threshold = from_bits(tbits);
    return K.emit_ge(x, d, tbits, idx);
}

int64_t topp_select_sorted(const float* v, int64_t d, double p, double power, int32_t* idx, float* threshold) {
    check_d(d);
    check_unit(p, "p");
    check_power(power);
    if (d == 0) return 0;
    Scratch& s = scratch();
    const float* x = scores_of(v, d, power, s);
    const uint32_t maxbits = kSelectGeneric.max_abs_bits(x, d);
    if (maxbits >= kNonFiniteBits) return kSelectNonFinite;
    const uint32_t tbits = topp_tbits_sorted(x, d, p, s);
    if (threshold) *threshold = from_bits(tbits);
    return kSelectGeneric.emit_ge(x, d, tbits, idx);
}

int64_t topp_fallback_count() { return g_topp_fallbacks.load(std::memory_order_relaxed); }

int64_t topk_count(int64_t d, double keep_fraction) {
    check_unit(keep_fraction, "keep_fraction");
    volatile double prod = keep_fraction * (double)d;  // volatile: one rounding, never fused into an FMA
    double k = std::ceil(prod - 1e-9);
    return k <= 0.0 ? 0 : (k >= (double)d ? d : (int64_t)k);
}

int64_t topk_select(const float* v, int64_t d, double keep_fraction, int32_t* idx) {
    check_d(d);
    const int64_t k = topk_count(d, keep_fraction);
    const SelectKernels& K = select_kernels();
    if (k == 0 || k == d) {
        if (d > 0 && K.max_abs_bits(v, d) >= kNonFiniteBits) return kSelectNonFinite;
        return k == 0 ? 0 : emit_all(d, idx);
    }
    Scratch& s = scratch();
    uint32_t* cnt = s.cnt.data();
    const uint32_t maxbits = K.hist_count(v, d, cnt);
    if (maxbits >= kNonFiniteBits) {
        clear_buckets(cnt, maxbits);
        return kSelectNonFinite;
    }
    // The bucket holding the k-th largest score, then that score by nth_element inside the bucket.
    int64_t above = 0;
    int B = (int)(maxbits >> kBucketShift);
    for (; B > 0; --B) {
        if (above + cnt[B] >= k) break;
        above += cnt[B];
    }
    clear_buckets(cnt, maxbits);
    float* vals = ensure(s.vals, d);
    const uint32_t base = (uint32_t)B << kBucketShift;
    const int64_t m = K.collect(v, d, base, base | ((1u << kBucketShift) - 1), vals);
    const int64_t r = k - above;  // rank of the boundary inside the bucket, 1..m
    std::nth_element(vals, vals + (r - 1), vals + m, std::greater<float>());
    const float t = vals[r - 1];
    int64_t greater = above;
    for (int64_t j = 0; j < m; ++j) greater += vals[j] > t;
    const int64_t ties_kept = k - greater;
    // All entries >= t, then drop the ties past the first ties_kept (lowest indices win: a stable sort's order).
    const uint32_t tb = abs_bits(t);
    const int64_t n = K.emit_ge(v, d, tb, idx);
    int64_t out = 0, ties = 0;
    for (int64_t j = 0; j < n; ++j) {
        const int32_t i = idx[j];
        if (abs_bits(v[i]) != tb || ties++ < ties_kept) idx[out++] = i;
    }
    return out;
}

int64_t maxp_select(const float* v, int64_t d, double p, int32_t* idx) {
    check_d(d);
    check_unit(p, "p");
    if (d == 0) return 0;
    const SelectKernels& K = select_kernels();
    const uint32_t maxbits = K.max_abs_bits(v, d);
    if (maxbits >= kNonFiniteBits) return kSelectNonFinite;
    return K.emit_ge(v, d, bits_at_least(p * (double)from_bits(maxbits)), idx);
}

int64_t threshold_select(const float* v, int64_t d, double t, int32_t* idx) {
    check_d(d);
    if (!(t >= 0.0 && std::isfinite(t)))
        throw ValueError("selection: threshold = " + std::to_string(t) + " must be finite and >= 0");
    if (d == 0) return 0;
    const SelectKernels& K = select_kernels();
    if (K.max_abs_bits(v, d) >= kNonFiniteBits) return kSelectNonFinite;
    return K.emit_ge(v, d, bits_at_least(t), idx);
}

SelectRule::Kind select_rule_from_name(const char* name) {
    const std::string n = name;
    if (n == "topp") return SelectRule::topp;
    if (n == "topk") return SelectRule::topk;
    if (n == "maxp") return SelectRule::maxp;
    if (n == "threshold") return SelectRule::threshold;
    throw ValueError("unknown selection rule '" + n + "' (expected topp, topk, maxp or threshold)");
}

void check_select_rule(const SelectRule& rule) {
    switch (rule.kind) {
        case SelectRule::topp:
            check_unit(rule.param, "p");
            check_power(rule.power);
            break;
        case SelectRule::topk: check_unit(rule.param, "keep_fraction"); break;
        case SelectRule::maxp: check_unit(rule.param, "p"); break;
        case SelectRule::threshold:
            if (!(rule.param >= 0.0 && std::isfinite(rule.param)))
                throw ValueError("selection: threshold = " + std::to_string(rule.param) + " must be finite and >= 0");
            break;
    }
}

int64_t select_row(const SelectRule& rule, const float* v, int64_t d, int32_t* idx) {
    switch (rule.kind) {
        case SelectRule::topp: return topp_select(v, d, rule.param, rule.power, idx);
        case SelectRule::topk: return topk_select(v, d, rule.param, idx);
        case SelectRule::maxp: return maxp_select(v, d, rule.param, idx);
        case SelectRule::threshold: return threshold_select(v, d, rule.param, idx);
    }
    return 0;
}

int64_t select_rows(const SelectRule& rule, const float* V, int64_t n, int64_t d, int64_t* offsets,
                    int32_t* indices) {
    check_d(d);
    check_select_rule(rule);
    if (n < 0) throw ValueError("selection: n = " + std::to_string(n) + " must be >= 0");
    ThreadPool& pool = ThreadPool::global();
    const int nth = (int)std::min<int64_t>(pool.num_threads(), std::max<int64_t>(n, 1));
    // Each thread owns a contiguous slice of rows [b, e) and appends their indices from indices + b * d (a row's
    // results start at or before r * d, so a row's d-entry scratch writes stay inside the slice). The slices are
    // then moved down into place in row order: deterministic, no atomics, no allocation.
    std::vector<int64_t> begin(nth, 0), count(nth, 0), bad(nth, -1);
    offsets[0] = 0;
    pool.run([&](int tid, int) {
        int64_t b, e;
        split_range(n, tid, nth, 1, &b, &e);
        if (tid >= nth) return;
        begin[tid] = b;
        int32_t* out = indices + b * d;
        int64_t pos = 0;
        for (int64_t r = b; r < e; ++r) {
            const int64_t c = select_row(rule, V + r * d, d, out + pos);
            if (c < 0) {
                bad[tid] = r;
                return;
            }
            offsets[r + 1] = c;
            pos += c;
        }
        count[tid] = pos;
    });
    for (int64_t r : bad)
        if (r >= 0) return r;  // threads are in row order, so the first one found is the first bad row
    for (int64_t r = 0; r < n; ++r) offsets[r + 1] += offsets[r];
    for (int t = 0; t < nth; ++t)
        if (count[t]) std::memmove(indices + offsets[begin[t]], indices + begin[t] * d, count[t] * sizeof(int32_t));
    return -1;
}

int64_t select_rows(const SelectRule& rule, const float* V, int64_t n, int64_t d, std::vector<int64_t>& offsets,
                    std::vector<int32_t>& indices) {
    offsets.assign(std::max<int64_t>(n, 0) + 1, 0);
    std::unique_ptr<int32_t[]> buf(new int32_t[std::max<int64_t>(n * d, 1)]);  // untouched pages stay virtual
    const int64_t bad = select_rows(rule, V, n, d, offsets.data(), buf.get());
    if (bad < 0) indices.assign(buf.get(), buf.get() + offsets[n]);
    return bad;
}

}  // namespace pysparse
