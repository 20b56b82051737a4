#!/bin/sh
# Per-layer allocations (issue 9, item 2; docs/speedup.md "Per-layer allocation") at the scale series' critical
# points, as run on 2026-11-30 from the repository root. Each run starts from a scratch copy of the series'
# results.jsonl (docs/results/series-v3/<model>/), so the uniform critical point's quality is reused; calibration
# (per layer, or 10 groups for the 1.5B) and the held-out validation are computed and appended to
# calibration.jsonl / allocation.jsonl in the run's folder. Calibration ran on one core of a 2-core VM shared with
# another job; the speed figures in the committed speedup.json come from a second run of the same command with
# every other job stopped (the command reads the quality, calibration and allocation back and measures only speed).
# Wall time per run (first run, under load): SmolLM2 5-6 min, Gemma3 7 min, Qwen2.5-0.5B 11 min, Qwen2.5-1.5B 19 min.
set -e
LB=${LLAMA_BENCH:-llama-bench}
alloc() { d=$(mktemp -d); cp docs/results/series-v3/$1/results.jsonl $d/
  python -m pysparse speedup $1 --site $2 --p $3 --budget medium --threads ${5:-1} --alloc-group $4 --out $d --llama-bench "$LB"
  mkdir -p docs/results/allocations/$1-$2
  cp $d/speedup.json $d/speedup.png $d/allocation-$2.json $d/calibration.jsonl $d/allocation.jsonl docs/results/allocations/$1-$2/; }
alloc smollm2-135m input 0.985 1;  alloc smollm2-135m all_inputs 0.985 1
alloc gemma3-270m input 0.97 1;    alloc gemma3-270m all_inputs 0.975 1
alloc qwen2.5-coder-0.5b input 0.98 1; alloc qwen2.5-coder-0.5b all_inputs 0.98 1
alloc qwen2.5-coder-1.5b all_inputs 0.94 0     # 10 groups of layers (per layer: 140 calibration passes, ~1 h here)
# The 1.5B at 2 threads: the same folder's JSONL files copied to a second folder, the command with --threads 2
# (quality and allocation read back; speed only): qwen2.5-coder-1.5b-all_inputs-2-threads/
# Calibration length check: SmolLM2 input with 8x the calibration text (smollm2-135m-input-calib1024/; 21 min)
d=$(mktemp -d); cp docs/results/series-v3/smollm2-135m/results.jsonl $d/
python -m pysparse speedup smollm2-135m --site input --p 0.985 --budget medium --threads 1 --alloc-group 1 \
  --calib-tokens 1024 --out $d --llama-bench "$LB"
