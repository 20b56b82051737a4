"""Executors: who measures a Sweep's points (pysparse.sweep).

A Sweep keeps the books (which points are done, retention against the dense point, the results file) and hands
the points it needs to its executor, which yields `(value, record, error)` for each as it is measured (value
None is the dense point; record is Sweep.evaluate's, without retention; error is None or a one-line reason the
point could not be measured, for executors that give up on points instead of raising):

- `LocalExecutor` (the default): this process, one point after another, in order.
- `pysparse.executors.ray.RayExecutor` (`--executor ray`): Ray actors, each holding the model once, measure many
  points in parallel; see docs/ray.md. Ray is imported only there, so the local path never imports it.

An executor has `slots` (points it measures at once: bisection evaluates that many candidates per round) and
`remote` (True when the points are measured elsewhere, so the driving Sweep needs no model).
"""

from __future__ import annotations


class LocalExecutor:
    """Measure points in this process, in the order given (today's behaviour of a Sweep)."""

    remote = False
    slots = 1

    def map(self, sweep, values, desc: str = ""):
        from tqdm import tqdm

        for v in tqdm(values, desc=desc, unit="point", disable=not sweep.progress or len(values) < 2):
            yield v, sweep.evaluate(v), None

    def close(self) -> None:
        pass
