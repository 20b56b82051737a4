# The README's main command as run for docs/results/speedup-smollm2-135m: both cores of an AMD EPYC VM with AVX-512
# (every other job stopped), model and data cached, 79 s wall (2026-11-30). LLAMA_BENCH points at a
# llama-bench built outside the repository from llama-cpp-python 0.3.36's vendored llama.cpp (GGML_NATIVE=ON).
LLAMA_BENCH=/path/to/llama-bench pysparse speedup --out docs/results/speedup-smollm2-135m
