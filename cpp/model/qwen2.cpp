// qwen2 (Qwen2, Qwen2.5): llama's block with biases on q, k and v, and NEOX rotary pairs (i, i + d/2).
#include "model/arch.h"

namespace pysparse {

static void configure_qwen2(const GGUFFile&, Hparams& hp) {
    hp.rope_style = RopeStyle::neox;
    hp.act = Activation::silu;
    hp.qkv_bias = true;
}

const ArchSpec kArchQwen2 = {"qwen2", configure_qwen2};

}  // namespace pysparse
