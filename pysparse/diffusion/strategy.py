"""Mask reuse across denoising steps, measured against the dense sampler (the diffusion-specific strategy).

For each setting (k, refresh_overlap) the same prompts are generated with the rule applied through a StepRule and,
at every step, the dense model is run on the same partially-masked sequence (hooks paused) to compare:
  agree        fraction of answer tokens equal to the dense sampler's answer (its own trajectory)
  top1         fraction of still-masked positions of the current block where the sparse and dense argmax agree
  kl           mean KL(dense || sparse) of the predictions there
  sparsity     pooled over every FFN call of the generation (site tensors, all positions)
  work_saved   1 - entries selected / entries the plain sparse sampler (k = 1) selects
  refreshes    steps at which an overlap drop forced a refresh (refresh_overlap settings)
  dense_ll     the dense model's likelihood of the generated answers, per answer token (Monte-Carlo ELBO with
               `judge_samples` maskings, the same maskings for every setting; judge_samples=0: not computed)
The row "dense" is the dense sampler itself; k = 1 without refresh is the plain sparse sampler.
"""

from __future__ import annotations

import math

import torch

from ..rules import Rule
from .likelihood import mc_loglikelihood
from .model import DiffusionLM
from .sampler import _guided_logits, generate
from .sparse import SparseDiffusion


class _Fidelity:
    """Observer: SparseDiffusion's step hooks plus a dense forward on the same input at every step."""

    def __init__(self, sd: SparseDiffusion, cfg_scale: float, prompt_len: int):
        self.sd, self.cfg, self.P = sd, cfg_scale, prompt_len
        self.agree = self.n = 0
        self.kl = 0.0

    def begin_step(self, step, block=0):
        self.sd.begin_step(step, block)

    def end_step(self, step, block=0):
        self.sd.end_step(step, block)

    def on_logits(self, step, x, logits, masked_block, span):
        lo, hi = span
        if not masked_block.any():
            return
        with self.sd.paused():
            is_prompt = torch.zeros_like(x, dtype=torch.bool)
            is_prompt[:, :self.P] = True
            dense = _guided_logits(self.sd.dlm, x, is_prompt, self.cfg)
        d, s = dense[:, lo:hi][masked_block], logits[:, lo:hi][masked_block]
        lp, lq = torch.log_softmax(d.double(), -1), torch.log_softmax(s.double(), -1)
        self.kl += float((lp.exp() * (lp - lq)).sum())
        self.agree += int((d.argmax(-1) == s.argmax(-1)).sum())
        self.n += int(masked_block.sum())


def parse_setting(s: str) -> dict:
    """'4' -> k=4; 'o0.6' -> refresh when overlap < 0.6, no age limit; '8o0.6' -> both."""
    s = str(s).strip()
    try:
        if "o" in s:
            k, tau = s.split("o", 1)
            return {"k": int(k) if k else None, "refresh_overlap": float(tau)}
        return {"k": int(s), "refresh_overlap": None}
    except ValueError:
        raise ValueError(f"reuse setting {s!r}: expected K (an integer), oTAU (refresh when the overlap drops "
                         f"below TAU) or KoTAU") from None


def setting_name(k, refresh_overlap) -> str:
    kk = "inf" if k is None or k == math.inf else str(k)
    return f"k={kk}" + ("" if refresh_overlap is None else f", refresh<{refresh_overlap:g}")


def _dense_ll(dlm, out, n: int) -> float | None:
    """Mean per-token ELBO of the answers under the unhooked model."""
    if n < 1:
        return None
    P = out.prompt_len
    lls = [mc_loglikelihood(dlm, row[:P].tolist(), row[P:].tolist(), n, seed=0, key=r)[0]
           for r, row in enumerate(out.ids)]
    return sum(lls) / out.answer.numel()


def compare_reuse(dlm: DiffusionLM, prompt, site: str, rule: Rule, settings: list[dict], scope: str = "token",
                  layers=None, gen: dict | None = None, progress: bool = False, judge_samples: int = 16) -> list[dict]:
    """One row per setting (plus the dense sampler first); see the module docstring for the columns."""
    from tqdm import tqdm

    gen = dict(gen or {})
    cfg = float(gen.get("cfg_scale", 0.0))
    dense_sd = SparseDiffusion(dlm, site, None, layers=layers, record=False)
    dense = dense_sd.generate(prompt, **gen)
    rows = [{"setting": "dense", "k": None, "refresh_overlap": None, "agree": 1.0, "top1": 1.0, "kl": 0.0,
             "sparsity": dense_sd.sp.stats.overall(), "work_saved": None, "refreshes": None, "steps": dense.steps,
             "dense_ll": _dense_ll(dlm, dense, judge_samples)}]
    for st in tqdm(settings, desc="reuse settings", disable=not progress, leave=False):
        sd = SparseDiffusion(dlm, site, rule, scope, st["k"], st["refresh_overlap"], layers=layers)
        fid = _Fidelity(sd, cfg, dense.prompt_len)
        sd.new_generation()
        with sd:
            out = generate(dlm, prompt, observer=fid, **gen)
        rows.append({"setting": setting_name(st["k"], st["refresh_overlap"]), "k": st["k"],
                     "refresh_overlap": st["refresh_overlap"],
                     "agree": float((out.answer == dense.answer).double().mean()),
                     "top1": fid.agree / fid.n if fid.n else float("nan"),
                     "kl": fid.kl / fid.n if fid.n else float("nan"),
                     "sparsity": sd.sp.stats.overall(), "work_saved": sd.rule.work_saved,
                     "refreshes": len(sd.rule.refreshes), "steps": out.steps,
                     "dense_ll": _dense_ll(dlm, out, judge_samples),
                     "overlap_prev_mean": sd.steps.summary()["overlap_prev_mean"]})
    return rows


def reuse_table(rows: list[dict]) -> str:
    head = ("| setting | answer agrees with dense | top-1 agree | KL | dense-model log-lik / token | sparsity | "
            "selection work saved | refreshes |\n|---|---|---|---|---|---|---|---|\n")
    f = lambda v, spec=".4f": "-" if v is None else format(v, spec)  # noqa: E731
    return head + "".join(f"| {r['setting']} | {f(r['agree'], '.3f')} | {f(r['top1'], '.3f')} | {f(r['kl'])} | "
                          f"{f(r.get('dense_ll'), '.3f')} | {f(r['sparsity'])} | {f(r['work_saved'], '.3f')} | "
                          f"{'-' if r['refreshes'] is None else r['refreshes']} |\n" for r in rows)
