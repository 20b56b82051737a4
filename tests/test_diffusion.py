"""Masked-diffusion LMs: sampler invariants, per-step statistics, scopes, mask reuse, clean detach, Monte-Carlo
likelihood, the LLaDA block layout, tasks / sweep and the CLI, on tiny random bidirectional models."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import build_tiny_diffusion  # noqa: E402

from pysparse import diffusion  # noqa: E402
from pysparse.diffusion import (DiffusionLM, SparseDiffusion, StepStats, exact_elbo, generate,  # noqa: E402
                                mc_loglikelihood, transfer_schedule)
from pysparse.rules import MaxP, TopK, TopP  # noqa: E402
from pysparse.sites import Sparsifier, find_ffns  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_diffusion()


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYSPARSE_CACHE", str(tmp_path / "cache"))


def _prompt(tok, text="Once upon a time", batch=1):
    ids = tok(text)["input_ids"]
    return torch.tensor([ids] * batch)


# ---------------------------------------------------------------------------------------------- model + sampler

def test_random_model_is_bidirectional(tiny):
    dlm, tok = tiny
    x = _prompt(tok, "abcdefgh")
    y = x.clone()
    y[0, -1] = ord("z")
    a, b = dlm.logits(x), dlm.logits(y)
    assert (a[0, 0] - b[0, 0]).abs().max() > 1e-4  # the first position sees the last one


def test_shifted_logits_read_position_from_previous_hidden_state(tiny):
    dlm, tok = tiny
    x = _prompt(tok, "abcdef")
    plain = dlm.logits(x)
    shifted = DiffusionLM(dlm.model, dlm.mask_id, shift_logits=True).logits(x)
    assert torch.equal(shifted[:, 1:], plain[:, :-1]) and torch.equal(shifted[:, 0], plain[:, 0])


def test_transfer_schedule_splits_evenly():
    s = transfer_schedule(torch.tensor([10, 3, 0]), 4)
    assert s.tolist() == [[3, 3, 2, 2], [1, 1, 1, 0], [0, 0, 0, 0]]


@pytest.mark.parametrize("kw", [
    dict(gen_length=12, steps=12, block_length=4),
    dict(gen_length=12, steps=6, block_length=12, temperature=1.0),
    dict(gen_length=8, steps=4, block_length=4, cfg_scale=1.5),
    dict(gen_length=9, steps=3, block_length=3, remasking="random", temperature=0.5),
])
def test_sampler_unmasks_every_position_and_never_changes_an_unmasked_one(tiny, kw):
    dlm, tok = tiny
    prompt = _prompt(tok, "The cat sat", batch=2)
    prompt[1, 0] = ord("A")
    g = generate(dlm, prompt, trace=True, seed=3, **kw)
    P, M = prompt.shape[1], dlm.mask_id
    assert g.ids.shape == (2, P + kw["gen_length"]) and g.steps == kw["steps"] == len(g.trace)
    assert not (g.ids == M).any(), "every position is unmasked at the end"
    assert torch.equal(g.ids[:, :P], prompt)
    before = torch.cat([prompt, torch.full((2, kw["gen_length"]), M)], 1)
    per_block = kw["steps"] // (kw["gen_length"] // kw["block_length"])
    for s, x in enumerate(g.trace):
        was = before != M
        assert torch.equal(x[was], before[was]), f"step {s} changed an unmasked position"
        newly = (x != M) & ~was
        assert newly.sum(1).tolist() == g.committed[s]
        # only positions of the current semi-autoregressive block are committed
        b = s // per_block
        lo, hi = P + b * kw["block_length"], P + (b + 1) * kw["block_length"]
        assert not newly[:, :lo].any() and not newly[:, hi:].any()
        assert not (x[:, lo:hi] == M).any() if (s + 1) % per_block == 0 else True
        before = x
    assert torch.equal(g.trace[-1], g.ids)


def test_sampler_is_deterministic_and_rejects_bad_arguments(tiny):
    dlm, tok = tiny
    p = _prompt(tok)
    a = generate(dlm, p, gen_length=8, steps=8, temperature=1.0, seed=5).ids
    assert torch.equal(a, generate(dlm, p, gen_length=8, steps=8, temperature=1.0, seed=5).ids)
    with pytest.raises(ValueError, match="divide"):
        generate(dlm, p, gen_length=8, steps=8, block_length=3)
    with pytest.raises(ValueError, match="multiple of the number of blocks"):
        generate(dlm, p, gen_length=8, steps=3, block_length=4)
    with pytest.raises(ValueError, match="mask token"):
        generate(dlm, torch.tensor([[5, dlm.mask_id]]), gen_length=4, steps=4)
    with pytest.raises(ValueError, match="remasking"):
        generate(dlm, p, gen_length=4, steps=4, remasking="best")


# ---------------------------------------------------------------------------------------------- per-step statistics

def test_step_statistics_constructed_case_known_overlaps_and_frequencies():
    # two layers, d = 4, two rows (positions); masks chosen by hand
    m = lambda rows: torch.tensor(rows, dtype=torch.bool)  # noqa: E731
    steps = [
        {0: m([[1, 1, 0, 0], [1, 0, 0, 0]]), 1: m([[1, 1, 1, 1], [0, 0, 0, 0]])},
        {0: m([[1, 1, 0, 0], [0, 1, 0, 0]]), 1: m([[1, 1, 1, 1], [0, 0, 0, 0]])},
        {0: m([[0, 0, 1, 1], [0, 1, 0, 0]]), 1: m([[1, 1, 0, 0], [0, 0, 0, 0]])},
    ]
    st = StepStats("input", 2)
    for s, masks in enumerate(steps):
        st.begin_step(s)
        for layer, mk in masks.items():
            st.record((layer, "input"), mk)
        st.end_step()
    # layer 0: |A0 & A1| = 2, |A0 | A1| = 4; layer 1: identical (4 / 4)
    np.testing.assert_allclose(st.overlap("prev", per_layer=True)[1], [2 / 4, 4 / 4])
    np.testing.assert_allclose(st.overlap("prev"), [1.0, (2 + 4) / (4 + 4), (1 + 2) / (5 + 4)])
    # step 2 vs step 0: layer 0 inter {(0,?)...}: A0 = {00,01,10}, A2 = {02,03,11}: 0 / 6; layer 1: 2 / 4
    np.testing.assert_allclose(st.overlap("first", per_layer=True)[2], [0 / 6, 2 / 4])
    np.testing.assert_allclose(st.overlap("first"), [1.0, (2 + 4) / (4 + 4), (0 + 2) / (6 + 4)])
    # chance from per-neuron rates, step 1 vs 0: layer 0 rates [.5, 1, 0, 0] and [1, .5, 0, 0] over 2 rows:
    # inter 2 * (.5 + .5) = 2, union 2 * (1 + 1) = 4; layer 1 rates .5 everywhere: inter 2, union 6
    np.testing.assert_allclose(st.overlap("prev", per_layer=True, chance=True)[1], [2 / 4, 2 / 6])
    np.testing.assert_allclose(st.overlap("prev", chance=True)[1], (2 + 2) / (4 + 6))
    # sparsity per step (pooled): step 0: 3 + 4 active of 16
    np.testing.assert_allclose(st.step_sparsity(), [1 - 7 / 16, 1 - 7 / 16, 1 - 5 / 16])
    np.testing.assert_allclose(st.step_sparsity(per_layer=True)[2], [1 - 3 / 8, 1 - 2 / 8])
    # frequency: 3 steps x 2 rows = 6 observations per neuron
    f = st.to_dict()["frequency"]
    np.testing.assert_allclose(f["0/input"], [3 / 6, 4 / 6, 1 / 6, 1 / 6])
    np.testing.assert_allclose(f["1/input"], [3 / 6, 3 / 6, 2 / 6, 2 / 6])
    s = st.summary()
    assert s["never_active"] == 0.0 and s["always_active"] == 0.0 and s["steps"] == 3


def test_step_statistics_match_the_sparsifier_counts_and_plot(tiny, tmp_path):
    dlm, tok = tiny
    with SparseDiffusion(dlm, "all_inputs", TopP(0.8)) as sd:
        sd.generate(_prompt(tok, batch=2), gen_length=8, steps=8, block_length=4)
    assert sd.steps.n_steps == 8
    assert sd.steps.total().overall() == pytest.approx(sd.sp.stats.overall(), abs=1e-12)
    np.testing.assert_array_equal(sd.steps.total().zeros(), sd.sp.stats.zeros())
    ov = sd.steps.overlap("prev")
    assert ov[0] == 1.0 and np.all((ov > 0) & (ov <= 1))
    files = sd.steps.plot(tmp_path)
    assert [f.name for f in files] == ["overlap.png", "sparsity.png", "frequency.png"]
    assert all(f.stat().st_size > 1000 for f in files)
    json.dumps(sd.steps.to_dict())


# ---------------------------------------------------------------------------------------------- scopes

def _site_inputs(dlm, x):
    """The FFN input of every layer for x (captured with rule=None)."""
    seen = {}
    sp = Sparsifier(dlm.model, "input", None, observer=lambda l, t, v, tm: seen.__setitem__(l, v.detach().clone()))
    with sp:
        dlm.logits(x)
    return seen


@pytest.mark.parametrize("scope", ["token", "sample"])
def test_sparsity_counts_at_both_scopes(tiny, scope):
    dlm, tok = tiny
    x = torch.cat([_prompt(tok, "abcdefghij"), _prompt(tok, "klmnopqrst")])  # [2, 11]
    B, T = x.shape
    d = find_ffns(dlm.model)[0].d_model
    L = len(find_ffns(dlm.model))
    keep = 0.3
    with SparseDiffusion(dlm, "input", TopK(keep), scope=scope) as sd:
        sd.begin_step(0)
        dlm.logits(x)
        sd.end_step(0)
    kept = sd.steps.freq  # active counts per neuron, per layer
    if scope == "token":  # exactly ceil(keep * d) per token vector
        per = math.ceil(keep * d - 1e-9)
        expect_zeros = L * B * T * (d - per)
    else:  # exactly ceil(keep * T * d) per sample block
        per = math.ceil(keep * T * d - 1e-9)
        expect_zeros = L * B * (T * d - per)
    assert int(sd.sp.stats.zeros().sum()) == expect_zeros
    assert int(sd.sp.stats.totals().sum()) == L * B * T * d
    assert sum(int(kept[k].sum()) for k in kept) == L * B * T * d - expect_zeros
    # sample-scope top-p: the kept entries of each block hold >= p of its mass, and dropping the smallest kept
    # entry would fall below p (minimal), computed from the captured inputs
    if scope == "sample":
        v = _site_inputs(dlm, x)[0]
        m = diffusion.scoped_mask(TopP(0.7), v, (0, "input"), "sample")
        for b in range(B):
            a = v[b].abs().double()
            kept_mass = a[m[b]].sum() / a.sum()
            assert kept_mass >= 0.7 - 1e-9
            assert (a[m[b]].sum() - a[m[b]].min()) / a.sum() < 0.7
        # per-token masks differ from the block mask (the scope matters)
        assert not torch.equal(m, TopP(0.7).mask(v))


def test_sample_scope_of_max_p_compares_with_the_block_maximum(tiny):
    dlm, tok = tiny
    v = _site_inputs(dlm, _prompt(tok, "hello world"))[1]
    m = diffusion.scoped_mask(MaxP(0.5), v, None, "sample")
    assert torch.equal(m, v.abs() >= 0.5 * v.abs().max())
    with pytest.raises(ValueError, match="batch, seq, d"):
        diffusion.scoped_mask(MaxP(0.5), v[0], None, "sample")
    with pytest.raises(ValueError, match="unknown scope"):
        SparseDiffusion(dlm, "input", MaxP(0.5), scope="layer")


# ---------------------------------------------------------------------------------------------- mask reuse

def _traj(dlm, tok, observer_factory, **gen):
    """Sampler output and every step's logits."""
    seen = []

    class Obs:
        def __init__(self):
            self.inner = observer_factory()

        def begin_step(self, s, b=0):
            if self.inner:
                self.inner.begin_step(s, b)

        def end_step(self, s, b=0):
            if self.inner:
                self.inner.end_step(s, b)

        def on_logits(self, s, x, logits, masked, span):
            seen.append(logits.clone())

    g = generate(dlm, _prompt(tok, batch=2), observer=Obs(), **gen)
    return g.ids, seen


