"""Where the rule is applied (docs/method.md §2): FFN sites found by structure, hooked, counted, removed cleanly.

A GLU FFN computes y = W_down(act(W_gate x) * (W_up x)). Sites:
  input         x, the (normed) FFN input, before it reaches gate and up
  gate          act(W_gate x), after the activation
  up            W_up x
  intermediate  h = act(W_gate x) * (W_up x), the input of W_down
  all_inputs    input and intermediate
Non-GLU MLPs (W_2 act(W_1 x)) have input and intermediate only.

FFNs are found by STRUCTURE: a module whose direct children are Linear-like layers (nn.Linear or GPT-2's
Conv1D) with the shapes of an FFN plus one activation module. Names are only hints (to tell gate from up).
Four kinds:
  glu        gate, up, down linears + act            (Llama, Mistral, Qwen2/3, Gemma3, Qwen2-MoE shared expert)
  fused_glu  gate_up linear [2f, d] (gate half first) + down + act                            (Phi-3)
  mlp        fc1 [f, d] + fc2 [d, f] + act           (GPT-2 c_fc/c_proj, GPT-NeoX, OPT fc1/fc2 in the layer)
  experts    3-D parameters gate_up_proj [E, 2f, d], down_proj [E, d, f] + act_fn   (transformers 5.x MoE)
  block_glu  gate, up, down linears + act as direct children of the whole transformer block, next to the
             attention linears (LLaDA's remote-code LLaDALlamaBlock: ff_proj, up_proj, ff_out, act)
Hooks used (docs/sites.md has the table per architecture):
  input: forward pre-hook on the GLU module / on fc1 for mlp;  gate: forward hook on the act module;
  up: forward hook on up_proj (fused: on gate_up_proj, second half only);  intermediate: pre-hook on down.
  block_glu input: pre-hooks on gate and up; the first applies the rule, the second reuses that result when it is
  called on the same tensor object (the block feeds both the same normed x), so the input is sparsified and
  counted once.
  experts: the module's forward is replaced (instance attribute, removed on detach) by an eager per-expert
  loop equal to transformers' eager experts forward, with the sites applied inside every expert.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Iterable

import torch
from torch import nn

from .rules import Rule
from .stats import SparsityStats

SITES = ("input", "gate", "up", "intermediate", "all_inputs")
SITE_TENSORS = {"input": ("input",), "gate": ("gate",), "up": ("up",), "intermediate": ("intermediate",),
                "all_inputs": ("input", "intermediate")}

# model_type values tested on tiny random models (tests/test_sites.py).
_TESTED = {
    "llama": "Llama", "mistral": "Mistral", "qwen2": "Qwen2", "qwen3": "Qwen3", "gemma3_text": "Gemma3 (text)",
    "gemma3": "Gemma3", "phi3": "Phi-3", "gpt2": "GPT-2", "gpt_neox": "GPT-NeoX / Pythia", "opt": "OPT",
    "mixtral": "Mixtral (MoE)", "qwen2_moe": "Qwen2-MoE", "qwen3_moe": "Qwen3-MoE (MoE)", "olmoe": "OLMoE (MoE)",
}
# Sub-models that are not the language model's FFNs (vision towers of multimodal checkpoints).
_SKIP_PATH = re.compile(r"(^|\.)(vision|visual|vision_tower|vision_model|audio|audio_tower|multi_modal_projector)")
_GATE_HINTS = ("gate", "w1", "wi_0")
_UP_HINTS = ("up", "w3", "wi_1")


def supported_architectures() -> list[str]:
    """transformers model_type values whose FFNs are known to be found and hooked correctly."""
    return sorted(_TESTED)


@dataclass
class FFN:
    """One FFN (or one layer's fused experts) found in a model."""

    layer: int
    path: str                 # module path in the model
    kind: str                 # "glu" | "block_glu" | "fused_glu" | "mlp" | "experts"
    module: nn.Module         # holds the FFN's linears (the MLP; OPT: the decoder layer; MoE: the experts)
    d_model: int
    d_ff: int
    act: str                  # child name of the activation module
    down: str | None = None   # child names (None where the kind has no such child)
    gate: str | None = None
    up: str | None = None
    gate_up: str | None = None
    fc1: str | None = None
    n_experts: int = 1
    notes: list = field(default_factory=list)

    @property
    def sites(self) -> tuple[str, ...]:
        return ("input", "intermediate", "all_inputs") if self.kind == "mlp" else SITES

    def __repr__(self):
        e = f", experts={self.n_experts}" if self.kind == "experts" else ""
        return f"FFN(layer={self.layer}, {self.kind}, {self.path!r}, d={self.d_model}, f={self.d_ff}{e})"


# -- structure discovery ---------------------------------------------------------------------------------

def _linear_in_out(m: nn.Module):
    """(in_features, out_features) of a Linear-like module, else None."""
    if isinstance(m, nn.Linear):
        return m.in_features, m.out_features
    w = getattr(m, "weight", None)
    if type(m).__name__ == "Conv1D" and isinstance(w, torch.Tensor) and w.dim() == 2:  # GPT-2: weight [in, out]
        return int(w.shape[0]), int(w.shape[1])
    return None


def _is_activation(name: str, m: nn.Module) -> bool:
    mod = type(m).__module__
    if mod.startswith("transformers.activations") or mod.startswith("torch.nn.modules.activation"):
        return True
    return ("act" in name.lower()) and _linear_in_out(m) is None and not any(True for _ in m.children())


def _hint(name: str, hints) -> bool:
    n = name.lower()
    return any(h in n for h in hints)


def _layer_index(path: str):
    for part in path.split("."):
        if part.isdigit():
            return int(part)
    return None


def _match(path: str, m: nn.Module):
    """Classify one module as an FFN by its direct children, or return None."""
    children = dict(m.named_children())
    acts = [n for n, c in children.items() if _is_activation(n, c)]
    if len(acts) != 1:
        return None
    act = acts[0]
    lin = {n: io for n, c in children.items() if (io := _linear_in_out(c)) is not None}

    # Fused experts (transformers 5.x MoE): 3-D parameters.
    gu = m._parameters.get("gate_up_proj") if hasattr(m, "_parameters") else None
    dn = m._parameters.get("down_proj") if hasattr(m, "_parameters") else None
    if isinstance(gu, torch.Tensor) and isinstance(dn, torch.Tensor) and gu.dim() == 3 and dn.dim() == 3:
        e, two_f, d = gu.shape
        if dn.shape[0] == e and two_f % 2 == 0:
            return dict(kind="experts", act=act, d_model=int(d), d_ff=int(two_f // 2), n_experts=int(e))

    if len(lin) == 3:
        names = list(lin)
        for down in names:
            f, d = lin[down]  # down: f -> d
            others = [n for n in names if n != down]
            if all(lin[o] == (d, f) for o in others):
                g = [o for o in others if _hint(o, _GATE_HINTS)]
                u = [o for o in others if _hint(o, _UP_HINTS) and o not in g]
                if len(g) == 1 and len(u) == 1:
                    return dict(kind="glu", act=act, down=down, gate=g[0], up=u[0], d_model=d, d_ff=f)
                return dict(kind="unknown_glu", reason=f"cannot tell gate from up among {others}")
        return None
    if len(lin) > 3:  # FFN linears inside a whole transformer block (LLaDA): a unique d->f, d->f, f->d triple
        for down, (f, d) in lin.items():
            ins = [n for n, io in lin.items() if io == (d, f)]
            if f == d or len(ins) != 2 or sum(io == (f, d) for io in lin.values()) != 1:
                continue
            u = [n for n in ins if _hint(n, _UP_HINTS)]
            if len(u) != 1:
                return dict(kind="unknown_glu", reason=f"cannot tell gate from up among {ins}")
            g = [n for n in ins if n != u[0]][0]
            return dict(kind="block_glu", act=act, down=down, gate=g, up=u[0], d_model=d, d_ff=f)
        return None
    if len(lin) == 2:
        (a, (ai, ao)), (b, (bi, bo)) = lin.items()
        for first, (fi, fo), second, (si, so) in ((a, (ai, ao), b, (bi, bo)), (b, (bi, bo), a, (ai, ao))):
            if fi == so and fo == si and fi != fo:
                return dict(kind="mlp", act=act, fc1=first, down=second, d_model=fi, d_ff=fo)
            if fi == so and fo == 2 * si:
                return dict(kind="fused_glu", act=act, gate_up=first, down=second, d_model=fi, d_ff=si)
    return None


def find_ffns(model: nn.Module) -> list[FFN]:
    """Every FFN of the language model, in layer order (MoE: one entry per layer's experts + shared experts)."""
    found = []
    for path, m in model.named_modules():
        if _SKIP_PATH.search(path):
            continue
        info = _match(path, m)
        if info is None:
            continue
        if info["kind"] == "unknown_glu":
            raise ValueError(f"{path}: looks like a GLU FFN but {info['reason']}; {_supported_msg(model)}")
        layer = _layer_index(path)
        if layer is None:
            continue
        found.append(FFN(layer=layer, path=path, module=m, **info))
    found.sort(key=lambda f: (f.layer, f.path))
    return found


def _model_type(model) -> str:
    cfg = getattr(model, "config", None)
    return str(getattr(cfg, "model_type", type(model).__name__))


def _supported_msg(model) -> str:
    return (f"model {type(model).__name__} (model_type={_model_type(model)!r}); supported architectures: "
            + ", ".join(f"{k} ({v})" for k, v in sorted(_TESTED.items())))


def _n_layers(model, ffns) -> int:
    cfg = getattr(model, "config", None)
    cfg = getattr(cfg, "text_config", None) or cfg
    n = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer", None) or 0
    return max(int(n), max(f.layer for f in ffns) + 1)


# -- the sparsifier --------------------------------------------------------------------------------------

class Sparsifier:
    """Apply a rule at one site of every FFN (or of chosen layers) and count the resulting sparsity.

        with Sparsifier(model, "input", TopP(0.9)) as sp:
            sp.set_tokens(batch["attention_mask"])
            model(**batch)
            print(sp.stats.overall())

    `rule` can be changed at any time (no re-attach); None = dense (still counts natural zeros).
    set_tokens(mask, phase) says which [batch, seq] positions count in the next forward calls (padding
    excluded). With auto_tokens=True the sparsifier reads attention_mask and the cache from every model call
    itself (model.generate works: the first call is "prompt", calls with a non-empty cache "generated").
    `observer(layer, tensor, v, token_mask)`, if given, sees every hooked tensor before the rule (calibration).
    """

    def __init__(self, model: nn.Module, site: str, rule: Rule | None = None, layers: Iterable[int] | None = None,
                 *, auto_tokens: bool = False, observer=None):
        if site not in SITES:
            raise ValueError(f"unknown site {site!r}; sites: {', '.join(SITES)}")
        self.model = model
        self.site = site
        self.tensors = SITE_TENSORS[site]
        ffns = find_ffns(model)
        if not ffns:
            raise ValueError(f"no FFN found in {_supported_msg(model)}")
        if _model_type(model) not in _TESTED:
            warnings.warn(f"model_type {_model_type(model)!r} is not among the tested architectures; FFNs were "
                          f"found by structure ({ffns[0]!r}, ...): check docs/sites.md before trusting results")
        self.n_layers = _n_layers(model, ffns)
        if layers is not None:
            layers = sorted({int(i) for i in layers})
            bad = [i for i in layers if not 0 <= i < self.n_layers]
            if bad or not layers:
                raise ValueError(f"layers {bad or layers} out of range [0, {self.n_layers})")
            ffns = [f for f in ffns if f.layer in set(layers)]
        for f in ffns:
            if site not in f.sites:
                raise ValueError(f"site {site!r} does not exist in the non-GLU FFNs of {_model_type(model)} "
                                 f"({type(model).__name__}); valid sites: {', '.join(f.sites)}")
        self.ffns = ffns
        self.layers = sorted({f.layer for f in ffns})
        self.rule = rule
        self.stats = SparsityStats(self.tensors, self.n_layers)
        self.auto_tokens = auto_tokens
        self.observer = observer
        self._token_mask = None
        self._phase = "prompt"
        self._handles = []
        self._patched = []  # (module, had_own_forward, old_forward)
        self.attached = False

    # rule is a plain attribute, checked on assignment
    @property
    def rule(self):
        return self._rule

    @rule.setter
    def rule(self, r):
        if r is not None and not isinstance(r, Rule):
            raise TypeError(f"rule must be a pysparse.rules.Rule or None, got {type(r).__name__}")
        self._rule = r

    # -- tokens ------------------------------------------------------------------------------------
    def set_tokens(self, attention_mask: torch.Tensor | None, phase: str = "prompt") -> None:
        """Positions [batch, seq] that count in the next forward(s) (None: all); phase 'prompt' | 'generated'."""
        if phase not in ("prompt", "generated"):
            raise ValueError(f"phase must be 'prompt' or 'generated', got {phase!r}")
        if attention_mask is not None:
            if not torch.is_tensor(attention_mask):
                attention_mask = torch.as_tensor(attention_mask)
            if attention_mask.dim() != 2:
                raise ValueError(f"attention_mask must be [batch, seq], got shape {tuple(attention_mask.shape)}")
            attention_mask = attention_mask.to(torch.bool)
        self._token_mask = attention_mask
        self._phase = phase

    def _tokens_for(self, lead_shape, token_idx=None):
        tm = self._token_mask
        if tm is None:
            return None
        n = 1
        for s in lead_shape if token_idx is None else ():
            n *= s
        if token_idx is not None:
            return tm.reshape(-1).to(token_idx.device)[token_idx]
        if tuple(lead_shape) == tuple(tm.shape) or n == tm.numel():
            return tm.reshape(lead_shape)
        raise RuntimeError(f"set_tokens mask has shape {tuple(tm.shape)} but the FFN sees tokens of shape "
                           f"{tuple(lead_shape)}; call set_tokens(attention_mask[:, -seq:]) before each forward")

    def _auto_hook(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        emb = kwargs.get("inputs_embeds")
        seq = ids.shape[-1] if ids is not None else (emb.shape[1] if emb is not None else None)
        cache = kwargs.get("past_key_values", kwargs.get("cache"))
        past = 0
        if cache is not None and hasattr(cache, "get_seq_length"):
            past = int(cache.get_seq_length())
        am = kwargs.get("attention_mask")
        if am is not None and torch.is_tensor(am) and am.dim() == 2 and seq is not None and am.shape[1] >= seq:
            am = am[:, am.shape[1] - seq:]
        else:
            am = None
        self.set_tokens(am, "generated" if past > 0 else "prompt")

    # -- the site function every hook calls ----------------------------------------------------------
    def _site(self, layer: int, tensor: str, v: torch.Tensor, token_idx=None) -> torch.Tensor:
        tm = self._tokens_for(v.shape[:-1], token_idx)
        if self.observer is not None:
            self.observer(layer, tensor, v, tm)
        out = v if self._rule is None else self._rule(v, key=(layer, tensor))
        self.stats.record(layer, tensor, out != 0, tm, self._phase)
        return out

    # -- attach / detach -----------------------------------------------------------------------------
    def attach(self) -> "Sparsifier":
        if self.attached:
            return self
        try:
            for f in self.ffns:
                self._attach_ffn(f)
            if self.auto_tokens:
                self._handles.append(self.model.register_forward_pre_hook(self._auto_hook, with_kwargs=True))
        except Exception:
            self.detach()
            raise
        self.attached = True
        return self

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        for module, had_own, old in reversed(self._patched):
            if had_own:
                module.forward = old
            else:
                del module.forward
        self._patched = []
        self.attached = False

    def __enter__(self):
        return self.attach()

    def __exit__(self, *exc):
        self.detach()

    def _attach_ffn(self, f: FFN) -> None:
        want = set(self.tensors)
        L = f.layer
        sub = lambda n: getattr(f.module, n)  # noqa: E731
        H = self._handles
        if f.kind == "experts":
            self._patch_experts(f, want)
            return
        if "input" in want and f.kind == "block_glu":
            H.extend(self._shared_input_hooks(L, sub(f.gate), sub(f.up)))
        elif "input" in want:
            target = sub(f.fc1) if f.kind == "mlp" else f.module
            H.append(target.register_forward_pre_hook(self._pre_hook(L, "input"), with_kwargs=True))
        if "intermediate" in want:
            H.append(sub(f.down).register_forward_pre_hook(self._pre_hook(L, "intermediate"), with_kwargs=True))
        if "gate" in want:
            H.append(sub(f.act).register_forward_hook(self._out_hook(L, "gate")))
        if "up" in want:
            if f.kind in ("glu", "block_glu"):
                H.append(sub(f.up).register_forward_hook(self._out_hook(L, "up")))
            else:  # fused gate_up: [gate | up] along the last dim, sparsify the up half only
                H.append(sub(f.gate_up).register_forward_hook(self._fused_up_hook(L, f.d_ff)))

    def _pre_hook(self, layer, tensor):
        def hook(module, args, kwargs):
            if args:
                return (self._site(layer, tensor, args[0]),) + tuple(args[1:]), kwargs
            name = next(iter(kwargs))  # called with keyword input only (not done by transformers)
            kwargs = dict(kwargs)
            kwargs[name] = self._site(layer, tensor, kwargs[name])
            return args, kwargs
        return hook

    def _shared_input_hooks(self, layer, gate, up):
        last = {}  # the input seen by whichever of gate/up ran first, and its sparsified version

        def hook(module, args, kwargs):
            x = args[0]
            if last.get("x") is x:
                out = last.pop("out")
                last.clear()
            else:
                out = self._site(layer, "input", x)
                last.update(x=x, out=out)
            return (out,) + tuple(args[1:]), kwargs
        return [gate.register_forward_pre_hook(hook, with_kwargs=True),
                up.register_forward_pre_hook(hook, with_kwargs=True)]

    def _out_hook(self, layer, tensor):
        def hook(module, args, out):
            return self._site(layer, tensor, out)
        return hook

    def _fused_up_hook(self, layer, f):
        def hook(module, args, out):
            if out.shape[-1] != 2 * f:
                raise RuntimeError(f"fused gate_up output has {out.shape[-1]} columns, expected {2 * f}")
            return torch.cat([out[..., :f], self._site(layer, "up", out[..., f:])], dim=-1)
        return hook

    def _patch_experts(self, f: FFN, want) -> None:
        m = f.module
        flags = {k: getattr(m, k, d) for k, d in (("has_bias", False), ("is_transposed", False),
                                                  ("is_concatenated", True), ("has_gate", True),
                                                  ("has_post_expert_norm", False))}
        if flags != {"has_bias": False, "is_transposed": False, "is_concatenated": True, "has_gate": True,
                     "has_post_expert_norm": False}:
            raise NotImplementedError(f"{f.path}: experts layout {flags} is not supported yet (only concatenated "
                                      f"[gate; up], untransposed, bias-free experts: Mixtral, Qwen2/3-MoE, OLMoE)")
        L = f.layer
        site = self._site
        F = nn.functional

        def forward(hidden_states, top_k_index, top_k_weights):
            # transformers' eager experts forward, with the sites applied inside every expert.
            final = torch.zeros_like(hidden_states)
            n_exp = m.gate_up_proj.shape[0]
            with torch.no_grad():
                expert_mask = F.one_hot(top_k_index, num_classes=n_exp + 1).permute(2, 1, 0)
                expert_hit = torch.greater(expert_mask.sum(dim=(-1, -2)), 0).nonzero()
            for e in expert_hit:
                e = e[0]
                if e == n_exp:
                    continue
                top_k_pos, token_idx = torch.where(expert_mask[e])
                x = hidden_states[token_idx]
                if "input" in want:
                    x = site(L, "input", x, token_idx)
                gate, up = F.linear(x, m.gate_up_proj[e]).chunk(2, dim=-1)
                g = m.act_fn(gate)
                if "gate" in want:
                    g = site(L, "gate", g, token_idx)
                if "up" in want:
                    up = site(L, "up", up, token_idx)
                h = g * up
                if "intermediate" in want:
                    h = site(L, "intermediate", h, token_idx)
                out = F.linear(h, m.down_proj[e]) * top_k_weights[token_idx, top_k_pos, None]
                final.index_add_(0, token_idx, out.to(final.dtype))
            return final

        had_own = "forward" in m.__dict__
        self._patched.append((m, had_own, m.__dict__.get("forward")))
        m.forward = forward

    def __repr__(self):
        return (f"Sparsifier(site={self.site!r}, rule={self._rule!r}, layers={len(self.layers)}/{self.n_layers}, "
                f"attached={self.attached})")
