"""The model runtime (cpp/model, pysparse.engine.Model) against transformers.

Oracles: transformers on the same weights. Tiny random models of each architecture are written to float32 GGUF
files (tests/tiny_gguf.py), so the engine's float path must match transformers to float rounding; the real
SmolLM2-135M Q4_1 GGUF is compared with transformers loading the same file (dequantised to float32), where the
engine's 8-bit activation quantisation (as llama.cpp does) is the expected difference, over 512+ positions of
Wikipedia text: mean KL <= 0.02 nats, the same top-1 at every position where transformers' top-1 leads by >= 0.5 nats
(so every disagreement is a near-tie), and overall top-1 agreement at llama.cpp's level. llama.cpp's own logits on
the same files and tokens agree with transformers at top-1 0.971 (SmolLM2), 0.942 (Gemma3-270M), 0.990
(Qwen2.5-Coder-0.5B), 0.956 (Qwen2.5-Coder-1.5B), KL 0.003-0.013, with every disagreement a near-tie as ours
(docs/runtime.md, "Fidelity"): a flat 98% top-1 is not what 8-bit activations give on every model. With
activations="f32" (every product in float32 on the exactly decoded weights) the engine matches transformers at top-1
>= 99.5% and KL <= 1e-4 (measured: 1.0 and < 1e-6 on all four): the 8-bit activations are the only error source.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pysparse import _core, data, models, rules, sites
from pysparse.engine import Model

from tiny_gguf import write_gguf
from tiny_models import _common, build_tiny


def log_softmax(a):
    a = a.astype(np.float64)
    a = a - a.max(-1, keepdims=True)
    return a - np.log(np.exp(a).sum(-1, keepdims=True))


def kl_top1(ref, got):
    """Mean KL(ref || got) per position and top-1 agreement."""
    p, q = log_softmax(ref), log_softmax(got)
    kl = (np.exp(p) * (p - q)).sum(-1)
    return float(kl.mean()), float((ref.argmax(-1) == got.argmax(-1)).mean())


# A position is decisive when the reference's top-1 log-probability leads its runner-up by this much (a 1.65x
# probability ratio): 8-bit activation noise moves logits by a few hundredths of a nat, so a disagreement there is
# a bug, not rounding. The largest margin at a disagreement seen on the four models is 0.40 (ours), 0.55 (llama.cpp).
DECISIVE_NATS = 0.5


def assert_parity(name, ref, got, min_top1):
    kl, top1 = kl_top1(ref, got)
    p = np.sort(log_softmax(ref), -1)
    decisive = p[:, -1] - p[:, -2] >= DECISIVE_NATS
    agree = ref.argmax(-1) == got.argmax(-1)
    print(f"\n{name}, {len(ref)} positions: top-1 agreement {top1:.4f} ({agree[decisive].mean():.4f} on the "
          f"{decisive.sum()} decisive positions), mean KL {kl:.5f} nats")
    assert len(ref) >= 512
    assert kl <= 0.02
    assert agree[decisive].all(), f"top-1 differs at decisive positions {np.flatnonzero(decisive & ~agree)}"
    assert top1 >= min_top1


def tiny_hf(arch: str, tie: bool = False):
    if arch == "gemma3_text":  # a global layer after a sliding one, a window shorter than the test sequence
        import transformers as tf

        cfg = tf.Gemma3TextConfig(**_common(head_dim=8, sliding_window=4, query_pre_attn_scalar=8,
                                            layer_types=["sliding_attention", "full_attention"]))
        torch.manual_seed(0)
        model = tf.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if p.dim() >= 2:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.2)
                elif "norm" in name:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        return model.eval()
    model = build_tiny(arch)
    if tie:
        model.config.tie_word_embeddings = True
        model.lm_head.weight = model.model.embed_tokens.weight
    return model


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny_gguf")
    out = {}
    for key, arch, tie in [("llama", "llama", False), ("llama_tied", "llama", True), ("mistral", "mistral", False),
                           ("qwen2", "qwen2", False), ("qwen3", "qwen3", False), ("gemma3", "gemma3_text", False)]:
        model = tiny_hf(arch, tie)
        path = d / f"{key}.gguf"
        write_gguf(model, path, sliding_window_pattern=2)
        out[key] = (model, path)
    return out


def hf_logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([list(ids)])).logits[0].float().numpy()


@pytest.mark.parametrize("key", ["llama", "llama_tied", "mistral", "qwen2", "qwen3", "gemma3"])
def test_tiny_architectures_match_transformers(tiny_files, key):
    model, path = tiny_files[key]
    m = Model.load(path, context=64)
    assert m.hparams["arch"] == {"llama_tied": "llama", "mistral": "llama"}.get(key, key)
    assert m._m.tied_output == (key == "llama_tied")
    ids = np.random.default_rng(1).integers(3, 128, 24)
    ref = hf_logits(model, ids)
    got = m.logits(ids)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=2e-4 * np.abs(ref).max())
    # decode token by token gives the same logits as the batched prefill
    m._m.reset()
    steps = np.stack([m._m.forward(ids[i:i + 1], False) for i in range(len(ids))])
    np.testing.assert_allclose(steps, got, atol=1e-5 * np.abs(ref).max())


def test_tiny_f16_cache_and_threads(tiny_files):
    model, path = tiny_files["qwen3"]
    ids = np.random.default_rng(2).integers(3, 128, 30)
    ref = hf_logits(model, ids)
    m = Model.load(path, context=64, kv_type="f16")
    np.testing.assert_allclose(m.logits(ids), ref, atol=5e-3 * np.abs(ref).max())
    before = _core.num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            _core.set_num_threads(n)
            outs.append(m.logits(ids).tobytes())
        assert outs[0] == outs[1] == outs[2]
    finally:
        _core.set_num_threads(before)


@pytest.mark.parametrize("site", ["input", "intermediate", "all_inputs", "gate", "up"])
def test_tiny_sparse_matches_torch_simulation(tiny_files, site):
    """Engine sparsity (C++ rule + masked prefill / sparse decode kernels) vs the framework's torch hooks."""
    model, path = tiny_files["llama"]
    ids = np.random.default_rng(3).integers(3, 128, 20)
    m = Model.load(path, context=64)
    m.set_sparsity(site, "top_p", 0.8)
    got = m.logits(ids)
    eng = m.stats()
    with sites.Sparsifier(model, site, rules.TopP(0.8)) as sp:
        ref = hf_logits(model, ids)
    assert abs(eng["overall"] - sp.stats.overall()) < 0.01, (eng["overall"], sp.stats.overall())
    assert eng["prefill"] == eng["overall"] and math.isnan(eng["decode"])
    np.testing.assert_allclose(got, ref, atol=2e-3 * np.abs(ref).max())
    # decode (sparse kernels) and prefill (their batched form over the same repacks) give the same logits
    m._m.reset()
    m.reset_stats()
    steps = np.stack([m._m.forward(ids[i:i + 1], False) for i in range(len(ids))])
    np.testing.assert_allclose(steps, got, atol=1e-5 * np.abs(ref).max())
    assert abs(m.stats()["decode"] - eng["overall"]) < 0.01
    # per-layer values and switching off
    m.set_sparsity(site, "top_p", [None, 0.5])
    m.logits(ids)
    pl = m.stats()["per_layer"]
    assert math.isnan(pl[0]) and pl[1] > 0
    m.clear_sparsity()
    np.testing.assert_allclose(m.logits(ids), hf_logits(model, ids), atol=2e-4 * np.abs(ref).max())


