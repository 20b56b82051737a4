// The model runtime end to end on a tiny GGUF written here (a llama-style model with Q8_0 attention and Q4_0 / Q5_0
// FFN, or F16 FFN): on the ISA path under test, batched prefill equals token-by-token decode, the logits equal the
// generic path's within the kernels' bounds, and the sparse decode kernels agree with the masked prefill (checked
// with F16 FFN weights, where both paths compute in float: with 8-bit activations the two paths' quantisation
// differs, active sets near the threshold flip, and a 64-wide toy model amplifies that beyond any useful bound). This is
// how the NEON path (under qemu) and the AVX-512 path (under SIMDe) run a whole model. The logits themselves are
// checked against transformers in tests/test_model.py.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "common/cpu.h"
#include "model/model.h"
#include "ops/ops.h"
#include "quant/quantize.h"
#include "tests/check.h"

using namespace pysparse;

namespace {

// A minimal GGUF v3 writer: metadata (u32 / f32 / string) and tensors, data aligned to 32 bytes.
struct GGUFWriter {
    std::vector<uint8_t> kv, info, data;
    uint64_t n_kv = 0, n_tensors = 0;
    template <typename T>
    static void put(std::vector<uint8_t>& b, T v) {
        const uint8_t* p = reinterpret_cast<const uint8_t*>(&v);
        b.insert(b.end(), p, p + sizeof(T));
    }
    static void put_str(std::vector<uint8_t>& b, const std::string& s) {
        put<uint64_t>(b, s.size());
        b.insert(b.end(), s.begin(), s.end());
    }
    void u32(const std::string& k, uint32_t v) { put_str(kv, k), put<uint32_t>(kv, 4), put<uint32_t>(kv, v), ++n_kv; }
    void f32(const std::string& k, float v) { put_str(kv, k), put<uint32_t>(kv, 6), put<float>(kv, v), ++n_kv; }
    void str(const std::string& k, const std::string& v) { put_str(kv, k), put<uint32_t>(kv, 8), put_str(kv, v), ++n_kv; }
    void tensor(const std::string& name, GGMLType type, int64_t rows, int64_t cols, const std::vector<float>& w) {
        while (data.size() % 32) data.push_back(0);
        put_str(info, name);
        put<uint32_t>(info, rows > 1 ? 2 : 1);
        put<uint64_t>(info, cols);
        if (rows > 1) put<uint64_t>(info, rows);
        put<uint32_t>(info, static_cast<uint32_t>(type));
        put<uint64_t>(info, data.size());
        std::vector<uint8_t> q(rows * row_bytes(type, cols));
        quantize_rows(type, w.data(), q.data(), rows, cols);
        data.insert(data.end(), q.begin(), q.end());
        ++n_tensors;
    }
    void write(const std::string& path) {
        std::vector<uint8_t> out;
        out.insert(out.end(), {'G', 'G', 'U', 'F'});
        put<uint32_t>(out, 3);
        put<uint64_t>(out, n_tensors);
        put<uint64_t>(out, n_kv);
        out.insert(out.end(), kv.begin(), kv.end());
        out.insert(out.end(), info.begin(), info.end());
        while (out.size() % 32) out.push_back(0);
        out.insert(out.end(), data.begin(), data.end());
        FILE* f = std::fopen(path.c_str(), "wb");
        REQUIRE(f);
        std::fwrite(out.data(), 1, out.size(), f);
        std::fclose(f);
    }
};

constexpr int64_t kEmbd = 64, kFF = 128, kVocab = 96, kLayers = 2, kHeads = 4, kKV = 2;

std::string write_tiny_llama(GGMLType gate_up = GGMLType::Q4_0, GGMLType down = GGMLType::Q5_0) {
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0.0f, 0.3f);
    auto rnd = [&](int64_t n, float scale = 1.0f, float offset = 0.0f) {
        std::vector<float> v(n);
        for (auto& x : v) x = offset + scale * nd(rng);
        return v;
    };
    GGUFWriter w;
    w.str("general.architecture", "llama");
    w.u32("llama.block_count", kLayers);
    w.u32("llama.context_length", 256);
    w.u32("llama.embedding_length", kEmbd);
    w.u32("llama.feed_forward_length", kFF);
    w.u32("llama.attention.head_count", kHeads);
    w.u32("llama.attention.head_count_kv", kKV);
    w.f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.f32("llama.rope.freq_base", 10000.0f);
    w.tensor("token_embd.weight", GGMLType::F32, kVocab, kEmbd, rnd(kVocab * kEmbd, 3.0f));
    w.tensor("output_norm.weight", GGMLType::F32, 1, kEmbd, rnd(kEmbd, 0.1f, 1.0f));
    w.tensor("output.weight", GGMLType::Q8_0, kVocab, kEmbd, rnd(kVocab * kEmbd));
    const int64_t hd = kEmbd / kHeads;
    for (int il = 0; il < kLayers; ++il) {
        const std::string b = "blk." + std::to_string(il) + ".";
        w.tensor(b + "attn_norm.weight", GGMLType::F32, 1, kEmbd, rnd(kEmbd, 0.1f, 1.0f));
        w.tensor(b + "ffn_norm.weight", GGMLType::F32, 1, kEmbd, rnd(kEmbd, 0.1f, 1.0f));
        w.tensor(b + "attn_q.weight", GGMLType::Q8_0, kEmbd, kEmbd, rnd(kEmbd * kEmbd));
        w.tensor(b + "attn_k.weight", GGMLType::Q8_0, kKV * hd, kEmbd, rnd(kKV * hd * kEmbd));
        w.tensor(b + "attn_v.weight", GGMLType::Q8_0, kKV * hd, kEmbd, rnd(kKV * hd * kEmbd));
        w.tensor(b + "attn_output.weight", GGMLType::Q8_0, kEmbd, kEmbd, rnd(kEmbd * kEmbd));
        w.tensor(b + "ffn_gate.weight", gate_up, kFF, kEmbd, rnd(kFF * kEmbd));
        w.tensor(b + "ffn_up.weight", gate_up, kFF, kEmbd, rnd(kFF * kEmbd));
        w.tensor(b + "ffn_down.weight", down, kEmbd, kFF, rnd(kEmbd * kFF));
    }
    const std::string path = "/tmp/pysparse_test_tiny_llama_" + std::to_string(getpid()) + ".gguf";
    w.write(path);
    return path;
}

