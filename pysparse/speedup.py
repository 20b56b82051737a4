"""How sparse can this model go, and how much faster does it generate then on this CPU: one measurement.

    from pysparse.speedup import measure_speedup
    res = measure_speedup("smollm2-135m", sites=["input"])
    print(res["summary"])

For each site: the critical value of the rule on the evaluation suite with the engine backend (pysparse.sweep's
bisection, points shared with `pysparse critical --backend engine`), or the given value; its suite retention with a
bootstrap interval and pooled sparsity; optionally a per-layer allocation (pysparse.allocate). Then one interleaved
speed run (pysparse.engine.bench): generation tokens/s of the dense model, of every evaluated point and of the
allocation, with decode time split into attention / FFN / output matrix; llama.cpp's dense generation on the same
GGUF when available (pysparse.llama_cpp); weight bytes read per token against the machine's measured read bandwidth,
giving the speedup the bytes allow next to the one measured. Results: speedup.json, speedup.png, the sweep's
results.jsonl and one allocation-<site>.json per site (a sparsity file) in the output directory.

Quality points, calibration records and validated allocation steps are appended to files as they are measured: an
interrupted run resumes from them (the speed run, a minute or two, is measured again).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from .engine.model import SITES as ENGINE_SITES  # the engine's sites (Model.set_sparsity checks the same list)

ENGINE_RULES = ("top_p", "top_k", "max_p")
BANDWIDTH_BYTES = 256 << 20


def _log(msg: str, progress: bool) -> None:
    if progress:
        print(msg, file=sys.stderr, flush=True)


def check_inputs(model, sites, rule, p, target, threads, budget, tg, reps, llama_bench) -> dict:
    """Every user input checked before any long work; returns {"gguf": path, "llama": reference or None}."""
    from . import llama_cpp
    from .models import resolve_gguf
    from .tasks.suite import BUDGETS

    if not sites:
        raise ValueError("no site given")
    for s in sites:
        if s not in ENGINE_SITES:
            raise ValueError(f"unknown site {s!r}; the engine's sites: {', '.join(ENGINE_SITES)}")
    if rule not in ENGINE_RULES:
        raise ValueError(f"rule {rule!r} is not measured by speedup; rules: {', '.join(ENGINE_RULES)}")
    if p is not None and not (isinstance(p, (int, float)) and 0.0 <= p <= 1.0):
        raise ValueError(f"--p must be in [0, 1], got {p}")
    if not (isinstance(target, (int, float)) and 0.0 < target <= 1.0):
        raise ValueError(f"--target-retention must be in (0, 1], got {target}")
    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; budgets: {', '.join(BUDGETS)}")
    if tg < 1 or reps < 1:
        raise ValueError(f"--tg and --reps must be >= 1 (got {tg}, {reps})")
    llama = llama_cpp.find(llama_bench)  # a bad path raises here
    gguf = resolve_gguf(model)  # unknown name / missing file raises here (a registry model is fetched once)
    if gguf.is_dir() or gguf.suffix != ".gguf":
        raise ValueError(f"{gguf} is not a .gguf file; speedup runs GGUF models on the engine")
    return {"gguf": gguf, "llama": llama}


def _check_site_tensors(m, sites) -> None:
    from .allocate import SITE_MATRICES
    from .engine.gguf import GGUFFile

    names = set(GGUFFile(m.path).tensors)
    for s in sites:
        missing = [t for t in SITE_MATRICES[s] if f"blk.0.{t}.weight" not in names]
        if missing:
            raise ValueError(f"site {s!r} needs {', '.join(missing)}, which {m.hparams['arch']} lacks")


def retention_interval(dense: dict, point: dict, n_boot: int = 1000, seed: int = 0, level: float = 0.90) -> list:
    """Bootstrap percentile interval of the suite retention of `point` (examples resampled within each task, the
    same resample for dense and sparse)."""
    from .allocate import suite_tasks
    from .tasks.base import score_from

    if n_boot < 1:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    per_task = []
    for t in suite_tasks(point["tasks"]):
        d, s = dense["tasks"][t], point["tasks"][t]
        n = len(d["num"])
        idx = rng.integers(0, n, size=(n_boot, n))
        sd = score_from(np.asarray(d["num"])[idx], np.asarray(d["den"])[idx], d["transform"])
        sp = score_from(np.asarray(s["num"])[idx], np.asarray(s["den"])[idx], s["transform"])
        with np.errstate(invalid="ignore", divide="ignore"):
            per_task.append(sp / sd if d["higher_is_better"] else sd / sp)
    suite = np.mean(per_task, axis=0)
    q = (1 - level) / 2 * 100
    return [float(np.nanpercentile(suite, q)), float(np.nanpercentile(suite, 100 - q))]


def _quality(sw, p, target, grid, n_boot, seed) -> dict:
    """The site's chosen point: the given value, or the critical one from the bisection."""
    from .critical import analyze

    if p is not None:
        chosen = sw.point(p)
        crit = None
    else:
        sw.bisect(grid, threshold=target)
        crit = analyze(sw.dense, sw.points(), n_boot=n_boot, seed=seed, threshold=target)["suite"]
        passing = [r for r in sw.points() if r["retention"]["suite"] >= target and r["sparsity"] <= crit["critical"]]
        chosen = max(passing, key=lambda r: r["sparsity"]) if passing else None
    q = {"critical": crit, "points": [{"value": r["value"], "sparsity": r["sparsity"],
                                       "retention": r["retention"]["suite"]} for r in sw.points()]}
    if chosen is not None:
        q.update(value=chosen["value"], sparsity=chosen["sparsity"], retention=chosen["retention"]["suite"],
                 retention_ci=retention_interval(sw.dense, chosen, n_boot, seed), by_task=chosen["retention"])
    else:
        q.update(value=None, sparsity=0.0, retention=1.0, retention_ci=None)
    return q