def test_tiny_gate_and_up_sites_plan_and_bytes(tiny_files):
    """The CATS-style sites mirror each other: the thinned vector's own matrix runs dense, the other one row-skips
    (only the active rows read), down as at the intermediate site; the speedup tool's byte model counts the
    row-skipped matrix."""
    from pysparse import allocate
    from pysparse.engine.gguf import GGUFFile

    _, path = tiny_files["llama"]
    m = Model.load(path, context=64)
    f = GGUFFile(path)
    wb = {name: f.tensors[f"blk.0.{name}.weight"].nbytes for name in ("ffn_gate", "ffn_up")}
    for site, skipped, dense in (("gate", "up", "gate"), ("up", "gate", "up")):
        m.set_sparsity(site, "top_p", 0.8)
        plan = m.kernel_plan()
        assert all(d[skipped] == "row_skip" and d[dense] == "dense" and d["down"] == "masked_dense" for d in plan), plan
        assert allocate.site_bytes(m, site)[0] == wb[f"ffn_{skipped}"]  # down: masked-dense by default
        m.logits(np.arange(3, 12))
        assert 0 < m.stats()["overall"] < 1
    m.clear_sparsity()
    assert all(set(d.values()) == {"dense"} for d in m.kernel_plan())


# ---- the real SmolLM2-135M (Q4_1) ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    return Model.load(smollm2_path, context=2048)


