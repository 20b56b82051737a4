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
run qwen2.5-coder-1.5b --site input intermediate all_inputs --refine 0.0025
# Speed at each critical point (quiet machine; 1 thread as the series; reuses every quality point above)
LB=${LLAMA_BENCH:-llama-bench}
python -m pysparse speedup smollm2-135m --site input intermediate all_inputs --budget medium --threads 1 \
    --out docs/results/series-v3/smollm2-135m --llama-bench "$LB"
python -m pysparse speedup gemma3-270m --site input intermediate all_inputs --budget medium --threads 1 --no-allocate \
    --out docs/results/series-v3/gemma3-270m --llama-bench "$LB"
python -m pysparse speedup qwen2.5-coder-0.5b --site input intermediate --budget medium --threads 1 --no-allocate \
    --out docs/results/series-v3/qwen2.5-coder-0.5b --llama-bench "$LB"
python -m pysparse speedup qwen2.5-coder-1.5b --site all_inputs --p 0.94 --budget medium --threads 1 --no-allocate \
    --reps 5 --out docs/results/speedup-qwen2.5-coder-1.5b-all-inputs/1-thread --llama-bench "$LB"
# One report over the models
python -m pysparse report docs/results/series-v3/*/results.jsonl -o docs/results/series-v3 --curves
