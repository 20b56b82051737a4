// The FFN of one layer, dense or activation-sparse:  y = W_down (act(W_gate x) * (W_up x)).
//
// Sites (the same definitions as the torch framework, pysparse/sites.py):
//   input         the rule picks active entries of x; gate and up read only those columns (fused gate+up kernel
//                 over their input-major repacks)
//   intermediate  the rule picks active entries of h = act(g) * u; down reads only those columns (repacked)
//   all_inputs    both
//   gate          the rule picks active entries of act(g) (g computed densely); up computes only those rows
//                 (row-skip over its row-major GGUF data) and down reads only those columns (CATS-style)
// Decode (one token) runs the sparse kernels; prefill (a batch) runs their batched form over the same repacks, so
// each token's sparse products are bitwise its decode result and a repacked matrix's row-major pages are not read
// once sparsity is on. Repacks are made when sparsity is switched on, only for the matrices the site needs.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/weights.h"
#include "sparse/select.h"
#include "sparse/sparse_matrix.h"

namespace pysparse {

enum class Site { none, input, intermediate, all_inputs, gate };
Site site_from_name(const std::string& name);  // ValueError naming the sites for an unknown one
const char* site_name(Site s);

// Active / total entries seen at one layer's selection points, prefill and decode apart.
struct SiteCounts {
    int64_t active[2] = {0, 0}, total[2] = {0, 0};  // [0] prefill, [1] decode
};

// Per-layer sparsity: the rule (with its own value per layer) and the repacks it needs.
struct FFNSparsity {
    bool on = false;
    SelectRule rule;
    std::unique_ptr<SparseMatrix> gate, up, down;  // input-major repacks (nullptr where the site does not need one)
};

struct FFNCounters {
    SiteCounts input, inner;  // inner: the intermediate h, or act(g) at the gate site
};

// Scratch buffers for one FFN call, owned by the model's state (sized for its largest batch).
struct FFNScratch {
    std::vector<float> g, u, h;
    std::vector<int32_t> idx;
    std::vector<int64_t> offsets;
};

// y[n][n_embd] = FFN(x[n][n_embd]) for a batch of n tokens (n == 1: decode path).
void ffn_forward(const LayerWeights& L, Activation act, Site site, const FFNSparsity& sp, const float* x, int64_t n,
                 int64_t n_embd, int64_t n_ff, FFNScratch& s, FFNCounters& counts, float* y);

// Makes the repacks `site` needs for layer L (keeps those already made).
void ffn_prepare(const LayerWeights& L, Site site, FFNSparsity& sp);

}  // namespace pysparse
