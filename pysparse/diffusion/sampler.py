"""The masked-diffusion sampler (LLaDA-style): start from a fully masked answer and unmask it over `steps` steps.

At every step the model predicts all positions at once; each still-masked position of the current block gets a
candidate token (argmax, or a Gumbel-max sample at temperature > 0) and a confidence (the candidate's
probability; "random" remasking: a uniform draw). The `n_i` most confident candidates are committed and the rest
stay masked ("low-confidence remasking"). Committed tokens and the prompt are never changed again.

Semi-autoregressive blocks: the answer is cut into gen_length / block_length blocks decoded left to right, each
with steps / n_blocks steps; positions right of the current block are masked but cannot be committed yet.
n_i splits the block's masked count as evenly as possible over its steps (the remainder goes to the first ones).

Classifier-free guidance (cfg_scale > 0): each step also runs the model with the prompt masked, in the same
batch, and uses  uncond + (cfg_scale + 1) * (cond - uncond)  as the logits.

An `observer` (e.g. pysparse.diffusion.SparseDiffusion) is told when each step's forward pass starts and ends
(begin_step / end_step), so the FFN statistics can be kept per denoising step; if it has on_logits, it also sees
each step's input, logits and still-masked positions of the current block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .model import DiffusionLM

REMASKING = ("low_confidence", "random")


@dataclass
class Generation:
    ids: torch.Tensor              # [B, prompt_len + gen_length], fully unmasked
    prompt_len: int
    steps: int                     # denoising steps run (= model forward passes)
    committed: list = field(default_factory=list)  # per step: [B] number of positions committed
    trace: list | None = None      # per step: the sequence after the step (trace=True)

    @property
    def answer(self) -> torch.Tensor:
        return self.ids[:, self.prompt_len:]


def transfer_schedule(n_masked: torch.Tensor, steps: int) -> torch.Tensor:
    """[B, steps] tokens to commit per step: n_masked split evenly, the remainder on the first steps."""
    base = n_masked // steps
    rem = n_masked % steps
    out = base[:, None].repeat(1, steps)
    out += (torch.arange(steps)[None, :] < rem[:, None]).to(out.dtype)
    return out


def _check(gen_length, steps, block_length, remasking, cfg_scale, temperature):
    if gen_length < 1 or steps < 1:
        raise ValueError(f"gen_length and steps must be >= 1, got {gen_length} and {steps}")
    if block_length < 1 or gen_length % block_length:
        raise ValueError(f"block_length ({block_length}) must divide gen_length ({gen_length})")
    n_blocks = gen_length // block_length
    if steps % n_blocks:
        raise ValueError(f"steps ({steps}) must be a multiple of the number of blocks ({n_blocks} = "
                         f"gen_length / block_length)")
    if remasking not in REMASKING:
        raise ValueError(f"unknown remasking {remasking!r}; choose from {', '.join(REMASKING)}")
    if cfg_scale < 0 or temperature < 0:
        raise ValueError(f"cfg_scale and temperature must be >= 0, got {cfg_scale} and {temperature}")
    return n_blocks


@torch.no_grad()
def generate(dlm: DiffusionLM, prompt, gen_length: int = 32, steps: int = 32, block_length: int | None = None,
             temperature: float = 0.0, cfg_scale: float = 0.0, remasking: str = "low_confidence", seed: int = 0,
             observer=None, trace: bool = False) -> Generation:
    """Generate gen_length tokens after each prompt row (prompt: [P] or [B, P] token ids, no padding)."""
    prompt = torch.as_tensor(prompt, dtype=torch.long)
    if prompt.dim() == 1:
        prompt = prompt[None]
    if prompt.dim() != 2 or prompt.shape[1] < 1:
        raise ValueError(f"prompt must be [P] or [B, P] token ids with P >= 1, got shape {tuple(prompt.shape)}")
    if (prompt == dlm.mask_id).any():
        raise ValueError(f"the prompt contains the mask token {dlm.mask_id}")
    block_length = gen_length if block_length is None else int(block_length)
    n_blocks = _check(gen_length, steps, block_length, remasking, cfg_scale, temperature)
    per_block = steps // n_blocks
    B, P = prompt.shape
    x = torch.full((B, P + gen_length), dlm.mask_id, dtype=torch.long)
    x[:, :P] = prompt
    is_prompt = torch.zeros_like(x, dtype=torch.bool)
    is_prompt[:, :P] = True
    g = torch.Generator().manual_seed(int(seed))
    out = Generation(x, P, 0, [], [] if trace else None)
    step = 0
    for b in range(n_blocks):
        lo, hi = P + b * block_length, P + (b + 1) * block_length
        schedule = transfer_schedule((x[:, lo:hi] == dlm.mask_id).sum(1), per_block)
        for i in range(per_block):
            masked = x == dlm.mask_id
            if observer is not None:
                observer.begin_step(step, b)
            logits = _guided_logits(dlm, x, is_prompt, cfg_scale)
            if observer is not None:
                observer.end_step(step, b)
                if hasattr(observer, "on_logits"):  # e.g. fidelity to the dense model along this trajectory
                    observer.on_logits(step, x, logits, masked[:, lo:hi], (lo, hi))
            cand, conf = _candidates(logits, temperature, remasking, g)
            conf[:, :lo] = -torch.inf
            conf[:, hi:] = -torch.inf
            conf = torch.where(masked, conf, torch.full_like(conf, -torch.inf))
            commit = torch.zeros_like(masked)
            for r in range(B):
                k = int(schedule[r, i])
                if k:
                    commit[r, torch.topk(conf[r], k).indices] = True
            x = torch.where(commit, cand, x)
            out.committed.append(commit.sum(1).tolist())
            if trace:
                out.trace.append(x.clone())
            step += 1
    out.ids, out.steps = x, step
    return out


def _guided_logits(dlm, x, is_prompt, cfg_scale):
    if cfg_scale <= 0:
        return dlm.logits(x)
    uncond = torch.where(is_prompt, torch.full_like(x, dlm.mask_id), x)
    cond, unc = dlm.logits(torch.cat([x, uncond])).chunk(2)
    return unc + (cfg_scale + 1.0) * (cond - unc)


def _candidates(logits, temperature, remasking, g):
    if temperature > 0:  # Gumbel-max: a sample of softmax(logits / temperature)
        u = torch.rand(logits.shape, generator=g, dtype=torch.float64).clamp_(1e-20, 1.0)
        cand = (logits.double() / temperature - torch.log(-torch.log(u))).argmax(-1)
    else:
        cand = logits.argmax(-1)
    if remasking == "low_confidence":
        conf = torch.softmax(logits.double(), -1).gather(-1, cand[..., None])[..., 0]
    else:
        conf = torch.rand(cand.shape, generator=g, dtype=torch.float64)
    return cand, conf
