// The small ops a forward pass needs besides the matrix products: normalisation, rotary embeddings, activations,
// softmax and attention over the KV cache. Portable C++ that the compiler vectorises; the loops a profile showed to
// matter (the activations here, attention's inner loops) are multiversioned per ISA (common/multiversion.h).
#pragma once
#include <cstdint>

namespace pysparse {

// y = x / sqrt(mean(x^2) + eps) * w (w may be nullptr: no scale). In place is fine (y == x).
void rmsnorm(const float* x, const float* w, int64_t n, float eps, float* y);

// Rotary position embedding. theta_i = pos * freq_scale * base^(-2i/rot_dim) for i < rot_dim / 2, computed in
// float64 and rounded once; rope_angles() fills cos/sin of one position (shared by every head), rope() rotates
// one head vector's first rot_dim entries. Two pairings, as llama.cpp names them: NORM rotates adjacent pairs
// (x[2i], x[2i+1]) (llama GGUFs, whose q/k rows the converter permuted for it); NEOX rotates (x[i],
// x[i + rot_dim/2]) (qwen2/3, gemma3).
enum class RopeStyle { norm, neox };
void rope_angles(int64_t rot_dim, int64_t pos, float base, float freq_scale, float* cos_out, float* sin_out);
void rope(float* x, int64_t rot_dim, const float* cos_t, const float* sin_t, RopeStyle style);

// FFN activations: activate h[i] = act(g[i]); gated_activation h[i] = act(g[i]) * u[i]. Vectorised (e^x by a
// polynomial, relative error ~1e-7; multiversioned per ISA), so a step's result is the same on every call path.
enum class Activation { silu, gelu_tanh };
void activate(Activation a, const float* g, int64_t n, float* h);
void gated_activation(Activation a, const float* g, const float* u, int64_t n, float* h);

// In-place softmax of n values.
void softmax(float* x, int64_t n);

}  // namespace pysparse
