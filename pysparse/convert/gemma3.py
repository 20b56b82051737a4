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

    def __init__(self, config, n_vocab_real: int | None = None):
        super().__init__(config)
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
        # llama.cpp writes these with Gemma 3's defaults when the config leaves them out (overwriting the generic ones)
        w.add_context_length(c.get("max_position_embeddings", 131072))
        w.add_head_count(c.get("num_attention_heads", 8))
        w.add_layer_norm_rms_eps(c.get("rms_norm_eps", 1e-6))
        w.add_key_length(c.get("head_dim", 256))
        w.add_value_length(c.get("head_dim", 256))
        w.add_rope_freq_base(self.rope().get("rope_theta", 1_000_000.0))
        if softcap := c.get("final_logit_softcapping"):
            w.add_final_logit_softcapping(softcap)
        if c.get("sliding_window_pattern") != 1 and c.get("sliding_window") is not None:
            w.add_sliding_window(c["sliding_window"])
        w.add_head_count_kv(c.get("num_key_value_heads", 4))

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
