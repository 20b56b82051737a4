"""Sparsified masked-diffusion generation: the framework's Sparsifier at a site, a StepRule (scope, mask reuse)
as its rule, and per-step statistics, tied to the sampler's steps.

    dlm, tok = diffusion.load("random")
    with SparseDiffusion(dlm, "input", TopP(0.9), scope="sample", k=4) as sd:
        gen = sd.generate(prompt_ids, gen_length=32, steps=32, block_length=8)
    sd.steps.summary(); sd.steps.plot("out/"); sd.rule.work_saved; sd.sp.stats.overall()

rule=None runs the dense model through the same hooks (nothing is changed; natural zeros are still counted).
"""

from __future__ import annotations

from contextlib import contextmanager

from ..rules import Rule
from ..sites import Sparsifier
from .masks import StepRule
from .model import DiffusionLM
from .sampler import generate
from .stepstats import StepStats


class SparseDiffusion:
    def __init__(self, dlm: DiffusionLM, site: str = "input", rule: Rule | None = None, scope: str = "token",
                 k: int | None = 1, refresh_overlap: float | None = None, layers=None, record: bool = True):
        self.dlm = dlm
        self.sp = Sparsifier(dlm.model, site, None, layers=layers)
        self.steps = StepStats(self.sp.tensors, self.sp.n_layers) if record else None
        self.rule = StepRule(rule, scope, k, refresh_overlap, recorder=self.steps)
        self.sp.rule = self.rule
        self._generations = 0

    # -- hooks -------------------------------------------------------------------------------------------
    def attach(self) -> "SparseDiffusion":
        self.sp.attach()
        return self

    def detach(self) -> None:
        self.sp.detach()

    def __enter__(self):
        return self.attach()

    def __exit__(self, *exc):
        self.detach()

    @contextmanager
    def paused(self):
        """Run the unmodified model inside this block (hooks removed, then put back)."""
        was = self.sp.attached
        self.sp.detach()
        try:
            yield
        finally:
            if was:
                self.sp.attach()

    # -- the sampler's observer ------------------------------------------------------------------------
    def begin_step(self, step: int, block: int = 0) -> None:
        self.sp.set_tokens(None)  # every position of every sequence counts (no padding in generation)
        self.rule.begin_step(step)
        if self.steps is not None:
            self.steps.begin_step(step, block)

    def end_step(self, step: int, block: int = 0) -> None:
        if self.steps is not None:
            self.steps.end_step()

    def new_generation(self) -> None:
        self.rule.new_generation()
        if self.steps is not None and self._generations:
            self.steps.new_generation()
        self._generations += 1

    def generate(self, prompt, **kw):
        """pysparse.diffusion.generate with this sparsification (attached for the call if it is not)."""
        self.new_generation()
        if self.sp.attached:
            return generate(self.dlm, prompt, observer=self, **kw)
        with self:
            return generate(self.dlm, prompt, observer=self, **kw)