@pytest.mark.parametrize("scope", ["token", "sample"])
def test_reuse_with_k1_equals_the_plain_sparse_sampler(tiny, scope):
    dlm, tok = tiny
    gen = dict(gen_length=8, steps=8, block_length=4, cfg_scale=0.5)
    # plain: the framework's Sparsifier with the rule at the scope, no step machinery
    with Sparsifier(dlm.model, "input", diffusion.ScopedRule(TopP(0.8), scope)) as sp:
        ids0, lg0 = _traj(dlm, tok, lambda: None, **gen)
    sd = SparseDiffusion(dlm, "input", TopP(0.8), scope=scope, k=1)
    with sd:
        ids1, lg1 = _traj(dlm, tok, lambda: sd, **gen)
    assert torch.equal(ids0, ids1)
    assert all(torch.equal(a, b) for a, b in zip(lg0, lg1))
    assert sd.rule.work_saved == 0.0 and sp.stats.overall() == sd.sp.stats.overall()
    # k = 4 reuses: selections happen at steps 0 and 4 only, and the trajectory differs from k = 1
    sd4 = SparseDiffusion(dlm, "input", TopP(0.8), scope=scope, k=4)
    with sd4:
        ids4, lg4 = _traj(dlm, tok, lambda: sd4, **gen)
    assert sd4.rule.work_saved == pytest.approx(1 - 2 / 8)
    assert torch.equal(lg4[0], lg1[0]) and not torch.equal(lg4[1], lg1[1])


