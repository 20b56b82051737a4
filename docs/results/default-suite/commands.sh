#!/bin/sh
# `pysparse critical` with its defaults after issue 11 (SmolLM2-135M, input site, top-p, bisection on the paper's
# grid for the task and then the fidelity crossing; Wikipedia perplexity on 4096 scored tokens + top-1/KL).
# Run from the repository root with PYTHONPATH=$PWD, one torch thread, on the shared (loaded) 2-core VM.
set -e
python -m pysparse critical --threads 1 --out docs/results/default-suite
