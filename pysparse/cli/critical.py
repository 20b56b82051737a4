"""`pysparse critical`: the critical sparsity of a model (default: SmolLM2-135M, input site, default suite)."""

from __future__ import annotations

from ._eval import add_eval_args, run_eval

HELP = ("find the critical sparsity (99 percent retention of the dense model) of a model: bisection on the rule's "
        "grid, results JSONL + summary.md + PNG plots, intervals by bootstrap")


def register(p):
    add_eval_args(p, bisect_default=True)


def run(args):
    return run_eval(args)
