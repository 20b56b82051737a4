"""Sites on tiny random models of every supported architecture.

The oracle for "the right tensor is sparsified" is a manual forward of each FFN computed from its raw input
with the module's own linears and activation (called via .forward, which bypasses hooks), applying the rule
where the site says; it must equal what the hooked model's W_down produced, and the zeros it contains must
equal the counts.
"""

import numpy as np
import pytest
import torch
from torch import nn

from pysparse.rules import MaxP, TopK, TopP
from pysparse.sites import SITE_TENSORS, SITES, Sparsifier, find_ffns, supported_architectures
# Tiny tensors: intra-op threads only add synchronisation cost (and stall on a busy shared machine).
torch.set_num_threads(1)

from tiny_models import GLU_ARCHS, LAYERS, MLP_ARCHS, MOE_ARCHS, TINY_ARCHS, build_tiny, tiny_batch, tiny_model



@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


def model_of(arch):
    return tiny_model(arch)


def sites_of(arch):
    return ("input", "intermediate", "all_inputs") if arch in MLP_ARCHS else SITES


CASES = [(a, s) for a in TINY_ARCHS for s in sites_of(a)]


def logits(model, batch):
    return model(**batch).logits


# -- manual FFN forward (the oracle) ---------------------------------------------------------------------

def _f(m, name):
    return getattr(m, name).forward  # no hooks


def manual_ffn(ffn, x, want, rule, routing=None):
    """Output of W_down and the sparsified tensors {tensor: [values]} for raw FFN input x."""
    R = lambda t, v: rule(v, key=(ffn.layer, t)) if t in want else v  # noqa: E731
    seen = {}

    def note(t, v):
        if t in want:
            seen.setdefault(t, []).append(v)
        return v

    m = ffn.module
    if ffn.kind == "mlp":
        xs = note("input", R("input", x))
        h = note("intermediate", R("intermediate", _f(m, ffn.act)(_f(m, ffn.fc1)(xs))))
        return _f(m, ffn.down)(h), seen
    if ffn.kind in ("glu", "fused_glu"):
        xs = note("input", R("input", x))
        if ffn.kind == "glu":
            g, u = _f(m, ffn.gate)(xs), _f(m, ffn.up)(xs)
        else:
            g, u = _f(m, ffn.gate_up)(xs).chunk(2, dim=-1)
        g = note("gate", R("gate", _f(m, ffn.act)(g)))
        u = note("up", R("up", u))
        h = note("intermediate", R("intermediate", g * u))
        return _f(m, ffn.down)(h), seen
    # experts: plain loop over (token, slot)
    idx, w = routing
    out = torch.zeros_like(x)
    for t in range(x.shape[0]):
        for k in range(idx.shape[1]):
            e = int(idx[t, k])
            xs = note("input", R("input", x[t:t + 1]))
            g, u = nn.functional.linear(xs, m.gate_up_proj[e]).chunk(2, dim=-1)
            g = note("gate", R("gate", m.act_fn.forward(g)))
            u = note("up", R("up", u))
            h = note("intermediate", R("intermediate", g * u))
            out[t] += (nn.functional.linear(h, m.down_proj[e]) * w[t, k])[0]
    return out, seen


def capture_ffn_io(model, ffns):
    """Register (before the sparsifier) hooks that record each FFN's raw input and its W_down output."""
    rec, handles = {}, []
    for i, f in enumerate(ffns):
        r = rec.setdefault(i, {})
        if f.kind == "experts":
            def pre(mod, args, r=r):
                r["x"], r["routing"] = args[0], (args[1], args[2])
            def post(mod, args, out, r=r):
                r["y"] = out
            handles.append(f.module.register_forward_pre_hook(pre))
            handles.append(f.module.register_forward_hook(post))
            continue
        entry = getattr(f.module, f.fc1) if f.kind == "mlp" else f.module
        def pre(mod, args, r=r):
            r["x"] = args[0]
        def post(mod, args, out, r=r):
            r["y"] = out
        handles.append(entry.register_forward_pre_hook(pre))
        handles.append(getattr(f.module, f.down).register_forward_hook(post))
    return rec, handles