def test_refresh_on_overlap_drop(tiny):
    dlm, tok = tiny
    gen = dict(gen_length=8, steps=8)
    never = SparseDiffusion(dlm, "input", TopP(0.8), k=None, refresh_overlap=0.0)
    never.generate(_prompt(tok), **gen)
    always = SparseDiffusion(dlm, "input", TopP(0.8), k=None, refresh_overlap=1.0)
    always.generate(_prompt(tok), **gen)
    assert never.rule.refreshes == [] and len(never.rule.probe_overlaps) == 7
    # the probe (first layer) is selected every step, the other layers only at step 0
    n_layers = len(find_ffns(dlm.model))
    assert never.rule.work_saved == pytest.approx((n_layers - 1) * 7 / (n_layers * 8))
    # threshold 1: every overlap below 1 forces a refresh
    drops = [s for s, j in always.rule.probe_overlaps if j < 1.0]
    assert always.rule.refreshes == drops and drops
    with pytest.raises(ValueError, match="refresh_overlap"):
        SparseDiffusion(dlm, "input", TopP(0.8), k=None)


def test_compare_reuse_table(tiny):
    dlm, tok = tiny
    rows = diffusion.compare_reuse(dlm, _prompt(tok), "input", TopP(0.8),
                                   [diffusion.parse_setting(s) for s in ("1", "4", "o0.9")],
                                   gen=dict(gen_length=8, steps=8, block_length=4))
    assert [r["setting"] for r in rows] == ["dense", "k=1", "k=4", "k=inf, refresh<0.9"]
    assert rows[0]["agree"] == 1.0 and rows[1]["work_saved"] == 0.0 and rows[2]["work_saved"] == 0.75
    assert all(0 <= r["top1"] <= 1 and r["kl"] >= 0 for r in rows)
    assert "| k=4 |" in diffusion.reuse_table(rows)
    with pytest.raises(ValueError, match="reuse setting"):
        diffusion.parse_setting("x")


