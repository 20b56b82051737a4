"""Word analogies (Mikolov et al.'s questions-words.txt) as greedy generation, which small LMs can do.

Formulation (fixed here): a two-shot prompt made of two other analogies from the same section, then the query:

    Athens is to Greece as Paris is to France.
    Berlin is to Germany as Rome is to Italy.
    Baghdad is to Iraq as Tokyo is to

The model decodes greedily as many tokens as " d" has; correct when they equal the tokens of " d" exactly
(case-sensitive, like the file). Items are sampled with a fixed seed, evenly across the 14 sections.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict

from .base import EvalContext, Task, TaskResult
from .cloze import ClozeTask


def build_analogies(records: list[dict], n: int, seed: int = 0) -> list[dict]:
    by_sec = defaultdict(list)
    for r in records:
        by_sec[r["section"]].append(r)
    if not by_sec:
        raise ValueError("analogies: no records")
    rng = random.Random(seed)
    secs = sorted(by_sec)
    per = max(1, -(-n // len(secs)))
    out = []
    for s in secs:
        items = by_sec[s]
        picks = rng.sample(range(len(items)), min(per, len(items)))
        for k in picks:
            q = items[k]
            shots = []
            while len(shots) < 2:
                e = items[rng.randrange(len(items))]
                if {e["a"], e["b"], e["c"], e["d"]} & {q["a"], q["b"], q["c"], q["d"]} or e in shots:
                    if len(items) < 8:
                        break
                    continue
                shots.append(e)
            prompt = "".join(f"{e['a']} is to {e['b']} as {e['c']} is to {e['d']}.\n" for e in shots)
            prompt += f"{q['a']} is to {q['b']} as {q['c']} is to"
            out.append({"context": prompt, "target": q["d"], "section": s})
    rng.shuffle(out)
    return out[:n]


class AnalogiesTask(ClozeTask):
    def __init__(self, records: list[dict], name: str = "analogies", n: int = 140, seed: int = 0,
                 dataset: str = "analogies"):
        ex = build_analogies(records, n, seed)
        super().__init__([], name=name, n=n, seed=seed, dataset=dataset, examples=ex)

    def config(self) -> dict:
        return {"task": "analogies", "name": self.name, "dataset": self.dataset, "n": len(self.examples),
                "seed": self.seed}
