"""Likelihood of an answer under a masked-diffusion LM by Monte-Carlo masking (how LLaDA scores multiple choice).

A masked-diffusion LM gives no exact log-likelihood, but a lower bound (the ELBO). For a target of L tokens after
a context: draw k uniformly from {1, ..., L}, mask k target positions chosen uniformly at random (the context stays
visible), and score

    loss = (L / k) * sum over masked positions i of -log p(x_i | the masked sequence)

E[loss] >= -log p(target | context); the estimate is -mean(loss) over n samples, with standard error
std(loss) / sqrt(n). A model whose predictions do not depend on the other positions makes the bound exact.
`exact_elbo` enumerates every mask (small L) for tests and checks.

Samples are drawn from a generator seeded by (seed, key), so every sparsity level of a sweep sees the same masks
(common random numbers: differences between levels are not masking noise).
"""

from __future__ import annotations

import itertools
import math

import torch

from .model import DiffusionLM


def _seq(context, target):
    c = torch.as_tensor(list(context), dtype=torch.long)
    t = torch.as_tensor(list(target), dtype=torch.long)
    if t.numel() < 1:
        raise ValueError("the target must have at least one token")
    return torch.cat([c, t]), c.numel(), t.numel()


def _masked_nll(dlm: DiffusionLM, seq: torch.Tensor, masks: torch.Tensor, cfg_scale: float = 0.0,
                n_context: int = 0) -> torch.Tensor:
    """[n] sums of -log p(x_i) over the masked positions of each row of masks [n, T] (bool)."""
    x = torch.where(masks, torch.full_like(masks, dlm.mask_id, dtype=torch.long), seq[None].expand_as(masks))
    if cfg_scale > 0:  # guidance as in the sampler: the unconditional pass masks the context too
        unc = x.clone()
        unc[:, :n_context] = dlm.mask_id
        cond, un = dlm.logits(torch.cat([x, unc])).chunk(2)
        logits = un + (cfg_scale + 1.0) * (cond - un)
    else:
        logits = dlm.logits(x)
    lp = torch.log_softmax(logits.double(), -1).gather(-1, seq[None, :, None].expand(len(x), -1, 1))[..., 0]
    return -(lp * masks).sum(1)


@torch.no_grad()
def mc_loglikelihood(dlm: DiffusionLM, context, target, n_samples: int = 32, batch_size: int = 32, seed: int = 0,
                     key: int = 0, cfg_scale: float = 0.0) -> tuple[float, float]:
    """(estimate, standard error) of the ELBO of log p(target | context) from n_samples random maskings."""
    if n_samples < 1 or batch_size < 1:
        raise ValueError(f"n_samples and batch_size must be >= 1, got {n_samples} and {batch_size}")
    seq, P, L = _seq(context, target)
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(key))
    losses = []
    for start in range(0, n_samples, batch_size):
        n = min(batch_size, n_samples - start)
        k = torch.randint(1, L + 1, (n,), generator=g)
        order = torch.rand(n, L, generator=g).argsort(1)             # a random permutation per sample
        tmask = order < k[:, None]                                    # its first k positions are masked
        masks = torch.zeros(n, P + L, dtype=torch.bool)
        masks[:, P:] = tmask
        losses.append(_masked_nll(dlm, seq, masks, cfg_scale, P) * (L / k.double()))
    loss = torch.cat(losses)
    se = float(loss.std(unbiased=True) / math.sqrt(len(loss))) if len(loss) > 1 else float("nan")
    return -float(loss.mean()), se


@torch.no_grad()
def exact_elbo(dlm: DiffusionLM, context, target, cfg_scale: float = 0.0, max_len: int = 12) -> float:
    """The expectation mc_loglikelihood estimates, by enumerating all 2^L - 1 masks (L <= max_len)."""
    seq, P, L = _seq(context, target)
    if L > max_len:
        raise ValueError(f"exact_elbo enumerates 2^L masks; L = {L} > max_len = {max_len}")
    total = 0.0
    for k in range(1, L + 1):
        subsets = list(itertools.combinations(range(L), k))
        masks = torch.zeros(len(subsets), P + L, dtype=torch.bool)
        for r, s in enumerate(subsets):
            masks[r, [P + i for i in s]] = True
        # P(k) = 1/L, P(subset | k) = 1 / C(L, k), weight L / k
        total += float(_masked_nll(dlm, seq, masks, cfg_scale, P).sum()) * (L / k) / (L * len(subsets))
    return -total
