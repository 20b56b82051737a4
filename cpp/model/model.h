// Model: a GGUF file mapped once, its Hparams and Weights (views into the map), a KV cache, the scratch State,
// and the FFN sparsity. forward() (forward.cpp) runs a batch of tokens at the next positions; one token is the
// decode path (matvecs, sparse FFN kernels), several the prefill path (batched matmuls).
#pragma once
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "model/ffn.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace pysparse {

struct ModelOptions {
    int64_t n_ctx = 0;         // 0: min(training context, 4096); must be <= the training context
    KVType kv_type = KVType::f32;
    int64_t max_batch = 512;   // prefill runs in chunks of at most this many tokens (bounds the scratch memory)
    // true: every product with float32 activations (kernels/matmul.h matmul_float), for fidelity checks; false:
    // the integer kernels on x quantised per block (Q8_0 / Q8_1 / Q8_K, as llama.cpp)
    bool float_acts = false;
};

// Scratch buffers of a forward pass, grown to the largest batch seen, never shrunk.
struct State {
    std::vector<float> x, xn, q, k, v, att, proj, logits;
    std::vector<float> rope_global, rope_swa;  // cos/sin of the batch's positions per rope base
    FFNScratch ffn;
};

// Wall time of the last decode steps by part of the block (nanoseconds, summed since reset_timings()).
struct Timings {
    int64_t tokens = 0;
    double attention = 0, ffn = 0, output = 0, total = 0;  // attention: norm, q/k/v/o products, rope, attention
};

struct SamplerParams {
    float temperature = 0.0f;  // <= 0: greedy
    int64_t top_k = 0;         // 0: no top-k cut
    float top_p = 1.0f;        // nucleus; 1: no cut
};

class Model {
public:
    Model(const std::string& path, const ModelOptions& opt);

    const Hparams& hparams() const { return hp_; }
    const Weights& weights() const { return w_; }
    const GGUFFile& file() const { return *file_; }
    int64_t n_ctx() const { return kv_.n_ctx(); }
    int64_t n_vocab() const { return w_.tok_embd.rows; }
    int64_t n_past() const { return n_past_; }
    size_t kv_bytes() const { return kv_.nbytes(); }
    bool float_acts() const { return w_.output.float_acts; }  // ModelOptions::float_acts

    // Starts a new sequence at position 0.
    void reset() { n_past_ = 0; }
    // Drops positions >= n (keeps the first n cached positions).
    void truncate(int64_t n);

    // Runs n tokens at positions n_past() .. n_past() + n - 1. logits: [n][n_vocab] if all_logits, else the last
    // token's [n_vocab]; nullptr to skip the output matrix. ValueError for an empty batch, a token id out of
    // range, or a batch that does not fit the context.
    void forward(const int32_t* tokens, int64_t n, bool all_logits, float* logits);
    // The checks forward() makes, without running anything (a caller splitting a batch checks it whole first).
    void check_batch(const int32_t* tokens, int64_t n) const;
    // The last token's logits of the most recent forward (n_vocab floats).
    const float* last_logits() const { return st_.logits.data(); }

    // Evaluates tokens, then draws the next token from the last logits.
    int32_t step(const int32_t* tokens, int64_t n, const SamplerParams& sp);
    void seed(uint64_t s) { rng_.seed(s); }

    // FFN sparsity. values: one rule value per layer (NaN: that layer stays dense). Repacks what the site needs.
    void set_sparsity(Site site, SelectRule::Kind rule, const std::vector<double>& values, double power = 1.0);
    void clear_sparsity();
    Site site() const { return site_; }
    const std::vector<FFNCounters>& counters() const { return counts_; }
    void reset_counters();
    size_t sparse_bytes() const;  // bytes held by the FFN repacks
    const std::vector<FFNSparsity>& sparsity() const { return sparsity_; }

    const Timings& timings() const { return timings_; }
    void reset_timings() { timings_ = Timings(); }

private:
    // One chunk of at most max_batch tokens. all_out: [n][n_vocab] for every position (nullable); want_last: the
    // last token's logits into st_.logits.
    void run_batch(const int32_t* tokens, int64_t n, float* all_out, bool want_last);

    std::unique_ptr<GGUFFile> file_;
    Hparams hp_;
    Weights w_;
    KVCache kv_;
    State st_;
    int64_t max_batch_ = 512;
    int64_t n_past_ = 0;
    Site site_ = Site::none;
    std::vector<FFNSparsity> sparsity_;
    std::vector<FFNCounters> counts_;
    Timings timings_;
    std::mt19937_64 rng_{0};
};

// Draws a token from logits (n values): greedy, or temperature / top-k / top-p sampling.
int32_t sample_token(const float* logits, int64_t n, const SamplerParams& sp, std::mt19937_64& rng);

}  // namespace pysparse
