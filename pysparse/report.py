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
    """Parameter count of a registry model, also for the engine backend's ids ("smollm2-135m@engine")."""
    from .models import MODELS

    name = model.split("@", 1)[0]
    return MODELS[name].params if name in MODELS else None


# what the "value" of a point is, per rule (the rule's parameter)
RULE_PARAM = {"top_p": "p", "top_k": "keep fraction", "max_p": "p", "threshold": "target sparsity"}


def build(records: list[dict], n_boot: int = 1000, seed: int = 0, level: float = 0.90,
          criterion: str = "tasks") -> dict:
    """{"entries": [...]} one entry per (model, site, rule, config) with the critical-sparsity analysis.

    `criterion` chooses which tasks make the headline suite mean (pysparse.critical: tasks, fidelity, both)."""
    entries = []
    for (model, site, rule, cfg), (dense, pts) in split_records(records).items():
        a = analyze(dense, pts, n_boot=n_boot, seed=seed, level=level, criterion=criterion)
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
    return {"threshold": THRESHOLD, "level": level, "n_boot": n_boot, "seed": seed, "criterion": criterion,
            "entries": entries}


def _fmt_ci(ci) -> str:
    return "" if not ci else f" [{ci[0]:.3f}, {ci[1]:.3f}]"


def _value_at(e: dict, sparsity: float):
    return next((p["value"] for p in e["points"] if p["sparsity"] == sparsity), None)


def _noisy_note(c: dict) -> str:
    pts = c.get("noisy") or []
    if not pts:
        return ""
    shown = ", ".join(f"{x['sparsity']:.3f} [{x['retention_ci'][0]:.3f}, {x['retention_ci'][1]:.3f}]"
                      for x in pts[:3])
    return f"NOISY: retention interval wider than 1% at {shown}" + (" ..." if len(pts) > 3 else "")


def markdown_table(summary: dict) -> str:
    lvl = int(round(summary["level"] * 100))
    crit = summary.get("criterion", "tasks")
    rules = sorted({e["rule"] for e in summary["entries"]})
    params = "; ".join(f"{r}: {RULE_PARAM.get(r, 'value')}" for r in rules)
    lines = [f"Critical sparsity (retention >= {summary['threshold']:.0%} of dense; {lvl}% paired-bootstrap "
             f"intervals over examples, {summary['n_boot']} resamples). Suite mean = criterion `{crit}` "
             f"(tasks: perplexity and accuracy tasks, the paper's definition; fidelity: top-1 agreement with the "
             f"dense model). `rule value` = the rule's parameter at the measured critical point ({params}). "
             f"NOISY = the task's own retention interval at a deciding point is wider than 1%.", "",
             "| model | site | rule | task | critical (measured) | interpolated | rule value | notes |",
             "|---|---|---|---|---|---|---|---|"]
    for e in summary["entries"]:
        a = e["critical"]
        means = a.get("means") or {crit: a["suite"]}
        rows = [(f"**suite mean ({crit})**", a["suite"])]
        rows += [(f"{k} mean", m) for k, m in means.items() if k != crit]
        rows += [(f"{t} ({c.get('kind', 'tasks')})", c) for t, c in a["tasks"].items()]
        for name, c in rows:
            notes = []
            if not c["crossed"]:
                notes.append("never crossed 99%: lower bound")
            if c["non_monotone"]:
                notes.append(f"non-monotone: passes again at {', '.join(f'{x:.3f}' for x in c['passing_after_fail'])}")
            if name.startswith("fidelity"):
                at = next((p for p in e["points"] if p["sparsity"] == c["critical"]), None)
                if at and at["kl"]:
                    notes.append("KL there " + ", ".join(f"{k} {v:.4f}" for k, v in at["kl"].items()))
            if (n := _noisy_note(c)):
                notes.append(n)
            v = _value_at(e, c["critical"])
            lines.append(f"| {e['model']} | {e['site']} | {e['rule']} | {name} | {c['critical']:.3f}"
                         f"{_fmt_ci(c.get('critical_ci'))} | {c['interpolated']:.3f}{_fmt_ci(c.get('interpolated_ci'))}"
                         f" | {'' if v is None else f'{v:g}'} | {'; '.join(notes)} |")
    return "\n".join(lines)


def curve_table(summary: dict) -> str:
    """Every measured point: score, retention and its paired-bootstrap interval per task ('!' = wider than 1%)."""
    lines = []
    for e in summary["entries"]:
        a = e["critical"]
        tasks = list(e["dense_scores"])
        means = a.get("means") or {summary.get("criterion", "tasks"): a["suite"]}
        param = RULE_PARAM.get(e["rule"], "value")
        lines += [f"\n### {e['model']} / {e['site']} / {e['rule']}", "",
                  f"| {param} | sparsity | prompt | generated | " + " | ".join(f"{t} (ret [CI])" for t in tasks) +
                  " | " + " | ".join(f"{k} mean" for k in means) + " |", "|" + "---|" * (4 + len(tasks) + len(means))]
        lines.append("| dense | 0 | | | " + " | ".join(f"{e['dense_scores'][t]:.4g} (1)" for t in tasks) + " | " +
                     " | ".join("1" for _ in means) + " |")
        for i, p in enumerate(e["points"], start=1):
            sp_p = "" if p["sparsity_prompt"] is None else f"{p['sparsity_prompt']:.3f}"
            sp_g = "" if p["sparsity_generated"] is None else f"{p['sparsity_generated']:.3f}"
            cells = []
            for t in tasks:
                c = a["tasks"][t]
                ci = c.get("retention_ci")
                band = "" if not ci else f" [{ci[i][0]:.3f}, {ci[i][1]:.3f}]" + \
                    ("!" if ci[i][1] - ci[i][0] > 1 - summary["threshold"] else "")
                cells.append(f"{p['scores'][t]:.4g} ({c['retention'][i]:.4f}{band})"
                             + (f" KL {p['kl'][t]:.4f}" if p["kl"].get(t) is not None else ""))
            lines.append(f"| {p['value']:g} | {p['sparsity']:.3f} | {sp_p} | {sp_g} | " + " | ".join(cells) +
                         " | " + " | ".join(f"{m['retention'][i]:.4f}" for m in means.values()) + " |")
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
            tok = plot_tokens(at, out / f"tokens_{model}_{site}_{rule}.png")
            if tok is not None:
                files.append(tok)
    if len({e["model"] for e in summary["entries"] if e["params"]}) >= 2:
        files.append(plot_scale(summary, out / "critical_vs_size.png"))
    return files