@pytest.fixture(scope="module")
def smollm2_hf():
    model, tok = models.load_hf("smollm2-135m")
    return model


@pytest.fixture(scope="module")
def wiki_ids(smollm2):
    text = " ".join(d["text"] for d in data.load("wikipedia", progress=False)[:3])
    return smollm2.tokenizer(text)["input_ids"][:600]


def test_smollm2_logits_match_transformers(smollm2, smollm2_hf, wiki_ids):
    got = smollm2.logits(wiki_ids)
    ref = hf_logits(smollm2_hf, wiki_ids)
    assert_parity("smollm2-135m Q4_1", ref, got, min_top1=0.97)


def test_smollm2_float_activations_match_transformers(smollm2_path, smollm2_hf, wiki_ids):
    """activations="f32": every product in float32 on the exactly decoded weights, so the engine is the quantised
    model as transformers computes it: the 8-bit activations are the only error source of the default path."""
    m = Model.load(smollm2_path, context=2048, activations="f32")
    assert m.activations == "f32"
    ref = hf_logits(smollm2_hf, wiki_ids)
    got = m.logits(wiki_ids)
    assert_parity("smollm2-135m Q4_1, f32 activations", ref, got, min_top1=0.995)
    assert kl_top1(ref, got)[0] <= 1e-4
    # sparsity in this mode thins the vectors and runs the dense float products on them (no kernel quantises x);
    # a prompt's prefill logits still equal token-by-token decoding bit for bit (gate / up: decode's row-skip
    # computes every row and zeroes the inactive ones)
    for site in ("all_inputs", "gate", "up"):
        m.set_sparsity(site, "top_p", 0.9)
        assert {v for d in m.kernel_plan() for v in d.values()} <= {"masked_dense", "dense", "row_skip"}
        ids = wiki_ids[:40]
        got = m.logits(ids)
        m._m.reset()
        steps = np.stack([m._m.forward(np.array(ids[i:i + 1]), False) for i in range(len(ids))])
        assert np.array_equal(steps, got), site
        assert 0.05 < m.stats()["overall"] < 0.95
        m.clear_sparsity()
    with pytest.raises(ValueError, match="activations must be 'q8'.*'f32'"):
        Model.load(smollm2_path, activations="int4")


def test_smollm2_greedy_continuations(smollm2, smollm2_hf):
    """32 greedy tokens from several prompts, engine vs transformers: identical up to the first position where
    transformers' top two logits are a near-tie (the engine's quantised activations may pick the other one)."""
    tok = smollm2.tokenizer
    prompts = ["The capital of France is", "def fibonacci(n):", "Once upon a time, there was a",
               "The theory of relativity states that", "import numpy as np\n"]
    agree, prefix = 0, 0
    for prompt in prompts:
        ids = tok(prompt)["input_ids"]
        ours = list(smollm2.generate_ids(ids, 32))
        with torch.no_grad():
            ref = smollm2_hf.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False,
                                      pad_token_id=tok.eos_token_id)[0, len(ids):].tolist()
        n = min(len(ours), len(ref))
        first = next((i for i in range(n) if ours[i] != ref[i]), None)
        prefix += n if first is None else first
        if first is None:
            agree += 1
            continue
        logits = hf_logits(smollm2_hf, ids + ref[:first])[-1]
        margin = logits[ref[first]] - logits[ours[first]]
        print(f"\n{prompt!r}: first divergence at token {first}, transformers' margin {margin:.3f}")
        assert margin < 0.5, f"{prompt!r}: diverged at {first} with a clear margin {margin}"
    print(f"\n{agree}/{len(prompts)} greedy continuations identical for 32 tokens; {prefix} of "
          f"{32 * len(prompts)} tokens before the first divergence")
    assert prefix >= 0.3 * 32 * len(prompts)