std::vector<int32_t> tokens(int n) {
    std::vector<int32_t> t(n);
    for (int i = 0; i < n; ++i) t[i] = (i * 37 + 11) % kVocab;
    return t;
}

// Logits of every position: batched prefill, or one token at a time.
std::vector<float> run(Model& m, const std::vector<int32_t>& t, bool one_by_one) {
    m.reset();
    std::vector<float> out(t.size() * kVocab);
    if (!one_by_one) {
        m.forward(t.data(), t.size(), true, out.data());
    } else {
        for (size_t i = 0; i < t.size(); ++i) m.forward(&t[i], 1, false, out.data() + i * kVocab);
    }
    return out;
}

double max_abs(const std::vector<float>& v) {
    double m = 0;
    for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
    return m;
}

}  // namespace

TEST(model_tiny_llama_prefill_decode_and_generic) {
    const std::string path = write_tiny_llama();
    ModelOptions o;
    o.n_ctx = 64;
    Model m(path, o);
    CHECK(m.hparams().arch == "llama" && m.n_vocab() == kVocab && !m.weights().tied_output);
    const auto t = tokens(24);
    const auto pre = run(m, t, false), dec = run(m, t, true);
    CHECK(pre == dec);  // the batched matmul gives each token exactly its matvec result
    const Isa isa = active_isa();
    set_isa(Isa::generic);
    const auto ref = run(m, t, false);
    set_isa(isa);
    const double scale = max_abs(ref);
    double err = 0;
    for (size_t i = 0; i < ref.size(); ++i) err = std::max(err, static_cast<double>(std::fabs(pre[i] - ref[i])));
    CHECK(err <= 2e-3 * scale);
    // bad input: a clear error, nothing changed
    const int32_t bad = kVocab;
    m.reset();
    CHECK_THROWS(m.forward(&bad, 1, false, nullptr));
    CHECK(m.n_past() == 0);
    std::vector<int32_t> many(65, 1);
    CHECK_THROWS(m.forward(many.data(), many.size(), false, nullptr));
    std::remove(path.c_str());
}

