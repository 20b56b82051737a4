"""`pysparse report RESULTS.jsonl [...] [-o DIR]`: tables, JSON and plots from sweep results."""

from __future__ import annotations

from pathlib import Path

HELP = "critical-sparsity table, summary JSON and PNG plots from one or more results.jsonl files"


def register(p):
    p.add_argument("results", nargs="+", help="results.jsonl file(s) written by `pysparse sweep`/`critical`")
    p.add_argument("-o", "--out", default=None, help="output directory (default: next to the first results file)")
    p.add_argument("--n-boot", type=int, default=1000,
                   help="paired-bootstrap resamples for the intervals (default 1000; 0: no intervals)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0): same seed, same intervals")
    p.add_argument("--criterion", default="tasks", choices=["tasks", "fidelity", "both"],
                   help="which retentions make the suite mean: tasks (default; perplexity and accuracy tasks), "
                        "fidelity (top-1 agreement) or both; tasks and fidelity are always shown side by side")
    p.add_argument("--curves", action="store_true", help="also print every measured point")


def run(args):
    from .. import report

    out = Path(args.out) if args.out else Path(args.results[0]).parent
    s = report.report(args.results, out, n_boot=args.n_boot, seed=args.seed, criterion=args.criterion)
    print(report.markdown_table(s))
    if args.curves:
        print(report.curve_table(s))
    print(f"\nwritten: {out / 'summary.md'}, {out / 'summary.json'} and PNG plots in {out}")
    return 0
