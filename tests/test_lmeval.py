"""lm-evaluation-harness integration on the real SmolLM2-135M: the `pysparse` model against lm-eval's own `hf`
model, its sparsity against the framework's, the offline tasks, the CLI, bad input, and sweeps over lm-eval."""

import glob
import json
import math
import os

import pytest

pytest.importorskip("lm_eval")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # the offline tasks must not need the dataset hub

import torch  # noqa: E402
from lm_eval import simple_evaluate  # noqa: E402

from pysparse import data, models, sites  # noqa: E402
from pysparse.lmeval import PysparseLM  # noqa: E402
from pysparse.lmeval import offline, run  # noqa: E402
from pysparse.lmeval.harness import build_tasks, task_manager  # noqa: E402
from pysparse.rules import TopP  # noqa: E402
from pysparse.tasks import EvalContext, MultipleChoiceTask  # noqa: E402

MODEL = "smollm2-135m"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tm(smollm2_path):
    offline.materialise(["pysparse_wikipedia", "pysparse_wikipedia_cloze", "pysparse_analogies", "pysparse_gpqa"],
                        progress=False)
    return task_manager()


@pytest.fixture(scope="module")
def dense_lm(smollm2_path):
    return PysparseLM(pretrained=MODEL, batch_size=4)


def _evaluate(lm, tm, tasks, limit):
    return simple_evaluate(model=lm, tasks=tasks, limit=limit, task_manager=tm, log_samples=True,
                           bootstrap_iters=0, verbosity="ERROR")


def test_registered_under_pysparse():
    from lm_eval.api.registry import get_model

    assert get_model("pysparse") is PysparseLM


def _compare_with_hf(hf, tm, dense_lm, limits):
    for task, limit in limits.items():
        a = _evaluate(hf, tm, [task], limit)
        b = _evaluate(dense_lm, tm, [task], limit)
        sa, sb = a["samples"][task], b["samples"][task]
        assert [s["doc_id"] for s in sa] == [s["doc_id"] for s in sb] and len(sa) == limit
        for x, y in zip(sa, sb):
            assert x["arguments"] == y["arguments"]  # the same prompts
            for rx, ry in zip(x["resps"], y["resps"]):
                if isinstance(rx[0], str):
                    assert rx == ry
                else:
                    vx, vy = (rx[0] if isinstance(rx[0], (int, float)) else rx[0][0],
                              ry[0] if isinstance(ry[0], (int, float)) else ry[0][0])
                    assert math.isclose(vx, vy, rel_tol=1e-5, abs_tol=1e-3), (task, vx, vy)
                    if isinstance(rx[0], (tuple, list)):
                        assert rx[0][1] == ry[0][1]  # is_greedy
        for k, v in a["results"][task].items():
            if isinstance(v, float) and "stderr" not in k:
                assert math.isclose(v, b["results"][task][k], rel_tol=1e-5), (task, k)
        assert b["config"]["pysparse"]["rule"] == "top_p" and b["config"]["pysparse"]["value"] is None
    dense_lm.sparsifier.stats.reset()


def test_dense_equals_hf_model_on_offline_tasks(tm, dense_lm):
    """The three request types (loglikelihood, rolling, generate_until) against lm-eval's own hf model on the same
    weights: equal accuracies and generations, log-likelihoods within float tolerance."""
    from lm_eval.models.huggingface import HFLM

    model, tok = models.load_hf(MODEL)  # a fresh copy, no hooks
    hf = HFLM(pretrained=model, tokenizer=tok, device="cpu", batch_size=3)
    _compare_with_hf(hf, tm, dense_lm, {"pysparse_wikipedia_cloze": 5, "pysparse_wikipedia": 1,
                                        "pysparse_analogies": 3})


@pytest.mark.slow
def test_dense_equals_hf_model_loading_the_gguf(smollm2_path, tm, dense_lm):
    """As above, with lm-eval's hf model loading the GGUF itself (gguf_file=, ~25 s of conversion)."""
    from lm_eval.models.huggingface import HFLM

    hf = HFLM(pretrained=str(smollm2_path.parent), gguf_file=smollm2_path.name, device="cpu", dtype="float32",
              batch_size=3)
    _compare_with_hf(hf, tm, dense_lm, {"pysparse_wikipedia_cloze": 8, "pysparse_wikipedia": 2,
                                        "pysparse_analogies": 6})


