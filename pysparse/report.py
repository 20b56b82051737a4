"""Reports from sweep results: critical-sparsity tables (markdown/terminal), JSON, and PNG plots.

    pysparse report RESULTS.jsonl [-o DIR]

Plots (matplotlib, Agg): retention vs sparsity per site with the 99% line and the critical point marked;
per-layer sparsity at each site's critical point; the distribution of per-token sparsity there; and, when the
results hold several registry models, critical sparsity vs model size with bootstrap intervals.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from .critical import THRESHOLD, analyze
from .stats import SparsityStats
from .sweep import split_records


def _params(model: str) -> float | None:
    from .models import MODELS

    return MODELS[model].params if model in MODELS else None


def build(records: list[dict], n_boot: int = 1000, seed: int = 0, level: float = 0.90) -> dict:
    """{"entries": [...]} one entry per (model, site, rule, config) with the critical-sparsity analysis."""
    entries = []
    for (model, site, rule, cfg), (dense, pts) in split_records(records).items():
        a = analyze(dense, pts, n_boot=n_boot, seed=seed, level=level)
        crit = a["suite"]
        at = None
        if pts:
            # the measured point at the suite's critical sparsity (None when it is the dense model)
            at = next((p for p in pts if p["sparsity"] == crit["critical"]), None)
        entries.append({
            "model": model, "params": _params(model), "site": site, "rule": rule, "config": cfg,
            "n_points": len(pts), "dense_scores": {t: d["score"] for t, d in dense["tasks"].items()},
            "dense_metrics": {t: d["metrics"] for t, d in dense["tasks"].items()},
            "points": [{"value": p["value"], "sparsity": p["sparsity"], "sparsity_prompt": p.get("sparsity_prompt"),
                        "sparsity_generated": p.get("sparsity_generated"), "retention": p["retention"],
                        "scores": {t: r["score"] for t, r in p["tasks"].items()},
                        "kl": {t: r["metrics"].get("kl") for t, r in p["tasks"].items() if "kl" in r["metrics"]},
                        "seconds": p.get("seconds")} for p in pts],
            "critical": a, "value_at_critical": None if at is None else at["value"],
            "seconds": sum(p.get("seconds", 0) for p in pts) + dense.get("seconds", 0),
        })
    entries.sort(key=lambda e: (e["params"] or 0, e["model"], e["rule"], e["site"]))
    return {"threshold": THRESHOLD, "level": level, "n_boot": n_boot, "seed": seed, "entries": entries}


def _fmt_ci(ci) -> str:
    return "" if not ci else f" [{ci[0]:.3f}, {ci[1]:.3f}]"


def markdown_table(summary: dict) -> str:
    lvl = int(round(summary["level"] * 100))
    lines = [f"Critical sparsity (retention >= {summary['threshold']:.0%} of dense; {lvl}% bootstrap intervals "
             f"over examples, {summary['n_boot']} resamples)", "",
             "| model | site | rule | task | critical (measured) | interpolated | value | notes |",
             "|---|---|---|---|---|---|---|---|"]
    for e in summary["entries"]:
        a = e["critical"]
        rows = [("suite mean", a["suite"])] + list(a["tasks"].items())
        for name, c in rows:
            notes = []
            if not c["crossed"]:
                notes.append("never crossed 99%: lower bound")
            if c["non_monotone"]:
                notes.append(f"non-monotone: passes again at {', '.join(f'{x:.3f}' for x in c['passing_after_fail'])}")
            val = ""
            if name == "suite mean" and e["value_at_critical"] is not None:
                val = f"{e['value_at_critical']:g}"
            lines.append(f"| {e['model']} | {e['site']} | {e['rule']} | {name} | {c['critical']:.3f}"
                         f"{_fmt_ci(c.get('critical_ci'))} | {c['interpolated']:.3f}{_fmt_ci(c.get('interpolated_ci'))}"
                         f" | {val} | {'; '.join(notes)} |")
    return "\n".join(lines)


def curve_table(summary: dict) -> str:
    lines = []
    for e in summary["entries"]:
        tasks = list(e["dense_scores"])
        lines += [f"\n### {e['model']} / {e['site']} / {e['rule']}", "",
                  "| value | sparsity | prompt | generated | " + " | ".join(f"{t} (ret)" for t in tasks) +
                  " | suite |", "|" + "---|" * (5 + len(tasks))]
        lines.append("| dense | 0 | | | " + " | ".join(f"{e['dense_scores'][t]:.4g} (1)" for t in tasks) + " | 1 |")
        for p in e["points"]:
            sp_p = "" if p["sparsity_prompt"] is None else f"{p['sparsity_prompt']:.3f}"
            sp_g = "" if p["sparsity_generated"] is None else f"{p['sparsity_generated']:.3f}"
            cells = [f"{p['scores'][t]:.4g} ({p['retention'][t]:.4f})"
                     + (f" KL {p['kl'][t]:.4f}" if p["kl"].get(t) is not None else "") for t in tasks]
            lines.append(f"| {p['value']:g} | {p['sparsity']:.3f} | {sp_p} | {sp_g} | " + " | ".join(cells) +
                         f" | {p['retention']['suite']:.4f} |")
    return "\n".join(lines)


def write_all(summary: dict, records: list[dict], out: str | Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    js = out / "summary.json"
    _atomic_text(js, json.dumps(summary, indent=1))
    md = out / "summary.md"
    _atomic_text(md, "# pysparse critical sparsity\n\n" + markdown_table(summary) + "\n\n## Curves\n" +
                 curve_table(summary) + "\n")
    written += [js, md]
    written += plot_all(summary, records, out)
    return written


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------- plots

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_all(summary: dict, records: list[dict], out: Path) -> list[Path]:
    files = []
    by_model_rule: dict = {}
    for e in summary["entries"]:
        by_model_rule.setdefault((e["model"], e["rule"]), []).append(e)
    for (model, rule), es in by_model_rule.items():
        files.append(plot_retention(es, out / f"retention_{model}_{rule}.png"))
    groups = split_records(records)
    for (model, site, rule, cfg), (dense, pts) in groups.items():
        e = next(x for x in summary["entries"] if x["config"] == cfg)
        at = next((p for p in pts if p["sparsity"] == e["critical"]["suite"]["critical"]), None)
        if at is None and pts:
            at = pts[0]
        if at is not None:
            files.append(plot_layers(at, out / f"layers_{model}_{site}_{rule}.png"))
            files.append(plot_tokens(at, out / f"tokens_{model}_{site}_{rule}.png"))
    if len({e["model"] for e in summary["entries"] if e["params"]}) >= 2:
        files.append(plot_scale(summary, out / "critical_vs_size.png"))
    return files


def plot_retention(entries: list[dict], path: Path) -> Path:
    plt = _plt()
    n = len(entries)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6), squeeze=False, sharey=True)
    for ax, e in zip(axes[0], entries):
        a = e["critical"]
        s = np.array(a["sparsity"])
        for t, c in a["tasks"].items():
            ax.plot(s, c["retention"], marker=".", lw=1, alpha=0.7, label=t)
        sc = a["suite"]
        ax.plot(s, sc["retention"], marker="o", color="k", lw=2, label="suite mean")
        ax.axhline(THRESHOLD, color="r", ls="--", lw=1, label="99%")
        ax.axvline(sc["interpolated"], color="r", lw=1, alpha=0.6)
        ax.plot([sc["critical"]], [sc["retention_at_critical"]], marker="*", ms=14, color="r")
        if sc.get("interpolated_ci"):
            ax.axvspan(*sc["interpolated_ci"], color="r", alpha=0.1)
        ax.set_title(f"{e['model']} / {e['site']} ({e['rule']})\ncritical {sc['critical']:.2f}, "
                     f"interp. {sc['interpolated']:.2f}", fontsize=9)
        ax.set_xlabel("sparsity (pooled)")
        ax.set_ylim(max(0.0, min(0.8, float(np.nanmin(sc["retention"])) - 0.02)), 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("retention (vs dense)")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_layers(point: dict, path: Path) -> Path:
    plt = _plt()
    st = SparsityStats.from_dict(point["stats"])
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for t in st.tensors:
        ax.plot(st.per_layer(t), marker="o", ms=3, label=t)
    ax.axhline(point["sparsity"], color="k", ls=":", lw=1, label=f"pooled {point['sparsity']:.3f}")
    ax.set_xlabel("layer")
    ax.set_ylabel("sparsity")
    ax.set_ylim(0, 1)
    ax.set_title(f"{point['model']} {point['site']} {point['rule']}={point['value']:g}: per-layer sparsity",
                 fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_tokens(point: dict, path: Path) -> Path:
    plt = _plt()
    st = SparsityStats.from_dict(point["stats"])
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for phase in ("prompt", "generated"):
        counts, edges = st.token_histogram(bins=40, phase=phase)
        if counts.sum() == 0:
            continue
        ax.stairs(counts / counts.sum(), edges, label=f"{phase} tokens", fill=phase == "prompt", alpha=0.5)
    ax.set_xlabel("sparsity of one token's vector")
    ax.set_ylabel("fraction of token vectors")
    ax.set_title(f"{point['model']} {point['site']} {point['rule']}={point['value']:g}: per-token sparsity",
                 fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_scale(summary: dict, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    by = {}
    for e in summary["entries"]:
        if e["params"]:
            by.setdefault((e["site"], e["rule"]), []).append(e)
    for (site, rule), es in sorted(by.items()):
        if len({e["model"] for e in es}) < 2:  # a site measured on one model only is no series
            continue
        es.sort(key=lambda e: e["params"])
        x = np.array([e["params"] for e in es])
        y = np.array([e["critical"]["suite"]["interpolated"] for e in es])
        ci = [e["critical"]["suite"].get("interpolated_ci") or [v, v] for e, v in zip(es, y)]
        err = np.array([[v - c[0] for v, c in zip(y, ci)], [c[1] - v for v, c in zip(y, ci)]]).clip(min=0)
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"{site} ({rule})")
        for e, xi, yi in zip(es, x, y):
            ax.annotate(e["model"], (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("critical sparsity (interpolated)")
    ax.set_title("critical sparsity vs model size (suite mean, 99% retention)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report(paths: list[str | Path], out: str | Path, n_boot: int = 1000, seed: int = 0) -> dict:
    from .sweep import load_results

    recs = []
    for p in paths:
        recs += load_results(p)
    summary = build(recs, n_boot=n_boot, seed=seed)
    if not summary["entries"]:
        raise ValueError("no complete sweep in the results (need a dense point and at least one sparse point)")
    write_all(summary, recs, out)
    return summary


del math
