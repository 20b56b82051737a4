"""`pysparse sweep`: evaluate a model over a grid of rule values at one or more sites (resumable)."""

from __future__ import annotations

from ._eval import add_eval_args, run_eval

HELP = ("sweep a sparsity rule over a grid of values (default: the paper's top-p grid) at one or more sites; "
        "each point is appended to results.jsonl, so an interrupted sweep resumes")


def register(p):
    add_eval_args(p, bisect_default=False)


def run(args):
    return run_eval(args)
