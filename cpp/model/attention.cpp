#include "model/attention.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "common/multiversion.h"
#include "common/thread_pool.h"
#include "ops/ops.h"

namespace pysparse {

namespace {

// fp16 -> fp32 by table: the cache's f16 entries are widened on every read, and the branchy exact conversion
// would cost more than the dot products.
const float* fp16_table() {
    static const std::vector<float> table = [] {
        std::vector<float> t(65536);
        for (uint32_t h = 0; h < 65536; ++h) t[h] = fp16_to_fp32(static_cast<fp16_t>(h));
        return t;
    }();
    return table.data();
}

// The inner loops of attention are multiversioned (common/multiversion.h): at a 512-token prefill they are most
// of the attention time.

// Lanes of partial sums in the dot products. A single running sum is one FMA-latency chain per element (the
// compiler may not reorder float additions): 4 cycles per element. kLanes independent sums (two AVX-512 or four
// AVX2 registers) let the vector units run at throughput; the order is fixed by this source, not by the ISA.
constexpr int kLanes = 32;

template <typename Load>
inline float dot_lanes(const float* q, int64_t n, Load k) {
    float acc[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
        for (int l = 0; l < kLanes; ++l) acc[l] += q[i + l] * k(i + l);
    for (int l = 0; i < n; ++i, ++l) acc[l] += q[i] * k(i);
    for (int w = kLanes / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
    return acc[0];
}

// scores[h * stride + j] = scale * q_h . k for the G query heads of one KV group (q_h at q + h * dim): the key row
// is read from the cache once for all G heads.
PYSPARSE_MULTIVERSION
void dot_heads_f32(const float* q, int64_t G, const float* k, int64_t dim, float scale, float* scores,
                   int64_t stride) {
    for (int64_t h = 0; h < G; ++h)
        scores[h * stride] = scale * dot_lanes(q + h * dim, dim, [k](int64_t i) { return k[i]; });
}

PYSPARSE_MULTIVERSION
void dot_heads_f16(const float* q, int64_t G, const fp16_t* k, int64_t dim, float scale, float* scores,
                   int64_t stride, const float* table) {
    for (int64_t h = 0; h < G; ++h)
        scores[h * stride] = scale * dot_lanes(q + h * dim, dim, [k, table](int64_t i) { return table[k[i]]; });
}

// out_h = sum_j w_hj v_j for the G heads of one KV group (w_hj = weights[h * w_stride + j]; value row j at
// v + j * v_stride), j in order. The sum over j runs in registers, a chunk of kChunk output lanes at a time: an
// out[i] += w v[i] per row would cost a load and a store of out per element, and stores are the scarcer port.
constexpr int64_t kChunk = 64;

template <typename Load>
inline void weighted_sum(const float* weights, int64_t w_stride, int64_t G, int64_t len, int64_t dim, float* out,
                         Load v) {
    for (int64_t h = 0; h < G; ++h) {
        const float* w = weights + h * w_stride;
        float* o = out + h * dim;
        int64_t i0 = 0;
        for (; i0 + kChunk <= dim; i0 += kChunk) {
            float acc[kChunk] = {};
            for (int64_t j = 0; j < len; ++j)
                for (int64_t l = 0; l < kChunk; ++l) acc[l] += w[j] * v(j, i0 + l);
            for (int64_t l = 0; l < kChunk; ++l) o[i0 + l] = acc[l];
        }
        for (int64_t i = i0; i < dim; ++i) {
            float acc = 0.0f;
            for (int64_t j = 0; j < len; ++j) acc += w[j] * v(j, i);
            o[i] = acc;
        }
    }
}

PYSPARSE_MULTIVERSION
void weighted_sum_f32(const float* weights, int64_t w_stride, int64_t G, const float* v, int64_t v_stride,
                      int64_t len, int64_t dim, float* out) {
    weighted_sum(weights, w_stride, G, len, dim, out, [v, v_stride](int64_t j, int64_t i) { return v[j * v_stride + i]; });
}

PYSPARSE_MULTIVERSION
void weighted_sum_f16(const float* weights, int64_t w_stride, int64_t G, const fp16_t* v, int64_t v_stride,
                      int64_t len, int64_t dim, float* out, const float* table) {
    weighted_sum(weights, w_stride, G, len, dim, out,
                 [v, v_stride, table](int64_t j, int64_t i) { return table[v[j * v_stride + i]]; });
}

// G consecutive query heads of one token that share KV head g: q and out point at the first of them. scores has
// room for G rows of (pos + 1). Each head's arithmetic is the same whatever G is, so the result does not depend on
// how heads are grouped into work units (thread count).
template <typename T>
void attend_heads(const AttentionShape& s, const KVCache& kv, int64_t il, const float* q, int64_t pos, int64_t g,
                  int64_t G, float* scores, float* out) {
    const float* table = fp16_table();
    const int64_t lo = s.window > 0 && pos - s.window + 1 > 0 ? pos - s.window + 1 : 0;
    const int64_t len = pos - lo + 1;
    for (int64_t j = 0; j < len; ++j) {
        const T* k = static_cast<const T*>(kv.k_row(il, lo + j)) + g * s.head_dim;
        if constexpr (std::is_same_v<T, float>)
            dot_heads_f32(q, G, k, s.head_dim, s.scale, scores + j, len);
        else
            dot_heads_f16(q, G, k, s.head_dim, s.scale, scores + j, len, table);
    }
    for (int64_t h = 0; h < G; ++h) softmax(scores + h * len, len);
    const T* v = static_cast<const T*>(kv.v_row(il, lo)) + g * s.head_dim_v;
    const int64_t v_stride = kv.v_row_stride();
    if constexpr (std::is_same_v<T, float>)
        weighted_sum_f32(scores, len, G, v, v_stride, len, s.head_dim_v, out);
    else
        weighted_sum_f16(scores, len, G, v, v_stride, len, s.head_dim_v, out, table);
}

}  // namespace

void attention(const AttentionShape& s, const KVCache& kv, int64_t il, const float* q, int64_t n, int64_t pos0,
               float* out) {
    const int64_t group = s.n_head / s.n_head_kv;
    ThreadPool& pool = ThreadPool::global();
    const int nth = pool.num_threads();
    // Work unit: (token, KV head, chunk of that head's query heads). Whole groups share each key/value row read;
    // a decode step with few KV heads (gemma3-270m has one) splits the group so every thread gets work.
    const int64_t kv_units = n * s.n_head_kv;
    const int64_t per_kv = kv_units >= 2 * nth ? 1 : std::min<int64_t>(group, (2 * nth + kv_units - 1) / kv_units);
    const int64_t units = kv_units * per_kv;
    const int64_t max_chunk = (group + per_kv - 1) / per_kv;
    std::vector<std::vector<float>> scores(nth, std::vector<float>(max_chunk * (pos0 + n)));
    auto job = [&](int tid, int nthreads) {
        int64_t u0, u1;
        split_range(units, tid, nthreads, 1, &u0, &u1);
        float* sc = scores[tid].data();
        for (int64_t u = u0; u < u1; ++u) {
            const int64_t t = u / (s.n_head_kv * per_kv), g = u / per_kv % s.n_head_kv, c = u % per_kv;
            // per_kv <= group, so no chunk is empty
            const int64_t h0 = g * group + c * group / per_kv, h1 = g * group + (c + 1) * group / per_kv;
            const float* qh = q + (t * s.n_head + h0) * s.head_dim;
            float* oh = out + (t * s.n_head + h0) * s.head_dim_v;
            if (kv.type() == KVType::f32)
                attend_heads<float>(s, kv, il, qh, pos0 + t, g, h1 - h0, sc, oh);
            else
                attend_heads<fp16_t>(s, kv, il, qh, pos0 + t, g, h1 - h0, sc, oh);
        }
    };
    if (nth == 1 || n * s.n_head * (pos0 + n) < 4096)
        job(0, 1);
    else
        pool.run(job);
}

}  // namespace pysparse
