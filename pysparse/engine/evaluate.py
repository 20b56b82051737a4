"""The engine as an evaluation backend for the framework's tasks, sweeps and critical-sparsity search.

`pysparse sweep|critical --backend engine` evaluates the same tasks on the engine's logits: the GGUF's quantised
weights, the rule applied in C++ per token, prefill through the masked batched matmul and generation through the
sparse decode kernels. No float32 copy of the model is made. The torch backend stays the reference for any
Hugging Face model.

Two adapters stand in for the torch pieces a Sweep uses:
  EngineSparsifier   the rule slot (Rule objects -> Model.set_sparsity) and a SparsityStats filled from the
                     engine's per-layer counters (prefill -> "prompt", decode -> "generated")
  EngineEvalContext  logits of a batch of sequences (one engine pass each, padded into one tensor) and greedy
                     decoding, with the counters harvested after each call
"""

from __future__ import annotations

import numpy as np
import torch

from ..stats import SparsityStats
from ..tasks.base import EvalContext
from .model import SITES, Model

# The framework's tensor names per site, and which engine selection point (0 = input, 1 = inner) counts each.
SITE_TENSORS = {"input": (("input", 0),), "intermediate": (("intermediate", 1),),
                "all_inputs": (("input", 0), ("intermediate", 1)), "gate": (("gate", 1),), "up": (("up", 1),)}


class EngineSparsifier:
    """The Sparsifier interface a Sweep and its tasks use, over an engine Model."""

    def __init__(self, model: Model, site: str, layers=None):
        if site not in SITES:
            raise ValueError(f"site {site!r} is not available on the engine backend (sites: {', '.join(SITES)})")
        self.model, self.site = model, site
        self.layers = None if layers is None else sorted(int(i) for i in layers)
        self.tensors = tuple(t for t, _ in SITE_TENSORS[site])
        self.n_layers = model.n_layer
        self.stats = SparsityStats(self.tensors, self.n_layers)
        self._rule = None
        self._last = model._m.counters().copy()

    @property
    def rule(self):
        return self._rule

    @rule.setter
    def rule(self, r):
        self.harvest()
        self._rule = r
        if r is None:
            self.model.clear_sparsity()
            self._last = self.model._m.counters().copy()
            return
        name = r.name
        layers = range(self.n_layers) if self.layers is None else self.layers
        if name == "threshold":
            if len(self.tensors) > 1 and isinstance(r.thresholds, dict):
                raise ValueError("the engine backend takes one threshold per layer: use a single-tensor site")
            values = {il: r.threshold_for((il, self.tensors[0])) for il in layers}
        elif getattr(r, "values", None) is not None:  # a per-layer allocation (pysparse.allocate.PerLayerRule)
            values = {il: v for il, v in enumerate(r.values) if v is not None and il in set(layers)}
        elif name in ("top_p", "top_k", "max_p"):
            if getattr(r, "power", 1.0) not in (1, 1.0) and name != "top_p":
                raise ValueError(f"{name}: power is not supported")
            values = {il: r.value for il in layers}
        else:
            raise ValueError(f"rule {name!r} is not available on the engine backend")
        self.model.set_sparsity(self.site, name, values, power=getattr(r, "power", 1.0))
        self._last = self.model._m.counters().copy()

    def attach(self):
        return self

    def detach(self):
        self.harvest()

    def set_tokens(self, attention_mask, phase: str = "prompt") -> None:
        pass  # the engine runs each sequence unpadded: every counted token is a real one

    def harvest(self) -> None:
        """Adds the engine's counts since the last harvest to `stats`."""
        c = self.model._m.counters()
        d = c - self._last
        self._last = c.copy()
        if self._rule is None:
            return
        for tensor, point in SITE_TENSORS[self.site]:
            for ph, phase in ((0, "prompt"), (1, "generated")):
                active, total = d[:, point, ph, 0], d[:, point, ph, 1]
                if total.sum() == 0:
                    continue
                self.stats._zeros[(tensor, phase)] += torch.from_numpy(total - active)
                self.stats._totals[(tensor, phase)] += torch.from_numpy(total)


class EngineEvalContext(EvalContext):
    """EvalContext whose forward passes run on the engine."""

    def __init__(self, model: Model, sparsifier: EngineSparsifier | None = None, batch_size: int = 8,
                 progress: bool = True, model_id: str | None = None):
        super().__init__(model, model.tokenizer, sparsifier, batch_size=batch_size, progress=progress,
                         model_id=model_id or f"{model.path.stem}@engine")

    def _harvest(self):
        if self.sparsifier is not None:
            self.sparsifier.harvest()

    @torch.no_grad()
    def logits(self, seqs):
        T = max(len(s) for s in seqs)
        out = torch.zeros((len(seqs), T, self.model.n_vocab), dtype=torch.float32)
        am = torch.zeros((len(seqs), T), dtype=torch.long)
        for i, s in enumerate(seqs):
            out[i, :len(s)] = torch.from_numpy(self.model.logits(np.asarray(s, dtype=np.int64)))
            am[i, :len(s)] = 1
        self._harvest()
        return out, am

    @torch.no_grad()
    def greedy(self, prompts, n_new):
        outs = [list(self.model.generate_ids(p, n_new)) for p in prompts]
        self._harvest()
        return outs
