// Weights: views into the mmap'd GGUF (no copy) for every matrix, and small float32 copies of the norm weights and
// biases. Every tensor is checked at load: present where the architecture needs it, the expected shape, a type
// the kernels compute with; an error names the tensor and what is wrong.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "model/hparams.h"
#include "quant/types.h"

namespace pysparse {

// A row-major GGUF matrix [rows, cols] as stored in the file.
struct Matrix {
    std::string name;
    GGMLType type = GGMLType::F32;
    int64_t rows = 0, cols = 0;
    const uint8_t* data = nullptr;
    // Set on every matrix of a Model loaded with activations="f32": product() then runs matmul_float (x not
    // quantised) and the FFN runs no sparse kernel on it (those quantise x), only the dense product of the masked x.
    bool float_acts = false;
    size_t nbytes() const { return data ? static_cast<size_t>(rows) * row_bytes(type, cols) : 0; }
};

struct LayerWeights {
    std::vector<float> attn_norm, ffn_norm;
    std::vector<float> post_attn_norm, post_ffn_norm;  // gemma3
    std::vector<float> q_norm, k_norm;                 // qwen3, gemma3 (head_dim each)
    std::vector<float> bq, bk, bv;                     // qwen2
    Matrix wq, wk, wv, wo;
    Matrix gate, up, down;
};

struct Weights {
    Matrix tok_embd;   // [n_vocab, n_embd]
    Matrix output;     // [n_vocab, n_embd]: output.weight, or tok_embd when the file ties them
    bool tied_output = false;
    std::vector<float> output_norm;
    std::vector<LayerWeights> layers;
};

// Loads and checks every tensor the hparams call for. FormatError / ValueError naming the tensor.
Weights load_weights(const GGUFFile& f, const Hparams& hp);

// y[n][w.rows] = x[n][w.cols] W^T: the matvec for one token (decode), the batched matmul for several (prefill);
// both give a token the same result. With w.float_acts, matmul_float for both.
void product(const Matrix& w, const float* x, int64_t n, float* y);

}  // namespace pysparse
