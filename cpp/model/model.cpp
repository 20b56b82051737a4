// Model: loading, sparsity switching, sampling. The forward pass itself is forward.cpp.
#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.h"

namespace pysparse {

Model::Model(const std::string& path, const ModelOptions& opt) : file_(std::make_unique<GGUFFile>(path)) {
    hp_ = read_hparams(*file_);
    w_ = load_weights(*file_, hp_);
    if (opt.float_acts) {
        w_.output.float_acts = true;
        for (LayerWeights& L : w_.layers)
            for (Matrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down}) m->float_acts = true;
    }
    int64_t n_ctx = opt.n_ctx > 0 ? opt.n_ctx : std::min<int64_t>(hp_.n_ctx_train, 4096);
    if (opt.n_ctx < 0) throw ValueError("context length must be positive, got " + std::to_string(opt.n_ctx));
    if (n_ctx > hp_.n_ctx_train)
        throw ValueError("context length " + std::to_string(n_ctx) + " exceeds the model's training context " +
                         std::to_string(hp_.n_ctx_train));
    if (opt.max_batch <= 0) throw ValueError("max_batch must be positive");
    max_batch_ = opt.max_batch;
    kv_ = KVCache(hp_.n_layer, n_ctx, hp_.n_head_kv * hp_.head_dim, hp_.n_head_kv * hp_.head_dim_v, opt.kv_type);
    sparsity_.resize(hp_.n_layer);
    counts_.resize(hp_.n_layer);
}

void Model::truncate(int64_t n) {
    if (n < 0 || n > n_past_) throw ValueError("truncate: position " + std::to_string(n) + " outside [0, " + std::to_string(n_past_) + "]");
    n_past_ = n;
}

void Model::check_batch(const int32_t* tokens, int64_t n) const {
    if (n <= 0) throw ValueError("forward: empty batch (no tokens)");
    if (n_past_ + n > n_ctx())
        throw ValueError(std::to_string(n) + " tokens at position " + std::to_string(n_past_) + " exceed the context length " +
                         std::to_string(n_ctx()) + " (set a larger context, up to " + std::to_string(hp_.n_ctx_train) + ")");
    for (int64_t i = 0; i < n; ++i)
        if (tokens[i] < 0 || tokens[i] >= n_vocab())
            throw ValueError("token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                             " is outside the vocabulary [0, " + std::to_string(n_vocab()) + ")");
}

void Model::forward(const int32_t* tokens, int64_t n, bool all_logits, float* logits) {
    check_batch(tokens, n);
    for (int64_t off = 0; off < n; off += max_batch_) {
        const int64_t m = std::min(max_batch_, n - off);
        const bool last = off + m == n;
        run_batch(tokens + off, m, logits && all_logits ? logits + off * n_vocab() : nullptr, last);
    }
    if (logits && !all_logits) std::copy(st_.logits.begin(), st_.logits.begin() + n_vocab(), logits);
}

int32_t Model::step(const int32_t* tokens, int64_t n, const SamplerParams& sp) {
    forward(tokens, n, false, nullptr);
    return sample_token(st_.logits.data(), n_vocab(), sp, rng_);
}

void Model::set_sparsity(Site site, SelectRule::Kind rule, const std::vector<double>& values, double power) {
    if (static_cast<int64_t>(values.size()) != hp_.n_layer)
        throw ValueError("set_sparsity: " + std::to_string(values.size()) + " values for " + std::to_string(hp_.n_layer) + " layers");
    if (site == Site::none) return clear_sparsity();
    std::vector<SelectRule> rules(hp_.n_layer);
    for (int64_t il = 0; il < hp_.n_layer; ++il) {
        if (std::isnan(values[il])) continue;
        rules[il] = {rule, values[il], power};
        check_select_rule(rules[il]);  // ValueError before anything changes
    }
    // Repacks the site does not need are dropped (memory), the ones it needs made or kept.
    for (int64_t il = 0; il < hp_.n_layer; ++il) {
        FFNSparsity& sp = sparsity_[il];
        const bool on = !std::isnan(values[il]);
        if (!on || !sparse_input(site)) sp.gate.reset(), sp.up.reset();
        if (!on || !sparse_inner(site)) sp.down.reset();
        sp.on = on;
        if (on) {
            sp.rule = rules[il];
            ffn_prepare(w_.layers[il], site, sp);
            // Decode and prefill now read the repacks only: the row-major copies leave the resident set.
            const LayerWeights& L = w_.layers[il];
            if (sp.gate) file_->release_pages(L.gate.data, L.gate.nbytes());
            if (sp.up) file_->release_pages(L.up.data, L.up.nbytes());
            if (sp.down) file_->release_pages(L.down.data, L.down.nbytes());
        }
    }
    site_ = site;
}

void Model::clear_sparsity() {
    for (FFNSparsity& sp : sparsity_) sp = FFNSparsity();
    site_ = Site::none;
}

void Model::reset_counters() {
    for (FFNCounters& c : counts_) c = FFNCounters();
}

size_t Model::sparse_bytes() const {
    size_t b = 0;
    for (const FFNSparsity& sp : sparsity_)
        for (const auto* m : {sp.gate.get(), sp.up.get(), sp.down.get()})
            if (m) b += m->nbytes();
    return b;
}

int32_t sample_token(const float* logits, int64_t n, const SamplerParams& sp, std::mt19937_64& rng) {
    if (sp.temperature <= 0.0f || sp.top_k == 1)
        return static_cast<int32_t>(std::max_element(logits, logits + n) - logits);
    std::vector<int32_t> ids(n);
    std::iota(ids.begin(), ids.end(), 0);
    int64_t k = sp.top_k > 0 && sp.top_k < n ? sp.top_k : n;
    auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), by_logit);
    std::vector<double> prob(k);
    const double mx = logits[ids[0]];
    double sum = 0;
    for (int64_t i = 0; i < k; ++i) sum += prob[i] = std::exp((logits[ids[i]] - mx) / sp.temperature);
    if (sp.top_p < 1.0f) {  // smallest prefix of the sorted tokens whose probability reaches top_p
        double run = 0;
        int64_t keep = k;
        for (int64_t i = 0; i < k; ++i) {
            run += prob[i] / sum;
            if (run >= sp.top_p) {
                keep = i + 1;
                break;
            }
        }
        k = keep;
    }
    std::discrete_distribution<int64_t> pick(prob.begin(), prob.begin() + k);
    return ids[pick(rng)];
}

}  // namespace pysparse
