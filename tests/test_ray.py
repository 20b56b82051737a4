"""`--executor ray`: a sweep on a local two-node Ray cluster (head + one worker node on 127.0.0.1, started here)
gives the local executor's results point by point; a killed worker costs only its in-flight points; an
interrupted driver resumes with only the missing points; bad input fails before any model loads; the local path
never imports Ray. The cluster tests skip when Ray is not installed (the `ray` extra)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import ray_helpers  # noqa: E402

from pysparse.sweep import ResultsFile, Sweep  # noqa: E402

GRID = [0.9, 0.7, 0.5, 0.3]
BISECT_GRID = [1.0, 0.99, 0.97, 0.95, 0.9, 0.8, 0.7, 0.5, 0.3, 0.1, 0.0]


def _env_path():
    return os.pathsep.join([str(ROOT), str(HERE)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                    if p])


# -------------------------------------------------------------------------------------------- without a cluster

def test_the_local_path_never_imports_ray(tmp_path):
    script = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
import ray_helpers
from pysparse.cli import build_parser
from pysparse.sweep import Sweep
build_parser()
w = ray_helpers.TinyWorker().load(1)
sw = Sweep(w["model"], w["tokenizer"], w["tasks"], "input", results={str(tmp_path / "r.jsonl")!r},
           model_id="tiny", progress=False, batch_size=4)
sw.run([0.5])
sw.bisect([0.9, 0.5, 0.1])
assert "ray" not in sys.modules, "the local executor imported ray"
print("ok")
"""
    env = dict(os.environ, PYTHONPATH=_env_path(), PYSPARSE_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), p.stderr[-2000:]


@pytest.fixture
def no_model_loads(monkeypatch):
    from pysparse.cli import _eval

    def fail(*a, **kw):
        raise AssertionError("a model or its tasks were loaded before the error")

    monkeypatch.setattr(_eval, "load_model", fail)
    monkeypatch.setattr(_eval, "build_tasks", fail)


