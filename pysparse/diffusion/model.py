"""Masked-diffusion LMs: a bidirectional transformer that predicts every masked position at once.

`DiffusionLM` wraps whatever module computes the logits and says how to read them:
  mask_id       the [MASK] token the sampler starts from
  shift_logits  Dream-style models (adapted from an autoregressive LM) predict position i from the hidden state
                at i - 1, so their logits are shifted right by one before use; LLaDA-style models are not
Loading (`load`):
  "random" | "random:SEED"   a small random-initialised Llama-style stack with the causal mask removed and a mask
                             token, with a byte-level tokenizer (no weights needed; what the tests and the
                             committed examples run on)
  DIR | ORG/NAME             a checkpoint directory a user has (LLaDA, Dream, ...) or a Hugging Face Hub id
                             (downloaded by transformers): remote code is loaded with trust_remote_code=True, so
                             only point this at checkpoints you trust
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# [MASK] ids of the public checkpoints whose tokenizers may not name a mask token.
KNOWN_MASK_IDS = {"llada": 126336}
# model_type values whose logits are shifted right by one (AR-adapted diffusion LMs).
SHIFTED_TYPES = ("dream",)


class ByteTokenizer:
    """Byte-level tokenizer of the random model: 0 pad, 1 bos, 2 eos, 3..127 ASCII 3..127, 128 [MASK].

    Implements the slice of the Hugging Face interface pysparse's tasks use."""

    pad_token_id, bos_token_id, eos_token_id, mask_token_id = 0, 1, 2, 128
    add_bos_token = True
    vocab_size = 129

    def __call__(self, text, add_special_tokens=True, **_):
        ids = [min(127, max(3, ord(c))) for c in text]
        return {"input_ids": ([self.bos_token_id] if add_special_tokens else []) + ids}

    def encode(self, text, add_special_tokens=False):
        return self(text, add_special_tokens)["input_ids"]

    def decode(self, ids, skip_special_tokens=True):
        ids = ids.tolist() if torch.is_tensor(ids) else ids
        return "".join(chr(i) if 3 <= i < 128 else ("" if skip_special_tokens else "\u2588") for i in ids)


class BidirectionalLM(nn.Module):
    """A Hugging Face Llama-style causal LM run with full (non-causal) attention: every position sees every
    other non-padding position. The causal mask is removed by passing a prepared 4-D additive mask, which the
    Llama stack uses as is; the FFNs are the wrapped model's, so pysparse's sites find and hook them."""

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.lm = lm
        self.config = lm.config

    def forward(self, input_ids, attention_mask=None, **_):
        B, T = input_ids.shape
        dtype = next(self.lm.parameters()).dtype
        mask = torch.zeros(B, 1, T, T, dtype=dtype, device=input_ids.device)
        if attention_mask is not None:  # padded keys are never attended to
            pad = ~attention_mask.to(torch.bool)
            mask = mask.masked_fill(pad[:, None, None, :], torch.finfo(dtype).min)
        return self.lm(input_ids=input_ids, attention_mask=mask, use_cache=False)


