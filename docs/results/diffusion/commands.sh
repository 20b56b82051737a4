#!/usr/bin/env bash
# The committed diffusion examples (small random-initialised model: no diffusion LLM weights are downloadable here).
set -euo pipefail
OUT=docs/results/diffusion
for scope in token sample; do
  pysparse diffusion stats --model random --threads 1 --site input --rule top_p --value 0.9 --scope $scope \
    --prompts 4 --prompt-tokens 32 --gen-length 64 --steps 64 --block-length 16 \
    --reuse 1 2 4 8 o0.9 o0.8 --out $OUT/stats-input-top_p0.9-$scope --quiet
done
pysparse diffusion sweep --model random --threads 1 --site input --rule top_p --scope token \
  --tasks wikipedia --budget small --mc-samples 16 --bisect --out $OUT/sweep-input-top_p-token --quiet
