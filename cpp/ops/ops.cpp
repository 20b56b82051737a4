#include "ops/ops.h"

#include <cmath>

namespace pysparse {

void rmsnorm(const float* x, const float* w, int64_t n, float eps, float* y) {
    double ss = 0.0;  // float64: the sum of 4096+ squares would lose bits in float32
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
    const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
    if (w)
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
    else
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
}

void rope_angles(int64_t rot_dim, int64_t pos, float base, float freq_scale, float* cos_out, float* sin_out) {
    for (int64_t i = 0; i < rot_dim / 2; ++i) {
        const double theta = static_cast<double>(pos) * freq_scale *
                             std::pow(static_cast<double>(base), -2.0 * static_cast<double>(i) / rot_dim);
        cos_out[i] = static_cast<float>(std::cos(theta));
        sin_out[i] = static_cast<float>(std::sin(theta));
    }
}

void rope(float* x, int64_t rot_dim, const float* cos_t, const float* sin_t, RopeStyle style) {
    const int64_t half = rot_dim / 2;
    for (int64_t i = 0; i < half; ++i) {
        const int64_t a = style == RopeStyle::norm ? 2 * i : i;
        const int64_t b = style == RopeStyle::norm ? 2 * i + 1 : i + half;
        const float x0 = x[a], x1 = x[b];
        x[a] = x0 * cos_t[i] - x1 * sin_t[i];
        x[b] = x0 * sin_t[i] + x1 * cos_t[i];
    }
}

float activate(Activation a, float g) {
    if (a == Activation::silu) return g / (1.0f + std::exp(-g));
    // tanh approximation of GELU (gemma's gelu_pytorch_tanh)
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    return 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * (g + 0.044715f * g * g * g)));
}

void gated_activation(Activation a, const float* g, const float* u, int64_t n, float* h) {
    for (int64_t i = 0; i < n; ++i) h[i] = activate(a, g[i]) * u[i];
}

void softmax(float* x, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - mx);
        sum += x[i];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace pysparse
