"""`PysparseLM`: an lm-evaluation-harness model (registered as `pysparse`) that runs a causal LM with the
framework's sparsifier attached and counts the sparsity of every forward pass.

    lm_eval.simple_evaluate(model="pysparse",
                            model_args="pretrained=smollm2-135m,site=input,rule=top_p,p=0.9", tasks=[...])

Model args (besides lm-eval's batch_size / max_length):
  pretrained   registry name (`pysparse models list`), .gguf file or HF checkpoint dir (pysparse.models.load_hf)
  site         input (default), gate, up, intermediate, all_inputs
  rule         top_p (default), top_k, max_p, threshold
  p | value    the rule's value (top_p/max_p: p, top_k: keep fraction); none given: dense (natural zeros counted)
  rule_file    per-layer rule: JSON {"layer": value} (or a list) for top_p/top_k/max_p; for threshold the
               Threshold.to_dict() file ({"thresholds": [[layer, tensor, t], ...]})
  layers       only these layers, ':'-separated (a ',' would end the model arg), e.g. layers=0:5:10
  dtype        float32 (default) or bfloat16;  threads: torch (or engine) threads
  backend      torch (default): the HF model with the framework's hooks; engine: the GGUF on the C++ engine
               (pysparse.lmeval.engine_backend; sites input, intermediate, all_inputs, gate, up)

The three request types are computed here, not by lm-eval's HFLM, because HFLM calls the model without an
attention mask and so cannot tell padding from text; the sparsity counts must exclude padding. Tokenisation,
truncation, rolling windows and stop sequences follow HFLM exactly, so dense results equal the `hf` model's.
Batches are right-padded (log-likelihoods) or left-padded with a KV cache (generation) by
pysparse.tasks.EvalContext, which also tells the sparsifier which positions are real tokens.
"""

from __future__ import annotations

import copy
import math
import warnings

import torch
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from lm_eval.models.utils import (Collator, _add_special_kwargs, handle_stop_sequences, has_bos_prefix,
                                  resolve_max_length)
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window
from tqdm import tqdm

from ..sites import SITES
from ..sweep import DEFAULT_GRIDS, DENSE_VALUE

BACKENDS = ("torch", "engine")


def parse_sparsity(site="input", rule="top_p", value=None, rule_file=None, layers=None, backend="torch"):
    """Check the sparsity model args and build (site, Rule | None, layers) before any model is loaded."""
    from ..rules import load_per_layer, make_rule
    from .engine_backend import ENGINE_SITES

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; backends: {', '.join(BACKENDS)}")
    if site not in SITES:
        raise ValueError(f"unknown site {site!r}; sites: {', '.join(SITES)}")
    if backend == "engine" and site not in ENGINE_SITES:
        raise ValueError(f"site {site!r} is not on the engine; engine sites: {', '.join(ENGINE_SITES)}")
    if rule not in DEFAULT_GRIDS:
        raise ValueError(f"unknown rule {rule!r}; rules: {', '.join(DEFAULT_GRIDS)}")
    if value is not None and rule_file is not None:
        raise ValueError("give either a rule value (p=/value=) or rule_file=, not both")
    if rule_file is not None:
        r = load_per_layer(rule_file, rule)
    elif value is None:
        r = None
    else:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{rule} value must be a number in [0, 1], got {value!r}") from None
        if math.isnan(v) or not 0.0 <= v <= 1.0:
            raise ValueError(f"{rule} value must be in [0, 1], got {value!r}")
        if rule == "threshold":
            raise ValueError("rule=threshold needs calibrated thresholds: rule_file=THRESHOLDS.json "
                             "(Threshold.to_dict(); `pysparse critical --rule threshold` calibrates them)")
        r = None if v == DENSE_VALUE[rule] else make_rule(rule, v)
    if isinstance(layers, str):
        try:
            layers = [int(x) for x in layers.replace(",", ":").split(":") if x != ""]
        except ValueError:
            raise ValueError(f"layers must be ':'-separated layer indices, e.g. 0:5:10, got {layers!r}") from None
    elif isinstance(layers, int):
        layers = [layers]
    return site, r, layers