@pytest.mark.parametrize("arch,site", CASES)
def test_site_sparsifies_the_right_tensor_and_counts_it(arch, site):
    model = model_of(arch)
    batch = tiny_batch()
    ffns = find_ffns(model)
    rule = TopP(0.6)
    rec, handles = capture_ffn_io(model, ffns)
    try:
        with Sparsifier(model, site, rule) as sp:
            sp.set_tokens(batch["attention_mask"])
            model(**batch)
    finally:
        for h in handles:
            h.remove()
    want = set(SITE_TENSORS[site])
    tm = batch["attention_mask"].bool().reshape(-1)
    expected_zeros = {(L, t): 0 for L in range(LAYERS) for t in want}
    expected_totals = dict(expected_zeros)
    for i, f in enumerate(ffns):
        r = rec[i]
        y, seen = manual_ffn(f, r["x"], want, rule, r.get("routing"))
        torch.testing.assert_close(r["y"], y, rtol=1e-5, atol=1e-5, msg=f"{arch} {site} {f}")
        assert set(seen) == want
        for t, vals in seen.items():
            if f.kind == "experts":  # one row per (token, slot), in token order
                idx = r["routing"][0]
                rows_tm = tm.repeat_interleave(idx.shape[1])
                v = torch.cat(vals)[rows_tm]
            else:
                v = vals[0].reshape(-1, vals[0].shape[-1])[tm]
            # the rule really dropped something at p = 0.6 (the test can fail)
            assert (v == 0).any(), (arch, site, t)
            expected_zeros[(f.layer, t)] += int((v == 0).sum())
            expected_totals[(f.layer, t)] += v.numel()
    for (L, t), z in expected_zeros.items():
        assert sp.stats.zeros(t)[L] == z, (arch, site, L, t)
        assert sp.stats.totals(t)[L] == expected_totals[(L, t)], (arch, site, L, t)


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_dense_p1_and_detach_leave_model_exact(arch):
    model = model_of(arch)
    batch = tiny_batch()

    def structure():
        return [(n, type(m).__name__, len(m._forward_hooks), len(m._forward_pre_hooks),
                 "forward" in m.__dict__) for n, m in model.named_modules()]

    before, ref = structure(), logits(model, batch)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    for site in sites_of(arch):
        for rule in (TopP(1.0), None):
            with Sparsifier(model, site, rule) as sp:
                sp.set_tokens(batch["attention_mask"])
                assert torch.equal(logits(model, batch), ref), (arch, site, rule)
                assert structure() != before
            s = sp.stats
            assert (s.zeros() <= s.totals()).all()
        with Sparsifier(model, site, TopP(0.3)):
            assert not torch.equal(logits(model, batch), ref)
        assert structure() == before
        assert torch.equal(logits(model, batch), ref)
    assert all(torch.equal(v, sd[k]) for k, v in model.state_dict().items())


def _d_of(ffn, tensor):
    return ffn.d_model if tensor == "input" else ffn.d_ff


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_totals_are_real_tokens_times_width(arch):
    model = model_of(arch)
    batch = tiny_batch(batch=3, seq=7, left_pad=(0, 2, 5))
    n_real = int(batch["attention_mask"].sum())
    top_k = getattr(model.config, "num_experts_per_tok", 1)
    for site in sites_of(arch):
        with Sparsifier(model, site, MaxP(0.2)) as sp:
            sp.set_tokens(batch["attention_mask"])
            model(**batch)
        s = sp.stats
        for t in SITE_TENSORS[site]:
            want = np.zeros(sp.n_layers, dtype=np.int64)
            for f in find_ffns(model):
                want[f.layer] += n_real * _d_of(f, t) * (top_k if f.kind == "experts" else 1)
            assert np.array_equal(s.totals(t), want), (arch, site, t)
            assert np.array_equal(s.totals(t, "prompt"), want) and s.totals(t, "generated").sum() == 0
        assert s.totals().dtype == np.int64 and s.zeros().dtype == np.int64
        assert s.overall() == s.zeros().sum() / s.totals().sum()
        assert 0 < s.overall() < 1


def test_padding_is_excluded_not_just_scaled():
    """Counts over a left-padded batch equal counts over its real positions alone."""
    model = model_of("llama")
    batch = tiny_batch(batch=2, seq=8, left_pad=(0, 3))
    with Sparsifier(model, "intermediate", TopP(0.7)) as sp:
        sp.set_tokens(batch["attention_mask"])
        model(**batch)
    captured = []
    with Sparsifier(model, "intermediate", TopP(0.7)) as sp2:
        hs = [f.module.down_proj.register_forward_pre_hook(lambda m, a: captured.append(a[0]))
              for f in find_ffns(model)]
        model(**batch)
        for h in hs:
            h.remove()
    tm = batch["attention_mask"].bool()
    zeros = sum(int((c[tm] == 0).sum()) for c in captured)
    assert sp.stats.zeros().sum() == zeros
    assert sp2.stats.totals().sum() == 16 * 64 * LAYERS and sp.stats.totals().sum() == 13 * 64 * LAYERS


