"""Tasks on tiny random models (tests/tiny_models.py) with a byte tokenizer, checked against direct computations."""

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from char_tokenizer import CharTokenizer  # noqa: E402
from tiny_models import build_tiny  # noqa: E402

from pysparse.rules import TopP  # noqa: E402
from pysparse.sites import Sparsifier  # noqa: E402
from pysparse.tasks import (AnalogiesTask, ClozeTask, EvalContext, MultipleChoiceTask,  # noqa: E402
                            PerplexityTask, retention, score_from)

WORDS = "the river flows past the old mill where the miller keeps grain and the children play near water".split()


def _docs(n=3, sentences=12):
    docs = []
    for d in range(n):
        sents = []
        for s in range(sentences):
            w = [WORDS[(d * 7 + s * 3 + i) % len(WORDS)] for i in range(12)]
            w[-1] = "miller" if s % 2 else "water"
            sents.append(" ".join(w).capitalize() + ".")
        docs.append({"title": f"doc{d}", "text": " ".join(sents)})
    return docs


@pytest.fixture(scope="module")
def tiny():
    return build_tiny("llama"), CharTokenizer()


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYSPARSE_CACHE", str(tmp_path / "cache"))


def test_perplexity_matches_direct_computation(tiny):
    model, tok = tiny
    docs = [{"title": "a", "text": "abcdefghij" * 10}]
    task = PerplexityTask(docs, window=32, stride=16, max_tokens=10_000, max_tokens_per_doc=10_000,
                          fidelity=False)
    ctx = EvalContext(model, tok, None, batch_size=3, progress=False)
    (r,) = task.evaluate(ctx)
    ids = [1] + tok("abcdefghij" * 10, add_special_tokens=False)["input_ids"]
    # every token after the first is scored exactly once
    assert sum(r.den) == len(ids) - 1
    # windows: each scored token sees at most window - 1 earlier tokens; recompute window by window directly
    nll = 0.0
    with torch.no_grad():
        for w, first in task.windows:
            lp = torch.log_softmax(model(torch.tensor([w])).logits[0].float(), -1)
            nll -= sum(float(lp[i - 1, w[i]]) for i in range(first, len(w)))
            assert len(w) <= 32 and first >= 1
    assert r.score == pytest.approx(math.exp(nll / (len(ids) - 1)), rel=1e-5)
    assert score_from(r.num, r.den, "exp") == pytest.approx(r.score)
    assert r.metrics["bits_per_byte"] > 0 and not r.higher_is_better


def test_disjoint_windows_score_every_token_once(tiny):
    model, tok = tiny
    task = PerplexityTask([{"title": "a", "text": "xyz " * 40}], window=16, max_tokens=1000,
                          max_tokens_per_doc=1000, fidelity=False)
    task.prepare(EvalContext(model, tok, None, progress=False))
    assert sum(len(w) - f for w, f in task.windows) == 160


def test_fidelity_dense_is_exact_and_sparse_drops(tiny):
    model, tok = tiny
    task = PerplexityTask(_docs(), window=64, max_tokens=300, max_tokens_per_doc=150)
    sp = Sparsifier(model, "input").attach()
    try:
        ctx = EvalContext(model, tok, sp, batch_size=4, progress=False, model_id="tiny-llama")
        ppl0, top0 = task.evaluate(ctx)
        assert top0.score == 1.0 and top0.metrics["kl"] == 0.0
        sp.rule = TopP(1.0)  # keeps everything: identical logits
        _, top1 = task.evaluate(ctx)
        assert top1.score == 1.0 and top1.metrics["kl"] < 1e-6
        sp.rule = TopP(0.3)
        ppl, top = task.evaluate(ctx)
        assert top.score < 1.0 and top.metrics["kl"] > 0.0
        # retention conventions
        assert retention(ppl.score, ppl0.score, False) == pytest.approx(ppl0.score / ppl.score)
        # a fresh task object (a resumed sweep) reads the cached dense reference from disk
        again = PerplexityTask(_docs(), window=64, max_tokens=300, max_tokens_per_doc=150)
        _, top2 = again.evaluate(ctx)
        assert top2.score == pytest.approx(top.score)
        assert sp.stats.overall() > 0
    finally:
        sp.detach()


