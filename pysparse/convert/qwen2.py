"""Qwen2 (and Qwen2.5): plain llama.cpp `Qwen2Model`, no permutation (llama.cpp uses NEOX-style rope for qwen2)."""

from __future__ import annotations

import gguf

from .arch import Architecture, register


@register
class Qwen2(Architecture):
    hf_architectures = ("Qwen2ForCausalLM",)
    gguf_arch = gguf.MODEL_ARCH.QWEN2
