#include "model/attention.h"

#include <type_traits>
#include <vector>

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

// The two inner loops of attention, compiled for AVX-512, AVX2+FMA and baseline x86-64 and picked at load time by
// the CPU (GCC/Clang function multiversioning); on aarch64 NEON is the baseline. At a 512-token prefill these
// loops are most of the attention time, and the portable build would run them 4 floats wide.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__SANITIZE_ADDRESS__)
#define PYSPARSE_MULTIVERSION __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define PYSPARSE_MULTIVERSION
#endif

PYSPARSE_MULTIVERSION
float dot_f32(const float* a, const float* b, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

PYSPARSE_MULTIVERSION
void axpy_f32(float w, const float* v, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] += w * v[i];
}

template <typename T>
inline float widen(T v, const float*) { return v; }
template <>
inline float widen<fp16_t>(fp16_t v, const float* table) { return table[v]; }

template <typename T>
void attend_one(const AttentionShape& s, const KVCache& kv, int64_t il, const float* q, int64_t pos, float* scores,
                float* out, int64_t g) {
    const float* table = fp16_table();
    const int64_t lo = s.window > 0 && pos - s.window + 1 > 0 ? pos - s.window + 1 : 0;
    const int64_t len = pos - lo + 1;
    for (int64_t j = 0; j < len; ++j) {
        const T* k = static_cast<const T*>(kv.k_row(il, lo + j)) + g * s.head_dim;
        float dot;
        if constexpr (std::is_same_v<T, float>) {
            dot = dot_f32(q, k, s.head_dim);
        } else {
            dot = 0.0f;
            for (int64_t i = 0; i < s.head_dim; ++i) dot += q[i] * widen(k[i], table);
        }
        scores[j] = dot * s.scale;
    }
    softmax(scores, len);
    for (int64_t i = 0; i < s.head_dim_v; ++i) out[i] = 0.0f;
    for (int64_t j = 0; j < len; ++j) {
        const T* v = static_cast<const T*>(kv.v_row(il, lo + j)) + g * s.head_dim_v;
        const float w = scores[j];
        if constexpr (std::is_same_v<T, float>) {
            axpy_f32(w, v, out, s.head_dim_v);
        } else {
            for (int64_t i = 0; i < s.head_dim_v; ++i) out[i] += w * widen(v[i], table);
        }
    }
}

}  // namespace

void attention(const AttentionShape& s, const KVCache& kv, int64_t il, const float* q, int64_t n, int64_t pos0,
               float* out) {
    const int64_t group = s.n_head / s.n_head_kv;
    const int64_t units = n * s.n_head;
    ThreadPool& pool = ThreadPool::global();
    const int nth = pool.num_threads();
    std::vector<std::vector<float>> scores(nth, std::vector<float>(pos0 + n));
    auto job = [&](int tid, int nthreads) {
        int64_t u0, u1;
        split_range(units, tid, nthreads, 1, &u0, &u1);
        float* sc = scores[tid].data();
        for (int64_t u = u0; u < u1; ++u) {
            const int64_t t = u / s.n_head, h = u % s.n_head;
            const float* qh = q + (t * s.n_head + h) * s.head_dim;
            float* oh = out + (t * s.n_head + h) * s.head_dim_v;
            if (kv.type() == KVType::f32)
                attend_one<float>(s, kv, il, qh, pos0 + t, sc, oh, h / group);
            else
                attend_one<fp16_t>(s, kv, il, qh, pos0 + t, sc, oh, h / group);
        }
    };
    if (nth == 1 || units * (pos0 + n) < 4096)
        job(0, 1);
    else
        pool.run(job);
}

}  // namespace pysparse