def test_sparsity_equals_framework_on_the_same_text(tm):
    """p = 0.9 at the input site: the lm-eval run's pooled sparsity (batched, padded) equals the framework's
    multiple-choice task on the same GPQA records, and its token count equals the unpadded sequences' exactly."""
    lm = PysparseLM(pretrained=MODEL, p=0.9, batch_size=4)
    r = _evaluate(lm, tm, ["pysparse_gpqa"], 2)
    info = r["config"]["pysparse"]
    assert info["value"] == 0.9 and 0.25 < info["sparsity"] < 0.5 and info["sparsity_generated"] is None
    assert len(info["per_layer"]) == 30 and info["tokens_generated"] == 0

    # the very sequences lm-eval scored, one at a time (no padding), through the framework's context
    model, tok = lm.ctx.model, lm.tokenizer
    sp = sites.Sparsifier(model, "input", TopP(0.9))
    lm.sparsifier.detach()
    try:
        with sp:
            ctx1 = EvalContext(model, tok, sp, batch_size=1, progress=False)
            for s in r["samples"]["pysparse_gpqa"]:
                for c, cont in s["arguments"]:
                    ce, te = lm._encode_pair(c, cont)
                    ctx1.logits([(ce + te)[:-1]])
            assert int(sp.stats.totals().sum()) == int(lm.sparsifier.stats.totals().sum())  # padding excluded
            assert sp.stats.overall() == pytest.approx(info["sparsity"], abs=1e-3)

            # the framework's own multiple-choice task on the same records (it also scores each choice's last
            # token, which lm-eval does not feed: a difference of well under 1% of the tokens)
            sp.stats.reset()
            mc = MultipleChoiceTask(data.load("gpqa")[:2], name="gpqa")
            mc.evaluate(EvalContext(model, tok, sp, batch_size=4, progress=False))
            assert sp.stats.overall() == pytest.approx(info["sparsity"], abs=3e-3)
    finally:
        lm.sparsifier.attach()


def test_generated_tokens_are_counted_as_generated(tm):
    lm = PysparseLM(pretrained=MODEL, p=0.8, batch_size=4)
    r = _evaluate(lm, tm, ["pysparse_analogies"], 4)
    info = r["config"]["pysparse"]
    assert info["tokens_generated"] > 0 and info["tokens_prompt"] > 0
    assert 0.3 < info["sparsity_generated"] < 0.8 and 0.3 < info["sparsity_prompt"] < 0.8
    # at most max_gen_toks (8) tokens per answer, the first of which is predicted by the prompt pass
    assert info["tokens_generated"] <= 4 * 7 * 30


@pytest.mark.parametrize("margs, msg", [
    ({"site": "middle"}, "unknown site"),
    ({"rule": "top_q"}, "unknown rule"),
    ({"p": 1.5}, "must be in [0, 1]"),
    ({"p": "x"}, "must be a number"),
    ({"backend": "gpu"}, "unknown backend"),
])
def test_bad_model_args_fail_before_the_model_loads(margs, msg):
    with pytest.raises(ValueError, match=msg.replace("[", r"\[").replace("]", r"\]")):
        run.evaluate({"pretrained": "no-such-model", **margs}, ["pysparse_wikipedia_cloze"])
    with pytest.raises(ValueError, match=msg.replace("[", r"\[").replace("]", r"\]")):
        PysparseLM(pretrained="no-such-model", **margs)