TEST(model_tiny_llama_sparse_decode_matches_masked_prefill) {
    const std::string path = write_tiny_llama(GGMLType::F16, GGMLType::F16);
    Model m(path, ModelOptions{});
    const bool saved_down = sparse_down();
    set_sparse_down(true);  // the down matrix's sparse kernels too (the default policy runs it masked-dense)
    const auto t = tokens(16);
    for (Site site : {Site::input, Site::intermediate, Site::all_inputs, Site::gate, Site::up}) {
        m.set_sparsity(site, SelectRule::topp, std::vector<double>(kLayers, 0.8));
        m.reset_counters();
        const auto pre = run(m, t, false), dec = run(m, t, true);
        const double scale = max_abs(pre);
        double err = 0;
        for (size_t i = 0; i < pre.size(); ++i) err = std::max(err, static_cast<double>(std::fabs(pre[i] - dec[i])));
        // prefill: dense kernels on masked inputs; decode: the sparse kernels over the input-major repacks
        CHECK(err <= 2e-3 * scale);
        int64_t a0 = 0, t0 = 0, a1 = 0, t1 = 0;
        for (const auto& c : m.counters()) {
            const SiteCounts& s = site == Site::input ? c.input : c.inner;
            a0 += s.active[0], t0 += s.total[0], a1 += s.active[1], t1 += s.total[1];
        }
        CHECK(t0 > 0 && t1 == t0 && a0 < t0 && a1 < t1);
        CHECK(m.sparse_bytes() > 0);
    }
    m.clear_sparsity();
    CHECK(m.sparse_bytes() == 0);
    std::vector<double> bad(kLayers, 1.5);
    CHECK_THROWS(m.set_sparsity(Site::input, SelectRule::topp, bad));
    set_sparse_down(saved_down);
    std::remove(path.c_str());
}