@pytest.mark.parametrize("n_windows, ppl_tol", [(6, 0.02), pytest.param(12, 0.01, marks=pytest.mark.slow)])
def test_smollm2_sparse_matches_torch_simulation(smollm2, smollm2_hf, n_windows, ppl_tol):
    """Same site, rule and p on the same GGUF: pooled sparsity within 0.5 points, and the perplexity the sparsity
    costs (sparse / dense, what a retention measures) within 1% over twelve 512-token windows (--runslow: 0.7%
    measured; the default run checks six within 2%: 0.9%). One window is not a measurement here: entries near the top-p
    threshold flip with the last bit of the activations, and the flips compound over 30 layers, so two numerically
    equivalent engine builds (the sparse kernels' column parts summed in another order) moved single windows'
    sparse / dense perplexity by -2.2% to +2.4% (sd 1.2%; 12-window pooled: 1.1555 vs 1.1576). The absolute sparse
    perplexities also carry the engine's dense offset (its 8-bit activations: +0.5% on these windows), so they are
    held to the tolerance + 0.5% (measured, 6 windows: dense engine 17.13 / torch 17.05, p = 0.9 20.08 / 19.80)."""
    wins = []
    for d in data.load("wikipedia", progress=False)[3:]:
        ids = smollm2.tokenizer(d["text"])["input_ids"]
        if len(ids) >= 512:
            wins.append(ids[:512])
        if len(wins) == n_windows:
            break

    def nll(logits, ids):
        lp = log_softmax(logits[:-1])
        return float(-lp[np.arange(len(ids) - 1), ids[1:]].sum())

    def ppl(logits_of):
        return math.exp(sum(nll(logits_of(w), w) for w in wins) / n)

    n = sum(len(w) - 1 for w in wins)
    dense_ours, dense_ref = ppl(smollm2.logits), ppl(lambda w: hf_logits(smollm2_hf, w))
    smollm2.set_sparsity("input", "top_p", 0.9)
    try:
        ours = ppl(smollm2.logits)
        s_ours = smollm2.stats()["overall"]
    finally:
        smollm2.clear_sparsity()
    with sites.Sparsifier(smollm2_hf, "input", rules.TopP(0.9)) as sp:
        ref = ppl(lambda w: hf_logits(smollm2_hf, w))
    print(f"\ninput top_p 0.9, {n} tokens: sparsity engine {s_ours:.4f} torch {sp.stats.overall():.4f}; "
          f"ppl engine {dense_ours:.3f} -> {ours:.3f}, torch {dense_ref:.3f} -> {ref:.3f}")
    assert abs(s_ours - sp.stats.overall()) < 0.005
    assert abs((ours / dense_ours) / (ref / dense_ref) - 1) < ppl_tol
    assert abs(ours / ref - 1) < ppl_tol + 0.005


@pytest.mark.parametrize("site, sparse_down", [("input", False), ("intermediate", False), ("intermediate", True),
                                               ("all_inputs", False), ("all_inputs", True), ("gate", True),
                                               (None, False)])