def _allocate(m, sw, site, rule, q, target, out, calib_tokens, alloc_evals, alloc_group, n_boot, seed,
              progress) -> dict | None:
    from . import allocate
    from .sweep import DENSE_VALUE, default_grid

    # no uniform value passed: the allocation still may, with a few layers at the grid's values nearest dense
    ref = q["value"] if q["value"] is not None else [v for v in default_grid(rule) if v != DENSE_VALUE[rule]][0]
    levels = allocate.levels_around(ref, n_side=2, rule=rule)
    groups = allocate.layer_groups(m.n_layer, alloc_group)
    windows = allocate.calibration_windows(m.tokenizer, calib_tokens)
    table = allocate.sensitivity(m, site, rule, levels, windows, groups, results=out / "calibration.jsonl",
                                 progress=progress, model_id=sw.model_id)
    layer_bytes = allocate.site_bytes(m, site)
    path = allocate.greedy_path(table, layer_bytes)
    k = min(range(len(levels)), key=lambda j: abs(levels[j] - ref))
    uniform_kl = float(np.sum(np.asarray(table["kl"])[:, k]))
    v = allocate.validate(sw, path, out / "allocation.jsonl", target=target, max_evals=alloc_evals,
                          est_kl_cap=(4 if q["value"] is not None else 1) * uniform_kl, progress=progress)
    rec = v["record"]
    if rec is None:
        return {"values": None, "note": "no step of the greedy path kept the target on the held-out suite"}
    values = rec["values"]
    file = out / f"allocation-{site}.json"
    allocate.save(file, site, rule, values, {"retention": rec["retention"]["suite"], "sparsity": rec["sparsity"],
                                             "target": target, "levels": levels})
    return {"values": values, "file": str(file), "sparsity": rec["sparsity"], "retention": rec["retention"]["suite"],
            "retention_ci": retention_interval(v["dense"], rec, n_boot, seed), "levels": levels,
            "layer_groups": groups, "path_steps": len(path), "step": v["step"], "evaluated": len(v["evaluated"]),
            "uniform_est_kl": uniform_kl, "est_kl": path[v["step"]]["est_kl"]}


