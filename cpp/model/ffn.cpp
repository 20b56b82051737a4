#include "model/ffn.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>

#include "common/error.h"
#include "kernels/matmul.h"
#include "kernels/matvec.h"

namespace pysparse {

Site site_from_name(const std::string& name) {
    if (name == "none" || name == "dense") return Site::none;
    if (name == "input") return Site::input;
    if (name == "intermediate") return Site::intermediate;
    if (name == "all_inputs") return Site::all_inputs;
    if (name == "gate") return Site::gate;
    if (name == "up") return Site::up;
    throw ValueError("unknown site '" + name +
                     "'; the engine's sites: input, intermediate, all_inputs, gate, up (or none)");
}

const char* site_name(Site s) {
    switch (s) {
        case Site::input: return "input";
        case Site::intermediate: return "intermediate";
        case Site::all_inputs: return "all_inputs";
        case Site::gate: return "gate";
        case Site::up: return "up";
        default: return "none";
    }
}

namespace {

std::mutex g_masked_mu;
bool g_masked_set = false;
std::vector<GGMLType> g_masked;
int g_sparse_down = -1;  // -1: not read yet

// The policy's list, read once from PYSPARSE_MASKED_DENSE_TYPES (unknown names: ValueError at the first use).
const std::vector<GGMLType>& masked_list() {
    if (!g_masked_set) {
        g_masked = {GGMLType::Q6_K};
        if (const char* e = std::getenv("PYSPARSE_MASKED_DENSE_TYPES")) {
            g_masked.clear();
            std::stringstream ss(e);
            for (std::string name; std::getline(ss, name, ',');)
                if (!name.empty()) g_masked.push_back(type_from_name(name));
        }
        g_masked_set = true;
    }
    return g_masked;
}

}  // namespace

bool masked_dense_type(GGMLType t) {
    std::lock_guard<std::mutex> lock(g_masked_mu);
    for (GGMLType m : masked_list())
        if (m == t) return true;
    return false;
}

std::vector<GGMLType> masked_dense_types() {
    std::lock_guard<std::mutex> lock(g_masked_mu);
    return masked_list();
}

void set_masked_dense_types(const std::vector<GGMLType>& types) {
    std::lock_guard<std::mutex> lock(g_masked_mu);
    g_masked = types;
    g_masked_set = true;
}

bool sparse_down() {
    std::lock_guard<std::mutex> lock(g_masked_mu);
    if (g_sparse_down < 0) {
        const char* e = std::getenv("PYSPARSE_SPARSE_DOWN");
        g_sparse_down = e && *e && std::string(e) != "0";
    }
    return g_sparse_down == 1;
}

void set_sparse_down(bool on) {
    std::lock_guard<std::mutex> lock(g_masked_mu);
    g_sparse_down = on;
}

namespace {

// v[d] keeps the entries listed in idx[0, cnt) (ascending) and the others become 0: the masked vector the dense
// kernel runs on for a matrix the policy keeps dense (the sparse kernels never read the inactive entries).
void keep_only(float* v, int64_t d, const int32_t* idx, int64_t cnt) {
    int64_t next = 0;
    for (int64_t k = 0; k < cnt; ++k) {
        std::memset(v + next, 0, sizeof(float) * (idx[k] - next));
        next = idx[k] + 1;
    }
    std::memset(v + next, 0, sizeof(float) * (d - next));
}

// Each row r of V[n][d] masked to its list idx[offsets[r], offsets[r + 1]).
void keep_only_rows(float* V, int64_t n, int64_t d, const int64_t* offsets, const int32_t* idx) {
    for (int64_t r = 0; r < n; ++r)
        keep_only(V + r * d, d, idx + offsets[r], offsets[r + 1] - offsets[r]);
}

// Dense gate and up. One token: x quantised once for both when they share a type (the usual case).
void gate_up_dense(const LayerWeights& L, const float* x, int64_t n, float* g, float* u) {
    if (n == 1 && L.gate.type == L.up.type && act_format(L.gate.type) != ActFormat::F32 && !L.gate.float_acts) {
        thread_local std::vector<uint8_t> xa;
        xa.resize(act_bytes(L.gate.type, L.gate.cols));
        quantize_act(L.gate.type, x, L.gate.cols, xa.data());
        matvec_act(L.gate.type, L.gate.data, L.gate.rows, L.gate.cols, xa.data(), g);
        matvec_act(L.up.type, L.up.data, L.up.rows, L.up.cols, xa.data(), u);
        return;
    }
    product(L.gate, x, n, g);
    product(L.up, x, n, u);
}

void check_finite(int64_t bad, const char* what) {
    if (bad >= 0)
        throw Error(std::string("non-finite value (NaN or Inf) in the FFN ") + what + " of token " + std::to_string(bad) +
                    " of the batch");
}

// One token: the active entries of v (d values) under the rule, counted; also as a one-row batch list
// (s.offsets = {0, cnt}), so the thinned products below take decode and prefill alike.
int64_t select_one(const SelectRule& rule, const float* v, int64_t d, FFNScratch& s, SiteCounts& c, const char* what) {
    s.idx.resize(d);
    const int64_t cnt = select_row(rule, v, d, s.idx.data());
    if (cnt == kSelectNonFinite) check_finite(0, what);
    s.offsets.assign({0, cnt});
    c.active[1] += cnt;
    c.total[1] += d;
    return cnt;
}

// A batch: each row's active entries of V [n][d] under the rule, as ascending lists s.idx[s.offsets[r],
// s.offsets[r + 1]), counted.
void select_batch(const SelectRule& rule, const float* V, int64_t n, int64_t d, FFNScratch& s, SiteCounts& c,
                  const char* what) {
    s.idx.resize(static_cast<size_t>(n) * d);
    s.offsets.resize(n + 1);
    check_finite(select_rows(rule, V, n, d, s.offsets.data(), s.idx.data()), what);
    c.active[0] += s.offsets[n];
    c.total[0] += n * d;
}

// gate and up of n tokens whose inputs X [n][n_embd] are thinned to the lists of s.offsets / s.idx: the sparse
// kernels over the repacks (one token: the matvec form), or by the policy the dense kernels on a masked copy of X.
void gate_up_thinned(const LayerWeights& L, const FFNSparsity& sp, const float* X, int64_t n, int64_t n_embd,
                     FFNScratch& s, float* g, float* u) {
    const int64_t* off = s.offsets.data();
    const int32_t* idx = s.idx.data();
    if (sp.gate_up_masked) {
        s.xm.assign(X, X + n * n_embd);
        keep_only_rows(s.xm.data(), n, n_embd, off, idx);
        gate_up_dense(L, s.xm.data(), n, g, u);
    } else if (n == 1 && sp.gate->type == sp.up->type) {
        fused_gate_up(*sp.gate, *sp.up, X, idx, off[1], g, u);
    } else if (n == 1) {
        sparse_matvec(*sp.gate, X, idx, off[1], g);
        sparse_matvec(*sp.up, X, idx, off[1], u);
    } else if (sp.gate->type == sp.up->type) {
        fused_gate_up_matmul(*sp.gate, *sp.up, X, n, off, idx, g, u);
    } else {
        sparse_matmul(*sp.gate, X, n, off, idx, g);
        sparse_matmul(*sp.up, X, n, off, idx, u);
    }
}

// down of n tokens whose H [n][n_ff] is thinned to the lists of s.offsets / s.idx: the sparse kernel over the
// repack, or by the policy the dense kernel on H masked in place (inactive entries are not needed afterwards).
void down_thinned(const LayerWeights& L, const FFNSparsity& sp, float* H, int64_t n, int64_t n_ff, const FFNScratch& s,
                  float* y) {
    const int64_t* off = s.offsets.data();
    const int32_t* idx = s.idx.data();
    if (sp.down_masked) {
        keep_only_rows(H, n, n_ff, off, idx);
        product(L.down, H, n, y);
    } else if (n == 1) {
        sparse_matvec(*sp.down, H, idx, off[1], y);
    } else {
        sparse_matmul(*sp.down, H, n, off, idx, y);
    }
}

// Row-skip (decode at the gate / up sites): y[r] = dot(W[r], x) for the listed rows (ascending), 0 elsewhere. A
// float-activation matrix computes every row with matmul_float and zeroes the others: the listed rows' values are
// the same, the time a dense product's.
void row_skip(const Matrix& m, const float* x, const int32_t* idx, int64_t cnt, float* y) {
    if (!m.float_acts) {
        row_skip_matvec(m.type, m.data, m.rows, m.cols, x, idx, cnt, y);
        return;
    }
    product(m, x, 1, y);
    keep_only(y, m.rows, idx, cnt);
}

}  // namespace

void ffn_prepare(const LayerWeights& L, Site site, FFNSparsity& sp) {
    auto repack = [](const Matrix& m, std::unique_ptr<SparseMatrix>& out) {
        if (out) return;
        if (!sparse_layout_supports(m.type))
            throw ValueError("tensor '" + m.name + "' has type " + type_traits(m.type).name +
                             ", which the sparse layout does not support");
        out = std::make_unique<SparseMatrix>(repack_input_major(m.type, m.data, m.rows, m.cols));
    };
    if (sparse_input(site)) {
        // A float-activation model (activations="f32") runs no sparse kernel: they quantise x.
        sp.gate_up_masked = L.gate.float_acts || masked_dense_type(L.gate.type) || masked_dense_type(L.up.type);
        if (sp.gate_up_masked) {
            sp.gate.reset(), sp.up.reset();
        } else {
            repack(L.gate, sp.gate);
            repack(L.up, sp.up);
        }
    }
    if (sparse_inner(site)) {
        sp.down_masked = L.down.float_acts || !sparse_down() || masked_dense_type(L.down.type);
        if (sp.down_masked) sp.down.reset();
        else repack(L.down, sp.down);
    }
}

void ffn_forward(const LayerWeights& L, Activation act, Site site, const FFNSparsity& sp, const float* x, int64_t n,
                 int64_t n_embd, int64_t n_ff, FFNScratch& s, FFNCounters& counts, float* y) {
    const size_t nf = static_cast<size_t>(n) * n_ff;
    if (s.g.size() < nf) {
        s.g.resize(nf);
        s.u.resize(nf);
        s.h.resize(nf);
    }
    float *g = s.g.data(), *u = s.u.data(), *h = s.h.data();
    if (!sp.on) site = Site::none;

    if (n == 1) {  // decode: the sparse kernels read only the active columns / rows
        if (sparse_input(site)) {
            select_one(sp.rule, x, n_embd, s, counts.input, "input");
            gate_up_thinned(L, sp, x, 1, n_embd, s, g, u);
        } else if (site == Site::gate) {
            product(L.gate, x, 1, g);
            activate(act, g, n_ff, h);
            const int64_t cnt = select_one(sp.rule, h, n_ff, s, counts.inner, "gate activation");
            row_skip(L.up, x, s.idx.data(), cnt, u);
            for (int64_t k = 0; k < cnt; ++k) h[s.idx[k]] *= u[s.idx[k]];
            down_thinned(L, sp, h, 1, n_ff, s, y);
            return;
        } else if (site == Site::up) {
            product(L.up, x, 1, u);
            const int64_t cnt = select_one(sp.rule, u, n_ff, s, counts.inner, "up projection");
            row_skip(L.gate, x, s.idx.data(), cnt, g);
            gated_activation(act, g, u, n_ff, h);  // inactive rows: g = 0, act(0) = 0, and down does not read them
            down_thinned(L, sp, h, 1, n_ff, s, y);
            return;
        } else {
            gate_up_dense(L, x, 1, g, u);
        }
        gated_activation(act, g, u, n_ff, h);
        if (sparse_inner(site)) {
            select_one(sp.rule, h, n_ff, s, counts.inner, "intermediate");
            down_thinned(L, sp, h, 1, n_ff, s, y);
        } else {
            product(L.down, h, 1, y);
        }
        return;
    }

    // prefill: the same rule per token; the sparse batched products read each token's active columns of the
    // repacks (bitwise each token's decode result), so the row-major pages of a repacked matrix stay untouched.
    if (sparse_input(site)) {
        select_batch(sp.rule, x, n, n_embd, s, counts.input, "input");
        gate_up_thinned(L, sp, x, n, n_embd, s, g, u);
        gated_activation(act, g, u, static_cast<int64_t>(nf), h);
    } else if (site == Site::gate) {
        // up is not repacked at this site: its dense batched product gives every row (decode's row-skip computes
        // only the active ones, each bitwise a dense row); inactive h entries are never read by down.
        product(L.gate, x, n, g);
        activate(act, g, static_cast<int64_t>(nf), h);
        select_batch(sp.rule, h, n, n_ff, s, counts.inner, "gate activation");
        product(L.up, x, n, u);
        for (size_t i = 0; i < nf; ++i) h[i] *= u[i];
        down_thinned(L, sp, h, n, n_ff, s, y);
        return;
    } else if (site == Site::up) {
        // as at the gate site, with the roles of gate and up swapped: gate's dense batched product gives every row
        // (decode's row-skip only the active ones, each bitwise a dense row); down never reads inactive h entries
        product(L.up, x, n, u);
        select_batch(sp.rule, u, n, n_ff, s, counts.inner, "up projection");
        product(L.gate, x, n, g);
        gated_activation(act, g, u, static_cast<int64_t>(nf), h);
        down_thinned(L, sp, h, n, n_ff, s, y);
        return;
    } else {
        gate_up_dense(L, x, n, g, u);
        gated_activation(act, g, u, static_cast<int64_t>(nf), h);
    }
    if (sparse_inner(site)) {
        select_batch(sp.rule, h, n, n_ff, s, counts.inner, "intermediate");
        down_thinned(L, sp, h, n, n_ff, s, y);
    } else {
        product(L.down, h, n, y);
    }
}

}  // namespace pysparse
