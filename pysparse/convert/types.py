"""Output types: which GGML type each tensor gets, as llama.cpp chooses it.

Plain types (F32, F16, BF16, Q8_0) follow llama.cpp's converter: 1-D tensors and norms stay F32, every other weight
takes the type. Q4_0 / Q4_1 / Q5_0 / Q5_1 and the K presets follow llama-quantize (`llama_tensor_get_type`):
- the output matrix (or the token embedding when it is tied to the output) gets Q6_K, or Q8_0 when its rows are
  not a multiple of 256 (Q8_0 itself keeps Q8_0);
- Q4_K_M / Q5_K_M: attn_v and ffn_down of the layers `use_more_bits` picks (the first and last eighth, and every
  third layer between) get Q6_K. As in llama.cpp, "layer" is the tensor's rank among the attn_v (ffn_down) tensors in
  file order, not the number in its name: checkpoints list blk.10 before blk.2, and llama.cpp counts in that order;
- K types whose row length is not a multiple of 256 fall back: Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, and to F16
  when even 32 does not divide the row.
A plain or 32-block type that does not divide a row is an error (llama.cpp's converter silently writes F16 there;
here the user asked for a type, so we say which tensor cannot take it and stop before any work).
"""

from __future__ import annotations

from dataclasses import dataclass

import gguf

Q = gguf.GGMLQuantizationType


@dataclass(frozen=True)
class Preset:
    name: str
    default: Q
    file_type: gguf.LlamaFileType
    quantize_like_llama_quantize: bool  # output / tied-embedding Q6_K rule and fallbacks


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("F32", Q.F32, gguf.LlamaFileType.ALL_F32, False),
    Preset("F16", Q.F16, gguf.LlamaFileType.MOSTLY_F16, False),
    Preset("BF16", Q.BF16, gguf.LlamaFileType.MOSTLY_BF16, False),
    Preset("Q8_0", Q.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0, True),
    Preset("Q4_0", Q.Q4_0, gguf.LlamaFileType.MOSTLY_Q4_0, True),
    Preset("Q4_1", Q.Q4_1, gguf.LlamaFileType.MOSTLY_Q4_1, True),
    Preset("Q5_0", Q.Q5_0, gguf.LlamaFileType.MOSTLY_Q5_0, True),
    Preset("Q5_1", Q.Q5_1, gguf.LlamaFileType.MOSTLY_Q5_1, True),
    Preset("Q4_K_M", Q.Q4_K, gguf.LlamaFileType.MOSTLY_Q4_K_M, True),
    Preset("Q5_K_M", Q.Q5_K, gguf.LlamaFileType.MOSTLY_Q5_K_M, True),
    Preset("Q6_K", Q.Q6_K, gguf.LlamaFileType.MOSTLY_Q6_K, True),
]}

K_FALLBACK = {Q.Q4_K: Q.Q5_0, Q.Q5_K: Q.Q5_1, Q.Q6_K: Q.Q8_0}


def preset(name: str) -> Preset:
    key = name.upper()
    if key not in PRESETS:
        raise ValueError(f"unknown output type {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[key]


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """llama.cpp's choice of layers that get more bits in the _M presets."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def is_quantizable(gguf_name: str, ndim: int) -> bool:
    """llama.cpp keeps 1-D tensors, norms and non-weights in F32."""
    return ndim >= 2 and gguf_name.endswith(".weight") and not gguf_name.endswith("_norm.weight")


def _block(t: Q) -> int:
    return gguf.GGML_QUANT_SIZES[t][0]


class Chooser:
    """Chooses each tensor's type in file order (the _M presets count attn_v / ffn_down tensors as they come)."""

    def __init__(self, p: Preset, names: list[str], n_layers: int, tied_embeddings: bool):
        self.p, self.tied = p, tied_embeddings
        self.n_attn_v = sum("attn_v.weight" in n for n in names)  # llama.cpp's n_attention_wv
        self.n_ffn_down = n_layers  # llama.cpp's n_ffn_down
        self.i_attn_v = self.i_ffn_down = 0

    def __call__(self, gguf_name: str, shape: tuple[int, ...]) -> Q:
        """The type of one tensor (shape in numpy order, so the row length is shape[-1]). Call in file order."""
        rank = None
        if is_quantizable(gguf_name, len(shape)) and self.p.quantize_like_llama_quantize and not self._is_output(gguf_name):
            if "attn_v.weight" in gguf_name:
                rank, self.i_attn_v = (self.i_attn_v, self.n_attn_v), self.i_attn_v + 1
            elif ".ffn_down." in gguf_name:
                rank, self.i_ffn_down = (self.i_ffn_down, self.n_ffn_down), self.i_ffn_down + 1
        return choose(self.p, gguf_name, shape, self.tied, rank)

    def _is_output(self, name: str) -> bool:
        return name == "output.weight" or (self.tied and name == "token_embd.weight")


def choose(p: Preset, gguf_name: str, shape: tuple[int, ...], tied_embeddings: bool,
           rank: tuple[int, int] | None = None) -> Q:
    """The type of one tensor; rank = (index, count) of an attn_v / ffn_down tensor among its kind (see Chooser)."""
    if not is_quantizable(gguf_name, len(shape)):
        return Q.F32
    if not p.quantize_like_llama_quantize:
        return p.default
    ncols = shape[-1]
    t = p.default
    is_output = gguf_name == "output.weight" or (tied_embeddings and gguf_name == "token_embd.weight")
    if is_output:
        if ncols % 256:
            t = Q.Q8_0
        elif t != Q.Q8_0:
            t = Q.Q6_K
    elif p.name in ("Q4_K_M", "Q5_K_M") and rank is not None and use_more_bits(*rank):
        t = Q.Q6_K
    if ncols % _block(t):
        if p.default in K_FALLBACK:  # the K presets: llama-quantize's per-tensor fallbacks
            t = K_FALLBACK.get(t, t)
            if ncols % _block(t):
                t = Q.F16
        else:
            raise ValueError(f"{gguf_name}: rows of {ncols} values cannot be stored as {t.name} (blocks of "
                             f"{_block(t)}); choose F16, BF16 or F32, or a K preset (which falls back per tensor)")
    return t
