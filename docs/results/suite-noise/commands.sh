#!/bin/sh
# The measurement behind the default suite's choice (docs/critical.md, "The default suite"). Run from the repository
# root with PYTHONPATH=$PWD. SmolLM2-135M, input site, top-p: Wikipedia perplexity on 16,384 scored tokens (94
# windows) with top-1/KL on the same windows, and cloze on all 350 held-out passages, at p = 0.995 ... 0.95.
# (results.jsonl here was written through the Python API with exactly these tasks; this line evaluates the same
# examples, the records differ only in the "extra" identity.)
set -e
python -m pysparse sweep --model smollm2-135m --site input --tasks wikipedia,wikipedia_cloze --budget large \
    --limit 350 --grid 0.995 0.99 0.985 0.98 0.975 0.97 0.96 0.95 --threads 1 --quiet --out docs/results/suite-noise

# The interval widths of smaller suites: the first W windows and C passages of the same points.
python tools/suite_noise.py docs/results/suite-noise/results.jsonl --windows 94 --tokens 1024 4096 8192 --cloze 0 40 100 200 350
