"""Cloze accuracy, LAMBADA-style, built from prose: predict the last word of a passage.

Passages are cut from documents at sentence ends. A candidate target is the last word of a sentence that is
alphabetic, at least `min_word_len` letters long, and already occurs earlier in the passage (so the passage's
context, not only the sentence, can reveal it: LAMBADA's idea, filtered automatically instead of by people).
The context is up to `context_words` words before the target. Examples are drawn with a fixed seed, at most
`max_per_doc` per document.

Scoring: the model decodes greedily as many tokens as the target word has (" " + word, tokenised alone, as
lm-eval splits context and continuation); the example is correct when the decoded tokens equal the target's
tokens exactly (lm-eval's LAMBADA `acc`). Decoding uses a KV cache, so the target positions are counted as
generated tokens in the sparsity statistics.
"""

from __future__ import annotations

import random
import re
import time

from .base import EvalContext, Task, TaskResult, batches

_SENT_END = re.compile(r"(?<=[a-z])([.!?])(?=\s|$)")
_WORD = re.compile(r"[A-Za-z]+")


def build_cloze(docs: list[dict], n: int, context_words: int = 120, min_word_len: int = 4, max_per_doc: int = 6,
                seed: int = 0) -> list[dict]:
    cands = []
    for di, d in enumerate(docs):
        text = d["text"]
        per_doc = []
        for m in _SENT_END.finditer(text):
            head = text[:m.start()]
            words = head.split()
            if len(words) < 30:
                continue
            last = words[-1]
            if not (last.isalpha() and len(last) >= min_word_len):
                continue
            ctx_words = words[-(context_words + 1):-1]
            if last.lower() not in {w.lower() for w in _WORD.findall(" ".join(ctx_words))}:
                continue
            per_doc.append({"context": " ".join(ctx_words), "target": last, "doc": di})
        random.Random(seed * 1000003 + di).shuffle(per_doc)
        cands.extend(per_doc[:max_per_doc])
    random.Random(seed).shuffle(cands)
    return cands[:n]


class ClozeTask(Task):
    def __init__(self, docs: list[dict], name: str = "cloze", n: int = 200, context_words: int = 120, seed: int = 0,
                 dataset: str = "", examples: list[dict] | None = None, max_per_doc: int = 6):
        self.name, self.n, self.context_words, self.seed, self.dataset = name, int(n), context_words, seed, dataset
        self.max_per_doc = int(max_per_doc)
        self.examples = examples if examples is not None else build_cloze(docs, self.n, context_words,
                                                                          max_per_doc=self.max_per_doc, seed=seed)
        if not self.examples:
            raise ValueError(f"{name}: no cloze passages could be built (text empty or too short: need sentences "
                             f"of 30+ words whose last word appeared before)")
        self.encoded = None

    def config(self) -> dict:
        cfg = {"task": "cloze", "name": self.name, "dataset": self.dataset, "n": len(self.examples),
               "context_words": self.context_words, "seed": self.seed}
        if self.max_per_doc != 6:  # only when it differs, so results measured before it existed keep their hash
            cfg["max_per_doc"] = self.max_per_doc
        return cfg

    def prepare(self, ctx: EvalContext) -> None:
        if self.encoded is None:
            self.encoded = [(ctx.bos() + ctx.encode(e["context"]), ctx.encode(" " + e["target"]))
                            for e in self.examples]

    def evaluate(self, ctx: EvalContext) -> list[TaskResult]:
        self.prepare(ctx)
        t0 = time.perf_counter()
        correct = [0.0] * len(self.encoded)
        # group by target length so one greedy run decodes the right number of tokens for a whole batch
        order = sorted(range(len(self.encoded)), key=lambda i: (len(self.encoded[i][1]), len(self.encoded[i][0])))
        groups = []
        for b in batches(order, ctx.batch_size):
            for L in sorted({len(self.encoded[i][1]) for i in b}):
                groups.append([i for i in b if len(self.encoded[i][1]) == L])
        for g in ctx.bar(groups, desc=self.name):
            L = len(self.encoded[g[0]][1])
            outs = ctx.greedy([self.encoded[i][0] for i in g], L)
            for i, o in zip(g, outs):
                correct[i] = float(o == self.encoded[i][1])
        acc = sum(correct) / len(correct)
        return [TaskResult(self.name, "acc", True, acc, {"acc": acc, "n": len(correct)}, correct,
                           [1.0] * len(correct), "mean", seconds=time.perf_counter() - t0)]
