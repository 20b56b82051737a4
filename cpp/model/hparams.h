// Hparams: a model's hyperparameters, all read from GGUF metadata (`<arch>.block_count`, ...). The common keys are
// read in hparams.cpp; each architecture file (llama.cpp, qwen2.cpp, qwen3.cpp, gemma3.cpp) sets what differs:
// rope pairing, activation, which optional tensors it has, sliding-window layers, embedding scale.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "ops/ops.h"

namespace pysparse {

struct Hparams {
    std::string arch;
    int64_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0;
    int64_t head_dim = 0, head_dim_v = 0;  // per-head widths of q/k and v
    int64_t n_ff = 0, n_vocab = 0, n_ctx_train = 0;
    float norm_eps = 1e-5f;
    int64_t rope_dim = 0;            // rotated entries of each head (<= head_dim)
    float rope_base = 10000.0f;      // global layers
    float rope_base_swa = 10000.0f;  // sliding-window layers
    float rope_freq_scale = 1.0f;    // linear rope scaling: 1 / factor
    RopeStyle rope_style = RopeStyle::norm;
    Activation act = Activation::silu;
    float attn_scale = 0.0f;         // multiplier of q.k (1 / sqrt(head_dim) unless the architecture says otherwise)
    float embd_scale = 1.0f;         // token embeddings are multiplied by it (gemma: sqrt(n_embd))
    int64_t sliding_window = 0;      // 0: every layer attends to the whole context
    std::vector<uint8_t> layer_swa;  // per layer: 1 if it uses the sliding window (and rope_base_swa)
    // Optional tensors the architecture requires.
    bool qkv_bias = false;           // attn_{q,k,v}.bias (qwen2)
    bool qk_norm = false;            // attn_{q,k}_norm.weight, RMSNorm per head (qwen3, gemma3)
    bool post_norms = false;         // post_attention_norm / post_ffw_norm on each block's output (gemma3)
};

// Reads the hparams of the file's architecture. ValueError for an architecture the engine does not run (naming it
// and listing those it runs); FormatError for a missing or invalid key.
Hparams read_hparams(const GGUFFile& f);

// The architectures the engine runs, as general.architecture spells them.
std::vector<std::string> supported_architectures();

}  // namespace pysparse
