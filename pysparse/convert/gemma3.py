"""Gemma 3 (text): llama.cpp's `Gemma3Model` conventions.

Gemma3RMSNorm multiplies by (1 + weight), so every norm weight is stored +1. The embedding keeps only the rows of
real tokens (checkpoints pad the vocabulary). Sliding-window size and local/global rope bases go to metadata.
"""

from __future__ import annotations

import json

import numpy as np

import gguf

from .arch import Architecture, register


@register
class Gemma3(Architecture):
    hf_architectures = ("Gemma3ForCausalLM",)
    gguf_arch = gguf.MODEL_ARCH.GEMMA3

    # what llama.cpp assumes when a Gemma 3 config leaves these out
    DEFAULTS = {"max_position_embeddings": 131072, "num_attention_heads": 8, "rms_norm_eps": 1e-6, "head_dim": 256,
                "num_key_value_heads": 4}

    def __init__(self, config, n_vocab_real: int | None = None):
        super().__init__(config)
        self.config = {**self.DEFAULTS, **self.config}
        self.n_vocab_real = n_vocab_real

    def set_real_vocab(self, n: int) -> None:
        self.n_vocab_real = n

    def out_shape(self, hf_name, shape):
        if "embed_tokens.weight" in hf_name and self.n_vocab_real is not None:
            return (min(shape[0], self.n_vocab_real), *shape[1:])
        return shape

    def transform(self, hf_name, data):
        if "embed_tokens.weight" in hf_name and self.n_vocab_real is not None:
            data = data[: self.n_vocab_real]
        if hf_name.endswith("norm.weight"):
            data = data + np.float32(1.0)
        return data

    def write_metadata(self, w):
        super().write_metadata(w)
        c = self.config
        if "rope_theta" not in self.rope():
            w.add_rope_freq_base(1_000_000.0)  # Gemma 3's global rope base
        if softcap := c.get("final_logit_softcapping"):
            w.add_final_logit_softcapping(softcap)
        if c.get("sliding_window_pattern") != 1 and c.get("sliding_window") is not None:
            w.add_sliding_window(c["sliding_window"])

    def write_vocab_extras(self, w, tokenizer_config, vocab_kind):
        if vocab_kind == "llama":
            w.add_add_space_prefix(False)


def real_vocab_size(hf_dir) -> int | None:
    """Tokens the tokenizer defines (tokenizer.json: vocab + added), as llama.cpp counts them; None if unknown."""
    path = hf_dir / "tokenizer.json"
    if not path.is_file():
        return None
    tj = json.loads(path.read_text(encoding="utf-8"))
    return len(tj["model"]["vocab"]) + len(tj.get("added_tokens", []))
