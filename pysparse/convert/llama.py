"""Llama and Mistral: llama.cpp's `LlamaModel` conventions.

Q and K rows are permuted: HF stores each head's rotary pairs as two halves (rotate_half), llama.cpp's rope
rotates adjacent pairs, so the converter interleaves the halves per head (for K, per KV head).
"""

from __future__ import annotations

import math

import numpy as np

import gguf

from .arch import Architecture, register


@register
class Llama(Architecture):
    hf_architectures = ("LlamaForCausalLM", "LLaMAForCausalLM", "MistralForCausalLM")
    gguf_arch = gguf.MODEL_ARCH.LLAMA

    def head_dim(self) -> int:
        return self.config.get("head_dim") or self._need("hidden_size") // self._need("num_attention_heads")

    def transform(self, hf_name, data):
        n_head = self._need("num_attention_heads")
        if hf_name.endswith(("q_proj.weight", "q_proj.bias")):
            return permute_rotary_rows(data, n_head)
        if hf_name.endswith(("k_proj.weight", "k_proj.bias")):
            return permute_rotary_rows(data, self.config.get("num_key_value_heads") or n_head)
        return data

    def write_metadata(self, w):
        super().write_metadata(w)
        w.add_vocab_size(self._need("vocab_size"))
        w.add_rope_dimension_count(self.head_dim())

    def write_vocab_extras(self, w, tokenizer_config, vocab_kind):
        if (prefix := tokenizer_config.get("add_prefix_space")) is not None:
            w.add_add_space_prefix(prefix)
        # llama.cpp's converter turns BOS off for 49152-token vocabularies (the Granite / SmolLM family).
        if self.config.get("vocab_size") == 49152:
            w.add_add_bos_token(False)

    def extra_tensors(self):
        rope = self.rope()
        if str(rope.get("rope_type", "")).lower() != "llama3":
            return []
        # Llama 3.1's frequency-dependent rope scaling, precomputed as llama.cpp's rope_freqs tensor.
        base = rope.get("rope_theta", 10000.0)
        dim = self.head_dim()
        freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
        factor = rope.get("factor", 8.0)
        low, high = rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
        old_ctx = rope.get("original_max_position_embeddings", 8192)
        low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
        out = []
        for f in freqs:
            wavelen = 2 * math.pi / f
            if wavelen < high_wavelen:
                out.append(1.0)
            elif wavelen > low_wavelen:
                out.append(factor)
            else:
                smooth = (old_ctx / wavelen - low) / (high - low)
                out.append(1 / ((1 - smooth) / factor + smooth))
        return [(gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", np.asarray(out, dtype=np.float32))]


def permute_rotary_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Per head, interleave the first and second half of the rows: (h, 2, d/2, ...) -> (h, d/2, 2, ...)."""
    return np.ascontiguousarray(
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))