def test_smollm2_prefill_equals_decode(smollm2, site, sparse_down):
    """A prompt's logits from the batched prefill equal those of feeding it token by token (decode kernels), dense
    and at every site: prefill runs the sparse kernels' batched form, so quality measured on prefill logits is the
    quality of generation."""
    ids = smollm2.tokenizer("The history of the city begins in the Roman era, when a small fort was built on the "
                            "river bank to guard the crossing.")["input_ids"]
    from pysparse import _core

    _core.set_sparse_down(sparse_down)  # True: the down matrix's sparse kernels (off by the default policy)
    if site:
        smollm2.set_sparsity(site, "top_p", 0.9)
    try:
        got = smollm2.logits(ids)
        smollm2._m.reset()
        steps = np.stack([smollm2._m.forward(np.array(ids[i:i + 1]), False) for i in range(len(ids))])
    finally:
        _core.set_sparse_down(False)
        smollm2.clear_sparsity()
    assert np.array_equal(steps, got)


def test_smollm2_decode_uses_sparse_kernels(smollm2):
    """Generation with sparsity counts decode-phase sparsity; the dense result is restored after clearing."""
    ids = smollm2.tokenizer("The capital of France is")["input_ids"]
    dense = list(smollm2.generate_ids(ids, 8))
    smollm2.set_sparsity("all_inputs", "top_p", 0.95)
    list(smollm2.generate_ids(ids, 8))
    st = smollm2.stats()
    assert 0 < st["decode"] < 1 and 0 < st["prefill"] < 1
    assert smollm2._m.sparse_bytes > 0
    smollm2.clear_sparsity()
    assert smollm2._m.sparse_bytes == 0
    assert list(smollm2.generate_ids(ids, 8)) == dense


def test_smollm2_masked_dense_policy(smollm2, wiki_ids):
    """The kernel policy (types whose sparse kernel loses to dense run the dense kernel on the masked vector): with
    SmolLM2's Q4_1 listed, nothing is repacked, the plan says masked_dense, the counts match the sparse kernels', the
    perplexity agrees with the sparse kernels' (the same sparse model; per-token logits differ where the kernels'
    rounding flips entries at the threshold), and the speedup tool's byte model skips nothing there."""
    from pysparse import _core, allocate

    ids = wiki_ids[:512]

    def nll(logits):
        z = logits[:-1] - logits[:-1].max(-1, keepdims=True)
        lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
        return float(-lp[np.arange(len(ids) - 1), ids[1:]].mean())

    assert _core.masked_dense_types() == ["Q6_K"] and not _core.sparse_down()
    with pytest.raises(ValueError, match="Q9_9"):
        _core.set_masked_dense_types(["Q9_9"])
    assert allocate.site_bytes(smollm2, "intermediate") == [0] * smollm2.n_layer  # down: masked-dense by default
    dense = nll(smollm2.logits(ids))
    _core.set_sparse_down(True)
    assert allocate.site_bytes(smollm2, "intermediate")[0] > 0
    smollm2.set_sparsity("all_inputs", "top_p", 0.97)
    try:
        assert {d["down"] for d in smollm2.kernel_plan()} == {"sparse"}
        sparse = nll(smollm2.logits(ids))
        st_sparse = smollm2.stats()
        _core.set_masked_dense_types(["Q4_1"])
        assert allocate.site_bytes(smollm2, "all_inputs") == [0] * smollm2.n_layer
        smollm2.set_sparsity("all_inputs", "top_p", 0.97)
        assert smollm2._m.sparse_bytes == 0
        assert all(d == {"gate": "masked_dense", "up": "masked_dense", "down": "masked_dense"}
                   for d in smollm2.kernel_plan())
        logits = smollm2.logits(ids)
        st = smollm2.stats()
        smollm2._m.reset()
        steps = np.stack([smollm2._m.forward(np.array(ids[i:i + 1]), False) for i in range(48)])
        _core.set_masked_dense_types(["Q6_K"])
        _core.set_sparse_down(False)
        smollm2.set_sparsity("all_inputs", "top_p", 0.97)
        assert all(d == {"gate": "sparse", "up": "sparse", "down": "masked_dense"} for d in smollm2.kernel_plan())
    finally:
        _core.set_masked_dense_types(["Q6_K"])
        _core.set_sparse_down(False)
        smollm2.clear_sparsity()
    masked = nll(logits)
    assert np.array_equal(steps, logits[:48])  # decode and prefill: the same dense kernels on the same masked vectors
    assert st["total"] == st_sparse["total"] and abs(st["active"] - st_sparse["active"]) < 2e-3 * st["active"]
    assert sparse > dense + 0.005 and masked > dense + 0.005  # the sparsity costs something on both paths
    # and the same model: measured 3.1549 vs 3.1637 nats (dense 3.1255) on these 512 tokens; 2048 tokens of other
    # text at three sites gave perplexity ratios 0.995-1.001 (the sparse-vs-torch test's tolerance is 1-3%)
    assert abs(masked - sparse) < 0.02


