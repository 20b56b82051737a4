// qwen3: no biases; an RMSNorm over each q and k head (before rotary), NEOX rotary pairs; head_dim from
// attention.key_length (not n_embd / n_head).
#include "model/arch.h"

namespace pysparse {

static void configure_qwen3(const GGUFFile&, Hparams& hp) {
    hp.rope_style = RopeStyle::neox;
    hp.act = Activation::silu;
    hp.qk_norm = true;
}

const ArchSpec kArchQwen3 = {"qwen3", configure_qwen3};

}  // namespace pysparse
