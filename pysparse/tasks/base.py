"""What every task shares: the evaluation context, the result record, batching and greedy decoding.

A task turns a dataset into examples once (`prepare`), then `evaluate(ctx)` scores the model as it is now
(dense or with the sparsifier's current rule) and returns one or more TaskResults.

Per-example scores are kept as two arrays, `num` and `den`, so that any resample of the examples gives the
score again (for the bootstrap in pysparse.critical):
    transform "mean": score = sum(num) / sum(den)           (accuracy: num = correct, den = 1)
    transform "exp":  score = exp(sum(num) / sum(den))      (perplexity: num = NLL sum, den = scored tokens)
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm import tqdm


@dataclass
class TaskResult:
    task: str                  # e.g. "wikipedia_ppl"
    metric: str                # primary metric name (lm-eval style: acc, acc_norm, perplexity, top1_agree)
    higher_is_better: bool
    score: float               # primary metric value
    metrics: dict = field(default_factory=dict)   # every metric this run produced
    num: list = field(default_factory=list)       # per-example numerators (see module docstring)
    den: list = field(default_factory=list)
    transform: str = "mean"
    sparsity: dict | None = None                  # SparsityStats.to_dict() of this task's forward passes
    seconds: float = 0.0

    @property
    def n_examples(self) -> int:
        return len(self.num)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TaskResult":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def score_from(num, den, transform: str) -> float:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    tot = den.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = num.sum(axis=-1) / tot
    return np.exp(m) if transform == "exp" else m


def retention(score: float, dense: float, higher_is_better: bool) -> float:
    """docs/critical.md: score(p)/score(dense) for accuracy-like metrics, ppl(dense)/ppl(p) for lower-is-better ones."""
    if higher_is_better:
        return float(score / dense) if dense > 0 else float("nan")
    return float(dense / score) if score > 0 else float("nan")


class EvalContext:
    """The model under evaluation and how to run it. `sparsifier` (or None) carries the current rule."""

    def __init__(self, model, tokenizer, sparsifier=None, batch_size: int = 8, progress: bool = True,
                 model_id: str | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.sparsifier = sparsifier
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.progress = progress
        self.model_id = model_id or getattr(model, "pysparse_name", None) or type(model).__name__
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    @property
    def is_dense(self) -> bool:
        return self.sparsifier is None or self.sparsifier.rule is None

    def bar(self, it, total=None, desc=""):
        return tqdm(it, total=total, desc=desc, leave=False, disable=not self.progress, unit="batch")

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def bos(self) -> list[int]:
        """[BOS] when the tokenizer puts one in front of text by default (Gemma, Llama), else [] (Qwen, SmolLM2):
        documents and contexts then start as the model saw text in training (lm-eval does the same)."""
        if not hasattr(self, "_bos"):
            b = self.tokenizer.bos_token_id
            try:
                first = self.tokenizer("a", add_special_tokens=True)["input_ids"][:1]
            except TypeError:
                first = [b] if getattr(self.tokenizer, "add_bos_token", False) else []
            self._bos = [b] if b is not None and first == [b] else []
        return self._bos

    @torch.no_grad()
    def logits(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded batch forward: (logits [B, T, V] float32, attention mask [B, T])."""
        T = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), T), self.pad_id, dtype=torch.long)
        am = torch.zeros((len(seqs), T), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
            am[i, :len(s)] = 1
        if self.sparsifier is not None:
            self.sparsifier.set_tokens(am, "prompt")
        out = self.model(input_ids=ids, attention_mask=am, use_cache=False)
        return out.logits.float(), am

    @torch.no_grad()
    def loglikelihoods(self, pairs: list[tuple[list[int], list[int]]], desc: str = "") -> list[float]:
        """Sum of the log-probabilities of each continuation after its context, for [(context, continuation)]
        token-id pairs (a causal LM: one right-padded forward per batch). Other model kinds override this."""
        out = []
        for b in self.bar(list(batches(pairs, self.batch_size)), desc=desc):
            logits, _ = self.logits([c + x for c, x in b])
            for k, (c, cont) in enumerate(b):
                lp = torch.log_softmax(logits[k, len(c) - 1:len(c) + len(cont) - 1], dim=-1)
                out.append(float(lp.gather(-1, torch.tensor(cont)[:, None]).sum()))
        return out

    @torch.no_grad()
    def greedy(self, prompts: list[list[int]], n_new: int, stop=None) -> list[list[int]]:
        """Greedy decoding of n_new tokens for each prompt (left-padded batch with a KV cache).

        The prompt forward counts as "prompt" tokens, each decoded token as "generated" (docs/method.md §3).
        `stop(generated) -> list[bool]`, if given, sees the tokens decoded so far after every step and says which
        rows are finished: decoding ends when all are, and finished rows no longer count in the statistics.
        """
        B = len(prompts)
        T = max(len(p) for p in prompts)
        ids = torch.full((B, T), self.pad_id, dtype=torch.long)
        am = torch.zeros((B, T), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, T - len(p):] = torch.tensor(p, dtype=torch.long)
            am[i, T - len(p):] = 1
        pos = (am.cumsum(-1) - 1).clamp(min=0)
        sp = self.sparsifier
        if sp is not None:
            sp.set_tokens(am, "prompt")
        out = self.model(input_ids=ids, attention_mask=am, position_ids=pos, use_cache=True)
        past = out.cache  # transformers 5.24 names the KV cache `cache` (past_key_values is deprecated)
        nxt = out.logits[:, -1].argmax(-1)
        gen = [nxt]
        live = torch.ones((B, 1), dtype=torch.bool)
        for _ in range(n_new - 1):
            if stop is not None:
                live = ~torch.tensor(stop(torch.stack(gen, dim=1).tolist()), dtype=torch.bool)[:, None]
                if not live.any():
                    break
            am = torch.cat([am, torch.ones((B, 1), dtype=am.dtype)], dim=1)
            pos = pos[:, -1:] + 1
            if sp is not None:
                sp.set_tokens(live, "generated")
            out = self.model(input_ids=nxt[:, None], attention_mask=am, position_ids=pos, cache=past,
                             use_cache=True)
            past = out.cache
            nxt = out.logits[:, -1].argmax(-1)
            gen.append(nxt)
        return torch.stack(gen, dim=1).tolist()


class Task:
    """Base class: subclasses set `name` and implement prepare() and evaluate()."""

    name = "task"

    def config(self) -> dict:
        """Everything that defines the examples (hashed into results so a resumed sweep never mixes configs)."""
        return {"name": self.name}

    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.config(), sort_keys=True, default=str).encode()).hexdigest()[:12]

    def prepare(self, ctx: EvalContext) -> None:
        raise NotImplementedError

    def evaluate(self, ctx: EvalContext) -> list[TaskResult]:
        raise NotImplementedError


def batches(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def finite(x: float) -> float:
    return x if math.isfinite(x) else float("nan")
