"""Multiple choice by log-likelihood (lm-evaluation-harness `multiple_choice`): acc and acc_norm.

Each record is {context, choices, label}. Every choice is scored as the sum of its tokens' log-probabilities
after the context (context and continuation tokenised separately and concatenated). acc: the highest sum is
the label; acc_norm: the highest sum divided by the choice's length in bytes (lm-eval's length normalisation).
Loaders: JSONL {context, choices, label} (pysparse.data.load_local) and BIG-bench task.json (target_scores).
"""

from __future__ import annotations

import random
import time

from .base import EvalContext, Task, TaskResult


class MultipleChoiceTask(Task):
    def __init__(self, records: list[dict], name: str = "mc", limit: int | None = None, seed: int = 0,
                 dataset: str = ""):
        recs = []
        for i, r in enumerate(records):
            try:
                ctx, ch, lab = r["context"], list(r["choices"]), int(r["label"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{name}: record {i} needs context, choices and an integer label; got "
                                 f"{sorted(r) if isinstance(r, dict) else type(r).__name__}") from None
            if len(ch) < 2 or not 0 <= lab < len(ch):
                raise ValueError(f"{name}: record {i} needs >= 2 choices and 0 <= label < {len(ch)}, got {lab}")
            recs.append({"context": ctx, "choices": ch, "label": lab})
        if not recs:
            raise ValueError(f"{name}: no records")
        if limit is not None and limit < len(recs):
            idx = sorted(random.Random(seed).sample(range(len(recs)), int(limit)))
            recs = [recs[i] for i in idx]
        self.records, self.name, self.seed, self.dataset = recs, name, seed, dataset
        self.encoded = None

    def config(self) -> dict:
        return {"task": "multiple_choice", "name": self.name, "dataset": self.dataset, "n": len(self.records),
                "seed": self.seed}

    def prepare(self, ctx: EvalContext) -> None:
        if self.encoded is None:
            self.encoded = []
            for r in self.records:
                c = ctx.bos() + ctx.encode(r["context"])
                self.encoded.append((c, [ctx.encode(ch) for ch in r["choices"]]))

    def evaluate(self, ctx: EvalContext) -> list[TaskResult]:
        self.prepare(ctx)
        t0 = time.perf_counter()
        pairs = [(i, j) for i, (_, chs) in enumerate(self.encoded) for j in range(len(chs))]
        lls = ctx.loglikelihoods([(self.encoded[i][0], self.encoded[i][1][j]) for i, j in pairs], desc=self.name)
        ll = dict(zip(pairs, lls))
        acc, acc_norm = [], []
        for i, r in enumerate(self.records):
            s = [ll[(i, j)] for j in range(len(r["choices"]))]
            sn = [s[j] / max(1, len(r["choices"][j].encode("utf-8"))) for j in range(len(s))]
            acc.append(float(max(range(len(s)), key=s.__getitem__) == r["label"]))
            acc_norm.append(float(max(range(len(sn)), key=sn.__getitem__) == r["label"]))
        m = {"acc": sum(acc) / len(acc), "acc_norm": sum(acc_norm) / len(acc_norm), "n": len(acc),
             "chance": sum(1 / len(r["choices"]) for r in self.records) / len(self.records)}
        return [TaskResult(self.name, "acc", True, m["acc"], m, acc, [1.0] * len(acc), "mean",
                           seconds=time.perf_counter() - t0)]