@register_model("pysparse")
class PysparseLM(TemplateLM):
    """lm-eval model: a causal LM with activation sparsity applied at one FFN site (see the module docstring)."""

    _DEFAULT_MAX_LENGTH = 2048

    def __init__(self, pretrained=None, site: str = "input", rule: str = "top_p", p=None, value=None,
                 rule_file=None, layers=None, backend: str = "torch", dtype: str = "float32", batch_size=1,
                 max_length=None, max_gen_toks: int = 256, add_bos_token=None, prefix_token_id=None, threads=None,
                 device=None, max_batch_size=None, eval_context=None, **kwargs):
        super().__init__()
        if p is not None and value is not None:
            raise ValueError("give the rule value once: p= or value=")
        if device not in (None, "cpu"):  # lm-eval's CLI passes cuda:0 unless told otherwise
            warnings.warn(f"the pysparse model runs on the CPU; device={device!r} ignored")
        unknown = {k: v for k, v in kwargs.items() if v is not None}
        if unknown:
            raise ValueError(f"unknown model args for pysparse: {', '.join(unknown)}")
        if str(batch_size).startswith("auto"):
            batch_size = 8  # no memory probing on the CPU: a fixed batch
        self._batch_size = int(batch_size)
        if self._batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.backend_name = backend
        self.site, rule_obj, self.layers = parse_sparsity(site, rule, p if p is not None else value, rule_file,
                                                          layers, backend)
        self.rule_name, self.rule_value, self.rule_file = rule, (p if p is not None else value), rule_file
        self._max_length = None if max_length is None else int(max_length)
        self.max_gen_toks = int(max_gen_toks)
        self.add_bos_token = None if add_bos_token is None else str(add_bos_token).lower() in ("1", "true")
        self.custom_prefix_token_id = None if prefix_token_id is None else int(prefix_token_id)

        if eval_context is not None:  # a sweep's model and sparsifier (pysparse.lmeval.harness): rule set outside
            self.ctx = eval_context
        elif pretrained is None:
            raise ValueError("model args need pretrained=NAME|FILE.gguf|HF_DIR")
        elif backend == "engine":
            from .engine_backend import EngineContext

            self.ctx = EngineContext(pretrained, self.site, rule, rule_obj, self.layers, threads, self._max_length,
                                     self._batch_size)
        else:
            self.ctx = self._load_torch(pretrained, dtype, threads, rule_obj)
        self.pretrained = pretrained or self.ctx.model_id
        self.tokenizer = self.ctx.tokenizer
        self.sparsifier = getattr(self.ctx, "sparsifier", None)

    def _load_torch(self, pretrained, dtype, threads, rule_obj):
        from .. import models
        from ..sites import Sparsifier
        from ..tasks import EvalContext

        if dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype must be float32 or bfloat16, got {dtype!r}")
        if threads is not None:
            torch.set_num_threads(int(threads))
        model, tok = models.load_hf(str(pretrained), dtype=getattr(torch, dtype))
        sp = Sparsifier(model, self.site, rule_obj, layers=self.layers).attach()
        return EvalContext(model, tok, sp, batch_size=self._batch_size, progress=False)

    # -- what lm-eval asks of a model ------------------------------------------------------------------
    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def prefix_token_id(self) -> int:
        if self.custom_prefix_token_id is not None:
            return self.custom_prefix_token_id
        if self.tokenizer.bos_token_id is not None:
            return self.tokenizer.bos_token_id
        return self.tokenizer.eos_token_id

    @property
    def max_length(self) -> int:
        if self._max_length:
            return self._max_length
        if getattr(self.ctx, "max_length", None):  # the engine's KV-cache length
            return self.ctx.max_length
        return resolve_max_length(getattr(self.ctx.model, "config", None), self.tokenizer,
                                  default=self._DEFAULT_MAX_LENGTH)

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def device(self):
        return torch.device("cpu")

    @property
    def tokenizer_name(self) -> str:
        return str(getattr(self.tokenizer, "name_or_path", "tokenizer")).replace("/", "__")

    def tok_encode(self, string: str, add_special_tokens=None, left_truncate_len=None, **kwargs) -> list[int]:
        kw = _add_special_kwargs(add_special_tokens, self.add_bos_token)
        if add_special_tokens is None and has_bos_prefix(string, self.tokenizer.decode(self.prefix_token_id)):
            kw["add_special_tokens"] = False
        enc = self.tokenizer.encode(string, **kw)
        return enc[-left_truncate_len:] if left_truncate_len else enc

    def tok_decode(self, tokens, skip_special_tokens: bool = True) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=skip_special_tokens)

    # -- log-likelihoods -------------------------------------------------------------------------------
    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs=None):
        res = []
        # longest first (as HFLM): padding per batch is small and the time estimate is an upper bound
        re_ord = Collator(requests, sort_fn=lambda r: (-len(r[1] + r[2]), tuple(r[1] + r[2])))
        bs = int(override_bs or self.batch_size)
        pbar = tqdm(total=len(requests), disable=disable_tqdm, desc="pysparse loglikelihood")
        for chunk in re_ord.get_batched(n=bs):
            seqs, lens = [], []
            for _, ctx_enc, cont_enc in chunk:
                if not ctx_enc or not cont_enc or len(cont_enc) > self.max_length:
                    raise ValueError(f"bad request: context of {len(ctx_enc)} and continuation of {len(cont_enc)} "
                                     f"tokens (need both non-empty, continuation <= {self.max_length})")
                inp = (ctx_enc + cont_enc)[-(self.max_length + 1):][:-1]  # left-truncated like HFLM
                seqs.append(inp)
                lens.append(len(inp))
            logits, _ = self.ctx.logits(seqs)
            for (req_str, _, cont_enc), lg, n in zip(chunk, logits, lens):
                lp = torch.log_softmax(lg[n - len(cont_enc):n], dim=-1)  # only the scored positions
                cont = torch.tensor(cont_enc, dtype=torch.long)
                greedy = bool((lp.argmax(-1) == cont).all())
                answer = (float(lp.gather(1, cont[:, None]).sum()), greedy)
                res.append(answer)
                if req_str is not None:
                    self.cache_hook.add_partial("loglikelihood", req_str, answer)
                pbar.update(1)
        pbar.close()
        return re_ord.get_original(res)

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        windows, owner = [], []
        for i, string in enumerate(req.args[0] for req in requests):
            for w in map(make_disjoint_window, get_rolling_token_windows(
                    token_list=self.tok_encode(string), prefix_token=self.prefix_token_id,
                    max_seq_len=self.max_length, context_len=1)):
                windows.append((None,) + w)
                owner.append(i)
        lls = self._loglikelihood_tokens(windows, disable_tqdm=disable_tqdm)
        out = [0.0] * len(requests)
        for i, (ll, _) in zip(owner, lls):
            out[i] += ll
        for req, ll in zip(requests, out):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, ll)
        return out

    # -- generation ------------------------------------------------------------------------------------
    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        res = []
        re_ords = Collator([r.args for r in requests], sort_fn=lambda x: (-len(self.tok_encode(x[0])), x[0]),
                           group_by="gen_kwargs", group_fn=lambda x: x[1])
        eos = self.tok_decode([self.eot_token_id], skip_special_tokens=False)
        pbar = tqdm(total=len(requests), disable=disable_tqdm, desc="pysparse generate_until")
        for chunk in re_ords.get_batched(n=self.batch_size):
            contexts, all_kwargs = zip(*chunk)
            kw = copy.deepcopy(all_kwargs[0])
            if not isinstance(kw, dict):
                raise ValueError(f"gen_kwargs must be a dict, got {kw!r}")
            until = handle_stop_sequences(kw.pop("until", None), eos=eos)
            n_new = int(kw.pop("max_gen_toks", self.max_gen_toks))
            if kw.pop("do_sample", False) or float(kw.pop("temperature", 0.0) or 0.0) > 0.0:
                raise ValueError("the pysparse model decodes greedily only (do_sample=false, temperature=0)")
            prompts = [self.tok_encode(c, left_truncate_len=self.max_length - n_new) for c in contexts]

            def finished(gen):
                return [self.eot_token_id in g or any(u in self.tok_decode(g, skip_special_tokens=False)
                                                      for u in until) for g in gen]

            for context, g in zip(contexts, self.ctx.greedy(prompts, n_new, stop=finished)):
                if self.eot_token_id in g:
                    g = g[:g.index(self.eot_token_id)]
                s = self.tok_decode(g)
                for term in until:
                    if term:
                        s = s.split(term)[0]
                res.append(s)
                self.cache_hook.add_partial("generate_until", (context, all_kwargs[0]), s)
                pbar.update(1)
        pbar.close()
        return re_ords.get_original(res)

    # -- sparsity --------------------------------------------------------------------------------------
    def sparsity(self) -> dict:
        """Pooled, per-layer, prompt and generated sparsity of every forward pass so far (padding excluded)."""
        if self.sparsifier is None:
            return self.ctx.sparsity()
        st = self.sparsifier.stats

        def pooled(phase=None):
            return None if st.totals(phase=phase).sum() == 0 else st.overall(phase=phase)

        rule = self.sparsifier.rule
        return {"backend": self.backend_name, "site": self.site, "rule": self.rule_name,
                "value": None if rule is None else (None if math.isnan(rule.value) else rule.value),
                "rule_object": repr(rule), "rule_file": self.rule_file, "layers": self.sparsifier.layers,
                "sparsity": pooled(), "sparsity_prompt": pooled("prompt"), "sparsity_generated": pooled("generated"),
                "per_layer": [None if math.isnan(x) else float(x) for x in st.per_layer()],
                "tokens_prompt": st.n_tokens(phase="prompt"), "tokens_generated": st.n_tokens(phase="generated"),
                "stats": st.to_dict()}

    def get_model_info(self) -> dict:
        # lm-eval merges this into results["config"] after the evaluation, so the sparsity of the run lands in
        # its results JSON however the model was started (our CLI, lm-eval's, or simple_evaluate).
        m = self.ctx.model
        if m is None:
            return {**self.ctx.model_info(), "pysparse": self.sparsity()}
        return {"model_num_parameters": sum(p.numel() for p in m.parameters()),
                "model_dtype": str(next(m.parameters()).dtype), "pysparse": self.sparsity()}
