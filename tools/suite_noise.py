"""How wide is the critical sparsity's interval for smaller suites? Read one large sweep and re-analyse subsets.

    python tools/suite_noise.py RESULTS.jsonl [--windows 16 32 64] [--cloze 0 100 200] [--n-boot 1000]

RESULTS.jsonl is a sweep with one perplexity task (+ its top-1 fidelity) and optionally one cloze task, measured
on many examples (docs/results/suite-noise/commands.sh makes one). A smaller suite is simulated by keeping the
first W perplexity windows and the first C cloze passages of every point: the tasks draw their examples in a
fixed seeded order, so these are (nearly) the examples a run with that budget would use. Printed per (W, C):
scored tokens, the task-criterion critical sparsity (interpolated) with its paired-bootstrap interval and
half-width, and the per-task retention interval half-widths at the points bracketing the crossing.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pysparse.critical import analyze  # noqa: E402
from pysparse.sweep import load_results, split_records  # noqa: E402
from pysparse.tasks.base import retention, score_from  # noqa: E402


def subset(rec: dict, keep: dict) -> dict:
    """A copy of a result record with each task cut to its first keep[kind] examples (None: all; 0: dropped)."""
    r = copy.deepcopy(rec)
    for t in list(r["tasks"]):
        k = keep["cloze"] if "cloze" in t else keep["windows"]
        if k == 0:
            del r["tasks"][t]
            continue
        d = r["tasks"][t]
        d["num"], d["den"] = d["num"][:k], d["den"][:k]
        d["score"] = float(score_from(d["num"], d["den"], d["transform"]))
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results")
    ap.add_argument("--windows", nargs="+", type=int, default=[16, 32, 64], help="perplexity windows to keep")
    ap.add_argument("--tokens", nargs="+", type=int, default=[],
                    help="also: the fewest first windows holding at least this many scored tokens (a budget's size)")
    ap.add_argument("--cloze", nargs="+", type=int, default=[0, 100, 200], help="cloze passages to keep")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--level", type=float, default=0.90)
    args = ap.parse_args(argv)
    groups = split_records(load_results(args.results))
    print("| site | windows | scored tokens | cloze | critical (tasks, interp.) | 90% interval | half-width | "
          "fidelity critical [90%] | widest task interval at the bracketing points |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (model, site, rule, cfg), (dense, pts) in groups.items():
        den = next(x for t, x in dense["tasks"].items() if t.endswith("_ppl"))["den"]
        cum = [sum(den[:i + 1]) for i in range(len(den))]
        by_tokens = [next((i + 1 for i, c in enumerate(cum) if c >= t), len(den)) for t in args.tokens]
        for w in sorted(set(args.windows) | set(by_tokens)):
            for c in args.cloze:
                keep = {"windows": w, "cloze": c}
                d = subset(dense, keep)
                ps = [subset(p, keep) for p in pts]
                for p in ps:
                    p["retention"] = {t: retention(x["score"], d["tasks"][t]["score"], x["higher_is_better"])
                                      for t, x in p["tasks"].items()}
                a = analyze(d, ps, n_boot=args.n_boot, level=args.level)
                s = a["suite"]
                lo, hi = s["interpolated_ci"]
                ntok = int(sum(next(x for t, x in d["tasks"].items() if t.endswith("_ppl"))["den"]))
                f = a["means"].get("fidelity")
                fid = "" if f is None else f"{f['interpolated']:.3f} [{f['interpolated_ci'][0]:.3f}, " \
                                           f"{f['interpolated_ci'][1]:.3f}]"
                idx = [i for i, x in enumerate(a["sparsity"]) if x in (s["critical"], s["first_fail"])]
                widths = []
                for t, e in a["tasks"].items():
                    if e["kind"] != "tasks":
                        continue
                    hw = max((e["retention_ci"][i][1] - e["retention_ci"][i][0]) / 2 for i in idx) if idx else 0
                    widths.append(f"{t} +-{hw:.4f}")
                print(f"| {site} | {w} | {ntok} | {c} | {s['interpolated']:.3f} | [{lo:.3f}, {hi:.3f}] | "
                      f"+-{(hi - lo) / 2:.3f} | {fid} | {', '.join(widths)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
