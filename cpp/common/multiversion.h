// PYSPARSE_MULTIVERSION: compile a plain C++ loop for AVX-512, AVX2+FMA and baseline x86-64 and let the loader pick
// by the CPU (GCC/Clang function multiversioning). For the small portable ops (attention's inner loops, the FFN
// activations) whose loops the compiler vectorises: the baseline build alone would run them 4 floats wide. On
// aarch64 NEON is the baseline; under ASan multiversioning is off (ifunc resolvers run before ASan's runtime).
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__SANITIZE_ADDRESS__)
#define PYSPARSE_MULTIVERSION __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define PYSPARSE_MULTIVERSION
#endif