# ---------------------------------------------------------------------------------------------- clean detach

class LLaDALikeBlock(nn.Module):
    """LLaDA's block layout: attention and FFN linears side by side in one module, ff_proj/up_proj both fed the
    same normed x (a stand-in written for this test: no attention, the FFN part as in that layout)."""

    def __init__(self, d=16, f=40):
        super().__init__()
        self.attn_norm, self.ff_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q_proj, self.k_proj, self.v_proj, self.attn_out = (nn.Linear(d, d) for _ in range(4))
        self.ff_proj, self.up_proj, self.ff_out = nn.Linear(d, f), nn.Linear(d, f), nn.Linear(f, d)
        self.act = nn.SiLU()

    def forward(self, x):
        h = self.attn_norm(x)
        x = x + self.attn_out(self.v_proj(h) + self.q_proj(h) * self.k_proj(h))
        h = self.ff_norm(x)
        g, u = self.ff_proj(h), self.up_proj(h)
        return x + self.ff_out(self.act(g) * u)


class LLaDALike(nn.Module):
    def __init__(self, vocab=40, d=16, n=2):
        super().__init__()
        torch.manual_seed(0)
        self.wte = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(LLaDALikeBlock(d) for _ in range(n))
        self.head = nn.Linear(d, vocab)

    def forward(self, input_ids, **_):
        x = self.wte(input_ids)
        for b in self.blocks:
            x = b(x)
        return type("Out", (), {"logits": self.head(x)})()