def test_ray_not_installed_is_a_clear_error_before_any_model_loads(monkeypatch, capsys, tmp_path, no_model_loads):
    from pysparse.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    rc = main(["sweep", "--executor", "ray", "--grid", "0.5", "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "needs Ray" in err and "pip install 'pysparse[ray]'" in err
    assert not (tmp_path / "results.jsonl").exists()


def test_executor_options_need_the_ray_executor(capsys, tmp_path, no_model_loads):
    from pysparse.cli import main

    assert main(["sweep", "--address", "127.0.0.1:6379", "--out", str(tmp_path), "--quiet"]) == 1
    assert "--executor ray" in capsys.readouterr().err


def test_an_unreachable_address_is_a_clear_error_before_any_model_loads(capsys, tmp_path, no_model_loads):
    pytest.importorskip("ray")
    from pysparse.cli import main

    t0 = time.time()
    rc = main(["critical", "--executor", "ray", "--address", "127.0.0.1:9", "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and "no Ray cluster reachable at 127.0.0.1:9" in err, err
    assert time.time() - t0 < 30
    rc = main(["sweep", "--executor", "ray", "--address", "nonsense", "--out", str(tmp_path), "--quiet"])
    assert rc == 1 and "bad Ray address" in capsys.readouterr().err


# -------------------------------------------------------------------------------------------- on a cluster

@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head and one worker node on 127.0.0.1, one CPU each, small object stores; shut down at the end."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "PYSPARSE_CACHE", "OMP_NUM_THREADS", "RAY_TMPDIR",
                                            "RAY_AUTH_MODE", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    # the nodes' processes (and so the actors) inherit these: pysparse and the tests' helpers importable, a cache
    # of their own, one thread each
    os.environ["PYTHONPATH"] = _env_path()
    os.environ["PYSPARSE_CACHE"] = str(tmp_path_factory.mktemp("raycache"))
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["RAY_TMPDIR"] = str(tmp_path_factory.mktemp("raytmp"))
    # a throwaway cluster on 127.0.0.1: no token authentication, whatever token ~/.ray holds (the driver would
    # otherwise present one the cluster does not expect, and hang)
    os.environ["RAY_AUTH_MODE"] = "disabled"
    # keep every address on the loopback: Ray otherwise rewrites 127.0.0.1 in the driver's address to the host's
    # IP, where nodes bound to 127.0.0.1 do not listen
    # (the nodes read it from the environment; this driver imported Ray already, so its constant is set too)
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray._private.ray_constants as ray_constants

    saved_cluster = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    node = dict(num_cpus=1, object_store_memory=100 * 2**20, include_dashboard=False)
    c = Cluster(initialize_head=True, head_node_args=dict(node, node_ip_address="127.0.0.1"))
    try:
        c.add_node(**node, node_ip_address="127.0.0.1")
        c.wait_for_nodes(timeout=60)
        yield c
    finally:
        c.shutdown()
        ray_constants.ENABLE_RAY_CLUSTER = saved_cluster
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def bounded():
    """Each cluster test ends within TIMEOUT seconds (a TimeoutError in the test) instead of hanging CI; should
    the test be stuck in Ray's C++ where the alarm cannot interrupt it, the whole run is ended (with tracebacks)
    TIMEOUT seconds later."""
    import faulthandler

    def expire(*_):
        raise TimeoutError(f"the Ray test took longer than {TIMEOUT} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TIMEOUT)
    faulthandler.dump_traceback_later(2 * TIMEOUT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


TIMEOUT = 180


def _executor(cluster, worker=None, **kw):
    from pysparse.executors.ray import RayExecutor

    kw.setdefault("workers", 2)
    return RayExecutor(worker or ray_helpers.TinyWorker(), address=cluster.address, progress=False, **kw)


def _sweep(path, executor=None, model=None):
    if executor is not None:
        return Sweep(None, None, ray_helpers.tasks(), "input", "top_p", results=path, model_id="tiny",
                     executor=executor, batch_size=4, progress=False)
    w = model or ray_helpers.TinyWorker().load(1)
    return Sweep(w["model"], w["tokenizer"], ray_helpers.tasks(), "input", "top_p", results=path, model_id="tiny",
                 batch_size=4, progress=False)


def _lines(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]


def _same_point(a, b):
    assert (a["value"], a["dense"], a["config"], a["dense_key"]) == (b["value"], b["dense"], b["config"],
                                                                   b["dense_key"])
    assert a["sparsity"] == pytest.approx(b["sparsity"], rel=1e-9, abs=1e-12)
    assert a["sparsity_by_task"] == pytest.approx(b["sparsity_by_task"], rel=1e-9, abs=1e-12)
    assert set(a["tasks"]) == set(b["tasks"])
    for t in a["tasks"]:
        assert a["tasks"][t]["score"] == pytest.approx(b["tasks"][t]["score"], rel=1e-5, nan_ok=True), t
    assert a["retention"] == pytest.approx(b["retention"], rel=1e-5, nan_ok=True)


def test_a_sweep_on_the_cluster_equals_the_local_one_point_by_point(cluster, tmp_path, bounded):
    import torch

    torch.set_num_threads(1)
    local = _sweep(tmp_path / "local.jsonl")
    local.run(GRID)
    with _executor(cluster) as ex:
        assert ex.slots == 2
        sw = _sweep(tmp_path / "ray.jsonl", ex)
        pts = sw.run(GRID)
        assert [p["value"] for p in pts] == GRID
        # bisection: the same decisions, so the same points in the same order, two candidates per round
        local_b = local.bisect(BISECT_GRID)
        ray_b = sw.bisect(BISECT_GRID)
        assert [p["value"] for p in ray_b] == [p["value"] for p in local_b]
        assert len({p for p in ex.pids()}) == 2  # two worker processes
    a = {(r["value"], r["dense"]): r for r in _lines(tmp_path / "local.jsonl")}
    b = {(r["value"], r["dense"]): r for r in _lines(tmp_path / "ray.jsonl")}
    assert len(b) == len(_lines(tmp_path / "ray.jsonl"))  # every point written once
    assert set(a) <= set(b)  # the ray bisection may also have measured speculative points
    for k in a:
        _same_point(a[k], b[k])
    assert all(r["kind"] == "point" for r in b.values())


def test_a_killed_worker_costs_only_its_in_flight_points(cluster, tmp_path, bounded):
    path = tmp_path / "r.jsonl"
    grid = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5]
    with _executor(cluster, ray_helpers.TinyWorker(delay=0.05), retries=2) as ex:
        before = ex.pids()
        sw = _sweep(path, ex)
        killed = []

        def kill_one(rec):
            if not killed and not rec["dense"]:  # mid-run: the other worker is measuring a point
                time.sleep(0.3)
                pid = before[0]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        sw.on_point = kill_one
        pts = sw.run(grid)
        after = ex.pids()
    assert killed and killed[0] not in after  # the killed actor was restarted in a new process
    assert [p["value"] for p in pts] == grid and not sw.failed
    recs = _lines(path)
    assert all(r["kind"] == "point" for r in recs)
    assert sorted(r["value"] for r in recs if not r["dense"]) == sorted(grid)  # none lost, none duplicated
    assert sum(r["dense"] for r in recs) == 1


def test_a_point_whose_worker_always_dies_is_written_as_failed_and_the_run_goes_on(cluster, tmp_path, bounded):
    path = tmp_path / "r.jsonl"
    with _executor(cluster, ray_helpers.DyingWorker(die_at=0.5), retries=1) as ex:
        sw = _sweep(path, ex)
        pts = sw.run(GRID)
    assert [p["value"] for p in pts] == [0.9, 0.7, 0.3]
    failed = [r for r in _lines(path) if r["kind"] == "failed"]
    assert [r["value"] for r in failed] == [0.5] and "2 attempt(s)" in failed[0]["error"]
    # a rerun (healthy workers) measures only the failed point
    with _executor(cluster) as ex:
        sw = _sweep(path, ex)
        seen = []
        sw.on_point = lambda r: seen.append(r["value"])
        assert [p["value"] for p in sw.run(GRID)] == GRID
    assert seen == [0.5]


def test_an_interrupted_driver_resumes_with_only_the_missing_points(cluster, tmp_path, bounded):
    path = tmp_path / "r.jsonl"
    grid = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5]

    class Stop(KeyboardInterrupt):
        pass

    with _executor(cluster) as ex:
        sw = _sweep(path, ex)
        n = []

        def interrupt(rec):
            n.append(rec["value"])
            if len(n) == 3:  # dense + two points, then Ctrl-C
                raise Stop()

        sw.on_point = interrupt
        with pytest.raises(KeyboardInterrupt):
            sw.run(grid)
        written = {r["value"] for r in _lines(path) if not r["dense"]}
        assert len(written) == 2
        sw2 = _sweep(path, ex)
        seen = []
        sw2.on_point = lambda r: seen.append(r["value"])
        assert [p["value"] for p in sw2.run(grid)] == grid
    assert sorted(seen) == sorted(set(grid) - written)
    recs = _lines(path)
    assert sorted(r["value"] for r in recs if not r["dense"]) == sorted(grid)
    assert sum(r["dense"] for r in recs) == 1


def test_workers_that_do_not_fit_the_cluster_are_capped_not_left_waiting(cluster, bounded, capsys):
    with _executor(cluster, workers=3) as ex:  # 2 CPUs: a third actor would never start, nor its point finish
        assert ex.slots == 2
    assert "do not fit the cluster's 2 CPUs" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="a worker needs 4 CPU"):
        _executor(cluster, workers=1, cpus_per_worker=4)
