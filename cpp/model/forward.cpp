// The forward pass, written once for every architecture (an architecture's differences are Hparams flags):
//   embed -> for each layer: x += [post_norm] attention(norm(x));  x += [post_norm] ffn(norm(x))
//         -> norm -> logits
// Each step runs on the whole batch: n = 1 is decode (matvecs; the FFN's sparse kernels), n > 1 prefill
// (batched matmuls, each weight block read once per batch).
#include <algorithm>
#include <chrono>

#include "kernels/matmul.h"
#include "kernels/matvec.h"
#include "model/attention.h"
#include "model/model.h"
#include "ops/ops.h"
#include "quant/dequantize.h"

namespace pysparse {

namespace {

void add_bias(const std::vector<float>& b, float* y, int64_t n) {
    if (b.empty()) return;
    const int64_t d = static_cast<int64_t>(b.size());
    for (int64_t t = 0; t < n; ++t)
        for (int64_t i = 0; i < d; ++i) y[t * d + i] += b[i];
}

void norm_rows(const float* x, const std::vector<float>& w, int64_t n, int64_t d, float eps, float* y) {
    for (int64_t t = 0; t < n; ++t) rmsnorm(x + t * d, w.data(), d, eps, y + t * d);
}

// Per-head RMSNorm (if the architecture has q/k norms), then rotary embedding, of n tokens' heads in place.
// cs: each token's cos then sin (rot_dim / 2 each) from rope_angles.
void norm_rope_heads(float* v, int64_t n, int64_t n_heads, const std::vector<float>& norm, const Hparams& hp,
                     const float* cs) {
    const int64_t half = hp.rope_dim / 2;
    for (int64_t t = 0; t < n; ++t)
        for (int64_t h = 0; h < n_heads; ++h) {
            float* head = v + (t * n_heads + h) * hp.head_dim;
            if (!norm.empty()) rmsnorm(head, norm.data(), hp.head_dim, hp.norm_eps, head);
            rope(head, hp.rope_dim, cs + t * 2 * half, cs + t * 2 * half + half, hp.rope_style);
        }
}

// cos/sin of every token's position for one rope base (computed once per batch, shared by layers and heads).
void fill_angles(const Hparams& hp, int64_t n, int64_t pos0, float base, std::vector<float>& cs) {
    const int64_t half = hp.rope_dim / 2;
    cs.resize(static_cast<size_t>(n) * 2 * half);
    for (int64_t t = 0; t < n; ++t)
        rope_angles(hp.rope_dim, pos0 + t, base, hp.rope_freq_scale, &cs[t * 2 * half], &cs[t * 2 * half + half]);
}

void grow(std::vector<float>& v, size_t n) {
    if (v.size() < n) v.resize(n);
}

using Clock = std::chrono::steady_clock;
double ns_since(Clock::time_point t0) { return std::chrono::duration<double, std::nano>(Clock::now() - t0).count(); }

}  // namespace

void Model::run_batch(const int32_t* tokens, int64_t n, float* all_out, bool want_last) {
    const Hparams& hp = hp_;
    const int64_t d = hp.n_embd, pos0 = n_past_;
    const int64_t q_dim = hp.n_head * hp.head_dim, kv_dim = hp.n_head_kv * hp.head_dim;
    const int64_t v_dim = hp.n_head_kv * hp.head_dim_v, att_dim = hp.n_head * hp.head_dim_v;
    State& s = st_;
    grow(s.x, n * d), grow(s.xn, n * d), grow(s.proj, n * d);
    grow(s.q, n * q_dim), grow(s.k, n * kv_dim), grow(s.v, n * v_dim), grow(s.att, n * att_dim);
    float *x = s.x.data(), *xn = s.xn.data(), *proj = s.proj.data();
    const bool timed = n == 1;
    fill_angles(hp, n, pos0, hp.rope_base, s.rope_global);
    fill_angles(hp, n, pos0, hp.rope_base_swa, s.rope_swa);
    const Clock::time_point t_start = Clock::now();

    // Embeddings: the token's row decoded from the file's format.
    const size_t erb = row_bytes(w_.tok_embd.type, d);
    for (int64_t t = 0; t < n; ++t) {
        dequantize_row(w_.tok_embd.type, w_.tok_embd.data + static_cast<size_t>(tokens[t]) * erb, x + t * d, d);
        if (hp.embd_scale != 1.0f)
            for (int64_t i = 0; i < d; ++i) x[t * d + i] *= hp.embd_scale;
    }

    for (int64_t il = 0; il < hp.n_layer; ++il) {
        const LayerWeights& L = w_.layers[il];
        const bool swa = hp.layer_swa[il] != 0;
        Clock::time_point t0 = Clock::now();

        // Attention block.
        norm_rows(x, L.attn_norm, n, d, hp.norm_eps, xn);
        product(L.wq, xn, n, s.q.data());
        product(L.wk, xn, n, s.k.data());
        product(L.wv, xn, n, s.v.data());
        add_bias(L.bq, s.q.data(), n);
        add_bias(L.bk, s.k.data(), n);
        add_bias(L.bv, s.v.data(), n);
        const float* cs = swa ? s.rope_swa.data() : s.rope_global.data();
        norm_rope_heads(s.q.data(), n, hp.n_head, L.q_norm, hp, cs);
        norm_rope_heads(s.k.data(), n, hp.n_head_kv, L.k_norm, hp, cs);
        for (int64_t t = 0; t < n; ++t) kv_.store(il, pos0 + t, s.k.data() + t * kv_dim, s.v.data() + t * v_dim);
        const AttentionShape shape{hp.n_head, hp.n_head_kv, hp.head_dim, hp.head_dim_v, hp.attn_scale,
                                   swa ? hp.sliding_window : 0};
        attention(shape, kv_, il, s.q.data(), n, pos0, s.att.data());
        product(L.wo, s.att.data(), n, proj);
        if (hp.post_norms) norm_rows(proj, L.post_attn_norm, n, d, hp.norm_eps, proj);
        for (int64_t i = 0; i < n * d; ++i) x[i] += proj[i];
        if (timed) timings_.attention += ns_since(t0);

        // FFN block.
        t0 = Clock::now();
        norm_rows(x, L.ffn_norm, n, d, hp.norm_eps, xn);
        ffn_forward(L, hp.act, site_, sparsity_[il], xn, n, d, hp.n_ff, s.ffn, counts_[il], proj);
        if (hp.post_norms) norm_rows(proj, L.post_ffn_norm, n, d, hp.norm_eps, proj);
        for (int64_t i = 0; i < n * d; ++i) x[i] += proj[i];
        if (timed) timings_.ffn += ns_since(t0);
    }
    n_past_ += n;

    // Output: every position's logits, or only the last token's.
    const Clock::time_point t0 = Clock::now();
    const int64_t V = n_vocab();
    grow(s.logits, V);
    if (all_out) {
        norm_rows(x, w_.output_norm, n, d, hp.norm_eps, xn);
        product(w_.output, xn, n, all_out);
        std::copy(all_out + (n - 1) * V, all_out + n * V, s.logits.begin());
    } else if (want_last) {
        rmsnorm(x + (n - 1) * d, w_.output_norm.data(), d, hp.norm_eps, xn);
        product(w_.output, xn, 1, s.logits.data());
    }
    if (timed) {
        timings_.output += ns_since(t0);
        timings_.total += ns_since(t_start);
        timings_.tokens += 1;
    }
}

}  // namespace pysparse
