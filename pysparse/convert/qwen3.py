"""Qwen3: Qwen2's conventions plus per-head q/k RMS norms (mapped by gguf's table to attn_q_norm / attn_k_norm)
and an explicit head_dim (written as attention.key_length / value_length)."""

from __future__ import annotations

import gguf

from .arch import register
from .qwen2 import Qwen2


@register
class Qwen3(Qwen2):
    hf_architectures = ("Qwen3ForCausalLM",)
    gguf_arch = gguf.MODEL_ARCH.QWEN3