def test_bad_input(smollm2, tmp_path):
    m = smollm2
    with pytest.raises(ValueError, match="empty"):
        m.logits([])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        m.logits([1, 2, m.n_vocab])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        m._m.forward(np.array([-1], np.int32), True)
    with pytest.raises(ValueError, match="context"):
        m.logits(np.ones(m.context + 1, np.int64))
    with pytest.raises(ValueError, match="exceed the context"):
        m._m.reset()
        m._m.forward(np.ones(m.context + 5, np.int32), False)
    m._m.reset()
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError):
            m.set_sparsity("input", "top_p", bad)
    with pytest.raises(ValueError, match="unknown site"):
        m.set_sparsity("attention", "top_p", 0.9)
    with pytest.raises(ValueError, match="unknown rule"):
        m.set_sparsity("input", "top_q", 0.9)
    with pytest.raises(ValueError, match="unknown site"):
        m._m.set_sparsity("nope", "top_p", [0.9] * m.n_layer, 1.0)
    with pytest.raises(ValueError, match="values for"):
        m._m.set_sparsity("input", "top_p", [0.9], 1.0)
    with pytest.raises(ValueError, match="layer 99"):
        m.set_sparsity("input", "top_p", 0.9, layers=[99])
    with pytest.raises(ValueError, match="integer"):
        m._m.forward(np.array([1.0, 2.0]), True)
    with pytest.raises(ValueError, match="top_p"):
        list(m.generate_ids([1, 2], 4, top_p=0.0))
    assert m.sparsity is None  # nothing was switched on by the failed calls
    with pytest.raises(ValueError, match="training context"):
        Model.load(m.path, context=10**7)
    with pytest.raises(FileNotFoundError):
        Model.load(tmp_path / "missing.gguf")
    with pytest.raises(ValueError, match="directory"):
        Model.load(tmp_path)


