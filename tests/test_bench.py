"""Benchmark infrastructure: timing helpers, atomic JSON results, tables, the bandwidth probe's arguments, and the
parser of llama.cpp's test-backend-ops output. (Correctness only; no speed is asserted.)"""

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import common  # noqa: E402
import llama_cpp  # noqa: E402

from pysparse import _core  # noqa: E402


def test_compare_interleaves_and_rotates():
    calls = []
    variants = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    res = common.compare(variants, min_time=0.0, repeats=3, warmup=1)
    assert set(res) == set("abc") and all(v >= 0 for v in res.values())
    timed = calls[3 + 3:]  # after 1 warm-up and 1 calibration call each (min_time=0: one call per sample)
    assert timed == list("abc") + list("bca") + list("cab")


def test_time_fn_warms_up_and_returns_median():
    n = []
    t = common.time_fn(lambda: n.append(1), min_time=0.0, repeats=5, warmup=3)
    assert isinstance(t, float) and t >= 0
    assert len(n) == 3 + 1 + 5


def test_save_json_is_atomic(tmp_path):
    p = common.save_json("unit", [{"x": 1.5}], tmp_path, extra={"note": "n"})
    data = json.loads(p.read_text())
    assert data["name"] == "unit" and data["results"] == [{"x": 1.5}] and data["note"] == "n"
    m = data["machine"]
    for key in ("cpu_model", "cpu_flags", "active_isa", "git_commit", "date_utc"):
        assert key in m
    assert m["active_isa"] == _core.active_isa()
    # a failed write leaves the previous file intact and no temporary behind
    with pytest.raises(TypeError):
        common.save_json("unit", [object()], tmp_path)
    assert json.loads(p.read_text())["results"] == [{"x": 1.5}]
    assert sorted(os.listdir(tmp_path)) == ["unit.json"]
    with pytest.raises(ValueError):
        common.save_json("../escape", [], tmp_path)


def test_format_table():
    t = common.format_table([{"type": "Q4_0", "gbps": 12.345}, {"type": "Q6_K", "gbps": 3.0, "extra": 1}],
                            ["type", "gbps"], headers={"gbps": "GB/s"})
    lines = t.splitlines()
    assert lines[0] == "| type | GB/s |"
    assert lines[1] == "|------|-----:|"
    assert lines[2] == "| Q4_0 | 12.3 |"
    assert lines[3] == "| Q6_K |    3 |"
    assert common.format_table([]) == "(no rows)"


def test_bandwidth_lookup():
    table = [{"bytes": 2 << 20, "threads": 1, "gbps": 50.0}, {"bytes": 256 << 20, "threads": 1, "gbps": 10.0},
             {"bytes": 2 << 20, "threads": 2, "gbps": 90.0}]
    assert common.bandwidth_lookup(table, 1 << 20, 1) == 50.0
    assert common.bandwidth_lookup(table, 100 << 20, 1) == 10.0
    assert common.bandwidth_lookup(table, 1 << 30, 1) == 10.0
    assert common.bandwidth_lookup(table, 1 << 30, 4) is None


def test_machine_bandwidth_rows():
    rows = common.machine_bandwidth([1 << 20], [1], reps=1)
    assert len(rows) == 1 and rows[0]["threads"] == 1 and rows[0]["gbps"] > 0


@pytest.mark.parametrize("args", [(100, 1, 1), (1 << 20, 0, 1), (1 << 20, 1, 0), (1 << 20, 2000, 1)])
def test_measure_read_bandwidth_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        _core.measure_read_bandwidth(*args)


# A line as test-backend-ops (ggml d99724f, 2026) prints it in perf mode, colour codes included.
PERF_LINES = (
    "  MUL_MAT(type=f32,ne=[576,1,1,1],op_params=[],sources=q4_0[1536,576,1,1],f32[1536,1,1,1]):"
    "                     8192 runs -   187.77 us/run -      494 kB/run - \x1b[1;34m   2.51 GB/s\x1b[0m\n"
    "  MUL_MAT(type=f32,ne=[4096,1,1,1],op_params=[],sources=q4_K[11008,4096,1,1],f32[11008,1,1,1]):"
    "                  338 runs -  8537.20 us/run -    24827 kB/run - \x1b[1;34m   2.77 GB/s\x1b[0m\n"
    "  MUL_MAT(type=f32,ne=[64,2,1,1],op_params=[],sources=q4_0[256,64,1,1],f32[256,2,1,1]):"
    "   10 runs -  1.00 us/run -  10 kB/run -  1.00 GB/s\n"
    "  Backend CPU: OK\n")


def test_parse_llama_cpp_perf_output():
    res = llama_cpp.parse_perf_output(PERF_LINES)
    assert set(res) == {("Q4_0", 576, 1536), ("Q4_K", 4096, 11008)}  # the n = 2 case is not a matvec
    assert res[("Q4_0", 576, 1536)] == {"us": 187.77, "gbps": 2.51, "runs": 8192, "kb_per_run": 494.0}
    assert llama_cpp.weight_bytes("Q4_K", 4096, 11008) == 4096 * 43 * 144
    assert llama_cpp.case_line(29, "Q4_0", 576, 1536) == \
        "29 0 576 1 1 1 0 2 2 1536 576 1 1 0 0 0 0 0 1536 1 1 1 0 0 0 0 -"


def test_llama_cpp_skips_without_binary(capsys, monkeypatch):
    monkeypatch.delenv(llama_cpp.ENV_BIN, raising=False)
    assert llama_cpp.main([]) == 0
    assert "skipped" in capsys.readouterr().out


@pytest.mark.skipif(not os.environ.get(llama_cpp.ENV_BIN), reason=f"set {llama_cpp.ENV_BIN} to a test-backend-ops")
def test_llama_cpp_runs_a_small_case():
    res = llama_cpp.matvec_perf(os.environ[llama_cpp.ENV_BIN], [("Q4_0", 64, 256)], threads=llama_cpp.ggml_threads())
    v = res[("Q4_0", 64, 256)]
    assert v["us"] > 0 and v["weight_bytes"] == 64 * 8 * 18


def test_llama_cpp_only_at_its_own_thread_count(monkeypatch):
    """test-backend-ops always runs ggml on max(1, cores / 2) threads: another count is refused (n/a in the
    benchmarks), not silently timed at the wrong count."""
    monkeypatch.setattr(llama_cpp.os, "cpu_count", lambda: 8)
    assert llama_cpp.ggml_threads() == 4
    with pytest.raises(llama_cpp.ThreadCountError, match="4 thread"):
        llama_cpp.matvec_perf("/nonexistent/test-backend-ops", [("Q4_0", 64, 64)], threads=2)
    monkeypatch.setattr(llama_cpp.os, "cpu_count", lambda: 1)
    assert llama_cpp.ggml_threads() == 1
