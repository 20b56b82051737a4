"""Perplexity over fixed token windows with a stride, and (on the same forward passes) fidelity to the dense model.

Each document is tokenised alone (BOS first if the tokenizer uses one). Each window is at most `window` tokens
long and scores the next `stride` tokens no earlier window scored (at most window - 1, so every scored token has
context); the tokens before them in the window are context only. With stride < window every scored token after
the first window has at least window - stride tokens of context (the Hugging Face perplexity guide); with
stride = window the windows are disjoint (lm-eval's rolling windows). The first token of a document is never
scored. Padding is excluded. Metrics (lm-evaluation-harness names): perplexity (token
level, the primary), word_perplexity and bits_per_byte (over the words/bytes of the scored text).

A budget keeps runs cheap and representative: at most `max_tokens` scored tokens in total, at most
`max_tokens_per_doc` from each document, documents taken in a fixed seeded order.
"""

from __future__ import annotations

import math
import random
import time

import torch

from .base import EvalContext, Task, TaskResult, batches
from .fidelity import compare, load_reference, reference_of, save_reference


class PerplexityTask(Task):
    def __init__(self, docs: list[dict], name: str = "ppl", window: int = 256, stride: int | None = None,
                 max_tokens: int = 4096, max_tokens_per_doc: int = 512, seed: int = 0,
                 perplexity: bool = True, fidelity: bool = True, dataset: str = ""):
        if not docs:
            raise ValueError(f"{name}: no documents to evaluate")
        if window < 2:
            raise ValueError(f"{name}: window must be >= 2 tokens, got {window}")
        self.stride = window if stride is None else int(stride)
        if not 1 <= self.stride <= window:
            raise ValueError(f"{name}: stride must be in [1, window={window}], got {stride}")
        if not (perplexity or fidelity):
            raise ValueError(f"{name}: nothing to compute (perplexity and fidelity both off)")
        self.docs, self.name, self.window = docs, name, int(window)
        self.max_tokens, self.max_tokens_per_doc, self.seed = int(max_tokens), int(max_tokens_per_doc), seed
        self.do_ppl, self.do_fid, self.dataset = perplexity, fidelity, dataset
        self.windows = None  # list of (ids, first_scored_index)
        self._refs = None

    def config(self) -> dict:
        return {"task": "perplexity", "name": self.name, "dataset": self.dataset, "n_docs": len(self.docs),
                "window": self.window, "stride": self.stride, "max_tokens": self.max_tokens,
                "max_tokens_per_doc": self.max_tokens_per_doc, "seed": self.seed, "ppl": self.do_ppl,
                "fidelity": self.do_fid}

    def prepare(self, ctx: EvalContext) -> None:
        if self.windows is not None:
            return
        order = list(range(len(self.docs)))
        random.Random(self.seed).shuffle(order)
        windows, total = [], 0
        for di in order:
            if total >= self.max_tokens:
                break
            ids = ctx.bos() + ctx.encode(self.docs[di]["text"])
            ids = ids[:min(len(ids), self.max_tokens_per_doc + 1, self.max_tokens - total + 1)]
            if len(ids) < 2:
                continue
            scored_to = 1  # next position not yet scored; position 0 has no context
            while scored_to < len(ids):
                # each window scores up to `stride` new tokens, with at least one token of context before them
                end = min(scored_to + min(self.stride, self.window - 1), len(ids))
                start = max(0, end - self.window)
                windows.append((ids[start:end], scored_to - start))
                total += end - scored_to
                scored_to = end
        if not windows:
            raise ValueError(f"{self.name}: the text is too short: no window has a token to score "
                             f"(need at least 2 tokens)")
        self.windows = windows

    def _reference(self, ctx: EvalContext):
        if self._refs is None:
            self._refs = load_reference(ctx.model_id, self.config_hash())
        if self._refs is None:
            if not ctx.is_dense:  # resumed sweep without a cached reference: one dense pass, not counted
                rule, ctx.sparsifier.rule = ctx.sparsifier.rule, None
                try:
                    self._refs = self._run(ctx, None)[2]
                finally:
                    ctx.sparsifier.rule = rule
            save_reference(ctx.model_id, self.config_hash(), self._refs) if self._refs else None
        return self._refs

    def _run(self, ctx: EvalContext, refs):
        nll, ntok, words, nbytes, kls, agrees, new_refs = [], [], [], [], [], [], []
        wins = self.windows
        bi = 0
        for batch in ctx.bar(list(batches(wins, ctx.batch_size)), desc=self.name):
            logits, _ = ctx.logits([w for w, _ in batch])
            for j, (w, first) in enumerate(batch):
                lg = logits[j, first - 1:len(w) - 1]      # predictions for tokens first..len-1
                tgt = torch.tensor(w[first:], dtype=torch.long)
                lp = torch.log_softmax(lg, dim=-1).gather(-1, tgt[:, None])[:, 0]
                nll.append(float(-lp.sum()))
                ntok.append(len(tgt))
                text = ctx.tokenizer.decode(w[first:])
                words.append(len(text.split()))
                nbytes.append(len(text.encode("utf-8")))
                if self.do_fid:
                    if refs is None:
                        new_refs.append(reference_of(lg))
                    else:
                        kl, ag = compare(refs[bi + j], lg)
                        kls.append(float(kl.sum()))
                        agrees.append(float(ag.sum()))
            bi += len(batch)
        return (nll, ntok, words, nbytes), (kls, agrees), new_refs

    def evaluate(self, ctx: EvalContext) -> list[TaskResult]:
        self.prepare(ctx)
        t0 = time.perf_counter()
        refs = None
        if self.do_fid and not ctx.is_dense:
            refs = self._reference(ctx)
        (nll, ntok, words, nbytes), (kls, agrees), new_refs = self._run(ctx, refs)
        if self.do_fid and ctx.is_dense:
            self._refs = new_refs
            save_reference(ctx.model_id, self.config_hash(), new_refs)
            kls = [0.0] * len(nll)
            agrees = [float(n) for n in ntok]
        dt = time.perf_counter() - t0
        N, NLL = sum(ntok), sum(nll)
        out = []
        if self.do_ppl:
            m = {"perplexity": math.exp(NLL / N), "word_perplexity": math.exp(NLL / max(1, sum(words))),
                 "bits_per_byte": NLL / max(1, sum(nbytes)) / math.log(2), "tokens": N, "windows": len(nll)}
            out.append(TaskResult(f"{self.name}_ppl", "perplexity", False, m["perplexity"], m, nll, ntok, "exp",
                                  seconds=dt))
        if self.do_fid:
            m = {"top1_agree": sum(agrees) / N, "kl": sum(kls) / N, "tokens": N}
            out.append(TaskResult(f"{self.name}_top1", "top1_agree", True, m["top1_agree"], m, agrees, ntok,
                                  "mean", seconds=dt))
        return out