@pytest.mark.parametrize("arch", ["llama", "gpt2", "opt", "mixtral", "qwen2_moe"])
def test_prompt_and_generated_phases_with_a_kv_cache_loop(arch):
    model = model_of(arch)
    batch = tiny_batch(batch=2, seq=6, left_pad=(0, 2))
    am = batch["attention_mask"]
    n_real, steps = int(am.sum()), 3
    with Sparsifier(model, "input", TopP(0.8)) as sp:
        sp.set_tokens(am, "prompt")
        out = model(**batch, use_cache=True)
        cache, nxt = out.cache, out.logits[:, -1].argmax(-1, keepdim=True)
        for _ in range(steps):
            am = torch.cat([am, torch.ones(2, 1, dtype=am.dtype)], dim=1)
            sp.set_tokens(am[:, -1:], "generated")
            out = model(input_ids=nxt, attention_mask=am, cache=cache, use_cache=True)
            cache, nxt = out.cache, out.logits[:, -1].argmax(-1, keepdim=True)
    per_tok = sum(f.d_model * (model.config.num_experts_per_tok if f.kind == "experts" else 1)
                  for f in find_ffns(model))
    assert sp.stats.totals(phase="prompt").sum() == n_real * per_tok
    assert sp.stats.totals(phase="generated").sum() == 2 * steps * per_tok
    assert 0 < sp.stats.overall(phase="generated") < 1


@pytest.mark.parametrize("arch", ["llama", "phi3", "gpt_neox", "olmoe"])
def test_generate_with_auto_tokens(arch):
    model = model_of(arch)
    batch = tiny_batch(batch=2, seq=6, left_pad=(0, 2))
    new = 4
    with Sparsifier(model, "all_inputs", TopP(0.9), auto_tokens=True) as sp:
        model.generate(**batch, max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)
    per_tok = sum(f.d_model * (model.config.num_experts_per_tok if f.kind == "experts" else 1)
                  for f in find_ffns(model))
    n_real = int(batch["attention_mask"].sum())
    assert sp.stats.totals("input", "prompt").sum() == n_real * per_tok
    assert sp.stats.totals("input", "generated").sum() == 2 * (new - 1) * per_tok


def test_rule_can_change_without_reattach_and_layers_subset():
    model = model_of("qwen2")
    batch = tiny_batch()
    ref = logits(model, batch)
    ffns = find_ffns(model)
    outs = {}
    hs = [f.module.register_forward_hook(lambda m, a, o, L=f.layer: outs.__setitem__(L, o)) for f in ffns]
    dense_out = None
    try:
        model(**batch)
        dense_out = dict(outs)
        with Sparsifier(model, "gate", TopK(0.25), layers=[1]) as sp:
            sp.set_tokens(batch["attention_mask"])
            model(**batch)
            assert torch.equal(outs[0], dense_out[0]) and not torch.equal(outs[1], dense_out[1])
            z1 = sp.stats.overall("gate")
            assert sp.stats.totals()[0] == 0 and sp.stats.totals()[1] > 0
            assert abs(z1 - 0.75) < 1e-9  # top-k keeps exactly 16 of 64
            sp.rule = None
            sp.stats.reset()
            assert torch.equal(logits(model, batch), ref)
            assert sp.stats.zeros().sum() == 0
            sp.rule = TopP(0.0)
            sp.stats.reset()
            model(**batch)
            assert sp.stats.overall() > 0.9
            with pytest.raises(TypeError):
                sp.rule = 0.5
    finally:
        for h in hs:
            h.remove()


def test_bad_sites_and_architectures_are_clear_errors():
    with pytest.raises(ValueError, match=r"gpt2.*valid sites: input, intermediate, all_inputs"):
        Sparsifier(model_of("gpt2"), "gate")
    with pytest.raises(ValueError, match=r"opt.*valid sites"):
        Sparsifier(model_of("opt"), "up")
    with pytest.raises(ValueError, match="unknown site"):
        Sparsifier(model_of("llama"), "output")
    with pytest.raises(ValueError, match="out of range"):
        Sparsifier(model_of("llama"), "input", layers=[5])
    with pytest.raises(ValueError, match=r"supported architectures: .*llama"):
        Sparsifier(nn.Sequential(nn.Linear(4, 4)), "input")
    sp = Sparsifier(model_of("llama"), "input")
    with pytest.raises(ValueError, match="phase"):
        sp.set_tokens(None, "decode")
    with sp:
        sp.set_tokens(torch.ones(3, 5))
        with pytest.raises(RuntimeError, match="set_tokens"):
            model_of("llama")(**tiny_batch())
    assert set(TINY_ARCHS) <= set(supported_architectures())


def test_bf16_model_and_token_histogram():
    model = build_tiny("gemma3_text", dtype=torch.bfloat16)
    batch = tiny_batch()
    with Sparsifier(model, "intermediate", TopP(0.7)) as sp:
        sp.set_tokens(batch["attention_mask"])
        assert model(**batch).logits.dtype == torch.bfloat16
    counts, edges = sp.stats.token_histogram(bins=20)
    assert counts.sum() == int(batch["attention_mask"].sum()) * LAYERS
    assert len(edges) == 21 and 0 < sp.stats.overall() < 1
