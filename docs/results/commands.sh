#!/bin/sh
# The commands that produced docs/results (run from the repository root with PYTHONPATH=$PWD, on the shared
# 2-core VM, one torch thread per process; several ran side by side).
set -e
# These runs predate issue 11. Their suite mean mixed task retentions (perplexity, cloze) with fidelity (top-1
# agreement), which is `--criterion both` now, and the defaults of `pysparse critical` were then
# `--tasks wikipedia,wikipedia_cloze --budget small`: both are spelled out below so the commands still reproduce them.

# SmolLM2-135M, all five sites, series suite (Wikipedia perplexity + top-1/KL fidelity, tiny budget: 256 scored
# tokens), bisection on the paper's p grid.
python -m pysparse critical --criterion both --model smollm2-135m --site input intermediate all_inputs --tasks wikipedia \
    --budget tiny --threads 1 --quiet --out docs/results/series/smollm2-135m
python -m pysparse critical --criterion both --model smollm2-135m --site gate up --tasks wikipedia \
    --budget tiny --threads 1 --quiet --out docs/results/series/smollm2-135m

# The scale series: same suite and budget, input / intermediate / all_inputs, bisection on a short grid
# (a subset of the paper's grid around the crossing, to fit the compute).
for m in gemma3-270m qwen2.5-coder-0.5b qwen2.5-coder-1.5b; do
  python -m pysparse critical --criterion both --model $m --site input intermediate all_inputs --tasks wikipedia --budget tiny \
      --bisect --grid 0.995 0.99 0.985 0.98 0.97 0.95 0.9 --threads 1 --quiet --out docs/results/series/$m
done

# The scale series again at 4x the budget (1024 scored tokens), input site only
for m in smollm2-135m gemma3-270m qwen2.5-coder-0.5b qwen2.5-coder-1.5b; do
  python -m pysparse critical --criterion both --model $m --site input --tasks wikipedia --budget small \
      --bisect --grid 0.995 0.99 0.985 0.98 0.97 0.95 0.9 --threads 1 --quiet --out docs/results/series-small/$m
done

# `pysparse critical` with its defaults (SmolLM2-135M, input site, default suite = Wikipedia perplexity +
# fidelity + cloze, small budget, bisection on the paper's grid)
python -m pysparse critical --criterion both --tasks wikipedia,wikipedia_cloze --budget small --threads 1 --quiet \
    --out docs/results/smollm2-135m-default
# ... and the other four sites on the same suite (reuses the dense and input points in the same file)
python -m pysparse critical --criterion both --site all --tasks wikipedia,wikipedia_cloze --budget small --quiet \
    --out docs/results/smollm2-135m-default

# top-p vs top-k vs calibrated threshold on SmolLM2-135M's input site
for r in "top_k 0.95 0.9 0.85 0.8" "threshold 0.05 0.1 0.15 0.2" "top_p 0.995 0.99 0.985 0.98"; do
  set -- $r; rule=$1; shift
  python -m pysparse sweep --criterion both --model smollm2-135m --site input --rule $rule --grid "$@" --tasks wikipedia \
      --budget tiny --threads 1 --quiet --out docs/results/rules-smollm2-135m
done

# reports (tables, summary.json, plots); the scale plot comes from all four series files together
for d in docs/results/series/* docs/results/smollm2-135m-default docs/results/rules-smollm2-135m; do
  [ -f $d/results.jsonl ] && python -m pysparse report --criterion both $d/results.jsonl -o $d --curves > /dev/null
done
python -m pysparse report --criterion both docs/results/series/*/results.jsonl -o docs/results/series
python -m pysparse report --criterion both docs/results/series-small/*/results.jsonl -o docs/results/series-small --curves
# A combined report also redraws every model's own plots; those are kept once, in the model's directory.
rm -f docs/results/series/retention_*.png docs/results/series/layers_*.png docs/results/series/tokens_*.png \
      docs/results/series-small/retention_*.png docs/results/series-small/layers_*.png docs/results/series-small/tokens_*.png
