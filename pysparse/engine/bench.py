"""llama-bench-style speed of an engine Model: prompt processing (pp) and generation (tg) tokens/s, dense and at
sparsity settings, measured interleaved (each repetition runs every setting once, in rotated order, so drift of a
shared machine hits all alike) and reported as medians with min / max.

    pp N: a new sequence of N tokens in one batched prefill (the logits of the last position computed).
    tg N: N decode steps of one token each from an empty context, greedy (as llama-bench's tg).
"""

from __future__ import annotations

import statistics
import time
from typing import Iterable

import numpy as np


def _pp(m, ids: np.ndarray) -> float:
    m._m.reset()
    t0 = time.perf_counter()
    m._m.forward(ids, False)
    return len(ids) / (time.perf_counter() - t0)


def _tg(m, n: int, first: int) -> tuple[float, dict]:
    core = m._m
    core.reset()
    core.reset_timings()
    tok = np.array([first], np.int32)
    t0 = time.perf_counter()
    for _ in range(n):
        tok[0] = core.step(tok, 0.0, 0, 1.0)
    dt = time.perf_counter() - t0
    return n / dt, m.timings()


def bench(m, settings: Iterable[tuple[str, str, float] | None] = (None,), pp: int = 512, tg: int = 128,
          reps: int = 3, progress=None) -> list[dict]:
    """Rows {setting, test, tokens_per_s (median), min, max, reps, sparsity, ms_per_token parts (tg)} for each
    setting (None = dense; else (site, rule, value)) and test (pp / tg; 0 skips one)."""
    settings = list(settings)
    vocab = m.n_vocab
    rng = np.random.default_rng(0)
    ids = rng.integers(min(100, vocab - 1), vocab, pp).astype(np.int32) if pp else None
    first = int(m.tokenizer.bos_token_id or 1) if getattr(m, "_tokenizer", None) else 1
    samples = {(i, t): [] for i in range(len(settings)) for t in ("pp", "tg")}
    parts = {i: [] for i in range(len(settings))}
    sparsity = {i: {} for i in range(len(settings))}

    def apply(s):
        if s is None:
            m.clear_sparsity()
        else:
            m.set_sparsity(*s)

    for i, s in enumerate(settings):  # repack once and warm up (page in the weights) before timing
        apply(s)
        if pp:
            _pp(m, ids[: min(pp, 32)])
        if tg:
            _tg(m, min(tg, 4), first)
    total = reps * len(settings)
    done = 0
    for r in range(reps):
        order = list(range(len(settings)))
        order = order[r % len(order):] + order[: r % len(order)]
        for i in order:
            apply(settings[i])
            m.reset_stats()
            if pp:
                samples[(i, "pp")].append(_pp(m, ids))
                sparsity[i]["pp"] = m.stats()["prefill"]
            if tg:
                m.reset_stats()
                speed, t = _tg(m, tg, first)
                samples[(i, "tg")].append(speed)
                parts[i].append(t)
                sparsity[i]["tg"] = m.stats()["decode"]
            done += 1
            if progress:
                progress(done, total)
    rows = []
    for i, s in enumerate(settings):
        name = "dense" if s is None else f"{s[0]}:{s[1]}:" + (f"{s[2]:g}" if isinstance(s[2], (int, float))
                                                              else "per-layer")
        for test, n in (("pp", pp), ("tg", tg)):
            v = samples[(i, test)]
            if not v:
                continue
            row = {"setting": name, "test": f"{test}{n}", "tokens_per_s": statistics.median(v), "min": min(v),
                   "max": max(v), "reps": len(v), "sparsity": sparsity[i].get(test) if s else 0.0}
            if test == "tg":
                for k in ("attention", "ffn", "output", "total"):
                    row[f"{k}_ms"] = statistics.median(p[k] for p in parts[i])
            rows.append(row)
    m.clear_sparsity()
    return rows
