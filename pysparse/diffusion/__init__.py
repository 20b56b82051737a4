"""Masked-diffusion LLMs (LLaDA, Dream): the sampler, sparsification per denoising step, mask reuse across steps,
and Monte-Carlo likelihood so the framework's tasks, sweeps and critical-sparsity search run on them.

    from pysparse import diffusion, rules
    dlm, tok = diffusion.load("random")                 # or a LLaDA / Dream checkpoint directory
    prompt = tok("The capital of France is")["input_ids"]
    with diffusion.SparseDiffusion(dlm, "input", rules.TopP(0.9), scope="sample", k=4) as sd:
        gen = sd.generate(prompt, gen_length=32, steps=32, block_length=8)
    print(tok.decode(gen.answer[0]), sd.sp.stats.overall(), sd.rule.work_saved, sd.steps.summary())

See docs/diffusion.md.
"""

from .evaluate import DiffusionEvalContext, DiffusionSweep, ElboPerplexityTask, diffusion_suite
from .likelihood import exact_elbo, mc_loglikelihood
from .masks import SCOPES, ScopedRule, StepRule, scoped_mask
from .model import BidirectionalLM, ByteTokenizer, DiffusionLM, load, random_model
from .sampler import Generation, generate, transfer_schedule
from .sparse import SparseDiffusion
from .stepstats import StepStats
from .strategy import compare_reuse, parse_setting, reuse_table

__all__ = ["DiffusionEvalContext", "DiffusionSweep", "ElboPerplexityTask", "diffusion_suite", "exact_elbo",
           "mc_loglikelihood", "SCOPES", "ScopedRule", "StepRule", "scoped_mask", "BidirectionalLM",
           "ByteTokenizer", "DiffusionLM", "load", "random_model", "Generation", "generate", "transfer_schedule",
           "SparseDiffusion", "StepStats", "compare_reuse", "parse_setting", "reuse_table"]