def _rewrite(src, dst, drop=None, reshape=None, arch=None):
    """Copies a GGUF with one tensor dropped or given a wrong shape, or another architecture name (gguf's
    reader and writer)."""
    import gguf

    r = gguf.GGUFReader(str(src))
    w = gguf.GGUFWriter(str(dst), arch or r.fields["general.architecture"].contents())
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name == "general.architecture":
            continue
        if f.types and f.types[0] == gguf.GGUFValueType.ARRAY:
            w.add_array(f.name, f.contents())
        else:
            w.add_key_value(f.name, f.contents(), f.types[0])
    for t in r.tensors:
        if t.name == drop:
            continue
        data = np.asarray(t.data)
        if t.name == reshape:
            data = data[:-1]
        w.add_tensor(t.name, data, raw_dtype=t.tensor_type if t.tensor_type not in (0, 1) else None)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_bad_model_files(tiny_files, tmp_path):
    _, src = tiny_files["qwen2"]
    _rewrite(src, tmp_path / "missing.gguf", drop="blk.1.ffn_up.weight")
    with pytest.raises(ValueError, match="blk.1.ffn_up.weight.*missing"):
        Model.load(tmp_path / "missing.gguf")
    _rewrite(src, tmp_path / "shape.gguf", reshape="blk.0.attn_k.weight")
    with pytest.raises(ValueError, match="blk.0.attn_k.weight.*shape"):
        Model.load(tmp_path / "shape.gguf")
    _rewrite(src, tmp_path / "bias.gguf", drop="blk.0.attn_q.bias")
    with pytest.raises(ValueError, match="attn_q.bias"):
        Model.load(tmp_path / "bias.gguf")
    _rewrite(src, tmp_path / "arch.gguf", arch="mamba")
    with pytest.raises(ValueError, match="architecture 'mamba' is not supported"):
        Model.load(tmp_path / "arch.gguf")
    data_ = (tmp_path / "missing.gguf").read_bytes()
    (tmp_path / "cut.gguf").write_bytes(data_[: len(data_) // 2])
    with pytest.raises(ValueError):
        Model.load(tmp_path / "cut.gguf")


@pytest.mark.slow
@pytest.mark.parametrize("name, min_top1", [("gemma3-270m", 0.93), ("qwen2.5-coder-0.5b", 0.96),
                                            ("qwen2.5-coder-1.5b", 0.95)])
def test_larger_models_match_transformers(name, min_top1):
    m = Model.load(models.fetch(name, progress=False), context=1024)
    text = " ".join(d["text"] for d in data.load("wikipedia", progress=False)[:3])
    ids = m.tokenizer(text)["input_ids"][:520]
    got = m.logits(ids)
    hf, _ = models.load_hf(name)
    ref = hf_logits(hf, ids)
    assert_parity(name, ref, got, min_top1)
    # float32 activations: the quantised model as transformers computes it (measured: top-1 1.0, KL < 1e-6)
    del m
    exact = Model.load(models.fetch(name, progress=False), context=1024, activations="f32").logits(ids)
    assert_parity(f"{name}, f32 activations", ref, exact, min_top1=0.995)
    assert kl_top1(ref, exact)[0] <= 1e-4


def test_engine_backend_sweep_matches_its_model(smollm2, tmp_path, monkeypatch):
    """`--backend engine`: a Sweep over the engine gives the perplexity of the engine's logits and the sparsity
    of its counters; its records never mix with the torch backend's (model id '@engine')."""
    from pysparse.sweep import Sweep
    from pysparse.tasks import PerplexityTask

    monkeypatch.setenv("PYSPARSE_CACHE", str(tmp_path / "cache"))  # fresh dense-reference cache
    docs = data.load("wikipedia", progress=False)[:2]
    task = PerplexityTask(docs, window=128, max_tokens=256, max_tokens_per_doc=128)
    sw = Sweep(smollm2, smollm2.tokenizer, [task], "input", "top_p", results=tmp_path / "r.jsonl",
               model_id="smollm2-135m", progress=False)
    rec = sw.point(0.9)
    assert rec["model"] == "smollm2-135m@engine"
    # the same windows straight through the Model: same sparsity, same perplexity
    smollm2.set_sparsity("input", "top_p", 0.9)
    try:
        nll, n = 0.0, 0
        for w, first in task.windows:
            lp = log_softmax(smollm2.logits(w)[:-1])
            nll -= lp[np.arange(first - 1, len(w) - 1), w[first:]].sum()
            n += len(w) - first
        st = smollm2.stats()["overall"]
    finally:
        smollm2.clear_sparsity()
    assert abs(rec["sparsity"] - st) < 1e-9
    ppl = [r for t, r in rec["tasks"].items() if r["metric"] == "perplexity"][0]["score"]
    assert n > 0 and abs(ppl / math.exp(nll / n) - 1) < 1e-5
    assert 0.3 < rec["sparsity"] < 0.45 and rec["retention"]["suite"] > 0.8


def test_generate_text_and_stream(smollm2):
    """generate() returns the decoded continuation; stream=True yields the same text in pieces; stream() pairs each
    token with the text it completed."""
    prompt = "The capital of France is"
    ids = smollm2.tokenizer(prompt)["input_ids"]
    toks = list(smollm2.generate_ids(ids, 12))
    eos = smollm2.tokenizer.eos_token_id
    toks = toks[:toks.index(eos)] if eos in toks else toks
    text = smollm2.generate(prompt, max_new_tokens=12)
    assert text == smollm2.tokenizer.decode(toks, skip_special_tokens=True)
    assert "".join(smollm2.generate(prompt, max_new_tokens=12, stream=True)) == text
    pairs = list(smollm2.stream(ids, 12))
    assert [t for t, _ in pairs] == toks and "".join(p for _, p in pairs) == text