def test_llada_block_layout_is_found_and_its_input_sparsified_once():
    model = LLaDALike().eval()
    ffns = find_ffns(model)
    assert [(f.kind, f.gate, f.up, f.down) for f in ffns] == [("block_glu", "ff_proj", "up_proj", "ff_out")] * 2
    x = torch.randint(0, 39, (2, 6))
    calls = []
    with pytest.warns(UserWarning, match="not among the tested"):
        sp = Sparsifier(model, "input", TopK(0.5), observer=lambda l, t, v, tm: calls.append(l))
    with sp:
        out = model(x).logits
    assert calls == [0, 1]  # once per block although ff_proj and up_proj both take the input
    assert sp.stats.overall() == pytest.approx(0.5)
    # the same computed by hand for block 0's FFN
    blk = model.blocks[0]
    xs = []
    h = blk.ff_norm.register_forward_hook(lambda m, a, o: xs.append(o))
    model(x)
    h.remove()
    hs = TopK(0.5)(xs[0])
    ref = blk.ff_out(blk.act(blk.ff_proj(hs)) * blk.up_proj(hs))
    got = []
    with Sparsifier(model, "intermediate", None, layers=[0],
                    observer=lambda l, t, v, tm: got.append(v)) as sp2, \
            Sparsifier(model, "input", TopK(0.5), layers=[0]):
        model(x)
    assert torch.allclose(blk.ff_out(got[0]), ref, atol=1e-6)
    assert torch.equal(model(x).logits, LLaDALike().eval()(x).logits) and out.shape == (2, 6, 40)


@pytest.mark.parametrize("site", ["input", "gate", "up", "intermediate", "all_inputs"])
def test_bit_identical_after_detach(tiny, site):
    dlm, tok = tiny
    model = dlm.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    p = _prompt(tok)
    ref = generate(dlm, p, gen_length=8, steps=8, block_length=4, cfg_scale=0.5)
    ref_logits = dlm.logits(ref.ids)
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    for scope in ("token", "sample"):
        sd = SparseDiffusion(dlm, site, TopP(0.7), scope=scope, k=2, refresh_overlap=0.9)
        sd.generate(p, gen_length=8, steps=8, block_length=4, cfg_scale=0.5)
        assert not sd.sp.attached
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()) == hooks
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    again = generate(dlm, p, gen_length=8, steps=8, block_length=4, cfg_scale=0.5)
    assert torch.equal(again.ids, ref.ids) and torch.equal(dlm.logits(ref.ids), ref_logits)
    # dense through the hooks changes nothing either
    dense = SparseDiffusion(dlm, site, None).generate(p, gen_length=8, steps=8, block_length=4, cfg_scale=0.5)
    assert torch.equal(dense.ids, ref.ids)


def test_llada_like_model_bit_identical_after_detach():
    model = LLaDALike().eval()
    dlm = DiffusionLM(model, 39)
    x = torch.randint(0, 39, (1, 4))
    ref = generate(dlm, x, gen_length=6, steps=6)
    with pytest.warns(UserWarning):
        SparseDiffusion(dlm, "input", TopP(0.6), scope="sample", k=2).generate(x, gen_length=6, steps=6)
    assert torch.equal(generate(dlm, x, gen_length=6, steps=6).ids, ref.ids)


# ---------------------------------------------------------------------------------------------- MC likelihood

