"""The table in README.md: python docs/results/allocations/make_table.py docs/results/allocations/*/speedup.json"""
import json, sys, glob, os
NAMES = {"smollm2-135m": "SmolLM2-135M Q4_1", "gemma3-270m": "Gemma3-270M Q4_K_M",
         "qwen2.5-coder-0.5b": "Qwen2.5-Coder-0.5B Q4_K_M", "qwen2.5-coder-1.5b": "Qwen2.5-Coder-1.5B Q4_K_M"}
order = list(NAMES)
rows = []
for f in sys.argv[1:]:
    d = json.load(open(f))
    for site, s in d["sites"].items():
        q, a, sp, asp = s["quality"], s.get("allocation"), s["speed"], s.get("allocation_speed")
        dense = next(x for x in d["speed"] if x["kind"] == "dense")
        ll = d.get("llama_cpp") or {}
        llt = ll.get("tokens_per_s")
        r = dict(label=("per layer, 1024 calibration tokens" if "calib1024" in f or "c1024" in f else None), model=d["model"], site=site, threads=d["threads"], p=q["value"], sparsity=q["sparsity"],
                 ret=q["retention"], ci=q["retention_ci"], dense=dense["tokens_per_s"], sparse=sp["tokens_per_s"],
                 llama=llt, load=d.get("load_avg"))
        if a and asp:
            r.update(a_sp=a["sparsity"], a_ret=a["retention"], a_ci=a["retention_ci"], a_tps=asp["tokens_per_s"],
                     a_groups=len(a["layer_groups"]), a_layers=len(a["values"]))
        rows.append(r)
rows.sort(key=lambda r: (order.index(r["model"]), r["site"], r["threads"], r["label"] or ""))
print("| model | site | threads | critical p | sparsity | retention [90%] | dense t/s | sparse t/s | x dense | llama.cpp t/s | sparse x llama.cpp "
      "| allocation: groups | sparsity | retention [90%] | t/s | x dense | x llama.cpp | load avg |")
print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|")
f = lambda x, n=1: "n/a" if x is None else f"{x:.{n}f}"
for r in rows:
    line = (f"| {NAMES[r['model']]} | {r['site']} | {r['threads']} | {r['p']} | {100*r['sparsity']:.1f}% | {100*r['ret']:.1f}% "
            f"[{100*r['ci'][0]:.1f}, {100*r['ci'][1]:.1f}] | {r['dense']:.1f} | {r['sparse']:.1f} | {r['sparse']/r['dense']:.2f} "
            f"| {f(r['llama'])} | {f(r['llama'] and r['sparse']/r['llama'], 2)} |")
    if "a_sp" in r:
        g = r["label"] or ("per layer" if r["a_groups"] == r["a_layers"] else f"{r['a_groups']} groups")
        line += (f" {g} | {100*r['a_sp']:.1f}% | {100*r['a_ret']:.1f}% [{100*r['a_ci'][0]:.1f}, {100*r['a_ci'][1]:.1f}] "
                 f"| {r['a_tps']:.1f} | {r['a_tps']/r['dense']:.2f} | {f(r['llama'] and r['a_tps']/r['llama'], 2)} |")
    else:
        line += " - | - | - | - | - | - |"
    line += f" {', '.join(f'{x:.2f}' for x in r['load'] or [])} |"
    print(line)
