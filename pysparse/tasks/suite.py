"""Named tasks and suites, with budgets.

Task names:
  wikipedia            perplexity + fidelity (KL, top-1 agreement) on held-out Wikipedia windows -> two results:
                       wikipedia_ppl and wikipedia_top1
  wikipedia_cloze      LAMBADA-style last-word prediction on held-out Wikipedia passages
  shakespeare          perplexity + fidelity on Shakespeare's plays; shakespeare_cloze likewise
  analogies            Mikolov word analogies, two-shot greedy generation
  gpqa, bigbench:TASK  multiple choice by log-likelihood (acc, acc_norm)
  gsm8k                perplexity + fidelity of the reference solutions (question + answer as one text)
  PATH.jsonl           multiple choice {context, choices, label}; PATH.txt: perplexity + fidelity
Suites: default = wikipedia: perplexity (the task criterion) and top-1/KL fidelity on the same 4096 scored tokens
(budget medium). Measured on SmolLM2-135M (docs/critical.md): its critical sparsity's 90% interval is about
+-1 point of sparsity, and a run takes minutes. Cloze accuracy is left out of the default because even 350
passages (all the held-out text gives at 6 per document) leave its retention interval at +-3%, and the mean's
critical sparsity at +-5 points; near-chance multiple choice would measure nothing on 135M-1.5B models. full = wikipedia + wikipedia_cloze + analogies + shakespeare (with the cloze and analogies flagged
NOISY where their intervals are wider than 1%).
"""

from __future__ import annotations

import math

from .. import data
from .analogies import AnalogiesTask
from .base import Task
from .cloze import ClozeTask
from .multiple_choice import MultipleChoiceTask
from .perplexity import PerplexityTask

SUITES = {
    "default": ("wikipedia",),
    "full": ("wikipedia", "wikipedia_cloze", "analogies", "shakespeare"),
}
TASK_NAMES = ("wikipedia", "wikipedia_cloze", "shakespeare", "shakespeare_cloze", "analogies", "gpqa", "gsm8k",
              "bigbench:<task>", "<file>.jsonl", "<file>.txt")

# budget -> (scored perplexity tokens, cloze passages, analogies, multiple-choice items)
BUDGETS = {
    "tiny": (256, 8, 14, 16),
    "small": (1024, 40, 70, 60),
    "medium": (4096, 160, 280, 200),
    "large": (16384, 640, 1120, 800),
}


def _budget(budget: str):
    try:
        return BUDGETS[budget]
    except KeyError:
        raise ValueError(f"unknown budget {budget!r}; budgets: {', '.join(BUDGETS)}") from None


def expand(names) -> list[str]:
    """Suite names -> task names (order kept, duplicates dropped)."""
    if isinstance(names, str):
        names = [n for n in names.split(",") if n]
    out = []
    for n in names:
        for t in SUITES.get(n, (n,)):
            if t not in out:
                out.append(t)
    if not out:
        raise ValueError("no tasks given")
    return out


def build_task(name: str, budget: str = "medium", limit: int | None = None, seed: int = 0,
               progress: bool = True) -> Task:
    ntok, ncloze, nana, nmc = _budget(budget)
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        ncloze, nana, nmc = limit, limit, limit
    if name in ("wikipedia", "shakespeare", "gsm8k"):
        recs = data.load(name, progress=progress)
        if name == "gsm8k":
            recs = [{"title": f"gsm8k-{i}", "text": f"Question: {r['question']}\nAnswer: {r['answer']}"}
                    for i, r in enumerate(recs)]
        docs = data.split_docs(recs, "eval")
        per_doc = 512 if name != "gsm8k" else 400
        return PerplexityTask(docs, name=name, window=256, max_tokens=ntok, max_tokens_per_doc=per_doc,
                              seed=seed, dataset=name)
    if name in ("wikipedia_cloze", "shakespeare_cloze"):
        src = name.split("_")[0]
        docs = data.split_docs(data.load(src, progress=progress), "eval")
        # up to 6 passages per document; more only when the text cannot give n at 6 (Wikipedia's held-out half
        # gives 350 at 6, 757 at 15), so every n that 6 per document can serve keeps its examples
        task = ClozeTask(docs, name=name, n=ncloze, context_words=60, seed=seed, dataset=src)
        if len(task.examples) < ncloze:
            task = ClozeTask(docs, name=name, n=ncloze, context_words=60, seed=seed, dataset=src,
                             max_per_doc=math.ceil(2 * ncloze / max(1, len(docs))))
        return task
    if name == "analogies":
        return AnalogiesTask(data.load("analogies", progress=progress), n=nana, seed=seed)
    if name == "gpqa" or name.startswith(data.BIGBENCH_PREFIX):
        return MultipleChoiceTask(data.load(name, progress=progress), name=name.replace(":", "_"), limit=nmc,
                                  seed=seed, dataset=name)
    if name.endswith(".jsonl"):
        return MultipleChoiceTask(data.load_local(name), name=_stem(name), limit=nmc, seed=seed, dataset=name)
    if name.endswith((".txt", ".md")):
        docs = data.load_local(name)
        return PerplexityTask(docs, name=_stem(name), window=256, max_tokens=ntok,
                              max_tokens_per_doc=ntok, seed=seed, dataset=name)
    raise ValueError(f"unknown task {name!r}; tasks: {', '.join(TASK_NAMES)}; suites: {', '.join(SUITES)}")


def _stem(path: str) -> str:
    from pathlib import Path

    return Path(path).stem.replace(" ", "_")


def build_suite(names="default", budget: str = "medium", limit: int | None = None, seed: int = 0,
                progress: bool = True) -> list[Task]:
    return [build_task(n, budget, limit, seed, progress) for n in expand(names)]
