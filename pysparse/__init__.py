"""pysparse: training-free activation sparsity for LLM FFNs, measured (the top-p framework) and run on CPUs.

The package reads as a map of the method:
  rules     how a token's activation vector is sparsified (top-p, top-k, max-p, threshold)
  sites     where in the FFN the rule is applied (input, gate, up, intermediate, all_inputs)
  stats     sparsity accounting (pooled, per layer, prompt vs generated)
  tasks     what is measured (perplexity, cloze, multiple choice, analogies, KL / top-1 fidelity)
  sweep     results over a p-grid; critical: the 99%-retention crossing; report: tables and plots
  engine    the C++ runtime: GGUF reader, quantisation formats, dense and sparse CPU kernels, and Model (a GGUF
            model on the engine: logits, generate, chat, real FFN sparsity); pysparse.Model is the same class
  models, data   registries of real models and data shipped on PyPI
"""

__version__ = "0.1.0"


def __getattr__(name):
    # pysparse.Model without importing the C++ engine (or torch) at `import pysparse`.
    if name == "Model":
        from .engine.model import Model

        return Model
    raise AttributeError(f"module 'pysparse' has no attribute {name!r}")
