"""`pysparse speedup`: the measurement end to end on the real SmolLM2 (tiny budget, short speed runs), resuming from
saved points, the allocation file read back by the engine, the greedy search on a known table, and bad input
refused with one line before any long work. (Correctness only; no speed is asserted.)"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pysparse import allocate
from pysparse.speedup import measure_speedup, table

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(sites=["input"], budget="tiny", tasks="wikipedia", tg=4, reps=1, threads=1, calib_tokens=32,
             alloc_group=5, alloc_evals=2, target=0.97, n_boot=50, progress=False, llama_bench=None)


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), LLAMA_BENCH="")
    return subprocess.run([sys.executable, "-m", "pysparse", "speedup", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_speedup_on_smollm2_resumes_and_saves_a_loadable_allocation(smollm2_path, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LLAMA_BENCH", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no llama-bench on PATH: the llama.cpp column is skipped
    res = measure_speedup(str(smollm2_path), p=0.99, out=tmp_path, **SMALL)
    site = res["sites"]["input"]
    q = site["quality"]
    assert q["value"] == 0.99 and 0.01 < q["sparsity"] < 0.9
    assert q["retention_ci"][0] - 1e-9 <= q["retention"] <= q["retention_ci"][1] + 1e-9
    speed = res["speed"]
    assert speed[0]["setting"] == "dense" and speed[0]["speedup"] == 1.0
    s = site["speed"]
    assert s["setting"] == "input:top_p:0.99" and s["sparsity"] > 0.01
    for k in ("ffn_ms", "attention_ms", "output_ms", "total_ms"):
        assert s[k] > 0
    assert s["ffn_ms"] + s["attention_ms"] + s["output_ms"] <= s["total_ms"] * 1.01
    wb = res["bytes"]
    assert wb["per_token_dense"] == sum(wb["by_part"].values()) and wb["bandwidth_gbps"] > 0
    assert 1.0 < s["ideal_speedup"] < 1.0 / (1.0 - wb["site_bytes"]["input"] / wb["per_token_dense"])
    assert "skipped" in res["llama_cpp"]
    # the allocation: validated on the held-out suite at the target, saved as a sparsity file the engine reads
    a = site["allocation"]
    assert a["values"] is not None, a  # p near 0.99 on some layers keeps 97% of the dense quality
    assert a["retention"] >= 0.97 and len(a["values"]) == 30 and set(a["values"]) - {None} <= set(a["levels"])
    from pysparse.engine import Model

    m = Model.load(smollm2_path, threads=1)
    m.load_sparsity(a["file"])
    assert m.sparsity["values"] == a["values"] and m.sparsity["site"] == "input"
    assert site["allocation_speed"]["setting"] == "input:top_p:per-layer"
    from pysparse.cli import main

    capsys.readouterr()
    assert main(["bench", str(smollm2_path), "--sparsity-file", a["file"], "-p", "0", "-n", "4", "-r", "1",
                 "--threads", "1"]) == 0
    assert "input:top_p:per-layer" in capsys.readouterr().out  # `pysparse bench --sparsity-file` benches it
    files = {p.name for p in tmp_path.iterdir()}
    assert {"speedup.json", "speedup.png", "results.jsonl", "calibration.jsonl"} <= files
    saved = json.loads((tmp_path / "speedup.json").read_text())
    assert saved["summary"] == res["summary"] and "faster generation than dense" in res["summary"]
    assert "input:top_p:0.99 *" in table(res)
    # a second run measures no quality point again: every saved point and calibration record is reused
    sizes = {f: (tmp_path / f).stat().st_size for f in ("results.jsonl", "calibration.jsonl")}
    measure_speedup(str(smollm2_path), p=0.99, out=tmp_path, **SMALL)
    assert sizes == {f: (tmp_path / f).stat().st_size for f in sizes}


def test_greedy_path_takes_the_cheapest_bytes_first():
    # three layers, three levels; layer 1 is nearly free, layer 2 costly
    table = {"levels": [0.95, 0.9, 0.8], "groups": [[0], [1], [2]],
             "kl": [[0.01, 0.02, 0.05], [0.001, 0.002, 0.004], [0.1, 0.3, 0.9]],
             "sparsity": [[0.1, 0.2, 0.4], [0.1, 0.2, 0.4], [0.1, 0.2, 0.4]]}
    path = allocate.greedy_path(table, [100, 100, 100])
    assert path[0]["values"] == [None, None, None]
    assert [p["values"][1] for p in path[1:4]] == [0.95, 0.9, 0.8]  # the cheap layer goes all the way first
    assert path[-1]["values"] == [0.8, 0.8, 0.8] and len(path) == 1 + 9
    skipped = [p["est_skipped_bytes"] for p in path]
    assert skipped == sorted(skipped) and np.isclose(path[-1]["est_kl"], 0.05 + 0.004 + 0.9)


def test_greedy_path_moves_groups_together():
    table = {"levels": [0.9], "groups": [[0, 1], [2]], "kl": [[0.01], [0.5]], "sparsity": [[0.3], [0.3]]}
    path = allocate.greedy_path(table, [10, 10, 10])
    assert [p["values"] for p in path] == [[None] * 3, [0.9, 0.9, None], [0.9, 0.9, 0.9]]
    assert allocate.layer_groups(30) == [list(range(i, i + 3)) for i in range(0, 30, 3)]
    assert allocate.layer_groups(5, 1) == [[i] for i in range(5)]


def test_bad_input_is_one_line_before_work(tmp_path, capsys, monkeypatch):
    from pysparse.cli import main

    monkeypatch.delenv("LLAMA_BENCH", raising=False)
    notexec = tmp_path / "llama-bench"
    notexec.write_text("")
    notexec.chmod(stat.S_IRUSR)
    cases = [(["no-such-model"], "not a known model name"), (["--site", "nonsense"], "engine's sites: input"),
             (["--p", "1.5"], "--p must be in [0, 1]"),
             (["--p", "-0.1"], "--p must be in [0, 1]"), (["--target-retention", "0"], "(0, 1]"),
             (["--target-retention", "1.2"], "(0, 1]"), (["--llama-bench", str(notexec)], "not an executable"),
             (["--rule", "threshold"], "rules: top_p"), (["--threads", "0"], "--threads must be >= 1"),
             (["--budget", "huge"], "unknown budget")]
    for args, msg in cases:
        assert main(["speedup", *args, "--out", str(tmp_path / "out")]) == 1, args
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pysparse speedup: error:") and msg in lines[0], (args, lines)
    assert not (tmp_path / "out").exists()  # refused before anything was written
    r = _cli("--p", "7")  # and the installed entry point prints the same single line
    assert r.returncode == 1 and r.stderr.strip() == "pysparse speedup: error: --p must be in [0, 1], got 7.0"


def test_llama_bench_from_env_must_be_executable(tmp_path, monkeypatch):
    from pysparse import llama_cpp

    monkeypatch.setenv("LLAMA_BENCH", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="LLAMA_BENCH"):
        llama_cpp.find(None)


def test_sensitivity_on_a_tiny_gguf_resumes_and_feeds_the_greedy_path(tmp_path):
    """The calibration step on a tiny llama GGUF (no tokenizer needed: token windows go in directly)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from tiny_gguf import write_gguf
    from tiny_models import build_tiny

    from pysparse.engine import Model

    path = tmp_path / "tiny.gguf"
    write_gguf(build_tiny("llama"), path)
    m = Model.load(path, threads=1)
    windows = [np.arange(3, 35), np.arange(40, 72)]
    levels = [0.95, 0.8, 0.5]
    rec = tmp_path / "calibration.jsonl"
    t = allocate.sensitivity(m, "input", "top_p", levels, windows, [[0], [1]], results=rec, progress=False,
                             model_id="tiny")
    kl, sp = np.asarray(t["kl"]), np.asarray(t["sparsity"])
    assert kl.shape == sp.shape == (2, 3) and (kl >= -1e-9).all() and (kl[:, -1] > 0).all()
    assert (np.diff(sp, axis=1) >= 0).all() and (sp[:, -1] > sp[:, 0]).all()  # lower p, sparser
    # the KL of layer 0 alone at p=0.5, measured directly
    m.clear_sparsity()
    dense = [allocate._log_softmax(m.logits(w)) for w in windows]
    m.set_sparsity("input", "top_p", {0: 0.5})
    assert np.isclose(kl[0, 2], allocate._kl(m, windows, dense))
    n = len(rec.read_text().splitlines())
    assert n == 6
    again = allocate.sensitivity(m, "input", "top_p", levels, windows, [[0], [1]], results=rec, progress=False,
                                 model_id="tiny")
    assert again["kl"] == t["kl"] and len(rec.read_text().splitlines()) == n  # resumed, nothing re-measured
    path_ = allocate.greedy_path(t, allocate.site_bytes(m, "input"))
    assert len(path_) == 1 + 6 and path_[-1]["values"] == [0.5, 0.5]