def measure_speedup(model: str = "smollm2-135m", sites=("input",), rule: str = "top_p", p: float | None = None,
                    target: float = 0.99, threads: int | None = None, budget: str = "small",
                    tasks: str = "default",
                    allocate: bool = True, tg: int = 64, reps: int = 3, llama_bench: str | None = None,
                    out: str | Path | None = None, grid=None, calib_tokens: int = 128, alloc_evals: int = 3,
                    alloc_group: int = 0,
                    n_boot: int = 1000, seed: int = 0, progress: bool = True) -> dict:
    """The whole measurement (see the module docstring). Returns the result dict also written to speedup.json."""
    from . import _core
    from . import llama_cpp as lc
    from .cli._eval import DEFAULT_OUT, model_slug
    from .engine import Model
    from .allocate import site_bytes
    from .engine.bench import bench
    from .sweep import Sweep
    from .tasks import build_suite

    t0 = time.time()
    sites = list(dict.fromkeys(sites))
    if alloc_group < 0 or alloc_evals < 1 or calib_tokens < 2:
        raise ValueError(f"allocation settings: group >= 0, evaluations >= 1 and calibration tokens >= 2 "
                         f"(got {alloc_group}, {alloc_evals}, {calib_tokens})")
    chk = check_inputs(model, sites, rule, p, target, threads, budget, tg, reps, llama_bench)
    out = Path(out or Path(DEFAULT_OUT) / model_slug(str(model)))
    out.mkdir(parents=True, exist_ok=True)
    _log(f"loading {model} on the engine ...", progress)
    m = Model.load(chk["gguf"], threads=threads)
    _check_site_tensors(m, sites)
    threads = _core.num_threads()
    suite = build_suite(tasks, budget, None, seed, progress=progress)
    extra = {"budget": budget, "limit": None, "seed": seed, "dtype": "float32"}  # as `pysparse critical`: shared points
    res = {"model": str(model), "gguf": str(chk["gguf"]), "rule": rule, "target": target, "threads": threads,
           "isa": _core.active_isa(), "cpu": _cpu_model(), "budget": budget, "tasks": [t.name for t in suite],
           "sites": {}}
    for site in sites:
        sw = Sweep(m, m.tokenizer, suite, site, rule, results=out / "results.jsonl", model_id=model_slug(str(model)),
                   progress=progress, seed=seed, extra=extra)
        _log(f"[{site}] quality: {'p = %g' % p if p is not None else 'critical value by bisection'} "
             f"({len(sw.done)} point(s) already in {out / 'results.jsonl'})", progress)
        q = _quality(sw, p, target, grid, n_boot, seed)
        alloc = None
        if allocate:
            _log(f"[{site}] per-layer allocation (calibration split, then held-out validation)", progress)
            alloc = _allocate(m, sw, site, rule, q, target, out, calib_tokens, alloc_evals, alloc_group, n_boot,
                              seed, progress)
        res["sites"][site] = {"quality": q, "allocation": alloc}

    # -- speed: one interleaved run over dense, every evaluated point and the allocations -------------------
    settings, labels = [None], [("dense", None, None)]
    for site, r in res["sites"].items():
        for pt in r["quality"]["points"]:
            settings.append((site, rule, pt["value"]))
            labels.append(("uniform", site, pt["value"]))
        if r["allocation"] and r["allocation"]["values"]:
            settings.append((site, rule, r["allocation"]["values"]))
            labels.append(("allocation", site, None))
    _log(f"speed: generation of {tg} tokens x {reps} interleaved repetitions x {len(settings)} settings, "
         f"{threads} thread(s)", progress)
    from tqdm import tqdm

    bar = tqdm(total=reps * len(settings), desc="speed", unit="run", disable=not progress, file=sys.stderr)
    rows = bench(m, settings, pp=0, tg=tg, reps=reps, progress=lambda d, t: bar.update(1))
    bar.close()
    wb = m.weight_bytes()
    total_bytes = sum(wb.values())
    _log("machine read bandwidth ...", progress)
    bw = _core.measure_read_bandwidth(BANDWIDTH_BYTES, threads, 3)
    dense_row = rows[0]
    site_total = {s: sum(site_bytes(m, s)) for s in sites}
    speed = []
    for (kind, site, value), row, setting in zip(labels, rows, settings):
        if kind == "allocation" and row["sparsity"] is not None:  # counted over its sparse layers only
            vals = setting[2]
            row["sparsity"] *= sum(v is not None for v in vals) / len(vals)
        skipped = (row["sparsity"] or 0.0) * site_total[site] if site else 0.0
        speed.append({"kind": kind, "site": site, "value": value, **row,
                      "speedup": row["tokens_per_s"] / dense_row["tokens_per_s"],
                      "bytes_per_token": total_bytes - skipped,
                      "ideal_speedup": total_bytes / (total_bytes - skipped)})
    res["speed"] = speed
    res["bytes"] = {"per_token_dense": total_bytes, "by_part": wb, "site_bytes": site_total,
                    "bandwidth_gbps": bw, "bandwidth_buffer_bytes": BANDWIDTH_BYTES,
                    "ideal_dense_tokens_per_s": bw * 1e9 / total_bytes,
                    "achieved_gbps_dense": total_bytes * dense_row["tokens_per_s"] / 1e9}
    if chk["llama"]:
        _log(f"llama.cpp dense generation ({chk['llama']['kind']}) ...", progress)
        try:
            res["llama_cpp"] = lc.generation_speed(chk["llama"], chk["gguf"], threads, tg, reps)
        except (RuntimeError, OSError, ValueError) as e:
            res["llama_cpp"] = {"skipped": f"llama.cpp failed: {e}"}
    else:
        res["llama_cpp"] = {"skipped": "no llama.cpp found (--llama-bench, $LLAMA_BENCH, llama-bench on PATH or "
                                       "llama-cpp-python): its column is skipped"}
    for sitename, r in res["sites"].items():  # the speed of each site's chosen point and allocation
        q = r["quality"]
        r["speed"] = next((s for s in speed if s["site"] == sitename and s["kind"] == "uniform"
                           and q["value"] is not None and math.isclose(s["value"], q["value"])), None)
        r["allocation_speed"] = next((s for s in speed if s["site"] == sitename and s["kind"] == "allocation"), None)
    res["load_avg"] = list(os.getloadavg())
    res["seconds"] = time.time() - t0
    res["summary"] = summary(res)
    write_json(res, out / "speedup.json")
    res["plot"] = str(plot(res, out / "speedup.png"))
    write_json(res, out / "speedup.json")
    return res


