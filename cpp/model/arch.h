// The architecture table: what each file in cpp/model/<arch>.cpp contributes. An architecture is its differences
// from the common transformer block (hparams.h flags); the forward pass itself is written once (forward.cpp).
#pragma once
#include "model/hparams.h"

namespace pysparse {

struct ArchSpec {
    const char* name;                                     // general.architecture
    void (*configure)(const GGUFFile& f, Hparams& hp);    // reads its own keys, sets its flags
};

extern const ArchSpec kArchLlama;   // llama.cpp (also Mistral-style files)
extern const ArchSpec kArchQwen2;   // qwen2.cpp
extern const ArchSpec kArchQwen3;   // qwen3.cpp
extern const ArchSpec kArchGemma3;  // gemma3.cpp

}  // namespace pysparse