class ContextFree(nn.Module):
    """Predicts every position from a fixed table q[position] whatever the other tokens are: the ELBO is then
    exactly log p(target) = sum_i log q_i(x_i) (known answer)."""

    def __init__(self, T=12, V=10):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.table = torch.randn(T, V, generator=g) * 2
        self.config = type("C", (), {"vocab_size": V})()

    def forward(self, input_ids, **_):
        B, T = input_ids.shape
        return type("Out", (), {"logits": self.table[:T][None].expand(B, -1, -1)})()


def test_mc_likelihood_converges_to_the_known_answer():
    dlm = DiffusionLM(ContextFree(), mask_id=9)
    ctx, tgt = [1, 2, 3], [4, 0, 7, 7, 2, 5, 1, 3]
    lp = torch.log_softmax(dlm.model.table.double(), -1)
    truth = float(sum(lp[3 + i, t] for i, t in enumerate(tgt)))
    assert exact_elbo(dlm, ctx, tgt) == pytest.approx(truth, abs=1e-9)
    errs = []
    for n in (16, 256, 4096):
        est, se = mc_loglikelihood(dlm, ctx, tgt, n_samples=n, batch_size=512, seed=0)
        assert abs(est - truth) < 4 * se
        errs.append((abs(est - truth), se))
    assert errs[-1][1] < errs[0][1] / 10  # the standard error shrinks like 1/sqrt(n)
    assert errs[-1][0] < 0.05 * abs(truth)


def test_mc_likelihood_converges_to_the_exact_elbo_of_a_bidirectional_model(tiny):
    dlm, tok = tiny
    ctx, tgt = tok("Paris is")["input_ids"], tok.encode(" nice")
    exact = exact_elbo(dlm, ctx, tgt)
    est, se = mc_loglikelihood(dlm, ctx, tgt, n_samples=2000, batch_size=500, seed=1)
    assert abs(est - exact) < 4 * se and se < 0.05 * abs(exact)
    # one target token: every sample masks it alone, so the estimate is exact with any n
    one = tok.encode("x")
    a, _ = mc_loglikelihood(dlm, ctx, one, n_samples=3)
    assert a == pytest.approx(exact_elbo(dlm, ctx, one), abs=1e-5)  # float32 batches of 3 vs 1
    # seeded: the same maskings every time (common random numbers across sparsity levels)
    assert mc_loglikelihood(dlm, ctx, tgt, 8, seed=2) == mc_loglikelihood(dlm, ctx, tgt, 8, seed=2)


# ---------------------------------------------------------------------------------------------- tasks and sweep

def _docs():
    words = ("the quick brown fox jumps over the lazy dog while the small cat sleeps near the warm fire and the "
             "old man reads a long book about the sea").split()
    rng = np.random.default_rng(0)
    return [{"title": f"d{i}", "text": ". ".join(" ".join(rng.choice(words, 40)) for _ in range(3)) + "."}
            for i in range(6)]


def _mc_records():
    return [{"context": "The sky is", "choices": [" blue", " green", " loud"], "label": 0},
            {"context": "Two plus two is", "choices": [" four", " five"], "label": 0},
            {"context": "Fire is", "choices": [" cold", " hot"], "label": 1}]