// The kernel policy (model/ffn.h): a type listed as masked-dense (or the down matrix, by default) is not repacked,
// the rule still thins the vector and the dense kernel runs on it: the same model as the sparse kernels (F16
// weights: both compute in float), the same counts, decode and prefill alike; the policy is read at set_sparsity.
TEST(model_tiny_llama_masked_dense_policy_matches_sparse_kernels) {
    const std::string path = write_tiny_llama(GGMLType::F16, GGMLType::F16);
    Model m(path, ModelOptions{});
    const auto t = tokens(16);
    const auto saved = masked_dense_types();
    const bool saved_down = sparse_down();
    for (Site site : {Site::input, Site::intermediate, Site::all_inputs, Site::gate, Site::up}) {
        auto counts = [&] {
            std::vector<int64_t> v;
            for (const auto& c : m.counters())
                for (const SiteCounts* s : {&c.input, &c.inner}) v.insert(v.end(), {s->active[0], s->active[1], s->total[1]});
            return v;
        };
        set_masked_dense_types({});
        set_sparse_down(true);
        m.set_sparsity(site, SelectRule::topp, std::vector<double>(kLayers, 0.8));
        m.reset_counters();
        const auto sparse_pre = run(m, t, false), sparse_dec = run(m, t, true);
        const auto sparse_counts = counts();
        CHECK(m.sparse_bytes() > 0);
        set_masked_dense_types({GGMLType::F16});
        m.set_sparsity(site, SelectRule::topp, std::vector<double>(kLayers, 0.8));
        CHECK(m.sparse_bytes() == 0);  // nothing repacked
        for (const FFNSparsity& sp : m.sparsity()) {
            CHECK(!sp.gate && !sp.up && !sp.down);
            CHECK(sp.down_masked == (site != Site::input));
            CHECK(sp.gate_up_masked == (site == Site::input || site == Site::all_inputs));
        }
        m.reset_counters();
        const auto pre = run(m, t, false), dec = run(m, t, true);
        CHECK(counts() == sparse_counts);
        const double scale = max_abs(sparse_pre);
        double err = 0;
        for (size_t i = 0; i < pre.size(); ++i)
            err = std::max({err, static_cast<double>(std::fabs(pre[i] - sparse_pre[i])),
                            static_cast<double>(std::fabs(dec[i] - sparse_dec[i]))});
        CHECK(err <= 2e-3 * scale);
        // and it is not the dense model: the masking matters
        m.clear_sparsity();
        const auto dense = run(m, t, false);
        double diff = 0;
        for (size_t i = 0; i < pre.size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(pre[i] - dense[i])));
        CHECK(diff > 2e-2 * scale);
        // the default down policy alone: gate and up repacked at the input sites, down never
        set_masked_dense_types({});
        set_sparse_down(false);
        m.set_sparsity(site, SelectRule::topp, std::vector<double>(kLayers, 0.8));
        for (const FFNSparsity& sp : m.sparsity()) {
            CHECK(!sp.down && sp.down_masked == (site != Site::input));
            CHECK((sp.gate != nullptr) == (site == Site::input || site == Site::all_inputs));
        }
        m.reset_counters();
        const auto pre2 = run(m, t, false), dec2 = run(m, t, true);
        CHECK(counts() == sparse_counts || site != Site::input);  // input site: the same kernels as the baseline
        double err2 = 0;
        for (size_t i = 0; i < pre.size(); ++i) err2 = std::max(err2, static_cast<double>(std::fabs(pre2[i] - sparse_pre[i])));
        CHECK(err2 <= 2e-3 * scale);
    }
    set_masked_dense_types(saved);
    set_sparse_down(saved_down);
    std::remove(path.c_str());
}

// The FFN activations use a polynomial e^x (ops.cpp): against the float64 formulas, within 3e-6 relative plus, for
// GELU's float cancellation of 1 + tanh(u) at negative g, 1e-7 |g| absolute; far out, no inf or NaN, right limits.
TEST(ops_activations_match_float64_formulas) {
    std::vector<float> g, u;
    for (float v = -30.0f; v <= 30.0f; v += 0.0137f) g.push_back(v);
    for (float v : {-1e30f, -200.0f, -88.5f, 88.5f, 200.0f, 1e30f, 0.0f, -0.0f}) g.push_back(v);
    u.assign(g.size(), 1.5f);
    std::vector<float> h(g.size()), hg(g.size());
    for (Activation a : {Activation::silu, Activation::gelu_tanh}) {
        activate(a, g.data(), static_cast<int64_t>(g.size()), h.data());
        gated_activation(a, g.data(), u.data(), static_cast<int64_t>(g.size()), hg.data());
        for (size_t i = 0; i < g.size(); ++i) {
            const double x = g[i];
            const double ref = a == Activation::silu
                                   ? x / (1.0 + std::exp(-x))
                                   : 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
            CHECK(std::isfinite(h[i]));
            if (std::fabs(x) <= 80) {
                CHECK(std::fabs(h[i] - ref) <= 3e-6 * std::fabs(ref) + 1e-7 * std::fabs(x));
            } else
                CHECK(x > 0 ? h[i] == g[i] : h[i] <= 0.0f && h[i] >= -1e-7 * std::fabs(x));
            CHECK(hg[i] == h[i] * 1.5f);
        }
    }
}