def _cpu_model() -> str:
    import platform
    import re

    try:
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        if m:
            return m.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_json(res: dict, path: Path) -> None:
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        json.dump(res, f, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    os.replace(tmp, path)


def _llama_ratio(res, tps) -> str:
    lc = res.get("llama_cpp", {}).get("tokens_per_s")
    return f", {tps / lc:.2f}x llama.cpp" if lc else ""


def summary(res: dict) -> str:
    """Plain-language lines: per site, the sparsity at the quality target and the speed it buys."""
    lines = []
    dense = res["speed"][0]["tokens_per_s"]
    lc = res.get("llama_cpp", {}).get("tokens_per_s")
    lines.append(f"dense: {dense:.1f} tokens/s generated on {res['threads']} thread(s)"
                 + (f"; llama.cpp {lc:.1f} tokens/s" if lc else "; llama.cpp not measured"))
    for site, r in res["sites"].items():
        q, s = r["quality"], r.get("speed")
        ci = q.get("retention_ci") or [float("nan")] * 2
        if q["value"] is None:
            first = min(q["points"], key=lambda x: x["sparsity"]) if q["points"] else None
            lines.append(f"{site}: no uniform {res['rule']} value keeps {res['target']:.0%} quality on this suite"
                         + (f" ({res['rule']} {first['value']:g}: {first['retention']:.1%} at sparsity "
                            f"{first['sparsity']:.0%})" if first else ""))
        else:
            lines.append(f"at {q['retention']:.1%} quality [{ci[0]:.1%}, {ci[1]:.1%}] ({res['rule']} {q['value']:g}), "
                         f"{site} sparsity {q['sparsity']:.0%} -> {s['speedup']:.2f}x faster generation than dense"
                         f"{_llama_ratio(res, s['tokens_per_s'])} (bytes allow {s['ideal_speedup']:.2f}x)")
        a, sa = r.get("allocation"), r.get("allocation_speed")
        if a and a.get("values") and sa:
            aci = a.get("retention_ci") or [float("nan")] * 2
            lines.append(f"  per-layer allocation: {a['retention']:.1%} quality [{aci[0]:.1%}, {aci[1]:.1%}], "
                         f"sparsity {a['sparsity']:.0%} -> {sa['speedup']:.2f}x faster than dense"
                         f"{_llama_ratio(res, sa['tokens_per_s'])} (bytes allow {sa['ideal_speedup']:.2f}x; "
                         f"{a['file']})")
        elif a is not None:
            lines.append(f"  per-layer allocation: {a.get('note', 'none found')}")
    return "\n".join(lines)


def table(res: dict) -> str:
    head = (f"{'setting':34} {'sparsity':>8} {'retention':>9} {'tok/s':>8} {'min-max':>13} {'x dense':>7} "
            f"{'ideal':>6} {'ffn ms':>7} {'attn ms':>7} {'out ms':>7} {'total':>7}")
    lines = [head, "-" * len(head)]
    quality = {}
    for site, r in res["sites"].items():
        for pt in r["quality"]["points"]:
            quality[("uniform", site, round(pt["value"], 9))] = pt["retention"]
        if r["allocation"] and r["allocation"].get("values"):
            quality[("allocation", site, None)] = r["allocation"]["retention"]
    for s in res["speed"]:
        key = (s["kind"], s["site"], None if s["value"] is None else round(s["value"], 9))
        ret = 1.0 if s["kind"] == "dense" else quality.get(key, float("nan"))
        mark = ""
        for site, r in res["sites"].items():
            if s.get("site") == site and s["kind"] == "uniform" and r["quality"]["value"] is not None and \
                    math.isclose(s["value"], r["quality"]["value"]):
                mark = " *"
        lines.append(f"{s['setting'] + mark:34} {100 * (s['sparsity'] or 0):7.1f}% {100 * ret:8.1f}% "
                     f"{s['tokens_per_s']:8.1f} {s['min']:6.1f}-{s['max']:<6.1f} {s['speedup']:7.3f} "
                     f"{s['ideal_speedup']:6.2f} {s['ffn_ms']:7.2f} {s['attention_ms']:7.2f} {s['output_ms']:7.2f} "
                     f"{s['total_ms']:7.2f}")
    lc = res.get("llama_cpp", {})
    lines.append(f"llama.cpp dense: {lc['tokens_per_s']:.1f} tokens/s ({lc['kind']})" if "tokens_per_s" in lc
                 else f"llama.cpp: {lc.get('skipped')}")
    b = res["bytes"]
    lines.append(f"weights read per token (dense): {b['per_token_dense'] / 1e6:.1f} MB; read bandwidth "
                 f"{b['bandwidth_gbps']:.1f} GB/s -> at most {b['ideal_dense_tokens_per_s']:.0f} tokens/s dense; "
                 f"dense achieves {b['achieved_gbps_dense']:.1f} GB/s")
    lines.append("* = the critical (or given) point; ideal = speedup the skipped weight bytes allow; ms = decode "
                 "time per token by part")
    return "\n".join(lines)


def plot(res: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax2 = ax.twinx()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    total = res["bytes"]["per_token_dense"]
    xmax = 0.05
    for i, (site, r) in enumerate(res["sites"].items()):
        c = colors[i % len(colors)]
        pts = sorted((s for s in res["speed"] if s["site"] == site and s["kind"] == "uniform"),
                     key=lambda s: s["sparsity"] or 0)
        xs = [0.0] + [s["sparsity"] or 0 for s in pts]
        ax.plot(xs, [1.0] + [s["speedup"] for s in pts], "o-", color=c, label=f"{site}: measured")
        xmax = max(xmax, *xs)
        grid = np.linspace(0, max(xs) * 1.05 + 1e-9, 50)
        ax.plot(grid, total / (total - grid * res["bytes"]["site_bytes"][site]), "--", color=c, alpha=0.6,
                label=f"{site}: ideal from bytes")
        if r.get("speed"):
            ax.plot([r["speed"]["sparsity"]], [r["speed"]["speedup"]], "*", ms=16, color=c,
                    label=f"{site}: critical")
        if r.get("allocation_speed"):
            sa = r["allocation_speed"]
            ax.plot([sa["sparsity"]], [sa["speedup"]], "D", ms=8, color=c, mfc="none", label=f"{site}: per-layer")
        qp = sorted(r["quality"]["points"], key=lambda x: x["sparsity"])
        ax2.plot([0.0] + [x["sparsity"] for x in qp], [1.0] + [x["retention"] for x in qp], ":", color=c, alpha=0.7)
    lc = res.get("llama_cpp", {}).get("tokens_per_s")
    if lc:
        ax.axhline(lc / res["speed"][0]["tokens_per_s"], color="k", ls="-.", lw=0.8, label="llama.cpp dense")
    ax2.axhline(res["target"], color="grey", lw=0.6)
    ax2.set_ylabel("suite retention (dotted)")
    ax.set_xlabel("FFN sparsity at the site (decode)")
    ax.set_ylabel("generation speed vs engine dense")
    ax.set_xlim(0, xmax * 1.08)
    ax.set_title(f"{Path(res['model']).stem}: speedup vs sparsity ({res['threads']} thread(s), {res['rule']})")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def results_markdown(results: list[dict]) -> str:
    """One markdown table over several measure_speedup results (models x sites), with the machine."""
    import platform

    head = ("| model | site | critical p | sparsity | retention [90% CI] | dense t/s | sparse t/s | x dense | "
            "ideal x | llama.cpp t/s | per-layer sparsity | per-layer retention | per-layer x dense |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for res in results:
        dense = res["speed"][0]["tokens_per_s"]
        lc = res.get("llama_cpp", {}).get("tokens_per_s")
        for site, r in res["sites"].items():
            q, s, a, sa = r["quality"], r.get("speed"), r.get("allocation") or {}, r.get("allocation_speed")
            ci = q.get("retention_ci")
            ret = f"{q['retention']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
            if q["value"] is None:
                ret = "none passes"
            cells = [Path(res["model"]).stem, site, "-" if q["value"] is None else f"{q['value']:g}",
                     "-" if q["value"] is None else f"{q['sparsity']:.3f}", ret, f"{dense:.1f}",
                     f"{s['tokens_per_s']:.1f}" if s else "-",
                     f"{s['speedup']:.3f}" if s else "-", f"{s['ideal_speedup']:.3f}" if s else "-",
                     f"{lc:.1f}" if lc else "-", f"{a['sparsity']:.3f}" if a.get("values") else "-",
                     f"{a['retention']:.3f}" if a.get("values") else "-", f"{sa['speedup']:.3f}" if sa else "-"]
            lines.append("| " + " | ".join(cells) + " |")
    first = results[0] if results else {}
    lines.append("")
    lines.append(f"Machine: {first.get('cpu') or platform.machine()}, {first.get('threads')} thread(s), ISA "
                 f"{first.get('isa')}, read bandwidth {first.get('bytes', {}).get('bandwidth_gbps', float('nan')):.1f}"
                 f" GB/s; budget {first.get('budget')}; load average at the end "
                 f"{', '.join(f'{x:.1f}' for x in first.get('load_avg', []))}.")
    return "\n".join(lines)
