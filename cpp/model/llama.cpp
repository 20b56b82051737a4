// llama (SmolLM2, Llama 2/3, Mistral-style files): pre-norm blocks, SwiGLU, rotary pairs (2i, 2i+1) because
// llama.cpp's converter permutes the q/k rows for that pairing; no biases, no q/k norms.
#include "model/arch.h"

namespace pysparse {

static void configure_llama(const GGUFFile&, Hparams& hp) {
    hp.rope_style = RopeStyle::norm;
    hp.act = Activation::silu;
}

const ArchSpec kArchLlama = {"llama", configure_llama};

}  // namespace pysparse