def plot_retention(entries: list[dict], path: Path) -> Path:
    plt = _plt()
    n = len(entries)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n + 2.4, 3.6), squeeze=False, sharey=True)
    for ax, e in zip(axes[0], entries):
        a = e["critical"]
        s = np.array(a["sparsity"])
        for t, c in a["tasks"].items():
            ax.plot(s, c["retention"], marker=".", lw=1, alpha=0.7, label=t)
        sc = a["suite"]
        crit = a.get("criterion", "tasks")
        ax.plot(s, sc["retention"], marker="o", color="k", lw=2, label=f"suite mean ({crit})")
        for k, m in (a.get("means") or {}).items():
            if k != crit:
                ax.plot(s, m["retention"], marker="o", color="0.5", lw=1.5, ls="--", label=f"{k} mean")
        ax.axhline(THRESHOLD, color="r", ls="--", lw=1, label="99% of dense")
        ax.axvline(sc["interpolated"], color="r", lw=1, alpha=0.6,
                   label=f"critical sparsity (interp.) {sc['interpolated']:.3f}")
        ax.plot([sc["critical"]], [sc["retention_at_critical"]], marker="*", ms=14, color="r", ls="none",
                label=f"critical (measured) {sc['critical']:.3f}")
        if sc.get("interpolated_ci"):
            lo, hi = sc["interpolated_ci"]
            ax.axvspan(lo, hi, color="r", alpha=0.1,
                       label=f"{int(round(a['level'] * 100))}% interval [{lo:.3f}, {hi:.3f}]")
        ax.set_title(f"{e['model']} / {e['site']} ({e['rule']})\ncritical {sc['critical']:.2f}, "
                     f"interp. {sc['interpolated']:.2f}", fontsize=9)
        ax.set_xlabel("sparsity (pooled)")
        every = np.concatenate([np.asarray(c["retention"], dtype=float) for c in a["tasks"].values()] +
                               [np.asarray(sc["retention"], dtype=float)])
        every = every[np.isfinite(every)]
        top = max(1.02, float(every.max()) + 0.01) if every.size else 1.02  # lines above dense stay visible
        ax.set_ylim(max(0.0, min(0.8, float(np.nanmin(sc["retention"])) - 0.02)), top)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("retention (vs dense)")
    axes[0][-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # outside: never hides a line
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


def plot_tokens(point: dict, path: Path) -> Path | None:
    """Histogram of per-token sparsity at a point; None (no file) when the point recorded no per-token counts (the
    engine backend keeps per-layer totals only)."""
    st = SparsityStats.from_dict(point["stats"])
    hists = {ph: st.token_histogram(bins=40, phase=ph) for ph in ("prompt", "generated")}
    if all(c.sum() == 0 for c, _ in hists.values()):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for phase, (counts, edges) in hists.items():
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
        crit = summary.get("criterion", "tasks")
        kinds = [crit] + [k for k in ("tasks", "fidelity") if k != crit and
                          all(k in (e["critical"].get("means") or {}) for e in es)]
        for k in kinds:
            cs = [e["critical"]["suite"] if k == crit else e["critical"]["means"][k] for e in es]
            y = np.array([c["interpolated"] for c in cs])
            ci = [c.get("interpolated_ci") or [v, v] for c, v in zip(cs, y)]
            err = np.array([[v - c[0] for v, c in zip(y, ci)], [c[1] - v for v, c in zip(y, ci)]]).clip(min=0)
            ax.errorbar(x, y, yerr=err, marker="o" if k == crit else "s", capsize=3, ls="-" if k == crit else ":",
                        label=f"{site} ({rule}), {k}")
            if k == crit:
                for e, xi, yi in zip(es, x, y):
                    ax.annotate(e["model"], (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("critical sparsity (interpolated)")
    ax.set_title("critical sparsity vs model size (99% retention; solid: suite criterion, dotted: the other)",
                 fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report(paths: list[str | Path], out: str | Path, n_boot: int = 1000, seed: int = 0,
           criterion: str = "tasks") -> dict:
    from .sweep import load_results

    recs = []
    for p in paths:
        recs += load_results(p)
    summary = build(recs, n_boot=n_boot, seed=seed, criterion=criterion)
    if not summary["entries"]:
        raise ValueError("no complete sweep in the results (need a dense point and at least one sparse point)")
    write_all(summary, recs, out)
    return summary


del math
