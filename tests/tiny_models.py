"""Tiny random-initialised causal LMs of every architecture pysparse supports, built from transformers configs.

    from tiny_models import TINY_ARCHS, build_tiny
    model = build_tiny("llama")          # eval mode, float32, eager attention, seeded

Sizes: hidden 32, 2 layers, vocab 128, so every model builds and runs in milliseconds. The weights are
scaled up from transformers' default init (std 0.02) so activations are not all tiny and rules see real spread.
MoE models use experts_implementation="eager", the path pysparse's experts hook reproduces bit for bit.
"""

from __future__ import annotations

import functools

import torch

VOCAB = 128
HIDDEN = 32
FFN = 64
LAYERS = 2


def _common(**kw):
    base = dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, pad_token_id=0,
                bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    base.update(kw)
    return base


def _configs():
    import transformers as tf

    moe = dict(num_experts_per_tok=2)
    return {
        "llama": lambda: tf.LlamaConfig(**_common()),
        "mistral": lambda: tf.MistralConfig(**_common(sliding_window=None)),
        "qwen2": lambda: tf.Qwen2Config(**_common()),
        "qwen3": lambda: tf.Qwen3Config(**_common(head_dim=8)),
        "gemma3_text": lambda: tf.Gemma3TextConfig(**_common(head_dim=8, sliding_window=16,
                                                              layer_types=["sliding_attention", "full_attention"])),
        "phi3": lambda: tf.Phi3Config(**_common(num_key_value_heads=4)),
        "gpt2": lambda: tf.GPT2Config(vocab_size=VOCAB, n_embd=HIDDEN, n_layer=LAYERS, n_head=4, n_positions=128,
                                      n_inner=FFN, pad_token_id=0, bos_token_id=1, eos_token_id=2),
        "gpt_neox": lambda: tf.GPTNeoXConfig(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN,
                                             num_hidden_layers=LAYERS, num_attention_heads=4,
                                             max_position_embeddings=128, pad_token_id=0, bos_token_id=1,
                                             eos_token_id=2),
        "opt": lambda: tf.OPTConfig(vocab_size=VOCAB, hidden_size=HIDDEN, ffn_dim=FFN, num_hidden_layers=LAYERS,
                                    num_attention_heads=4, word_embed_proj_dim=HIDDEN, max_position_embeddings=128,
                                    pad_token_id=0, bos_token_id=1, eos_token_id=2),
        "mixtral": lambda: tf.MixtralConfig(**_common(num_local_experts=4, sliding_window=None, **moe)),
        "qwen2_moe": lambda: tf.Qwen2MoeConfig(**_common(num_experts=4, moe_intermediate_size=48,
                                                         shared_expert_intermediate_size=FFN, decoder_sparse_step=1,
                                                         **moe)),
        "qwen3_moe": lambda: tf.Qwen3MoeConfig(**_common(num_experts=4, moe_intermediate_size=48, head_dim=8,
                                                         decoder_sparse_step=1, **moe)),
        "olmoe": lambda: tf.OlmoeConfig(**_common(num_experts=4, **moe)),
    }


TINY_ARCHS = ("llama", "mistral", "qwen2", "qwen3", "gemma3_text", "phi3", "gpt2", "gpt_neox", "opt",
              "mixtral", "qwen2_moe", "qwen3_moe", "olmoe")
GLU_ARCHS = ("llama", "mistral", "qwen2", "qwen3", "gemma3_text", "phi3")
MLP_ARCHS = ("gpt2", "gpt_neox", "opt")
MOE_ARCHS = ("mixtral", "qwen2_moe", "qwen3_moe", "olmoe")


def tiny_config(arch: str):
    cfgs = _configs()
    if arch not in cfgs:
        raise ValueError(f"unknown tiny architecture {arch!r}; known: {', '.join(TINY_ARCHS)}")
    return cfgs[arch]()


def build_tiny(arch: str, seed: int = 0, dtype=torch.float32, init_std: float = 0.2):
    """A tiny random model of `arch` (see TINY_ARCHS), eval mode. init_std rescales weight matrices."""
    from transformers import AutoModelForCausalLM

    cfg = tiny_config(arch)
    torch.manual_seed(seed)
    kw = dict(attn_implementation="eager")
    if arch in MOE_ARCHS:
        kw["experts_implementation"] = "eager"
    model = AutoModelForCausalLM.from_config(cfg, **kw)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:  # matrices and 3-D expert tensors; norms and biases keep their init
                p.copy_(torch.randn(p.shape, generator=g) * init_std)
    return model.to(dtype).eval()


@functools.lru_cache(maxsize=None)
def tiny_model(arch: str):
    """build_tiny(arch) built once per process (tests share it; Sparsifier.detach restores it exactly)."""
    return build_tiny(arch)


def tiny_batch(batch: int = 2, seq: int = 8, left_pad=(0, 3), seed: int = 0):
    """input_ids and a left-padded attention_mask: row i has left_pad[i] padding positions."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.long)
    for i, n in enumerate(left_pad[:batch]):
        mask[i, :n] = 0
        ids[i, :n] = 0
    return {"input_ids": ids, "attention_mask": mask}


def build_tiny_diffusion(seed: int = 0, hidden: int = HIDDEN, ffn: int = FFN, layers: int = LAYERS):
    """A tiny masked-diffusion LM: the Llama stack with the causal mask removed, random weights, a [MASK] token
    (pysparse.diffusion.random_model at test size) -> (DiffusionLM, ByteTokenizer)."""
    from pysparse.diffusion import ByteTokenizer, DiffusionLM, random_model

    tok = ByteTokenizer()
    return DiffusionLM(random_model(seed, hidden=hidden, ffn=ffn, layers=layers), tok.mask_token_id), tok
