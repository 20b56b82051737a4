# The README's main command as run for docs/results/speedup-smollm2-135m: both cores of an AMD EPYC VM with AVX-512
# (quiet otherwise; the run's own load average 1.8), model and data cached, 121 s wall. LLAMA_BENCH points at a
# llama-bench built outside the repository from llama-cpp-python 0.3.36's vendored llama.cpp (GGML_NATIVE=ON).
LLAMA_BENCH=/path/to/llama-bench pysparse speedup --out docs/results/speedup-smollm2-135m
