"""The engine backend of PysparseLM (`backend=engine`): a GGUF on the C++ runtime (pysparse.engine.Model).

It offers what PysparseLM asks of pysparse.tasks.EvalContext (logits of a batch, greedy decoding with a stop
test) on the engine, whose sparsity is real (the FFN kernels skip the dropped inputs) and counted by the engine's
own per-layer counters: prefill counts as prompt, decode as generated. The engine scores one sequence at a time,
so there is no padding to exclude.
"""

from __future__ import annotations

import math

import torch

ENGINE_SITES = ("input", "intermediate", "all_inputs", "gate", "up")


def engine_values(rule, n_layer: int):
    """The per-layer values the engine takes for a pysparse Rule (None: dense)."""
    from ..rules import PerLayer, Threshold

    if rule is None:
        return None
    if isinstance(rule, PerLayer):
        return {il: r.value for il, r in rule.rules.items()}
    if isinstance(rule, Threshold):
        if not isinstance(rule.thresholds, dict):
            return rule.thresholds
        by_layer = {}
        for (il, _), t in rule.thresholds.items():
            if by_layer.setdefault(il, t) != t:
                raise ValueError("the engine takes one threshold per layer; the file has several tensors per layer")
        return by_layer
    return rule.value


class EngineContext:
    def __init__(self, pretrained, site: str, rule_name: str, rule, layers=None, threads=None, max_length=None,
                 batch_size: int = 1):
        if site not in ENGINE_SITES:
            raise ValueError(f"site {site!r} is not on the engine; engine sites: {', '.join(ENGINE_SITES)}")
        try:
            from ..engine.model import Model
        except ImportError as e:
            raise RuntimeError(f"backend=engine needs the engine runtime (pysparse.engine.Model): {e}") from None
        self.engine = Model.load(str(pretrained), threads=threads, context=max_length)
        self.tokenizer = self.engine.tokenizer
        self.model = None  # no torch module: PysparseLM reads max_length and model info from here
        self.max_length = self.engine.context
        self.model_id = self.engine.path.name
        self.batch_size = int(batch_size)
        self.site, self.rule_name, self.rule = site, rule_name, rule
        values = engine_values(rule, self.engine.n_layer)
        if values is not None:
            if layers is not None:
                if not isinstance(values, (int, float)):
                    raise ValueError("layers= goes with a single rule value, not a per-layer file")
                values = {int(il): values for il in layers}
            self.engine.set_sparsity(site, rule_name, values)
        self.engine.reset_stats()

    def logits(self, seqs: list[list[int]]):
        """(logits [B, T, V] float32, mask [B, T]) like EvalContext.logits; rows past a sequence's end are 0."""
        outs = [torch.from_numpy(self.engine.logits(s)) for s in seqs]
        T = max(o.shape[0] for o in outs)
        lg = torch.zeros((len(outs), T, outs[0].shape[1]), dtype=torch.float32)
        am = torch.zeros((len(outs), T), dtype=torch.long)
        for i, o in enumerate(outs):
            lg[i, :o.shape[0]] = o
            am[i, :o.shape[0]] = 1
        return lg, am

    def greedy(self, prompts: list[list[int]], n_new: int, stop=None) -> list[list[int]]:
        out = []
        for p in prompts:
            g: list[int] = []
            for t in self.engine.generate_ids(p, n_new, temperature=0.0):
                g.append(int(t))
                if stop is not None and stop([g])[0]:
                    break
            out.append(g)
        return out

    def sparsity(self) -> dict:
        st = self.engine.stats()

        def num(x):
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)

        sp = self.engine.sparsity
        return {"backend": "engine", "site": self.site, "rule": self.rule_name,
                "value": None if self.rule is None or math.isnan(self.rule.value) else self.rule.value,
                "rule_object": repr(self.rule), "engine_values": None if sp is None else sp["values"],
                "sparsity": num(st["overall"]), "sparsity_prompt": num(st["prefill"]),
                "sparsity_generated": num(st["decode"]), "per_layer": [num(x) for x in st["per_layer"]],
                "active": st["active"], "total": st["total"]}

    def model_info(self) -> dict:
        h = self.engine.hparams
        return {"engine_model": self.engine.path.name, "engine_arch": h.get("arch"), "engine_context": self.max_length}
