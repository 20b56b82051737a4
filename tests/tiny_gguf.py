"""Writes a transformers model's weights to a GGUF file (gguf's writer) the way llama.cpp's converter names and
lays them out, for engine tests on tiny random models: llama (q/k rows permuted for llama.cpp's rotary pairing),
qwen2, qwen3, gemma3 (norm weights stored with gemma's +1). Float32 or float16 tensors, no tokenizer.

This is a test helper for small random models, not the product's converter.
"""

from __future__ import annotations

import gguf
import numpy as np

ARCH = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma3_text": "gemma3"}


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    # llama.cpp's converter: reorder each head's rows from (first half, second half) to interleaved pairs
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(model, path, dtype=np.float32, sliding_window_pattern: int | None = None) -> None:
    cfg = model.config
    mt = cfg.model_type
    arch = ARCH[mt]
    gemma = arch == "gemma3"
    hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    rope_theta = getattr(cfg, "rope_theta", None)
    if rope_theta is None:
        rp = getattr(cfg, "rope_parameters", None) or {}
        rope_theta = (rp.get("full_attention", rp) or {}).get("rope_theta", 10000.0)
    w.add_rope_freq_base(float(rope_theta))
    if gemma:
        w.add_sliding_window(cfg.sliding_window)
        if sliding_window_pattern:
            w.add_uint32("gemma3.attention.sliding_window_pattern", sliding_window_pattern)

    def put(name, t, permute_heads=None, plus_one=False):
        a = t.detach().float().numpy()
        if plus_one:
            a = a + 1.0
        if permute_heads:
            a = _permute(a, permute_heads)
        w.add_tensor(name, np.ascontiguousarray(a.astype(np.float32 if a.ndim == 1 else dtype)))

    sd = model.state_dict()
    put("token_embd.weight", sd["model.embed_tokens.weight"])
    put("output_norm.weight", sd["model.norm.weight"], plus_one=gemma)
    if "lm_head.weight" in sd and not cfg.tie_word_embeddings:
        put("output.weight", sd["lm_head.weight"])
    for i in range(cfg.num_hidden_layers):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        put(b + "attn_norm.weight", sd[p + "input_layernorm.weight"], plus_one=gemma)
        if gemma:
            put(b + "post_attention_norm.weight", sd[p + "post_attention_layernorm.weight"], plus_one=True)
            put(b + "ffn_norm.weight", sd[p + "pre_feedforward_layernorm.weight"], plus_one=True)
            put(b + "post_ffw_norm.weight", sd[p + "post_feedforward_layernorm.weight"], plus_one=True)
        else:
            put(b + "ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        perm = arch == "llama"
        put(b + "attn_q.weight", sd[p + "self_attn.q_proj.weight"], cfg.num_attention_heads if perm else None)
        put(b + "attn_k.weight", sd[p + "self_attn.k_proj.weight"], cfg.num_key_value_heads if perm else None)
        put(b + "attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        put(b + "attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        for proj in ("q", "k", "v"):
            if p + f"self_attn.{proj}_proj.bias" in sd:
                put(b + f"attn_{proj}.bias", sd[p + f"self_attn.{proj}_proj.bias"])
        for proj in ("q", "k"):
            if p + f"self_attn.{proj}_norm.weight" in sd:
                put(b + f"attn_{proj}_norm.weight", sd[p + f"self_attn.{proj}_norm.weight"], plus_one=gemma)
        put(b + "ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        put(b + "ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        put(b + "ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
