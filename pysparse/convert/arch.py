"""What each architecture contributes to a conversion: its GGUF architecture, its metadata keys, and the per-tensor
changes llama.cpp makes (q/k row permutation for Llama, +1 on Gemma's norms, ...). One module per architecture
registers a subclass here; `for_config(config)` picks it from config.json's `architectures`.

Tensor names come from gguf-py's own map (`gguf.get_tensor_name_map`), so they are llama.cpp's by construction.
"""

from __future__ import annotations

import numpy as np

import gguf

_REGISTRY: dict[str, type["Architecture"]] = {}


def register(cls: type["Architecture"]) -> type["Architecture"]:
    for name in cls.hf_architectures:
        _REGISTRY[name] = cls
    return cls


def supported() -> list[str]:
    return sorted(_REGISTRY)


def for_config(config: dict) -> "Architecture":
    names = config.get("architectures") or []
    for name in names:
        if name in _REGISTRY:
            return _REGISTRY[name](config)
    raise ValueError(f"unsupported architecture {', '.join(names) or '(config.json names none)'}; "
                     f"supported: {', '.join(supported())}")


class Architecture:
    hf_architectures: tuple[str, ...] = ()
    gguf_arch: gguf.MODEL_ARCH

    def __init__(self, config: dict):
        # Multimodal configs nest the language model's settings (text_config); text-only conversion reads those.
        self.config = {**config, **config.get("text_config", {})}
        self.n_layers = int(self._need("num_hidden_layers"))
        self.name_map = gguf.get_tensor_name_map(self.gguf_arch, self.n_layers)

    @property
    def arch_name(self) -> str:
        return gguf.MODEL_ARCH_NAMES[self.gguf_arch]

    def _need(self, key: str):
        if key not in self.config:
            raise ValueError(f"config.json has no {key!r}, which a {type(self).__name__} conversion needs")
        return self.config[key]

    # ---- rope parameters: transformers 5 writes `rope_parameters` (per attention type for Gemma 3), older
    # configs `rope_theta` + `rope_scaling`
    def rope(self, attention: str = "full_attention") -> dict:
        params = self.config.get("rope_parameters") or self.config.get("rope_scaling") or {}
        if attention in params and isinstance(params[attention], dict):
            params = params[attention]
        out = dict(params)
        if "rope_theta" not in out and "rope_theta" in self.config:
            out["rope_theta"] = self.config["rope_theta"]
        return out

    # ---- tensors
    def gguf_name(self, hf_name: str) -> str | None:
        """llama.cpp's name for a checkpoint tensor; None for tensors llama.cpp drops."""
        if hf_name.endswith((".rotary_emb.inv_freq", ".attention.masked_bias", ".attention.bias")):
            return None
        return self.name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))

    def out_shape(self, hf_name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape

    def transform(self, hf_name: str, data: np.ndarray) -> np.ndarray:
        """The values llama.cpp stores for this tensor (float32 in, float32 out)."""
        return data

    def extra_tensors(self) -> list[tuple[str, np.ndarray]]:
        """Tensors llama.cpp generates that are not in the checkpoint (e.g. Llama 3's rope_freqs)."""
        return []

    # ---- metadata (TextModel.set_gguf_parameters in llama.cpp's converter, for the keys these models use)
    def write_metadata(self, w: gguf.GGUFWriter) -> None:
        c = self.config
        w.add_block_count(self.n_layers)
        if (n_ctx := c.get("max_position_embeddings")) is not None:
            w.add_context_length(n_ctx)
        w.add_embedding_length(self._need("hidden_size"))
        if (n_ff := c.get("intermediate_size")) is not None:
            w.add_feed_forward_length(n_ff)
        if (n_head := c.get("num_attention_heads")) is not None:
            w.add_head_count(n_head)
        if (n_kv := c.get("num_key_value_heads")) is not None:
            w.add_head_count_kv(n_kv)
        rope = self.rope()
        rope_type, factor = rope.get("rope_type"), rope.get("factor")
        if rope_type == "linear" and factor is not None:
            w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            w.add_rope_scaling_factor(factor)
        elif rope_type == "yarn" and factor is not None:
            w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
            w.add_rope_scaling_factor(factor)
            w.add_rope_scaling_orig_ctx_len(rope["original_max_position_embeddings"])
        if (theta := rope.get("rope_theta")) is not None:
            w.add_rope_freq_base(theta)
        params = self.config.get("rope_parameters") or {}
        if isinstance(params.get("sliding_attention"), dict) and "rope_theta" in params["sliding_attention"]:
            w.add_rope_freq_base_swa(params["sliding_attention"]["rope_theta"])
        if (eps := c.get("rms_norm_eps")) is not None:
            w.add_layer_norm_rms_eps(eps)
        if (head_dim := c.get("head_dim")) is not None:
            w.add_key_length(head_dim)
            w.add_value_length(head_dim)

    def write_vocab_extras(self, w: gguf.GGUFWriter, tokenizer_config: dict, vocab_kind: str) -> None:
        """Per-architecture tokenizer keys llama.cpp adds after the vocabulary."""
