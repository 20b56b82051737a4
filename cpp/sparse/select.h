// Activation selection: which entries of one token's vector v (length d) stay active under a sparsity rule.
// Every function writes the active indices in ascending order into idx (room for d entries) and returns their
// count, or kSelectNonFinite if v holds NaN or +-Inf (or a score |v_i|^q overflows float32); nothing else is
// written in that case. Bad parameters (p outside [0, 1] or NaN, ...) throw pysparse::ValueError.
//
// Rules (the top-p rule is docs/method.md §1; the Python reference is pysparse/engine/select.py):
//  top-p      scores a_i = |v_i|^q as float32 (q = 1: |v_i| exactly; q = 2: float32(v_i * v_i), one rounding;
//             other q: float32(pow(double(|v_i|), q))). Sort a descending, running sum S_k in float64 in that
//             order, total = S_{d-1} (the same sorted-order sum), k* = first k with S_k >= p * total (one float64
//             multiply), t = sorted_a[k*], keep every i with a_i >= t (ties kept).
//             Consequences, all defined by the rule itself: p = 0 keeps the max and its ties; an all-zero vector
//             keeps everything (total = 0, t = 0); p = 1 is no special case: the running sum reaches the total at
//             the last non-zero entry, so exact zeros are dropped (and entries too small to change the float64 sum,
//             if any, with them), as in the paper's reference implementation. A sweep's dense reference is the
//             model without hooks, not p = 1.
//  top-k      k = ceil(keep_fraction * d - 1e-9) clamped to [0, d] (the 1e-9 absorbs representation error, so
//             0.07 * 100 keeps 7, not 8); keep exactly k entries: every |v_i| above the k-th largest, then the
//             lowest indices among the ties at it (the order of a stable descending sort). keep_fraction = 0
//             keeps nothing.
//  max-p      keep |v_i| >= p * max|v| (compared in float64); p = 0 or an all-zero vector keeps everything.
//  threshold  keep |v_i| >= t (compared in float64; >=, like top-p's ties; TEAL/CATS write >, which differs only
//             for entries exactly at t). t must be finite and >= 0.
//
// How top-p is exact yet fast (no full sort per token). The float64 sorted-order running sum is the definition,
// and its rounding depends on the order of additions, so a bucketed pass cannot reproduce it bit for bit. It does
// not have to: any float64 summation of n non-negative terms is within a relative n*2^-53 (to first order) of the
// exact sum. The fast path buckets the scores by their float bits (11, then 10 and 10 more), finds the boundary bucket
// from float64 bucket sums, sorts only the boundary sub-bucket, and accepts the threshold only if the decision is
// unambiguous with a margin of 8 (d + 1) 2^-53 relative around p * total: every position whose estimated prefix
// lies below the margin has a literal prefix below p * total, and the first position above the margin has a
// literal prefix at or above it; when both candidate positions hold the same score, that score IS the literal t.
// Otherwise (a rounding tie, which random data hits with probability ~1e-8, or crafted data) it falls back to
// the full sort and literal running sum. p = 1 has a shorter proof of its own (topp_tbits_p1 in select.cpp). So every ISA path and the numpy reference agree bit for bit, whatever
// order each path sums its buckets in.
#pragma once
#include <cstdint>
#include <vector>

namespace pysparse {

constexpr int64_t kSelectNonFinite = -1;

int64_t topp_select(const float* v, int64_t d, double p, double power, int32_t* idx, float* threshold = nullptr);
int64_t topk_select(const float* v, int64_t d, double keep_fraction, int32_t* idx);
int64_t maxp_select(const float* v, int64_t d, double p, int32_t* idx);
int64_t threshold_select(const float* v, int64_t d, double t, int32_t* idx);

// The number of entries top-k keeps of d (the rule above).
int64_t topk_count(int64_t d, double keep_fraction);

// The literal top-p definition: full sort, float64 running sum (what the fast path falls back to; tests and the
// benchmark compare against it). Same contract as topp_select.
int64_t topp_select_sorted(const float* v, int64_t d, double p, double power, int32_t* idx,
                           float* threshold = nullptr);

// How many top-p calls (since process start, all threads) could not prove the threshold with the bucketed pass
// and fell back to the full sort. Tests use it to show the fast path is the one normally taken.
int64_t topp_fallback_count();

// A rule with its parameter, for the batched form.
struct SelectRule {
    enum Kind { topp, topk, maxp, threshold } kind = topp;
    double param = 1.0;  // p, keep fraction, or threshold
    double power = 1.0;  // top-p only
};
SelectRule::Kind select_rule_from_name(const char* name);  // "topp", "topk", "maxp", "threshold"; ValueError else
void check_select_rule(const SelectRule& rule);            // ValueError on a bad parameter
int64_t select_row(const SelectRule& rule, const float* v, int64_t d, int32_t* idx);

// Batched form for prefill: rows of a row-major n x d matrix, split across ThreadPool::global() by rows.
// Output in CSR form: offsets[n + 1] and indices (ascending within each row). `indices` must have room for n * d
// entries (it is also the threads' scratch); on return the first offsets[n] hold the result. Returns -1 if every
// row was finite, else the first row holding NaN/Inf (offsets/indices are then unspecified).
int64_t select_rows(const SelectRule& rule, const float* V, int64_t n, int64_t d, int64_t* offsets, int32_t* indices);
// The same into vectors sized to the result.
int64_t select_rows(const SelectRule& rule, const float* V, int64_t n, int64_t d, std::vector<int64_t>& offsets,
                    std::vector<int32_t>& indices);

}  // namespace pysparse
