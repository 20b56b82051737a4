"""A GGUF model on the C++ engine: logits, generation, chat, and FFN activation sparsity switched on per token.

    from pysparse.engine import Model
    m = Model.load("smollm2-135m", threads=2, context=2048)    # registry name or .gguf path
    logits = m.logits(m.tokenizer("Hello world")["input_ids"])  # numpy (n_tokens, vocab), every position
    m.set_sparsity("input", "top_p", 0.9)                       # per-token top-p on the FFN input, all layers
    for piece in m.generate("The capital of France is", max_new_tokens=32, stream=True):
        print(piece, end="", flush=True)
    print(m.stats())                                            # pooled / per-layer sparsity, prefill and decode

Weights stay memory-mapped (no copy of the file); only the FFN matrices the chosen site needs are repacked into
the engine's input-major layout when sparsity is switched on. The tokenizer and chat template come from the GGUF
through transformers. C++ runs with the GIL released; Ctrl-C stops a prefill between chunks and a generation
between tokens.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .. import _core

SITES = ("input", "intermediate", "all_inputs", "gate", "up")
RULES = ("top_p", "top_k", "max_p", "threshold")
# Which selection points a site counts (the C++ counters: 0 = FFN input x, 1 = h or act(gate)).
_SITE_POINTS = {"input": (0,), "intermediate": (1,), "all_inputs": (0, 1), "gate": (1,), "up": (1,)}


def _check_value(rule: str, value: float) -> float:
    v = float(value)
    if math.isnan(v):
        raise ValueError(f"{rule} value is NaN")
    if rule in ("top_p", "top_k", "max_p") and not 0.0 <= v <= 1.0:
        raise ValueError(f"{rule} value must be in [0, 1], got {value}")
    if rule == "threshold" and (v < 0 or math.isinf(v)):
        raise ValueError(f"threshold must be finite and >= 0, got {value}")
    return v


def load_sparsity_file(path: str | Path) -> dict:
    """A sparsity allocation saved as JSON: {"site": ..., "rule": ..., "values": [one per layer, null = dense]}
    (or "value": one for all layers)."""
    with open(path) as f:
        spec = json.load(f)
    if not isinstance(spec, dict) or "site" not in spec or "rule" not in spec or not ("values" in spec or "value" in spec):
        raise ValueError(f"{path}: a sparsity file needs 'site', 'rule' and 'values' (per layer) or 'value'")
    return spec


class Model:
    """A GGUF model on the engine. Use Model.load()."""

    def __init__(self, core: "_core.Model", path: Path, tokenizer=None):
        self._m = core
        self.path = Path(path)
        self._tokenizer = tokenizer
        self._sparsity: dict | None = None

    # ---- loading -------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, model: str | Path, threads: int | None = None, context: int | None = None,
             kv_type: str = "f32", max_batch: int = 512, activations: str = "q8") -> "Model":
        """Load a registry model (see `pysparse models list`) or a .gguf file.

        threads: kernel threads (default: all cores, or PYSPARSE_NUM_THREADS); context: KV-cache length (default
        min(training context, 4096)); kv_type: 'f32' or 'f16' cache entries; activations: 'q8' (default: the
        integer kernels, each activation vector quantised to 8 bits per block as llama.cpp does) or 'f32' (every
        product in float32 on the exactly decoded weights: the quantised model as transformers computes it, for
        fidelity checks; several times slower, and sparsity then thins the vectors without skipping any work)."""
        from ..models import resolve_gguf

        path = resolve_gguf(model)
        if path.is_dir():
            raise ValueError(f"{path} is a directory; the engine loads a .gguf file")
        if threads is not None:
            if int(threads) < 1:
                raise ValueError(f"threads must be >= 1, got {threads}")
            _core.set_num_threads(int(threads))
        if context is not None and int(context) < 1:
            raise ValueError(f"context must be >= 1, got {context}")
        core = _core.Model(str(path), n_ctx=int(context or 0), kv_type=kv_type, max_batch=int(max_batch),
                           activations=activations)
        return cls(core, path)

    @property
    def tokenizer(self):
        """The GGUF's tokenizer through transformers (loaded on first use; cached beside registry models)."""
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.path)
        return self._tokenizer

    # ---- facts -----------------------------------------------------------------------------------------------
    @property
    def hparams(self) -> dict:
        return self._m.hparams

    @property
    def activations(self) -> str:
        """'q8' (integer kernels) or 'f32' (float32 products): see load()."""
        return self._m.activations

    @property
    def n_layer(self) -> int:
        return self._m.hparams["n_layer"]

    @property
    def n_vocab(self) -> int:
        return self._m.n_vocab

    @property
    def context(self) -> int:
        return self._m.n_ctx

    def weight_bytes(self) -> dict:
        """Bytes of weights one decode step reads, by part: attention, ffn, output."""
        return dict(self._m.weight_bytes())

    # ---- evaluation ----------------------------------------------------------------------------------------------
    def logits(self, token_ids: Iterable[int]) -> np.ndarray:
        """Logits of every position of a new sequence: float32 (n_tokens, vocab)."""
        ids = self._ids(token_ids)
        self._m.reset()
        return self._m.forward(ids, True)

    def _ids(self, token_ids) -> np.ndarray:
        ids = np.asarray(list(token_ids) if not isinstance(token_ids, np.ndarray) else token_ids)
        if ids.ndim != 1:
            raise ValueError(f"token_ids must be a 1-D sequence of token ids, got shape {ids.shape}")
        if ids.size == 0:
            raise ValueError("token_ids is empty")
        if ids.dtype.kind not in "iu":
            raise ValueError(f"token_ids must be integers, got dtype {ids.dtype}")
        if ids.min() < 0 or ids.max() >= self.n_vocab:
            bad = int(ids[(ids < 0) | (ids >= self.n_vocab)][0])
            raise ValueError(f"token id {bad} is outside the vocabulary [0, {self.n_vocab})")
        if ids.size > self.context:
            raise ValueError(f"{ids.size} tokens exceed the context length {self.context} "
                             f"(load with a larger context=, up to {self.hparams['n_ctx_train']})")
        return ids.astype(np.int32)

    def generate(self, prompt: str | Iterable[int], max_new_tokens: int = 128, temperature: float = 0.0,
                 top_k: int = 0, top_p: float = 1.0, seed: int | None = None, stream: bool = False,
                 stop_at_eos: bool = True):
        """Continue a prompt (text, or token ids). Returns the new text, or with stream=True an iterator of text
        pieces as they are generated. Greedy at temperature 0."""
        gen = self._generate(prompt, max_new_tokens, temperature, top_k, top_p, seed, stop_at_eos)
        return gen if stream else "".join(gen)

    def generate_ids(self, prompt_ids: Iterable[int], max_new_tokens: int = 128, temperature: float = 0.0,
                     top_k: int = 0, top_p: float = 1.0, seed: int | None = None,
                     eos_ids: Iterable[int] = ()) -> Iterator[int]:
        """Token ids generated after prompt_ids, one at a time (a new sequence)."""
        ids = self._ids(prompt_ids)
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        n = min(max_new_tokens, self.context - ids.size)
        self._m.reset()
        self._m.seed(int(seed) if seed is not None else int.from_bytes(os.urandom(8), "little"))
        eos = set(int(e) for e in eos_ids)
        feed = ids
        for _ in range(n):
            tok = self._m.step(feed, float(temperature), int(top_k), float(top_p))
            yield tok
            if tok in eos:
                return
            feed = np.array([tok], np.int32)

    def stream(self, prompt_ids: Iterable[int], max_new_tokens: int = 128, temperature: float = 0.0,
               top_k: int = 0, top_p: float = 1.0, seed: int | None = None,
               eos_ids: Iterable[int] | None = None) -> Iterator[tuple[int, str]]:
        """(token id, new text) for each token generated after prompt_ids (a new sequence), stopping before an
        end-of-sequence id (eos_ids; default the tokenizer's eos). The new text is '' while a multi-byte character
        is still incomplete, then carries it whole."""
        tok = self.tokenizer
        eos = set(eos_ids) if eos_ids is not None else ({tok.eos_token_id} - {None})
        out: list[int] = []
        shown = ""
        for t in self.generate_ids(prompt_ids, max_new_tokens, temperature, top_k, top_p, seed, eos):
            if t in eos:
                return
            out.append(t)
            text = tok.decode(out, skip_special_tokens=True)
            if text.endswith("\ufffd"):
                yield t, ""
                continue
            yield t, text[len(shown):]
            shown = text

    def _generate(self, prompt, max_new_tokens, temperature, top_k, top_p, seed, stop_at_eos) -> Iterator[str]:
        ids = self.tokenizer(prompt)["input_ids"] if isinstance(prompt, str) else list(prompt)
        for _, piece in self.stream(ids, max_new_tokens, temperature, top_k, top_p, seed,
                                    None if stop_at_eos else ()):
            if piece:
                yield piece

    def chat_prompt(self, messages: list[dict]) -> list[int]:
        """Token ids of a conversation under the GGUF's chat template, ready for the assistant's turn."""
        tok = self.tokenizer
        if not getattr(tok, "chat_template", None):
            raise ValueError(f"{self.path.name} has no chat template (tokenizer.chat_template)")
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)

    # ---- sparsity ----------------------------------------------------------------------------------------------
    def set_sparsity(self, site: str, rule: str = "top_p", value: float | list | dict | None = None,
                     layers: Iterable[int] | None = None, power: float = 1.0) -> None:
        """Sparsify the FFN at `site` (input, intermediate, all_inputs, gate, up) with `rule` (top_p, top_k, max_p,
        threshold). value: one number for all layers (or the listed `layers`), a list with one value per layer
        (None = dense layer), or {layer: value}. site 'none' switches sparsity off."""
        if site in (None, "none", "dense"):
            self.clear_sparsity()
            return
        if site not in SITES:
            raise ValueError(f"unknown site {site!r}; the engine's sites: {', '.join(SITES)}")
        rule = rule.replace("-", "_")
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}; rules: {', '.join(RULES)}")
        n = self.n_layer
        if value is None:
            raise ValueError("set_sparsity needs a value (p for top_p / max_p, keep fraction for top_k, threshold)")
        if isinstance(value, dict):
            values = [math.nan] * n
            for k, v in value.items():
                values[self._layer(int(k))] = _check_value(rule, v)
        elif isinstance(value, (list, tuple, np.ndarray)):
            if len(value) != n:
                raise ValueError(f"{len(value)} values for {n} layers")
            values = [math.nan if v is None else _check_value(rule, v) for v in value]
        else:
            v = _check_value(rule, value)
            values = [math.nan] * n
            for il in (range(n) if layers is None else layers):
                values[self._layer(int(il))] = v
        if layers is not None and not isinstance(value, (int, float)):
            raise ValueError("layers= goes with a single value")
        self._m.set_sparsity(site, rule, values, float(power))
        self._sparsity = {"site": site, "rule": rule, "values": [None if math.isnan(v) else v for v in values]}
        self.reset_stats()

    def load_sparsity(self, path: str | Path) -> None:
        """Apply a sparsity file (see load_sparsity_file), e.g. a per-layer allocation."""
        spec = load_sparsity_file(path)
        self.set_sparsity(spec["site"], spec["rule"], spec.get("values", spec.get("value")))

    def clear_sparsity(self) -> None:
        self._m.clear_sparsity()
        self._sparsity = None
        self.reset_stats()

    @property
    def sparsity(self) -> dict | None:
        """The sparsity in force: {'site', 'rule', 'values' per layer} or None (dense)."""
        return self._sparsity

    def kernel_plan(self) -> list[dict]:
        """Per layer, how gate / up / down run under the current sparsity: "sparse" (input-major repack, only the
        active columns read), "masked_dense" (the rule still thins the vector; types whose sparse kernel is slower
        than their dense one at usual sparsities, Q6_K by default, run the dense kernel on the masked vector: same
        model, no repack), "row_skip" (up at the gate site) or "dense"."""
        return self._m.kernel_plan()

    def _layer(self, il: int) -> int:
        if not 0 <= il < self.n_layer:
            raise ValueError(f"layer {il} out of range [0, {self.n_layer})")
        return il

    def stats(self) -> dict:
        """Sparsity measured since the last reset_stats(): pooled overall, per phase (prefill / decode), per layer,
        as 1 - active / total entries at the site's selection points (the framework's pooled definition)."""
        c = self._m.counters().astype(np.float64)  # [layer, point, phase, active/total]
        site = self._sparsity["site"] if self._sparsity else None
        points = _SITE_POINTS.get(site, ())
        sel = c[:, list(points)] if points else np.zeros((self.n_layer, 1, 2, 2))

        def sparsity(a, t):
            return float(1.0 - a / t) if t > 0 else float("nan")

        per_layer = [sparsity(sel[il, :, :, 0].sum(), sel[il, :, :, 1].sum()) for il in range(self.n_layer)]
        return {
            "site": site,
            "overall": sparsity(sel[..., 0].sum(), sel[..., 1].sum()),
            "prefill": sparsity(sel[:, :, 0, 0].sum(), sel[:, :, 0, 1].sum()),
            "decode": sparsity(sel[:, :, 1, 0].sum(), sel[:, :, 1, 1].sum()),
            "per_layer": per_layer,
            "active": int(sel[..., 0].sum()),
            "total": int(sel[..., 1].sum()),
        }

    def reset_stats(self) -> None:
        self._m.reset_counters()

    def timings(self) -> dict:
        """Decode-step wall time by part (ms per token): attention, ffn, output, total, since reset_timings()."""
        t = self._m.timings()
        n = max(int(t["tokens"]), 1)
        return {"tokens": int(t["tokens"]), **{k[:-3]: t[k] / 1e6 / n for k in
                                                ("attention_ns", "ffn_ns", "output_ns", "total_ns")}}

    def reset_timings(self) -> None:
        self._m.reset_timings()

    def reset(self) -> None:
        """Forget the sequence (KV positions) and the sparsity counters."""
        self._m.reset()
        self.reset_stats()

    def __repr__(self):
        h = self.hparams
        sp = f", sparsity={self._sparsity['site']}:{self._sparsity['rule']}" if self._sparsity else ""
        acts = ", f32 activations" if self.activations == "f32" else ""
        return (f"Model({self.path.name}: {h['arch']}, {h['n_layer']} layers, d={h['n_embd']}, "
                f"context {self.context}{acts}{sp})")


def load_tokenizer(gguf_path: str | Path):
    """The tokenizer stored in a GGUF, through transformers; saved beside files in pysparse's model cache so the
    next load skips the conversion."""
    try:
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as e:
        raise ImportError("the tokenizer needs transformers: pip install 'pysparse[eval]' (or transformers)") from e
    from ..artifacts import cache_dir

    p = Path(gguf_path)
    saved = p.parent / "tokenizer"
    in_cache = cache_dir("models") in p.parents
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        if in_cache and (saved / "tokenizer_config.json").exists():
            return AutoTokenizer.from_pretrained(saved)
        tok = AutoTokenizer.from_pretrained(p.parent, gguf_file=p.name)
        if in_cache:
            tok.save_pretrained(saved)
        return tok
    finally:
        hf_logging.set_verbosity(verbosity)
