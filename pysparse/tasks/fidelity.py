"""Label-free fidelity to the dense model: KL divergence of next-token distributions and top-1 agreement.

The dense reference is computed once per (model, task config) and kept compactly: for every scored position
the dense model's top-K token ids and log-probabilities (K = 128) and its argmax. The KL is then computed on
the coarsened distribution {those K tokens, everything else}:

    KL = sum_{i in topK} P_i (log P_i - log Q_i) + P_rest (log P_rest - log Q_rest)

which is a lower bound of the full KL(P_dense || Q_sparse) (coarsening never increases a KL) and equals it up
to the dense tail beyond K tokens (usually < 1e-3 of the mass). This keeps the reference at a few MB even for
a 151k-token vocabulary. Top-1 agreement (sparse argmax == dense argmax) is exact and is the fidelity task's
primary, retention-like score (dense = 1.0), as llama.cpp's KL/agreement statistics for quantisation.

References are cached on disk (<cache>/refs/<model>/<task hash>.pt) so a resumed sweep does not recompute them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..artifacts import cache_dir

TOP_K = 128


def reference_of(logits: torch.Tensor, k: int = TOP_K) -> dict:
    """Dense reference for logits [N, V]: top-k ids / log-probs and argmax."""
    lp = torch.log_softmax(logits.float(), dim=-1)
    top_lp, top_id = lp.topk(min(k, lp.shape[-1]), dim=-1)
    return {"top_id": top_id.to(torch.int32), "top_lp": top_lp, "argmax": top_id[:, 0].clone()}


def compare(ref: dict, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position (KL, top-1 agreement) of sparse logits [N, V] against a dense reference."""
    lq = torch.log_softmax(logits.float(), dim=-1)
    q_top = lq.gather(-1, ref["top_id"].long())
    p_top = ref["top_lp"]
    P = p_top.exp()
    kl = (P * (p_top - q_top)).sum(-1)
    p_rest = (1 - P.sum(-1)).clamp(min=0)
    q_rest = (1 - q_top.exp().sum(-1)).clamp(min=1e-30)
    tail = torch.where(p_rest > 1e-12, p_rest * (p_rest.clamp(min=1e-30).log() - q_rest.log()),
                       torch.zeros_like(p_rest))
    kl = (kl + tail).clamp(min=0)
    agree = (lq.argmax(-1) == ref["argmax"].long()).float()
    return kl, agree


def _ref_path(model_id: str, key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_id)
    return cache_dir("refs") / safe / f"{key}.pt"


def load_reference(model_id: str, key: str):
    p = _ref_path(model_id, key)
    if p.exists():
        try:
            return torch.load(p, weights_only=True)
        except Exception:  # a truncated or foreign file: recompute
            return None
    return None


def save_reference(model_id: str, key: str, refs) -> None:
    import os

    p = _ref_path(model_id, key)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + f".tmp{os.getpid()}")
    torch.save(refs, tmp)
    os.replace(tmp, p)
