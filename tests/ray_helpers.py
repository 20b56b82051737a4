"""What the Ray tests' workers load: the tiny random llama of tests/tiny_models.py, the character tokenizer and two
small tasks (this directory must be on the workers' PYTHONPATH; tests/test_ray.py puts it there)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def tasks():
    from test_tasks import _docs

    from pysparse.tasks import ClozeTask, PerplexityTask

    return [PerplexityTask(_docs(), window=64, max_tokens=200, max_tokens_per_doc=100),
            ClozeTask(_docs(), n=4, context_words=15)]


class TinyWorker:
    """RayExecutor's `worker`: load() -> the model, tokenizer and tasks; optionally slow (seconds per point, so a
    test can kill a worker while it measures)."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay

    def load(self, threads):
        from char_tokenizer import CharTokenizer
        from tiny_models import build_tiny

        model = build_tiny("llama")
        if self.delay:
            import time

            fwd = model.forward

            def slow(*a, **kw):
                time.sleep(self.delay)
                return fwd(*a, **kw)

            model.forward = slow
        return {"model": model, "tokenizer": CharTokenizer(), "tasks": tasks()}


class DyingWorker(TinyWorker):
    """A worker whose process exits (as if killed) whenever it measures the top-p value `die_at`."""

    def __init__(self, die_at: float, delay: float = 0.0):
        super().__init__(delay)
        self.die_at = die_at

    def load(self, threads):
        import os

        out = super().load(threads)
        first = out["tasks"][0]
        evaluate = first.evaluate

        def dying(ctx):
            rule = ctx.sparsifier.rule if ctx.sparsifier is not None else None
            if rule is not None and abs(getattr(rule, "p", -1) - self.die_at) < 1e-9:
                os._exit(1)
            return evaluate(ctx)

        first.evaluate = dying
        return out
