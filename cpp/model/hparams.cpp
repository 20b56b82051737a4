#include "model/hparams.h"

#include <cmath>

#include "common/error.h"
#include "model/arch.h"

namespace pysparse {

namespace {

const ArchSpec* const kArchs[] = {&kArchLlama, &kArchQwen2, &kArchQwen3, &kArchGemma3};

int64_t positive(const GGUFFile& f, const std::string& key, int64_t v) {
    if (v <= 0 || v > (int64_t(1) << 31))
        throw FormatError(f.source() + ": metadata " + key + " = " + std::to_string(v) + " is not a valid size");
    return v;
}

}  // namespace

std::vector<std::string> supported_architectures() {
    std::vector<std::string> out;
    for (const ArchSpec* a : kArchs) out.emplace_back(a->name);
    return out;
}

Hparams read_hparams(const GGUFFile& f) {
    Hparams hp;
    hp.arch = f.architecture();
    const ArchSpec* spec = nullptr;
    for (const ArchSpec* a : kArchs)
        if (hp.arch == a->name) spec = a;
    if (!spec) {
        std::string names;
        for (const auto& n : supported_architectures()) names += (names.empty() ? "" : ", ") + n;
        throw ValueError(f.source() + ": architecture '" + hp.arch + "' is not supported by the engine (it runs " +
                         names + ")");
    }
    const std::string p = hp.arch + ".";
    hp.n_layer = positive(f, p + "block_count", f.get_int(p + "block_count"));
    hp.n_embd = positive(f, p + "embedding_length", f.get_int(p + "embedding_length"));
    hp.n_ff = positive(f, p + "feed_forward_length", f.get_int(p + "feed_forward_length"));
    hp.n_head = positive(f, p + "attention.head_count", f.get_int(p + "attention.head_count"));
    hp.n_head_kv = positive(f, p + "attention.head_count_kv", f.get_int(p + "attention.head_count_kv", hp.n_head));
    if (hp.n_head % hp.n_head_kv != 0)
        throw FormatError(f.source() + ": head_count " + std::to_string(hp.n_head) +
                          " is not a multiple of head_count_kv " + std::to_string(hp.n_head_kv));
    hp.head_dim = positive(f, p + "attention.key_length", f.get_int(p + "attention.key_length", hp.n_embd / hp.n_head));
    hp.head_dim_v = positive(f, p + "attention.value_length", f.get_int(p + "attention.value_length", hp.head_dim));
    hp.n_ctx_train = positive(f, p + "context_length", f.get_int(p + "context_length"));
    hp.norm_eps = static_cast<float>(f.get_float(p + "attention.layer_norm_rms_epsilon"));
    hp.rope_dim = f.get_int(p + "rope.dimension_count", hp.head_dim);
    if (hp.rope_dim <= 0 || hp.rope_dim > hp.head_dim || hp.rope_dim % 2)
        throw FormatError(f.source() + ": rope.dimension_count " + std::to_string(hp.rope_dim) + " is invalid for head_dim " +
                          std::to_string(hp.head_dim));
    hp.rope_base = static_cast<float>(f.get_float(p + "rope.freq_base", 10000.0));
    hp.rope_base_swa = hp.rope_base;
    const std::string scaling = f.get_string(p + "rope.scaling.type", "none");
    if (scaling == "linear") {
        const double factor = f.get_float(p + "rope.scaling.factor", 1.0);
        if (!(factor > 0)) throw FormatError(f.source() + ": rope.scaling.factor must be positive");
        hp.rope_freq_scale = static_cast<float>(1.0 / factor);
    } else if (scaling != "none") {
        throw ValueError(f.source() + ": rope scaling '" + scaling + "' is not supported by the engine (none, linear)");
    }
    hp.attn_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hp.head_dim)));
    hp.layer_swa.assign(hp.n_layer, 0);
    spec->configure(f, hp);
    return hp;
}

}  // namespace pysparse
