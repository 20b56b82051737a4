"""The framework's tasks, sweep and critical-sparsity search on masked-diffusion LMs.

`DiffusionEvalContext` is the tasks' EvalContext for a diffusion model:
  loglikelihoods  Monte-Carlo masking (pysparse.diffusion.likelihood): multiple-choice tasks score choices with it
  greedy          the diffusion sampler, one token committed per step over the answer (temperature 0): cloze and
                  analogy tasks decode with it
  logits          not available (no next-token distribution): perplexity tasks become ElboPerplexityTask
`ElboPerplexityTask` is the perplexity task with each window's NLL taken from the ELBO (an upper bound on the
perplexity, as reported for diffusion LMs), same windows and budget; fidelity (KL / top-1) is not computed.
`DiffusionSweep` is pysparse.sweep.Sweep with that context and the rule at a scope (token | sample).
"""

from __future__ import annotations

import math
import time
import zlib

from ..sweep import Sweep
from ..tasks import PerplexityTask, TaskResult, build_suite
from ..tasks.base import EvalContext
from .likelihood import mc_loglikelihood
from .masks import ScopedRule, check_scope
from .model import DiffusionLM
from .sampler import generate


class _RuleSteps:
    """Sampler observer that tells a step-aware rule (StepRule) where the steps are."""

    def __init__(self, rule):
        self.rule = rule

    def begin_step(self, step, block=0):
        self.rule.begin_step(step)

    def end_step(self, step, block=0):
        pass


class DiffusionEvalContext(EvalContext):
    def __init__(self, dlm: DiffusionLM, tokenizer, sparsifier=None, batch_size: int = 8, progress: bool = True,
                 model_id: str | None = None, mc_samples: int = 32, mc_batch: int = 32, seed: int = 0,
                 cfg_scale: float = 0.0):
        super().__init__(dlm.model, tokenizer, sparsifier, batch_size, progress, model_id or dlm.name)
        if mc_samples < 1:
            raise ValueError(f"mc_samples must be >= 1, got {mc_samples}")
        self.dlm, self.mc_samples, self.mc_batch, self.seed, self.cfg_scale = dlm, mc_samples, mc_batch, seed, cfg_scale

    def logits(self, seqs):
        raise ValueError("perplexity and fidelity tasks need next-token logits, which a masked-diffusion model does "
                         "not give; use diffusion tasks (pysparse.diffusion.diffusion_suite turns perplexity tasks "
                         "into ELBO perplexity), multiple-choice and cloze tasks")

    def _tokens(self, phase):
        if self.sparsifier is not None:
            self.sparsifier.set_tokens(None, phase)  # no padding: every position counts

    def loglikelihoods(self, pairs, desc=""):
        out = []
        for c, t in self.bar(pairs, total=len(pairs), desc=desc):
            self._tokens("prompt")
            key = zlib.crc32(str((list(c), list(t))).encode())  # same masks at every sparsity level
            ll, _ = mc_loglikelihood(self.dlm, c, t, self.mc_samples, self.mc_batch, self.seed, key, self.cfg_scale)
            out.append(ll)
        return out

    def greedy(self, prompts, n_new):
        rule = None if self.sparsifier is None else self.sparsifier.rule
        stepped = hasattr(rule, "begin_step")
        out = []
        for p in prompts:
            self._tokens("generated")
            if stepped:
                rule.new_generation()
            g = generate(self.dlm, p, gen_length=n_new, steps=n_new, block_length=n_new, cfg_scale=self.cfg_scale,
                         observer=_RuleSteps(rule) if stepped else None)
            out.append(g.answer[0].tolist())
        return out


class ElboPerplexityTask(PerplexityTask):
    """Perplexity bound of a diffusion LM: exp(ELBO NLL / tokens) over the perplexity task's windows."""

    def __init__(self, *a, **kw):
        kw["fidelity"], kw["perplexity"] = False, True
        super().__init__(*a, **kw)

    @classmethod
    def from_task(cls, t: PerplexityTask, window: int = 128, stride: int = 64) -> "ElboPerplexityTask":
        return cls(t.docs, name=t.name, window=window, stride=stride, max_tokens=t.max_tokens,
                   max_tokens_per_doc=t.max_tokens_per_doc, seed=t.seed, dataset=t.dataset)

    def config(self) -> dict:
        return super().config() | {"task": "elbo_perplexity"}

    def evaluate(self, ctx) -> list[TaskResult]:
        self.prepare(ctx)
        t0 = time.perf_counter()
        lls = ctx.loglikelihoods([(w[:first], w[first:]) for w, first in self.windows], desc=self.name)
        nll = [-x for x in lls]
        ntok = [len(w) - first for w, first in self.windows]
        N, NLL = sum(ntok), sum(nll)
        m = {"perplexity": math.exp(NLL / N), "bound": "ELBO (upper bound on perplexity)", "tokens": N,
             "windows": len(nll)}
        return [TaskResult(f"{self.name}_ppl", "perplexity", False, m["perplexity"], m, nll, ntok, "exp",
                           seconds=time.perf_counter() - t0)]


def diffusion_suite(names="default", budget: str = "small", limit: int | None = None, seed: int = 0,
                    progress: bool = True) -> list:
    """pysparse.tasks.build_suite with every perplexity task replaced by its ELBO version."""
    return [ElboPerplexityTask.from_task(t) if isinstance(t, PerplexityTask) else t
            for t in build_suite(names, budget, limit, seed, progress=progress)]


class DiffusionSweep(Sweep):
    """Sweep / bisection of a rule on a diffusion model, the rule applied at `scope`."""

    def __init__(self, dlm: DiffusionLM, tokenizer, tasks, site: str, rule: str = "top_p", scope: str = "token",
                 mc_samples: int = 32, mc_batch: int = 32, cfg_scale: float = 0.0, extra: dict | None = None, **kw):
        self.scope = check_scope(scope)
        extra = dict(extra or {}, diffusion=True, scope=scope, mc_samples=mc_samples, cfg_scale=cfg_scale)
        kw.setdefault("model_id", dlm.name)
        super().__init__(dlm.model, tokenizer, tasks, site, rule, extra=extra, **kw)
        self.dlm = dlm
        self.ctx = DiffusionEvalContext(dlm, tokenizer, self.sp, batch_size=self.ctx.batch_size,
                                        progress=self.progress, model_id=self.model_id, mc_samples=mc_samples,
                                        mc_batch=mc_batch, seed=self.seed, cfg_scale=cfg_scale)

    def _make_rule(self, value: float):
        r = super()._make_rule(value)
        return r if self.scope == "token" else ScopedRule(r, self.scope)
