// The FFN of one layer, dense or activation-sparse:  y = W_down (act(W_gate x) * (W_up x)).
//
// Sites (the same definitions as the torch framework, pysparse/sites.py):
//   input         the rule picks active entries of x; gate and up read only those columns (fused gate+up kernel
//                 over their input-major repacks)
//   intermediate  the rule picks active entries of h = act(g) * u; down reads only those columns (repacked)
//   all_inputs    both
//   gate          the rule picks active entries of act(g) (g computed densely); up computes only those rows
//                 (row-skip over its row-major GGUF data) and down reads only those columns (CATS-style)
//   up            the mirror of gate: the rule picks active entries of u = W_up x (computed densely); gate
//                 computes only those rows (row-skip), h = act(g) * u there and 0 elsewhere, down as at gate
// Decode (one token) runs the sparse kernels; prefill (a batch) runs their batched form over the same repacks, so
// each token's sparse products are bitwise its decode result and a repacked matrix's row-major pages are not read
// once sparsity is on. Repacks are made when sparsity is switched on, only for the matrices the site needs and the
// kernel policy below lets run sparse (the others run dense on the masked vector).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/weights.h"
#include "sparse/select.h"
#include "sparse/sparse_matrix.h"

namespace pysparse {

enum class Site { none, input, intermediate, all_inputs, gate, up };
Site site_from_name(const std::string& name);  // ValueError naming the sites for an unknown one
const char* site_name(Site s);
// Whether the site thins the FFN's input x (gate and up) / the down matrix's input.
inline bool sparse_input(Site s) { return s == Site::input || s == Site::all_inputs; }
inline bool sparse_inner(Site s) {
    return s == Site::intermediate || s == Site::all_inputs || s == Site::gate || s == Site::up;
}

// Active / total entries seen at one layer's selection points, prefill and decode apart.
struct SiteCounts {
    int64_t active[2] = {0, 0}, total[2] = {0, 0};  // [0] prefill, [1] decode
};

// Kernel policy: where the sparse kernels do not pay, the rule still picks the active entries (same rule, same
// counts, the same sparse model: inactive entries become exact zeros) and the dense kernel runs on the masked
// vector; such a matrix is not repacked. Two parts, both measured (docs/engine.md, "Kernel policy"):
//  - types: a matrix of a listed type (default Q6_K) runs masked-dense at any site. Its sparse kernel loses to its
//    dense kernel at the sparsities top-p gives at 99% quality (bench_sparse, AVX-512, 1 thread, from DRAM:
//    Q6_K 1536x8960 2.1x the dense time at s = 0, 1.6x at s = 0.5). PYSPARSE_MASKED_DENSE_TYPES overrides the
//    list (comma-separated type names; empty: none);
//  - the down matrix (short output columns: 576-1536 rows on the models we run) runs masked-dense unless
//    PYSPARSE_SPARSE_DOWN=1: at the critical sparsities of the four reference models (20-57% at the down input)
//    generation was as fast or faster with it dense on every one of them (e.g. SmolLM2 all_inputs 0.96x -> 1.06x
//    dense, Qwen2.5-0.5B 1.13x -> 1.16x, Qwen2.5-1.5B equal).
bool masked_dense_type(GGMLType t);
std::vector<GGMLType> masked_dense_types();
void set_masked_dense_types(const std::vector<GGMLType>& types);  // tests and A/B runs; takes effect at set_sparsity
bool sparse_down();             // the down matrix runs its sparse kernel (PYSPARSE_SPARSE_DOWN=1; default false)
void set_sparse_down(bool on);  // tests and A/B runs; takes effect at set_sparsity

// Per-layer sparsity: the rule (with its own value per layer) and the repacks it needs.
struct FFNSparsity {
    bool on = false;
    SelectRule rule;
    std::unique_ptr<SparseMatrix> gate, up, down;  // input-major repacks (nullptr where the site does not need one)
    bool gate_up_masked = false, down_masked = false;  // the site thins them, the dense kernel runs (policy above)
};

struct FFNCounters {
    SiteCounts input, inner;  // inner: the intermediate h, or act(g) at the gate site, or u at the up site
};

// Scratch buffers for one FFN call, owned by the model's state (sized for its largest batch).
struct FFNScratch {
    std::vector<float> g, u, h, xm;  // xm: the masked input (gate_up_masked)
    std::vector<int32_t> idx;
    std::vector<int64_t> offsets;
};

// y[n][n_embd] = FFN(x[n][n_embd]) for a batch of n tokens (n == 1: decode path).
void ffn_forward(const LayerWeights& L, Activation act, Site site, const FFNSparsity& sp, const float* x, int64_t n,
                 int64_t n_embd, int64_t n_ff, FFNScratch& s, FFNCounters& counts, float* y);

// Makes the repacks `site` needs for layer L (keeps those already made).
void ffn_prepare(const LayerWeights& L, Site site, FFNSparsity& sp);

}  // namespace pysparse