def test_tasks_sweep_and_critical_search_run_on_a_diffusion_model(tiny, tmp_path):
    from pysparse.critical import analyze
    from pysparse.sweep import ResultsFile, split_records
    from pysparse.tasks import ClozeTask, MultipleChoiceTask, PerplexityTask

    dlm, tok = tiny
    tasks = [MultipleChoiceTask(_mc_records(), name="mc"), ClozeTask(_docs(), n=3, context_words=12),
             diffusion.ElboPerplexityTask.from_task(PerplexityTask(_docs(), window=32, max_tokens=60,
                                                                   max_tokens_per_doc=30), window=16, stride=8)]
    path = tmp_path / "r.jsonl"
    sw = diffusion.DiffusionSweep(dlm, tok, tasks, "input", "top_p", scope="sample", mc_samples=4,
                                  results=path, model_id="tinydiff", progress=False)
    pts = sw.run([0.9, 0.5])
    recs = ResultsFile(path).records()
    assert len(recs) == 3 and recs[0]["dense"] and set(recs[0]["tasks"]) == {"mc", "cloze", "ppl_ppl"}
    assert all(0 < p["sparsity"] < 1 for p in pts) and pts[0]["sparsity"] < pts[1]["sparsity"]
    assert recs[0]["tasks"]["ppl_ppl"]["score"] > 1 and all(math.isfinite(p["retention"]["ppl_ppl"]) for p in pts)
    (dense, points), = split_records(recs).values()
    assert "suite" in analyze(dense, points, n_boot=20)
    # the MC likelihood uses the same masks at every level: the dense point re-evaluated gives the same score
    sw2 = diffusion.DiffusionSweep(dlm, tok, tasks[:1], "input", "top_p", mc_samples=4,
                                   results=tmp_path / "b.jsonl", model_id="tinydiff", progress=False)
    assert sw2.dense_point()["tasks"]["mc"]["score"] == recs[0]["tasks"]["mc"]["score"]
    # perplexity tasks need next-token logits
    with pytest.raises(ValueError, match="next-token logits"):
        sw.ctx.logits([[1, 2]])


def test_diffusion_suite_turns_perplexity_into_elbo(monkeypatch):
    import pysparse.diffusion.evaluate as ev
    from pysparse.tasks import PerplexityTask

    monkeypatch.setattr(ev, "build_suite", lambda *a, **k: [PerplexityTask(_docs(), window=64)])
    (t,) = ev.diffusion_suite("wikipedia")
    assert isinstance(t, diffusion.ElboPerplexityTask) and t.window == 128 and t.stride == 64 and not t.do_fid


# ---------------------------------------------------------------------------------------------- CLI

def _cli(*argv):
    from pysparse.cli import main

    return main(["diffusion", *argv])


def test_cli_generate_and_stats(tmp_path, capsys):
    assert _cli("generate", "--prompt", "Hi", "--gen-length", "8", "--block-length", "4", "--value", "0.8",
                "--scope", "sample", "--reuse", "2", "--cfg", "0.5", "--json") == 0
    res = json.loads(capsys.readouterr().out)
    assert len(res["answer_ids"]) == 8 and res["work_saved"] == 0.5 and 0 < res["sparsity"] < 1
    out = tmp_path / "st"
    assert _cli("stats", "--prompt", "Hello world", "--prompt", "Good morning", "--gen-length", "8",
                "--steps", "8", "--block-length", "4", "--value", "0.8", "--reuse", "1", "2", "o0.9",
                "--out", str(out), "--quiet") == 0
    text = capsys.readouterr().out
    assert "overlap with previous" in text and "| k=2 |" in text
    st = json.loads((out / "stats.json").read_text())
    assert len(st["stats"]["overlap_prev"]) == 8 and len(st["answers"]) == 2
    assert len(json.loads((out / "reuse.json").read_text())["rows"]) == 4
    assert all((out / f).stat().st_size > 1000 for f in ("overlap.png", "sparsity.png", "frequency.png"))


def test_cli_sweep_on_a_local_multiple_choice_file(tmp_path, capsys):
    f = tmp_path / "mc.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in _mc_records()))
    out = tmp_path / "sw"
    assert _cli("sweep", "--tasks", str(f), "--grid", "0.9", "0.5", "--mc-samples", "4", "--out", str(out),
                "--n-boot", "10", "--quiet") == 0
    assert "results:" in capsys.readouterr().out
    assert len((out / "results.jsonl").read_text().splitlines()) == 3 and (out / "summary.md").exists()


def test_cli_errors_are_one_line(capsys):
    assert _cli("generate", "--model", "nowhere") == 1
    assert "pysparse diffusion: error: nowhere: not a checkpoint directory" in capsys.readouterr().err
    assert _cli("generate", "--gen-length", "8", "--block-length", "3") == 1
    assert "must divide" in capsys.readouterr().err
    assert _cli("stats", "--rule", "threshold", "--prompt", "a") == 1
    assert "threshold needs" in capsys.readouterr().err
    assert _cli("generate", "--model", "random:x") == 1
    assert _cli("generate", "--site", "nope") == 1