def test_unknown_task_fails_before_the_model_loads(tm, capsys):
    from pysparse.cli import main

    with pytest.raises(ValueError, match="unknown lm-eval task 'pysparse_wikipedia_clozee'.*did you mean "
                                         "pysparse_wikipedia_cloze"):
        run.evaluate({"pretrained": "no-such-model"}, ["pysparse_wikipedia_clozee"])
    assert main(["lm-eval", "--model", "no-such-model", "--tasks", "no_such_task_at_all"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pysparse lm-eval: error: unknown lm-eval task 'no_such_task_at_all'")


def test_cli_writes_lm_eval_results_and_sparsity_side_by_side(tm, tmp_path, capsys):
    from pysparse.cli import main

    rf = tmp_path / "layers.json"
    rf.write_text(json.dumps({str(i): 0.8 for i in range(0, 30, 2)}))  # even layers only
    out = tmp_path / "out"
    assert main(["lm-eval", "--tasks", "pysparse_wikipedia_cloze", "--limit", "3", "--rule-file", str(rf),
                 "--output_path", str(out), "--log_samples", "--bootstrap_iters", "0", "--threads", "1"]) == 0
    assert "pysparse_wikipedia_cloze" in capsys.readouterr().out
    (res_file,) = glob.glob(str(out / MODEL / "results_*.json"))
    (sp_file,) = glob.glob(str(out / MODEL / "sparsity_*.json"))
    assert glob.glob(str(out / MODEL / "samples_pysparse_wikipedia_cloze_*.jsonl"))
    res, sp = json.loads(open(res_file).read()), json.loads(open(sp_file).read())
    assert sp["results_file"] == res_file and sp["rule_file"] == str(rf)
    assert res["config"]["pysparse"]["sparsity"] == sp["sparsity"]
    per_layer = sp["per_layer"]
    assert all(per_layer[i] > 0.2 for i in range(0, 30, 2)) and all(per_layer[i] < 0.01 for i in range(1, 30, 2))


def test_sweep_and_critical_over_lm_eval_tasks(tm, tmp_path):
    """Two lm-eval tasks (an accuracy and a perplexity) in the framework's sweep: per-example records that
    reproduce lm-eval's aggregate, retention and critical sparsity in the report."""
    from pysparse import report
    from pysparse.sweep import ResultsFile, Sweep

    tasks = build_tasks("pysparse_wikipedia_cloze,pysparse_wikipedia:bits_per_byte", limit=2, progress=False)
    model, tok = models.load_hf(MODEL)
    sw = Sweep(model, tok, tasks, "input", "top_p", results=tmp_path / "r.jsonl", model_id=MODEL, batch_size=4,
               progress=False)
    (pt,) = sw.run([0.7])
    d = sw.dense
    assert set(d["tasks"]) == {"pysparse_wikipedia_cloze", "pysparse_wikipedia"}
    cloze, wiki = d["tasks"]["pysparse_wikipedia_cloze"], d["tasks"]["pysparse_wikipedia"]
    assert cloze["metric"] == "acc" and len(cloze["num"]) == 2 and cloze["higher_is_better"]
    assert wiki["metric"] == "bits_per_byte" and not wiki["higher_is_better"] and 0.5 < wiki["score"] < 1.5
    assert pt["sparsity"] > 0.4 and pt["tasks"]["pysparse_wikipedia"]["score"] > wiki["score"]
    assert pt["retention"]["pysparse_wikipedia"] < 1.0
    summary = report.build(ResultsFile(tmp_path / "r.jsonl").records(), n_boot=50)
    (e,) = summary["entries"]
    assert set(e["critical"]["tasks"]) == {"pysparse_wikipedia_cloze", "pysparse_wikipedia"}
    assert "critical_ci" in e["critical"]["suite"]
    # resumed: the same configuration is read back, not recomputed
    sw2 = Sweep(model, tok, tasks, "input", "top_p", results=tmp_path / "r.jsonl", model_id=MODEL, progress=False)
    assert sw2.dense is not None and 0.7 in sw2.done


def test_engine_backend_agrees_with_torch_within_quantisation(tm, dense_lm):
    """The GGUF on the C++ engine (Q4_1 weights, 8-bit quantised activations in the dot products) against the
    torch model (the same weights dequantised to float32): log-likelihoods within the quantisation error, and
    the sparsity the engine counts at p = 0.9 next to the framework's."""
    pytest.importorskip("pysparse.engine.model")
    el = PysparseLM(pretrained=MODEL, backend="engine", threads=1, batch_size=4)
    for task, limit in {"pysparse_wikipedia_cloze": 6, "pysparse_wikipedia": 1}.items():
        a, b = _evaluate(dense_lm, tm, [task], limit), _evaluate(el, tm, [task], limit)
        for x, y in zip(a["samples"][task], b["samples"][task]):
            vx, vy = x["resps"][0][0], y["resps"][0][0]
            vx, vy = (vx[0], vy[0]) if isinstance(vx, (tuple, list)) else (vx, vy)
            if task == "pysparse_wikipedia":  # a passage: hundreds of tokens, the errors average out
                assert vy == pytest.approx(vx, rel=0.01), (task, vx, vy)
            else:  # one word: a hard token can move by ~0.3 nats
                assert vy == pytest.approx(vx, abs=0.5), (task, vx, vy)
    dense_lm.sparsifier.stats.reset()
    sl = PysparseLM(pretrained=MODEL, backend="engine", threads=1, p=0.9, batch_size=4)
    tl = PysparseLM(pretrained=MODEL, p=0.9, batch_size=4)
    se = _evaluate(sl, tm, ["pysparse_wikipedia_cloze"], 4)["config"]["pysparse"]
    st = _evaluate(tl, tm, ["pysparse_wikipedia_cloze"], 4)["config"]["pysparse"]
    assert se["backend"] == "engine" and se["sparsity"] == pytest.approx(st["sparsity"], abs=0.002)
    assert se["sparsity_generated"] is None and len(se["per_layer"]) == 30
