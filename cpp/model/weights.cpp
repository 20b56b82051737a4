#include "model/weights.h"

#include "common/error.h"
#include "kernels/matmul.h"
#include "kernels/matvec.h"
#include "quant/dequantize.h"

namespace pysparse {

namespace {

std::string shape_str(const GGUFTensorInfo& t) {
    std::string s = "(";
    for (uint32_t d = t.n_dims; d-- > 0;) s += std::to_string(t.ne[d]) + (d ? ", " : "");
    return s + ")";
}

const GGUFTensorInfo* find(const GGUFFile& f, const std::string& name, bool required) {
    const GGUFTensorInfo* t = f.find_tensor(name);
    if (!t && required)
        throw FormatError(f.source() + ": tensor '" + name + "' is missing (architecture " + f.architecture() + ")");
    return t;
}

Matrix matrix(const GGUFFile& f, const std::string& name, int64_t rows, int64_t cols, bool required = true) {
    Matrix m;
    const GGUFTensorInfo* t = find(f, name, required);
    if (!t) return m;
    if (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows)
        throw FormatError(f.source() + ": tensor '" + name + "' has shape " + shape_str(*t) + ", expected (" +
                          std::to_string(rows) + ", " + std::to_string(cols) + ")");
    const GGMLType type = static_cast<GGMLType>(t->type_id);
    if (!t->type_known || !type_traits(type).supported)
        throw ValueError(f.source() + ": tensor '" + name + "' has type " + type_traits(t->type_id).name + " (id " +
                         std::to_string(t->type_id) + "), which the engine does not compute with");
    act_format(type);  // ValueError if the kernels have no dot product for it
    m.name = name;
    m.type = type;
    m.rows = rows;
    m.cols = cols;
    m.data = f.tensor_data(*t);
    return m;
}

std::vector<float> vec(const GGUFFile& f, const std::string& name, int64_t n, bool required = true) {
    const GGUFTensorInfo* t = find(f, name, required);
    if (!t) return {};
    if (t->n_elements != n || t->ne[0] != n)
        throw FormatError(f.source() + ": tensor '" + name + "' has shape " + shape_str(*t) + ", expected (" +
                          std::to_string(n) + ")");
    const GGMLType type = static_cast<GGMLType>(t->type_id);
    if (!t->type_known || !can_dequantize(type))
        throw ValueError(f.source() + ": tensor '" + name + "' has type " + type_traits(t->type_id).name +
                         ", which the engine cannot decode");
    std::vector<float> out(n);
    dequantize_row(type, f.tensor_data(*t), out.data(), n);
    return out;
}

}  // namespace

Weights load_weights(const GGUFFile& f, const Hparams& hp) {
    Weights w;
    const GGUFTensorInfo* embd = find(f, "token_embd.weight", true);
    const int64_t n_vocab = embd->n_dims == 2 ? embd->ne[1] : 0;
    if (n_vocab <= 0) throw FormatError(f.source() + ": tensor 'token_embd.weight' is not a matrix");
    w.tok_embd = matrix(f, "token_embd.weight", n_vocab, hp.n_embd);
    if (!can_dequantize(w.tok_embd.type))
        throw ValueError(f.source() + ": token_embd.weight type " + type_traits(w.tok_embd.type).name + " cannot be decoded");
    w.output = matrix(f, "output.weight", n_vocab, hp.n_embd, false);
    w.tied_output = w.output.data == nullptr;
    if (w.tied_output) w.output = w.tok_embd;
    w.output_norm = vec(f, "output_norm.weight", hp.n_embd);

    const int64_t q_dim = hp.n_head * hp.head_dim, kv_dim = hp.n_head_kv * hp.head_dim;
    const int64_t v_dim = hp.n_head_kv * hp.head_dim_v, o_in = hp.n_head * hp.head_dim_v;
    w.layers.resize(hp.n_layer);
    for (int64_t il = 0; il < hp.n_layer; ++il) {
        LayerWeights& L = w.layers[il];
        const std::string b = "blk." + std::to_string(il) + ".";
        L.attn_norm = vec(f, b + "attn_norm.weight", hp.n_embd);
        L.ffn_norm = vec(f, b + "ffn_norm.weight", hp.n_embd);
        L.wq = matrix(f, b + "attn_q.weight", q_dim, hp.n_embd);
        L.wk = matrix(f, b + "attn_k.weight", kv_dim, hp.n_embd);
        L.wv = matrix(f, b + "attn_v.weight", v_dim, hp.n_embd);
        L.wo = matrix(f, b + "attn_output.weight", hp.n_embd, o_in);
        L.gate = matrix(f, b + "ffn_gate.weight", hp.n_ff, hp.n_embd);
        L.up = matrix(f, b + "ffn_up.weight", hp.n_ff, hp.n_embd);
        L.down = matrix(f, b + "ffn_down.weight", hp.n_embd, hp.n_ff);
        if (hp.qkv_bias) {
            L.bq = vec(f, b + "attn_q.bias", q_dim);
            L.bk = vec(f, b + "attn_k.bias", kv_dim);
            L.bv = vec(f, b + "attn_v.bias", v_dim);
        }
        if (hp.qk_norm) {
            L.q_norm = vec(f, b + "attn_q_norm.weight", hp.head_dim);
            L.k_norm = vec(f, b + "attn_k_norm.weight", hp.head_dim);
        }
        if (hp.post_norms) {
            L.post_attn_norm = vec(f, b + "post_attention_norm.weight", hp.n_embd);
            L.post_ffn_norm = vec(f, b + "post_ffw_norm.weight", hp.n_embd);
        }
    }
    return w;
}

void product(const Matrix& w, const float* x, int64_t n, float* y) {
    if (w.float_acts)
        matmul_float(w.type, w.data, w.rows, w.cols, x, n, y);
    else if (n == 1)
        matvec(w.type, w.data, w.rows, w.cols, x, y);
    else
        matmul(w.type, w.data, w.rows, w.cols, x, n, y);
}

}  // namespace pysparse