def test_greedy_decoding_matches_teacher_forced_argmax(tiny):
    model, tok = tiny
    ctx = EvalContext(model, tok, None, progress=False)
    prompts = [[1, 50, 60, 70, 80], [1, 90, 91], [1, 40, 41, 42, 43, 44, 45]]
    outs = ctx.greedy(prompts, 4)
    with torch.no_grad():
        for p, o in zip(prompts, outs):
            seq = list(p)
            for _ in range(4):
                seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))
            assert o == seq[len(p):]


def test_cloze_counts_prompt_and_generated_tokens(tiny):
    model, tok = tiny
    task = ClozeTask(_docs(), n=6, context_words=15)
    assert all(e["target"] in ("miller", "water") for e in task.examples)
    assert all(e["target"].lower() in e["context"].lower() for e in task.examples)
    sp = Sparsifier(model, "input", TopP(0.5)).attach()
    try:
        (r,) = task.evaluate(EvalContext(model, tok, sp, batch_size=4, progress=False))
    finally:
        sp.detach()
    assert r.metric == "acc" and len(r.num) == 6 and 0 <= r.score <= 1
    assert sp.stats.totals(phase="generated").sum() > 0 and sp.stats.totals(phase="prompt").sum() > 0


def test_cloze_with_real_target_is_scored_correct_when_model_predicts_it(tiny):
    model, tok = tiny
    ctx = EvalContext(model, tok, None, progress=False)
    prompt = [1] + tok("the mill", add_special_tokens=False)["input_ids"]
    pred = ctx.greedy([prompt], 3)[0]
    task = ClozeTask([], examples=[{"context": "the mill", "target": tok.decode(pred).lstrip() or "x"}], n=1)
    task.encoded = [(prompt, pred)]
    (r,) = task.evaluate(ctx)
    assert r.score == 1.0


def test_multiple_choice_acc_and_acc_norm(tiny):
    model, tok = tiny
    recs = [{"context": "The river", "choices": [" flows", " mill", " water and grain"], "label": i % 3}
            for i in range(6)]
    task = MultipleChoiceTask(recs)
    (r,) = task.evaluate(EvalContext(model, tok, None, batch_size=5, progress=False))
    # direct: the choice with the highest summed log-prob
    with torch.no_grad():
        ctx_ids = [1] + tok("The river", add_special_tokens=False)["input_ids"]
        lls = []
        for ch in recs[0]["choices"]:
            c = tok(ch, add_special_tokens=False)["input_ids"]
            lp = torch.log_softmax(model(torch.tensor([ctx_ids + c])).logits[0], -1)
            lls.append(sum(float(lp[len(ctx_ids) - 1 + i, t]) for i, t in enumerate(c)))
    best = max(range(3), key=lls.__getitem__)
    assert r.num == [float(best == rec["label"]) for rec in recs]
    assert "acc_norm" in r.metrics and r.metrics["chance"] == pytest.approx(1 / 3)


def test_multiple_choice_bad_records():
    with pytest.raises(ValueError, match="label"):
        MultipleChoiceTask([{"context": "a", "choices": ["b", "c"], "label": 5}])
    with pytest.raises(ValueError, match="context"):
        MultipleChoiceTask([{"question": "a"}])


def test_analogies_prompt_format():
    recs = [{"section": "cap", "a": f"A{i}", "b": f"B{i}", "c": f"C{i}", "d": f"D{i}"} for i in range(20)]
    task = AnalogiesTask(recs, n=5)
    assert len(task.examples) == 5
    e = task.examples[0]
    lines = e["context"].split("\n")
    assert len(lines) == 3 and lines[-1].endswith("is to") and " is to " in lines[0]
    assert e["target"].startswith("D") and e["target"] not in lines[0] + lines[1]


def test_empty_or_short_text_is_a_clear_error(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="no documents"):
        PerplexityTask([])
    task = PerplexityTask([{"title": "x", "text": ""}], fidelity=False)
    with pytest.raises(ValueError, match="too short"):
        task.prepare(EvalContext(model, tok, None, progress=False))
    with pytest.raises(ValueError, match="cloze"):
        ClozeTask([{"title": "x", "text": "Too short."}])


def test_bos_follows_the_tokenizer_default(tiny):
    model, tok = tiny
    assert EvalContext(model, tok, None).bos() == [1]

    class NoBos(CharTokenizer):
        def __call__(self, text, add_special_tokens=True):
            return super().__call__(text, add_special_tokens=False)

    assert EvalContext(model, NoBos(), None).bos() == []