def random_model(seed: int = 0, hidden: int = 64, ffn: int = 256, layers: int = 4, heads: int = 4,
                 init_std: float = 0.15, max_len: int = 512) -> BidirectionalLM:
    """The small random masked-diffusion model: Llama layers (SwiGLU FFN), vocab of ByteTokenizer, eager
    attention, float32, eval mode. Weight matrices are N(0, init_std) so activations have real spread."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    t = ByteTokenizer
    cfg = LlamaConfig(vocab_size=t.vocab_size, hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=max_len,
                      pad_token_id=t.pad_token_id, bos_token_id=t.bos_token_id, eos_token_id=t.eos_token_id,
                      tie_word_embeddings=False)
    cfg.mask_token_id = t.mask_token_id
    torch.manual_seed(seed)
    lm = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in lm.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * init_std)
    return BidirectionalLM(lm).eval()


@dataclass
class DiffusionLM:
    """A masked-diffusion LM and how to read it. `model(input_ids=..., attention_mask=...)` returns `.logits`."""

    model: nn.Module
    mask_id: int
    shift_logits: bool = False
    name: str = "diffusion-lm"

    def __post_init__(self):
        cfg = getattr(self.model, "config", None)
        vocab = max(int(getattr(cfg, "vocab_size", 0) or 0), int(getattr(cfg, "embedding_size", 0) or 0))
        if vocab and not 0 <= int(self.mask_id) < vocab:  # LLaDA's embedding table is padded past vocab_size
            raise ValueError(f"mask id {self.mask_id} is outside the model's vocabulary ({vocab})")
        self.mask_id = int(self.mask_id)

    @torch.no_grad()
    def logits(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Float32 logits [B, T, V] predicting the token at every position of x [B, T]."""
        kw = {} if attention_mask is None else {"attention_mask": attention_mask}
        out = self.model(input_ids=x, **kw)
        lg = (out.logits if hasattr(out, "logits") else out[0]).float()
        if self.shift_logits:
            lg = torch.cat([lg[:, :1], lg[:, :-1]], dim=1)
        return lg


def _mask_id_of(model, tok, mask_id):
    if mask_id is not None:
        return int(mask_id)
    for src in (tok, getattr(model, "config", None)):
        m = getattr(src, "mask_token_id", None)
        if m is not None:
            return int(m)
    mt = str(getattr(getattr(model, "config", None), "model_type", "")).lower()
    if mt in KNOWN_MASK_IDS:
        return KNOWN_MASK_IDS[mt]
    raise ValueError(f"cannot tell the model's [MASK] token id (model_type {mt!r}, tokenizer has no "
                     f"mask_token_id); pass mask_id=... (CLI: --mask-id)")


def load(name_or_path: str | Path, mask_id: int | None = None, dtype=None, shift_logits: bool | None = None):
    """(DiffusionLM, tokenizer) for "random[:SEED]", a checkpoint directory or a Hub id (remote code trusted)."""
    s = str(name_or_path)
    if s == "random" or s.startswith("random:"):
        try:
            seed = int(s.split(":", 1)[1]) if ":" in s else 0
        except ValueError:
            raise ValueError(f"{s!r}: expected random or random:SEED with an integer seed") from None
        model = random_model(seed)
        model.pysparse_name = s
        tok = ByteTokenizer()
        return DiffusionLM(model, tok.mask_token_id if mask_id is None else mask_id, False, s), tok
    p = Path(s)
    hub_id = not p.exists() and re.fullmatch(r"[\w.-]+/[\w.-]+", s) is not None
    if not hub_id and not (p / "config.json").exists():
        raise FileNotFoundError(f"{s}: not a checkpoint directory with a config.json, a Hugging Face Hub id "
                                f"(org/name) or 'random[:SEED]' (no diffusion LLM weights ship with pysparse; see "
                                f"docs/diffusion.md)")
    from transformers import AutoModel, AutoTokenizer

    dtype = torch.float32 if dtype is None else dtype
    src = s if hub_id else p
    try:
        tok = AutoTokenizer.from_pretrained(src, trust_remote_code=True)
        model = AutoModel.from_pretrained(src, trust_remote_code=True, dtype=dtype)
    except (OSError, KeyError, ImportError, AttributeError, TypeError, ValueError) as e:
        raise RuntimeError(f"could not load {s} with trust_remote_code: {type(e).__name__}: {e}") from e
    model.eval()
    model.pysparse_name = p.name
    mt = str(getattr(model.config, "model_type", "")).lower()
    shift = (mt in SHIFTED_TYPES) if shift_logits is None else bool(shift_logits)
    if tok.pad_token_id is None and tok.eos_token_id is not None:
        tok.pad_token = tok.eos_token
    return DiffusionLM(model, _mask_id_of(model, tok, mask_id), shift, p.name), tok
