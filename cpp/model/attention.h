// Grouped-query attention over the KV cache for a batch of consecutive tokens (one layer):
//   out[t, h] = sum_j softmax_j(scale * q[t, h] . K[j, g]) V[j, g],  g = h / (n_head / n_head_kv),
// over cached positions j in [lo(t), pos0 + t] (causal; lo = pos - window + 1 on sliding-window layers).
// Threads split (token, KV head) units, each computing the query heads of that group in a fixed order, so a
// result does not depend on the thread count; each key and value row is read once per group, not once per head.
#pragma once
#include <cstdint>

#include "model/kv_cache.h"

namespace pysparse {

struct AttentionShape {
    int64_t n_head, n_head_kv, head_dim, head_dim_v;
    float scale;
    int64_t window;  // 0: whole context
};

// q: [n][n_head * head_dim] (roped); out: [n][n_head * head_dim_v]. The batch's keys and values must already be
// in the cache at positions pos0 .. pos0 + n - 1.
void attention(const AttentionShape& s, const KVCache& kv, int64_t il, const float* q, int64_t n, int64_t pos0,
               float* out);

}  // namespace pysparse
