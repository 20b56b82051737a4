// The model runtime for Python (pysparse.engine.model wraps it): tokens in as int32 numpy, logits out as float32
// numpy, every argument checked here, the GIL released while C++ runs, Ctrl-C honoured between prefill chunks.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <string>

#include "common/error.h"
#include "model/model.h"
#include "python/bindings.h"

namespace py = pybind11;

namespace pysparse::python {

namespace {

// Token ids as a C-contiguous int32 array (any integer array is converted; out-of-range ids are the engine's
// ValueError).
py::array_t<int32_t> token_arg(const py::array& a) {
    if (a.dtype().kind() != 'i' && a.dtype().kind() != 'u')
        throw ValueError("tokens must be an integer array, got dtype " + std::string(py::str(a.dtype())));
    if (a.ndim() != 1) throw ValueError("tokens must be 1-dimensional, got ndim " + std::to_string(a.ndim()));
    return py::array_t<int32_t, py::array::c_style | py::array::forcecast>::ensure(a);
}

SelectRule::Kind rule_arg(std::string name) {
    for (auto& c : name) c = c == '-' ? '_' : c;
    if (name == "top_p" || name == "topp") return SelectRule::topp;
    if (name == "top_k" || name == "topk") return SelectRule::topk;
    if (name == "max_p" || name == "maxp") return SelectRule::maxp;
    if (name == "threshold") return SelectRule::threshold;
    throw ValueError("unknown rule '" + name + "'; rules: top_p, top_k, max_p, threshold");
}

KVType kv_arg(const std::string& name) {
    if (name == "f32") return KVType::f32;
    if (name == "f16") return KVType::f16;
    throw ValueError("kv_type must be 'f32' or 'f16', got '" + name + "'");
}

// Runs tokens chunk by chunk (max_batch each) with the GIL released, checking for Ctrl-C between chunks.
void run_chunks(Model& m, const int32_t* tok, int64_t n, int64_t chunk, float* all_out) {
    m.check_batch(tok, n);  // the whole batch, before any chunk runs
    for (int64_t off = 0; off < n; off += chunk) {
        const int64_t c = std::min(chunk, n - off);
        {
            py::gil_scoped_release nogil;
            m.forward(tok + off, c, all_out != nullptr, all_out ? all_out + off * m.n_vocab() : nullptr);
        }
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    }
}

py::dict hparams_dict(const Hparams& hp) {
    py::dict d;
    d["arch"] = hp.arch;
    d["n_layer"] = hp.n_layer;
    d["n_embd"] = hp.n_embd;
    d["n_head"] = hp.n_head;
    d["n_head_kv"] = hp.n_head_kv;
    d["head_dim"] = hp.head_dim;
    d["n_ff"] = hp.n_ff;
    d["n_ctx_train"] = hp.n_ctx_train;
    d["norm_eps"] = hp.norm_eps;
    d["rope_base"] = hp.rope_base;
    d["rope_style"] = hp.rope_style == RopeStyle::norm ? "norm" : "neox";
    d["activation"] = hp.act == Activation::silu ? "silu" : "gelu_tanh";
    d["sliding_window"] = hp.sliding_window;
    return d;
}

}  // namespace

void bind_model(py::module_& m) {
    m.def("masked_dense_types", [] {
              std::vector<std::string> out;
              for (GGMLType t : masked_dense_types()) out.push_back(type_traits(t).name);
              return out;
          },
          "Types the FFN kernel policy keeps dense at a sparse site (the dense kernel on the masked vector; "
          "model/ffn.h). Default [\"Q6_K\"]; PYSPARSE_MASKED_DENSE_TYPES overrides it.");
    m.def("set_masked_dense_types", [](const std::vector<std::string>& names) {
              std::vector<GGMLType> types;
              for (const std::string& n : names) types.push_back(type_from_name(n));
              set_masked_dense_types(types);
          },
          py::arg("names"), "Set the kernel policy's list (takes effect at the next set_sparsity).");
    m.def("sparse_down", &sparse_down,
          "Whether the FFN down matrix runs its sparse kernel at the intermediate / all_inputs / gate / up sites (default "
          "False: masked-dense, model/ffn.h; PYSPARSE_SPARSE_DOWN=1 switches it on).");
    m.def("set_sparse_down", &set_sparse_down, py::arg("on"),
          "Switch the down matrix's sparse kernel on or off (takes effect at the next set_sparsity).");
    py::class_<Model>(m, "Model", "A GGUF model on the engine (see pysparse.engine.Model for the Python API).")
        .def(py::init([](const std::string& path, int64_t n_ctx, const std::string& kv_type, int64_t max_batch,
                         const std::string& activations) {
                 ModelOptions o;
                 o.n_ctx = n_ctx;
                 o.kv_type = kv_arg(kv_type);
                 o.max_batch = max_batch;
                 if (activations != "q8" && activations != "f32")
                     throw ValueError("activations must be 'q8' (integer kernels, x quantised per block) or 'f32' "
                                      "(float32 products), got '" + activations + "'");
                 o.float_acts = activations == "f32";
                 py::gil_scoped_release nogil;
                 return std::make_unique<Model>(path, o);
             }),
             py::arg("path"), py::arg("n_ctx") = 0, py::arg("kv_type") = "f32", py::arg("max_batch") = 512,
             py::arg("activations") = "q8")
        .def_property_readonly("activations", [](const Model& m) { return std::string(m.float_acts() ? "f32" : "q8"); })
        .def_property_readonly("hparams", [](const Model& m) { return hparams_dict(m.hparams()); })
        .def_property_readonly("n_ctx", &Model::n_ctx)
        .def_property_readonly("n_vocab", &Model::n_vocab)
        .def_property_readonly("n_past", &Model::n_past)
        .def_property_readonly("kv_bytes", &Model::kv_bytes)
        .def_property_readonly("sparse_bytes", &Model::sparse_bytes)
        .def_property_readonly("site", [](const Model& m) { return std::string(site_name(m.site())); })
        .def("kernel_plan", [](const Model& m) {
                 // Per layer, how each FFN matrix runs under the current sparsity: "sparse" (its repack, only the
                 // active columns read), "masked_dense" (the site thins it, the dense kernel runs on the masked
                 // vector: kernel policy, model/ffn.h) or "dense".
                 py::list out;
                 const Site site = m.site();
                 const bool in = sparse_input(site), inner = sparse_inner(site);
                 for (const FFNSparsity& sp : m.sparsity()) {
                     auto how = [&](bool thinned, bool masked) {
                         return std::string(!sp.on || !thinned ? "dense" : masked ? "masked_dense" : "sparse");
                     };
                     py::dict d;
                     // gate / up sites: the thinned vector's own matrix runs dense, the other one row-skips
                     const bool on_gate = site == Site::gate && sp.on, on_up = site == Site::up && sp.on;
                     d["gate"] = on_up ? std::string("row_skip") : site == Site::gate ? std::string("dense")
                                                                                      : how(in, sp.gate_up_masked);
                     d["up"] = on_gate ? std::string("row_skip") : site == Site::up ? std::string("dense")
                                                                                    : how(in, sp.gate_up_masked);
                     d["down"] = how(inner, sp.down_masked);
                     out.append(d);
                 }
                 return out;
             },
             "Per layer, how gate / up / down run under the current sparsity: sparse, masked_dense, row_skip or dense.")
        .def_property_readonly("tied_output", [](const Model& m) { return m.weights().tied_output; })
        .def("weight_bytes", [](const Model& m) {
            // Bytes of each part's weights as stored: what one decode step reads.
            const Weights& w = m.weights();
            size_t attn = 0, ffn = 0;
            for (const auto& L : w.layers) {
                attn += L.wq.nbytes() + L.wk.nbytes() + L.wv.nbytes() + L.wo.nbytes();
                ffn += L.gate.nbytes() + L.up.nbytes() + L.down.nbytes();
            }
            py::dict d;
            d["attention"] = attn;
            d["ffn"] = ffn;
            d["output"] = w.output.nbytes();
            return d;
        })
        .def("reset", &Model::reset, "Start a new sequence at position 0.")
        .def("truncate", &Model::truncate, py::arg("n"), "Keep only the first n cached positions.")
        .def("forward", [](Model& m, const py::array& tokens, bool all) -> py::object {
                 auto t = token_arg(tokens);
                 const int64_t n = t.shape(0);
                 if (n == 0) throw ValueError("forward: empty batch (no tokens)");
                 if (!all) {
                     run_chunks(m, t.data(), n, 512, nullptr);
                     py::array_t<float> out({m.n_vocab()});
                     std::copy(m.last_logits(), m.last_logits() + m.n_vocab(), out.mutable_data());
                     return std::move(out);
                 }
                 py::array_t<float> out({n, m.n_vocab()});
                 run_chunks(m, t.data(), n, 512, out.mutable_data());
                 return std::move(out);
             },
             py::arg("tokens"), py::arg("all_logits") = true,
             "Evaluate tokens at the next positions; logits of every position (n, vocab) or of the last (vocab,).")
        .def("step", [](Model& m, const py::array& tokens, float temperature, int64_t top_k, float top_p) {
                 auto t = token_arg(tokens);
                 if (t.shape(0) == 0) throw ValueError("step: no tokens");
                 if (!(top_p > 0.0f && top_p <= 1.0f)) throw ValueError("top_p must be in (0, 1]");
                 if (top_k < 0) throw ValueError("top_k must be >= 0");
                 if (std::isnan(temperature)) throw ValueError("temperature is NaN");
                 SamplerParams sp{temperature, top_k, top_p};
                 if (t.shape(0) > 1) run_chunks(m, t.data(), t.shape(0) - 1, 512, nullptr);
                 py::gil_scoped_release nogil;
                 return m.step(t.data() + t.shape(0) - 1, 1, sp);
             },
             py::arg("tokens"), py::arg("temperature") = 0.0f, py::arg("top_k") = 0, py::arg("top_p") = 1.0f,
             "Evaluate tokens, then sample the next token id from the last logits (greedy at temperature 0).")
        .def("seed", &Model::seed, py::arg("seed"))
        .def("last_logits", [](const Model& m) {
            py::array_t<float> out({m.n_vocab()});
            std::copy(m.last_logits(), m.last_logits() + m.n_vocab(), out.mutable_data());
            return out;
        })
        .def("set_sparsity", [](Model& m, const std::string& site, const std::string& rule,
                                const std::vector<double>& values, double power) {
                 const Site s = site_from_name(site);
                 const SelectRule::Kind k = rule_arg(rule);
                 py::gil_scoped_release nogil;
                 m.set_sparsity(s, k, values, power);
             },
             py::arg("site"), py::arg("rule"), py::arg("values"), py::arg("power") = 1.0,
             "Sparsify the FFN at `site` with `rule`, one value per layer (NaN: dense layer).")
        .def("clear_sparsity", &Model::clear_sparsity)
        .def("counters", [](const Model& m) {
            // [layer][point: 0 input, 1 inner][phase: 0 prefill, 1 decode][0 active, 1 total]
            const auto& c = m.counters();
            py::array_t<int64_t> out({static_cast<py::ssize_t>(c.size()), py::ssize_t(2), py::ssize_t(2), py::ssize_t(2)});
            auto o = out.mutable_unchecked<4>();
            for (size_t l = 0; l < c.size(); ++l)
                for (int ph = 0; ph < 2; ++ph) {
                    o(l, 0, ph, 0) = c[l].input.active[ph];
                    o(l, 0, ph, 1) = c[l].input.total[ph];
                    o(l, 1, ph, 0) = c[l].inner.active[ph];
                    o(l, 1, ph, 1) = c[l].inner.total[ph];
                }
            return out;
        })
        .def("reset_counters", &Model::reset_counters)
        .def("timings", [](const Model& m) {
            const Timings& t = m.timings();
            py::dict d;
            d["tokens"] = t.tokens;
            d["attention_ns"] = t.attention;
            d["ffn_ns"] = t.ffn;
            d["output_ns"] = t.output;
            d["total_ns"] = t.total;
            return d;
        })
        .def("reset_timings", &Model::reset_timings);
    m.def("supported_architectures", &supported_architectures, "Architectures the engine runs.");
}

}  // namespace pysparse::python
