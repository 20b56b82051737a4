# The README's main command as run for docs/results/speedup-smollm2-135m (shared 2-core VM under load, one core:
# speed figures indicative only). On a quiet machine run it without --threads (all cores).
pysparse speedup --threads 1 --llama-bench "$LLAMA_BENCH" --out docs/results/speedup-smollm2-135m
