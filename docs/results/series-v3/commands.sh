#!/bin/sh
# The scale series on the engine backend (issue 11, item 4; docs/critical.md), as run on 2026-11-30: the GGUF models
# as stored (quantised weights, 8-bit activations, the rule in C++), the default suite at budget medium (Wikipedia
# perplexity on 4096 scored tokens = the task criterion; top-1 agreement / KL on the same windows = fidelity),
# bisection on the paper's p grid, then every 0.0025 in p around each crossing. One engine thread per process, on a
# 2-core VM shared with other jobs (so no timing here is a benchmark). Run from the repository root.
set -e
run() { m=$1; shift; python -m pysparse critical --model $m --backend engine --budget medium --threads 1 --quiet \
          --out docs/results/series-v3/$m "$@"; }
run qwen2.5-coder-1.5b --site all_inputs            # first: the runtime's sparse target needs its critical p
for m in smollm2-135m gemma3-270m qwen2.5-coder-0.5b; do run $m --site input intermediate all_inputs --refine 0.0025; done
run qwen2.5-coder-1.5b --site input intermediate all_inputs --refine 0.0025   # input, all_inputs done; intermediate resumes (0.8525-0.8675 left)
run qwen2.5-coder-1.5b --site gate --refine 0.0025         # done (3214 s of one core)
run smollm2-135m --site gate --refine 0.0025               # done
run smollm2-135m --site up --refine 0.0025                 # the up site (on the engine since 2026-12-01)
run qwen2.5-coder-1.5b --site up --refine 0.0025
# Cloze check (400 LAMBADA-style Wikipedia passages; ~8x the tokens of a perplexity point, so only dense and each
# perplexity-critical p, not the whole grid): cloze/<model>/
cloze() { python -m pysparse sweep --model $1 --backend engine --threads 1 --quiet --tasks wikipedia_cloze --limit 400 \
            --site $2 --grid $3 --no-bisect --out docs/results/series-v3/cloze/$1; }
cloze smollm2-135m input 0.985; cloze smollm2-135m intermediate 0.9425; cloze smollm2-135m all_inputs 0.985
cloze gemma3-270m input 0.97; cloze gemma3-270m intermediate 0.95; cloze gemma3-270m all_inputs 0.975
cloze qwen2.5-coder-0.5b input 0.98; cloze qwen2.5-coder-0.5b intermediate 0.82; cloze qwen2.5-coder-0.5b all_inputs 0.98
cloze qwen2.5-coder-1.5b input 0.935; cloze qwen2.5-coder-1.5b intermediate 0.865; cloze qwen2.5-coder-1.5b all_inputs 0.94   # run 2026-12-01
# Speed at each critical point (quiet machine; 1 thread as the series): every evaluated point of the site is
# timed (the curve), the critical one is the table's. The series' results.jsonl is copied to a scratch folder so
# its quality points are reused, not recomputed; speedup.json / .png land in speed/<model>-<site>/.
LB=${LLAMA_BENCH:-llama-bench}
speed() { d=$(mktemp -d); cp docs/results/series-v3/$1/results.jsonl $d/
  python -m pysparse speedup $1 --site $2 --p $3 --budget medium --threads 1 --no-allocate --out $d --llama-bench "$LB"
  mkdir -p docs/results/series-v3/speed/$1-$2; cp $d/speedup.json $d/speedup.png docs/results/series-v3/speed/$1-$2/; }
speed smollm2-135m input 0.985; speed smollm2-135m intermediate 0.9425; speed smollm2-135m all_inputs 0.985
speed gemma3-270m input 0.97; speed gemma3-270m intermediate 0.95; speed gemma3-270m all_inputs 0.975
speed qwen2.5-coder-0.5b input 0.98; speed qwen2.5-coder-0.5b intermediate 0.82; speed qwen2.5-coder-0.5b all_inputs 0.98
speed qwen2.5-coder-1.5b input 0.935; speed qwen2.5-coder-1.5b all_inputs 0.94
# SmolLM2's per-layer allocations (allocation-*.json in its folder) came from `pysparse speedup smollm2-135m --site
# input intermediate all_inputs --budget medium --threads 1 --out docs/results/series-v3/smollm2-135m` (earlier policy)
# One report over the models (summary.md / summary.json, curves, critical_vs_size.png)
python -m pysparse report docs/results/series-v3/*/results.jsonl -o docs/results/series-v3 --curves
