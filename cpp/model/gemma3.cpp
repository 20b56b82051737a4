// gemma3 (text): GeGLU with tanh-GELU; q/k RMSNorm per head; each block's output normed again before the residual
// (post_attention_norm, post_ffw_norm); embeddings scaled by sqrt(n_embd); layers alternate sliding-window
// attention (rope base 10000) and global attention (rope base from the file): every `pattern`-th layer is global.
// The GGUF's norm weights already include gemma's "+1" (llama.cpp's converter adds it), so plain RMSNorm applies.
// Attention scale 1/sqrt(head_dim), as llama.cpp uses for every size but 27B (which scales by n_embd / n_head).
#include <cmath>

#include "common/error.h"
#include "model/arch.h"

namespace pysparse {

static void configure_gemma3(const GGUFFile& f, Hparams& hp) {
    hp.rope_style = RopeStyle::neox;
    hp.act = Activation::gelu_tanh;
    hp.qk_norm = true;
    hp.post_norms = true;
    hp.embd_scale = std::sqrt(static_cast<float>(hp.n_embd));
    hp.sliding_window = f.get_int("gemma3.attention.sliding_window", 0);
    if (hp.sliding_window < 0) throw FormatError(f.source() + ": gemma3.attention.sliding_window is negative");
    hp.rope_base_swa = 10000.0f;
    const int64_t pattern = f.get_int("gemma3.attention.sliding_window_pattern", 6);
    if (pattern <= 0) throw FormatError(f.source() + ": gemma3.attention.sliding_window_pattern must be positive");
    for (int64_t il = 0; il < hp.n_layer; ++il) hp.layer_swa[il] = hp.sliding_window > 0 && (il + 1) % pattern != 0;
}

const ArchSpec kArchGemma3 = {"gemma3", configure_gemma3};

}  // namespace pysparse
