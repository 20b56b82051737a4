"""End to end: `pysparse critical` on the real SmolLM2-135M with a tiny budget, then resume and report."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "pysparse", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_critical_on_smollm2_tiny_budget(smollm2_path, tmp_path):
    out = tmp_path / "res"
    args = ["critical", "--tasks", "wikipedia", "--budget", "tiny", "--grid", "0.9", "--refine", "0.05", "--n-boot", "50",
            "--threads", "1", "--quiet", "--out", str(out)]
    r = _cli(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "| smollm2-135m | input | top_p | **suite mean (tasks)** |" in r.stdout
    assert "| fidelity mean |" in r.stdout and "wikipedia_top1 (fidelity)" in r.stdout
    recs = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [x["dense"] for x in recs] == [True, False, False]
    dense, p, q = recs
    assert (p["value"], q["value"]) == (0.9, 0.95)  # --refine: 0.95 lies between dense (1) and the failing 0.9
    assert dense["tasks"]["wikipedia_top1"]["score"] == 1.0
    assert 0.2 < p["sparsity"] < 0.6  # top-p 0.9 on SmolLM2's FFN inputs
    assert 0.0 < p["retention"]["wikipedia_top1"] < 1.0
    assert p["tasks"]["wikipedia_ppl"]["score"] > dense["tasks"]["wikipedia_ppl"]["score"]
    summary = json.loads((out / "summary.json").read_text())
    (e,) = summary["entries"]
    assert e["site"] == "input" and "interpolated_ci" in e["critical"]["suite"]
    for f in ("summary.md", "retention_smollm2-135m_top_p.png", "layers_smollm2-135m_input_top_p.png",
              "tokens_smollm2-135m_input_top_p.png"):
        assert (out / f).stat().st_size > 0, f
    # the same command again resumes: nothing is recomputed
    r2 = _cli(*args, cwd=tmp_path)
    assert r2.returncode == 0 and "2 point(s) already" in r2.stderr
    assert len((out / "results.jsonl").read_text().splitlines()) == 3
    # report from the file alone
    r3 = _cli("report", str(out / "results.jsonl"), "-o", str(tmp_path / "rep"), "--n-boot", "20", cwd=tmp_path)
    assert r3.returncode == 0 and (tmp_path / "rep" / "summary.md").exists()


def test_cli_bad_input_is_one_clear_line(tmp_path):
    r = _cli("critical", "--model", "no-such-model", "--tasks", "wikipedia", cwd=tmp_path)
    assert r.returncode == 1 and "not a known model name" in r.stderr and "Traceback" not in r.stderr
    r = _cli("critical", "--site", "outputs", cwd=tmp_path)
    assert r.returncode == 1 and "unknown site 'outputs'" in r.stderr and "all_inputs" in r.stderr
    r = _cli("sweep", "--grid", "1.5", cwd=tmp_path)
    assert r.returncode == 1 and "outside [0, 1]" in r.stderr
    r = _cli("critical", "--tasks", "nope", cwd=tmp_path)
    assert r.returncode == 1 and "unknown task 'nope'" in r.stderr
    r = _cli("report", str(tmp_path / "missing.jsonl"), cwd=tmp_path)
    assert r.returncode == 1 and "no such results file" in r.stderr
    for cmd in ("sweep", "critical", "report", "models", "data"):
        assert _cli(cmd, "--help", cwd=tmp_path).returncode == 0
