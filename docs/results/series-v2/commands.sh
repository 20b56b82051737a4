#!/bin/sh
# The scale series at a scale that can separate models (issue 11, item 4; docs/critical.md). NOT YET RUN: it needs
# several hours of CPU on the 2-core machine, so it runs on a quiet machine. Run from the repository root with
# PYTHONPATH=$PWD (or an installed pysparse).
#
# Per model: Wikipedia perplexity on 4096 scored tokens with top-1/KL fidelity on the same windows, and 400 cloze
# passages (--budget medium --limit 400); sites input, intermediate and all_inputs, plus gate and up for the
# smallest and the largest model; bisection on the paper's p grid for the task-criterion crossing and then the
# fidelity crossing, then every 0.0025 in p between the two grid values bracketing each crossing (--refine).
set -e
for m in smollm2-135m gemma3-270m qwen2.5-coder-0.5b qwen2.5-coder-1.5b; do
  sites="input intermediate all_inputs"
  case $m in smollm2-135m|qwen2.5-coder-1.5b) sites="$sites gate up" ;; esac
  python -m pysparse critical --model $m --site $sites --tasks wikipedia,wikipedia_cloze --budget medium \
      --limit 400 --refine 0.0025 --threads 1 --quiet --out docs/results/series-v2/$m
done

# One report over the four models: per-model, per-site critical sparsity under the task and the fidelity
# criterion with 90% paired-bootstrap intervals, curves, critical_vs_size.png (per site, both criteria).
python -m pysparse report docs/results/series-v2/*/results.jsonl -o docs/results/series-v2 --curves
# The same under the fidelity criterion as the headline (the numbers are the same, the ordering of rows differs):
python -m pysparse report docs/results/series-v2/*/results.jsonl -o docs/results/series-v2/fidelity --criterion fidelity
